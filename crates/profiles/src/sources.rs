//! Sources an aggregate tag can read, each with the as-of window that makes tags
//! reproducible: nothing after the as-of date is seen.
//!
//! `customers` is the base: one row per customer, and its expressions are per row (no
//! aggregate). Every other source is grouped by `customer_id`, and all tags on it are
//! computed by one `GROUP BY` scan.

/// A source of aggregate tags.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub name: &'static str,
    /// The customer id column in `from` (qualified when `from` joins).
    pub customer_column: &'static str,
    /// `FROM …` body; may use the as-of placeholders.
    pub from: &'static str,
    /// `WHERE …` restricting rows to the as-of window.
    pub window: &'static str,
    pub description: &'static str,
}

pub const SOURCES: &[Source] = &[
    Source {
        name: "customers",
        customer_column: "customer_id",
        from: "customers",
        window: "open_date <= {as_of}",
        description: "One row per customer opened by the as-of date; expressions are per row.",
    },
    Source {
        name: "transactions",
        customer_column: "customer_id",
        from: "transactions",
        window: "ts < {as_of_end}",
        description: "Transactions booked before the end of the as-of day.",
    },
    Source {
        name: "events",
        customer_column: "customer_id",
        from: "events",
        window: "ts < {as_of_end}",
        description: "Channel events before the end of the as-of day.",
    },
    Source {
        name: "accounts",
        customer_column: "customer_id",
        from: "accounts",
        window: "open_date <= {as_of}",
        description: "Accounts opened by the as-of date (balances as extracted).",
    },
    Source {
        name: "holdings",
        customer_column: "h.customer_id",
        from: "product_holdings h LEFT JOIN products p ON p.product_id = h.product_id",
        window: "h.start_date <= {as_of} AND (h.end_date IS NULL OR h.end_date > {as_of}) AND h.status <> 'closed'",
        description: "Product holdings held on the as-of date, with the product's category (p.category) and risk level (p.risk_level); holding columns are h.*.",
    },
    Source {
        name: "contacts",
        customer_column: "customer_id",
        from: "contacts",
        window: "ts < {as_of_end}",
        description: "Marketing contacts before the end of the as-of day.",
    },
    Source {
        name: "responses",
        customer_column: "customer_id",
        from: "responses",
        window: "ts < {as_of_end}",
        description: "Responses before the end of the as-of day.",
    },
    Source {
        name: "scores",
        customer_column: "customer_id",
        from: "scores",
        window: "CAST(as_of AS DATE) <= {as_of}",
        description: "Model scores (zhiying model bank): one row per customer and model, with score, band and reasons.",
    },
    Source {
        name: "segments",
        customer_column: "customer_id",
        from: "segments",
        window: "1 = 1",
        description: "The latest customer segmentation (zhiying segment run): cluster and its description.",
    },
];

pub fn source(name: &str) -> Option<&'static Source> {
    SOURCES.iter().find(|s| s.name == name)
}

/// The as-of date and the literals that replace the placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf(pub chrono::NaiveDate);

impl AsOf {
    /// Replaces `{as_of}`, `{as_of_end}` and `{month_start}`.
    pub fn expand(&self, text: &str) -> String {
        let d = self.0;
        let end = d.succ_opt().unwrap_or(d);
        let month_start = d.with_day0(0).unwrap_or(d);
        text.replace("{as_of}", &format!("DATE '{d}'"))
            .replace("{as_of_end}", &format!("TIMESTAMP '{end} 00:00:00'"))
            .replace(
                "{month_start}",
                &format!("TIMESTAMP '{month_start} 00:00:00'"),
            )
    }
}

use chrono::Datelike;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_to_literals() {
        let a = AsOf(chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        assert_eq!(
            a.expand("ts < {as_of_end} AND ts >= {month_start} AND d <= {as_of}"),
            "ts < TIMESTAMP '2026-11-01 00:00:00' AND ts >= TIMESTAMP '2026-10-01 00:00:00' AND d <= DATE '2026-10-31'"
        );
    }
}
