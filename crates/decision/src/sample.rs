//! The built-in sample catalogue (13 offers on the synthetic bank's products).

use crate::catalog::Catalog;

/// The sample catalogue as TOML: a starting point for a bank's own file.
pub const SAMPLE_CATALOG_TOML: &str = include_str!("sample_catalog.toml");

/// The sample catalogue, parsed and validated.
pub fn sample_catalog() -> Catalog {
    Catalog::from_toml_str(SAMPLE_CATALOG_TOML)
        .expect("the built-in sample catalogue is valid (checked by a unit test)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_valid_and_uses_synthetic_bank_products() {
        let c = Catalog::from_toml_str(SAMPLE_CATALOG_TOML).unwrap();
        assert_eq!(c.len(), 13);
        for o in c.current() {
            let n: u32 = o.product_id[1..].parse().unwrap();
            assert!(
                (1..=20).contains(&n),
                "{} uses unknown product {}",
                o.id,
                o.product_id
            );
        }
        // Covers every product risk level.
        let mut levels: Vec<_> = c.current().map(|o| o.risk_level).collect();
        levels.sort();
        levels.dedup();
        assert_eq!(levels.len(), 5);
    }
}
