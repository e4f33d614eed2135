//! The CSV analyzer: one streaming pass over any delimited file (optionally gzip), reducing
//! it to per-arm moments, then the full read-out from [`crate::stats`].
//!
//! Pipeline: the calling thread reads (and gunzips) 4 MiB blocks and cuts them at record
//! boundaries (a newline outside quotes, tracked by quote parity, so quoted newlines are
//! safe); worker threads parse blocks with `csv`'s `ByteRecord`, parse numbers with
//! `lexical-core`, and keep shifted sums, sums of squares and cross-products per arm, folded
//! into mergeable [`Moments`] per block. Nothing but the moments is kept in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};

use crate::ExperimentError;
use crate::power::{mde_means, mde_proportions};
use crate::stats::{
    self, Bayes, Comparison, Correction, JointMoments, Moments, RatioMoments, Sequential, Srm,
};

/// A ratio metric: Σ numerator / Σ denominator per arm, compared with the delta method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatioSpec {
    /// Name shown in the report (e.g. "revenue_per_session").
    pub name: String,
    /// Numerator column.
    pub numerator: String,
    /// Denominator column.
    pub denominator: String,
}

/// What to analyse. `Default` gives alpha 0.05, Holm correction, sequential tuning 5000,
/// comma delimiter, errors on bad cells, and one worker per core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalyzeOptions {
    /// Column holding the arm / variant name.
    pub arm_col: String,
    /// Arm value of the control group.
    pub control: String,
    /// Metric columns (binary 0/1, counts or amounts; the kind is inferred).
    pub metrics: Vec<String>,
    /// Ratio metrics.
    pub ratios: Vec<RatioSpec>,
    /// Pre-period covariate column for CUPED.
    pub covariate: Option<String>,
    /// Planned arm weights for the SRM check (arm → weight); `None` means equal weights.
    pub planned_weights: Option<Vec<(String, f64)>>,
    /// Significance level.
    pub alpha: f64,
    /// Multiple-testing correction across all metric × arm comparisons.
    pub correction: Correction,
    /// Sample size at which the confidence sequence is tightest (GrowthBook default 5000).
    pub sequential_tuning: f64,
    /// Drop rows with an empty or non-numeric metric/covariate cell (counted in the report)
    /// instead of failing on the first one.
    pub skip_invalid: bool,
    /// Field delimiter.
    pub delimiter: u8,
    /// Parser threads; 0 = one per available core.
    pub threads: usize,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            arm_col: String::new(),
            control: String::new(),
            metrics: Vec::new(),
            ratios: Vec::new(),
            covariate: None,
            planned_weights: None,
            alpha: 0.05,
            correction: Correction::Holm,
            sequential_tuning: 5000.0,
            skip_invalid: false,
            delimiter: b',',
            threads: 0,
        }
    }
}

impl AnalyzeOptions {
    /// Options for the common case: arm column, control value and metric columns, with the
    /// defaults for everything else (what `zhiying experiment analyze` builds from its flags).
    pub fn new(arm_col: &str, control: &str, metrics: &[&str]) -> Self {
        AnalyzeOptions {
            arm_col: arm_col.to_string(),
            control: control.to_string(),
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// Inferred kind of a metric, which decides the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Every value is 0 or 1: two-proportion z-test, beta-binomial Bayes.
    Binary,
    /// Non-negative integers: Welch's t, normal Bayes.
    Count,
    /// Anything else (revenue, balances): Welch's t, normal Bayes.
    Continuous,
    /// Ratio of two columns: delta-method z-test, normal Bayes.
    Ratio,
}

/// Observed size of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmSize {
    /// Arm value.
    pub name: String,
    /// Rows.
    pub n: u64,
    /// Share of all rows.
    pub share: f64,
    /// Planned share used by the SRM check.
    pub planned_share: f64,
}

/// CUPED-adjusted result of one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CupedResult {
    /// Adjusted mean y − θ(x̄_arm − x̄_all).
    pub adjusted_mean: f64,
    /// Welch comparison of adjusted values against control.
    pub comparison: Comparison,
    /// Corrected p-value within the CUPED family.
    pub p_adjusted: f64,
}

/// Comparison of one arm against control for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VsControl {
    /// Frequentist test (absolute and relative lift with CIs, p-value).
    pub test: Comparison,
    /// p-value corrected across all metric × arm comparisons.
    pub p_adjusted: f64,
    /// Bayesian probability to beat control and expected losses.
    pub bayes: Bayes,
    /// Always-valid confidence sequence for the absolute lift.
    pub sequential: Sequential,
    /// CUPED-adjusted comparison when a covariate was given.
    pub cuped: Option<CupedResult>,
}

/// One arm's numbers for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmMetric {
    /// Arm value.
    pub arm: String,
    /// Rows.
    pub n: u64,
    /// Mean (or ratio of sums for ratio metrics).
    pub mean: f64,
    /// Standard deviation per unit (delta-method equivalent for ratios).
    pub sd: f64,
    /// Sum of the metric over the arm (numerator sum for ratios).
    pub total: f64,
    /// Against control; `None` for the control row.
    pub vs_control: Option<VsControl>,
}

/// All arms for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricReport {
    /// Metric name.
    pub name: String,
    /// Inferred kind.
    pub kind: MetricKind,
    /// CUPED θ (pooled across arms) when a covariate was given.
    pub cuped_theta: Option<f64>,
    /// CUPED variance reduction, 0..1.
    pub cuped_variance_reduction: Option<f64>,
    /// Control first, then the other arms by name.
    pub arms: Vec<ArmMetric>,
}

/// The full read-out of one experiment file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisReport {
    /// File analysed.
    pub source: String,
    /// Data rows read (excluding the header).
    pub rows: u64,
    /// Rows dropped under `skip_invalid`.
    pub skipped_rows: u64,
    /// The first dropped row's problem, for the log.
    pub first_skip_reason: Option<String>,
    /// Control arm value.
    pub control: String,
    /// Significance level.
    pub alpha: f64,
    /// Correction used for `p_adjusted`.
    pub correction: Correction,
    /// CUPED covariate, if any.
    pub covariate: Option<String>,
    /// Arm sizes, control first.
    pub arms: Vec<ArmSize>,
    /// Sample-ratio-mismatch check against the planned weights.
    pub srm: Srm,
    /// Per-metric results.
    pub metrics: Vec<MetricReport>,
}

// ---------------------------------------------------------------- streaming reduction

/// Per-arm accumulator for one block: shifted sums (shift = the block's first row) keep the
/// sums of squares accurate; they are folded into Moments at the end of the block.
#[derive(Clone)]
struct BlockAcc {
    n: f64,
    sum: Vec<f64>,
    ss: Vec<f64>,
    sxy: Vec<f64>,
}

/// Merged per-arm statistics.
#[derive(Clone, Default)]
struct ArmStats {
    moments: Vec<Moments>,
    joint: Vec<JointMoments>,
    binary: Vec<bool>,
    integer: Vec<bool>,
}

impl ArmStats {
    fn new(slots: usize, pairs: usize) -> Self {
        ArmStats {
            moments: vec![Moments::default(); slots],
            joint: vec![JointMoments::default(); pairs],
            binary: vec![true; slots],
            integer: vec![true; slots],
        }
    }
    fn merge(&mut self, o: &ArmStats) {
        for (a, b) in self.moments.iter_mut().zip(&o.moments) {
            *a = a.merge(b);
        }
        for (a, b) in self.joint.iter_mut().zip(&o.joint) {
            *a = a.merge(b);
        }
        for (a, b) in self.binary.iter_mut().zip(&o.binary) {
            *a &= *b;
        }
        for (a, b) in self.integer.iter_mut().zip(&o.integer) {
            *a &= *b;
        }
    }
}

struct Plan {
    arm_idx: usize,
    /// Column index of each slot.
    cols: Vec<usize>,
    /// (slot a, slot b) pairs that need cross-products.
    pairs: Vec<(usize, usize)>,
    names: Vec<String>,
    width: usize,
    delimiter: u8,
    skip_invalid: bool,
    path: PathBuf,
}

#[derive(Default)]
struct WorkerOut {
    arms: BTreeMap<Vec<u8>, ArmStats>,
    rows: u64,
    skipped: u64,
    first_skip: Option<(u64, String)>,
    error: Option<(u64, ExperimentError)>,
}

fn parse_num(cell: &[u8]) -> Option<f64> {
    if let Ok(v) = lexical_core::parse::<f64>(cell) {
        return v.is_finite().then_some(v);
    }
    let t = cell.trim_ascii();
    if let Ok(v) = lexical_core::parse::<f64>(t) {
        return v.is_finite().then_some(v);
    }
    if t.eq_ignore_ascii_case(b"true") {
        Some(1.0)
    } else if t.eq_ignore_ascii_case(b"false") {
        Some(0.0)
    } else {
        None
    }
}

fn process_block(plan: &Plan, data: &[u8], first_line: u64, out: &mut WorkerOut) {
    let k = plan.cols.len();
    let np = plan.pairs.len();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(plan.delimiter)
        .from_reader(data);
    let mut rec = csv::ByteRecord::new();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut accs: Vec<BlockAcc> = Vec::new();
    let mut flags: Vec<(Vec<bool>, Vec<bool>)> = Vec::new();
    let mut shift: Option<Vec<f64>> = None;
    let mut vals = vec![0.0f64; k];
    let mut dev = vec![0.0f64; k];
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = first_line + e.position().map_or(0, |p| p.line().saturating_sub(1));
                out.error.get_or_insert((
                    line,
                    ExperimentError::Csv {
                        path: plan.path.clone(),
                        line,
                        reason: e.to_string(),
                    },
                ));
                return;
            }
        }
        let line = || first_line + rec.position().map_or(0, |p| p.line().saturating_sub(1));
        if rec.len() == 1 && rec[0].is_empty() {
            continue; // blank line
        }
        if rec.len() != plan.width {
            let l = line();
            out.error.get_or_insert((
                l,
                ExperimentError::Csv {
                    path: plan.path.clone(),
                    line: l,
                    reason: format!("{} fields, the header has {}", rec.len(), plan.width),
                },
            ));
            return;
        }
        out.rows += 1;
        let mut bad = None;
        for (s, &c) in plan.cols.iter().enumerate() {
            match parse_num(&rec[c]) {
                Some(v) => vals[s] = v,
                None => {
                    bad = Some(s);
                    break;
                }
            }
        }
        if let Some(s) = bad {
            let l = line();
            let cell = &rec[plan.cols[s]];
            let value = String::from_utf8_lossy(&cell[..cell.len().min(40)]).into_owned();
            if plan.skip_invalid {
                out.skipped += 1;
                if out.first_skip.as_ref().is_none_or(|(fl, _)| l < *fl) {
                    out.first_skip = Some((
                        l,
                        format!("line {l}: column '{}' has {value:?}", plan.names[s]),
                    ));
                }
                continue;
            }
            out.error.get_or_insert((
                l,
                ExperimentError::BadCell {
                    path: plan.path.clone(),
                    line: l,
                    column: plan.names[s].clone(),
                    value,
                },
            ));
            return;
        }
        let key = rec[plan.arm_idx].trim_ascii();
        let a = match keys.iter().position(|x| x.as_slice() == key) {
            Some(a) => a,
            None => {
                if keys.len() >= 256 {
                    let l = line();
                    out.error.get_or_insert((
                        l,
                        ExperimentError::Data(format!(
                            "{}:{l}: the arm column has more than 256 distinct values; is the arm column right?",
                            plan.path.display()
                        )),
                    ));
                    return;
                }
                keys.push(key.to_vec());
                accs.push(BlockAcc {
                    n: 0.0,
                    sum: vec![0.0; k],
                    ss: vec![0.0; k],
                    sxy: vec![0.0; np],
                });
                flags.push((vec![true; k], vec![true; k]));
                keys.len() - 1
            }
        };
        let sh = shift.get_or_insert_with(|| vals.clone());
        let acc = &mut accs[a];
        acc.n += 1.0;
        for s in 0..k {
            let d = vals[s] - sh[s];
            dev[s] = d;
            acc.sum[s] += d;
            acc.ss[s] += d * d;
        }
        for (p, &(x, y)) in plan.pairs.iter().enumerate() {
            acc.sxy[p] += dev[x] * dev[y];
        }
        let (bin, int) = &mut flags[a];
        for s in 0..k {
            let v = vals[s];
            if bin[s] && v != 0.0 && v != 1.0 {
                bin[s] = false;
            }
            if int[s] && (v < 0.0 || v.fract() != 0.0) {
                int[s] = false;
            }
        }
    }
    let Some(sh) = shift else { return };
    for (a, key) in keys.into_iter().enumerate() {
        let acc = &accs[a];
        let n = acc.n;
        let mut st = ArmStats::new(k, np);
        for (s, m) in st.moments.iter_mut().enumerate() {
            *m = Moments {
                n,
                mean: sh[s] + acc.sum[s] / n,
                m2: (acc.ss[s] - acc.sum[s] * acc.sum[s] / n).max(0.0),
            };
        }
        for (p, &(x, y)) in plan.pairs.iter().enumerate() {
            st.joint[p] = JointMoments {
                y: st.moments[x],
                x: st.moments[y],
                cxy: acc.sxy[p] - acc.sum[x] * acc.sum[y] / n,
            };
        }
        st.binary = flags[a].0.clone();
        st.integer = flags[a].1.clone();
        match out.arms.get_mut(&key) {
            Some(e) => e.merge(&st),
            None => {
                out.arms.insert(key, st);
            }
        }
    }
}

const BLOCK: usize = 4 << 20;

/// Reads until `buf` holds `want` more bytes or EOF; returns false at EOF.
fn fill(
    r: &mut dyn Read,
    buf: &mut Vec<u8>,
    want: usize,
    path: &Path,
) -> Result<bool, ExperimentError> {
    let start = buf.len();
    buf.resize(start + want, 0);
    let mut got = 0;
    while got < want {
        match r.read(&mut buf[start + got..]) {
            Ok(0) => break,
            Ok(m) => got += m,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ExperimentError::Io {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        }
    }
    buf.truncate(start + got);
    Ok(got == want)
}

/// Position just past the last record-ending newline in `buf` (quote-parity aware).
fn last_boundary(buf: &[u8]) -> Option<usize> {
    if memchr::memchr(b'"', buf).is_none() {
        return memchr::memrchr(b'\n', buf).map(|p| p + 1);
    }
    let mut inq = false;
    let mut last = None;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'"' {
            inq = !inq;
        } else if b == b'\n' && !inq {
            last = Some(i + 1);
        }
    }
    last
}

/// Analyse a CSV file (gzip when it ends in `.gz` or starts with the gzip magic bytes).
pub fn analyze_csv(
    path: impl AsRef<Path>,
    opts: &AnalyzeOptions,
) -> Result<AnalysisReport, ExperimentError> {
    let path = path.as_ref();
    let io = |source| ExperimentError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let m = file.read(&mut magic).map_err(io)?;
    drop(file);
    let file = File::open(path).map_err(io)?;
    let reader: Box<dyn Read + Send> = if m == 2 && magic == [0x1f, 0x8b] {
        Box::new(MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file)))
    } else {
        Box::new(file)
    };
    analyze_reader(path, reader, opts)
}

/// Analyse CSV bytes from any reader (`name` is used in messages), e.g. an HTTP upload.
pub fn analyze_reader(
    name: impl AsRef<Path>,
    mut reader: Box<dyn Read + Send>,
    opts: &AnalyzeOptions,
) -> Result<AnalysisReport, ExperimentError> {
    let path = name.as_ref().to_path_buf();
    validate(opts)?;
    // Header: read until the first record boundary.
    let mut buf = Vec::with_capacity(BLOCK + (1 << 16));
    let mut more = true;
    let header_end = loop {
        if let Some(p) = first_boundary(&buf) {
            break p;
        }
        if !more {
            break buf.len();
        }
        more = fill(&mut *reader, &mut buf, 1 << 16, &path)?;
    };
    if header_end == 0 {
        return Err(ExperimentError::Data(format!(
            "{}: the file is empty; expected a header row",
            path.display()
        )));
    }
    let mut hstart = 0;
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        hstart = 3;
    }
    let mut hr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(opts.delimiter)
        .from_reader(&buf[hstart..header_end]);
    let mut hrec = csv::StringRecord::new();
    hr.read_record(&mut hrec)
        .map_err(|e| ExperimentError::Csv {
            path: path.clone(),
            line: 1,
            reason: format!("header: {e}"),
        })?;
    let header: Vec<String> = hrec.iter().map(|s| s.trim().to_string()).collect();
    let plan = Arc::new(make_plan(&header, opts, &path)?);
    let data_rest = buf.split_off(header_end);
    buf = data_rest;

    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let (tx, rx) = mpsc::sync_channel::<(Vec<u8>, u64)>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let mut handles = Vec::new();
    for _ in 0..threads {
        let rx = Arc::clone(&rx);
        let plan = Arc::clone(&plan);
        handles.push(std::thread::spawn(move || {
            let mut out = WorkerOut::default();
            loop {
                let msg = match rx.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => break,
                };
                let Ok((block, line)) = msg else { break };
                if out.error.is_none() {
                    process_block(&plan, &block, line, &mut out);
                }
            }
            out
        }));
    }
    let mut line = 2u64;
    let mut send_err = false;
    let read_result = (|| -> Result<(), ExperimentError> {
        loop {
            if more {
                more = fill(&mut *reader, &mut buf, BLOCK, &path)?;
            }
            let cut = if more {
                last_boundary(&buf)
            } else {
                Some(buf.len())
            };
            let Some(cut) = cut else { continue };
            let rest = buf.split_off(cut);
            let block = std::mem::replace(&mut buf, rest);
            let lines = memchr::memchr_iter(b'\n', &block).count() as u64;
            if !block.is_empty() && tx.send((block, line)).is_err() {
                send_err = true;
                return Ok(());
            }
            line += lines;
            if !more && buf.is_empty() {
                return Ok(());
            }
        }
    })();
    drop(tx);
    let mut outs = Vec::new();
    for h in handles {
        outs.push(
            h.join()
                .map_err(|_| ExperimentError::Data("a CSV worker thread panicked".into()))?,
        );
    }
    read_result?;
    if send_err {
        return Err(ExperimentError::Data("CSV workers stopped early".into()));
    }
    // Earliest error wins, so the message names the first bad line.
    if let Some((_, e)) = outs
        .iter_mut()
        .filter_map(|o| o.error.take())
        .min_by_key(|(l, _)| *l)
    {
        return Err(e);
    }
    let mut arms: BTreeMap<Vec<u8>, ArmStats> = BTreeMap::new();
    let (mut rows, mut skipped, mut first_skip) = (0u64, 0u64, None::<(u64, String)>);
    for o in outs {
        rows += o.rows;
        skipped += o.skipped;
        if let Some(fs) = o.first_skip
            && first_skip.as_ref().is_none_or(|(l, _)| fs.0 < *l)
        {
            first_skip = Some(fs);
        }
        for (k, v) in o.arms {
            match arms.get_mut(&k) {
                Some(e) => e.merge(&v),
                None => {
                    arms.insert(k, v);
                }
            }
        }
    }
    let arms: Vec<(String, ArmStats)> = arms
        .into_iter()
        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
        .collect();
    build_report(&plan, opts, arms, rows, skipped, first_skip.map(|x| x.1))
}

fn first_boundary(buf: &[u8]) -> Option<usize> {
    let mut inq = false;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'"' {
            inq = !inq;
        } else if b == b'\n' && !inq {
            return Some(i + 1);
        }
    }
    None
}

fn validate(opts: &AnalyzeOptions) -> Result<(), ExperimentError> {
    if opts.arm_col.is_empty() {
        return Err(ExperimentError::invalid(
            "arm_col",
            "name the column that holds the arm (--arm-col)",
        ));
    }
    if opts.control.is_empty() {
        return Err(ExperimentError::invalid(
            "control",
            "name the control arm value (--control)",
        ));
    }
    if opts.metrics.is_empty() && opts.ratios.is_empty() {
        return Err(ExperimentError::invalid(
            "metrics",
            "give at least one metric column (--metric)",
        ));
    }
    if !(opts.alpha > 0.0 && opts.alpha < 1.0) {
        return Err(ExperimentError::invalid(
            "alpha",
            format!("{} must be in (0, 1)", opts.alpha),
        ));
    }
    if opts.sequential_tuning.is_nan() || opts.sequential_tuning <= 0.0 {
        return Err(ExperimentError::invalid(
            "sequential_tuning",
            "must be > 0 (e.g. 5000)",
        ));
    }
    Ok(())
}

fn make_plan(
    header: &[String],
    opts: &AnalyzeOptions,
    path: &Path,
) -> Result<Plan, ExperimentError> {
    let find = |col: &str, option: &str| -> Result<usize, ExperimentError> {
        header.iter().position(|h| h == col).ok_or_else(|| {
            let mut available = header.join(", ");
            if available.len() > 300 {
                let mut cut = 300;
                while !available.is_char_boundary(cut) {
                    cut -= 1;
                }
                available.truncate(cut);
                available.push('…');
            }
            ExperimentError::MissingColumn {
                path: path.to_path_buf(),
                column: col.to_string(),
                option: option.to_string(),
                available,
            }
        })
    };
    let arm_idx = find(&opts.arm_col, "arm-col")?;
    let mut cols = Vec::new();
    let mut names = Vec::new();
    let mut slot = |c: usize, name: &str| -> usize {
        if let Some(s) = cols.iter().position(|&x| x == c) {
            s
        } else {
            cols.push(c);
            names.push(name.to_string());
            cols.len() - 1
        }
    };
    let mut metric_slots = Vec::new();
    for m in &opts.metrics {
        let c = find(m, "metric")?;
        metric_slots.push(slot(c, m));
    }
    let mut pairs = Vec::new();
    if let Some(cov) = &opts.covariate {
        let c = find(cov, "covariate")?;
        let cs = slot(c, cov);
        for &ms in &metric_slots {
            pairs.push((ms, cs));
        }
    }
    for r in &opts.ratios {
        let n = find(&r.numerator, "ratio numerator")?;
        let d = find(&r.denominator, "ratio denominator")?;
        let ns = slot(n, &r.numerator);
        let ds = slot(d, &r.denominator);
        pairs.push((ns, ds));
    }
    Ok(Plan {
        arm_idx,
        cols,
        pairs,
        names,
        width: header.len(),
        delimiter: opts.delimiter,
        skip_invalid: opts.skip_invalid,
        path: path.to_path_buf(),
    })
}

fn build_report(
    plan: &Plan,
    opts: &AnalyzeOptions,
    mut arms: Vec<(String, ArmStats)>,
    rows: u64,
    skipped: u64,
    first_skip_reason: Option<String>,
) -> Result<AnalysisReport, ExperimentError> {
    let Some(ci) = arms.iter().position(|(n, _)| *n == opts.control) else {
        let seen: Vec<&str> = arms.iter().take(20).map(|(n, _)| n.as_str()).collect();
        return Err(ExperimentError::invalid(
            "control",
            format!(
                "no rows with {} = '{}' in {} (arms seen: {}); check --control",
                opts.arm_col,
                opts.control,
                plan.path.display(),
                seen.join(", ")
            ),
        ));
    };
    let control = arms.remove(ci);
    arms.insert(0, control);
    if arms.len() < 2 {
        return Err(ExperimentError::Data(format!(
            "{}: only the control arm '{}' has rows; nothing to compare",
            plan.path.display(),
            opts.control
        )));
    }
    // SRM against the planned weights.
    let names: Vec<&str> = arms.iter().map(|(n, _)| n.as_str()).collect();
    let mut observed: Vec<f64> = arms.iter().map(|(_, s)| s.moments[0].n).collect();
    let mut weights = vec![1.0; arms.len()];
    let mut srm_names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    if let Some(plan_w) = &opts.planned_weights {
        for (i, n) in names.iter().enumerate() {
            weights[i] = plan_w
                .iter()
                .find(|(a, _)| a == n)
                .map(|x| x.1)
                .ok_or_else(|| {
                    ExperimentError::invalid(
                        "planned_weights",
                        format!("arm '{n}' is in the data but has no planned weight"),
                    )
                })?;
        }
        for (a, w) in plan_w {
            if !names.contains(&a.as_str()) {
                srm_names.push(a.clone());
                observed.push(0.0);
                weights.push(*w);
            }
        }
    }
    let srm = stats::srm(&observed, &weights)?;
    let total_n: f64 = observed.iter().sum();
    let wsum: f64 = weights.iter().sum();
    let arm_sizes: Vec<ArmSize> = srm_names
        .iter()
        .zip(observed.iter().zip(&weights))
        .map(|(n, (o, w))| ArmSize {
            name: n.clone(),
            n: *o as u64,
            share: o / total_n,
            planned_share: w / wsum,
        })
        .collect();

    let alpha = opts.alpha;
    let mut metrics = Vec::new();
    let pair_of_metric = |ms: usize| plan.pairs.iter().position(|&(a, _)| a == ms);
    for m in &opts.metrics {
        let s = plan.names.iter().position(|x| x == m).unwrap_or(0);
        let binary = arms.iter().all(|(_, st)| st.binary[s]);
        let kind = if binary {
            MetricKind::Binary
        } else if arms.iter().all(|(_, st)| st.integer[s]) {
            MetricKind::Count
        } else {
            MetricKind::Continuous
        };
        let cuped = if opts.covariate.is_some() {
            let p = pair_of_metric(s)
                .ok_or_else(|| ExperimentError::Data("internal: no covariate pair".into()))?;
            let joints: Vec<JointMoments> = arms.iter().map(|(_, st)| st.joint[p]).collect();
            Some(stats::cuped(&joints)?)
        } else {
            None
        };
        let c = arms[0].1.moments[s];
        let mut rows_out = Vec::new();
        for (ai, (name, st)) in arms.iter().enumerate() {
            let t = st.moments[s];
            let vs = if ai == 0 {
                None
            } else {
                let test = if binary {
                    stats::two_proportions(t.mean * t.n, t.n, c.mean * c.n, c.n, alpha)?
                } else {
                    stats::welch(&t, &c, alpha)?
                };
                let bayes = if binary {
                    stats::bayes_binary((t.mean * t.n).round(), t.n, (c.mean * c.n).round(), c.n)?
                } else {
                    stats::bayes_normal(test.diff, test.se)
                };
                let sequential = stats::confidence_sequence(
                    test.diff,
                    test.se * test.se,
                    t.n + c.n,
                    alpha,
                    opts.sequential_tuning,
                )?;
                let cuped_res = match &cuped {
                    Some(cu) => {
                        let comparison = stats::welch(&cu.adjusted[ai], &cu.adjusted[0], alpha)?;
                        Some(CupedResult {
                            adjusted_mean: cu.adjusted[ai].mean,
                            comparison,
                            p_adjusted: f64::NAN,
                        })
                    }
                    None => None,
                };
                Some(VsControl {
                    test,
                    p_adjusted: f64::NAN,
                    bayes,
                    sequential,
                    cuped: cuped_res,
                })
            };
            rows_out.push(ArmMetric {
                arm: name.clone(),
                n: t.n as u64,
                mean: t.mean,
                sd: t.var().sqrt(),
                total: t.mean * t.n,
                vs_control: vs,
            });
        }
        metrics.push(MetricReport {
            name: m.clone(),
            kind,
            cuped_theta: cuped.as_ref().map(|c| c.theta),
            cuped_variance_reduction: cuped.as_ref().map(|c| c.variance_reduction),
            arms: rows_out,
        });
    }
    for (ri, r) in opts.ratios.iter().enumerate() {
        let p = if opts.covariate.is_some() {
            opts.metrics.len() + ri
        } else {
            ri
        };
        let rm = |st: &ArmStats| {
            let j = st.joint[p];
            RatioMoments {
                num: j.y,
                den: j.x,
                cov: if j.y.n > 1.0 {
                    j.cxy / (j.y.n - 1.0)
                } else {
                    0.0
                },
            }
        };
        let c = rm(&arms[0].1);
        let mut rows_out = Vec::new();
        for (ai, (name, st)) in arms.iter().enumerate() {
            let t = rm(st);
            let vs = if ai == 0 {
                None
            } else {
                let test = stats::ratio_test(&t, &c, alpha)?;
                Some(VsControl {
                    bayes: stats::bayes_normal(test.diff, test.se),
                    sequential: stats::confidence_sequence(
                        test.diff,
                        test.se * test.se,
                        t.num.n + c.num.n,
                        alpha,
                        opts.sequential_tuning,
                    )?,
                    test,
                    p_adjusted: f64::NAN,
                    cuped: None,
                })
            };
            rows_out.push(ArmMetric {
                arm: name.clone(),
                n: t.num.n as u64,
                mean: t.ratio(),
                sd: (t.ratio_var() * t.num.n).sqrt(),
                total: t.num.mean * t.num.n,
                vs_control: vs,
            });
        }
        metrics.push(MetricReport {
            name: r.name.clone(),
            kind: MetricKind::Ratio,
            cuped_theta: None,
            cuped_variance_reduction: None,
            arms: rows_out,
        });
    }
    // Corrections across every metric × arm comparison (and separately for CUPED).
    let raw: Vec<f64> = metrics
        .iter()
        .flat_map(|m| {
            m.arms
                .iter()
                .filter_map(|a| a.vs_control.as_ref().map(|v| v.test.p_value))
        })
        .collect();
    let adj = opts.correction.adjust(&raw);
    let raw_c: Vec<f64> = metrics
        .iter()
        .flat_map(|m| {
            m.arms.iter().filter_map(|a| {
                a.vs_control
                    .as_ref()
                    .and_then(|v| v.cuped.as_ref().map(|c| c.comparison.p_value))
            })
        })
        .collect();
    let adj_c = opts.correction.adjust(&raw_c);
    let (mut i, mut j) = (0, 0);
    for m in &mut metrics {
        for a in &mut m.arms {
            if let Some(v) = a.vs_control.as_mut() {
                v.p_adjusted = adj[i];
                i += 1;
                if let Some(c) = v.cuped.as_mut() {
                    c.p_adjusted = adj_c[j];
                    j += 1;
                }
            }
        }
    }
    Ok(AnalysisReport {
        source: plan.path.display().to_string(),
        rows,
        skipped_rows: skipped,
        first_skip_reason,
        control: opts.control.clone(),
        alpha,
        correction: opts.correction,
        covariate: opts.covariate.clone(),
        arms: arm_sizes,
        srm,
        metrics,
    })
}

// ---------------------------------------------------------------- presentation

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-4..1e6).contains(&a) {
        format!("{v:.3e}")
    } else if a >= 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

fn signed(v: f64) -> String {
    let s = fmt_num(v);
    if v > 0.0 { format!("+{s}") } else { s }
}

/// Totals over an arm: whole units for counts and conversions, cents otherwise.
fn signed_total(v: f64, kind: MetricKind) -> String {
    let sign = if v > 0.0 {
        "+"
    } else if v < 0.0 {
        "-"
    } else {
        ""
    };
    match kind {
        MetricKind::Binary | MetricKind::Count => {
            format!("{sign}{}", group(v.abs().round() as u64))
        }
        _ => {
            let cents = (v.abs() * 100.0).round() as u64;
            format!("{sign}{}.{:02}", group(cents / 100), cents % 100)
        }
    }
}

fn fmt_p(p: f64) -> String {
    if p.is_nan() {
        "-".into()
    } else if p == 0.0 {
        "<1e-300".into()
    } else if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn pct(v: f64) -> String {
    format!("{:+.2}%", v * 100.0)
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for AnalysisReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let conf = ((1.0 - self.alpha) * 100.0).round();
        writeln!(
            f,
            "Experiment read-out: {} ({} rows{}; control = '{}'; alpha = {}; correction = {:?})",
            self.source,
            group(self.rows),
            if self.skipped_rows > 0 {
                format!(", {} skipped", group(self.skipped_rows))
            } else {
                String::new()
            },
            self.control,
            self.alpha,
            self.correction
        )?;
        let arms: Vec<String> = self
            .arms
            .iter()
            .map(|a| {
                format!(
                    "{} {} ({:.2}% / planned {:.2}%)",
                    a.name,
                    group(a.n),
                    a.share * 100.0,
                    a.planned_share * 100.0
                )
            })
            .collect();
        writeln!(f, "Arms: {}", arms.join(" | "))?;
        writeln!(
            f,
            "SRM: chi2 = {:.3}, p = {} {}",
            self.srm.chi2,
            fmt_p(self.srm.p_value),
            if self.srm.mismatch {
                "MISMATCH: the split is broken, do not trust the lifts below"
            } else {
                "(ok)"
            }
        )?;
        let head = [
            "metric".to_string(),
            "arm".into(),
            "n".into(),
            "mean".into(),
            format!("lift [{conf}% CI]"),
            format!("rel. lift [{conf}% CI]"),
            "p".into(),
            "p adj".into(),
            "P(beat)".into(),
            format!("always-valid [{conf}% CS]"),
        ];
        let mut rows: Vec<[String; 10]> = vec![head];
        for m in &self.metrics {
            for (i, a) in m.arms.iter().enumerate() {
                let metric = if i == 0 {
                    format!("{} ({:?})", m.name, m.kind).to_lowercase()
                } else {
                    String::new()
                };
                let mut r: [String; 10] = Default::default();
                r[0] = metric;
                r[1] = a.arm.clone();
                r[2] = group(a.n);
                r[3] = fmt_num(a.mean);
                if let Some(v) = &a.vs_control {
                    let t = &v.test;
                    r[4] = format!(
                        "{} [{}, {}]",
                        signed(t.diff),
                        signed(t.ci.lower),
                        signed(t.ci.upper)
                    );
                    r[5] = format!(
                        "{} [{}, {}]",
                        pct(t.rel),
                        pct(t.rel_ci.lower),
                        pct(t.rel_ci.upper)
                    );
                    r[6] = fmt_p(t.p_value);
                    r[7] = fmt_p(v.p_adjusted);
                    r[8] = format!("{:.1}%", v.bayes.prob_beat_control * 100.0);
                    r[9] = format!(
                        "[{}, {}]",
                        signed(v.sequential.ci.lower),
                        signed(v.sequential.ci.upper)
                    );
                } else {
                    r[4] = "(control)".into();
                }
                rows.push(r);
                if let Some(c) = a.vs_control.as_ref().and_then(|v| v.cuped.as_ref()) {
                    let t = &c.comparison;
                    let mut r: [String; 10] = Default::default();
                    r[1] = "  CUPED".into();
                    r[3] = fmt_num(c.adjusted_mean);
                    r[4] = format!(
                        "{} [{}, {}]",
                        signed(t.diff),
                        signed(t.ci.lower),
                        signed(t.ci.upper)
                    );
                    r[5] = format!(
                        "{} [{}, {}]",
                        pct(t.rel),
                        pct(t.rel_ci.lower),
                        pct(t.rel_ci.upper)
                    );
                    r[6] = fmt_p(t.p_value);
                    r[7] = fmt_p(c.p_adjusted);
                    rows.push(r);
                }
            }
        }
        let mut w = [0usize; 10];
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        for r in &rows {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                let pad = w[i] - c.chars().count();
                if i >= 2 && i != 4 && i != 5 && i != 9 {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                }
                line.push_str("  ");
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        for m in &self.metrics {
            if let (Some(t), Some(v)) = (m.cuped_theta, m.cuped_variance_reduction) {
                writeln!(
                    f,
                    "CUPED on {} with covariate '{}': theta = {:.4}, variance reduced by {:.1}%",
                    m.name,
                    self.covariate.as_deref().unwrap_or(""),
                    t,
                    v * 100.0
                )?;
            }
        }
        Ok(())
    }
}

/// A plain-language conclusion for one arm and metric, in English and Chinese.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Metric name.
    pub metric: String,
    /// Treatment arm.
    pub arm: String,
    /// Significant after correction (CUPED result when available).
    pub significant: bool,
    /// Not significant and the test could not have detected `min_relative_lift`
    /// with 80% power at its current size.
    pub underpowered: bool,
    /// Relative lift detectable with 80% power at the current size.
    pub mde_relative: f64,
    /// English sentence.
    pub en: String,
    /// Chinese sentence.
    pub zh: String,
}

/// Plain-language verdict for `arm` vs control on `metric`. `min_relative_lift` is the
/// smallest lift worth detecting (e.g. 0.05); a non-significant test whose 80%-power MDE
/// exceeds it is flagged `underpowered`.
pub fn verdict(
    report: &AnalysisReport,
    metric: &str,
    arm: &str,
    min_relative_lift: f64,
) -> Result<Verdict, ExperimentError> {
    let m = report
        .metrics
        .iter()
        .find(|m| m.name == metric)
        .ok_or_else(|| {
            ExperimentError::invalid("metric", format!("'{metric}' is not in the report"))
        })?;
    let a =
        m.arms.iter().find(|a| a.arm == arm).ok_or_else(|| {
            ExperimentError::invalid("arm", format!("'{arm}' is not in the report"))
        })?;
    let v = a.vs_control.as_ref().ok_or_else(|| {
        ExperimentError::invalid(
            "arm",
            format!("'{arm}' is the control; pick a treatment arm"),
        )
    })?;
    let c = &m.arms[0];
    let (test, p_adj, how) = match &v.cuped {
        Some(cu) => (&cu.comparison, cu.p_adjusted, " (CUPED-adjusted)"),
        None => (&v.test, v.p_adjusted, ""),
    };
    let significant = p_adj < report.alpha;
    let ratio = a.n as f64 / c.n as f64;
    let mde_abs = match m.kind {
        MetricKind::Binary if c.mean > 0.0 && c.mean < 1.0 => {
            mde_proportions(c.mean, c.n as f64, report.alpha, 0.8, ratio)?
        }
        _ if c.sd > 0.0 => mde_means(c.sd, c.n as f64, report.alpha, 0.8, ratio)?,
        _ => f64::INFINITY,
    };
    let mde_relative = if c.mean != 0.0 {
        (mde_abs / c.mean).abs()
    } else {
        f64::INFINITY
    };
    let underpowered = !significant && mde_relative > min_relative_lift;
    let conf = ((1.0 - report.alpha) * 100.0).round();
    let n_t = a.n as f64;
    let units = if m.kind == MetricKind::Ratio {
        "unit".to_string()
    } else {
        "customer".to_string()
    };
    let (en, zh) = if significant {
        let total = test.diff * n_t;
        (
            format!(
                "'{arm}' caused {} {metric}{how} over {} customers versus '{}' ({conf}% CI {} to {}): {} per {units} ({}), adjusted p = {}.",
                signed_total(total, m.kind),
                group(a.n),
                c.arm,
                signed_total(test.ci.lower * n_t, m.kind),
                signed_total(test.ci.upper * n_t, m.kind),
                signed(test.diff),
                pct(test.rel),
                fmt_p(p_adj)
            ),
            format!(
                "「{arm}」相比「{}」使 {metric} 增加 {}{}（{conf}% 置信区间 {} 至 {}），覆盖 {} 位客户；人均 {}（{}），校正后 p = {}。",
                c.arm,
                signed_total(total, m.kind),
                if how.is_empty() {
                    ""
                } else {
                    "（CUPED 校正）"
                },
                signed_total(test.ci.lower * n_t, m.kind),
                signed_total(test.ci.upper * n_t, m.kind),
                group(a.n),
                signed(test.diff),
                pct(test.rel),
                fmt_p(p_adj)
            ),
        )
    } else {
        let mut en = format!(
            "No detectable effect of '{arm}' on {metric}{how} versus '{}' (lift {} per {units}, {conf}% CI {} to {}; adjusted p = {}).",
            c.arm,
            signed(test.diff),
            signed(test.ci.lower),
            signed(test.ci.upper),
            fmt_p(p_adj)
        );
        let mut zh = format!(
            "未检测到「{arm}」对 {metric} 的显著效果（相比「{}」人均 {}，{conf}% 置信区间 {} 至 {}；校正后 p = {}）。",
            c.arm,
            signed(test.diff),
            signed(test.ci.lower),
            signed(test.ci.upper),
            fmt_p(p_adj)
        );
        if underpowered {
            en.push_str(&format!(
                " The test is underpowered: with 80% power it could only detect a lift of {:.1}% or more.",
                mde_relative * 100.0
            ));
            zh.push_str(&format!(
                "样本量不足：以 80% 的把握只能检测到 {:.1}% 以上的提升。",
                mde_relative * 100.0
            ));
        }
        (en, zh)
    };
    Ok(Verdict {
        metric: metric.to_string(),
        arm: arm.to_string(),
        significant,
        underpowered,
        mde_relative,
        en,
        zh,
    })
}

impl AnalysisReport {
    /// Verdicts for every treatment arm and metric (see [`verdict`]).
    pub fn verdicts(&self, min_relative_lift: f64) -> Result<Vec<Verdict>, ExperimentError> {
        let mut out = Vec::new();
        for m in &self.metrics {
            for a in m.arms.iter().skip(1) {
                out.push(verdict(self, &m.name, &a.arm, min_relative_lift)?);
            }
        }
        Ok(out)
    }

    /// The result for one metric and arm, if present.
    pub fn get(&self, metric: &str, arm: &str) -> Option<&ArmMetric> {
        self.metrics
            .iter()
            .find(|m| m.name == metric)?
            .arms
            .iter()
            .find(|a| a.arm == arm)
    }
}
