//! Operators applied to detected PII: mask, redact, keyed hash, reversible tokenisation
//! and AES-256-GCM encryption.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::detect::{compound_surname_len, is_coarse, is_fine};
use crate::{Finding, PiiError, PiiKind};

/// HMAC-SHA256 over `parts` (each length-prefixed, so ("ab","c") ≠ ("a","bc")).
fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this constructor has no failing input.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for p in parts {
        m.update(&(p.len() as u64).to_le_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Replaces every character of `value` that counts (per `counts`) with `*`, except the
/// first `first` and last `last` counted ones. If the value is too short for that, keeps a
/// quarter at each end so the mask still hides most of it.
fn mask_counted(value: &str, first: usize, last: usize, counts: impl Fn(char) -> bool) -> String {
    let n = value.chars().filter(|&c| counts(c)).count();
    let (first, last) = if n > first + last {
        (first, last)
    } else {
        (n / 4, n / 4)
    };
    let mut k = 0;
    value
        .chars()
        .map(|c| {
            if !counts(c) {
                return c;
            }
            let keep = k < first || k >= n - last;
            k += 1;
            if keep { c } else { '*' }
        })
        .collect()
}

/// Masks a value keeping what a service agent needs to recognise it:
/// phone `138****5678`, ID `110***********1234`, card `6222 **** **** 1234`, name `张*`,
/// e-mail `a***@x.com`, IP `192.168.*.*`, passport `E*****678`, address up to the district.
pub fn mask(value: &str, kind: PiiKind) -> String {
    let digit = |c: char| c.is_ascii_digit();
    match kind {
        PiiKind::Mobile => {
            let n = value.chars().filter(|c| c.is_ascii_digit()).count();
            mask_counted(value, n.saturating_sub(8), 4, digit)
        }
        PiiKind::Landline => {
            let area = value
                .split(['-', ' '])
                .next()
                .map(|a| a.chars().filter(|c| c.is_ascii_digit()).count())
                .filter(|&a| a < value.len())
                .unwrap_or(3);
            mask_counted(value, area, 4, digit)
        }
        PiiKind::ResidentId => mask_counted(value, 3, 4, |c| c.is_ascii_alphanumeric()),
        PiiKind::BankCard => {
            let masked: Vec<char> = mask_counted(value, 4, 4, digit)
                .chars()
                .filter(|&c| c.is_ascii_digit() || c == '*')
                .collect();
            let mut s = String::with_capacity(masked.len() + 5);
            for (i, c) in masked.iter().enumerate() {
                if i > 0 && i % 4 == 0 {
                    s.push(' ');
                }
                s.push(*c);
            }
            s
        }
        PiiKind::PersonName => {
            let keep = compound_surname_len(value)
                .unwrap_or_else(|| value.chars().next().map_or(0, char::len_utf8));
            let mut s = value[..keep].to_string();
            let rest = value[keep..].chars().count().max(1);
            s.extend(std::iter::repeat_n('*', rest));
            s
        }
        PiiKind::Email => match value.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => mask_counted(value, 1, 0, |_| true),
        },
        PiiKind::IpAddress => {
            if value.contains(':') {
                let first = value.split(':').next().unwrap_or("");
                format!("{first}:*:*")
            } else {
                let parts: Vec<&str> = value.split('.').collect();
                if parts.len() == 4 {
                    format!("{}.{}.*.*", parts[0], parts[1])
                } else {
                    mask_counted(value, 0, 0, digit)
                }
            }
        }
        PiiKind::Passport | PiiKind::HkMacauPermit => {
            mask_counted(value, 1, 3, |c| c.is_ascii_alphanumeric())
        }
        PiiKind::Address => {
            // Keep the administrative prefix (…省…市…区) up to the first street-level
            // marker; mask every character after it.
            let mut keep = 0;
            for (i, c) in value.char_indices() {
                if is_fine(c) {
                    break;
                }
                if is_coarse(c) {
                    keep = i + c.len_utf8();
                }
            }
            let mut s = value[..keep].to_string();
            s.extend(value[keep..].chars().map(|_| '*'));
            s
        }
    }
}

/// The tag that replaces a value when redacting: `[手机号]`, `[身份证]`, …
pub fn redact(kind: PiiKind) -> &'static str {
    kind.tag()
}

/// Keyed hash for joining on PII without holding it: HMAC-SHA256, lowercase hex.
/// The same key and value always give the same hash; without the key it cannot be
/// reversed by enumerating phone numbers, unlike a plain SHA-256.
#[derive(Clone)]
pub struct KeyedHasher {
    key: Vec<u8>,
}

impl KeyedHasher {
    pub fn new(key: &[u8]) -> Self {
        KeyedHasher { key: key.to_vec() }
    }

    /// 64 hex characters.
    pub fn hash(&self, value: &str) -> String {
        hex::encode(hmac(&self.key, &[value.as_bytes()]))
    }
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher { key: <hidden> }")
    }
}

/// Characters CJK text is tokenised into (common given-name characters), so a tokenised
/// name still looks like a name.
const CJK_TOKEN_CHARS: &str = "安柏晨丹恩芳峰刚海涵浩华佳建杰静俊凯兰磊丽林玲敏明楠宁鹏萍琪强琴青荣瑞森山珊淑涛婷伟文霞翔欣新秀雪阳洋怡毅英颖勇宇玉悦云哲珍志忠洲子";

/// Reversible, deterministic tokenisation. Digits become digits, letters letters (same
/// case), CJK characters other CJK characters, and separators stay, so a token fits the
/// column it replaces. The vault maps tokens back to values; the same value under the
/// same key and kind always gets the same token.
pub struct Vault {
    key: Vec<u8>,
    forward: HashMap<(PiiKind, String), String>,
    reverse: HashMap<String, String>,
}

impl Vault {
    pub fn new(key: &[u8]) -> Self {
        Vault {
            key: key.to_vec(),
            forward: HashMap::new(),
            reverse: HashMap::new(),
        }
    }

    /// Number of distinct values held.
    pub fn len(&self) -> usize {
        self.forward.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }

    /// The token for `value` (minted and remembered on first use).
    pub fn tokenize(&mut self, kind: PiiKind, value: &str) -> String {
        if let Some(t) = self.forward.get(&(kind, value.to_string())) {
            return t.clone();
        }
        let mut attempt: u32 = 0;
        let token = loop {
            let t = self.mint(kind, value, attempt);
            // A short value has few possible tokens; after enough collisions a suffix
            // makes the token unique rather than looping forever.
            let t = if attempt >= 32 {
                format!("{t}~{attempt}")
            } else {
                t
            };
            if !self.reverse.contains_key(&t) {
                break t;
            }
            attempt += 1;
        };
        self.forward
            .insert((kind, value.to_string()), token.clone());
        self.reverse.insert(token.clone(), value.to_string());
        token
    }

    /// The original value of a token this vault minted.
    pub fn detokenize(&self, token: &str) -> Option<&str> {
        self.reverse.get(token).map(String::as_str)
    }

    fn mint(&self, kind: PiiKind, value: &str, attempt: u32) -> String {
        let cjk: Vec<char> = CJK_TOKEN_CHARS.chars().collect();
        let mut block = 0u32;
        let mut stream: Vec<u8> = Vec::new();
        let mut pos = 0;
        let mut next = |stream: &mut Vec<u8>| {
            if pos == stream.len() {
                let h = hmac(
                    &self.key,
                    &[
                        kind.code().as_bytes(),
                        value.as_bytes(),
                        &attempt.to_le_bytes(),
                        &block.to_le_bytes(),
                    ],
                );
                block += 1;
                stream.extend_from_slice(&h);
            }
            pos += 1;
            stream[pos - 1]
        };
        value
            .chars()
            .map(|c| {
                if c.is_ascii_digit() {
                    char::from(b'0' + next(&mut stream) % 10)
                } else if c.is_ascii_lowercase() {
                    char::from(b'a' + next(&mut stream) % 26)
                } else if c.is_ascii_uppercase() {
                    char::from(b'A' + next(&mut stream) % 26)
                } else if ('\u{4E00}'..='\u{9FFF}').contains(&c) {
                    cjk[usize::from(next(&mut stream)) % cjk.len()]
                } else {
                    c
                }
            })
            .collect()
    }
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault {{ entries: {} }}", self.forward.len())
    }
}

/// AES-256-GCM keys by id. Values are written as `keyid:base64(nonce|ciphertext)` so a
/// key can rotate: new values use the active key, old ones still decrypt by their id.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl Keyring {
    /// A keyring whose active (encrypting) key is `id`. The key must be 32 bytes.
    pub fn new(id: &str, key: &[u8]) -> Result<Self, PiiError> {
        let mut k = Keyring {
            active: id.to_string(),
            keys: HashMap::new(),
        };
        k.add_key(id, key)?;
        Ok(k)
    }

    /// Adds a key that can decrypt (e.g. a retired key during rotation).
    pub fn add_key(&mut self, id: &str, key: &[u8]) -> Result<(), PiiError> {
        if id.is_empty() || id.contains(':') {
            return Err(PiiError::BadKeyId(id.to_string()));
        }
        let cipher = Aes256Gcm::new_from_slice(key)
            .map_err(|_| PiiError::BadKeyLength(id.to_string(), key.len()))?;
        self.keys.insert(id.to_string(), cipher);
        Ok(())
    }

    /// Makes `id` the key new values are encrypted with.
    pub fn set_active(&mut self, id: &str) -> Result<(), PiiError> {
        if !self.keys.contains_key(id) {
            return Err(PiiError::UnknownKey(id.to_string()));
        }
        self.active = id.to_string();
        Ok(())
    }

    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts with a fresh random 96-bit nonce.
    pub fn encrypt(&self, plaintext: &str) -> Result<String, PiiError> {
        let cipher = self
            .keys
            .get(&self.active)
            .ok_or_else(|| PiiError::UnknownKey(self.active.clone()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| PiiError::Malformed("plaintext too long for AES-GCM".into()))?;
        let mut buf = nonce.to_vec();
        buf.extend_from_slice(&ct);
        Ok(format!("{}:{}", self.active, B64.encode(buf)))
    }

    /// Decrypts a value written by [`Keyring::encrypt`] with any key in the ring.
    pub fn decrypt(&self, value: &str) -> Result<String, PiiError> {
        let (id, body) = value
            .split_once(':')
            .ok_or_else(|| PiiError::Malformed("no `keyid:` prefix".into()))?;
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| PiiError::UnknownKey(id.to_string()))?;
        let raw = B64
            .decode(body)
            .map_err(|e| PiiError::Malformed(format!("base64: {e}")))?;
        if raw.len() < 12 + 16 {
            return Err(PiiError::Malformed(format!(
                "{} bytes is shorter than nonce + tag (28)",
                raw.len()
            )));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| PiiError::Malformed("nonce is not 12 bytes".into()))?;
        let pt = cipher
            .decrypt(&Nonce::from(nonce), ct)
            .map_err(|_| PiiError::DecryptFailed(id.to_string()))?;
        String::from_utf8(pt).map_err(|_| PiiError::Malformed("plaintext is not UTF-8".into()))
    }
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        write!(f, "Keyring {{ active: {}, keys: {ids:?} }}", self.active)
    }
}

/// How [`apply`] rewrites each finding.
pub enum Operator<'a> {
    Mask,
    Redact,
    Hash(&'a KeyedHasher),
    Tokenize(&'a mut Vault),
    Encrypt(&'a Keyring),
}

/// Rewrites `text`, replacing each finding's span through `op`. Findings must come from
/// [`crate::scan`] on this text (sorted, non-overlapping); any that overlap an earlier one
/// or fall outside the text are skipped. If encryption fails the value is redacted, so
/// PII never leaks through an error path.
pub fn apply(text: &str, findings: &[Finding], op: &mut Operator<'_>) -> String {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| f.start);
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for f in sorted {
        if f.start < pos
            || f.end > text.len()
            || f.start > f.end
            || !text.is_char_boundary(f.start)
            || !text.is_char_boundary(f.end)
        {
            continue;
        }
        out.push_str(&text[pos..f.start]);
        let v = &text[f.start..f.end];
        match op {
            Operator::Mask => out.push_str(&mask(v, f.kind)),
            Operator::Redact => out.push_str(redact(f.kind)),
            Operator::Hash(h) => out.push_str(&h.hash(v)),
            Operator::Tokenize(vault) => out.push_str(&vault.tokenize(f.kind, v)),
            Operator::Encrypt(k) => match k.encrypt(v) {
                Ok(e) => out.push_str(&e),
                Err(_) => out.push_str(redact(f.kind)),
            },
        }
        pos = f.end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_the_house_style() {
        assert_eq!(mask("13812345678", PiiKind::Mobile), "138****5678");
        assert_eq!(
            mask("110105194912310021", PiiKind::ResidentId),
            "110***********0021"
        );
        assert_eq!(
            mask("6222021234567890", PiiKind::BankCard),
            "6222 **** **** 7890"
        );
        assert_eq!(mask("张三", PiiKind::PersonName), "张*");
        assert_eq!(mask("欧阳娜娜", PiiKind::PersonName), "欧阳**");
        assert_eq!(mask("alice@x.com", PiiKind::Email), "a***@x.com");
        assert_eq!(
            mask("北京市朝阳区建国路88号", PiiKind::Address),
            "北京市朝阳区******"
        );
        assert_eq!(mask("010-62345678", PiiKind::Landline), "010-****5678");
    }

    #[test]
    fn keyring_rotation_and_errors() {
        let mut k = Keyring::new("k1", &[7u8; 32]).expect("32-byte key");
        let old = k.encrypt("13812345678").expect("encrypts");
        assert!(old.starts_with("k1:"));
        k.add_key("k2", &[9u8; 32]).expect("32-byte key");
        k.set_active("k2").expect("known key");
        let new = k.encrypt("13812345678").expect("encrypts");
        assert!(new.starts_with("k2:"));
        assert_eq!(k.decrypt(&old).expect("old key decrypts"), "13812345678");
        assert!(matches!(
            Keyring::new("k", &[1u8; 16]),
            Err(PiiError::BadKeyLength(_, 16))
        ));
        assert!(matches!(k.decrypt("k9:AAAA"), Err(PiiError::UnknownKey(_))));
    }

    #[test]
    fn apply_redacts_in_place() {
        let t = "客户张三手机13812345678";
        let out = apply(t, &crate::scan(t), &mut Operator::Redact);
        assert_eq!(out, "客户[姓名]手机[手机号]");
    }
}
