//! The data directory: one folder holds everything the embedded default keeps.
//!
//! ```text
//! DATA_DIR/
//!   zhiying.db                          operational store (SQLite) unless a database URL is given
//!   facts/<table>/batch-<id>.parquet    accepted rows, one file per ingested batch
//!   quarantine/<table>/batch-<id>.jsonl rejected rows with file, line, raw row and reason
//!   derived/<name>.parquet              tables computed from facts (e.g. identity links)
//!   reports/quality.json                the latest data-quality report
//! ```
//! A batch id is derived from the table and the input's content, so re-ingesting a file
//! maps to the same names and a crash mid-way leaves either the whole batch or none of it.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn sqlite_path(&self) -> PathBuf {
        self.root.join("zhiying.db")
    }
    pub fn facts_dir(&self, table: &str) -> PathBuf {
        self.root.join("facts").join(table)
    }
    pub fn fact_batch(&self, table: &str, batch_id: &str) -> PathBuf {
        self.facts_dir(table)
            .join(format!("batch-{batch_id}.parquet"))
    }
    pub fn quarantine_dir(&self, table: &str) -> PathBuf {
        self.root.join("quarantine").join(table)
    }
    pub fn quarantine_batch(&self, table: &str, batch_id: &str) -> PathBuf {
        self.quarantine_dir(table)
            .join(format!("batch-{batch_id}.jsonl"))
    }
    pub fn derived(&self, name: &str) -> PathBuf {
        self.root.join("derived").join(format!("{name}.parquet"))
    }
    pub fn quality_report(&self) -> PathBuf {
        self.root.join("reports").join("quality.json")
    }
}
