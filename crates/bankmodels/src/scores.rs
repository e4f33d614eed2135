//! `derived/scores.parquet`: every model's latest score per customer, in long form
//! (customer_id, model, score, band, reasons, as_of, model_version), so tags can pick any
//! model up with `MAX(score) FILTER (WHERE model = '…')` and audiences can use them.

use std::path::PathBuf;
use std::sync::Arc;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use zhiying_core::DataDir;
use zhiying_engine::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};

use crate::BankModelError;

/// One customer's score from one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub customer_id: String,
    pub model: String,
    pub score: f64,
    pub band: Option<String>,
    /// Top reasons, e.g. `complaints_90d=2 (+0.81); competitor_transfers_90d=3 (+0.66)`.
    pub reasons: Option<String>,
}

/// The Arrow schema of `derived/scores.parquet` (owned by the engine, which registers an
/// empty table with it when no scores exist yet, so tag SQL over `scores` always plans).
pub use zhiying_engine::scores_schema;

pub fn scores_path(dd: &DataDir) -> PathBuf {
    dd.derived("scores")
}

/// Scores of one model run, with the snapshot and version they came from.
#[derive(Debug, Clone)]
pub struct ModelScores {
    pub model: String,
    pub version: String,
    pub as_of: String,
    pub rows: Vec<ScoreRow>,
}

/// Writes all models' scores atomically (temp file + rename), replacing the previous file.
pub fn write_scores(dd: &DataDir, sets: &[ModelScores]) -> Result<PathBuf, BankModelError> {
    let path = scores_path(dd);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| BankModelError::io(parent, e))?;
    }
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| BankModelError::io(&tmp, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let schema = scores_schema();
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
    for set in sets {
        for chunk in set.rows.chunks(65_536) {
            let col = |f: &dyn Fn(&ScoreRow) -> Option<&str>| -> ArrayRef {
                Arc::new(chunk.iter().map(f).collect::<StringArray>())
            };
            let n = chunk.len();
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    col(&|r| Some(r.customer_id.as_str())),
                    Arc::new(StringArray::from(vec![set.model.as_str(); n])),
                    Arc::new(chunk.iter().map(|r| r.score).collect::<Float64Array>()),
                    col(&|r| r.band.as_deref()),
                    col(&|r| r.reasons.as_deref()),
                    Arc::new(StringArray::from(vec![set.as_of.as_str(); n])),
                    Arc::new(StringArray::from(vec![set.version.as_str(); n])),
                ],
            )?;
            w.write(&batch)?;
        }
    }
    w.close()?;
    std::fs::rename(&tmp, &path).map_err(|e| BankModelError::io(&path, e))?;
    Ok(path)
}

/// Bands by rank: the top 10% `high`, the next 20% `medium`, the rest `low`.
pub fn rank_bands(scores: &[f64]) -> Vec<&'static str> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = vec!["low"; scores.len()];
    let n = scores.len() as f64;
    for (rank, &i) in order.iter().enumerate() {
        let q = (rank as f64 + 1.0) / n;
        out[i] = if q <= 0.10 {
            "high"
        } else if q <= 0.30 {
            "medium"
        } else {
            "low"
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_rank() {
        let s: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let b = rank_bands(&s);
        assert_eq!(b.iter().filter(|x| **x == "high").count(), 10);
        assert_eq!(b.iter().filter(|x| **x == "medium").count(), 20);
        assert_eq!(b[99], "high");
        assert_eq!(b[75], "medium");
        assert_eq!(b[0], "low");
    }
}
