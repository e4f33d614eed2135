//! Customer 360: everything known about one person, gathered from the fact tables.
//!
//! Identity resolution (`customer_links`) ties the records of one person across source
//! systems into a party; the view covers every record of the party, and each row says which
//! record it came from. Without `customer_links` the view covers the one record.
//!
//! Every C2/C3 value (phone, resident ID, e-mail, names, identifier values, amounts) goes
//! through the field policy for the caller (`crate::privacy`): clear, masked or hidden by
//! role and level. Unmasking needs `pii.unmask` and a reason: the API handler decides and
//! audits that before calling [`load`] with an unmasking redactor.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use zhiying_engine::{AnalyticsEngine, sql_literal};

use crate::error::ApiError;
use crate::privacy::{field_amount, field_text};
use zhiying_core::schema::Sensitivity;
use zhiying_pii::Redactor;

/// How many recent transactions, events, contacts and responses the view shows.
pub const RECENT: usize = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct Customer360 {
    pub customer_id: String,
    /// The person this record belongs to after identity resolution, if resolved.
    pub party_id: Option<String>,
    /// C2 identifiers are masked or hidden (the caller has no clearance, or did not unmask).
    pub pii_masked: bool,
    /// What this caller sees of each level: `clear`, `masked` or `hidden` (`C1`, `C2`,
    /// `C3`, `C2_financial`).
    #[schema(value_type = Object)]
    pub field_access: std::collections::BTreeMap<&'static str, &'static str>,
    pub profile: CustomerProfile,
    /// Other records of the same person (from identity resolution).
    pub linked_records: Vec<LinkedRecord>,
    pub identifiers: Vec<Identifier>,
    pub accounts: Vec<AccountView>,
    /// Sum of account balances per currency.
    pub balances: Vec<CurrencyTotal>,
    pub holdings: Vec<HoldingView>,
    pub recent_transactions: Vec<TransactionView>,
    /// Money in and out per month (last 12 months with activity) in the main currency.
    pub monthly_flows: MonthlyFlows,
    pub recent_events: Vec<EventView>,
    /// Latest consent decision per purpose and channel.
    pub consents: Vec<ConsentView>,
    pub recent_contacts: Vec<ContactView>,
    pub recent_responses: Vec<ResponseView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerProfile {
    pub customer_id: String,
    pub source_system: String,
    /// Masked, e.g. `张**`.
    pub name: Option<String>,
    pub gender: Option<String>,
    /// YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// Masked, e.g. `110101********1234`.
    pub resident_id: Option<String>,
    /// Masked, e.g. `138****5678`.
    pub phone: Option<String>,
    /// Masked, e.g. `z***@example.com`.
    pub email: Option<String>,
    pub city: Option<String>,
    pub occupation: Option<String>,
    pub education: Option<String>,
    pub marital_status: Option<String>,
    pub monthly_income_fen: Option<i64>,
    #[serde(default)]
    pub monthly_income: Option<String>,
    /// C1–C5 suitability level.
    pub risk_level: Option<String>,
    pub open_date: String,
    pub branch_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LinkedRecord {
    pub customer_id: String,
    pub source_system: Option<String>,
    /// Which identifier linked the records, e.g. `phone`.
    pub matched_on: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Identifier {
    pub customer_id: String,
    pub id_type: String,
    /// Masked.
    pub id_value: String,
    pub source_system: String,
    /// RFC 3339, UTC.
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub observed_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    pub account_id: String,
    pub customer_id: String,
    pub account_type: String,
    pub currency: String,
    pub status: String,
    pub open_date: String,
    pub close_date: Option<String>,
    pub maturity_date: Option<String>,
    /// Balance in 分 (negative for amounts owed); `null` when the policy hides amounts.
    pub balance_fen: Option<i64>,
    /// Formatted, e.g. `¥12,345.60`.
    #[serde(default)]
    pub balance: String,
    pub credit_limit_fen: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyTotal {
    pub currency: String,
    pub balance_fen: i64,
    pub balance: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HoldingView {
    pub holding_id: String,
    pub customer_id: String,
    pub product_id: String,
    pub name_zh: Option<String>,
    pub name_en: Option<String>,
    pub category: Option<String>,
    /// Product risk level R1–R5.
    pub risk_level: Option<String>,
    pub account_id: Option<String>,
    pub start_date: String,
    pub end_date: Option<String>,
    pub amount_fen: Option<i64>,
    #[serde(default)]
    pub amount: String,
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    pub txn_id: String,
    pub customer_id: String,
    pub account_id: String,
    /// RFC 3339, UTC.
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub ts: String,
    pub amount_fen: Option<i64>,
    #[serde(default)]
    pub amount: String,
    pub currency: String,
    /// `credit` (money in) or `debit` (money out).
    pub direction: String,
    pub channel: String,
    pub txn_type: String,
    pub merchant_category: Option<String>,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct MonthlyFlows {
    /// Currency of the amounts; the one most of the customer's transactions use.
    pub currency: Option<String>,
    pub months: Vec<MonthlyFlow>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MonthlyFlow {
    /// `YYYY-MM` (UTC).
    pub month: String,
    pub credit_fen: i64,
    pub debit_fen: i64,
    pub transactions: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub event_id: String,
    pub customer_id: String,
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub ts: String,
    pub channel: String,
    pub event_type: String,
    pub item: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    pub purpose: String,
    pub channel: String,
    pub granted: bool,
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub ts: String,
    pub source: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ContactView {
    pub contact_id: String,
    pub campaign_id: String,
    pub campaign_name: Option<String>,
    pub offer_id: Option<String>,
    pub channel: String,
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub ts: String,
    /// treatment, control or holdout.
    pub group: String,
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResponseView {
    pub response_id: String,
    pub contact_id: Option<String>,
    pub campaign_id: Option<String>,
    #[serde(deserialize_with = "micros_to_rfc3339")]
    pub ts: String,
    pub response_type: String,
    pub revenue_fen: Option<i64>,
}

/// Rejects ids that cannot be customer ids before they reach the engine.
pub fn validate_customer_id(id: &str) -> Result<(), ApiError> {
    let len = id.chars().count();
    if len == 0 || len > 64 || id.chars().any(|c| c.is_control()) || id.trim() != id {
        return Err(ApiError::bad_request(
            "invalid_customer_id",
            format!(
                "'{}' is not a customer id",
                id.chars()
                    .filter(|c| !c.is_control())
                    .take(80)
                    .collect::<String>()
            ),
            "A customer id has 1 to 64 characters without spaces at the ends or control characters, e.g. C00000001.",
        ));
    }
    Ok(())
}

/// Loads the 360 view as the caller behind `r` may see it, or `None` if no customer has this
/// id. An unmasking redactor returns C2 data in clear: only after the caller's permission
/// was checked and the request audited.
pub async fn load(
    engine: &dyn AnalyticsEngine,
    id: &str,
    r: &Redactor,
) -> Result<Option<Customer360>, ApiError> {
    validate_customer_id(id)?;
    let lit = sql_literal(id);
    let profile: Vec<CustomerProfile> = rows(
        engine,
        &format!(
            "SELECT customer_id, source_system, name, gender, birth_date, resident_id, phone, email, city, occupation, \
             education, marital_status, monthly_income_fen, risk_level, open_date, branch_id \
             FROM customers WHERE customer_id = {lit} LIMIT 1"
        ),
    )
    .await?;
    let Some(mut profile) = profile.into_iter().next() else {
        return Ok(None);
    };
    redact_profile(r, &mut profile);

    let (party_id, linked_records) = if crate::data::has_table(engine, "customer_links").await {
        links(engine, &lit).await?
    } else {
        (None, Vec::new())
    };
    let mut ids = vec![sql_literal(id)];
    ids.extend(linked_records.iter().map(|r| sql_literal(&r.customer_id)));
    let ids = ids.join(", ");

    let q_identifiers = format!(
        "SELECT customer_id, id_type, id_value, source_system, CAST(observed_at AS BIGINT) AS observed_at \
         FROM identities WHERE customer_id IN ({ids}) ORDER BY observed_at DESC, id_type LIMIT 100"
    );
    let q_accounts = format!(
        "SELECT account_id, customer_id, account_type, currency, status, open_date, close_date, maturity_date, \
         balance_fen, credit_limit_fen FROM accounts WHERE customer_id IN ({ids}) ORDER BY open_date, account_id"
    );
    let q_holdings = format!(
        "SELECT h.holding_id, h.customer_id, h.product_id, p.name_zh, p.name_en, p.category, p.risk_level, \
         h.account_id, h.start_date, h.end_date, h.amount_fen, h.status \
         FROM product_holdings h LEFT JOIN products p ON p.product_id = h.product_id \
         WHERE h.customer_id IN ({ids}) ORDER BY h.start_date DESC, h.holding_id"
    );
    let q_txns = format!(
        "SELECT txn_id, customer_id, account_id, CAST(ts AS BIGINT) AS ts, amount_fen, currency, direction, channel, \
         txn_type, merchant_category FROM transactions WHERE customer_id IN ({ids}) ORDER BY ts DESC, txn_id LIMIT {RECENT}"
    );
    let q_flows = format!(
        "SELECT to_char(ts, '%Y-%m') AS month, currency, \
         CAST(SUM(CASE WHEN direction = 'credit' THEN amount_fen ELSE 0 END) AS BIGINT) AS credit_fen, \
         CAST(SUM(CASE WHEN direction = 'debit' THEN amount_fen ELSE 0 END) AS BIGINT) AS debit_fen, \
         COUNT(*) AS transactions \
         FROM transactions WHERE customer_id IN ({ids}) GROUP BY 1, 2"
    );
    let q_events = format!(
        "SELECT event_id, customer_id, CAST(ts AS BIGINT) AS ts, channel, event_type, item \
         FROM events WHERE customer_id IN ({ids}) ORDER BY ts DESC, event_id LIMIT {RECENT}"
    );
    let q_consents = format!(
        "SELECT purpose, channel, granted, CAST(ts AS BIGINT) AS ts, source FROM ( \
         SELECT purpose, channel, granted, ts, source, \
         ROW_NUMBER() OVER (PARTITION BY purpose, channel ORDER BY ts DESC, consent_id DESC) AS rn \
         FROM consents WHERE customer_id IN ({ids})) latest WHERE rn = 1 ORDER BY purpose, channel"
    );
    let q_contacts = format!(
        "SELECT c.contact_id, c.campaign_id, k.name AS campaign_name, c.offer_id, c.channel, \
         CAST(c.ts AS BIGINT) AS ts, c.\"group\" AS \"group\", c.status \
         FROM contacts c LEFT JOIN campaigns k ON k.campaign_id = c.campaign_id \
         WHERE c.customer_id IN ({ids}) ORDER BY ts DESC, contact_id LIMIT {RECENT}"
    );
    let q_responses = format!(
        "SELECT response_id, contact_id, campaign_id, CAST(ts AS BIGINT) AS ts, response_type, revenue_fen \
         FROM responses WHERE customer_id IN ({ids}) ORDER BY ts DESC, response_id LIMIT {RECENT}"
    );

    let (
        mut identifiers,
        mut accounts,
        mut holdings,
        mut txns,
        flows,
        events,
        consents,
        contacts,
        responses,
    ) = tokio::try_join!(
        rows::<Identifier>(engine, &q_identifiers),
        rows::<AccountView>(engine, &q_accounts),
        rows::<HoldingView>(engine, &q_holdings),
        rows::<TransactionView>(engine, &q_txns),
        rows::<FlowRow>(engine, &q_flows),
        rows::<EventView>(engine, &q_events),
        rows::<ConsentView>(engine, &q_consents),
        rows::<ContactView>(engine, &q_contacts),
        rows::<ResponseView>(engine, &q_responses),
    )?;

    // Identifiers the policy hides are left out; the others are masked or clear.
    identifiers.retain_mut(|i| {
        match field_text(
            r,
            Some("identities"),
            "id_value",
            Some(&i.id_type),
            &i.id_value,
        ) {
            Some(v) => {
                i.id_value = v;
                true
            }
            None => false,
        }
    });
    // Totals from the stored balances, then every amount through the policy.
    let balances: Vec<CurrencyTotal> = currency_totals(&accounts)
        .into_iter()
        .filter_map(|t| {
            let f = field_amount(r, Some("accounts"), "balance_fen", t.balance_fen)?;
            Some(CurrencyTotal {
                balance: format_money(f, &t.currency),
                balance_fen: f,
                currency: t.currency,
            })
        })
        .collect();
    let money = |v: Option<i64>, table: &str, column: &str, currency: &str| {
        let v = v.and_then(|v| field_amount(r, Some(table), column, v));
        (v, v.map(|f| format_money(f, currency)).unwrap_or_default())
    };
    for a in &mut accounts {
        (a.balance_fen, a.balance) = money(a.balance_fen, "accounts", "balance_fen", &a.currency);
        a.credit_limit_fen = a
            .credit_limit_fen
            .and_then(|v| field_amount(r, Some("accounts"), "credit_limit_fen", v));
    }
    for h in &mut holdings {
        (h.amount_fen, h.amount) = money(h.amount_fen, "product_holdings", "amount_fen", "cny");
    }
    for t in &mut txns {
        (t.amount_fen, t.amount) = money(t.amount_fen, "transactions", "amount_fen", &t.currency);
    }
    let mut flows = monthly_flows(flows);
    if field_amount(r, Some("transactions"), "amount_fen", 0).is_none() {
        flows.months.clear();
    }
    for m in &mut flows.months {
        m.credit_fen =
            field_amount(r, Some("transactions"), "amount_fen", m.credit_fen).unwrap_or(0);
        m.debit_fen = field_amount(r, Some("transactions"), "amount_fen", m.debit_fen).unwrap_or(0);
    }
    profile.monthly_income = profile.monthly_income_fen.map(|f| format_money(f, "cny"));

    Ok(Some(Customer360 {
        customer_id: id.to_string(),
        party_id,
        pii_masked: r.protects(Sensitivity::C2),
        field_access: field_access(r),
        profile,
        linked_records,
        identifiers,
        balances,
        accounts,
        holdings,
        recent_transactions: txns,
        monthly_flows: flows,
        recent_events: events,
        consents,
        recent_contacts: contacts,
        recent_responses: responses,
    }))
}

async fn links(
    engine: &dyn AnalyticsEngine,
    lit: &str,
) -> Result<(Option<String>, Vec<LinkedRecord>), ApiError> {
    #[derive(Deserialize)]
    struct Party {
        party_id: Option<String>,
    }
    let party: Vec<Party> = rows(
        engine,
        &format!("SELECT party_id FROM customer_links WHERE customer_id = {lit} LIMIT 1"),
    )
    .await?;
    let Some(party_id) = party.into_iter().next().and_then(|p| p.party_id) else {
        return Ok((None, Vec::new()));
    };
    let linked = rows(
        engine,
        &format!(
            "SELECT l.customer_id, c.source_system, l.matched_on FROM customer_links l \
             LEFT JOIN customers c ON c.customer_id = l.customer_id \
             WHERE l.party_id = {} AND l.customer_id <> {lit} ORDER BY l.customer_id LIMIT 50",
            sql_literal(&party_id)
        ),
    )
    .await?;
    Ok((Some(party_id), linked))
}

#[derive(Debug, Deserialize)]
struct FlowRow {
    month: String,
    currency: String,
    credit_fen: i64,
    debit_fen: i64,
    transactions: i64,
}

/// Keeps the currency with most transactions and its last 12 months, oldest first.
fn monthly_flows(rows: Vec<FlowRow>) -> MonthlyFlows {
    let mut per_currency: std::collections::BTreeMap<&str, i64> = Default::default();
    for r in &rows {
        *per_currency.entry(r.currency.as_str()).or_default() += r.transactions;
    }
    let Some(currency) = per_currency
        .iter()
        .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
        .map(|(c, _)| c.to_string())
    else {
        return MonthlyFlows::default();
    };
    let mut months: Vec<MonthlyFlow> = rows
        .into_iter()
        .filter(|r| r.currency == currency)
        .map(|r| MonthlyFlow {
            month: r.month,
            credit_fen: r.credit_fen,
            debit_fen: r.debit_fen,
            transactions: r.transactions,
        })
        .collect();
    months.sort_by(|a, b| a.month.cmp(&b.month));
    let skip = months.len().saturating_sub(12);
    MonthlyFlows {
        currency: Some(currency),
        months: months.split_off(skip),
    }
}

fn currency_totals(accounts: &[AccountView]) -> Vec<CurrencyTotal> {
    let mut totals: std::collections::BTreeMap<&str, i64> = Default::default();
    for a in accounts.iter().filter(|a| a.status != "closed") {
        *totals.entry(a.currency.as_str()).or_default() += a.balance_fen.unwrap_or(0);
    }
    totals
        .into_iter()
        .map(|(c, f)| CurrencyTotal {
            currency: c.to_string(),
            balance_fen: f,
            balance: format_money(f, c),
        })
        .collect()
}

/// Runs a query and deserialises each row into `T` (column aliases match field names).
pub async fn rows<T: DeserializeOwned>(
    engine: &dyn AnalyticsEngine,
    sql: &str,
) -> Result<Vec<T>, ApiError> {
    engine
        .query_json(sql)
        .await?
        .into_iter()
        .map(|r| serde_json::from_value(serde_json::Value::Object(r)))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal("reading query results", format!("{e}\n  query: {sql}")))
}

/// Reads UTC microseconds (the SQL casts timestamps to BIGINT) into RFC 3339.
fn micros_to_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let micros = i64::deserialize(d)?;
    Ok(zhiying_core::time::format_timestamp(micros))
}

/// `¥12,345.60`, `$1.00`, `€-3.20`, `DEM 5.00`: minor units with thousands separators.
pub fn format_money(minor: i64, currency: &str) -> String {
    let abs = minor.unsigned_abs();
    let mut int = (abs / 100).to_string();
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    while int.len() > 3 {
        let tail = int.split_off(int.len() - 3);
        grouped = format!(",{tail}{grouped}");
    }
    let sign = if minor < 0 { "-" } else { "" };
    let number = format!("{sign}{int}{grouped}.{:02}", abs % 100);
    match currency {
        "cny" => format!("¥{number}"),
        "usd" => format!("${number}"),
        "eur" => format!("€{number}"),
        other => format!("{} {number}", other.to_uppercase()),
    }
}

/// The profile's C2 fields through the policy.
fn redact_profile(r: &Redactor, p: &mut CustomerProfile) {
    let t = Some("customers");
    p.name = p
        .name
        .as_deref()
        .and_then(|v| field_text(r, t, "name", None, v));
    p.resident_id = p
        .resident_id
        .as_deref()
        .and_then(|v| field_text(r, t, "resident_id", None, v));
    p.phone = p
        .phone
        .as_deref()
        .and_then(|v| field_text(r, t, "phone", None, v));
    p.email = p
        .email
        .as_deref()
        .and_then(|v| field_text(r, t, "email", None, v));
    p.monthly_income_fen = p
        .monthly_income_fen
        .and_then(|v| field_amount(r, t, "monthly_income_fen", v));
}

/// What the caller sees per level, for the page and API clients.
fn field_access(r: &Redactor) -> std::collections::BTreeMap<&'static str, &'static str> {
    [
        ("C1", r.display(Sensitivity::C1)),
        ("C2", r.display(Sensitivity::C2)),
        ("C3", r.display(Sensitivity::C3)),
        ("C2_financial", r.financial()),
    ]
    .into_iter()
    .map(|(k, d)| (k, d.as_str()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_and_signed() {
        assert_eq!(format_money(1234560, "cny"), "¥12,345.60");
        assert_eq!(format_money(-5, "cny"), "¥-0.05");
        assert_eq!(format_money(100, "usd"), "$1.00");
        assert_eq!(format_money(123456789012, "dem"), "DEM 1,234,567,890.12");
    }

    #[test]
    fn bad_ids_are_rejected_before_sql() {
        assert!(validate_customer_id("C00000001").is_ok());
        assert!(
            validate_customer_id("O'Brien").is_ok(),
            "quotes are fine: values are quoted with sql_literal"
        );
        assert_eq!(
            validate_customer_id("").unwrap_err().code,
            "invalid_customer_id"
        );
        assert_eq!(
            validate_customer_id(&"x".repeat(65)).unwrap_err().status,
            400
        );
        assert!(validate_customer_id("a\nb").is_err());
    }
}
