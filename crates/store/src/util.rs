//! Helpers shared by the 0004 modules: text-backed enums, JSON columns, lifecycle checks and
//! multi-row inserts.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

/// A closed set of values stored as lowercase text: serde, `Display`, `FromStr` and
/// `ALL` from one list, so the Rust names and the SQL `CHECK` lists cannot drift apart.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::StoreError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::StoreError::Invalid {
                        field: $field,
                        reason: format!(
                            "'{s}' is not one of: {}",
                            [$($text),+].join(", ")
                        ),
                    }),
                }
            }
        }
    };
}
pub(crate) use string_enum;

/// Parses a stored enum value, reporting a bad value as a corrupt row.
pub(crate) fn parse_db<T: std::str::FromStr>(
    table: &'static str,
    column: &'static str,
    key: &str,
    text: &str,
) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt {
        table,
        column,
        key: key.to_string(),
        reason: format!("unknown value '{text}'"),
    })
}

/// Serialises a value for a JSON `TEXT` column.
pub(crate) fn json_text<T: Serialize + ?Sized>(
    field: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid {
        field,
        reason: format!("cannot be written as JSON: {e}"),
    })
}

/// Reads a JSON `TEXT` column.
pub(crate) fn json_from_db<T: DeserializeOwned>(
    table: &'static str,
    column: &'static str,
    key: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        column,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Refuses a move that `allowed` (the legal next states of `from`) does not contain.
pub(crate) fn check_transition<S: Copy + PartialEq + std::fmt::Display>(
    what: &'static str,
    key: &str,
    from: S,
    to: S,
    allowed: &[S],
) -> Result<(), StoreError> {
    if allowed.contains(&to) {
        return Ok(());
    }
    let allowed = if allowed.is_empty() {
        "nothing (it is final)".to_string()
    } else {
        allowed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(StoreError::IllegalTransition {
        what,
        key: key.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        allowed,
    })
}

/// Maker-checker: neither the creator nor the submitter may approve.
pub(crate) fn check_checker(
    what: &'static str,
    key: &str,
    actor: &str,
    created_by: &str,
    submitted_by: Option<&str>,
) -> Result<(), StoreError> {
    let role = if actor == created_by {
        "created"
    } else if submitted_by == Some(actor) {
        "submitted"
    } else {
        return Ok(());
    };
    Err(StoreError::SelfApproval {
        what,
        key: key.to_string(),
        actor: actor.to_string(),
        role,
    })
}

/// An identifier a caller chooses (offer, experiment, contact…): non-empty, at most 200
/// characters, no control characters or surrounding whitespace, so it is safe in URLs and logs.
pub(crate) fn check_id(field: &'static str, value: &str) -> Result<(), StoreError> {
    let reason = if value.is_empty() {
        "must not be empty"
    } else if value.chars().count() > 200 {
        "must be at most 200 characters"
    } else if value.trim() != value {
        "must not start or end with whitespace"
    } else if value.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(StoreError::Invalid {
        field,
        reason: format!("'{value}' {reason}"),
    })
}

/// Bind parameters per multi-row `INSERT`: far below both SQLite's 32,766 and PostgreSQL's
/// 65,535, large enough that a million rows take a few hundred statements.
const PARAMS_PER_INSERT: usize = 16_000;

/// `INSERT INTO table (cols) VALUES (…), (…) … suffix` for `rows` rows, with `$n` placeholders.
pub(crate) fn multi_row_insert(table: &str, columns: &[&str], rows: usize, suffix: &str) -> String {
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(suffix);
    sql
}

/// Rows per multi-row insert for a table with `columns` columns.
pub(crate) fn rows_per_insert(columns: usize) -> usize {
    (PARAMS_PER_INSERT / columns.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_sql_numbers_placeholders_across_rows() {
        assert_eq!(
            multi_row_insert("t", &["a", "b"], 2, "ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(rows_per_insert(4), 4_000);
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("offer_id", "card-cashback-2024").is_ok());
        assert!(check_id("offer_id", "信用卡返现").is_ok());
        for bad in ["", " x", "x\n", &"x".repeat(201)] {
            assert!(check_id("offer_id", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn checker_rule_names_the_role() {
        assert!(check_checker("campaign", "c", "carol", "alice", Some("bob")).is_ok());
        let e = check_checker("campaign", "c", "bob", "alice", Some("bob"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("bob submitted campaign 'c'"), "{e}");
    }
}
