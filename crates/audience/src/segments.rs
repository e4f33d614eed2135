//! Clusters that become audiences: k-means (from `zhiying-segment`) on numeric tags of the
//! user's choosing, written to `derived/segments.parquet`. The tag build turns it into the
//! categorical tag `segment` (`c1` = the largest cluster), so each cluster is the audience
//! `segment = "c1"`, `segment = "c2"`, … and combines with any other condition.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use serde::Serialize;
use zhiying_core::DataDir;
use zhiying_segment::{ClusterOptions, Clustering, FeatureMatrix, FeatureMeta};

use crate::{AudienceError, AudienceIndex};

/// A finished segmentation and where it was written.
#[derive(Debug, Clone, Serialize)]
pub struct Segmentation {
    pub name: String,
    pub customers: usize,
    pub clustering: Clustering,
    /// The audience expression of each cluster, in cluster order.
    pub expressions: Vec<String>,
    pub path: PathBuf,
}

/// The file the engine registers as the `segments` table.
pub fn segments_path(dd: &DataDir) -> PathBuf {
    dd.derived("segments")
}

/// The cluster profiles of the latest segmentation (everything but the per-customer
/// assignments), for the console's cluster-profile page.
pub fn profiles_path(dd: &DataDir) -> PathBuf {
    dd.root().join("derived").join("segments.json")
}

/// What [`profiles_path`] holds.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SegmentProfiles {
    pub name: String,
    pub customers: usize,
    pub k: usize,
    pub silhouette: f64,
    pub k_scores: Vec<zhiying_segment::KScore>,
    /// Feature keys, with their zh and en labels, in the order of every per-feature vector.
    pub features: Vec<String>,
    pub labels_zh: Vec<String>,
    pub labels_en: Vec<String>,
    pub means: Vec<f64>,
    pub std_devs: Vec<f64>,
    pub clusters: Vec<zhiying_segment::ClusterProfile>,
    /// The audience expression of each cluster.
    pub expressions: Vec<String>,
}

/// Reads the latest segmentation's profiles; `Ok(None)` when nothing was segmented yet.
pub fn load_profiles(dd: &DataDir) -> Result<Option<SegmentProfiles>, AudienceError> {
    let path = profiles_path(dd);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AudienceError::Io { path, source: e }),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| AudienceError::Invalid(format!("{}: {e}", path.display())))
}

/// Clusters every customer of `index` on the numeric tags `features` and writes the result.
pub fn segment_customers(
    dd: &DataDir,
    index: &AudienceIndex,
    name: &str,
    features: &[String],
    opts: &ClusterOptions,
) -> Result<Segmentation, AudienceError> {
    let mut metas = Vec::new();
    let (mut metas_zh, mut metas_en) = (Vec::new(), Vec::new());
    let mut columns = Vec::new();
    for key in features {
        let values = index.numeric_values(key).ok_or_else(|| {
            let numeric: Vec<&str> = index
                .tags()
                .iter()
                .filter(|t| t.kind == crate::meta::TagKind::Numeric)
                .map(|t| t.key.as_str())
                .collect();
            AudienceError::Invalid(format!(
                "`{key}` is not a numeric tag; clustering needs numeric tags such as: {}",
                numeric.join(", ")
            ))
        })?;
        let meta = index.tags().iter().find(|t| &t.key == key);
        let (zh, en) = meta
            .map(|m| (m.name_zh.clone(), m.name_en.clone()))
            .unwrap_or_else(|| (key.clone(), key.clone()));
        metas.push(FeatureMeta::new(key, &zh, &en));
        metas_zh.push(zh);
        metas_en.push(en);
        columns.push(values.to_vec());
    }
    let matrix = FeatureMatrix::new(metas, columns)
        .map_err(|e| AudienceError::Invalid(format!("clustering features: {e}")))?;
    let clustering = zhiying_segment::cluster(&matrix, opts)
        .map_err(|e| AudienceError::Invalid(format!("clustering: {e}")))?;
    let path = segments_path(dd);
    write_segments(&path, index, name, &clustering)?;
    let expressions: Vec<String> = (0..clustering.k)
        .map(|k| format!("segment = \"c{}\"", k + 1))
        .collect();
    save_profiles(
        dd,
        &SegmentProfiles {
            name: name.to_string(),
            customers: clustering.assignments.len(),
            k: clustering.k,
            silhouette: clustering.silhouette,
            k_scores: clustering.k_scores.clone(),
            features: features.to_vec(),
            labels_zh: metas_zh,
            labels_en: metas_en,
            means: clustering.means.clone(),
            std_devs: clustering.std_devs.clone(),
            clusters: clustering.clusters.clone(),
            expressions: expressions.clone(),
        },
    )?;
    Ok(Segmentation {
        name: name.to_string(),
        customers: clustering.assignments.len(),
        clustering,
        expressions,
        path,
    })
}

/// Writes the profiles atomically (temp file + rename).
pub fn save_profiles(dd: &DataDir, profiles: &SegmentProfiles) -> Result<(), AudienceError> {
    let path = profiles_path(dd);
    let werr = |e: std::io::Error| AudienceError::Io {
        path: path.clone(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    let json = serde_json::to_vec_pretty(profiles)
        .map_err(|e| AudienceError::Invalid(format!("segment profiles: {e}")))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(werr)?;
    std::fs::rename(&tmp, &path).map_err(werr)
}

fn write_segments(
    path: &std::path::Path,
    index: &AudienceIndex,
    name: &str,
    c: &Clustering,
) -> Result<(), AudienceError> {
    let werr = |e: std::io::Error| AudienceError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(werr)?;
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("segmentation", DataType::Utf8, false),
        Field::new("cluster", DataType::Int64, false),
        Field::new("description_zh", DataType::Utf8, false),
        Field::new("description_en", DataType::Utf8, false),
    ]));
    let n = c.assignments.len();
    let ids: Vec<&str> = (0..n as u32)
        .map(|i| index.customer_id(i).unwrap_or(""))
        .collect();
    let zh: Vec<&str> = c
        .assignments
        .iter()
        .map(|&k| c.clusters[k as usize].description_zh.as_str())
        .collect();
    let en: Vec<&str> = c
        .assignments
        .iter()
        .map(|&k| c.clusters[k as usize].description_en.as_str())
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        Arc::new(StringArray::from(vec![name; n])),
        Arc::new(Int64Array::from_iter_values(
            c.assignments.iter().map(|&k| i64::from(k) + 1),
        )),
        Arc::new(StringArray::from(zh)),
        Arc::new(StringArray::from(en)),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| AudienceError::Invalid(format!("segments batch: {e}")))?;
    let tmp = path.with_extension("parquet.tmp");
    let file = std::fs::File::create(&tmp).map_err(werr)?;
    let mut w = ArrowWriter::try_new(file, schema, None)
        .map_err(|e| AudienceError::Invalid(format!("segments writer: {e}")))?;
    w.write(&batch)
        .and_then(|_| w.close().map(|_| ()))
        .map_err(|e| AudienceError::Invalid(format!("writing {}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(werr)?;
    Ok(())
}
