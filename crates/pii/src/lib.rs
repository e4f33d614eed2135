//! PII detection and masking for Chinese bank data (issue 7, item 2).
//!
//! [`scan`] finds personal information in free text (chat transcripts, complaint notes,
//! transfer memos) and returns non-overlapping byte spans; [`classify_field`] decides what a
//! structured column value holds. The operators in [`ops`] mask, redact, hash, tokenise or
//! encrypt what was found, and [`apply`] rewrites a text through one of them.
//!
//! The scanner is a single pass over the bytes for the ASCII shapes (digits, `@`, `:`,
//! passport letters) plus one Aho-Corasick pass for the Chinese cues (name cues, titles,
//! province names, address cues); the expensive checks (GB 11643 check digit, Luhn, dates)
//! only run on candidates, which is what keeps it fast on Chinese text.

mod detect;
pub mod envelope;
pub mod log;
pub mod ops;
pub mod policy;

pub use detect::{classify_field, luhn_valid, resident_id_valid, scan};
pub use envelope::{KeyError, KeyFile, KeyRing};
pub use ops::{KeyedHasher, Keyring, Operator, Vault, apply, mask, redact};
pub use policy::{Display, FieldPolicy, Redactor, channel_contact_column};

/// `text` with every detected identifier replaced by its tag (`[手机号]`, `[身份证]`, …);
/// borrowed unchanged when nothing was found. The log writer runs every line through it.
pub fn redact_text(text: &str) -> std::borrow::Cow<'_, str> {
    let found = scan(text);
    if found.is_empty() {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(apply(text, &found, &mut Operator::Redact))
    }
}

use serde::{Deserialize, Serialize};

/// The kinds of personal information the detectors recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    /// 居民身份证号 (18-digit GB 11643, or 15-digit legacy).
    ResidentId,
    /// Mainland mobile number, optionally with +86 / 0086.
    Mobile,
    /// Landline with area code (0xx-xxxxxxxx).
    Landline,
    /// Bank card number (Luhn-valid, plausible BIN).
    BankCard,
    /// E-mail address.
    Email,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// Passport number (near a context keyword).
    Passport,
    /// Hong Kong / Macau travel permit (near a context keyword).
    HkMacauPermit,
    /// Chinese personal name, found next to a context cue.
    PersonName,
    /// Postal address (province/city/district/street/number markers).
    Address,
}

impl PiiKind {
    /// Every kind, in a stable order (for reports).
    pub const ALL: [PiiKind; 10] = [
        PiiKind::ResidentId,
        PiiKind::Mobile,
        PiiKind::Landline,
        PiiKind::BankCard,
        PiiKind::Email,
        PiiKind::IpAddress,
        PiiKind::Passport,
        PiiKind::HkMacauPermit,
        PiiKind::PersonName,
        PiiKind::Address,
    ];

    /// The snake_case code used in JSON and the corpus.
    pub fn code(self) -> &'static str {
        match self {
            PiiKind::ResidentId => "resident_id",
            PiiKind::Mobile => "mobile",
            PiiKind::Landline => "landline",
            PiiKind::BankCard => "bank_card",
            PiiKind::Email => "email",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Passport => "passport",
            PiiKind::HkMacauPermit => "hk_macau_permit",
            PiiKind::PersonName => "person_name",
            PiiKind::Address => "address",
        }
    }

    /// The Chinese tag [`redact`] writes in place of a value.
    pub fn tag(self) -> &'static str {
        match self {
            PiiKind::ResidentId => "[身份证]",
            PiiKind::Mobile => "[手机号]",
            PiiKind::Landline => "[电话]",
            PiiKind::BankCard => "[银行卡]",
            PiiKind::Email => "[邮箱]",
            PiiKind::IpAddress => "[IP地址]",
            PiiKind::Passport => "[护照]",
            PiiKind::HkMacauPermit => "[通行证]",
            PiiKind::PersonName => "[姓名]",
            PiiKind::Address => "[地址]",
        }
    }
}

impl std::fmt::Display for PiiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One piece of PII found in a text: `text[start..end]` (byte offsets, on char boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    /// 0..1; checksum-validated kinds score highest, context-inferred ones lower.
    pub confidence: f32,
}

/// Errors from the keyed operators.
#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error(
        "encryption key `{0}` is not in the keyring; add it (32 bytes) with Keyring::add_key or fix the key id prefix of the value"
    )]
    UnknownKey(String),
    #[error(
        "encrypted value is malformed: {0}; expected `keyid:base64(nonce|ciphertext)` as written by Keyring::encrypt"
    )]
    Malformed(String),
    #[error(
        "decryption failed for key `{0}`: wrong key or the value was tampered with; check the key file holds the key this value was encrypted with"
    )]
    DecryptFailed(String),
    #[error("encryption key `{0}` must be 32 bytes (AES-256), got {1} bytes")]
    BadKeyLength(String, usize),
    #[error("key id `{0}` must be non-empty and must not contain ':'")]
    BadKeyId(String),
}
