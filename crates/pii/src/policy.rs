//! Field-level access: which role sees which JR/T 0171-2020 level in clear, masked or not
//! at all (issue 7, item 3).
//!
//! [`FieldPolicy`] is the table (role × level → [`Display`]); [`Redactor`] is that table
//! applied to one caller, and is the one place every output path (API, console, exports,
//! logs) turns a stored value into what the caller may see: it decrypts envelope values
//! (`enc:v1:…`) only when the result will be shown clear or masked, masks after decrypting,
//! and drops hidden values without decrypting them.
//!
//! JR/T 0171 puts both identity data (names, IDs, phones) and financial data (balances,
//! amounts) in C2. They are used differently — marketers select on assets but have no need
//! for a phone number — so the table has a fourth column, `C2_financial`, for C2 amounts;
//! the three levels govern every other field.
//!
//! Unmasking is a property of the request, not of the role: a caller holding
//! `customer.read_pii` who stated a reason (audited by the server before any data is read)
//! gets a redactor with `unmask = true`, which lifts `Masked` to `Clear`. `Hidden` stays
//! hidden whatever the caller asks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zhiying_core::domain::Role;
use zhiying_core::schema::Sensitivity;

use crate::PiiKind;
use crate::envelope::KeyRing;

/// What a caller sees of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    /// Not shown at all (`null`, or the row/column is left out).
    Hidden,
    /// Shown masked (`138****5678`, `张*`, amounts rounded to two significant digits).
    Masked,
    /// Shown as stored.
    Clear,
}

impl Display {
    pub fn as_str(self) -> &'static str {
        match self {
            Display::Hidden => "hidden",
            Display::Masked => "masked",
            Display::Clear => "clear",
        }
    }
}

fn level_index(level: Sensitivity) -> usize {
    match level {
        Sensitivity::C1 => 0,
        Sensitivity::C2 => 1,
        Sensitivity::C3 => 2,
    }
}

/// Column index of C2 financial amounts in a policy row.
const FINANCIAL: usize = 3;

/// The file in the data directory that overrides the default table.
pub const POLICY_FILE: &str = "field_policy.toml";

/// Errors reading a policy file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read the field policy {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the field policy {path} is not valid: {message}; expected tables like `[roles.marketer]` with `C1 = \"clear\"`, `C2 = \"masked\"`, `C3 = \"hidden\"`"
    )]
    Invalid { path: PathBuf, message: String },
}

/// Role × level → display. Roles and levels a file does not mention keep the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPolicy {
    /// Per role: C1, C2, C3, C2 financial amounts.
    table: BTreeMap<&'static str, [Display; 4]>,
}

impl Default for FieldPolicy {
    /// The defaults (documented in `docs/security.md`): C1 is clear for every role; C2
    /// identity and financial data is masked for people and hidden from channel systems
    /// (except the contact field of the channel they deliver on, see
    /// [`Redactor::for_channel`]); C3 authentication data is hidden from marketers and
    /// analysts and masked for the admin, the compliance officer and the service agent (to
    /// verify a caller); no role sees C2 identity or C3 data clear without unmasking. C2
    /// amounts are clear to the people who read the customer view (selection and service
    /// need them) and hidden from channel systems.
    fn default() -> Self {
        use Display::*;
        let mut table = BTreeMap::new();
        for role in Role::ALL {
            let row = match role {
                Role::Marketer | Role::Analyst => [Clear, Masked, Hidden, Clear],
                Role::Admin | Role::ComplianceOfficer | Role::ServiceAgent => {
                    [Clear, Masked, Masked, Clear]
                }
                Role::ChannelSystem => [Clear, Hidden, Hidden, Hidden],
            };
            table.insert(role.as_str(), row);
        }
        FieldPolicy { table }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    roles: BTreeMap<String, BTreeMap<String, Display>>,
}

impl FieldPolicy {
    /// What `role` sees of `level` before any unmasking.
    pub fn role_display(&self, role: Role, level: Sensitivity) -> Display {
        self.table
            .get(role.as_str())
            .map_or(Display::Hidden, |row| row[level_index(level)])
    }

    /// What `role` sees of C2 financial amounts before any unmasking.
    pub fn role_financial(&self, role: Role) -> Display {
        self.table
            .get(role.as_str())
            .map_or(Display::Hidden, |row| row[FINANCIAL])
    }

    /// The most permissive display of C2 amounts over the caller's roles.
    pub fn financial(&self, roles: &[Role]) -> Display {
        roles
            .iter()
            .map(|r| self.role_financial(*r))
            .max()
            .unwrap_or(Display::Hidden)
    }

    /// Sets a role's C2 financial cell.
    pub fn set_financial(&mut self, role: Role, d: Display) {
        if let Some(row) = self.table.get_mut(role.as_str()) {
            row[FINANCIAL] = d;
        }
    }

    /// The most permissive display over the caller's roles (no role: hidden).
    pub fn display(&self, roles: &[Role], level: Sensitivity) -> Display {
        roles
            .iter()
            .map(|r| self.role_display(*r, level))
            .max()
            .unwrap_or(Display::Hidden)
    }

    /// Sets one cell.
    pub fn set(&mut self, role: Role, level: Sensitivity, d: Display) {
        if let Some(row) = self.table.get_mut(role.as_str()) {
            row[level_index(level)] = d;
        }
    }

    /// The defaults overridden by a TOML text (`path` only names it in errors).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let file: PolicyFile = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut p = FieldPolicy::default();
        for (role, levels) in file.roles {
            let r: Role = role.parse().map_err(|e| invalid(format!("{e}")))?;
            for (level, d) in levels {
                let l = match level.to_ascii_uppercase().as_str() {
                    "C1" => Sensitivity::C1,
                    "C2" => Sensitivity::C2,
                    "C3" => Sensitivity::C3,
                    "C2_FINANCIAL" => {
                        p.set_financial(r, d);
                        continue;
                    }
                    _ => {
                        return Err(invalid(format!(
                            "`{level}` under [roles.{role}] is not a level (C1, C2, C3 or C2_financial)"
                        )));
                    }
                };
                p.set(r, l, d);
            }
        }
        Ok(p)
    }

    /// `DATA_DIR/field_policy.toml` when it exists, else the defaults.
    pub fn load(data_dir: &Path) -> Result<Self, PolicyError> {
        let path = data_dir.join(POLICY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_toml(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(PolicyError::Io { path, source }),
        }
    }

    /// The table as rows `(role, [C1, C2, C3, C2 financial])`, for the docs and the console.
    pub fn rows(&self) -> Vec<(Role, [Display; 4])> {
        Role::ALL
            .into_iter()
            .map(|r| {
                (
                    r,
                    self.table
                        .get(r.as_str())
                        .copied()
                        .unwrap_or([Display::Hidden; 4]),
                )
            })
            .collect()
    }
}

/// What an encrypted value becomes when the key to read it is missing.
pub const UNREADABLE: &str = "[encrypted]";

/// The column a channel system needs to reach a customer on `channel`: `phone` for SMS and
/// calls, `email` for e-mail. Push, WeChat and mail deliver through ids of their own, so
/// they get none.
pub fn channel_contact_column(channel: &str) -> Option<&'static str> {
    match channel.trim() {
        "sms" | "call" => Some("phone"),
        "email" => Some("email"),
        _ => None,
    }
}

/// The policy applied to one caller: the single seam every output path goes through.
#[derive(Debug, Clone)]
pub struct Redactor {
    policy: Arc<FieldPolicy>,
    roles: Vec<Role>,
    unmask: bool,
    keys: Option<Arc<KeyRing>>,
    /// For a channel system delivering on one channel: the contact column it sees clear.
    contact: Option<&'static str>,
}

impl Redactor {
    /// `unmask` must only be true once the caller's permission and reason were checked and
    /// audited (the server's unmask flow does that).
    pub fn new(
        policy: Arc<FieldPolicy>,
        roles: &[Role],
        unmask: bool,
        keys: Option<Arc<KeyRing>>,
    ) -> Self {
        Redactor {
            policy,
            roles: roles.to_vec(),
            unmask,
            keys,
            contact: None,
        }
    }

    /// A channel system delivering on `channel` sees the one contact column that channel
    /// needs ([`channel_contact_column`]) clear; every other C2/C3 column keeps the table's
    /// display. Callers without the channel-system role are unchanged.
    pub fn for_channel(mut self, channel: &str) -> Self {
        if self.roles.contains(&Role::ChannelSystem) {
            self.contact = channel_contact_column(channel);
        }
        self
    }

    /// What this caller sees of `column` (a catalogue column name) at `level`: the level's
    /// display, except a channel system's contact column, which is clear.
    pub fn column_display(&self, column: &str, level: Sensitivity) -> Display {
        if self.contact.is_some_and(|c| c == column) {
            return Display::Clear;
        }
        self.display(level)
    }

    /// [`Redactor::text_with`] for a named column ([`Redactor::column_display`]).
    pub fn column_text_with(
        &self,
        stored: &str,
        column: &str,
        level: Sensitivity,
        mask: impl Fn(&str) -> String,
    ) -> Option<String> {
        self.render(self.column_display(column, level), stored, mask)
    }

    /// For logs and other sinks with no caller: everything above C1 masked, nothing
    /// decrypted.
    pub fn for_logs() -> Self {
        let mut p = FieldPolicy::default();
        for r in Role::ALL {
            p.set(r, Sensitivity::C1, Display::Clear);
            p.set(r, Sensitivity::C2, Display::Masked);
            p.set(r, Sensitivity::C3, Display::Hidden);
            p.set_financial(r, Display::Masked);
        }
        Redactor::new(Arc::new(p), &[Role::Admin], false, None)
    }

    /// What this caller sees of `level`.
    pub fn display(&self, level: Sensitivity) -> Display {
        match self.policy.display(&self.roles, level) {
            Display::Masked if self.unmask => Display::Clear,
            d => d,
        }
    }

    /// What this caller sees of C2 amounts.
    pub fn financial(&self) -> Display {
        match self.policy.financial(&self.roles) {
            Display::Masked if self.unmask => Display::Clear,
            d => d,
        }
    }

    /// The levels (`C1`, `C2`, `C3`, `C2_financial`) this caller sees clear only because
    /// they unmasked: what the audit entry lists.
    pub fn unmasked_levels(&self) -> Vec<&'static str> {
        if !self.unmask {
            return Vec::new();
        }
        let mut out: Vec<&'static str> = [
            (Sensitivity::C1, "C1"),
            (Sensitivity::C2, "C2"),
            (Sensitivity::C3, "C3"),
        ]
        .into_iter()
        .filter(|(l, _)| self.policy.display(&self.roles, *l) == Display::Masked)
        .map(|(_, n)| n)
        .collect();
        if self.policy.financial(&self.roles) == Display::Masked {
            out.push("C2_financial");
        }
        out
    }

    /// True when some level is shown clear only because the caller unmasked.
    pub fn unmasked(&self) -> bool {
        !self.unmasked_levels().is_empty()
    }

    /// True when `level` is not shown clear to this caller.
    pub fn protects(&self, level: Sensitivity) -> bool {
        self.display(level) != Display::Clear
    }

    /// Decrypts an envelope value (plain values pass through). `None` when it cannot be read.
    fn open(&self, stored: &str) -> Option<String> {
        if !crate::envelope::is_envelope(stored) {
            return Some(stored.to_string());
        }
        self.keys.as_ref()?.decrypt(stored).ok()
    }

    /// A text value of `level` holding `kind`, as this caller may see it: `None` when
    /// hidden; decrypted (if encrypted) and then masked or left clear.
    pub fn text(&self, stored: &str, level: Sensitivity, kind: PiiKind) -> Option<String> {
        self.text_with(stored, level, |v| crate::mask(v, kind))
    }

    /// [`Redactor::text`] with the caller's own masking function (a page's house style).
    pub fn text_with(
        &self,
        stored: &str,
        level: Sensitivity,
        mask: impl Fn(&str) -> String,
    ) -> Option<String> {
        self.render(self.display(level), stored, mask)
    }

    fn render(
        &self,
        display: Display,
        stored: &str,
        mask: impl Fn(&str) -> String,
    ) -> Option<String> {
        match display {
            Display::Hidden => None,
            Display::Clear => Some(self.open(stored).unwrap_or_else(|| UNREADABLE.into())),
            Display::Masked => Some(match self.open(stored) {
                Some(v) => mask(&v),
                None => UNREADABLE.into(),
            }),
        }
    }

    /// A decrypted value for internal use that never leaves the server as such (e.g. to
    /// compare). `None` when it cannot be read.
    pub fn decrypt_for_processing(&self, stored: &str) -> Option<String> {
        self.open(stored)
    }

    /// [`Redactor::text`] over an optional value.
    pub fn opt_text(
        &self,
        stored: Option<&str>,
        level: Sensitivity,
        kind: PiiKind,
    ) -> Option<String> {
        stored.and_then(|v| self.text(v, level, kind))
    }

    /// A C2 amount (integer minor units): masked amounts are generalised to two significant
    /// digits (¥12,345.67 → ¥12,000.00), hidden ones dropped.
    pub fn amount(&self, value: i64) -> Option<i64> {
        match self.financial() {
            Display::Hidden => None,
            Display::Clear => Some(value),
            Display::Masked => Some(generalise(value)),
        }
    }
}

/// Rounds to two significant digits of the whole units (minor units / 100), keeping the
/// sign; amounts under 100 units become 0. 1_234_567 → 1_200_000.
pub fn generalise(minor: i64) -> i64 {
    let units = minor.unsigned_abs() / 100;
    if units < 100 {
        return 0;
    }
    let digits = units.ilog10();
    let step = 10u64.pow(digits - 1);
    let rounded = (units / step) * step * 100;
    let r = i64::try_from(rounded).unwrap_or(i64::MAX);
    if minor < 0 { -r } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_and_overrides() {
        let p = FieldPolicy::default();
        assert_eq!(
            p.role_display(Role::Marketer, Sensitivity::C2),
            Display::Masked
        );
        assert_eq!(
            p.role_display(Role::ChannelSystem, Sensitivity::C2),
            Display::Hidden
        );
        assert_eq!(
            p.role_display(Role::Admin, Sensitivity::C3),
            Display::Masked
        );
        assert_eq!(
            p.role_display(Role::Marketer, Sensitivity::C3),
            Display::Hidden
        );
        assert_eq!(
            p.display(&[Role::Marketer, Role::ComplianceOfficer], Sensitivity::C3),
            Display::Masked
        );
        assert_eq!(p.display(&[], Sensitivity::C1), Display::Hidden);

        let text = "[roles.analyst]\nC2 = \"hidden\"\nC2_financial = \"masked\"\n[roles.service_agent]\nc2 = \"clear\"\n";
        let q = FieldPolicy::from_toml(text, Path::new("p.toml")).expect("valid policy");
        assert_eq!(
            q.role_display(Role::Analyst, Sensitivity::C2),
            Display::Hidden
        );
        assert_eq!(
            q.role_display(Role::ServiceAgent, Sensitivity::C2),
            Display::Clear
        );
        assert_eq!(
            q.role_display(Role::Analyst, Sensitivity::C1),
            Display::Clear
        );
        assert_eq!(q.role_financial(Role::Analyst), Display::Masked);
        assert_eq!(q.role_financial(Role::Marketer), Display::Clear);
        let bad = FieldPolicy::from_toml("[roles.boss]\nC2 = \"clear\"\n", Path::new("p.toml"));
        assert!(bad.unwrap_err().to_string().contains("boss"));
        let bad = FieldPolicy::from_toml("[roles.admin]\nC4 = \"clear\"\n", Path::new("p.toml"));
        assert!(bad.unwrap_err().to_string().contains("C4"));
        let bad = FieldPolicy::from_toml("[roles.admin]\nC2 = \"open\"\n", Path::new("p.toml"));
        assert!(bad.is_err());
    }

    #[test]
    fn unmask_lifts_masked_but_not_hidden() {
        let p = Arc::new(FieldPolicy::default());
        let agent = Redactor::new(p.clone(), &[Role::ServiceAgent], true, None);
        assert_eq!(
            agent.text("13812345678", Sensitivity::C2, PiiKind::Mobile),
            Some("13812345678".into())
        );
        assert!(agent.unmasked());
        let channel = Redactor::new(p.clone(), &[Role::ChannelSystem], true, None);
        assert_eq!(
            channel.text("13812345678", Sensitivity::C2, PiiKind::Mobile),
            None
        );
        let marketer = Redactor::new(p, &[Role::Marketer], false, None);
        assert_eq!(
            marketer.text("13812345678", Sensitivity::C2, PiiKind::Mobile),
            Some("138****5678".into())
        );
        assert_eq!(
            marketer.amount(1_234_567),
            Some(1_234_567),
            "amounts clear by default"
        );
        let mut p = FieldPolicy::default();
        p.set_financial(Role::Marketer, Display::Masked);
        let marketer = Redactor::new(Arc::new(p), &[Role::Marketer], false, None);
        assert_eq!(marketer.amount(1_234_567), Some(1_200_000));
        assert_eq!(marketer.amount(-987_654), Some(-980_000));
        assert_eq!(marketer.unmasked_levels(), Vec::<&str>::new());
    }

    #[test]
    fn a_channel_system_sees_only_its_contact_field() {
        let p = Arc::new(FieldPolicy::default());
        let sms = Redactor::new(p.clone(), &[Role::ChannelSystem], false, None).for_channel("sms");
        assert_eq!(
            sms.column_text_with("13812345678", "phone", Sensitivity::C2, |_| "x".into()),
            Some("13812345678".into())
        );
        assert_eq!(
            sms.column_text_with("a@b.cn", "email", Sensitivity::C2, |_| "x".into()),
            None
        );
        assert_eq!(
            sms.column_text_with("张三", "name", Sensitivity::C2, |_| "x".into()),
            None
        );
        let push =
            Redactor::new(p.clone(), &[Role::ChannelSystem], false, None).for_channel("app_push");
        assert_eq!(
            push.column_display("phone", Sensitivity::C2),
            Display::Hidden
        );
        // People are not changed by a channel.
        let marketer = Redactor::new(p, &[Role::Marketer], false, None).for_channel("sms");
        assert_eq!(
            marketer.column_display("phone", Sensitivity::C2),
            Display::Masked
        );
    }

    #[test]
    fn encrypted_values_are_opened_only_when_shown() {
        let keys = Arc::new(KeyRing::generate("k1"));
        let stored = keys.encrypt("110105194912310021").expect("encrypts");
        let p = Arc::new(FieldPolicy::default());
        let clear = Redactor::new(
            p.clone(),
            &[Role::ComplianceOfficer],
            true,
            Some(keys.clone()),
        );
        assert_eq!(
            clear.text(&stored, Sensitivity::C2, PiiKind::ResidentId),
            Some("110105194912310021".into())
        );
        let masked = Redactor::new(p.clone(), &[Role::Marketer], false, Some(keys));
        assert_eq!(
            masked.text(&stored, Sensitivity::C2, PiiKind::ResidentId),
            Some("110***********0021".into())
        );
        let keyless = Redactor::new(p, &[Role::ComplianceOfficer], true, None);
        assert_eq!(
            keyless.text(&stored, Sensitivity::C2, PiiKind::ResidentId),
            Some(UNREADABLE.into())
        );
    }

    fn any_role() -> impl Strategy<Value = Role> {
        prop::sample::select(Role::ALL.to_vec())
    }
    fn any_level() -> impl Strategy<Value = Sensitivity> {
        prop::sample::select(vec![Sensitivity::C1, Sensitivity::C2, Sensitivity::C3])
    }
    fn any_display() -> impl Strategy<Value = Display> {
        prop::sample::select(vec![Display::Hidden, Display::Masked, Display::Clear])
    }

    proptest! {
        /// For any policy, role, level and value, the output holds the clear value only
        /// when the policy (after unmasking) says clear.
        #[test]
        fn output_is_clear_only_when_the_policy_says_so(
            cells in prop::collection::vec((any_role(), any_level(), any_display()), 0..12),
            fin in prop::collection::vec((any_role(), any_display()), 0..6),
            role in any_role(),
            level in any_level(),
            unmask in any::<bool>(),
            phone in "1[3-9][0-9]{9}",
            amount in 100_001i64..10_000_000_000,
        ) {
            let mut p = FieldPolicy::default();
            for (r, l, d) in cells {
                p.set(r, l, d);
            }
            for (r, d) in fin {
                p.set_financial(r, d);
            }
            let lift = |d| match d {
                Display::Masked if unmask => Display::Clear,
                d => d,
            };
            let expected = lift(p.role_display(role, level));
            let expected_amount = lift(p.role_financial(role));
            let keys = Arc::new(KeyRing::generate("kp"));
            let stored = keys.encrypt(&phone).expect("encrypts");
            let r = Redactor::new(Arc::new(p), &[role], unmask, Some(keys));
            let shown = r.text(&stored, level, PiiKind::Mobile);
            let amount = amount * 10 + 7; // never already round
            let shown_amount = r.amount(amount);
            match expected {
                Display::Clear => prop_assert_eq!(shown.as_deref(), Some(phone.as_str())),
                Display::Masked => {
                    let s = shown.unwrap_or_default();
                    prop_assert!(!s.contains(&phone), "{s} holds {phone}");
                    prop_assert!(!s.contains(&phone[3..]), "{s} holds the tail of {phone}");
                }
                Display::Hidden => prop_assert_eq!(shown, None),
            }
            match expected_amount {
                Display::Clear => prop_assert_eq!(shown_amount, Some(amount)),
                Display::Masked => prop_assert!(shown_amount != Some(amount)),
                Display::Hidden => prop_assert_eq!(shown_amount, None),
            }
        }

        #[test]
        fn generalise_keeps_two_digits_and_sign(v in -10_000_000_000i64..10_000_000_000) {
            let g = generalise(v);
            prop_assert!(g.abs() <= v.abs());
            prop_assert!(g == 0 || g.signum() == v.signum());
            prop_assert!(v.abs() - g.abs() <= v.abs() / 10 + 10_000);
        }
    }
}
