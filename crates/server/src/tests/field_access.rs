//! Field-level access: the policy per role in the customer 360, the unmask endpoint, the
//! access export, and a property test that no role without clearance gets a clear C2 value.

use super::*;
use proptest::prelude::*;
use zhiying_core::access::{Permission, role_permissions};
use zhiying_core::schema::Sensitivity;
use zhiying_pii::{Display, FieldPolicy};

fn bearer(f: &Fixture, role: Role) -> String {
    format!("Bearer {}", f.tokens[&role])
}

fn data_dir(f: &Fixture) -> std::path::PathBuf {
    f._tmp.path().join("data")
}

fn write_policy(f: &Fixture, toml: &str) {
    std::fs::write(data_dir(f).join(zhiying_pii::policy::POLICY_FILE), toml).unwrap();
}

async fn post_json(app: &App, uri: &str, auth: &str, body: Value) -> Got {
    send(
        app,
        "POST",
        uri,
        &[
            ("authorization", auth),
            ("content-type", "application/json"),
        ],
        Body::from(body.to_string()),
    )
    .await
}

#[tokio::test]
async fn the_360_follows_the_policy_for_every_role() {
    let f = fixture(true).await;
    for role in Role::ALL {
        let g = get_with(
            &f.app,
            "/v1/customers/C00000001",
            &[("authorization", &bearer(&f, role))],
        )
        .await;
        if !role_permissions(role).contains(&Permission::CustomerRead) {
            assert_error(&g, 403, "forbidden");
            assert!(!g.body.contains("13812345678"));
            continue;
        }
        assert_eq!(g.status, StatusCode::OK, "{role:?}: {}", g.body);
        let v = g.json();
        assert_eq!(v["pii_masked"], true, "{role:?}");
        assert_eq!(v["profile"]["phone"], "138****5678", "{role:?}");
        assert_eq!(v["profile"]["name"], "张**", "{role:?}");
        assert_eq!(v["field_access"]["C2"], "masked", "{role:?}");
        assert_eq!(v["field_access"]["C1"], "clear", "{role:?}");
        assert_eq!(v["profile"]["city"], "上海", "C1 stays clear");
        for leaked in [
            "13812345678",
            "110101198506011234",
            "张三丰",
            "zhang@example.com",
        ] {
            assert!(!g.body.contains(leaked), "{role:?} got {leaked}");
        }
    }

    // A data directory's policy file overrides the defaults: analysts lose C2 identity data
    // altogether and see amounts generalised.
    write_policy(
        &f,
        "[roles.analyst]\nC2 = \"hidden\"\nC2_financial = \"masked\"\n",
    );
    let g = get_with(
        &f.app,
        "/v1/customers/C00000001",
        &[("authorization", &bearer(&f, Role::Analyst))],
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(v["profile"]["phone"], Value::Null);
    assert_eq!(v["profile"]["name"], Value::Null);
    assert_eq!(
        v["identifiers"],
        json!([]),
        "hidden identifiers are left out"
    );
    assert_eq!(v["accounts"][0]["account_id"], "A1");
    assert_eq!(
        v["accounts"][0]["balance_fen"], 1_200_000,
        "¥12,345.60 → ¥12,000"
    );
    assert_eq!(v["accounts"][0]["balance"], "¥12,000.00");
    assert_eq!(v["field_access"]["C2"], "hidden");
    assert_eq!(v["field_access"]["C2_financial"], "masked");
    assert!(!g.body.contains("1234560"));
    // The console page renders the same view.
    let page = get_with(
        &f.app,
        "/console/customers/C00000001",
        &[("authorization", &bearer(&f, Role::Analyst))],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains("138****5678") && !page.body.contains("13812345678"));
    assert!(!page.body.contains("12,345.60"));
    // Marketers keep the defaults.
    let m = get_with(
        &f.app,
        "/v1/customers/C00000001",
        &[("authorization", &bearer(&f, Role::Marketer))],
    )
    .await
    .json();
    assert_eq!(m["profile"]["phone"], "138****5678");
    assert_eq!(m["accounts"][0]["balance_fen"], 1_234_560);

    // A broken policy file is an error, never a silent fallback to clear values.
    write_policy(&f, "[roles.boss]\nC2 = \"clear\"\n");
    let g = get_with(
        &f.app,
        "/v1/customers/C00000001",
        &[("authorization", &bearer(&f, Role::Marketer))],
    )
    .await;
    assert_error(&g, 500, "internal_error");
    assert!(!g.body.contains("13812345678"));
}

#[tokio::test]
async fn the_unmask_endpoint_needs_the_permission_and_a_reason_and_is_audited() {
    let f = fixture(true).await;
    let uri = "/v1/customers/C00000001/unmask";
    let officer = bearer(&f, Role::ComplianceOfficer);

    let g = post_json(&f.app, uri, &officer, json!({"fields": ["phone"]})).await;
    assert_error(&g, 400, "unmask_reason_required");
    assert!(
        g.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("reason")
    );
    let g = post_json(
        &f.app,
        uri,
        &officer,
        json!({"reason": " ", "fields": ["phone"]}),
    )
    .await;
    assert_error(&g, 400, "unmask_reason_required");
    let g = post_json(
        &f.app,
        uri,
        &officer,
        json!({"reason": "complaint #7", "fields": ["password"]}),
    )
    .await;
    assert_error(&g, 400, "unknown_field");

    for role in [
        Role::Marketer,
        Role::Analyst,
        Role::Admin,
        Role::ChannelSystem,
    ] {
        let g = post_json(
            &f.app,
            uri,
            &bearer(&f, role),
            json!({"reason": "just curious", "fields": ["phone"]}),
        )
        .await;
        assert_error(&g, 403, "forbidden");
        assert!(!g.body.contains("13812345678"), "{role:?}");
    }

    let g = post_json(
        &f.app,
        uri,
        &officer,
        json!({"reason": "complaint #118", "fields": ["phone", "name", "identifiers"]}),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(
        v["fields"],
        json!({"phone": "13812345678", "name": "张三丰"})
    );
    assert_eq!(
        v["identifiers"],
        json!([{"customer_id": "C00000001", "id_type": "phone", "id_value": "13812345678"}])
    );
    assert_eq!(v["withheld"], json!([]));
    let seq = v["audit_seq"].as_u64().unwrap();

    let agent = bearer(&f, Role::ServiceAgent);
    let g = post_json(
        &f.app,
        uri,
        &agent,
        json!({"reason": "caller verification"}),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let all = g.json();
    assert_eq!(all["fields"]["resident_id"], "110101198506011234");
    assert_eq!(all["fields"]["email"], "zhang@example.com");
    assert_eq!(all["fields"]["monthly_income_fen"], 1_500_000);

    let g = post_json(
        &f.app,
        "/v1/customers/C09999999/unmask",
        &officer,
        json!({"reason": "complaint #118"}),
    )
    .await;
    assert_error(&g, 404, "customer_not_found");

    // Hidden stays hidden, even unmasked.
    write_policy(&f, "[roles.service_agent]\nC2 = \"hidden\"\n");
    let g = post_json(
        &f.app,
        uri,
        &agent,
        json!({"reason": "caller verification", "fields": ["phone"]}),
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.json()["fields"]["phone"], Value::Null);
    assert_eq!(g.json()["withheld"], json!(["phone"]));

    // Who, which fields, why.
    let entries = f
        .store
        .audit_search(
            &zhiying_store::AuditFilter {
                action: Some("pii.unmask".into()),
                ..Default::default()
            },
            20,
        )
        .await
        .unwrap();
    let first = entries.iter().find(|e| e.seq == seq).expect("audited");
    assert_eq!(first.actor, "compliance_officer-user");
    assert_eq!(first.target, "customer:C00000001");
    let d: Value = serde_json::from_str(&first.detail).unwrap();
    assert_eq!(d["reason"], "complaint #118");
    assert_eq!(d["fields"], json!(["phone", "name", "identifiers"]));
    assert_eq!(d["via"], "api");
    assert_eq!(
        entries.len(),
        4,
        "one entry per successful call, the 404 included"
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.detail.contains("13812345678") && !e.detail.contains("张三丰")),
        "the audit log names fields, never values"
    );
}

#[tokio::test]
async fn the_access_export_follows_the_policy() {
    let f = fixture(true).await;
    let officer = bearer(&f, Role::ComplianceOfficer);
    let g = get_with(
        &f.app,
        "/v1/customers/C00000001/export",
        &[("authorization", &officer)],
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    let v = g.json();
    assert_eq!(v["facts"]["customers"][0]["phone"], "13812345678");
    write_policy(&f, "[roles.compliance_officer]\nC2 = \"hidden\"\n");
    let g = get_with(
        &f.app,
        "/v1/customers/C00000001/export",
        &[("authorization", &officer)],
    )
    .await;
    let v = g.json();
    assert_eq!(v["facts"]["customers"][0]["phone"], Value::Null);
    assert_eq!(v["facts"]["customers"][0]["city"], "上海");
    assert!(!g.body.contains("13812345678"), "{}", g.body);
}

/// A C2 field of the 360 view for C00000001: where it is, its clear value, and whether it
/// is an amount (policy column `C2_financial`).
struct Field {
    pointer: &'static str,
    clear: Value,
    amount: bool,
}

fn fields() -> Vec<Field> {
    let text = |pointer, v: &str| Field {
        pointer,
        clear: Value::from(v),
        amount: false,
    };
    // Amounts that masking changes (not already round to two digits).
    let amount = |pointer, v: i64| Field {
        pointer,
        clear: Value::from(v),
        amount: true,
    };
    vec![
        text("/profile/name", "张三丰"),
        text("/profile/resident_id", "110101198506011234"),
        text("/profile/phone", "13812345678"),
        text("/profile/email", "zhang@example.com"),
        text("/identifiers/0/id_value", "6222021234567890"),
        amount("/accounts/0/balance_fen", 1_234_560),
        amount("/recent_transactions/1/amount_fen", 12_345),
    ]
}

fn display_strategy() -> impl Strategy<Value = Display> {
    prop::sample::select(vec![Display::Hidden, Display::Masked, Display::Clear])
}

/// For a random role, C2 field, policy cell and unmask request, a caller whose clearance
/// (the policy's display, lifted by an audited unmask when they hold `pii.unmask`) is not
/// `clear` never finds the clear value in the 360 JSON; one whose clearance is `clear` does.
#[test]
fn no_role_without_clearance_receives_a_clear_c2_value() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let f = rt.block_on(fixture(true));
    let all = fields();
    let cases = (
        prop::sample::select(Role::ALL.to_vec()),
        0..all.len(),
        display_strategy(),
        display_strategy(),
        any::<bool>(),
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&cases, |(role, i, c2, fin, unmask)| {
            let field = &all[i];
            let toml = format!(
                "[roles.{}]\nC2 = \"{}\"\nC2_financial = \"{}\"\n",
                role.as_str(),
                c2.as_str(),
                fin.as_str()
            );
            write_policy(&f, &toml);
            let policy = FieldPolicy::from_toml(&toml, std::path::Path::new("p.toml")).unwrap();
            let base = if field.amount {
                policy.role_financial(role)
            } else {
                policy.role_display(role, Sensitivity::C2)
            };
            let lifted = unmask && role_permissions(role).contains(&Permission::PiiUnmask);
            let clearance = match base {
                Display::Masked if lifted => Display::Clear,
                d => d,
            };
            let uri = if unmask {
                "/v1/customers/C00000001?unmask=true&reason=property%20test"
            } else {
                "/v1/customers/C00000001"
            };
            let g = rt.block_on(get_with(
                &f.app,
                uri,
                &[("authorization", &bearer(&f, role))],
            ));
            if !role_permissions(role).contains(&Permission::CustomerRead) {
                prop_assert_eq!(g.status.as_u16(), 403);
                return Ok(());
            }
            prop_assert_eq!(g.status, StatusCode::OK, "{}", g.body);
            let v = g.json();
            let shown = v.pointer(field.pointer).cloned().unwrap_or(Value::Null);
            match clearance {
                Display::Clear => prop_assert_eq!(&shown, &field.clear, "{}", field.pointer),
                Display::Masked | Display::Hidden => {
                    prop_assert_ne!(
                        &shown,
                        &field.clear,
                        "{} leaked to {:?}",
                        field.pointer,
                        role
                    );
                    if let Some(s) = field.clear.as_str() {
                        prop_assert!(
                            !g.body.contains(s),
                            "{} appears in the 360 of {:?} under {}",
                            s,
                            role,
                            toml
                        );
                    }
                    if clearance == Display::Hidden {
                        prop_assert!(
                            shown.is_null(),
                            "{} should be hidden, got {}",
                            field.pointer,
                            shown
                        );
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
