//! Simulated responses from a planted ground truth, so a campaign run on the synthetic bank
//! can be measured against a known true effect (`docs/campaigns.md`, "Simulated responses").
//!
//! Every offer category has a response model over the profile tags: a base conversion rate
//! (what the customer does anyway) and a true uplift (what a delivered contact adds), each a
//! sum/first-match of audience expressions. A customer converts with
//! `p = clamp(base + uplift · delivered, 0, 1)`; the true effect of contacting them is
//! `clamp(base + uplift) − clamp(base)`. Treatment contacts are delivered with p 0.97 (the
//! rest fail and convert at the base rate); holdout customers convert at the base rate.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use zhiying_audience::{AudienceIndex, RoaringBitmap};
use zhiying_experiment::assign::hash64;
use zhiying_store::{Contact, ContactGroup, Response, ResponseKind};

use crate::RunError;
use crate::facts::{self, FactWrite, Row, ts_text};
use crate::run::{Runner, contact_row};

/// Probability that a treatment contact is delivered.
pub const DELIVERY_RATE: f64 = 0.97;
/// Probability that a delivered app push, WeChat, SMS or e-mail is opened.
pub const OPEN_RATE: f64 = 0.30;
/// Probability that an opened message is clicked.
pub const CLICK_RATE: f64 = 0.35;

/// The planted response model of one offer category.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ResponseModel {
    pub category: &'static str,
    /// Base conversion: `base` plus every matching term.
    pub base: f64,
    pub base_terms: &'static [(&'static str, f64)],
    /// True uplift of a delivered contact: the first matching rule, else `default_uplift`.
    pub uplift_rules: &'static [(&'static str, f64)],
    pub default_uplift: f64,
}

/// The planted models (the synthetic bank's campaign effects, `docs/synthetic-bank.md`,
/// restated on profile tags). Categories not listed use [`DEFAULT_MODEL`].
pub const MODELS: &[ResponseModel] = &[
    ResponseModel {
        category: "credit_card",
        base: 0.02,
        base_terms: &[("age < 35", 0.02)],
        uplift_rules: &[
            (
                "age < 35 and preferred_channel in (\"mobile_app\", \"wechat\")",
                0.10,
            ),
            ("age >= 55", -0.02),
            ("age >= 35", 0.03),
        ],
        default_uplift: 0.01,
    },
    ResponseModel {
        category: "time_deposit",
        base: 0.03,
        base_terms: &[("age >= 50", 0.03)],
        uplift_rules: &[
            ("age >= 50 and monthly_income_yuan >= 10000", 0.08),
            ("age >= 50", 0.04),
        ],
        default_uplift: 0.0,
    },
    ResponseModel {
        category: "wealth",
        base: 0.02,
        base_terms: &[("monthly_income_yuan >= 20000", 0.02)],
        uplift_rules: &[
            ("complaints_90d >= 1", -0.04),
            ("monthly_income_yuan >= 20000", 0.06),
        ],
        default_uplift: 0.01,
    },
    ResponseModel {
        category: "consumer_loan",
        base: 0.015,
        base_terms: &[("age < 40", 0.01)],
        uplift_rules: &[(
            "marital_status = \"married\" and age >= 25 and age <= 45 and monthly_income_yuan < 15000",
            0.05,
        )],
        default_uplift: 0.0,
    },
    ResponseModel {
        category: "fund",
        base: 0.015,
        base_terms: &[("age >= 30 and age < 50", 0.01)],
        uplift_rules: &[(
            "preferred_channel in (\"mobile_app\", \"wechat\", \"web\") and monthly_income_yuan >= 8000",
            0.04,
        )],
        default_uplift: 0.01,
    },
];

/// Every other category: a flat base rate and a small uplift.
pub const DEFAULT_MODEL: ResponseModel = ResponseModel {
    category: "*",
    base: 0.02,
    base_terms: &[],
    uplift_rules: &[],
    default_uplift: 0.015,
};

/// The model of a category.
pub fn model(category: &str) -> &'static ResponseModel {
    MODELS
        .iter()
        .find(|m| m.category == category)
        .unwrap_or(&DEFAULT_MODEL)
}

/// A customer's planted base rate and uplift for an offer category.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub base: f64,
    pub uplift: f64,
}

impl Truth {
    /// The true effect of a delivered contact on the conversion probability.
    pub fn effect(&self) -> f64 {
        (self.base + self.uplift).clamp(0.0, 1.0) - self.base.clamp(0.0, 1.0)
    }
}

/// Evaluates the planted models on the audience index (each expression once).
pub struct PlantedTruth<'a> {
    index: &'a AudienceIndex,
    sets: HashMap<&'static str, RoaringBitmap>,
}

impl<'a> PlantedTruth<'a> {
    pub fn new(index: &'a AudienceIndex) -> Self {
        PlantedTruth {
            index,
            sets: HashMap::new(),
        }
    }

    fn member(&mut self, expr: &'static str, dense: Option<u32>) -> Result<bool, String> {
        let Some(d) = dense else { return Ok(false) };
        if !self.sets.contains_key(expr) {
            let set = self
                .index
                .members(expr)
                .map_err(|e| format!("planted-truth expression `{expr}`: {e}"))?;
            self.sets.insert(expr, set);
        }
        Ok(self.sets.get(expr).is_some_and(|s| s.contains(d)))
    }

    /// The truth for one customer and offer category.
    pub fn of(&mut self, customer_id: &str, category: &str) -> Result<Truth, String> {
        let m = model(category);
        let dense = self.index.position(customer_id);
        let mut base = m.base;
        for (expr, add) in m.base_terms {
            if self.member(expr, dense)? {
                base += add;
            }
        }
        let mut uplift = m.default_uplift;
        for (expr, u) in m.uplift_rules {
            if self.member(expr, dense)? {
                uplift = *u;
                break;
            }
        }
        Ok(Truth { base, uplift })
    }
}

/// The planted effect of one offer among the treated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferTruth {
    pub offer_id: String,
    pub category: String,
    pub treatment_contacts: u64,
    pub mean_base: f64,
    pub mean_effect: f64,
}

/// What a simulation wrote and the truth it planted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    pub campaign_id: String,
    pub seed: u64,
    pub treatment: u64,
    pub holdout: u64,
    pub delivered: u64,
    pub failed: u64,
    pub opened: u64,
    pub clicked: u64,
    pub conversions_treatment: u64,
    pub conversions_holdout: u64,
    pub revenue_fen: i64,
    /// The planted true lift in conversion rate, treatment against holdout: the mean true
    /// effect over the treatment contacts, counting failed deliveries as no effect. This
    /// is what the measured lift estimates.
    pub planted_lift: f64,
    /// The same with every contact delivered.
    pub planted_lift_if_delivered: f64,
    pub by_offer: Vec<OfferTruth>,
    /// Responses added to the store (0 on a rerun).
    pub responses_new: u64,
    pub facts: Vec<FactWrite>,
}

impl Runner {
    /// Simulates delivery and the customers' responses to a run campaign from the planted
    /// truth, and writes the treatment contacts (delivered or failed) and the responses as
    /// facts, and the responses into the store. Deterministic in (seed, contact): a rerun
    /// writes the same rows, which ingest and the store skip.
    pub async fn simulate_responses(
        &self,
        campaign_id: &str,
        seed: u64,
    ) -> Result<SimulationReport, RunError> {
        let (c, offers, _) = self.campaign(campaign_id).await?;
        let mut contacts: Vec<Contact> = self.store().campaign_contacts(campaign_id, None).await?;
        if contacts.is_empty() {
            return Err(RunError::NotRun {
                id: campaign_id.to_string(),
            });
        }
        contacts.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
        let (index, _) = zhiying_audience::load_index(self.data_dir())
            .map_err(|e| RunError::Index(e.to_string()))?;
        let mut truth = PlantedTruth::new(&index);
        let salt = format!("simulate:{seed}:{}", c.campaign_id);
        let mut rep = SimulationReport {
            campaign_id: campaign_id.to_string(),
            seed,
            treatment: 0,
            holdout: 0,
            delivered: 0,
            failed: 0,
            opened: 0,
            clicked: 0,
            conversions_treatment: 0,
            conversions_holdout: 0,
            revenue_fen: 0,
            planted_lift: 0.0,
            planted_lift_if_delivered: 0.0,
            by_offer: Vec::new(),
            responses_new: 0,
            facts: Vec::new(),
        };
        let mut contact_rows = Vec::new();
        let mut response_rows = Vec::new();
        let mut responses = Vec::new();
        let mut per_offer: BTreeMap<String, (String, u64, f64, f64)> = BTreeMap::new();
        let (mut effect_delivered, mut effect_all) = (0.0, 0.0);
        for k in &contacts {
            let offer =
                offers
                    .iter()
                    .find(|o| o.id == k.offer_id)
                    .ok_or_else(|| RunError::Invalid {
                        id: campaign_id.to_string(),
                        message: format!(
                            "contact {} names offer '{}', which is not in the campaign",
                            k.contact_id, k.offer_id
                        ),
                    })?;
            let t = truth
                .of(&k.customer_id, &offer.category)
                .map_err(|message| RunError::Audience {
                    id: campaign_id.to_string(),
                    message,
                })?;
            let mut rng = Pcg64Mcg::seed_from_u64(hash64(&salt, &k.contact_id));
            let (u_deliver, u_open, u_click, u_convert, u_delay): (f64, f64, f64, f64, f64) = (
                rng.random(),
                rng.random(),
                rng.random(),
                rng.random(),
                rng.random(),
            );
            let sent = DateTime::from_timestamp_micros(k.ts).unwrap_or_else(Utc::now);
            let at = |hours: f64| sent + chrono::Duration::minutes((hours * 60.0) as i64);
            let treated = k.group == ContactGroup::Treatment;
            let delivered = treated && u_deliver < DELIVERY_RATE;
            let p = if delivered {
                (t.base + t.uplift).clamp(0.0, 1.0)
            } else {
                t.base.clamp(0.0, 1.0)
            };
            let converted = u_convert < p;
            if treated {
                rep.treatment += 1;
                effect_all += t.effect();
                if delivered {
                    rep.delivered += 1;
                    effect_delivered += t.effect();
                } else {
                    rep.failed += 1;
                }
                let e = per_offer
                    .entry(offer.id.clone())
                    .or_insert_with(|| (offer.category.clone(), 0, 0.0, 0.0));
                e.1 += 1;
                e.2 += t.base;
                e.3 += t.effect();
                contact_rows.push(contact_row(
                    k,
                    if delivered { "delivered" } else { "failed" },
                ));
                let readable = !matches!(k.channel.as_str(), "call" | "branch");
                if delivered && readable && u_open < OPEN_RATE {
                    rep.opened += 1;
                    response_rows.push(response_row(k, "open", at(1.0 + u_delay * 6.0), 0));
                    if u_click < CLICK_RATE {
                        rep.clicked += 1;
                        let ts = at(1.5 + u_delay * 6.0);
                        response_rows.push(response_row(k, "click", ts, 0));
                        responses.push(store_response(k, ResponseKind::Click, ts, 0));
                    }
                }
                if converted {
                    rep.conversions_treatment += 1;
                }
            } else {
                rep.holdout += 1;
                if converted {
                    rep.conversions_holdout += 1;
                }
            }
            if converted {
                let ts = at(24.0 + u_delay * 24.0 * 13.0);
                rep.revenue_fen += if treated { offer.value_fen } else { 0 };
                response_rows.push(response_row(k, "convert", ts, offer.value_fen));
                responses.push(store_response(
                    k,
                    ResponseKind::Convert,
                    ts,
                    offer.value_fen,
                ));
            }
        }
        if rep.treatment > 0 {
            rep.planted_lift = effect_delivered / rep.treatment as f64;
            rep.planted_lift_if_delivered = effect_all / rep.treatment as f64;
        }
        rep.by_offer = per_offer
            .into_iter()
            .map(|(offer_id, (category, n, base, effect))| OfferTruth {
                offer_id,
                category,
                treatment_contacts: n,
                mean_base: base / n.max(1) as f64,
                mean_effect: effect / n.max(1) as f64,
            })
            .collect();

        let dd = self.data_dir();
        rep.facts.push(
            facts::ingest(
                dd,
                campaign_id,
                "contacts",
                "contacts-treatment",
                &contact_rows,
            )
            .await?,
        );
        rep.facts
            .push(facts::ingest(dd, campaign_id, "responses", "responses", &response_rows).await?);
        for chunk in responses.chunks(5_000) {
            rep.responses_new += self.store().record_responses(chunk).await?;
        }
        Ok(rep)
    }
}

fn response_row(k: &Contact, kind: &str, ts: DateTime<Utc>, revenue_fen: i64) -> Row {
    Row::new()
        .set("response_id", format!("{}:{kind}", k.contact_id))
        .set("contact_id", &k.contact_id)
        .set("campaign_id", k.campaign_id.clone().unwrap_or_default())
        .set("customer_id", &k.customer_id)
        .set("ts", ts_text(ts))
        .set("response_type", kind)
        .set(
            "revenue_fen",
            if revenue_fen > 0 {
                revenue_fen.to_string()
            } else {
                String::new()
            },
        )
}

fn store_response(
    k: &Contact,
    kind: ResponseKind,
    ts: DateTime<Utc>,
    revenue_fen: i64,
) -> Response {
    Response {
        response_id: format!("{}:{}", k.contact_id, kind.as_str()),
        decision_id: None,
        contact_id: Some(k.contact_id.clone()),
        customer_id: k.customer_id.clone(),
        offer_id: k.offer_id.clone(),
        kind,
        ts: ts.timestamp_micros(),
        revenue_fen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_are_clamped_differences() {
        let t = Truth {
            base: 0.02,
            uplift: -0.04,
        };
        assert!((t.effect() + 0.02).abs() < 1e-12);
        let t = Truth {
            base: 0.04,
            uplift: 0.10,
        };
        assert!((t.effect() - 0.10).abs() < 1e-12);
        assert_eq!(model("credit_card").category, "credit_card");
        assert_eq!(model("gold").category, "*");
    }
}
