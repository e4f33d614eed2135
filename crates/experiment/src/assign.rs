//! Deterministic hash assignment: a customer's arm is a pure function of the customer id,
//! the experiment's salt and the configuration, so it can be recomputed anywhere (batch job,
//! API, audit) without storing state, and stored assignments can be replayed and verified.
//!
//! Order of decisions for one customer and one experiment:
//! 1. **Global holdout** (its own salt and share): never touched by any campaign.
//! 2. **Layer**: if the experiment lives in a layer, the customer's layer bucket
//!    (hash of the layer salt) must fall in the experiment's bucket range; experiments in
//!    one layer are mutually exclusive because their ranges may not overlap.
//! 3. **Campaign holdout**: the first `holdout_share` of the experiment's hash space.
//! 4. **Arm**: the rest of the hash space is split in proportion to the arm weights.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_64;

use crate::ExperimentError;

/// 64-bit hash of `salt` and `id`, separated by a unit separator so ("ab","c") != ("a","bc").
pub fn hash64(salt: &str, id: &str) -> u64 {
    let mut buf = Vec::with_capacity(salt.len() + id.len() + 1);
    buf.extend_from_slice(salt.as_bytes());
    buf.push(0x1f);
    buf.extend_from_slice(id.as_bytes());
    XxHash3_64::oneshot(&buf)
}

/// Maps a 64-bit hash uniformly onto `0..n` without modulo bias worth mentioning
/// (multiply-shift: the top bits decide).
fn scale(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// Turns a share in [0, 1] into a threshold on the 64-bit hash space.
fn share_threshold(share: f64) -> u64 {
    if share >= 1.0 {
        u64::MAX
    } else {
        (share * 18_446_744_073_709_551_616.0) as u64
    }
}

fn check_share(field: &str, share: f64) -> Result<(), ExperimentError> {
    if !(0.0..1.0).contains(&share) {
        return Err(ExperimentError::invalid(
            field,
            format!("{share} must be in [0, 1) (e.g. 0.05 for a 5% holdout)"),
        ));
    }
    Ok(())
}

/// A global holdout: customers in it receive no campaign at all, so the long-run effect
/// of all marketing together can be measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalHoldout {
    /// Salt of the holdout hash; change it only to re-draw the holdout.
    pub salt: String,
    /// Fraction of all customers held out, in [0, 1).
    pub share: f64,
}

impl GlobalHoldout {
    /// Whether `customer_id` is in the global holdout.
    pub fn contains(&self, customer_id: &str) -> bool {
        hash64(&self.salt, customer_id) < share_threshold(self.share)
    }
}

/// One arm of an experiment with its integer weight (weights are relative: 1/1 is 50/50).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arm {
    /// Arm name as reported (e.g. "control", "offer_a").
    pub name: String,
    /// Relative weight, > 0.
    pub weight: u32,
}

/// A bucket range `[start, end)` an experiment owns inside a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRange {
    /// First bucket, inclusive.
    pub start: u32,
    /// Last bucket, exclusive.
    pub end: u32,
}

/// An experiment: salt, arms, optional campaign holdout and optional layer placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Unique experiment id.
    pub id: String,
    /// Salt of the arm hash; a new salt re-randomises everyone.
    pub salt: String,
    /// Arms; the first one is conventionally the control.
    pub arms: Vec<Arm>,
    /// Fraction of eligible customers kept out of this campaign (campaign holdout), in [0, 1).
    pub holdout_share: f64,
    /// Layer id and bucket range, for mutually exclusive experiments.
    pub layer: Option<(String, BucketRange)>,
}

impl ExperimentConfig {
    /// A plain experiment with equal-weight arms, no holdout and no layer.
    pub fn new(id: &str, salt: &str, arms: &[(&str, u32)]) -> Self {
        ExperimentConfig {
            id: id.to_string(),
            salt: salt.to_string(),
            arms: arms
                .iter()
                .map(|(n, w)| Arm {
                    name: n.to_string(),
                    weight: *w,
                })
                .collect(),
            holdout_share: 0.0,
            layer: None,
        }
    }

    fn validate(&self) -> Result<(), ExperimentError> {
        if self.id.is_empty() {
            return Err(ExperimentError::invalid("id", "experiment id is empty"));
        }
        if self.salt.is_empty() {
            return Err(ExperimentError::invalid(
                "salt",
                format!(
                    "experiment '{}' has an empty salt; use e.g. its id",
                    self.id
                ),
            ));
        }
        if self.arms.is_empty() {
            return Err(ExperimentError::invalid(
                "arms",
                format!("experiment '{}' needs at least one arm", self.id),
            ));
        }
        for (i, a) in self.arms.iter().enumerate() {
            if a.weight == 0 {
                return Err(ExperimentError::invalid(
                    format!("arms[{i}].weight"),
                    format!("arm '{}' has weight 0; remove the arm instead", a.name),
                ));
            }
            if self.arms[..i].iter().any(|b| b.name == a.name) {
                return Err(ExperimentError::invalid(
                    format!("arms[{i}].name"),
                    format!("arm name '{}' is used twice", a.name),
                ));
            }
        }
        check_share("holdout_share", self.holdout_share)
    }

    /// Stable fingerprint of everything that influences assignment, stored with each
    /// [`Assignment`] so a replay can tell "configuration changed" from "wrong record".
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_string(self).unwrap_or_default();
        format!("{:016x}", XxHash3_64::oneshot(canonical.as_bytes()))
    }
}

/// A layer splits hash space into `buckets` buckets (hash of the layer salt); each
/// experiment in the layer owns a disjoint bucket range, so a customer is in at most one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// Layer id.
    pub id: String,
    /// Salt of the bucket hash.
    pub salt: String,
    /// Number of buckets (e.g. 1000 for 0.1% granularity).
    pub buckets: u32,
    /// Experiment id → owned range.
    pub owners: BTreeMap<String, BucketRange>,
}

impl Layer {
    /// A new, empty layer.
    pub fn new(id: &str, salt: &str, buckets: u32) -> Result<Self, ExperimentError> {
        if buckets == 0 {
            return Err(ExperimentError::invalid(
                "buckets",
                "a layer needs at least one bucket",
            ));
        }
        Ok(Layer {
            id: id.to_string(),
            salt: salt.to_string(),
            buckets,
            owners: BTreeMap::new(),
        })
    }

    /// The customer's bucket in this layer.
    pub fn bucket(&self, customer_id: &str) -> u32 {
        scale(hash64(&self.salt, customer_id), u64::from(self.buckets)) as u32
    }

    /// Claims `range` for `experiment`; rejects empty, out-of-bounds and overlapping ranges.
    pub fn claim(&mut self, experiment: &str, range: BucketRange) -> Result<(), ExperimentError> {
        if range.start >= range.end || range.end > self.buckets {
            return Err(ExperimentError::invalid(
                "layer range",
                format!(
                    "experiment '{experiment}' range {}..{} must be non-empty and within 0..{} of layer '{}'",
                    range.start, range.end, self.buckets, self.id
                ),
            ));
        }
        for (other, r) in &self.owners {
            if other != experiment && range.start < r.end && r.start < range.end {
                return Err(ExperimentError::OverlappingBuckets {
                    layer: self.id.clone(),
                    new: experiment.to_string(),
                    new_start: range.start,
                    new_end: range.end,
                    existing: other.clone(),
                    existing_start: r.start,
                    existing_end: r.end,
                });
            }
        }
        self.owners.insert(experiment.to_string(), range);
        Ok(())
    }
}

/// What a customer gets in one experiment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "arm", rename_all = "snake_case")]
pub enum Variant {
    /// Exposed to the named arm.
    Arm(String),
    /// In this campaign's holdout.
    CampaignHoldout,
    /// In the global holdout: no campaign may touch the customer.
    GlobalHoldout,
    /// The experiment's layer gave the customer's bucket to another experiment (or nobody).
    NotEligible,
}

/// A stored, replayable assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// Experiment id.
    pub experiment_id: String,
    /// Customer id as hashed.
    pub customer_id: String,
    /// Outcome.
    pub variant: Variant,
    /// Layer bucket, when the experiment is in a layer.
    pub bucket: Option<u32>,
    /// [`ExperimentConfig::fingerprint`] at assignment time.
    pub config_fingerprint: String,
}

/// Holds the global holdout, layers and experiments, and assigns customers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Assigner {
    /// Optional global holdout applied before every experiment.
    pub global_holdout: Option<GlobalHoldout>,
    /// Layers by id.
    pub layers: BTreeMap<String, Layer>,
    /// Experiments by id.
    pub experiments: BTreeMap<String, ExperimentConfig>,
}

/// One stored assignment that does not match a fresh derivation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayMismatch {
    /// Index of the record in the input.
    pub index: usize,
    /// The stored record.
    pub stored: Assignment,
    /// What the assigner derives now.
    pub derived: Option<Assignment>,
    /// Why it differs.
    pub reason: String,
}

/// Result of [`Assigner::replay`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Records checked.
    pub checked: usize,
    /// Records that reproduce exactly.
    pub matched: usize,
    /// Records that do not.
    pub mismatches: Vec<ReplayMismatch>,
}

impl Assigner {
    /// An assigner with an optional global holdout.
    pub fn new(global_holdout: Option<GlobalHoldout>) -> Result<Self, ExperimentError> {
        if let Some(g) = &global_holdout {
            check_share("global_holdout.share", g.share)?;
            if g.salt.is_empty() {
                return Err(ExperimentError::invalid(
                    "global_holdout.salt",
                    "empty salt",
                ));
            }
        }
        Ok(Assigner {
            global_holdout,
            ..Default::default()
        })
    }

    /// Registers a layer (experiments then claim ranges in it via their `layer` field).
    pub fn add_layer(&mut self, layer: Layer) -> Result<(), ExperimentError> {
        if self.layers.contains_key(&layer.id) {
            return Err(ExperimentError::invalid(
                "layer.id",
                format!("layer '{}' already exists", layer.id),
            ));
        }
        self.layers.insert(layer.id.clone(), layer);
        Ok(())
    }

    /// Registers an experiment, claiming its layer range (overlaps are rejected).
    pub fn add_experiment(&mut self, exp: ExperimentConfig) -> Result<(), ExperimentError> {
        exp.validate()?;
        if self.experiments.contains_key(&exp.id) {
            return Err(ExperimentError::invalid(
                "id",
                format!("experiment '{}' already exists", exp.id),
            ));
        }
        if let Some((layer_id, range)) = &exp.layer {
            let layer = self.layers.get_mut(layer_id).ok_or_else(|| {
                ExperimentError::invalid(
                    "layer",
                    format!(
                        "experiment '{}' names unknown layer '{layer_id}'; add the layer first",
                        exp.id
                    ),
                )
            })?;
            layer.claim(&exp.id, *range)?;
        }
        self.experiments.insert(exp.id.clone(), exp);
        Ok(())
    }

    /// Assigns `customer_id` in `experiment_id`.
    pub fn assign(
        &self,
        experiment_id: &str,
        customer_id: &str,
    ) -> Result<Assignment, ExperimentError> {
        let exp = self
            .experiments
            .get(experiment_id)
            .ok_or_else(|| ExperimentError::UnknownExperiment(experiment_id.to_string()))?;
        let mut bucket = None;
        let variant = if self
            .global_holdout
            .as_ref()
            .is_some_and(|g| g.contains(customer_id))
        {
            Variant::GlobalHoldout
        } else {
            let eligible = match &exp.layer {
                Some((layer_id, range)) => {
                    let layer = self.layers.get(layer_id).ok_or_else(|| {
                        ExperimentError::invalid("layer", format!("unknown layer '{layer_id}'"))
                    })?;
                    let b = layer.bucket(customer_id);
                    bucket = Some(b);
                    (range.start..range.end).contains(&b)
                }
                None => true,
            };
            if eligible {
                arm_of(exp, customer_id)
            } else {
                Variant::NotEligible
            }
        };
        Ok(Assignment {
            experiment_id: exp.id.clone(),
            customer_id: customer_id.to_string(),
            variant,
            bucket,
            config_fingerprint: exp.fingerprint(),
        })
    }

    /// Re-derives every stored assignment and reports those that differ (changed
    /// configuration, unknown experiment, or a record that was altered).
    pub fn replay(&self, records: &[Assignment]) -> ReplayReport {
        let mut mismatches = Vec::new();
        for (index, stored) in records.iter().enumerate() {
            match self.assign(&stored.experiment_id, &stored.customer_id) {
                Ok(derived) if &derived == stored => {}
                Ok(derived) => {
                    let reason = if derived.config_fingerprint != stored.config_fingerprint {
                        "experiment configuration changed since the assignment was made".to_string()
                    } else {
                        format!(
                            "stored {:?} but the hash gives {:?}",
                            stored.variant, derived.variant
                        )
                    };
                    mismatches.push(ReplayMismatch {
                        index,
                        stored: stored.clone(),
                        derived: Some(derived),
                        reason,
                    });
                }
                Err(e) => mismatches.push(ReplayMismatch {
                    index,
                    stored: stored.clone(),
                    derived: None,
                    reason: e.to_string(),
                }),
            }
        }
        ReplayReport {
            checked: records.len(),
            matched: records.len() - mismatches.len(),
            mismatches,
        }
    }
}

/// Campaign holdout first, then arms by weight, all from one hash of the experiment salt.
fn arm_of(exp: &ExperimentConfig, customer_id: &str) -> Variant {
    let h = hash64(&exp.salt, customer_id);
    let hold = share_threshold(exp.holdout_share);
    if h < hold {
        return Variant::CampaignHoldout;
    }
    let total: u64 = exp.arms.iter().map(|a| u64::from(a.weight)).sum();
    // Position of h within the non-holdout part of hash space, scaled to the weight total.
    let span = u64::MAX - hold;
    let pos = if span == 0 {
        0
    } else {
        ((u128::from(h - hold) * u128::from(total)) / (u128::from(span) + 1)) as u64
    };
    let mut acc = 0u64;
    for a in &exp.arms {
        acc += u64::from(a.weight);
        if pos < acc {
            return Variant::Arm(a.name.clone());
        }
    }
    Variant::Arm(exp.arms[exp.arms.len() - 1].name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(a: &Assigner, exp: &str, n: usize) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for i in 0..n {
            let v = a.assign(exp, &format!("cust-{i}")).expect("assign");
            let key = match v.variant {
                Variant::Arm(s) => s,
                other => format!("{other:?}"),
            };
            *m.entry(key).or_default() += 1;
        }
        m
    }

    #[test]
    fn weights_are_respected_and_deterministic() {
        let mut a = Assigner::new(None).unwrap();
        a.add_experiment(ExperimentConfig::new(
            "e1",
            "salt-e1",
            &[("control", 1), ("offer", 3)],
        ))
        .unwrap();
        let c = counts(&a, "e1", 40_000);
        let ctrl = c["control"] as f64 / 40_000.0;
        assert!((ctrl - 0.25).abs() < 0.01, "control share {ctrl}");
        assert_eq!(a.assign("e1", "x").unwrap(), a.assign("e1", "x").unwrap());
        // A different salt re-randomises.
        let mut b = Assigner::new(None).unwrap();
        b.add_experiment(ExperimentConfig::new(
            "e1",
            "other",
            &[("control", 1), ("offer", 3)],
        ))
        .unwrap();
        let differ = (0..1000)
            .filter(|i| {
                let id = format!("c{i}");
                a.assign("e1", &id).unwrap().variant != b.assign("e1", &id).unwrap().variant
            })
            .count();
        assert!(differ > 200, "salt change moved only {differ} of 1000");
    }

    #[test]
    fn global_holdout_is_never_assigned_and_campaign_holdout_has_its_share() {
        let g = GlobalHoldout {
            salt: "global".into(),
            share: 0.1,
        };
        let mut a = Assigner::new(Some(g.clone())).unwrap();
        let mut e = ExperimentConfig::new("e", "s", &[("control", 1), ("t", 1)]);
        e.holdout_share = 0.2;
        a.add_experiment(e).unwrap();
        let mut held = 0;
        for i in 0..20_000 {
            let id = format!("c{i}");
            let v = a.assign("e", &id).unwrap().variant;
            assert_eq!(g.contains(&id), v == Variant::GlobalHoldout);
            if v == Variant::CampaignHoldout {
                held += 1;
            }
        }
        let globally = (0..20_000).filter(|i| g.contains(&format!("c{i}"))).count();
        assert!((globally as f64 / 20_000.0 - 0.1).abs() < 0.01);
        let share = held as f64 / (20_000 - globally) as f64;
        assert!(
            (share - 0.2).abs() < 0.015,
            "campaign holdout share {share}"
        );
    }

    #[test]
    fn layers_are_exclusive_and_overlaps_rejected() {
        let mut a = Assigner::new(None).unwrap();
        a.add_layer(Layer::new("home", "layer-home", 100).unwrap())
            .unwrap();
        let mut e1 = ExperimentConfig::new("e1", "s1", &[("c", 1), ("t", 1)]);
        e1.layer = Some(("home".into(), BucketRange { start: 0, end: 50 }));
        let mut e2 = ExperimentConfig::new("e2", "s2", &[("c", 1), ("t", 1)]);
        e2.layer = Some((
            "home".into(),
            BucketRange {
                start: 50,
                end: 100,
            },
        ));
        let mut e3 = ExperimentConfig::new("e3", "s3", &[("c", 1)]);
        e3.layer = Some(("home".into(), BucketRange { start: 40, end: 60 }));
        a.add_experiment(e1).unwrap();
        a.add_experiment(e2).unwrap();
        let err = a.add_experiment(e3).unwrap_err().to_string();
        assert!(
            err.contains("overlap") && err.contains("e3") && err.contains("e1"),
            "{err}"
        );
        for i in 0..5000 {
            let id = format!("c{i}");
            let in1 = matches!(a.assign("e1", &id).unwrap().variant, Variant::Arm(_));
            let in2 = matches!(a.assign("e2", &id).unwrap().variant, Variant::Arm(_));
            assert!(in1 ^ in2, "customer {id} must be in exactly one of e1/e2");
        }
    }

    #[test]
    fn replay_detects_tampering_and_config_changes() {
        let mut a = Assigner::new(None).unwrap();
        a.add_experiment(ExperimentConfig::new("e", "s", &[("c", 1), ("t", 1)]))
            .unwrap();
        let mut recs: Vec<Assignment> = (0..100)
            .map(|i| a.assign("e", &format!("c{i}")).unwrap())
            .collect();
        let json = serde_json::to_string(&recs).unwrap();
        let back: Vec<Assignment> = serde_json::from_str(&json).unwrap();
        let ok = a.replay(&back);
        assert_eq!((ok.checked, ok.matched), (100, 100));
        recs[7].variant = match &recs[7].variant {
            Variant::Arm(x) if x == "c" => Variant::Arm("t".into()),
            _ => Variant::Arm("c".into()),
        };
        let bad = a.replay(&recs);
        assert_eq!(bad.mismatches.len(), 1);
        assert_eq!(bad.mismatches[0].index, 7);
        let mut changed = Assigner::new(None).unwrap();
        changed
            .add_experiment(ExperimentConfig::new("e", "s", &[("c", 1), ("t", 2)]))
            .unwrap();
        let r = changed.replay(&back);
        assert_eq!(r.matched, 0);
        assert!(r.mismatches[0].reason.contains("configuration changed"));
    }
}
