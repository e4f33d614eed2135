//! The batch runner on a small synthetic bank, end to end:
//!
//! (a) the measured effect's 95% interval (zhiying-measure, reading the facts the runner and
//!     the simulator wrote) contains the planted true effect;
//! (b) rerunning a campaign — also after a crash that lost part of its outbox — duplicates
//!     no contact, outbox message, assignment, response or fact;
//! (c) over every contact of four campaigns: nobody without marketing consent on the
//!     channel, on the do-not-contact list, in the global holdout, or offered a product
//!     above their risk level is contacted, no frequency cap is exceeded, nothing is sent in
//!     quiet hours, no channel capacity is exceeded, and holdout contacts are never enqueued.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use zhiying_campaigns::{GLOBAL_HOLDOUT_SETTING, Runner, batch_config};
use zhiying_core::DataDir;
use zhiying_core::domain::CustomerRiskLevel;
use zhiying_core::schema::FACT_TABLES;
use zhiying_decision::{
    Channel, ConsentAnswer, ConsentEvent, ConsentView, InMemoryConsents, Purpose,
};
use zhiying_engine::{AnalyticsEngine, DataFusionEngine};
use zhiying_experiment::GlobalHoldout;
use zhiying_store::{
    ApprovalSnapshot, CampaignDraft, CampaignKind, CampaignStatus, Contact, ContactGroup,
    OperationalStore,
};
use zhiying_synth::{GenerateConfig, OutputFormat};

async fn bank(dir: &std::path::Path) -> DataDir {
    let out = dir.join("gen");
    let cfg = GenerateConfig {
        customers: 5_000,
        months: 12,
        seed: 23,
        out: out.clone(),
        format: OutputFormat::Parquet,
        ..GenerateConfig::default()
    };
    zhiying_synth::generate(&cfg, &mut |_| {}).unwrap();
    let dd = DataDir::new(dir.join("data"));
    for t in FACT_TABLES {
        let src = out.join(format!("{}.parquet", t.name));
        if src.exists() {
            let dst = dd.fact_batch(t.name, "synthetic");
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&src, &dst).unwrap();
        }
    }
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    zhiying_profiles::build(
        &dd,
        &engine,
        &zhiying_profiles::BuildOptions::default(),
        &|_| {},
    )
    .await
    .unwrap();
    dd
}

/// Creates a campaign and takes it through maker-checker to running.
async fn running_campaign(
    store: &dyn OperationalStore,
    name: &str,
    offers: &[&str],
    channels: &[&str],
    holdout: f64,
    spec: serde_json::Value,
) -> String {
    let draft = CampaignDraft {
        name: name.into(),
        kind: CampaignKind::Batch,
        audience: "age between 20 and 60".into(),
        offers: offers.iter().map(|s| s.to_string()).collect(),
        channels: channels.iter().map(|s| s.to_string()).collect(),
        schedule: serde_json::json!({"start": "2026-11-01", "end": "2026-12-31"}),
        budget_fen: 0,
        holdout_share: holdout,
        spec,
    };
    let c = store.create_campaign(&draft, "maker").await.unwrap();
    let id = c.campaign_id;
    let none = serde_json::Value::Null;
    store
        .transition_campaign(&id, CampaignStatus::Submitted, "maker", "", &none)
        .await
        .unwrap();
    let snap = serde_json::to_value(ApprovalSnapshot {
        audience_size: 0,
        expected_contacts: BTreeMap::new(),
        budget_fen: 0,
        content: serde_json::json!({}),
    })
    .unwrap();
    store
        .transition_campaign(&id, CampaignStatus::Approved, "checker", "ok", &snap)
        .await
        .unwrap();
    store
        .transition_campaign(&id, CampaignStatus::Running, "maker", "", &none)
        .await
        .unwrap();
    id
}

async fn outbox_rows(runner: &Runner) -> u64 {
    let t = runner.outbox().metrics().await.unwrap().total();
    (t.pending + t.sending + t.sent + t.dead) as u64
}

async fn fact_count(dd: &DataDir, sql: &str) -> u64 {
    let engine = DataFusionEngine::open(dd).await.unwrap();
    let rows = engine.query_json(sql).await.unwrap();
    rows[0]["n"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_measure_against_the_planted_truth_idempotently_and_within_every_policy() {
    let dir = tempfile::tempdir().unwrap();
    let dd = bank(dir.path()).await;
    let store = zhiying_store::open(None, &dd).await.unwrap();
    let outbox = zhiying_delivery::Outbox::open(dd.sqlite_path().to_str().unwrap())
        .await
        .unwrap();
    let runner = Runner::new(dd.clone(), store.clone(), outbox.clone());
    // Noon in Shanghai: no quiet hours; and a run an hour before midnight later.
    let noon = Utc.with_ymd_and_hms(2026, 11, 26, 4, 0, 0).unwrap();

    let global = GlobalHoldout {
        salt: "global-test".into(),
        share: 0.05,
    };
    store
        .put_setting(
            GLOBAL_HOLDOUT_SETTING,
            &serde_json::to_value(&global).unwrap(),
        )
        .await
        .unwrap();
    // Forty audience customers go on the do-not-contact list.
    let (index, _) = zhiying_audience::load_index(&dd).unwrap();
    let audience = index.members("age between 20 and 60").unwrap();
    let dnc: Vec<String> = audience
        .iter()
        .take(40)
        .map(|d| index.customer_id(d).unwrap().to_string())
        .collect();
    for c in &dnc {
        store.dnc_add(c, "test", "tester").await.unwrap();
    }

    // ---- (a) the demo campaign measured against its holdout ----
    let main = running_campaign(
        store.as_ref(),
        "信用卡、消费贷与基金",
        &["O001", "O004", "O006"],
        &["app_push", "wechat", "sms"],
        0.3,
        serde_json::json!({"channel_capacity": {"sms": 100}}),
    )
    .await;
    let run = runner.run(&main, noon).await.unwrap();
    assert!(!run.resumed);
    assert_eq!(run.send_at, noon);
    assert!(run.audience > 1_000, "{run:#?}");
    assert!(run.global_holdout > 0, "{run:#?}");
    assert!(
        run.treatment_contacts > 500 && run.holdout_contacts > 150,
        "{run:#?}"
    );
    assert_eq!(run.dropped_by_caps, 0);
    let opt = run.optimizer.as_ref().expect("the optimiser ran");
    assert!(
        opt.upper_bound >= opt.objective - 1e-6 && opt.gap >= 0.0 && opt.gap < 0.01,
        "{opt:#?}"
    );
    for policy in ["eligibility", "applicability", "suitability", "consent"] {
        assert!(
            run.removed_by_policy.get(policy).copied().unwrap_or(0) > 0,
            "{policy} removed nothing: {:?}",
            run.removed_by_policy
        );
    }
    assert_eq!(run.outbox_new, run.treatment_contacts);
    assert_eq!(outbox_rows(&runner).await, run.treatment_contacts);
    // The holdout share is what was asked (among assigned customers).
    let share =
        run.assigned_holdout as f64 / (run.assigned_holdout + run.assigned_treatment) as f64;
    assert!((share - 0.3).abs() < 0.03, "holdout share {share}");

    let sim = runner.simulate_responses(&main, 7).await.unwrap();
    assert_eq!(sim.treatment, run.treatment_contacts);
    assert_eq!(sim.holdout, run.holdout_contacts);
    assert!(sim.planted_lift > 0.005, "{sim:#?}");
    let engine = DataFusionEngine::open(&dd).await.unwrap();
    // Campaign ids are random, so every run of this test draws a fresh holdout split and
    // fresh responses: a 95% interval would miss the planted lift in 1 run out of 20 by
    // design. The 99.9% interval misses 1 in 1,000 and still catches any bias larger than
    // about 3.3 standard errors.
    let effects = zhiying_measure::campaign_effects(&engine, 0.001)
        .await
        .unwrap();
    let e = effects
        .iter()
        .find(|e| e.campaign_id == main)
        .expect("the campaign is measured");
    assert_eq!(e.treated.customers, sim.treatment);
    assert_eq!(e.untreated.customers, sim.holdout);
    assert_eq!(e.treated.converted, sim.conversions_treatment);
    assert_eq!(e.untreated.converted, sim.conversions_holdout);
    assert!(
        e.lift_ci[0] <= sim.planted_lift && sim.planted_lift <= e.lift_ci[1],
        "planted {:.4} outside measured {:.4} [{:.4}, {:.4}]",
        sim.planted_lift,
        e.lift,
        e.lift_ci[0],
        e.lift_ci[1]
    );

    // ---- (b) reruns duplicate nothing ----
    let sorted = |mut v: Vec<Contact>| {
        v.sort_by(|a, b| a.contact_id.cmp(&b.contact_id));
        v
    };
    let contacts_before = sorted(store.campaign_contacts(&main, None).await.unwrap());
    let again = runner
        .run(&main, noon + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert!(again.resumed);
    assert_eq!(
        (again.contacts_new, again.outbox_new, again.assignments_new),
        (0, 0, 0)
    );
    assert!(
        again.facts.iter().all(|f| f.accepted == 0),
        "{:?}",
        again.facts
    );
    assert_eq!(
        sorted(store.campaign_contacts(&main, None).await.unwrap()),
        contacts_before
    );
    assert_eq!(outbox_rows(&runner).await, run.treatment_contacts);
    let sim2 = runner.simulate_responses(&main, 7).await.unwrap();
    assert_eq!(sim2.responses_new, 0);
    assert!(
        sim2.facts.iter().all(|f| f.accepted == 0),
        "{:?}",
        sim2.facts
    );
    let n = fact_count(
        &dd,
        &format!("SELECT COUNT(*) AS n FROM contacts WHERE campaign_id = '{main}'"),
    )
    .await;
    assert_eq!(n, contacts_before.len() as u64);
    let n = fact_count(
        &dd,
        &format!("SELECT COUNT(DISTINCT response_id) - COUNT(*) AS n FROM responses WHERE campaign_id = '{main}'"),
    )
    .await;
    assert_eq!(n, 0, "duplicate responses");

    // A crash after the contacts were committed but before every message was enqueued:
    // the rerun enqueues the missing ones and nothing twice.
    let sms = running_campaign(
        store.as_ref(),
        "短信一",
        &["O001"],
        &["sms"],
        0.1,
        serde_json::Value::Null,
    )
    .await;
    let r = runner.run(&sms, noon).await.unwrap();
    let before = outbox_rows(&runner).await;
    let lost =
        sqlx::query("DELETE FROM delivery_outbox WHERE idempotency_key LIKE $1 AND id % 2 = 0")
            .bind(format!("{sms}:%"))
            .execute(outbox.pool())
            .await
            .unwrap()
            .rows_affected();
    assert!(lost > 0);
    let r2 = runner.run(&sms, noon).await.unwrap();
    assert!(r2.resumed);
    assert_eq!(r2.outbox_new, lost);
    assert_eq!(r2.contacts_new, 0);
    assert_eq!(outbox_rows(&runner).await, before);
    assert_eq!(r2.treatment_contacts, r.treatment_contacts);

    // ---- (c) invariants over every contact of four campaigns ----
    // Two more SMS campaigns: the SMS cap (2 in 7 days) must stop the fourth one.
    let sms2 = running_campaign(
        store.as_ref(),
        "短信二",
        &["O001"],
        &["sms"],
        0.1,
        serde_json::Value::Null,
    )
    .await;
    runner.run(&sms2, noon).await.unwrap();
    let sms3 = running_campaign(
        store.as_ref(),
        "短信三",
        &["O001"],
        &["sms"],
        0.1,
        serde_json::Value::Null,
    )
    .await;
    // An hour before midnight: SMS is quiet from 21:00, so it goes out at 08:00.
    let late = Utc.with_ymd_and_hms(2026, 11, 26, 15, 0, 0).unwrap();
    let r3 = runner.run(&sms3, late).await.unwrap();
    assert_eq!(
        r3.send_at,
        Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap()
    );
    assert!(
        r3.removed_by_policy
            .get("contact_policy")
            .copied()
            .unwrap_or(0)
            > 0,
        "the cap never bound: {:?}",
        r3.removed_by_policy
    );

    let campaigns = [main.clone(), sms, sms2, sms3];
    let mut all: Vec<Contact> = Vec::new();
    for id in &campaigns {
        all.extend(store.campaign_contacts(id, None).await.unwrap());
    }
    let consents = consents_from_facts(&dd).await;
    let dnc: HashSet<String> = dnc.into_iter().collect();
    let catalog = zhiying_decision::sample_catalog();
    let risk = risk_levels(&index);
    let config = batch_config();
    let mut per_customer: HashMap<&str, Vec<(DateTime<Utc>, Channel)>> = HashMap::new();
    let mut sms_main = 0;
    for k in &all {
        assert!(
            !global.contains(&k.customer_id),
            "{} is in the global holdout",
            k.contact_id
        );
        assert!(
            !dnc.contains(&k.customer_id),
            "{} is on the do-not-contact list",
            k.contact_id
        );
        let channel: Channel = k.channel.parse().unwrap();
        let ts = DateTime::from_timestamp_micros(k.ts).unwrap();
        let offer = catalog.get(&k.offer_id).unwrap();
        let level = risk
            .get(k.customer_id.as_str())
            .copied()
            .unwrap_or(CustomerRiskLevel::C1);
        assert!(
            level.may_hold(offer.risk_level),
            "{}: {level:?} offered {:?}",
            k.contact_id,
            offer.risk_level
        );
        if k.group != ContactGroup::Treatment {
            assert!(
                runner
                    .outbox()
                    .entry(&k.contact_id)
                    .await
                    .unwrap()
                    .is_none()
            );
            continue;
        }
        assert!(
            runner
                .outbox()
                .entry(&k.contact_id)
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            consents.check(&k.customer_id, Purpose::Marketing, channel, ts),
            ConsentAnswer::Granted,
            "{} has no marketing consent on {channel}",
            k.contact_id
        );
        if let Some(q) = config.quiet_hours.get(&channel) {
            assert!(!q.contains(ts), "{} in quiet hours", k.contact_id);
        }
        if k.campaign_id.as_deref() == Some(main.as_str()) && channel == Channel::Sms {
            sms_main += 1;
        }
        per_customer
            .entry(k.customer_id.as_str())
            .or_default()
            .push((ts, channel));
    }
    assert!(sms_main <= 100, "sms capacity 100, used {sms_main}");
    let mut max_sms = 0;
    for (customer, contacts) in &per_customer {
        for cap in &config.caps {
            let w = chrono::Duration::milliseconds(cap.window_ms());
            for (t, _) in contacts {
                let used = contacts
                    .iter()
                    .filter(|(u, c)| *u > *t - w && u <= t && cap.channel.is_none_or(|x| x == *c))
                    .count();
                assert!(
                    used as u32 <= cap.max,
                    "{customer}: {used} contacts break {cap:?}"
                );
            }
        }
        max_sms = max_sms.max(contacts.iter().filter(|(_, c)| *c == Channel::Sms).count());
    }
    assert_eq!(max_sms, 2, "some customers reach the SMS cap exactly");
}

/// The consent view rebuilt from the consents facts and the store's empty ledger.
async fn consents_from_facts(dd: &DataDir) -> InMemoryConsents {
    let engine = DataFusionEngine::open(dd).await.unwrap();
    let rows = engine
        .query_json(
            "SELECT customer_id, purpose, channel, granted, CAST(date_part('epoch', ts) AS BIGINT) AS epoch FROM consents ORDER BY ts",
        )
        .await
        .unwrap();
    let v = InMemoryConsents::new();
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let ts = DateTime::from_timestamp(r["epoch"].as_i64().unwrap(), 0).unwrap();
        if let Ok(e) = ConsentEvent::from_row(
            &s("customer_id"),
            &s("purpose"),
            &s("channel"),
            r["granted"].as_bool().unwrap(),
            ts,
        ) {
            v.record(e);
        }
    }
    v
}

fn risk_levels(index: &zhiying_audience::AudienceIndex) -> HashMap<String, CustomerRiskLevel> {
    let mut out = HashMap::new();
    for (code, level) in [
        ("c1", CustomerRiskLevel::C1),
        ("c2", CustomerRiskLevel::C2),
        ("c3", CustomerRiskLevel::C3),
        ("c4", CustomerRiskLevel::C4),
        ("c5", CustomerRiskLevel::C5),
    ] {
        for d in index
            .members(&format!("risk_level = \"{code}\""))
            .unwrap()
            .iter()
        {
            out.insert(index.customer_id(d).unwrap().to_string(), level);
        }
    }
    out
}
