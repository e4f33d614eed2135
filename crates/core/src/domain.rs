//! Domain enums shared across capabilities.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Customer suitability level from the risk questionnaire, C1 (conservative) to C5 (aggressive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CustomerRiskLevel {
    C1 = 1,
    C2,
    C3,
    C4,
    C5,
}

/// Product risk level, R1 (lowest) to R5 (highest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ProductRiskLevel {
    R1 = 1,
    R2,
    R3,
    R4,
    R5,
}

impl CustomerRiskLevel {
    /// A product is suitable when its risk level does not exceed the customer's level.
    pub fn may_hold(self, product: ProductRiskLevel) -> bool {
        product as u8 <= self as u8
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {what}: expected one of {expected}")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! level_from_str {
    ($t:ty, $what:literal, [$($v:ident),*]) => {
        impl FromStr for $t {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_uppercase().as_str() {
                    $(stringify!($v) => Ok(Self::$v),)*
                    _ => Err(ParseEnumError { what: $what, value: s.to_string(), expected: concat!($(stringify!($v), " "),*) }),
                }
            }
        }
    };
}
level_from_str!(
    CustomerRiskLevel,
    "customer risk level",
    [C1, C2, C3, C4, C5]
);
level_from_str!(ProductRiskLevel, "product risk level", [R1, R2, R3, R4, R5]);

/// Console and API roles. Each route declares the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Marketer,
    Analyst,
    ComplianceOfficer,
    ServiceAgent,
    ChannelSystem,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Marketer,
        Role::Analyst,
        Role::ComplianceOfficer,
        Role::ServiceAgent,
        Role::ChannelSystem,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::Analyst => "analyst",
            Role::ComplianceOfficer => "compliance_officer",
            Role::ServiceAgent => "service_agent",
            Role::ChannelSystem => "channel_system",
        }
    }
}

impl FromStr for Role {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| ParseEnumError {
                what: "role",
                value: s.to_string(),
                expected: "admin marketer analyst compliance_officer service_agent channel_system",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suitability_is_ordered() {
        assert!(CustomerRiskLevel::C3.may_hold(ProductRiskLevel::R3));
        assert!(!CustomerRiskLevel::C2.may_hold(ProductRiskLevel::R3));
        assert_eq!("c4".parse::<CustomerRiskLevel>(), Ok(CustomerRiskLevel::C4));
        assert!("R9".parse::<ProductRiskLevel>().is_err());
        assert_eq!("analyst".parse::<Role>(), Ok(Role::Analyst));
    }
}
