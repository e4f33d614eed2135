//! Each engagement policy, and what its explanation says.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use zhiying_core::domain::{CustomerRiskLevel, ProductRiskLevel};
use zhiying_decision::fixture::{customer_id, demo_index};
use zhiying_decision::*;

/// 12:00 in Shanghai.
fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 3, 4, 0, 0).unwrap()
}

fn offer(id: &str, product: &str, risk: &str, eligibility: &str) -> Offer {
    let json = serde_json::json!({
        "id": id, "product_id": product, "name_zh": format!("权益{id}"), "name_en": format!("Offer {id}"),
        "category": "wealth", "risk_level": risk, "eligibility": eligibility,
        "value_fen": 100_000, "cost_fen": 100, "valid_from": "2024-01-01",
        "treatments": [
            {"channel": "app_push", "template_zh": "{name_masked}您好，{product_name}", "template_en": "Hi {name_masked}, {product_name}"},
            {"channel": "sms", "template_zh": "短信{offer_name}", "template_en": "SMS {offer_name}"}
        ]
    });
    serde_json::from_value(json).unwrap()
}

struct Setup {
    engine: DecisionEngine,
    consents: Arc<InMemoryConsents>,
}

fn setup(offers: Vec<Offer>, config: EngineConfig, customers: usize) -> Setup {
    let index = demo_index(customers, 7);
    let consents = Arc::new(InMemoryConsents::new());
    for i in 0..customers {
        consents.grant_all(
            &customer_id(i),
            Purpose::Marketing,
            noon() - Duration::days(100),
        );
    }
    let ledger = Arc::new(ContactLedger::new(config.retention_days()));
    let engine = DecisionEngine::new(
        Catalog::from_offers(offers).unwrap(),
        Some(&index),
        config,
        consents.clone(),
        ledger,
        None,
    )
    .unwrap();
    Setup { engine, consents }
}

fn no_control() -> EngineConfig {
    EngineConfig {
        control_share: 0.0,
        ..Default::default()
    }
}

fn reason_of<'a>(d: &'a Decision, offer: &str) -> Option<&'a Reason> {
    d.candidates
        .iter()
        .find(|c| c.offer_id == offer)
        .and_then(|c| match &c.outcome {
            CandidateOutcome::Removed { reason } => Some(reason),
            _ => None,
        })
}

/// A customer of the fixture with the given risk level tag (or none).
fn customer_with_level(s: &Setup, level: Option<&str>) -> String {
    let index = demo_index(200, 7);
    let bm = match level {
        Some(l) => index.members(&format!("risk_level = \"{l}\"")).unwrap(),
        None => index.members("risk_level is null").unwrap(),
    };
    let _ = s;
    customer_id(bm.min().unwrap() as usize)
}

#[test]
fn eligibility_removes_customers_outside_the_audience() {
    let s = setup(
        vec![
            offer("A", "P001", "R1", "age >= 200"),
            offer("B", "P001", "R1", ""),
        ],
        no_control(),
        200,
    );
    let d = s.engine.decide(&DecisionRequest::new(
        &customer_id(0),
        Channel::AppPush,
        noon(),
    ));
    let r = reason_of(&d, "A").unwrap();
    assert_eq!(r.policy, Policy::Eligibility);
    assert!(
        matches!(&r.code, ReasonCode::NotInAudience { expression } if expression == "age >= 200")
    );
    assert!(r.text_zh.contains("资格规则") && r.text_en.contains("age >= 200"));
    // A customer outside the index is eligible only for rule-free offers.
    let d = s
        .engine
        .decide(&DecisionRequest::new("NOBODY", Channel::AppPush, noon()));
    assert_eq!(
        reason_of(&d, "A").unwrap().code,
        ReasonCode::UnknownCustomer
    );
    assert!(!d.customer.indexed);
    // NOBODY has no consent, so B is removed by consent, after passing eligibility.
    assert_eq!(reason_of(&d, "B").unwrap().policy, Policy::Consent);
}

#[test]
fn bad_eligibility_rule_names_the_offer() {
    let index = demo_index(10, 1);
    let e = DecisionEngine::new(
        Catalog::from_offers(vec![offer("X", "P001", "R1", "agee > 3")]).unwrap(),
        Some(&index),
        EngineConfig::default(),
        Arc::new(InMemoryConsents::new()),
        Arc::new(ContactLedger::new(30.0)),
        None,
    )
    .unwrap_err();
    let m = e.to_string();
    assert!(m.contains("offer 'X'") && m.contains("eligibility"), "{m}");
}

#[test]
fn applicability_dates_treatment_holdings_and_recent_accepts() {
    let mut future = offer("F", "P001", "R1", "");
    future.valid_from = chrono::NaiveDate::from_ymd_opt(2024, 7, 1).unwrap();
    let mut expired = offer("E", "P002", "R1", "");
    expired.valid_to = Some(chrono::NaiveDate::from_ymd_opt(2024, 6, 2).unwrap());
    let mut paused = offer("Z", "P002", "R1", "");
    paused.status = OfferStatus::Paused;
    let held = offer("H", "P999", "R1", "");
    let ok = offer("K", "P003", "R1", "");
    let s = setup(vec![future, expired, paused, held, ok], no_control(), 50);
    let c = customer_id(3);
    let mut req = DecisionRequest::new(&c, Channel::AppPush, noon());
    req.context.held_products = vec!["P999".into()];
    req.max_offers = Some(5);
    let d = s.engine.decide(&req);
    let code = |o: &str| reason_of(&d, o).map(|r| (r.policy, r.code.clone()));
    assert!(matches!(
        code("F"),
        Some((Policy::Applicability, ReasonCode::NotYetValid { .. }))
    ));
    assert!(matches!(
        code("E"),
        Some((Policy::Applicability, ReasonCode::Expired { .. }))
    ));
    assert!(matches!(
        code("Z"),
        Some((Policy::Applicability, ReasonCode::OfferNotActive { .. }))
    ));
    assert!(matches!(
        code("H"),
        Some((Policy::Applicability, ReasonCode::AlreadyHeld { .. }))
    ));
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].offer_id, "K");
    // 2024-06-02 ends at 16:00 UTC (midnight in Shanghai): the offer is still valid at
    // 15:59 UTC on that day and gone a minute later — validity is a local day.
    let late = Utc.with_ymd_and_hms(2024, 6, 2, 15, 59, 0).unwrap();
    let d2 = s.engine.decide(&DecisionRequest {
        simulate: true,
        ..DecisionRequest::new(&c, Channel::Email, late)
    });
    assert!(matches!(
        reason_of(&d2, "E").map(|r| &r.code),
        Some(ReasonCode::NoTreatment { .. })
    ));

    // Accepting K stops it being offered again within the window.
    s.engine
        .record_response(&Response {
            decision_id: Some(d.decision_id.clone()),
            customer_id: c.clone(),
            offer_id: "K".into(),
            channel: Channel::AppPush,
            kind: ResponseKind::Accept,
            ts: noon() + Duration::minutes(5),
        })
        .unwrap();
    let d = s.engine.decide(&DecisionRequest::new(
        &c,
        Channel::AppPush,
        noon() + Duration::days(1),
    ));
    let r = reason_of(&d, "K").unwrap();
    assert!(matches!(
        r.code,
        ReasonCode::AcceptedRecently {
            window_days: 90,
            ..
        }
    ));
    assert!(r.text_en.contains("accepted"));
}

#[test]
fn holdings_in_the_index_make_an_offer_inapplicable() {
    let s = setup(vec![offer("D", "P001", "R1", "")], no_control(), 200);
    let index = demo_index(200, 7);
    let holders = index.members("holds product \"P001\"").unwrap();
    let c = customer_id(holders.min().unwrap() as usize);
    let d = s
        .engine
        .decide(&DecisionRequest::new(&c, Channel::AppPush, noon()));
    assert!(matches!(
        reason_of(&d, "D").map(|r| &r.code),
        Some(ReasonCode::AlreadyHeld { product_id }) if product_id == "P001"
    ));
}

#[test]
fn suitability_uses_questionnaire_then_profile_then_c1() {
    let offers = vec![
        offer("R1", "P101", "R1", ""),
        offer("R3", "P103", "R3", ""),
        offer("R5", "P105", "R5", ""),
    ];
    let s = setup(offers, no_control(), 200);
    let c3 = customer_with_level(&s, Some("c3"));
    let mut req = DecisionRequest::new(&c3, Channel::AppPush, noon());
    req.max_offers = Some(3);
    req.simulate = true;
    let d = s.engine.decide(&req);
    assert_eq!(d.customer.risk_level, CustomerRiskLevel::C3);
    assert_eq!(d.customer.risk_level_source, RiskLevelSource::ProfileTag);
    assert!(reason_of(&d, "R3").is_none());
    let r = reason_of(&d, "R5").unwrap();
    assert_eq!(r.policy, Policy::Suitability);
    assert!(
        r.text_zh.contains("R5") && r.text_zh.contains("C3"),
        "{}",
        r.text_zh
    );

    // A fresh questionnaire result in the request wins over the profile.
    req.context.risk_level = Some(CustomerRiskLevel::C5);
    let d = s.engine.decide(&req);
    assert_eq!(d.customer.risk_level_source, RiskLevelSource::Questionnaire);
    assert_eq!(d.offers.len(), 3);

    // Unassessed: C1, and the explanation says why.
    let unknown = customer_with_level(&s, None);
    let mut req = DecisionRequest::new(&unknown, Channel::AppPush, noon());
    req.max_offers = Some(3);
    let d = s.engine.decide(&req);
    assert_eq!(d.customer.risk_level_source, RiskLevelSource::DefaultC1);
    let r = reason_of(&d, "R3").unwrap();
    assert!(matches!(
        r.code,
        ReasonCode::AboveSuitability {
            customer_level: CustomerRiskLevel::C1,
            product_level: ProductRiskLevel::R3,
            ..
        }
    ));
    assert!(r.text_en.contains("not assessed"));
    assert_eq!(d.offers[0].offer_id, "R1");
}

#[test]
fn consent_and_do_not_contact() {
    let s = setup(vec![offer("A", "P003", "R1", "")], no_control(), 20);
    let c = customer_id(5);
    s.consents.record(ConsentEvent {
        customer_id: c.clone(),
        purpose: Purpose::Marketing,
        channel: Some(Channel::Sms),
        granted: false,
        ts: noon() - Duration::days(1),
    });
    let d = s
        .engine
        .decide(&DecisionRequest::new(&c, Channel::Sms, noon()));
    let r = reason_of(&d, "A").unwrap();
    assert_eq!(r.policy, Policy::Consent);
    assert!(r.text_zh.contains("短信"));
    // App push is still consented.
    let d = s
        .engine
        .decide(&DecisionRequest::new(&c, Channel::AppPush, noon()));
    assert_eq!(d.offers.len(), 1);
    s.consents.set_do_not_contact(&c, true);
    let d = s.engine.decide(&DecisionRequest::new(
        &c,
        Channel::AppPush,
        noon() + Duration::days(3),
    ));
    assert_eq!(reason_of(&d, "A").unwrap().code, ReasonCode::DoNotContact);
}

#[test]
fn contact_policy_quiet_hours_caps_and_suppression() {
    let offers = vec![offer("A", "P003", "R1", ""), offer("B", "P002", "R1", "")];
    let s = setup(offers, no_control(), 20);
    let c = customer_id(2);
    // 22:30 in Shanghai: SMS is quiet.
    let night = Utc.with_ymd_and_hms(2024, 6, 3, 14, 30, 0).unwrap();
    let d = s
        .engine
        .decide(&DecisionRequest::new(&c, Channel::Sms, night));
    let r = reason_of(&d, "A").unwrap();
    assert!(
        matches!(&r.code, ReasonCode::QuietHours { window, local_time, .. } if window == "21:00–08:00" && local_time == "22:30")
    );
    assert!(r.text_zh.contains("免打扰"));

    // SMS cap: 2 per 7 days. Two decisions get a contact, the third is capped.
    for k in 0..2 {
        let d = s.engine.decide(&DecisionRequest::new(
            &c,
            Channel::Sms,
            noon() + Duration::hours(k),
        ));
        assert_eq!(d.offers.len(), 1, "{d}");
    }
    let d = s.engine.decide(&DecisionRequest::new(
        &c,
        Channel::Sms,
        noon() + Duration::hours(3),
    ));
    assert!(d.offers.is_empty());
    let r = reason_of(&d, "A").unwrap();
    assert!(matches!(
        r.code,
        ReasonCode::CapReached {
            channel: Some(Channel::Sms),
            max: 2,
            used: 2,
            ..
        }
    ));
    assert!(r.text_en.contains("SMS cap reached"));
    assert_eq!(
        s.engine
            .ledger()
            .count(&c, Some(Channel::Sms), noon() + Duration::hours(3), 7.0),
        2
    );

    // Two rejects of A within 30 days suppress A (B is still offered).
    let c2 = customer_id(4);
    for k in 0..2 {
        s.engine
            .record_response(&Response {
                decision_id: None,
                customer_id: c2.clone(),
                offer_id: "A".into(),
                channel: Channel::AppPush,
                kind: ResponseKind::Reject,
                ts: noon() - Duration::days(k + 1),
            })
            .unwrap();
    }
    let mut req = DecisionRequest::new(&c2, Channel::AppPush, noon());
    req.max_offers = Some(2);
    let d = s.engine.decide(&req);
    let r = reason_of(&d, "A").unwrap();
    assert!(matches!(
        r.code,
        ReasonCode::Suppressed {
            rejects: 2,
            window_days: 30
        }
    ));
    assert_eq!(d.offers.len(), 1);
    assert_eq!(d.offers[0].offer_id, "B");
}

#[test]
fn arbitration_factors_levers_and_context() {
    let mut a = offer("A", "P003", "R1", "");
    a.value_fen = 10_100; // ¥100 net
    let mut b = offer("B", "P002", "R1", "");
    b.value_fen = 10_100;
    b.pinned_campaign = Some("CP1".into());
    let mut config = no_control();
    config.context_weights = vec![ContextWeight {
        trigger: Some("salary_credited".into()),
        channel: None,
        category: None,
        offer_id: Some("A".into()),
        weight: 3.0,
    }];
    let s = setup(vec![a, b], config, 50);
    let mut req = DecisionRequest::new(&customer_id(1), Channel::AppPush, noon());
    req.max_offers = Some(2);
    req.simulate = true;
    let d = s.engine.decide(&req);
    for o in &d.offers {
        let f = &o.factors;
        let product = f.propensity * f.context_weight * f.value_yuan * f.levers.total;
        assert!((product - f.priority).abs() < 1e-12);
        assert!((f.value_yuan - 100.0).abs() < 1e-9);
        assert!(matches!(
            f.propensity_origin,
            PropensityOrigin::Adaptive { evidence: 0, .. }
        ));
    }
    let b_f = &d.offers.iter().find(|o| o.offer_id == "B").unwrap().factors;
    assert_eq!(b_f.levers.pinned_campaign_weight, 1.5);
    // Editing a lever changes the next decision's factors.
    let mut levers = s.engine.levers();
    levers.product_weights.insert("P002".into(), 2.0);
    levers.campaign_weights.insert("CP1".into(), 4.0);
    s.engine.set_levers(levers).unwrap();
    let d = s.engine.decide(&req);
    let b_f = &d.offers.iter().find(|o| o.offer_id == "B").unwrap().factors;
    assert_eq!(b_f.levers.total, 8.0);
    // The trigger's context weight applies to A only when the trigger is present.
    req.context.trigger = Some("salary_credited".into());
    let d = s.engine.decide(&req);
    let a_f = &d.offers.iter().find(|o| o.offer_id == "A").unwrap().factors;
    assert_eq!(a_f.context_weight, 3.0);
    assert_eq!(a_f.context_rules.len(), 1);
    let mut bad = s.engine.levers();
    bad.pinned_campaign_weight = -1.0;
    assert!(s.engine.set_levers(bad).is_err());
}

struct FixedModel;
impl PropensitySource for FixedModel {
    fn name(&self) -> &str {
        "champion-v3"
    }
    fn propensity(&self, _c: &str, offer: &Offer, _ch: Channel) -> Option<f64> {
        (offer.id == "A").then_some(0.4)
    }
}

#[test]
fn trained_scores_override_the_adaptive_model_and_personalisation_renders() {
    let index = demo_index(20, 7);
    let consents = Arc::new(InMemoryConsents::new());
    consents.grant_all(
        &customer_id(1),
        Purpose::Marketing,
        noon() - Duration::days(1),
    );
    let engine = DecisionEngine::new(
        Catalog::from_offers(vec![
            offer("A", "P003", "R1", ""),
            offer("B", "P002", "R1", ""),
        ])
        .unwrap(),
        Some(&index),
        no_control(),
        consents,
        Arc::new(ContactLedger::new(60.0)),
        Some(Arc::new(FixedModel)),
    )
    .unwrap();
    let mut req = DecisionRequest::new(&customer_id(1), Channel::AppPush, noon());
    req.max_offers = Some(2);
    req.context.personalisation = BTreeMap::from([("name_masked".to_string(), "张*".to_string())]);
    let d = engine.decide(&req);
    let a = d.offers.iter().find(|o| o.offer_id == "A").unwrap();
    assert_eq!(a.factors.propensity, 0.4);
    assert_eq!(
        a.factors.propensity_origin,
        PropensityOrigin::Model {
            name: "champion-v3".into()
        }
    );
    assert_eq!(a.message.text_zh, "张*您好，权益A");
    let b = d.offers.iter().find(|o| o.offer_id == "B").unwrap();
    assert!(matches!(
        b.factors.propensity_origin,
        PropensityOrigin::Adaptive { .. }
    ));
    // The decision serialises for the API, with zh/en reason texts.
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["offers"][0]["selection"], "arbitration");
    assert!(d.to_string().contains("priority"));
}

#[test]
fn control_group_gets_a_random_eligible_offer_and_is_flagged() {
    let offers: Vec<Offer> = (0..6)
        .map(|i| offer(&format!("O{i}"), &format!("P10{i}"), "R1", ""))
        .collect();
    let config = EngineConfig {
        control_share: 0.5,
        ..Default::default()
    };
    let s = setup(offers, config, 200);
    let mut control = 0;
    let mut picks = std::collections::BTreeSet::new();
    for i in 0..200 {
        let c = customer_id(i);
        let mut req = DecisionRequest::new(&c, Channel::AppPush, noon());
        req.simulate = true;
        let d = s.engine.decide(&req);
        assert_eq!(d.customer.control_group, s.engine.in_control_group(&c));
        if d.customer.control_group {
            control += 1;
            assert_eq!(d.offers[0].selection, Selection::RandomControl);
            picks.insert(d.offers[0].offer_id.clone());
        } else {
            assert_eq!(d.offers[0].selection, Selection::Arbitration);
        }
    }
    assert!(
        (70..130).contains(&control),
        "control {control} of 200 at 50%"
    );
    assert!(picks.len() >= 4, "random picks should vary: {picks:?}");
}

#[test]
fn idempotent_retry_and_release() {
    let s = setup(vec![offer("A", "P003", "R1", "")], no_control(), 20);
    let c = customer_id(1);
    let mut req = DecisionRequest::new(&c, Channel::Sms, noon());
    req.decision_id = Some("retry-1".into());
    let d1 = s.engine.decide(&req);
    let d2 = s.engine.decide(&req);
    assert_eq!(d1.offers.len(), 1);
    assert_eq!(d2.offers.len(), 1);
    assert_eq!(
        s.engine.ledger().count(&c, Some(Channel::Sms), noon(), 7.0),
        1
    );
    assert_eq!(s.engine.release(&c, "retry-1"), 1);
    assert_eq!(
        s.engine.ledger().count(&c, Some(Channel::Sms), noon(), 7.0),
        0
    );
}
