//! AES-256-GCM for single values in the operational store.
//!
//! A stored field is `enc:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>` with a fresh random
//! 96-bit nonce per value. The associated data is `table.column`, so a ciphertext copied
//! into another field (a DNC reason pasted over consent evidence) fails to decrypt instead
//! of showing up in the wrong place. Values without the `enc:` prefix are plaintext written
//! before encryption was switched on; they read as they are.

use aes_gcm::aead::{Aead, AeadCore, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::keys::{KeyError, Keyring};

/// Every encrypted field starts with this.
pub const FIELD_PREFIX: &str = "enc:";

/// True when `stored` is an encrypted field.
pub fn is_encrypted(stored: &str) -> bool {
    stored.starts_with(FIELD_PREFIX)
}

/// The key id of an encrypted field.
pub fn field_key_id(stored: &str) -> Option<&str> {
    stored
        .strip_prefix(FIELD_PREFIX)?
        .split_once(':')
        .map(|(k, _)| k)
}

impl Keyring {
    /// Encrypts `plaintext` for field `field` (`table.column`) with the active key.
    pub fn encrypt_field(&self, field: &str, plaintext: &str) -> Result<String, KeyError> {
        let kid = self.active_id().ok_or(KeyError::NoActiveKey)?;
        let cipher = self.cipher(kid)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: field.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Malformed("the value is too long for AES-GCM"))?;
        let mut buf = Vec::with_capacity(12 + ct.len());
        buf.extend_from_slice(&nonce);
        buf.extend_from_slice(&ct);
        Ok(format!("{FIELD_PREFIX}{kid}:{}", B64.encode(buf)))
    }

    /// Decrypts a value written by [`encrypt_field`](Self::encrypt_field) for the same
    /// `field`, with whichever key its id names.
    pub fn decrypt_field(&self, field: &str, stored: &str) -> Result<String, KeyError> {
        let rest = stored
            .strip_prefix(FIELD_PREFIX)
            .ok_or(KeyError::Malformed("no `enc:` prefix"))?;
        let (kid, body) = rest
            .split_once(':')
            .ok_or(KeyError::Malformed("no key id"))?;
        let cipher = self.cipher(kid)?;
        let raw = B64
            .decode(body)
            .map_err(|_| KeyError::Malformed("the body is not base64"))?;
        if raw.len() < 12 + 16 {
            return Err(KeyError::Malformed("shorter than a nonce and a tag"));
        }
        let (nonce, ct) = raw.split_at(12);
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| KeyError::Malformed("the nonce is not 12 bytes"))?;
        let failed = || KeyError::DecryptFailed {
            field: field.to_string(),
            kid: kid.to_string(),
        };
        let pt = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: field.as_bytes(),
                },
            )
            .map_err(|_| failed())?;
        String::from_utf8(pt).map_err(|_| failed())
    }

    /// What to store for `plaintext`: encrypted when a key is active, else as it is.
    pub fn seal_field(&self, field: &str, plaintext: &str) -> Result<String, KeyError> {
        if self.enabled() {
            self.encrypt_field(field, plaintext)
        } else {
            Ok(plaintext.to_string())
        }
    }

    /// The clear value of a stored field: decrypted if encrypted, else as it is.
    pub fn open_field(&self, field: &str, stored: &str) -> Result<String, KeyError> {
        if is_encrypted(stored) {
            self.decrypt_field(field, stored)
        } else {
            Ok(stored.to_string())
        }
    }

    /// The stored value re-encrypted with the active key, or `None` when it already is
    /// (or when no key is active).
    pub fn reseal_field(&self, field: &str, stored: &str) -> Result<Option<String>, KeyError> {
        let Some(active) = self.active_id() else {
            return Ok(None);
        };
        if field_key_id(stored) == Some(active) {
            return Ok(None);
        }
        let clear = self.open_field(field, stored)?;
        self.encrypt_field(field, &clear).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip_and_errors() {
        let k = Keyring::generate("k1").expect("key");
        let e = k
            .encrypt_field("consents.evidence", "张三 13812345678")
            .expect("encrypts");
        assert!(e.starts_with("enc:k1:"), "{e}");
        assert!(!e.contains("13812345678"));
        assert_ne!(
            k.encrypt_field("consents.evidence", "张三 13812345678")
                .expect("encrypts"),
            e,
            "random nonce per value"
        );
        assert_eq!(
            k.decrypt_field("consents.evidence", &e).expect("decrypts"),
            "张三 13812345678"
        );
        let err = k.decrypt_field("do_not_contact.reason", &e).unwrap_err();
        assert!(matches!(err, KeyError::DecryptFailed { .. }), "{err}");
        let other = Keyring::generate("k2").expect("key");
        let err = other.decrypt_field("consents.evidence", &e).unwrap_err();
        assert!(err.to_string().contains("'k1'"), "{err}");
        assert!(err.to_string().contains("ZHIYING_DATA_KEY"), "{err}");
        assert_eq!(
            Keyring::empty().seal_field("a.b", "clear").expect("plain"),
            "clear"
        );
        assert_eq!(k.open_field("a.b", "clear").expect("plain"), "clear");
    }

    #[test]
    fn reseal_moves_to_the_active_key() {
        let mut k = Keyring::generate("k1").expect("key");
        let old = k.encrypt_field("t.c", "v").expect("encrypts");
        k.rotate(None).expect("rotates");
        assert_eq!(k.active_id(), Some("k2"));
        let new = k.reseal_field("t.c", &old).expect("ok").expect("changed");
        assert_eq!(field_key_id(&new), Some("k2"));
        assert_eq!(k.reseal_field("t.c", &new).expect("ok"), None);
        let plain = k
            .reseal_field("t.c", "clear")
            .expect("ok")
            .expect("changed");
        k.remove_key("k1");
        assert_eq!(k.decrypt_field("t.c", &new).expect("decrypts"), "v");
        assert_eq!(k.decrypt_field("t.c", &plain).expect("decrypts"), "clear");
    }

    proptest! {
        #[test]
        fn encrypt_decrypt_round_trips(v in ".{0,200}", field in "[a-z_]{1,20}\\.[a-z_]{1,20}") {
            let k = Keyring::generate("kp").expect("key");
            let e = k.encrypt_field(&field, &v).expect("encrypts");
            prop_assert_eq!(k.decrypt_field(&field, &e).expect("decrypts"), v);
        }

        #[test]
        fn any_bit_flip_is_rejected(v in ".{0,64}", pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let k = Keyring::generate("kp").expect("key");
            let e = k.encrypt_field("t.c", &v).expect("encrypts");
            let prefix = "enc:kp:".len();
            let mut raw = B64.decode(&e[prefix..]).expect("base64");
            let i = pos.index(raw.len());
            raw[i] ^= 1 << bit;
            let tampered = format!("enc:kp:{}", B64.encode(&raw));
            prop_assert!(k.decrypt_field("t.c", &tampered).is_err());
        }

        #[test]
        fn swapped_associated_data_is_rejected(v in ".{0,64}", a in "[a-z]{1,8}\\.[a-z]{1,8}", b in "[a-z]{1,8}\\.[a-z]{1,8}") {
            prop_assume!(a != b);
            let k = Keyring::generate("kp").expect("key");
            let e = k.encrypt_field(&a, &v).expect("encrypts");
            prop_assert!(k.decrypt_field(&b, &e).is_err());
        }
    }
}
