//! Engine settings: contact policy, arbitration levers and context weights, learning.
//! Everything has a default a bank would recognise, and everything is serde so the
//! integrator can read it from `zhiying.toml` and edit levers from the console.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::adaptive::AdaptiveConfig;
use crate::channel::{Channel, QuietHours};
use crate::features::{PredictorSpec, default_predictors};
use crate::ledger::Cap;

/// Suppress an offer after `rejects` rejections of it within `window_days`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub rejects: u32,
    pub window_days: f64,
}

/// Business levers, editable at run time ([`crate::DecisionEngine::set_levers`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Levers {
    /// Multiplies the priority of offers pinned to a campaign.
    pub pinned_campaign_weight: f64,
    /// Per-campaign override of `pinned_campaign_weight`.
    pub campaign_weights: BTreeMap<String, f64>,
    /// Strategic weight per product id (1 = neutral), on top of the offer's own
    /// `strategic_weight`.
    pub product_weights: BTreeMap<String, f64>,
}

impl Default for Levers {
    fn default() -> Self {
        Levers {
            pinned_campaign_weight: 1.5,
            campaign_weights: BTreeMap::new(),
            product_weights: BTreeMap::new(),
        }
    }
}

impl Levers {
    /// Every lever must be a finite positive multiplier.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |w: f64| w.is_finite() && w > 0.0 && w <= 100.0;
        if !ok(self.pinned_campaign_weight) {
            return Err(format!(
                "levers.pinned_campaign_weight is {}; use a multiplier in (0, 100]",
                self.pinned_campaign_weight
            ));
        }
        for (k, w) in self.campaign_weights.iter().chain(&self.product_weights) {
            if !ok(*w) {
                return Err(format!(
                    "lever weight for '{k}' is {w}; use a multiplier in (0, 100]"
                ));
            }
        }
        Ok(())
    }
}

/// A context weight: multiplies the priority of offers matching every field set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextWeight {
    /// The request's trigger, e.g. `salary_credited`, `large_deposit`.
    #[serde(default)]
    pub trigger: Option<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Offer product category.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub offer_id: Option<String>,
    pub weight: f64,
}

impl ContextWeight {
    pub fn label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.trigger {
            parts.push(format!("trigger={t}"));
        }
        if let Some(c) = self.channel {
            parts.push(format!("channel={c}"));
        }
        if let Some(c) = &self.category {
            parts.push(format!("category={c}"));
        }
        if let Some(o) = &self.offer_id {
            parts.push(format!("offer={o}"));
        }
        format!("{} ×{}", parts.join(" "), self.weight)
    }
}

/// All engine settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Frequency caps (per channel and global), checked and reserved atomically.
    pub caps: Vec<Cap>,
    /// Local (Asia/Shanghai) windows in which a channel must not be used.
    pub quiet_hours: BTreeMap<Channel, QuietHours>,
    pub suppression: Suppression,
    /// An accepted offer is not offered again for this many days.
    pub reoffer_after_accept_days: f64,
    /// Share of customers (0–1) in the random control group.
    pub control_share: f64,
    /// Salt of the control-group hash; change it to draw a new control group.
    pub control_salt: u64,
    /// Seed of Thompson sampling and control-group picks (per decision, mixed with its id).
    pub seed: u64,
    /// Offers returned when the request does not say.
    pub default_max_offers: usize,
    pub levers: Levers,
    pub context_weights: Vec<ContextWeight>,
    /// Profile tags holding the C1–C5 suitability level, first present wins.
    pub risk_level_tags: Vec<String>,
    pub predictors: Vec<PredictorSpec>,
    pub adaptive: AdaptiveConfig,
    /// Learn from clicks as positives (default: only accepts and rejects teach).
    pub learn_from_clicks: bool,
    /// Recent decisions kept to learn from their responses with the features they were
    /// made with.
    pub pending_decisions: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let cap = |channel, max, window_days| Cap {
            channel,
            max,
            window_days,
        };
        EngineConfig {
            caps: vec![
                cap(Some(Channel::Sms), 2, 7.0),
                cap(Some(Channel::CallCentre), 1, 14.0),
                cap(Some(Channel::AppPush), 3, 7.0),
                cap(Some(Channel::Wechat), 3, 7.0),
                cap(Some(Channel::Email), 2, 7.0),
                cap(None, 6, 7.0),
                cap(None, 15, 30.0),
            ],
            quiet_hours: [
                (Channel::Sms, QuietHours::hours(21, 8)),
                (Channel::CallCentre, QuietHours::hours(20, 9)),
                (Channel::AppPush, QuietHours::hours(22, 8)),
                (Channel::Wechat, QuietHours::hours(22, 8)),
            ]
            .into_iter()
            .collect(),
            suppression: Suppression {
                rejects: 2,
                window_days: 30.0,
            },
            reoffer_after_accept_days: 90.0,
            control_share: 0.05,
            control_salt: 20_240_601,
            seed: 42,
            default_max_offers: 1,
            levers: Levers::default(),
            context_weights: default_context_weights(),
            risk_level_tags: vec!["risk_level".into(), "risk_appetite".into()],
            predictors: default_predictors(),
            adaptive: AdaptiveConfig::default(),
            learn_from_clicks: false,
            pending_decisions: 200_000,
        }
    }
}

/// Triggers of the brief's event-triggered campaigns, and the offers each makes timely.
pub fn default_context_weights() -> Vec<ContextWeight> {
    let w = |trigger: &str, category: &str, weight: f64| ContextWeight {
        trigger: Some(trigger.into()),
        channel: None,
        category: Some(category.into()),
        offer_id: None,
        weight,
    };
    vec![
        w("salary_credited", "wealth", 1.3),
        w("salary_credited", "fund", 1.2),
        w("salary_credited", "pension", 1.3),
        w("large_deposit", "time_deposit", 1.5),
        w("large_deposit", "wealth", 1.3),
        w("maturing_time_deposit", "time_deposit", 1.6),
        w("maturing_time_deposit", "wealth", 1.4),
        w("card_dormant", "credit_card", 0.5),
        ContextWeight {
            trigger: None,
            channel: Some(Channel::Branch),
            category: Some("wealth".into()),
            offer_id: None,
            weight: 1.2,
        },
    ]
}

impl EngineConfig {
    /// Checks the settings, naming the field and the fix.
    pub fn validate(&self) -> Result<(), String> {
        for (i, c) in self.caps.iter().enumerate() {
            if !(c.window_days.is_finite() && c.window_days > 0.0) {
                return Err(format!(
                    "caps[{i}].window_days is {}; use a positive number of days",
                    c.window_days
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.control_share) {
            return Err(format!(
                "control_share is {}; use a share between 0 and 1 (e.g. 0.05)",
                self.control_share
            ));
        }
        if !(self.suppression.window_days.is_finite() && self.suppression.window_days >= 0.0) {
            return Err("suppression.window_days must be ≥ 0".into());
        }
        if !(self.reoffer_after_accept_days.is_finite() && self.reoffer_after_accept_days >= 0.0) {
            return Err("reoffer_after_accept_days must be ≥ 0".into());
        }
        for (i, w) in self.context_weights.iter().enumerate() {
            if !(w.weight.is_finite() && w.weight > 0.0) {
                return Err(format!(
                    "context_weights[{i}].weight is {}; use a positive multiplier",
                    w.weight
                ));
            }
        }
        let a = &self.adaptive;
        if !(a.prior_propensity > 0.0 && a.prior_propensity < 1.0) {
            return Err("adaptive.prior_propensity must be in (0, 1)".into());
        }
        if !(a.beta > 0.0 && a.prior_score_variance > 0.0) {
            return Err("adaptive.beta and adaptive.prior_score_variance must be > 0".into());
        }
        self.levers.validate()
    }

    /// The ledger retention this configuration needs (twice its longest window).
    pub fn retention_days(&self) -> f64 {
        let longest = self
            .caps
            .iter()
            .map(|c| c.window_days)
            .chain([self.suppression.window_days, self.reoffer_after_accept_days])
            .fold(1.0, f64::max);
        2.0 * longest
    }
}
