//! Permissions and the role → permission table: who may do what.
//!
//! Every HTTP route declares one [`Permission`] (see `zhiying_server::auth`); a caller passes
//! when one of their roles grants it. API tokens carry scopes, a subset of these permissions,
//! and never exceed their user's roles. The table is documented in `docs/security.md`; a test
//! there and here keeps the two in step.
//!
//! ```
//! use zhiying_core::access::{Permission, role_permissions};
//! use zhiying_core::domain::Role;
//! assert!(role_permissions(Role::ComplianceOfficer).contains(&Permission::AuditRead));
//! assert!(!role_permissions(Role::Marketer).contains(&Permission::CustomerReadPii));
//! assert_eq!("audit.read".parse::<Permission>(), Ok(Permission::AuditRead));
//! ```

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{ParseEnumError, Role};

macro_rules! permissions {
    ($($(#[$doc:meta])* $v:ident = $s:literal,)*) => {
        /// One thing a caller may do. The string form (`customer.read_pii`) is what tokens'
        /// scopes, the CLI and the docs use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Permission {
            $($(#[$doc])* $v,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$v,)*];
            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$v => $s,)* }
            }
        }

        impl FromStr for Permission {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim() {
                    $($s => Ok(Permission::$v),)*
                    _ => Err(ParseEnumError {
                        what: "permission",
                        value: s.to_string(),
                        expected: concat!($($s, " "),*),
                    }),
                }
            }
        }
    };
}

permissions! {
    /// Open the console at all.
    ConsoleView = "console.view",
    /// Read the OpenAPI document.
    ApiDocs = "api.docs",
    /// Scrape `/metrics`.
    MetricsRead = "metrics.read",
    /// Tables, row counts, data quality, ingest runs.
    DataRead = "data.read",
    /// Load data through the API.
    DataWrite = "data.write",
    /// The customer 360 view, with personal data masked.
    CustomerRead = "customer.read",
    /// Everything held on a customer in clear as one document: the data-subject access
    /// export (audited).
    CustomerReadPii = "customer.read_pii",
    /// Unmask chosen personal-data fields of one customer (`POST /v1/customers/{id}/unmask`,
    /// the 360 view's unmask), with a stated reason; audited with who, which fields and why.
    PiiUnmask = "pii.unmask",
    /// Erase a customer everywhere (data-subject erasure; audited, irreversible).
    CustomerErase = "customer.erase",
    TagRead = "tag.read",
    TagWrite = "tag.write",
    AudienceRead = "audience.read",
    AudienceWrite = "audience.write",
    ModelRead = "model.read",
    ModelTrain = "model.train",
    /// Promote a model to champion (model governance).
    ModelPromote = "model.promote",
    CampaignRead = "campaign.read",
    CampaignWrite = "campaign.write",
    /// Approve a campaign (maker-checker: never one's own).
    CampaignApprove = "campaign.approve",
    /// Create, edit and retire offers in the catalogue (read with `campaign.read`).
    OfferWrite = "offer.write",
    /// Call the real-time decision API.
    DecisionCall = "decision.call",
    /// Post behavioural events.
    EventsWrite = "events.write",
    ConsentRead = "consent.read",
    ConsentWrite = "consent.write",
    /// Compliance reports, the do-not-contact list.
    ComplianceRead = "compliance.read",
    /// Run the marketing-copy checker.
    ComplianceCheckCopy = "compliance.check_copy",
    /// Read and verify the audit log.
    AuditRead = "audit.read",
    /// Manage users and API tokens.
    AdminUsers = "admin.users",
}

impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

use Permission as P;

/// What every person using the console may do.
const STAFF: &[Permission] = &[P::ConsoleView, P::ApiDocs];

const ADMIN: &[Permission] = &[
    P::MetricsRead,
    P::DataRead,
    P::DataWrite,
    P::CustomerRead,
    P::TagRead,
    P::TagWrite,
    P::AudienceRead,
    P::AudienceWrite,
    P::ModelRead,
    P::ModelTrain,
    P::CampaignRead,
    P::CampaignWrite,
    P::OfferWrite,
    P::ConsentRead,
    P::ComplianceRead,
    P::ComplianceCheckCopy,
    P::AuditRead,
    P::AdminUsers,
];

const MARKETER: &[Permission] = &[
    P::DataRead,
    P::CustomerRead,
    P::TagRead,
    P::AudienceRead,
    P::AudienceWrite,
    P::ModelRead,
    P::CampaignRead,
    P::CampaignWrite,
    P::OfferWrite,
    P::DecisionCall,
    P::ConsentRead,
    P::ComplianceCheckCopy,
];

const ANALYST: &[Permission] = &[
    P::DataRead,
    P::DataWrite,
    P::CustomerRead,
    P::TagRead,
    P::TagWrite,
    P::AudienceRead,
    P::AudienceWrite,
    P::ModelRead,
    P::ModelTrain,
    P::CampaignRead,
];

const COMPLIANCE_OFFICER: &[Permission] = &[
    P::DataRead,
    P::CustomerRead,
    P::CustomerReadPii,
    P::PiiUnmask,
    P::CustomerErase,
    P::TagRead,
    P::AudienceRead,
    P::ModelRead,
    P::ModelPromote,
    P::CampaignRead,
    P::CampaignApprove,
    P::ConsentRead,
    P::ConsentWrite,
    P::ComplianceRead,
    P::ComplianceCheckCopy,
    P::AuditRead,
];

const SERVICE_AGENT: &[Permission] = &[
    P::CustomerRead,
    P::CustomerReadPii,
    P::PiiUnmask,
    P::TagRead,
    P::DecisionCall,
    P::ConsentRead,
    P::ConsentWrite,
];

/// A machine: no console, only the decision and event APIs.
const CHANNEL_SYSTEM: &[Permission] = &[P::ApiDocs, P::DecisionCall, P::EventsWrite];

/// The permissions a role grants, sorted. Admins run the system but do not see unmasked
/// personal data and do not approve campaigns or promote models: those stay with the
/// people accountable for them (separation of duties).
pub fn role_permissions(role: Role) -> Vec<Permission> {
    let mut v: Vec<Permission> = match role {
        Role::Admin => [STAFF, ADMIN].concat(),
        Role::Marketer => [STAFF, MARKETER].concat(),
        Role::Analyst => [STAFF, ANALYST].concat(),
        Role::ComplianceOfficer => [STAFF, COMPLIANCE_OFFICER].concat(),
        Role::ServiceAgent => [STAFF, SERVICE_AGENT].concat(),
        Role::ChannelSystem => CHANNEL_SYSTEM.to_vec(),
    };
    v.sort();
    v.dedup();
    v
}

/// The union of the permissions of several roles, sorted.
pub fn permissions_of(roles: &[Role]) -> Vec<Permission> {
    let mut v: Vec<Permission> = roles.iter().flat_map(|r| role_permissions(*r)).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(*p));
            assert!(seen.insert(p.as_str()));
            let json = serde_json::to_string(p).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert!("customer.write".parse::<Permission>().is_err());
    }

    #[test]
    fn separation_of_duties() {
        let admin = role_permissions(Role::Admin);
        assert!(admin.contains(&P::AdminUsers));
        for p in [
            P::CustomerReadPii,
            P::PiiUnmask,
            P::CampaignApprove,
            P::ModelPromote,
        ] {
            assert!(!admin.contains(&p), "admin must not hold {p}");
        }
        assert!(role_permissions(Role::ComplianceOfficer).contains(&P::CampaignApprove));
        assert!(!role_permissions(Role::Marketer).contains(&P::CampaignApprove));
        assert!(!role_permissions(Role::ChannelSystem).contains(&P::ConsoleView));
        // Every permission is granted to somebody.
        let all = permissions_of(&Role::ALL);
        assert_eq!(all, Permission::ALL.to_vec());
    }

    #[test]
    fn docs_table_matches_code() {
        let doc = include_str!("../../../docs/security.md");
        for role in Role::ALL {
            let line = doc
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", role.as_str())))
                .unwrap_or_else(|| panic!("docs/security.md has no row for {}", role.as_str()));
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let listed: Vec<Permission> = cells
                .get(2)
                .unwrap_or(&"")
                .split(',')
                .map(|s| s.trim().trim_matches('`'))
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse()
                        .unwrap_or_else(|e| panic!("docs/security.md: {e}"))
                })
                .collect();
            let mut listed_sorted = listed.clone();
            listed_sorted.sort();
            assert_eq!(
                listed_sorted,
                role_permissions(role),
                "docs/security.md row for {}",
                role.as_str()
            );
        }
    }
}
