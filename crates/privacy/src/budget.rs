//! The privacy-budget ledger: how much of each report's (ε, δ) budget has been spent.
//!
//! One JSON file per data directory (`DATA_DIR/privacy/budget.json`), one entry per report
//! name. A report's budget is fixed the first time it is charged and cannot be raised
//! afterwards. Spending composes by basic composition (ε and δ add up), and a charge that
//! would exceed either limit is refused before any noise is drawn. Writers take an
//! exclusive lock on `budget.lock` and replace the file atomically (write, fsync, rename),
//! so concurrent `zhiying report dp` runs never lose a spend.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PrivacyError;
use crate::mechanism::Cost;

/// Slack for floating-point sums of ε (e.g. ten spends of 0.1 against a budget of 1.0).
const SLACK: f64 = 1e-9;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spend {
    pub at: chrono::DateTime<chrono::Utc>,
    pub epsilon: f64,
    pub delta: f64,
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportBudget {
    pub limit: Cost,
    pub spends: Vec<Spend>,
}

impl ReportBudget {
    pub fn spent(&self) -> Cost {
        self.spends.iter().fold(
            Cost {
                epsilon: 0.0,
                delta: 0.0,
            },
            |acc, s| Cost {
                epsilon: acc.epsilon + s.epsilon,
                delta: acc.delta + s.delta,
            },
        )
    }

    pub fn remaining(&self) -> Cost {
        let s = self.spent();
        Cost {
            epsilon: (self.limit.epsilon - s.epsilon).max(0.0),
            delta: (self.limit.delta - s.delta).max(0.0),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LedgerFile {
    version: u32,
    reports: BTreeMap<String, ReportBudget>,
}

/// The ledger of one data directory.
#[derive(Debug, Clone)]
pub struct BudgetLedger {
    path: PathBuf,
}

/// The outcome of a successful charge.
#[derive(Debug, Clone, Serialize)]
pub struct Charged {
    pub report: String,
    pub cost: Cost,
    pub limit: Cost,
    pub spent: Cost,
    pub remaining: Cost,
}

impl BudgetLedger {
    /// The ledger at `DATA_DIR/privacy/budget.json`.
    pub fn in_data_dir(root: &Path) -> Self {
        BudgetLedger {
            path: root.join("privacy").join("budget.json"),
        }
    }

    pub fn at(path: impl Into<PathBuf>) -> Self {
        BudgetLedger { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<LedgerFile, PrivacyError> {
        match fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                PrivacyError::Ledger(format!(
                    "{} is not a valid budget ledger ({e}); restore it from backup — deleting it would forget spent budget",
                    self.path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LedgerFile {
                version: 1,
                reports: BTreeMap::new(),
            }),
            Err(e) => Err(PrivacyError::io(&self.path, e)),
        }
    }

    fn write(&self, ledger: &LedgerFile) -> Result<(), PrivacyError> {
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(ledger)
            .map_err(|e| PrivacyError::Ledger(format!("could not encode the ledger: {e}")))?;
        let mut f = File::create(&tmp).map_err(|e| PrivacyError::io(&tmp, e))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| PrivacyError::io(&tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| PrivacyError::io(&self.path, e))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn lock(&self) -> Result<File, PrivacyError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| PrivacyError::io(dir, e))?;
        let lock_path = self.path.with_extension("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| PrivacyError::io(&lock_path, e))?;
        f.lock().map_err(|e| PrivacyError::io(&lock_path, e))?;
        Ok(f)
    }

    /// The budget of one report, if it was ever charged.
    pub fn status(&self, report: &str) -> Result<Option<ReportBudget>, PrivacyError> {
        Ok(self.read()?.reports.remove(report))
    }

    /// Every report's budget.
    pub fn all(&self) -> Result<BTreeMap<String, ReportBudget>, PrivacyError> {
        Ok(self.read()?.reports)
    }

    /// Spends `cost` from `report`'s budget, creating it with `limit` on first use. Refuses
    /// (and records nothing) when the spend would exceed the limit, or when `limit` differs
    /// from the report's fixed budget.
    pub fn charge(
        &self,
        report: &str,
        limit: Cost,
        cost: Cost,
        description: &str,
    ) -> Result<Charged, PrivacyError> {
        if report.trim().is_empty() {
            return Err(PrivacyError::InvalidParameter(
                "the report name is empty; name the report (e.g. --report city-counts-2026q4)"
                    .into(),
            ));
        }
        let _guard = self.lock()?;
        let mut ledger = self.read()?;
        let entry = ledger
            .reports
            .entry(report.to_string())
            .or_insert_with(|| ReportBudget {
                limit,
                spends: Vec::new(),
            });
        if (entry.limit.epsilon - limit.epsilon).abs() > SLACK
            || (entry.limit.delta - limit.delta).abs() > SLACK * 1e-6
        {
            return Err(PrivacyError::BudgetFixed {
                report: report.to_string(),
                epsilon: entry.limit.epsilon,
                delta: entry.limit.delta,
            });
        }
        let spent = entry.spent();
        let after = spent.plus(cost);
        if after.epsilon > entry.limit.epsilon + SLACK
            || after.delta > entry.limit.delta * (1.0 + SLACK)
        {
            let remaining = entry.remaining();
            return Err(PrivacyError::BudgetExhausted {
                report: report.to_string(),
                requested_epsilon: cost.epsilon,
                requested_delta: cost.delta,
                remaining_epsilon: remaining.epsilon,
                remaining_delta: remaining.delta,
            });
        }
        entry.spends.push(Spend {
            at: chrono::Utc::now(),
            epsilon: cost.epsilon,
            delta: cost.delta,
            description: description.to_string(),
        });
        let charged = Charged {
            report: report.to_string(),
            cost,
            limit: entry.limit,
            spent: entry.spent(),
            remaining: entry.remaining(),
        };
        ledger.version = 1;
        self.write(&ledger)?;
        Ok(charged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(e: f64, d: f64) -> Cost {
        Cost::new(e, d).unwrap()
    }

    #[test]
    fn spends_add_up_and_overspend_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = BudgetLedger::in_data_dir(dir.path());
        let limit = c(1.0, 1e-6);
        for i in 0..10 {
            let r = ledger
                .charge("city", limit, c(0.1, 1e-7), &format!("run {i}"))
                .unwrap();
            assert!((r.spent.epsilon - 0.1 * (i + 1) as f64).abs() < 1e-9);
        }
        // Exactly exhausted: one more, however small, is refused and not recorded.
        let err = ledger
            .charge("city", limit, c(0.01, 0.0), "one more")
            .unwrap_err();
        assert!(matches!(err, PrivacyError::BudgetExhausted { .. }), "{err}");
        assert!(err.to_string().contains("city"));
        let status = ledger.status("city").unwrap().unwrap();
        assert_eq!(status.spends.len(), 10);
        // Reopening from disk sees the same spends (persisted).
        let again = BudgetLedger::in_data_dir(dir.path());
        assert_eq!(again.status("city").unwrap().unwrap(), status);
        // Another report has its own budget.
        ledger.charge("segment", limit, c(0.5, 0.0), "x").unwrap();
    }

    #[test]
    fn delta_is_accounted_too() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = BudgetLedger::in_data_dir(dir.path());
        let limit = c(10.0, 1e-6);
        ledger.charge("r", limit, c(1.0, 6e-7), "a").unwrap();
        let err = ledger.charge("r", limit, c(1.0, 6e-7), "b").unwrap_err();
        assert!(matches!(err, PrivacyError::BudgetExhausted { .. }));
        ledger.charge("r", limit, c(1.0, 4e-7), "c").unwrap();
    }

    #[test]
    fn a_single_spend_above_the_limit_is_refused_and_the_limit_cannot_be_raised() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = BudgetLedger::in_data_dir(dir.path());
        assert!(ledger.charge("r", c(1.0, 0.0), c(1.5, 0.0), "big").is_err());
        assert!(
            ledger.status("r").unwrap().is_none(),
            "a refused charge records nothing"
        );
        ledger
            .charge("r", c(1.0, 0.0), c(0.5, 0.0), "first")
            .unwrap();
        let err = ledger
            .charge("r", c(5.0, 0.0), c(0.5, 0.0), "raise")
            .unwrap_err();
        assert!(matches!(err, PrivacyError::BudgetFixed { .. }), "{err}");
    }

    #[test]
    fn concurrent_charges_never_overspend() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || {
                    let ledger = BudgetLedger::in_data_dir(&p);
                    (0..5)
                        .filter(|_| ledger.charge("r", c(1.0, 0.0), c(0.05, 0.0), "t").is_ok())
                        .count()
                })
            })
            .collect();
        let ok: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(ok, 20, "exactly 1.0 / 0.05 charges succeed");
        let st = BudgetLedger::in_data_dir(&path)
            .status("r")
            .unwrap()
            .unwrap();
        assert_eq!(st.spends.len(), 20);
    }

    #[test]
    fn a_corrupt_ledger_is_an_error_not_a_reset() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = BudgetLedger::in_data_dir(dir.path());
        fs::create_dir_all(ledger.path().parent().unwrap()).unwrap();
        fs::write(ledger.path(), b"{not json").unwrap();
        let err = ledger
            .charge("r", c(1.0, 0.0), c(0.1, 0.0), "x")
            .unwrap_err();
        assert!(matches!(err, PrivacyError::Ledger(_)), "{err}");
    }
}
