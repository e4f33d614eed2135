//! The data-quality report: written by ingestion, read by the CLI, the API and the console.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub tables: Vec<TableQuality>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableQuality {
    pub table: String,
    /// Rows stored (accepted over all batches).
    pub rows: u64,
    /// Rows rejected into quarantine over all batches.
    pub quarantined: u64,
    /// Rows skipped because their key was already stored or repeated in the input.
    pub duplicates_skipped: u64,
    /// Share of input rows that passed validation: rows / (rows + quarantined).
    pub validity: f64,
    /// Latest event time in the table (RFC 3339), for tables with a time column.
    pub freshest: Option<String>,
    /// Hours between `freshest` and `generated_at`: how stale the data is.
    pub staleness_hours: Option<f64>,
    pub columns: Vec<ColumnQuality>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnQuality {
    pub column: String,
    /// Share of stored rows where the column is filled.
    pub completeness: f64,
    /// Share of input values of this column that were valid (rejections blamed on it lower it).
    pub validity: f64,
    /// Rows rejected because of this column.
    pub rejected: u64,
}

impl QualityReport {
    pub fn table(&self, name: &str) -> Option<&TableQuality> {
        self.tables.iter().find(|t| t.table == name)
    }
}
