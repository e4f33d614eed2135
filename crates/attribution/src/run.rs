//! One call from files to the full report, so a CLI command or HTTP route stays a thin wrapper.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::io::{
    ConversionColumns, PathColumns, TouchpointColumns, read_conversions_csv, read_paths_csv,
    read_touchpoints_csv,
};
use crate::paths::{PathOptions, Paths, build_paths};
use crate::report::{AttributionConfig, AttributionReport, attribute};
use crate::stats::{PathStats, PathStatsOptions, path_stats};
use crate::synergy::{SynergyReport, synergy};

/// Everything [`run_files`] needs besides the file names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    pub touchpoint_columns: TouchpointColumns,
    pub conversion_columns: ConversionColumns,
    pub path_columns: PathColumns,
    pub paths: PathOptions,
    pub attribution: AttributionConfig,
    pub stats: PathStatsOptions,
    /// Skip the pairwise matrices (they grow with the square of the channel count).
    pub skip_synergy: bool,
}

impl RunOptions {
    /// Takes the touchpoint and conversion columns from the files' headers (see
    /// [`TouchpointColumns::detect`]), keeping every other option.
    pub fn with_detected_columns(mut self, touchpoints: &Path, conversions: &Path) -> Result<Self> {
        self.touchpoint_columns = TouchpointColumns::detect(touchpoints)?;
        self.conversion_columns = ConversionColumns::detect(conversions)?;
        Ok(self)
    }
}

/// Attribution, path statistics and synergy of one data set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    pub attribution: AttributionReport,
    pub path_stats: PathStats,
    pub synergy: Option<SynergyReport>,
}

/// Attributes already-built paths.
pub fn run_paths(paths: &Paths, opts: &RunOptions) -> Result<RunReport> {
    Ok(RunReport {
        attribution: attribute(paths, &opts.attribution)?,
        path_stats: path_stats(paths, &opts.stats),
        synergy: if opts.skip_synergy {
            None
        } else {
            Some(synergy(paths)?)
        },
    })
}

/// Reads touchpoints and conversions, builds paths and attributes them.
pub fn run_files(touchpoints: &Path, conversions: &Path, opts: &RunOptions) -> Result<RunReport> {
    let t = read_touchpoints_csv(touchpoints, &opts.touchpoint_columns)?;
    let c = read_conversions_csv(conversions, &opts.conversion_columns)?;
    let paths = build_paths(&t, &c, &opts.paths)?;
    run_paths(&paths, opts)
}

/// Reads a pre-aggregated path file and attributes it.
pub fn run_paths_file(paths: &Path, opts: &RunOptions) -> Result<RunReport> {
    let p = read_paths_csv(paths, &opts.path_columns)?;
    run_paths(&p, opts)
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.attribution)?;
        writeln!(f, "{}", self.path_stats)?;
        if let Some(s) = &self.synergy {
            write!(f, "{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn files_to_report() {
        let dir = tempfile::tempdir().unwrap();
        let tp = dir.path().join("touch.csv");
        let cv = dir.path().join("conv.csv");
        let mut f = std::fs::File::create(&tp).unwrap();
        writeln!(f, "customer_id,timestamp,channel").unwrap();
        for (c, d, ch) in [
            ("c1", "2024-03-01", "app"),
            ("c1", "2024-03-03", "sms"),
            ("c2", "2024-03-02", "sms"),
            ("c3", "2024-03-02", "app"),
        ] {
            writeln!(f, "{c},{d},{ch}").unwrap();
        }
        let mut f = std::fs::File::create(&cv).unwrap();
        writeln!(f, "customer_id,timestamp,value").unwrap();
        writeln!(f, "c1,2024-03-05,1000").unwrap();
        writeln!(f, "c2,2024-03-04,200").unwrap();
        let r = run_files(&tp, &cv, &RunOptions::default()).unwrap();
        let detected = RunOptions::default()
            .with_detected_columns(&tp, &cv)
            .unwrap();
        assert_eq!(run_files(&tp, &cv, &detected).unwrap(), r);
        assert_eq!(r.attribution.total_conversions, 2.0);
        assert_eq!(r.attribution.total_value, 1200.0);
        assert_eq!(r.path_stats.paths, 3.0);
        let s = r.synergy.as_ref().unwrap();
        assert_eq!(s.channels, ["app", "sms"]);
        // Both channels only converted together on c1's path: synergy 1.
        assert_eq!(s.synergy[0][1], 1.0);
        let text = r.to_string();
        assert!(
            text.contains("Top paths") && text.contains("interaction"),
            "{text}"
        );
        let e = run_files(&dir.path().join("missing.csv"), &cv, &RunOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.csv"), "{e}");
    }
}
