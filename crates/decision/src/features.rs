//! Predictors for the adaptive models: binned profile tags, precomputed per customer from
//! the audience index, and request context values hashed into a fixed number of buckets.
//!
//! Feature 0 is the bias. Each profile predictor has a `null` feature plus one per bin
//! (categorical code, flag value, numeric interval). A customer's profile features are a
//! row of `u16` ids, so looking them up is one slice per decision.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zhiying_audience::AudienceIndex;
use zhiying_audience::meta::TagKind;

use crate::ledger::stable_hash;

/// A profile tag used as a predictor. Numeric tags need `bins` (ascending cut points);
/// categorical and flag tags use their codes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictorSpec {
    pub tag: String,
    #[serde(default)]
    pub bins: Vec<f64>,
}

/// The default predictors, used when present in the index. Protected attributes (gender)
/// are deliberately absent.
pub fn default_predictors() -> Vec<PredictorSpec> {
    let p = |tag: &str, bins: &[f64]| PredictorSpec {
        tag: tag.to_string(),
        bins: bins.to_vec(),
    };
    vec![
        p("age", &[25.0, 35.0, 45.0, 55.0, 65.0]),
        p("asset_tier", &[]),
        p("aum_tier", &[]),
        p("lifecycle_stage", &[]),
        p("rfm_class", &[]),
        p("preferred_channel", &[]),
        p("income_band", &[]),
        p("digital_user", &[]),
        p("salary_credit", &[]),
        p("large_inflow_30d", &[]),
        p("holds_credit_card", &[]),
        p("holds_wealth", &[]),
        p("holds_fund", &[]),
    ]
}

/// Buckets for hashed context features (`key=value` of the request context).
pub const CONTEXT_BUCKETS: u32 = 64;

/// The feature layout and every indexed customer's profile features.
#[derive(Debug, Clone, Default)]
pub struct FeatureSpace {
    /// Names of features 0..profile_features (bias, then `tag=null`, `tag=bin`…).
    names: Vec<String>,
    /// Profile predictors actually used.
    predictors: Vec<String>,
    /// `rows[c * predictors + p]`: customer c's feature for predictor p.
    rows: Vec<u16>,
    null_ids: Vec<u16>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl FeatureSpace {
    /// Builds the layout from the predictors present in `index` (absent ones are skipped
    /// and listed in the returned names of skipped tags).
    pub fn build(index: Option<&AudienceIndex>, specs: &[PredictorSpec]) -> (Self, Vec<String>) {
        let mut fs = FeatureSpace {
            names: vec!["bias".into()],
            ..Default::default()
        };
        let mut skipped = Vec::new();
        let Some(ix) = index else {
            return (fs, specs.iter().map(|s| s.tag.clone()).collect());
        };
        let n = ix.customers() as usize;
        let mut columns: Vec<Vec<u16>> = Vec::new();
        for spec in specs {
            let Some(meta) = ix.tags().iter().find(|t| t.key == spec.tag) else {
                skipped.push(spec.tag.clone());
                continue;
            };
            let mut bins: Vec<(String, String)> = Vec::new(); // (label, expression)
            let key = &meta.key;
            match meta.kind {
                TagKind::Categorical => {
                    for c in &meta.values {
                        bins.push((c.code.clone(), format!("{key} = {}", quote(&c.code))));
                    }
                }
                TagKind::Flag => {
                    bins.push(("true".into(), format!("{key} = true")));
                    bins.push(("false".into(), format!("{key} = false")));
                }
                TagKind::Numeric => {
                    if spec.bins.is_empty() {
                        skipped.push(format!("{} (numeric without bins)", spec.tag));
                        continue;
                    }
                    let cuts = &spec.bins;
                    bins.push((format!("<{}", cuts[0]), format!("{key} < {}", cuts[0])));
                    for w in cuts.windows(2) {
                        bins.push((
                            format!("[{},{})", w[0], w[1]),
                            format!("{key} >= {} and {key} < {}", w[0], w[1]),
                        ));
                    }
                    let last = cuts[cuts.len() - 1];
                    bins.push((format!(">={last}"), format!("{key} >= {last}")));
                }
            }
            if fs.names.len() + bins.len() + 1 >= u16::MAX as usize - CONTEXT_BUCKETS as usize {
                skipped.push(format!("{} (too many feature bins)", spec.tag));
                continue;
            }
            let null_id = fs.names.len() as u16;
            fs.names.push(format!("{key}=null"));
            let mut col = vec![null_id; n];
            for (label, expr) in bins {
                let id = fs.names.len() as u16;
                fs.names.push(format!("{key}={label}"));
                if let Ok(members) = ix.members(&expr) {
                    for c in members.iter() {
                        if let Some(slot) = col.get_mut(c as usize) {
                            *slot = id;
                        }
                    }
                }
            }
            fs.predictors.push(key.clone());
            fs.null_ids.push(null_id);
            columns.push(col);
        }
        let p = columns.len();
        fs.rows = vec![0; n * p];
        for (j, col) in columns.iter().enumerate() {
            for (c, &id) in col.iter().enumerate() {
                fs.rows[c * p + j] = id;
            }
        }
        (fs, skipped)
    }

    /// Total number of features (profile + context buckets).
    pub fn len(&self) -> usize {
        self.names.len() + CONTEXT_BUCKETS as usize
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn predictors(&self) -> &[String] {
        &self.predictors
    }
    /// Active features per example, bias and context included (roughly).
    pub fn typical_active(&self) -> usize {
        1 + self.predictors.len() + 2
    }

    /// The name of a feature id.
    pub fn name(&self, id: u32) -> String {
        match self.names.get(id as usize) {
            Some(n) => n.clone(),
            None => format!("context#{}", id as usize - self.names.len()),
        }
    }

    /// The active features of a customer (dense id, or `None` if not indexed) in a
    /// context: bias, one per profile predictor, one per context key.
    pub fn active(
        &self,
        dense: Option<u32>,
        trigger: Option<&str>,
        attributes: &BTreeMap<String, String>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        out.push(0);
        let p = self.predictors.len();
        match dense {
            Some(c) if (c as usize + 1) * p <= self.rows.len() => {
                let row = &self.rows[c as usize * p..(c as usize + 1) * p];
                out.extend(row.iter().map(|&x| x as u32));
            }
            _ => out.extend(self.null_ids.iter().map(|&x| x as u32)),
        }
        let base = self.names.len() as u32;
        let mut ctx = |k: &str, v: &str| {
            let h = stable_hash(v, stable_hash(k, 0x5eed));
            out.push(base + (h % CONTEXT_BUCKETS as u64) as u32);
        };
        if let Some(t) = trigger {
            ctx("trigger", t);
        }
        for (k, v) in attributes {
            ctx(k, v);
        }
    }
}
