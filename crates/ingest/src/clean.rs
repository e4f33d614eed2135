//! Normalisers for identifiers, so the same phone, resident ID, e-mail or card written
//! differently by two channels compares equal (dedup and identity resolution depend on it).
//!
//! Each function appends the normalised value to `out` (reused across rows, so no
//! allocation per field) or returns `(what is wrong, how to fix it)`.

/// Error from a normaliser: what is wrong, and a hint on how to fix it.
pub type CleanError = (String, String);

fn show(s: &str) -> String {
    let mut t: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        t.push('…');
    }
    t
}

/// Phone: drops spaces, dashes, dots and brackets and a +86/0086 country prefix.
/// Keeps landlines (leading 0 and area code), so only digit count is checked.
pub fn phone(raw: &str, out: &mut String) -> Result<(), CleanError> {
    let start = out.len();
    for c in raw.chars() {
        match c {
            ' ' | '-' | '.' | '(' | ')' | '\u{3000}' | '\t' => {}
            '+' if out.len() == start => out.push('+'),
            c => out.push(c),
        }
    }
    let body = &out[start..];
    let strip = if body.starts_with("+86") {
        3
    } else if body.starts_with("0086") {
        4
    } else if body.len() == 13 && body.starts_with("861") {
        2
    } else {
        0
    };
    out.replace_range(start..start + strip, "");
    let body = &out[start..];
    if !body.bytes().all(|b| b.is_ascii_digit()) || !(7..=15).contains(&body.len()) {
        let msg = format!("'{}' is not a phone number", show(raw));
        out.truncate(start);
        return Err((
            msg,
            "use 7-15 digits, e.g. 13812345678 (a +86/0086 prefix, spaces and dashes are removed)"
                .into(),
        ));
    }
    Ok(())
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The GB 11643 check character for the first 17 digits.
pub fn resident_id_check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| (d - b'0') as u32 * w)
        .sum();
    Some(ID_CHECK[(sum % 11) as usize])
}

/// PRC resident identity number (GB 11643-1999): 18 characters, the last a check digit or
/// X, with the birth date at positions 7-14. Upper-cases x. Old 15-digit numbers (no check
/// digit, two-digit year) are accepted when their birth date is valid.
pub fn resident_id(raw: &str, out: &mut String) -> Result<(), CleanError> {
    let s = raw.trim();
    let b = s.as_bytes();
    let fmt_hint = "use the 18-character resident ID: 17 digits then a digit or X";
    match b.len() {
        18 => {
            if !b[..17].iter().all(u8::is_ascii_digit)
                || !(b[17].is_ascii_digit() || b[17] == b'x' || b[17] == b'X')
            {
                return Err((
                    format!("'{}' is not a resident ID", show(raw)),
                    fmt_hint.into(),
                ));
            }
            if zhiying_core::time::parse_date(&s[6..14]).is_err() {
                return Err((
                    format!("'{}' has an impossible birth date '{}' (positions 7-14)", show(raw), &s[6..14]),
                    "check the number against the ID card: positions 7-14 are the birth date YYYYMMDD".into(),
                ));
            }
            let got = b[17].to_ascii_uppercase();
            let want = resident_id_check_char(&b[..17]).unwrap_or(b'?');
            if got != want {
                return Err((
                    format!(
                        "'{}' fails the GB 11643 check digit (last character is {}, expected {})",
                        show(raw),
                        got as char,
                        want as char
                    ),
                    "a digit was probably mistyped: re-enter the number from the ID card".into(),
                ));
            }
            out.push_str(&s[..17]);
            out.push(got as char);
            Ok(())
        }
        15 => {
            if !b.iter().all(u8::is_ascii_digit) {
                return Err((
                    format!("'{}' is not a resident ID", show(raw)),
                    fmt_hint.into(),
                ));
            }
            let date = format!("19{}", &s[6..12]);
            if zhiying_core::time::parse_date(&date).is_err() {
                return Err((
                    format!(
                        "'{}' has an impossible birth date '{}' (positions 7-12)",
                        show(raw),
                        &s[6..12]
                    ),
                    "check the number against the ID card".into(),
                ));
            }
            out.push_str(s);
            Ok(())
        }
        n => Err((
            format!(
                "'{}' is not a resident ID: it has {n} characters, not 18",
                show(raw)
            ),
            fmt_hint.into(),
        )),
    }
}

/// E-mail: lower-cased; one '@' with a non-empty local part and a dotted domain.
pub fn email(raw: &str, out: &mut String) -> Result<(), CleanError> {
    let s = raw.trim();
    let ok = match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if !ok {
        return Err((
            format!("'{}' is not an e-mail address", show(raw)),
            "use the form name@example.com".into(),
        ));
    }
    for c in s.chars() {
        out.extend(c.to_lowercase());
    }
    Ok(())
}

/// Bank card number: spaces and dashes dropped, 12-19 digits.
pub fn card_no(raw: &str, out: &mut String) -> Result<(), CleanError> {
    let start = out.len();
    out.extend(raw.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')));
    let body = &out[start..];
    if !body.bytes().all(|b| b.is_ascii_digit()) || !(12..=19).contains(&body.len()) {
        out.truncate(start);
        return Err((
            format!("'{}' is not a card number", show(raw)),
            "use the 12-19 digits printed on the card".into(),
        ));
    }
    Ok(())
}

/// Booleans as source systems write them.
pub fn boolean(s: &str) -> Option<bool> {
    const T: [&str; 6] = ["true", "t", "1", "yes", "y", "是"];
    const F: [&str; 6] = ["false", "f", "0", "no", "n", "否"];
    if T.iter().any(|t| t.eq_ignore_ascii_case(s)) {
        Some(true)
    } else if F.iter().any(|f| f.eq_ignore_ascii_case(s)) {
        Some(false)
    } else {
        None
    }
}

/// Truncates a value for display in a message.
pub(crate) fn shown(s: &str) -> String {
    show(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&str, &mut String) -> Result<(), CleanError>, s: &str) -> Result<String, String> {
        let mut out = String::new();
        f(s, &mut out).map(|_| out).map_err(|e| e.0)
    }

    #[test]
    fn phones_normalise() {
        assert_eq!(run(phone, "+86 138-1234-5678"), Ok("13812345678".into()));
        assert_eq!(run(phone, "0086 13812345678"), Ok("13812345678".into()));
        assert_eq!(run(phone, "8613812345678"), Ok("13812345678".into()));
        assert_eq!(run(phone, "(010) 6512-3456"), Ok("01065123456".into()));
        assert!(run(phone, "call me").is_err());
    }

    #[test]
    fn resident_ids_check_digit_and_birth_date() {
        // 11010519491231002X is the standard's worked example.
        assert_eq!(
            run(resident_id, "11010519491231002x"),
            Ok("11010519491231002X".into())
        );
        let e = run(resident_id, "110105194912310021").unwrap_err();
        assert!(e.contains("check digit") && e.contains("expected X"), "{e}");
        assert!(
            run(resident_id, "110105194913310025")
                .unwrap_err()
                .contains("birth date")
        );
        assert!(run(resident_id, "1234").is_err());
        assert_eq!(
            run(resident_id, "110105491231002"),
            Ok("110105491231002".into())
        );
    }

    #[test]
    fn emails_and_cards() {
        assert_eq!(
            run(email, " Li.Wei@Example.COM "),
            Ok("li.wei@example.com".into())
        );
        assert!(run(email, "li.wei@example").is_err());
        assert!(run(email, "a@b@c.com").is_err());
        assert_eq!(
            run(card_no, "6222 0212 3456 7890"),
            Ok("6222021234567890".into())
        );
        assert!(run(card_no, "62220").is_err());
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("0"), Some(false));
        assert_eq!(boolean("maybe"), None);
    }
}
