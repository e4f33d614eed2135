//! Property tests of the compliance invariants:
//! * no customer without marketing consent on the channel, or on the do-not-contact list,
//!   is ever offered a contact;
//! * no frequency cap is ever exceeded, in any rolling window, including with several
//!   threads deciding concurrently for the same customers at out-of-order times;
//! * no product above the customer's suitability level is ever offered.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use zhiying_core::domain::CustomerRiskLevel;
use zhiying_decision::fixture::{customer_id, demo_index};
use zhiying_decision::*;

const CUSTOMERS: usize = 40;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 3, 0, 0, 0).unwrap()
}

fn offer(i: usize, risk: u8, channels: &[Channel]) -> Offer {
    let treatments: Vec<_> = channels
        .iter()
        .map(|c| serde_json::json!({"channel": c, "template_zh": "您好", "template_en": "Hello"}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": format!("O{i:02}"), "product_id": format!("P9{i:02}"),
        "name_zh": "权益", "name_en": "Offer", "category": "fund",
        "risk_level": format!("R{risk}"), "eligibility": if i.is_multiple_of(3) { "age >= 30" } else { "" },
        "value_fen": 1000 + 100 * i as i64, "cost_fen": 10, "valid_from": "2024-01-01",
        "treatments": treatments,
    }))
    .unwrap()
}

fn channel() -> impl Strategy<Value = Channel> {
    prop::sample::select(Channel::ALL.to_vec())
}

#[derive(Debug, Clone)]
enum ConsentState {
    All,
    None,
    WithdrawnOn(Channel),
    Dnc,
}

fn consent_state() -> impl Strategy<Value = ConsentState> {
    prop_oneof![
        3 => Just(ConsentState::All),
        1 => Just(ConsentState::None),
        1 => channel().prop_map(ConsentState::WithdrawnOn),
        1 => Just(ConsentState::Dnc),
    ]
}

fn cap() -> impl Strategy<Value = Cap> {
    (prop::option::of(channel()), 0u32..4, 1u32..10).prop_map(|(channel, max, days)| Cap {
        channel,
        max,
        window_days: days as f64,
    })
}

fn engine(
    offers: Vec<Offer>,
    consents: Arc<InMemoryConsents>,
    caps: Vec<Cap>,
    control_share: f64,
) -> DecisionEngine {
    let index = demo_index(CUSTOMERS, 11);
    let config = EngineConfig {
        caps,
        control_share,
        // Quiet hours are covered by unit tests; here every hour may contact.
        quiet_hours: Default::default(),
        ..Default::default()
    };
    let ledger = Arc::new(ContactLedger::new(config.retention_days()));
    DecisionEngine::new(
        Catalog::from_offers(offers).unwrap(),
        Some(&index),
        config,
        consents,
        ledger,
        None,
    )
    .unwrap()
}

/// The largest number of contacts the cap covers in any window of its length.
fn max_in_window(contacts: &[ContactRecord], cap: &Cap) -> u32 {
    let mut ts: Vec<i64> = contacts
        .iter()
        .filter(|c| cap.channel.is_none_or(|x| x == c.channel))
        .map(|c| c.ts.timestamp_millis())
        .collect();
    ts.sort_unstable();
    let w = cap.window_ms();
    let mut lo = 0;
    let mut best = 0;
    for hi in 0..ts.len() {
        while ts[lo] <= ts[hi] - w {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best as u32
}

#[derive(Debug, Clone)]
struct Req {
    customer: usize,
    channel: Channel,
    minutes: i64,
    max_offers: usize,
    questionnaire: Option<u8>,
}

fn req() -> impl Strategy<Value = Req> {
    (
        0..CUSTOMERS,
        channel(),
        0i64..(20 * 24 * 60),
        1usize..4,
        prop::option::of(1u8..=5),
    )
        .prop_map(
            |(customer, channel, minutes, max_offers, questionnaire)| Req {
                customer,
                channel,
                minutes,
                max_offers,
                questionnaire,
            },
        )
}

fn to_request(r: &Req) -> DecisionRequest {
    let mut d = DecisionRequest::new(
        &customer_id(r.customer),
        r.channel,
        t0() + Duration::minutes(r.minutes),
    );
    d.max_offers = Some(r.max_offers);
    d.context.risk_level = r.questionnaire.map(|q| match q {
        1 => CustomerRiskLevel::C1,
        2 => CustomerRiskLevel::C2,
        3 => CustomerRiskLevel::C3,
        4 => CustomerRiskLevel::C4,
        _ => CustomerRiskLevel::C5,
    });
    d
}

fn offers_strategy() -> impl Strategy<Value = Vec<Offer>> {
    prop::collection::vec((1u8..=5, prop::collection::vec(channel(), 1..4)), 1..12).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (risk, mut chans))| {
                chans.sort();
                chans.dedup();
                offer(i, risk, &chans)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn never_contacts_without_consent_or_on_dnc(
        offers in offers_strategy(),
        states in prop::collection::vec(consent_state(), CUSTOMERS),
        reqs in prop::collection::vec(req(), 1..80),
        control in prop::sample::select(vec![0.0, 0.5, 1.0]),
    ) {
        let consents = Arc::new(InMemoryConsents::new());
        for (i, s) in states.iter().enumerate() {
            let c = customer_id(i);
            match s {
                ConsentState::All => consents.grant_all(&c, Purpose::Marketing, t0() - Duration::days(1)),
                ConsentState::None => {}
                ConsentState::WithdrawnOn(ch) => {
                    consents.grant_all(&c, Purpose::Marketing, t0() - Duration::days(2));
                    consents.record(ConsentEvent { customer_id: c.clone(), purpose: Purpose::Marketing,
                        channel: Some(*ch), granted: false, ts: t0() - Duration::days(1) });
                }
                ConsentState::Dnc => {
                    consents.grant_all(&c, Purpose::Marketing, t0() - Duration::days(1));
                    consents.set_do_not_contact(&c, true);
                }
            }
        }
        let e = engine(offers, consents, vec![], control);
        for r in &reqs {
            let d = e.decide(&to_request(r));
            let allowed = match &states[r.customer] {
                ConsentState::All => true,
                ConsentState::WithdrawnOn(ch) => *ch != r.channel,
                ConsentState::None | ConsentState::Dnc => false,
            };
            if !allowed {
                prop_assert!(d.offers.is_empty(), "contacted without consent: {d}");
                let all_removed = d
                    .candidates
                    .iter()
                    .all(|c| matches!(c.outcome, CandidateOutcome::Removed { .. }));
                prop_assert!(all_removed, "an offer survived without consent: {d}");
            }
        }
        for (i, s) in states.iter().enumerate() {
            let contacts = e.ledger().contacts(&customer_id(i));
            match s {
                ConsentState::None | ConsentState::Dnc => prop_assert!(contacts.is_empty()),
                ConsentState::WithdrawnOn(ch) => prop_assert!(contacts.iter().all(|c| c.channel != *ch)),
                ConsentState::All => {}
            }
        }
    }

    #[test]
    fn never_offers_above_suitability(
        offers in offers_strategy(),
        reqs in prop::collection::vec(req(), 1..60),
    ) {
        let consents = Arc::new(InMemoryConsents::new());
        for i in 0..CUSTOMERS {
            consents.grant_all(&customer_id(i), Purpose::Marketing, t0() - Duration::days(1));
        }
        let index = demo_index(CUSTOMERS, 11);
        let e = engine(offers, consents, vec![], 0.3);
        for r in &reqs {
            let d = e.decide(&to_request(r));
            // The level the engine must use: questionnaire, else profile tag, else C1.
            let expected = match r.questionnaire {
                Some(q) => q,
                None => (1..=5u8)
                    .find(|l| index.members(&format!("risk_level = \"c{l}\"")).unwrap().contains(r.customer as u32))
                    .unwrap_or(1),
            };
            prop_assert_eq!(d.customer.risk_level as u8, expected);
            for o in &d.offers {
                prop_assert!(o.risk_level as u8 <= expected, "offered {:?} to level {}", o.risk_level, expected);
            }
        }
    }

    #[test]
    fn caps_hold_for_sequential_out_of_order_decisions(
        offers in offers_strategy(),
        caps in prop::collection::vec(cap(), 1..4),
        reqs in prop::collection::vec(req(), 1..120),
    ) {
        let consents = Arc::new(InMemoryConsents::new());
        for i in 0..CUSTOMERS {
            consents.grant_all(&customer_id(i), Purpose::Marketing, t0() - Duration::days(1));
        }
        let e = engine(offers, consents, caps.clone(), 0.2);
        for r in &reqs {
            e.decide(&to_request(r));
        }
        for i in 0..CUSTOMERS {
            let contacts = e.ledger().contacts(&customer_id(i));
            for cap in &caps {
                prop_assert!(max_in_window(&contacts, cap) <= cap.max, "cap {cap:?} broken: {contacts:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Four threads decide for the same five customers at once.
    #[test]
    fn caps_hold_under_concurrency(
        offers in offers_strategy(),
        caps in prop::collection::vec(cap(), 1..4),
        reqs in prop::collection::vec(req(), 40..160),
    ) {
        let consents = Arc::new(InMemoryConsents::new());
        for i in 0..CUSTOMERS {
            consents.grant_all(&customer_id(i), Purpose::Marketing, t0() - Duration::days(1));
        }
        let e = Arc::new(engine(offers, consents, caps.clone(), 0.1));
        let reqs: Vec<Req> = reqs.into_iter().map(|mut r| { r.customer %= 5; r.minutes %= 3 * 24 * 60; r }).collect();
        let chunks: Vec<Vec<Req>> = reqs.chunks(reqs.len().div_ceil(4)).map(|c| c.to_vec()).collect();
        std::thread::scope(|s| {
            for chunk in &chunks {
                let e = e.clone();
                s.spawn(move || {
                    for r in chunk {
                        e.decide(&to_request(r));
                    }
                });
            }
        });
        for i in 0..5 {
            let contacts = e.ledger().contacts(&customer_id(i));
            for cap in &caps {
                prop_assert!(max_in_window(&contacts, cap) <= cap.max, "cap {cap:?} broken: {contacts:?}");
            }
        }
    }
}

/// Without a random component, the same hammering must still fill each cap exactly (the
/// test above would pass trivially if the engine never contacted anyone).
#[test]
fn concurrent_deciders_fill_but_never_exceed_a_cap() {
    let consents = Arc::new(InMemoryConsents::new());
    consents.grant_all(
        &customer_id(0),
        Purpose::Marketing,
        t0() - Duration::days(1),
    );
    let caps = vec![Cap {
        channel: None,
        max: 3,
        window_days: 7.0,
    }];
    let e = Arc::new(engine(
        (0..5)
            .map(|i| offer(i + 1, 1, &[Channel::AppPush, Channel::Email]))
            .collect(),
        consents,
        caps.clone(),
        0.0,
    ));
    std::thread::scope(|s| {
        for k in 0..4 {
            let e = e.clone();
            s.spawn(move || {
                for j in 0..50 {
                    let ch = if (j + k) % 2 == 0 {
                        Channel::AppPush
                    } else {
                        Channel::Email
                    };
                    let mut r = DecisionRequest::new(
                        &customer_id(0),
                        ch,
                        t0() + Duration::hours(12) + Duration::minutes(j),
                    );
                    r.max_offers = Some(2);
                    e.decide(&r);
                }
            });
        }
    });
    let contacts = e.ledger().contacts(&customer_id(0));
    assert_eq!(contacts.len(), 3, "{contacts:?}");
    assert_eq!(max_in_window(&contacts, &caps[0]), 3);
}
