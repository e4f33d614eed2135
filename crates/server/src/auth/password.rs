//! Password hashing (argon2id, PHC strings) and random secrets (passwords, API tokens,
//! session ids). Secrets come from the operating system's CSPRNG.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// API tokens start with this, so secret scanners and people recognise them.
pub const TOKEN_PREFIX: &str = "zy_";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error(
        "password must have at least {min} characters (got {got}); use a passphrase or let Zhiying generate one"
    )]
    TooShort { min: usize, got: usize },
    #[error("password must have at most 1024 characters")]
    TooLong,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Minimum length for human-chosen passwords (NIST SP 800-63B recommends at least 8; we ask 12).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the length rules and hashes. The result is a PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let got = password.chars().count();
    if got < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort {
            min: MIN_PASSWORD_CHARS,
            got,
        });
    }
    if got > 1024 {
        return Err(PasswordError::TooLong);
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// True when `password` matches the stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the username does not exist, so a
/// failed login takes the same time whether or not the user exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash_password(&random_password()).unwrap_or_default());
    &DUMMY
}

const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A 20-character password from a 57-symbol alphabet without look-alikes (0/O, 1/l/I):
/// about 117 bits.
pub fn random_password() -> String {
    random_string(20)
}

fn random_string(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// 32 random bytes as hex (256 bits): session ids and CSRF tokens.
pub fn random_hex32() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// A new API token: `zy_` + 64 hex digits. Only its SHA-256 is stored.
pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_hex32())
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let h1 = hash_password("correct horse battery").expect("hash");
        let h2 = hash_password("correct horse battery").expect("hash");
        assert!(h1.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h1}");
        assert_ne!(h1, h2, "salted");
        assert!(verify_password("correct horse battery", &h1));
        assert!(!verify_password("correct horse batterY", &h1));
        assert!(!verify_password("x", "not a phc string"));
        assert!(matches!(
            hash_password("short"),
            Err(PasswordError::TooShort { .. })
        ));
    }

    #[test]
    fn secrets_have_the_promised_shape() {
        let p = random_password();
        assert_eq!(p.chars().count(), 20);
        assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(random_password(), p);
        let t = new_api_token();
        assert!(
            t.starts_with("zy_") && t.len() == 67 && t[3..].bytes().all(|b| b.is_ascii_hexdigit())
        );
        assert!(
            constant_time_eq("abc", "abc")
                && !constant_time_eq("abc", "abd")
                && !constant_time_eq("ab", "abc")
        );
    }
}
