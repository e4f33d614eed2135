//! Next-best-action (智能推荐/决策): an offer catalogue, engagement policies applied in
//! order with an explanation of every removal, arbitration, adaptive propensity models
//! with Thompson sampling, a random control group, and a contact ledger whose frequency
//! caps hold under concurrency.
//!
//! A decision runs, for every offer of the catalogue:
//!
//! 1. **eligibility**: the offer's audience expression, precompiled to a roaring bitmap over
//!    the audience index, so the test is one `contains` per offer;
//! 2. **applicability**: active, within validity dates (local days), has a treatment for
//!    the channel, product not already held, not accepted recently;
//! 3. **suitability**: product R1–R5 against the customer's C1–C5 (questionnaire in the
//!    request, else profile tag, else C1);
//! 4. **consent**: marketing consent on the channel ([`ConsentView`]) and do-not-contact;
//! 5. **contact policy**: quiet hours (Asia/Shanghai), suppression after repeated
//!    rejections, per-channel and global frequency caps over rolling windows;
//!
//! then ranks the survivors by propensity × context weight × value × levers and reserves
//! a contact for each returned offer atomically in the [`ContactLedger`].
//!
//! ```
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use zhiying_decision::*;
//!
//! let consents = Arc::new(InMemoryConsents::new());
//! let noon = Utc.with_ymd_and_hms(2024, 6, 3, 4, 0, 0).unwrap(); // 12:00 in Shanghai
//! consents.grant_all("C42", Purpose::Marketing, noon - chrono::Duration::days(30));
//! let config = EngineConfig::default();
//! let ledger = Arc::new(ContactLedger::new(config.retention_days()));
//! // No profile index here: only offers without an eligibility rule can be eligible.
//! let catalog = Catalog::from_json_str(r#"[{"id":"O1","product_id":"P001",
//!   "name_zh":"手机银行绑卡礼","name_en":"Mobile banking gift","category":"deposit",
//!   "risk_level":"R1","value_fen":5000,"cost_fen":10,"valid_from":"2024-01-01",
//!   "treatments":[{"channel":"app_push","template_zh":"{name_masked}您好，绑卡有礼",
//!                  "template_en":"Dear {name_masked}, a gift for linking your card"}]}]"#).unwrap();
//! let engine = DecisionEngine::new(catalog, None, config, consents, ledger, None).unwrap();
//! let d = engine.decide(&DecisionRequest::new("C42", Channel::AppPush, noon));
//! assert_eq!(d.offers[0].offer_id, "O1");
//! assert_eq!(d.offers[0].message.text_en, "Dear customer, a gift for linking your card");
//! // SMS has no treatment, so the offer is removed by applicability, with the reason.
//! let d = engine.decide(&DecisionRequest::new("C42", Channel::Sms, noon));
//! assert!(d.offers.is_empty());
//! assert_eq!(d.removed_by_policy[&Policy::Applicability], 1);
//! ```

pub mod adaptive;
#[doc(hidden)]
pub mod bench_support;
pub mod catalog;
pub mod channel;
pub mod config;
pub mod consent;
pub mod engine;
pub mod explain;
pub mod features;
pub mod fixture;
pub mod ledger;
mod sample;

pub use adaptive::{AdaptiveConfig, AdaptiveModel};
pub use catalog::{Catalog, CatalogError, Offer, OfferFieldError, OfferStatus, Treatment};
pub use channel::{Channel, QuietHours};
pub use config::{ContextWeight, EngineConfig, Levers, Suppression};
pub use consent::{
    ConsentAnswer, ConsentEvent, ConsentUpdate, ConsentView, InMemoryConsents, Purpose,
};
pub use engine::{
    BindReport, Candidate, CandidateOutcome, ChosenOffer, CustomerFacts, Decision, DecisionContext,
    DecisionEngine, DecisionRequest, EngineError, Factors, Message, ModelSummary, PropensityOrigin,
    PropensitySource, Response, ResponseOutcome, Selection,
};
pub use explain::{Policy, Reason, ReasonCode, RiskLevelSource};
pub use features::PredictorSpec;
pub use ledger::{Cap, CapViolation, ContactLedger, ContactRecord, ResponseKind};
pub use sample::{SAMPLE_CATALOG_TOML, sample_catalog};
