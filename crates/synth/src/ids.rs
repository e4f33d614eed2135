//! Identifiers that look and validate like real Chinese ones, derived from the customer
//! index so they are unique without any shared state between chunks.

use rand_pcg::Pcg64Mcg;

/// SplitMix64 finaliser: a strong 64-bit mixer used to derive per-customer seeds.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The RNG of one customer and one purpose (`stream`), independent of chunking.
pub fn rng_for(seed: u64, idx: u64, stream: u64) -> Pcg64Mcg {
    let a = splitmix64(seed ^ splitmix64(idx.wrapping_mul(0x1000).wrapping_add(stream)));
    let b = splitmix64(a ^ 0xD1B5_4A32_D192_ED03);
    Pcg64Mcg::new(((a as u128) << 64) | b as u128)
}

/// An affine bijection on `0..modulus` (`mult` must be coprime to `modulus`): spreads
/// consecutive indices over the whole range so derived identifiers look random yet never collide.
pub fn scramble(idx: u64, modulus: u64, mult: u64, add: u64) -> u64 {
    ((idx as u128 * mult as u128 + add as u128) % modulus as u128) as u64
}

const RID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// GB 11643-1999 check character for the first 17 digits of a resident ID.
pub fn resident_id_check(first17: &[u8]) -> u8 {
    let s: u32 = first17
        .iter()
        .zip(RID_WEIGHTS)
        .map(|(&d, w)| (d - b'0') as u32 * w)
        .sum();
    b"10X98765432"[(s % 11) as usize]
}

/// True for an 18-character resident ID whose check character is right.
pub fn resident_id_valid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) && resident_id_check(&b[..17]) == b[17]
}

/// Writes an 18-character resident ID: 6-digit area, birth date, 3-digit sequence whose
/// parity gives the gender (odd = male), check character.
pub fn resident_id(out: &mut [u8; 18], area: u32, y: i32, m: u32, d: u32, seq: u32) {
    write_digits(&mut out[0..6], area as u64);
    write_digits(&mut out[6..10], y as u64);
    write_digits(&mut out[10..12], m as u64);
    write_digits(&mut out[12..14], d as u64);
    write_digits(&mut out[14..17], seq as u64);
    out[17] = resident_id_check(&out[..17]);
}

/// Luhn check digit for a digit string (the check digit not yet appended).
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    let mut sum = 0u32;
    for (i, &c) in digits.iter().rev().enumerate() {
        let mut v = (c - b'0') as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// True when the digit string passes the Luhn check.
pub fn luhn_valid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b.iter().all(u8::is_ascii_digit)
        && luhn_check_digit(&b[..b.len() - 1]) == b[b.len() - 1]
}

/// Writes `v` zero-padded into exactly `out.len()` digits (keeps the low digits).
pub fn write_digits(out: &mut [u8], mut v: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A card number: BIN, a body derived bijectively from the customer index, Luhn digit.
pub fn card_number(out: &mut Vec<u8>, bin: &[u8], body_digits: usize, idx: u64, mult: u64) {
    out.clear();
    out.extend_from_slice(bin);
    let modulus = 10u64.pow(body_digits as u32);
    let start = out.len();
    out.resize(start + body_digits, b'0');
    write_digits(
        &mut out[start..],
        scramble(idx, modulus, mult, modulus / 3 + 7_331),
    );
    let c = luhn_check_digit(out);
    out.push(c);
}

/// Capacity of the resident-ID bijection: 365 birth days × 100 areas × 500 sequence pairs.
pub const RID_SPACE: u64 = 365 * 100 * 500;
/// Multiplier coprime to `RID_SPACE` (= 2⁴·5⁶·73).
pub const RID_MULT: u64 = 7_919_461;

#[cfg(test)]
mod tests {
    use super::*;

    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }

    #[test]
    fn known_resident_id_and_luhn() {
        // Example from the GB 11643 standard text.
        assert!(resident_id_valid("11010519491231002X"));
        assert!(!resident_id_valid("110105194912310021"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
    }

    #[test]
    fn scramble_is_a_bijection_with_our_multipliers() {
        assert_eq!(gcd(RID_MULT, RID_SPACE), 1);
        let mut seen = vec![false; 10_000];
        for i in 0..10_000 {
            let v = scramble(i, 10_000, 48_271_337, 5) as usize;
            assert!(!seen[v]);
            seen[v] = true;
        }
    }
}
