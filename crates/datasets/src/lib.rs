//! Converters from the public real datasets to Zhiying's canonical CSV tables.
//!
//! The real datasets must flow through the same validating ingestion as every other
//! source, so this crate does no loading itself: it turns each raw file into
//! `<table>.csv` files whose header and columns are exactly those of
//! [`zhiying_core::schema`] (catalogue order; dates `YYYY-MM-DD`; timestamps RFC 3339
//! UTC `…Z`; money in integer minor units; codes lower-case from the catalogue lists;
//! empty = null), and ingest validates them like any other input.
//!
//! Ids are deterministic and prefixed per source (`UB…`, `CD…`, `HS…`, `GC…`) so they
//! never collide with the synthetic bank's ids or each other. How each dataset maps to
//! the canonical tables, and the caveats, are in `docs/datasets.md`.
//!
//! ```no_run
//! use zhiying_datasets::{convert, locate, Dataset};
//! for ds in Dataset::all() {
//!     let input = locate(ds).expect("shipped copy in <repo>/datasets");
//!     let out = std::path::Path::new("/tmp/zhiying-real").join(ds.name());
//!     for t in convert(ds, &input, &out).unwrap() {
//!         println!("{} {} rows -> {}", t.table, t.rows, t.path.display());
//!     }
//! }
//! ```

mod bank;
mod cdnow;
mod error;
mod german;
mod hillstrom;
mod io;
mod parse;

pub use cdnow::convert_cdnow_sample;
pub use error::DatasetError;

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The real datasets Zhiying ships (see `datasets/README.md` for sources and terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// UCI Bank Marketing (`bank-full`): term-deposit phone campaigns.
    #[serde(rename = "bank-full")]
    BankMarketing,
    /// CDNOW purchases, January 1997 – June 1998 (the master file).
    Cdnow,
    /// MineThatData (Hillstrom) e-mail experiment.
    Hillstrom,
    /// Statlog German credit.
    GermanCredit,
}

impl Dataset {
    pub fn all() -> [Dataset; 4] {
        [
            Dataset::BankMarketing,
            Dataset::Cdnow,
            Dataset::Hillstrom,
            Dataset::GermanCredit,
        ]
    }

    /// Short stable name, used on the command line and as an output sub-directory.
    pub fn name(&self) -> &'static str {
        match self {
            Dataset::BankMarketing => "bank-full",
            Dataset::Cdnow => "cdnow",
            Dataset::Hillstrom => "hillstrom",
            Dataset::GermanCredit => "german-credit",
        }
    }

    /// The raw file's name in `datasets/`.
    pub fn file_name(&self) -> &'static str {
        match self {
            Dataset::BankMarketing => "bank-full.csv.gz",
            Dataset::Cdnow => "CDNOW_master.txt",
            Dataset::Hillstrom => "hillstrom.csv.gz",
            Dataset::GermanCredit => "german-credit.csv",
        }
    }

    /// Citation and terms of use, to show wherever the data is shown.
    pub fn credit(&self) -> &'static str {
        match self {
            Dataset::BankMarketing => {
                "S. Moro, P. Cortez and P. Rita (2014), A data-driven approach to predict the success of bank \
                 telemarketing, Decision Support Systems 62:22-31. UCI Machine Learning Repository, \
                 Bank Marketing; licence CC BY 4.0."
            }
            Dataset::Cdnow => {
                "CDNOW purchase data, January 1997 - June 1998, as distributed by Peter S. Fader and Bruce G. S. \
                 Hardie for research and teaching (Fader, Hardie & Lee (2005), Marketing Science 24(2)); no open \
                 licence is stated: research use, cite the source."
            }
            Dataset::Hillstrom => {
                "Kevin Hillstrom, MineThatData E-Mail Analytics and Data Mining Challenge (MineThatData blog, \
                 2008); published by the author for public analysis, no formal licence stated: cite the source."
            }
            Dataset::GermanCredit => {
                "Prof. Dr. Hans Hofmann, Statlog (German Credit Data), UCI Machine Learning Repository; \
                 licence CC BY 4.0."
            }
        }
    }

    /// The extra model-feature file [`convert`] writes next to the canonical tables, if
    /// any: the original columns keyed by `customer_id`. It is not a canonical table and
    /// must not be ingested.
    pub fn features_file_name(&self) -> Option<&'static str> {
        match self {
            Dataset::BankMarketing => Some(bank::FEATURES_FILE),
            Dataset::Hillstrom => Some(hillstrom::FEATURES_FILE),
            Dataset::Cdnow | Dataset::GermanCredit => None,
        }
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dataset::all()
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!(
                    "unknown dataset '{s}': use one of {}",
                    Dataset::all().map(|d| d.name()).join(", ")
                )
            })
    }
}

/// One canonical CSV file written by [`convert`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConvertedTable {
    /// Canonical table name (a `zhiying_core::schema::FACT_TABLES` entry).
    pub table: &'static str,
    pub path: PathBuf,
    /// Data rows, header excluded.
    pub rows: u64,
}

/// Converts `input` (the raw file of `dataset`; gzip is detected) into canonical
/// `<table>.csv` files in `out_dir`, creating it if needed and overwriting files of the
/// same name. Returns the tables in dependency order (`FACT_TABLES` order), ready to be
/// ingested in that order. Use one `out_dir` per dataset: each writes `customers.csv`.
///
/// For bank-full and Hillstrom a model-feature file is written too
/// ([`Dataset::features_file_name`]); it is not in the returned list.
pub fn convert(
    dataset: Dataset,
    input: &Path,
    out_dir: &Path,
) -> Result<Vec<ConvertedTable>, DatasetError> {
    io::create_out_dir(out_dir)?;
    let mut tables = match dataset {
        Dataset::BankMarketing => bank::convert(input, out_dir)?,
        Dataset::Cdnow => cdnow::convert_master(input, out_dir)?,
        Dataset::Hillstrom => hillstrom::convert(input, out_dir)?,
        Dataset::GermanCredit => german::convert(input, out_dir)?,
    };
    sort_dependency_order(&mut tables);
    Ok(tables)
}

pub(crate) fn sort_dependency_order(tables: &mut [ConvertedTable]) {
    let order = |t: &ConvertedTable| {
        zhiying_core::schema::FACT_TABLES
            .iter()
            .position(|d| d.name == t.table)
            .unwrap_or(usize::MAX)
    };
    tables.sort_by_key(order);
}

/// Environment variable naming a directory holding the raw dataset files.
pub const DATASETS_DIR_ENV: &str = "ZHIYING_DATASETS_DIR";

/// Finds the shipped copy of `dataset`'s raw file. See [`locate_file`] for the search order.
pub fn locate(dataset: Dataset) -> Option<PathBuf> {
    locate_file(dataset.file_name())
}

/// Finds a file of the datasets folder by name (also the files without a converter, such
/// as `cdnow_customers_summary_with_transactions.csv` or `CDNOW_sample.txt`). Looks in
/// `$ZHIYING_DATASETS_DIR`, then the repository's `datasets/` (found from this crate's
/// source location), then `../shared/datasets` relative to the working directory.
pub fn locate_file(file_name: &str) -> Option<PathBuf> {
    search_dirs()
        .into_iter()
        .map(|d| d.join(file_name))
        .find(|p| p.is_file())
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(DATASETS_DIR_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets"));
    dirs.push(PathBuf::from("../shared/datasets"));
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_names_match_name() {
        for ds in Dataset::all() {
            let json = serde_json::to_string(&ds).expect("serialise");
            assert_eq!(json, format!("\"{}\"", ds.name()));
            assert_eq!(
                serde_json::from_str::<Dataset>(&json).expect("deserialise"),
                ds
            );
        }
    }

    #[test]
    fn env_dir_is_searched_first() {
        let dir =
            std::env::temp_dir().join(format!("zhiying-datasets-locate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("only-in-env.txt"), "x").expect("write");
        // SAFETY: no other test in this crate reads or writes this variable.
        unsafe { std::env::set_var(DATASETS_DIR_ENV, &dir) };
        let found = locate_file("only-in-env.txt");
        unsafe { std::env::remove_var(DATASETS_DIR_ENV) };
        assert_eq!(
            found,
            Some(
                dir.join("only-in-env.txt")
                    .canonicalize()
                    .expect("canonical")
            )
        );
        assert_eq!(locate_file("only-in-env.txt"), None);
        assert_eq!(locate_file("no-such-dataset.csv"), None);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
