//! The CSV analyzer on awkward input: errors that name file, line and column, the skip
//! policy, gzip, quotes, CRLF, block boundaries and thread counts, and the verdicts.

use std::io::Write;

use zhiying_experiment::{AnalyzeOptions, ExperimentError, analyze_csv, stats, verdict};

fn write(name: &str, body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    (dir, p)
}

fn opts(metrics: &[&str]) -> AnalyzeOptions {
    AnalyzeOptions {
        arm_col: "arm".into(),
        control: "A".into(),
        metrics: metrics.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn bad_cell_names_file_line_and_column() {
    let (_d, p) = write("x.csv", "id,arm,y\n1,A,1.5\n2,B,2\n3,A,oops\n4,B,3\n");
    let e = analyze_csv(&p, &opts(&["y"])).unwrap_err();
    assert!(
        matches!(e, ExperimentError::BadCell { line: 4, .. }),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("x.csv:4") && msg.contains("'y'") && msg.contains("oops"),
        "{msg}"
    );
    let (_d, p) = write(
        "empty.csv",
        "id,arm,y\n1,A,1\n2,B,\n3,A,2\n4,B,3\n5,A,4\n6,B,5\n",
    );
    let msg = analyze_csv(&p, &opts(&["y"])).unwrap_err().to_string();
    assert!(msg.contains(":3:"), "{msg}");
}

#[test]
fn skip_policy_drops_and_counts_rows() {
    let (_d, p) = write(
        "x.csv",
        "id,arm,y\n1,A,1\n2,B,\n3,A,2\n4,B,3\n5,A,NA\n6,B,5\n7,A,3\n",
    );
    let mut o = opts(&["y"]);
    o.skip_invalid = true;
    let r = analyze_csv(&p, &o).unwrap();
    assert_eq!(r.rows, 7);
    assert_eq!(r.skipped_rows, 2);
    assert!(
        r.first_skip_reason.as_deref().unwrap().contains("line 3"),
        "{:?}",
        r.first_skip_reason
    );
    assert_eq!(r.get("y", "A").unwrap().n, 3);
    assert_eq!(r.get("y", "B").unwrap().n, 2);
    assert!((r.get("y", "A").unwrap().mean - 2.0).abs() < 1e-12);
}

#[test]
fn missing_column_and_control_are_explained() {
    let (_d, p) = write("x.csv", "id,arm,y\n1,A,1\n2,B,2\n");
    let msg = analyze_csv(&p, &opts(&["revenue"]))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("no column 'revenue'")
            && msg.contains("id, arm, y")
            && msg.contains("--metric"),
        "{msg}"
    );
    let mut o = opts(&["y"]);
    o.control = "control".into();
    let msg = analyze_csv(&p, &o).unwrap_err().to_string();
    assert!(msg.contains("'control'") && msg.contains("A, B"), "{msg}");
    let (_d, p) = write("ragged.csv", "id,arm,y\n1,A,1\n2,B\n");
    let msg = analyze_csv(&p, &opts(&["y"])).unwrap_err().to_string();
    assert!(
        msg.contains("ragged.csv:3") && msg.contains("2 fields"),
        "{msg}"
    );
}

#[test]
fn quotes_crlf_bom_semicolons_booleans_and_gzip() {
    let body = "\u{feff}\"id\";\"arm\";\"note\";\"ok\";\"amt\"\r\n1;A;\"multi\r\nline; text\";true;\"1.5\"\r\n2;B;x;FALSE;2.5\r\n3;A;\"he said \"\"hi\"\"\";false;3.5\r\n4;B;y;true;4.5\r\n";
    let (_d, p) = write("q.csv", body);
    let mut o = opts(&["ok", "amt"]);
    o.delimiter = b';';
    let r = analyze_csv(&p, &o).unwrap();
    assert_eq!(r.rows, 4);
    assert_eq!(r.metrics[0].kind, zhiying_experiment::MetricKind::Binary);
    assert!((r.get("amt", "A").unwrap().mean - 2.5).abs() < 1e-12);
    assert!((r.get("amt", "B").unwrap().mean - 3.5).abs() < 1e-12);
    // Same bytes gzipped (detected by magic bytes, whatever the name).
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("q.data");
    let mut enc = flate2_writer(&gz);
    enc.write_all(body.as_bytes()).unwrap();
    enc.finish().unwrap();
    let r2 = analyze_csv(&gz, &o).unwrap();
    assert_eq!(r2.metrics, r.metrics);
}

fn flate2_writer(p: &std::path::Path) -> flate2::write::GzEncoder<std::fs::File> {
    flate2::write::GzEncoder::new(
        std::fs::File::create(p).unwrap(),
        flate2::Compression::fast(),
    )
}

#[test]
fn many_blocks_and_threads_agree_with_a_direct_computation() {
    // ~10 MB: several 4 MiB blocks, with quoted fields (some with newlines) throughout.
    let mut body = String::from("id,arm,comment,y,x\n");
    let (mut ya, mut yb, mut xa) = (Vec::new(), Vec::new(), Vec::new());
    let mut s: u64 = 7;
    for i in 0..200_000u64 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let arm = if (s >> 33).is_multiple_of(2) {
            "A"
        } else {
            "B"
        };
        let y = ((s >> 20) % 100_000) as f64 / 100.0 + 1e6; // large offset: tests cancellation
        let x = ((s >> 40) % 1000) as f64;
        let comment = if i % 97 == 0 {
            "\"line\nbreak, \"\"quoted\"\"\""
        } else {
            "plain text here"
        };
        body.push_str(&format!("{i},{arm},{comment},{y},{x}\n"));
        if arm == "A" {
            ya.push(y);
            xa.push(x);
        } else {
            yb.push(y);
        }
    }
    let (_d, p) = write("big.csv", &body);
    let mut o = opts(&["y"]);
    o.covariate = Some("x".into());
    o.threads = 1;
    let one = analyze_csv(&p, &o).unwrap();
    o.threads = 3;
    let three = analyze_csv(&p, &o).unwrap();
    assert_eq!(one.rows, 200_000);
    let (ma, mb) = (
        stats::Moments::from_slice(&ya),
        stats::Moments::from_slice(&yb),
    );
    for r in [&one, &three] {
        let a = r.get("y", "A").unwrap();
        assert_eq!(a.n as usize, ya.len());
        assert!(
            (a.mean - ma.mean).abs() < 1e-12 * ma.mean,
            "{} vs {}",
            a.mean,
            ma.mean
        );
        assert!((a.sd - ma.var().sqrt()).abs() < 1e-8 * ma.var().sqrt());
        let w = stats::welch(&mb, &ma, 0.05).unwrap();
        let t = &r.get("y", "B").unwrap().vs_control.as_ref().unwrap().test;
        assert!(
            (t.p_value - w.p_value).abs() < 1e-7 && (t.diff - w.diff).abs() < 1e-7,
            "{t:?} vs {w:?}"
        );
    }
    let _ = xa;
    // Line numbers stay right across blocks (and count quoted newlines).
    let mut broken = body.clone();
    broken.push_str("200000,A,x,notanumber,1\n");
    let lines = broken.matches('\n').count() as u64;
    let (_d, p) = write("broken.csv", &broken);
    o.threads = 2;
    match analyze_csv(&p, &o).unwrap_err() {
        ExperimentError::BadCell { line, column, .. } => {
            assert_eq!(line, lines);
            assert_eq!(column, "y");
        }
        e => panic!("unexpected {e}"),
    }
}

#[test]
fn srm_flags_a_broken_split() {
    let mut body = String::from("arm,y\n");
    for i in 0..3000 {
        body.push_str(if i % 5 < 3 { "A,1\n" } else { "B,0\n" }); // 60/40 instead of 50/50
    }
    let (_d, p) = write("srm.csv", &body);
    let r = analyze_csv(&p, &opts(&["y"])).unwrap();
    assert!(r.srm.mismatch && r.srm.p_value < 1e-10);
    assert!(r.to_string().contains("MISMATCH"));
    let mut o = opts(&["y"]);
    o.planned_weights = Some(vec![("A".into(), 3.0), ("B".into(), 2.0)]);
    assert!(!analyze_csv(&p, &o).unwrap().srm.mismatch);
    o.planned_weights = Some(vec![("A".into(), 3.0)]);
    assert!(analyze_csv(&p, &o).unwrap_err().to_string().contains("'B'"));
}

#[test]
fn verdicts_in_english_and_chinese() {
    let o = AnalyzeOptions {
        arm_col: "segment".into(),
        control: "No E-Mail".into(),
        metrics: vec!["conversion".into(), "spend".into()],
        ..Default::default()
    };
    let r = analyze_csv(
        zhiying_datasets::locate_file("hillstrom.csv.gz").expect("hillstrom.csv.gz in datasets/"),
        &o,
    )
    .unwrap();
    let v = verdict(&r, "conversion", "Mens E-Mail", 0.05).unwrap();
    assert!(v.significant && !v.underpowered);
    // 0.6805 pp × 21,307 customers ≈ +145 conversions.
    assert!(
        v.en.contains("caused +145") && v.en.contains("21,307"),
        "{}",
        v.en
    );
    assert!(
        v.zh.contains("+145") && v.zh.contains("置信区间"),
        "{}",
        v.zh
    );
    // A small sample: not significant and underpowered.
    let mut body = String::from("arm,y\n");
    for i in 0..200 {
        body.push_str(&format!(
            "{},{}\n",
            if i % 2 == 0 { "A" } else { "B" },
            u8::from(i % 7 == 0)
        ));
    }
    let (_d, p) = write("small.csv", &body);
    let r = analyze_csv(&p, &opts(&["y"])).unwrap();
    let v = verdict(&r, "y", "B", 0.05).unwrap();
    assert!(!v.significant && v.underpowered, "{v:?}");
    assert!(
        v.en.starts_with("No detectable effect") && v.en.contains("underpowered"),
        "{}",
        v.en
    );
    assert!(
        v.zh.contains("未检测到") && v.zh.contains("样本量不足"),
        "{}",
        v.zh
    );
    assert!(verdict(&r, "y", "A", 0.05).is_err());
    assert_eq!(r.verdicts(0.05).unwrap().len(), 1);
}
