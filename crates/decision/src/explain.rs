//! Why an offer was removed or chosen, as a machine code plus Chinese and English text.

use serde::{Deserialize, Serialize};
use zhiying_core::domain::{CustomerRiskLevel, ProductRiskLevel};

use crate::channel::Channel;

/// The engagement policies, in the order they are applied, then arbitration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    Eligibility,
    Applicability,
    Suitability,
    Consent,
    ContactPolicy,
    Arbitration,
}

impl Policy {
    pub fn name_zh(self) -> &'static str {
        match self {
            Policy::Eligibility => "资格",
            Policy::Applicability => "适用性",
            Policy::Suitability => "适当性",
            Policy::Consent => "授权同意",
            Policy::ContactPolicy => "接触策略",
            Policy::Arbitration => "仲裁排序",
        }
    }
}

/// Where the customer's suitability level came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevelSource {
    /// A questionnaire result sent with the request (the freshest evidence).
    Questionnaire,
    /// The profile tag (e.g. `risk_level`) in the audience index.
    ProfileTag,
    /// Unknown: treated as C1, the most conservative level, so an unassessed customer is
    /// only offered R1 products (the regulator's rule: no assessment, no risky product).
    DefaultC1,
}

/// A machine-readable reason. `text_zh` / `text_en` render it for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum ReasonCode {
    /// The customer is not in the offer's eligibility audience.
    NotInAudience {
        expression: String,
    },
    /// The customer is not in the audience index, and the offer has an eligibility rule.
    UnknownCustomer,
    OfferNotActive {
        status: String,
    },
    NotYetValid {
        valid_from: String,
    },
    Expired {
        valid_to: String,
    },
    NoTreatment {
        channel: Channel,
    },
    AlreadyHeld {
        product_id: String,
    },
    AcceptedRecently {
        accepted_at: String,
        window_days: u32,
    },
    AboveSuitability {
        customer_level: CustomerRiskLevel,
        product_level: ProductRiskLevel,
        source: RiskLevelSource,
    },
    DoNotContact,
    NoMarketingConsent {
        channel: Channel,
        detail: String,
    },
    QuietHours {
        channel: Channel,
        local_time: String,
        window: String,
    },
    Suppressed {
        rejects: u32,
        window_days: u32,
    },
    CapReached {
        /// `None`: the global (all-channel) cap.
        channel: Option<Channel>,
        max: u32,
        window_days: f64,
        used: u32,
    },
    /// Passed every policy but ranked below the number of offers asked for.
    BelowCutoff {
        rank: usize,
        max_offers: usize,
    },
}

fn lvl_c(l: CustomerRiskLevel) -> &'static str {
    match l {
        CustomerRiskLevel::C1 => "C1",
        CustomerRiskLevel::C2 => "C2",
        CustomerRiskLevel::C3 => "C3",
        CustomerRiskLevel::C4 => "C4",
        CustomerRiskLevel::C5 => "C5",
    }
}
fn lvl_r(l: ProductRiskLevel) -> &'static str {
    match l {
        ProductRiskLevel::R1 => "R1",
        ProductRiskLevel::R2 => "R2",
        ProductRiskLevel::R3 => "R3",
        ProductRiskLevel::R4 => "R4",
        ProductRiskLevel::R5 => "R5",
    }
}

impl ReasonCode {
    pub fn text_zh(&self) -> String {
        match self {
            ReasonCode::NotInAudience { expression } => {
                format!("客户不满足资格规则：{expression}")
            }
            ReasonCode::UnknownCustomer => "客户不在画像索引中，无法判断资格规则".into(),
            ReasonCode::OfferNotActive { status } => format!("权益状态为{status}，未上线"),
            ReasonCode::NotYetValid { valid_from } => format!("权益尚未生效（{valid_from}起）"),
            ReasonCode::Expired { valid_to } => format!("权益已过期（截至{valid_to}）"),
            ReasonCode::NoTreatment { channel } => {
                format!("权益没有{}渠道的话术", channel.name_zh())
            }
            ReasonCode::AlreadyHeld { product_id } => format!("客户已持有产品{product_id}"),
            ReasonCode::AcceptedRecently {
                accepted_at,
                window_days,
            } => format!("客户已于{accepted_at}接受该权益（{window_days}天内不再推荐）"),
            ReasonCode::AboveSuitability {
                customer_level,
                product_level,
                source,
            } => format!(
                "产品风险等级{}高于客户风险承受等级{}（{}）",
                lvl_r(*product_level),
                lvl_c(*customer_level),
                match source {
                    RiskLevelSource::Questionnaire => "来自本次风险测评",
                    RiskLevelSource::ProfileTag => "来自客户画像",
                    RiskLevelSource::DefaultC1 => "未测评，按最保守的C1处理",
                }
            ),
            ReasonCode::DoNotContact => "客户在免打扰名单中".into(),
            ReasonCode::NoMarketingConsent { channel, detail } => {
                format!(
                    "客户未授权通过{}接收营销信息（{detail}）",
                    channel.name_zh()
                )
            }
            ReasonCode::QuietHours {
                channel,
                local_time,
                window,
            } => format!(
                "北京时间{local_time}处于{}免打扰时段{window}",
                channel.name_zh()
            ),
            ReasonCode::Suppressed {
                rejects,
                window_days,
            } => format!("客户{window_days}天内已拒绝该权益{rejects}次，暂停推荐"),
            ReasonCode::CapReached {
                channel,
                max,
                window_days,
                used,
            } => match channel {
                Some(c) => format!(
                    "{}渠道频次已达上限：{window_days}天内最多{max}次，已接触{used}次",
                    c.name_zh()
                ),
                None => format!("全渠道频次已达上限：{window_days}天内最多{max}次，已接触{used}次"),
            },
            ReasonCode::BelowCutoff { rank, max_offers } => {
                format!("排名第{rank}，本次只返回前{max_offers}个权益")
            }
        }
    }

    pub fn text_en(&self) -> String {
        match self {
            ReasonCode::NotInAudience { expression } => {
                format!("customer does not meet the eligibility rule: {expression}")
            }
            ReasonCode::UnknownCustomer => {
                "customer is not in the profile index, so the eligibility rule cannot hold".into()
            }
            ReasonCode::OfferNotActive { status } => format!("offer is {status}, not active"),
            ReasonCode::NotYetValid { valid_from } => {
                format!("offer is not valid yet (from {valid_from})")
            }
            ReasonCode::Expired { valid_to } => format!("offer expired (valid to {valid_to})"),
            ReasonCode::NoTreatment { channel } => {
                format!("offer has no treatment for {}", channel.name_en())
            }
            ReasonCode::AlreadyHeld { product_id } => {
                format!("customer already holds product {product_id}")
            }
            ReasonCode::AcceptedRecently {
                accepted_at,
                window_days,
            } => format!(
                "customer accepted this offer at {accepted_at} (not offered again within {window_days} days)"
            ),
            ReasonCode::AboveSuitability {
                customer_level,
                product_level,
                source,
            } => format!(
                "product risk {} is above the customer's suitability level {} ({})",
                lvl_r(*product_level),
                lvl_c(*customer_level),
                match source {
                    RiskLevelSource::Questionnaire => "from this request's questionnaire",
                    RiskLevelSource::ProfileTag => "from the customer profile",
                    RiskLevelSource::DefaultC1 =>
                        "not assessed, treated as the most conservative C1",
                }
            ),
            ReasonCode::DoNotContact => "customer is on the do-not-contact list".into(),
            ReasonCode::NoMarketingConsent { channel, detail } => format!(
                "customer has not consented to marketing by {} ({detail})",
                channel.name_en()
            ),
            ReasonCode::QuietHours {
                channel,
                local_time,
                window,
            } => format!(
                "{local_time} Beijing time is inside the {} quiet hours {window}",
                channel.name_en()
            ),
            ReasonCode::Suppressed {
                rejects,
                window_days,
            } => format!(
                "customer rejected this offer {rejects} times in {window_days} days; suppressed"
            ),
            ReasonCode::CapReached {
                channel,
                max,
                window_days,
                used,
            } => match channel {
                Some(c) => format!(
                    "{} cap reached: at most {max} in {window_days} days, {used} used",
                    c.name_en()
                ),
                None => format!(
                    "all-channel cap reached: at most {max} in {window_days} days, {used} used"
                ),
            },
            ReasonCode::BelowCutoff { rank, max_offers } => {
                format!("ranked {rank}; only the top {max_offers} are returned")
            }
        }
    }
}

/// A reason with its texts, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    pub policy: Policy,
    #[serde(flatten)]
    pub code: ReasonCode,
    pub text_zh: String,
    pub text_en: String,
}

impl Reason {
    pub fn new(policy: Policy, code: ReasonCode) -> Self {
        Reason {
            policy,
            text_zh: code.text_zh(),
            text_en: code.text_en(),
            code,
        }
    }
}
