//! Property tests for the operators.

use proptest::prelude::*;
use zhiying_pii::{Keyring, PiiError, PiiKind, Vault, mask};

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0u8..10, n)
        .prop_map(|v| v.into_iter().map(|d| char::from(b'0' + d)).collect())
}

proptest! {
    #[test]
    fn masking_hides_the_digits(
        id in digits(17), x in any::<bool>(),
        card in digits(16), phone in digits(9),
    ) {
        let id = format!("{id}{}", if x { "X" } else { "7" });
        let phone = format!("13{phone}");
        for (v, k) in [(&id, PiiKind::ResidentId), (&card, PiiKind::BankCard), (&phone, PiiKind::Mobile)] {
            let m = mask(v, k);
            let kept: String = m.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            prop_assert!(!m.contains(v.as_str()), "{m} leaks {v}");
            prop_assert!(kept.len() <= 8, "{m} keeps too much of {v}");
            prop_assert!(m.contains('*'));
        }
    }

    #[test]
    fn tokenise_round_trips(values in proptest::collection::vec("[0-9]{4,19}|[a-z]{1,8}@[a-z]{2,6}\\.com|[张王李赵][伟芳娜敏静]{1,2}", 1..40)) {
        let mut vault = Vault::new(b"test key");
        let tokens: Vec<String> = values.iter().map(|v| vault.tokenize(PiiKind::BankCard, v)).collect();
        for (v, t) in values.iter().zip(&tokens) {
            prop_assert_eq!(vault.detokenize(t), Some(v.as_str()));
            prop_assert_eq!(&vault.tokenize(PiiKind::BankCard, v), t, "deterministic");
            prop_assert_eq!(t.chars().count(), v.chars().count(), "format-preserving length");
        }
    }

    #[test]
    fn encrypt_round_trips_and_wrong_key_fails(text in "\\PC{0,64}", k1 in any::<[u8; 32]>(), k2 in any::<[u8; 32]>()) {
        prop_assume!(k1 != k2);
        let ring = Keyring::new("k1", &k1).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let enc = ring.encrypt(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(enc.starts_with("k1:"));
        prop_assert_eq!(ring.decrypt(&enc).map_err(|e| TestCaseError::fail(e.to_string()))?, text);
        let wrong = Keyring::new("k1", &k2).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(matches!(wrong.decrypt(&enc), Err(PiiError::DecryptFailed(_))));
    }
}
