//! Contract for the 0004 operational state (offers, campaigns, contact history, experiments,
//! model registry): every assertion runs against SQLite and PostgreSQL, through the
//! harness in `common/mod.rs`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;
use zhiying_store::{
    ApprovalSnapshot, Assignment, CampaignDraft, CampaignKind, CampaignStatus, Contact,
    ContactGroup, ContactStatus, Decision, ExperimentArm, ExperimentStatus, ModelStatus,
    NewExperiment, NewModel, OfferStatus, OperationalStore, Response, ResponseKind, StoreError,
};

type Store = Arc<dyn OperationalStore>;

async fn ops_contract(s: Store, second: Store) {
    offers(&s, &second).await;
    campaigns(&s, &second).await;
    contacts_decisions_responses(&s).await;
    experiments(&s, &second).await;
    models(&s, &second).await;
}

async fn offers(s: &Store, second: &Store) {
    let v1 = s
        .put_offer(
            "card-cashback",
            0,
            &json!({"product": "credit_card", "risk": "R2", "value_fen": 5000}),
            "alice",
            "first",
        )
        .await
        .expect("create offer");
    assert_eq!(
        (v1.version, v1.status, v1.updated_by.as_str()),
        (1, OfferStatus::Active, "alice")
    );
    // Creating again (expected version 0) is a conflict naming the current version.
    match s.put_offer("card-cashback", 0, &json!({}), "bob", "").await {
        Err(StoreError::VersionConflict {
            expected: 0,
            actual: 1,
            ..
        }) => {}
        other => panic!("re-create must conflict, got {other:?}"),
    }
    let v2 = s
        .put_offer(
            "card-cashback",
            1,
            &json!({"product": "credit_card", "risk": "R2", "value_fen": 8000}),
            "bob",
            "raise value",
        )
        .await
        .expect("version 2");
    assert_eq!(
        (v2.version, v2.updated_by.as_str(), v2.created_at),
        (2, "bob", v1.created_at)
    );
    // A stale writer (still at version 1) is refused and writes nothing.
    let stale = s
        .put_offer(
            "card-cashback",
            1,
            &json!({"value_fen": 1}),
            "carol",
            "stale",
        )
        .await;
    match &stale {
        Err(
            e @ StoreError::VersionConflict {
                expected: 1,
                actual: 2,
                ..
            },
        ) => {
            assert!(e.to_string().contains("reload"), "{e}");
        }
        other => panic!("stale write must conflict, got {other:?}"),
    }
    assert!(matches!(
        s.put_offer("no-such-offer", 3, &json!({}), "bob", "").await,
        Err(StoreError::NotFound { what: "offer", .. })
    ));
    assert!(matches!(
        s.put_offer("fund-a", 0, &json!([1, 2]), "bob", "").await,
        Err(StoreError::Invalid { field: "body", .. })
    ));
    assert!(matches!(
        s.put_offer(" bad id", 0, &json!({}), "bob", "").await,
        Err(StoreError::Invalid {
            field: "offer_id",
            ..
        })
    ));

    // Concurrent writers from two pools, both at version 2: exactly one wins.
    let (body_a, body_b) = (json!({"value_fen": 9000}), json!({"value_fen": 9500}));
    let (a, b) = tokio::join!(
        s.put_offer("card-cashback", 2, &body_a, "alice", "a"),
        second.put_offer("card-cashback", 2, &body_b, "bob", "b"),
    );
    let wins = [a.is_ok(), b.is_ok()].iter().filter(|w| **w).count();
    assert_eq!(wins, 1, "exactly one concurrent writer wins: {a:?} / {b:?}");
    for r in [&a, &b] {
        if let Err(e) = r {
            assert!(
                matches!(
                    e,
                    StoreError::VersionConflict {
                        expected: 2,
                        actual: 3,
                        ..
                    }
                ),
                "{e:?}"
            );
        }
    }
    let history = s.offer_history("card-cashback").await.expect("history");
    assert_eq!(
        history.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(history[1].note, "raise value");
    assert_eq!(history[0].body["value_fen"], json!(5000));
    let current = s
        .offer("card-cashback")
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(current.version, 3);
    assert_eq!(current.body, history[2].body);
    assert_eq!(
        s.offer_version("card-cashback", 2)
            .await
            .expect("v2")
            .map(|v| v.body["value_fen"].clone()),
        Some(json!(8000))
    );
    assert_eq!(s.offer_version("card-cashback", 9).await.expect("v9"), None);

    s.put_offer(
        "fund-a",
        0,
        &json!({"product": "fund", "risk": "R4"}),
        "alice",
        "",
    )
    .await
    .expect("second offer");
    let retired = s
        .set_offer_status("fund-a", OfferStatus::Retired)
        .await
        .expect("retire");
    assert_eq!(retired.status, OfferStatus::Retired);
    let live: Vec<String> = s
        .offers(false)
        .await
        .expect("list")
        .into_iter()
        .map(|o| o.offer_id)
        .collect();
    assert_eq!(live, ["card-cashback"]);
    let all: Vec<String> = s
        .offers(true)
        .await
        .expect("list all")
        .into_iter()
        .map(|o| o.offer_id)
        .collect();
    assert_eq!(all, ["card-cashback", "fund-a"]);
    assert!(matches!(
        s.set_offer_status("nope", OfferStatus::Active).await,
        Err(StoreError::NotFound { .. })
    ));
}

fn draft(name: &str, budget_fen: i64) -> CampaignDraft {
    CampaignDraft {
        name: name.into(),
        kind: CampaignKind::Batch,
        audience: "aum_tier = 'high'".into(),
        offers: vec!["card-cashback".into()],
        channels: vec!["sms".into(), "app".into()],
        schedule: json!({"start": "2025-01-01", "end": "2025-01-31"}),
        budget_fen,
        holdout_share: 0.1,
        spec: json!({"caps": {"sms_per_week": 1}}),
    }
}

fn seen(budget_fen: i64) -> serde_json::Value {
    serde_json::to_value(ApprovalSnapshot {
        audience_size: 12_000,
        expected_contacts: BTreeMap::from([("sms".into(), 9_000), ("app".into(), 10_800)]),
        budget_fen,
        content: json!({"sms": "尊敬的客户，您的信用卡返现活动已开启"}),
    })
    .expect("snapshot json")
}

async fn campaigns(s: &Store, second: &Store) {
    let c = s
        .create_campaign(&draft("春季返现", 500_000), "alice")
        .await
        .expect("create");
    assert!(
        c.campaign_id.starts_with("cmp-") && c.campaign_id.len() == 16,
        "{}",
        c.campaign_id
    );
    assert_eq!(
        (c.status, c.created_by.as_str()),
        (CampaignStatus::Draft, "alice")
    );
    let id = c.campaign_id.clone();
    let null = serde_json::Value::Null;

    // Edits in draft are kept.
    let edited = s
        .update_campaign(&id, &draft("春季返现", 600_000))
        .await
        .expect("edit draft");
    assert_eq!(edited.draft.budget_fen, 600_000);
    assert!(matches!(
        s.update_campaign(
            &id,
            &CampaignDraft {
                holdout_share: 1.0,
                ..draft("x", 1)
            }
        )
        .await,
        Err(StoreError::Invalid {
            field: "holdout_share",
            ..
        })
    ));

    // Illegal: straight from draft to approved or running.
    for to in [CampaignStatus::Approved, CampaignStatus::Running] {
        match s
            .transition_campaign(&id, to, "carol", "", &seen(600_000))
            .await
        {
            Err(e @ StoreError::IllegalTransition { .. }) => {
                assert!(
                    e.to_string()
                        .contains("from draft it may go to: submitted, cancelled"),
                    "{e}"
                );
            }
            other => panic!("draft → {to} must be refused, got {other:?}"),
        }
    }
    let submitted = s
        .transition_campaign(&id, CampaignStatus::Submitted, "bob", "ready", &null)
        .await
        .expect("submit");
    assert_eq!(
        (submitted.status, submitted.submitted_by.as_deref()),
        (CampaignStatus::Submitted, Some("bob"))
    );
    // No edits once submitted.
    assert!(matches!(
        s.update_campaign(&id, &draft("late edit", 1)).await,
        Err(StoreError::NotEditable { status, .. }) if status == "submitted"
    ));
    // Maker-checker: neither the creator nor the submitter may approve.
    match s
        .transition_campaign(&id, CampaignStatus::Approved, "alice", "", &seen(600_000))
        .await
    {
        Err(StoreError::SelfApproval {
            role: "created",
            actor,
            ..
        }) => assert_eq!(actor, "alice"),
        other => panic!("creator approval must be refused, got {other:?}"),
    }
    assert!(matches!(
        s.transition_campaign(&id, CampaignStatus::Approved, "bob", "", &seen(600_000))
            .await,
        Err(StoreError::SelfApproval {
            role: "submitted",
            ..
        })
    ));
    // An approval must carry what the approver saw, with the real budget.
    assert!(matches!(
        s.transition_campaign(&id, CampaignStatus::Approved, "carol", "", &null)
            .await,
        Err(StoreError::Invalid {
            field: "snapshot",
            ..
        })
    ));
    assert!(matches!(
        s.transition_campaign(&id, CampaignStatus::Approved, "carol", "", &seen(500_000))
            .await,
        Err(StoreError::Invalid {
            field: "snapshot.budget_fen",
            ..
        })
    ));
    assert_eq!(
        s.campaign(&id).await.expect("get").map(|c| c.status),
        Some(CampaignStatus::Submitted)
    );

    // Reject, back to draft (which clears the submitter), edit, resubmit, approve.
    s.transition_campaign(
        &id,
        CampaignStatus::Rejected,
        "carol",
        "copy too pushy",
        &json!({"content": "v1"}),
    )
    .await
    .expect("reject");
    let back = s
        .transition_campaign(&id, CampaignStatus::Draft, "alice", "rework", &null)
        .await
        .expect("to draft");
    assert_eq!(back.submitted_by, None);
    s.update_campaign(&id, &draft("春季返现", 550_000))
        .await
        .expect("edit after rejection");
    s.transition_campaign(&id, CampaignStatus::Submitted, "alice", "v2", &null)
        .await
        .expect("resubmit");
    // bob submitted the first time only; now he may approve (he is neither creator nor submitter).
    let approved = s
        .transition_campaign(&id, CampaignStatus::Approved, "bob", "ok", &seen(550_000))
        .await
        .expect("approve");
    assert_eq!(approved.approved_by.as_deref(), Some("bob"));
    for to in [
        CampaignStatus::Running,
        CampaignStatus::Paused,
        CampaignStatus::Running,
        CampaignStatus::Completed,
    ] {
        s.transition_campaign(&id, to, "ops", "", &null)
            .await
            .expect("run lifecycle");
    }
    assert!(matches!(
        s.transition_campaign(&id, CampaignStatus::Cancelled, "ops", "", &null).await,
        Err(StoreError::IllegalTransition { allowed, .. }) if allowed.contains("final")
    ));

    let history = s.campaign_transitions(&id).await.expect("history");
    let moves: Vec<(Option<CampaignStatus>, CampaignStatus, &str)> = history
        .iter()
        .map(|t| (t.from, t.to, t.actor.as_str()))
        .collect();
    use CampaignStatus::*;
    assert_eq!(
        moves,
        vec![
            (None, Draft, "alice"),
            (Some(Draft), Submitted, "bob"),
            (Some(Submitted), Rejected, "carol"),
            (Some(Rejected), Draft, "alice"),
            (Some(Draft), Submitted, "alice"),
            (Some(Submitted), Approved, "bob"),
            (Some(Approved), Running, "ops"),
            (Some(Running), Paused, "ops"),
            (Some(Paused), Running, "ops"),
            (Some(Running), Completed, "ops"),
        ]
    );
    assert_eq!(history[5].snapshot["audience_size"], json!(12_000));
    assert_eq!(history[5].snapshot["budget_fen"], json!(550_000));
    assert_eq!(history[2].note, "copy too pushy");

    // Two checkers racing to move the same submitted campaign: one wins, the other is refused.
    let c2 = s
        .create_campaign(
            &CampaignDraft {
                kind: CampaignKind::Triggered,
                ..draft("工资到账", 0)
            },
            "alice",
        )
        .await
        .expect("c2");
    s.transition_campaign(&c2.campaign_id, Submitted, "alice", "", &null)
        .await
        .expect("submit c2");
    let seen_c2 = seen(0);
    let (a, b) = tokio::join!(
        s.transition_campaign(&c2.campaign_id, Approved, "carol", "", &seen_c2),
        second.transition_campaign(&c2.campaign_id, Rejected, "dave", "", &null),
    );
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "{a:?} / {b:?}"
    );
    assert!(matches!(
        a.as_ref().err().or(b.as_ref().err()),
        Some(StoreError::IllegalTransition { .. })
    ));
    assert_eq!(
        s.campaign_transitions(&c2.campaign_id)
            .await
            .expect("h")
            .len(),
        3
    );

    let submitted_or_later: Vec<String> = s
        .campaigns(Some(Completed))
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.campaign_id)
        .collect();
    assert_eq!(submitted_or_later, vec![id]);
    assert_eq!(s.campaigns(None).await.expect("all").len(), 2);
    assert!(matches!(
        s.transition_campaign("cmp-missing", Submitted, "a", "", &null)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

fn contact(
    id: &str,
    customer: &str,
    channel: &str,
    ts: i64,
    group: ContactGroup,
    status: ContactStatus,
) -> Contact {
    Contact {
        contact_id: id.into(),
        campaign_id: Some("cmp-measure".into()),
        decision_id: None,
        customer_id: customer.into(),
        offer_id: "card-cashback".into(),
        channel: channel.into(),
        ts,
        group,
        status,
    }
}

async fn contacts_decisions_responses(s: &Store) {
    use ContactGroup::*;
    use ContactStatus::*;
    let mut batch = vec![
        contact("k1", "c1", "sms", 1_000, Treatment, Sent),
        contact("k2", "c1", "sms", 2_000, Treatment, Delivered),
        contact("k3", "c1", "app", 3_000, Treatment, Planned),
        contact("k4", "c1", "sms", 4_000, Treatment, Failed),
        contact("k5", "c1", "email", 5_000, Holdout, Planned),
        contact("k6", "c1", "sms", 100, Treatment, Sent),
        contact("k7", "c2", "sms", 3_000, Control, Planned),
    ];
    batch[6].decision_id = Some("d-2".into());
    assert_eq!(s.record_contacts(&batch).await.expect("contacts"), 7);
    // A retried batch adds nothing and changes nothing.
    let mut retried = batch.clone();
    retried[0].status = Failed;
    assert_eq!(s.record_contacts(&retried).await.expect("retry"), 0);
    let counts = s.contact_counts("c1", 1_000).await.expect("counts");
    assert_eq!(
        counts,
        BTreeMap::from([("sms".into(), 2), ("app".into(), 1)]),
        "failed, holdout and old contacts do not count"
    );
    assert!(
        s.set_contact_status("k3", Suppressed)
            .await
            .expect("suppress")
    );
    assert!(!s.set_contact_status("k-none", Sent).await.expect("missing"));
    assert_eq!(
        s.contact_counts("c1", 1_000).await.expect("counts"),
        BTreeMap::from([("sms".into(), 2)])
    );
    assert!(s.contact_counts("c9", 0).await.expect("none").is_empty());
    assert!(matches!(
        s.record_contacts(&[contact("k8", "", "sms", 1, Treatment, Sent)]).await,
        Err(StoreError::Invalid { field: "customer_id", reason }) if reason.contains("row 0 ('k8')")
    ));
    let treated = s
        .campaign_contacts("cmp-measure", Some(Treatment))
        .await
        .expect("by group");
    assert_eq!(
        treated
            .iter()
            .map(|c| c.contact_id.as_str())
            .collect::<Vec<_>>(),
        ["k6", "k1", "k2", "k3", "k4"]
    );
    assert_eq!(
        s.campaign_contacts("cmp-measure", None)
            .await
            .expect("all")
            .len(),
        7
    );

    let d = Decision {
        decision_id: "d-1".into(),
        customer_id: "c1".into(),
        channel: "app".into(),
        ts: 10,
        is_control: false,
        ranked_offers: vec!["card-cashback".into(), "fund-a".into()],
        explanation: json!({"card-cashback": {"propensity": 0.12, "value": 80.0}}),
    };
    let d2 = Decision {
        decision_id: "d-2".into(),
        customer_id: "c2".into(),
        ts: 20,
        is_control: true,
        ..d.clone()
    };
    assert_eq!(
        s.record_decisions(&[d.clone(), d2.clone()])
            .await
            .expect("decisions"),
        2
    );
    assert_eq!(
        s.record_decisions(std::slice::from_ref(&d))
            .await
            .expect("replay"),
        0
    );
    assert_eq!(s.decision("d-1").await.expect("get"), Some(d.clone()));
    assert_eq!(
        s.customer_decisions("c2", 10).await.expect("by customer"),
        vec![d2]
    );

    let resp = |id: &str,
                contact: Option<&str>,
                decision: Option<&str>,
                kind: ResponseKind,
                revenue: i64| Response {
        response_id: id.into(),
        decision_id: decision.map(Into::into),
        contact_id: contact.map(Into::into),
        customer_id: "c1".into(),
        offer_id: "card-cashback".into(),
        kind,
        ts: 6_000,
        revenue_fen: revenue,
    };
    let first = vec![
        resp("r1", Some("k1"), None, ResponseKind::Click, 0),
        resp("r2", Some("k1"), None, ResponseKind::Convert, 12_000),
        resp("r3", None, Some("d-2"), ResponseKind::Accept, 0),
        resp("r4", None, Some("d-unrelated"), ResponseKind::Impression, 0),
    ];
    assert_eq!(s.record_responses(&first).await.expect("responses"), 4);
    // The same id reported again (a webhook retry, even with other values) is ignored.
    let again = vec![resp("r2", Some("k1"), None, ResponseKind::Convert, 99_999)];
    assert_eq!(s.record_responses(&again).await.expect("retry"), 0);
    assert!(matches!(
        s.record_responses(&[resp("r9", None, None, ResponseKind::Click, 0)])
            .await,
        Err(StoreError::Invalid {
            field: "decision_id/contact_id",
            ..
        })
    ));
    let measured = s
        .campaign_responses("cmp-measure")
        .await
        .expect("campaign responses");
    let got: Vec<(&str, &str, ContactGroup, i64)> = measured
        .iter()
        .map(|r| {
            (
                r.response.response_id.as_str(),
                r.matched_contact_id.as_str(),
                r.group,
                r.response.revenue_fen,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("r1", "k1", Treatment, 0),
            ("r2", "k1", Treatment, 12_000),
            ("r3", "k7", Control, 0)
        ]
    );
    assert_eq!(
        s.customer_responses("c1", 6_000)
            .await
            .expect("by customer")
            .len(),
        4
    );
    assert!(
        s.customer_responses("c1", 6_001)
            .await
            .expect("later")
            .is_empty()
    );
}

fn experiment(id: &str, layer: &str, start: u32, end: u32) -> NewExperiment {
    NewExperiment {
        experiment_id: id.into(),
        name: format!("{id} test"),
        salt: format!("salt-{id}"),
        layer: layer.into(),
        bucket_start: start,
        bucket_end: end,
        arms: vec![
            ExperimentArm {
                name: "control".into(),
                weight: 1.0,
            },
            ExperimentArm {
                name: "mens".into(),
                weight: 1.0,
            },
            ExperimentArm {
                name: "womens".into(),
                weight: 2.0,
            },
        ],
        control_arm: "control".into(),
    }
}

async fn experiments(s: &Store, second: &Store) {
    let e = s
        .create_experiment(&experiment("hill", "email", 0, 5_000))
        .await
        .expect("create");
    assert_eq!(e.status, ExperimentStatus::Draft);
    assert!(matches!(
        s.create_experiment(&experiment("hill", "other", 0, 10))
            .await,
        Err(StoreError::Conflict {
            what: "experiment",
            ..
        })
    ));
    match s
        .create_experiment(&experiment("overlap", "email", 4_999, 6_000))
        .await
    {
        Err(StoreError::Invalid {
            field: "bucket range",
            reason,
        }) => assert!(reason.contains("'hill'"), "{reason}"),
        other => panic!("overlapping buckets must be refused, got {other:?}"),
    }
    s.create_experiment(&experiment("beside", "email", 5_000, 10_000))
        .await
        .expect("adjacent range");
    s.create_experiment(&experiment("other-layer", "push", 0, 10_000))
        .await
        .expect("other layer");
    assert!(matches!(
        s.create_experiment(&NewExperiment {
            control_arm: "nobody".into(),
            ..experiment("x", "y", 0, 1)
        })
        .await,
        Err(StoreError::Invalid {
            field: "control_arm",
            ..
        })
    ));
    assert!(matches!(
        s.create_experiment(&experiment("x", "y", 5, 10_001)).await,
        Err(StoreError::Invalid {
            field: "bucket range",
            ..
        })
    ));
    assert_eq!(
        s.experiments()
            .await
            .expect("list")
            .iter()
            .map(|e| e.spec.experiment_id.as_str())
            .collect::<Vec<_>>(),
        ["hill", "beside", "other-layer"]
    );
    assert_eq!(
        s.experiment("hill")
            .await
            .expect("get")
            .map(|e| e.spec.arms.len()),
        Some(3)
    );
    s.set_experiment_status("hill", ExperimentStatus::Running)
        .await
        .expect("start");
    assert!(matches!(
        s.set_experiment_status("hill", ExperimentStatus::Draft)
            .await,
        Err(StoreError::IllegalTransition { .. })
    ));

    // Bulk: 9,000 customers (several multi-row statements), then a replay that would move
    // everyone to another arm: the first assignment wins.
    let arms = ["control", "mens", "womens"];
    let rows: Vec<Assignment> = (0..9_000)
        .map(|i| Assignment {
            experiment_id: "hill".into(),
            customer_id: format!("c{i:05}"),
            arm: arms[i % 3].into(),
            assigned_at: 1_000 + i as i64,
        })
        .collect();
    assert_eq!(s.record_assignments(&rows).await.expect("bulk"), 9_000);
    let moved: Vec<Assignment> = rows
        .iter()
        .map(|a| Assignment {
            arm: "womens".into(),
            assigned_at: 99,
            ..a.clone()
        })
        .collect();
    let (x, y) = tokio::join!(
        s.record_assignments(&moved[..4_500]),
        second.record_assignments(&moved[4_000..])
    );
    assert_eq!((x.expect("replay a"), y.expect("replay b")), (0, 0));
    assert_eq!(
        s.assignment_counts("hill").await.expect("counts"),
        BTreeMap::from([
            ("control".into(), 3_000),
            ("mens".into(), 3_000),
            ("womens".into(), 3_000)
        ])
    );
    assert_eq!(
        s.assignment("hill", "c00004").await.expect("one"),
        Some(rows[4].clone())
    );
    assert_eq!(s.assignment("hill", "nobody").await.expect("none"), None);
    // Paged read-back returns exactly what was written.
    let mut read = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .assignments("hill", after.as_deref(), 2_000)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.customer_id.clone());
        read.extend(page);
    }
    assert_eq!(read, rows);
    assert!(matches!(
        s.record_assignments(&[Assignment {
            arm: "kids".into(),
            ..rows[0].clone()
        }])
        .await,
        Err(StoreError::Invalid { field: "arm", .. })
    ));
    assert!(matches!(
        s.record_assignments(&[Assignment {
            experiment_id: "nope".into(),
            ..rows[0].clone()
        }])
        .await,
        Err(StoreError::NotFound { .. })
    ));
    // Once stopped, its range is free for a new experiment.
    s.set_experiment_status("hill", ExperimentStatus::Stopped)
        .await
        .expect("stop");
    s.create_experiment(&experiment("hill-2", "email", 0, 5_000))
        .await
        .expect("reuse range");
}

fn model(name: &str, by: &str) -> NewModel {
    NewModel {
        name: name.into(),
        algorithm: "gbdt".into(),
        target: "churned_90d".into(),
        features: vec!["aum".into(), "logins_30d".into()],
        metrics: json!({"auc": 0.81, "ks": 0.44}),
        artifact_path: format!("models/{name}/model.json"),
        sha256: "AB".repeat(32),
        training_data_hash: "d41d8cd9".into(),
        created_by: by.into(),
    }
}

async fn approve(s: &Store, name: &str, version: u64) {
    s.transition_model(name, version, ModelStatus::Submitted, "alice", "")
        .await
        .expect("submit model");
    s.transition_model(name, version, ModelStatus::Approved, "carol", "validated")
        .await
        .expect("approve model");
}

async fn models(s: &Store, second: &Store) {
    let v1 = s
        .register_model(&model("churn", "alice"))
        .await
        .expect("register");
    assert_eq!((v1.version, v1.status), (1, ModelStatus::Draft));
    assert_eq!(v1.model.sha256, "ab".repeat(32), "stored lowercase");
    let v2 = s
        .register_model(&model("churn", "alice"))
        .await
        .expect("register v2");
    assert_eq!(v2.version, 2);
    assert!(matches!(
        s.register_model(&NewModel {
            sha256: "xyz".into(),
            ..model("churn", "alice")
        })
        .await,
        Err(StoreError::Invalid {
            field: "sha256",
            ..
        })
    ));

    // Illegal: a draft cannot be approved or promoted.
    assert!(matches!(
        s.transition_model("churn", 1, ModelStatus::Approved, "carol", "")
            .await,
        Err(StoreError::IllegalTransition { .. })
    ));
    assert!(matches!(
        s.promote_model("churn", 1, "ops", "").await,
        Err(StoreError::IllegalTransition { .. })
    ));
    s.transition_model("churn", 1, ModelStatus::Submitted, "bob", "")
        .await
        .expect("submit");
    assert!(matches!(
        s.transition_model("churn", 1, ModelStatus::Approved, "alice", "")
            .await,
        Err(StoreError::SelfApproval {
            role: "created",
            ..
        })
    ));
    assert!(matches!(
        s.transition_model("churn", 1, ModelStatus::Approved, "bob", "")
            .await,
        Err(StoreError::SelfApproval {
            role: "submitted",
            ..
        })
    ));
    let ok = s
        .transition_model("churn", 1, ModelStatus::Approved, "carol", "")
        .await
        .expect("approve");
    assert_eq!(ok.approved_by.as_deref(), Some("carol"));

    let first = s
        .promote_model("churn", 1, "ops", "go live")
        .await
        .expect("promote v1");
    assert_eq!(
        (first.champion.status, first.retired),
        (ModelStatus::Champion, None)
    );
    approve(s, "churn", 2).await;
    let swap = s
        .promote_model("churn", 2, "ops", "better auc")
        .await
        .expect("promote v2");
    assert_eq!(swap.champion.version, 2);
    assert_eq!(
        swap.retired.as_ref().map(|m| (m.version, m.status)),
        Some((1, ModelStatus::Retired))
    );
    assert_eq!(
        s.champion_model("churn")
            .await
            .expect("champion")
            .map(|m| m.version),
        Some(2)
    );
    assert_eq!(
        s.model("churn", 1).await.expect("v1").map(|m| m.status),
        Some(ModelStatus::Retired)
    );
    let h1: Vec<_> = s
        .model_transitions("churn", 1)
        .await
        .expect("h")
        .into_iter()
        .map(|t| (t.from, t.to, t.note))
        .collect();
    assert_eq!(
        h1.last(),
        Some(&(
            Some(ModelStatus::Champion),
            ModelStatus::Retired,
            "replaced by version 2".to_string()
        ))
    );
    assert_eq!(
        h1.len(),
        5,
        "registered, submitted, approved, champion, retired: {h1:?}"
    );

    // Concurrent promotions of two approved versions from two pools: they serialise, the
    // loser of the race retires the winner or vice versa, and there is never more than one champion.
    for _ in 0..2 {
        s.register_model(&model("churn", "alice"))
            .await
            .expect("register more");
    }
    approve(s, "churn", 3).await;
    approve(s, "churn", 4).await;
    let (a, b) = tokio::join!(
        s.promote_model("churn", 3, "ops", ""),
        second.promote_model("churn", 4, "ops2", "")
    );
    let (a, b) = (a.expect("promote 3"), b.expect("promote 4"));
    let champions: Vec<u64> = s
        .models(Some("churn"))
        .await
        .expect("list")
        .into_iter()
        .filter(|m| m.status == ModelStatus::Champion)
        .map(|m| m.version)
        .collect();
    assert_eq!(champions.len(), 1, "{champions:?}");
    let later = if a.retired.as_ref().map(|m| m.version) == Some(4) {
        3
    } else {
        4
    };
    assert_eq!(champions, [later]);
    assert_eq!(
        [a.retired.map(|m| m.version), b.retired.map(|m| m.version)]
            .iter()
            .flatten()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        std::collections::BTreeSet::from([2, 7 - later]),
        "each promotion retired exactly the champion before it"
    );
    assert!(s.champion_model("fraud").await.expect("none").is_none());
    assert_eq!(s.models(None).await.expect("all").len(), 4);
    assert!(matches!(
        s.transition_model("churn", 99, ModelStatus::Submitted, "a", "")
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_passes_the_ops_contract() {
    common::on_sqlite(|s, second| ops_contract(s, second)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_passes_the_ops_contract() {
    common::on_postgres("ops", |s, second| ops_contract(s, second)).await;
}
