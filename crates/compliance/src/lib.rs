//! Marketing-copy checker for Chinese and English financial marketing (issue 7, item 8).
//!
//! A bank may not tell customers that a wealth product is 保本 or 零风险, call it 最佳 or
//! 第一, compare it with a deposit, claim a regulator endorses it, or leave out the
//! disclosure 「理财非存款、产品有风险、投资须谨慎」. [`check`] finds each of these in a piece of
//! copy and returns [`Violation`]s with byte and character spans, the rule id, a severity
//! and a suggested fix in Chinese and English.
//!
//! The rules are data (`rules.toml`, embedded; listed in `docs/compliance.md`). Phrases are
//! matched on the raw text with one Aho-Corasick automaton (leftmost-longest), not on
//! word-segmented tokens: a segmenter splits 保本保收益 into 保本/保/收益 and would miss
//! 保收益. Patterns that need structure (comparisons with deposits, regulator names followed
//! by 推荐/认证) are regular expressions. The checker is pure: no I/O, no global state
//! besides the lazily built default rule set.
//!
//! ```
//! let report = zhiying_compliance::check("本理财产品保本保收益，年化收益最高可达5%！");
//! let ids: Vec<&str> = report.violations.iter().map(|v| v.rule_id.as_str()).collect();
//! assert!(ids.contains(&"prohibited.guarantee"));
//! assert!(ids.contains(&"absolute.superlative"));
//! assert!(ids.contains(&"disclosure.wealth"));
//! assert!(report.blocking);
//! let v = report.violations.iter().find(|v| v.rule_id == "prohibited.guarantee").unwrap();
//! assert_eq!(v.matched, "保本");
//! assert_eq!((v.char_start, v.char_end), (5, 7));
//! ```

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use serde::{Deserialize, Serialize};

/// The built-in rule set, as shipped.
pub const BUILTIN_RULES_TOML: &str = include_str!("rules.toml");

static BUILTIN: LazyLock<Result<Checker, RuleError>> =
    LazyLock::new(|| Checker::from_toml(BUILTIN_RULES_TOML));

/// Checks `text` against the built-in rules.
pub fn check(text: &str) -> CheckReport {
    match builtin() {
        Ok(c) => c.check(text),
        // The built-in rules are compiled and tested with the crate, so this cannot happen
        // in a released binary; report it rather than panic on an input path.
        Err(e) => CheckReport {
            violations: vec![Violation {
                rule_id: "internal.rules".into(),
                category: Category::Internal,
                severity: Severity::Critical,
                title_zh: "规则加载失败".into(),
                title_en: "rules failed to load".into(),
                message_zh: e.to_string(),
                message_en: e.to_string(),
                fix_zh: String::new(),
                fix_en: String::new(),
                matched: String::new(),
                byte_start: 0,
                byte_end: 0,
                char_start: 0,
                char_end: 0,
            }],
            blocking: true,
            bytes: text.len(),
            chars: text.chars().count(),
            rules_checked: 0,
        },
    }
}

/// The built-in checker (built once).
pub fn builtin() -> Result<&'static Checker, &'static RuleError> {
    BUILTIN.as_ref()
}

/// How serious a violation is. `Critical` and `High` block approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn blocks(self) -> bool {
        self >= Severity::High
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What kind of problem a rule looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    ProhibitedClaim,
    AbsoluteTerm,
    MisleadingComparison,
    MissingDisclosure,
    RegulatorImpersonation,
    /// The rule set itself failed; never produced by a valid rule set.
    Internal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Phrase,
    Regex,
    Disclosure,
}

/// One rule as written in the TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    id: String,
    kind: Kind,
    category: Category,
    severity: Severity,
    title_zh: String,
    title_en: String,
    message_zh: String,
    message_en: String,
    fix_zh: String,
    fix_en: String,
    #[serde(default)]
    phrases: Vec<String>,
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    not_preceded_by: Vec<String>,
    #[serde(default)]
    not_followed_by: Vec<String>,
    #[serde(default)]
    triggers: Vec<String>,
    #[serde(default)]
    required: Vec<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDoc {
    rule: Vec<RuleDoc>,
}

/// A rule's public description (for `--list-rules`, docs and the API).
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub category: Category,
    pub severity: Severity,
    pub title_zh: String,
    pub title_en: String,
    /// Phrases, patterns or triggers, as written.
    pub matches: Vec<String>,
    /// For disclosure rules: the groups of which one alternative must be present.
    pub required: Vec<Vec<String>>,
}

/// A rule set that does not load. Names the rule and field, and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(
        "the rules TOML does not parse: {0}. Each rule is a [[rule]] table; see docs/compliance.md"
    )]
    Toml(#[from] toml::de::Error),
    #[error("rule '{id}': {problem}")]
    Invalid { id: String, problem: String },
    #[error("rule '{id}': pattern {index} ({pattern}) is not a valid regex: {source}")]
    Regex {
        id: String,
        index: usize,
        pattern: String,
        source: regex::Error,
    },
    #[error("building the phrase matcher failed: {0}")]
    Automaton(#[from] aho_corasick::BuildError),
}

/// One finding: where, which rule, how bad, how to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub rule_id: String,
    pub category: Category,
    pub severity: Severity,
    pub title_zh: String,
    pub title_en: String,
    pub message_zh: String,
    pub message_en: String,
    /// Suggested fix, in Chinese.
    pub fix_zh: String,
    /// Suggested fix, in English.
    pub fix_en: String,
    /// The text that matched (for a missing disclosure: the term that made it required).
    pub matched: String,
    /// Byte offsets into the checked text, `[start, end)`.
    pub byte_start: usize,
    pub byte_end: usize,
    /// Character (Unicode scalar) offsets, `[start, end)`: what a UI highlights.
    pub char_start: usize,
    pub char_end: usize,
}

/// The result of checking one text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Ordered by position, then rule id.
    pub violations: Vec<Violation>,
    /// True when any violation is `high` or `critical`: the copy may not be approved as is.
    pub blocking: bool,
    pub bytes: usize,
    pub chars: usize,
    pub rules_checked: usize,
}

struct Rule {
    doc: RuleDoc,
    regexes: Vec<Regex>,
    /// Disclosure: normalised alternatives per required group.
    required_norm: Vec<Vec<String>>,
}

/// A compiled rule set.
pub struct Checker {
    rules: Vec<Rule>,
    /// All phrases of phrase rules, in one automaton.
    phrases: AhoCorasick,
    /// For each automaton pattern: (rule index, the phrase).
    phrase_owner: Vec<(usize, String)>,
    /// Disclosure triggers, in a second automaton so a trigger never hides a claim.
    triggers: AhoCorasick,
    trigger_owner: Vec<(usize, String)>,
}

impl std::fmt::Debug for Checker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checker")
            .field("rules", &self.rules.len())
            .field("phrases", &self.phrase_owner.len())
            .finish()
    }
}

impl Checker {
    /// Compiles a rule set written in the TOML format of `rules.toml`.
    pub fn from_toml(text: &str) -> Result<Checker, RuleError> {
        let doc: RulesDoc = toml::from_str(text)?;
        let mut rules = Vec::with_capacity(doc.rule.len());
        let mut patterns: Vec<String> = Vec::new();
        let mut phrase_owner = Vec::new();
        let mut trigger_patterns: Vec<String> = Vec::new();
        let mut trigger_owner = Vec::new();
        let mut seen_ids = std::collections::HashSet::new();
        for (ri, r) in doc.rule.into_iter().enumerate() {
            let invalid = |problem: &str| RuleError::Invalid {
                id: r.id.clone(),
                problem: problem.to_string(),
            };
            if r.id.trim().is_empty() {
                return Err(RuleError::Invalid {
                    id: format!("#{}", ri + 1),
                    problem: "id is empty".into(),
                });
            }
            if !seen_ids.insert(r.id.clone()) {
                return Err(invalid(
                    "the id is used by an earlier rule; ids must be unique",
                ));
            }
            let mut regexes = Vec::new();
            let mut required_norm = Vec::new();
            match r.kind {
                Kind::Phrase => {
                    if r.phrases.is_empty() {
                        return Err(invalid("a phrase rule needs a non-empty `phrases` list"));
                    }
                    for p in &r.phrases {
                        if p.trim().is_empty() {
                            return Err(invalid("`phrases` has an empty entry"));
                        }
                        patterns.push(p.clone());
                        phrase_owner.push((ri, p.clone()));
                    }
                }
                Kind::Regex => {
                    if r.patterns.is_empty() {
                        return Err(invalid("a regex rule needs a non-empty `patterns` list"));
                    }
                    for (index, p) in r.patterns.iter().enumerate() {
                        regexes.push(Regex::new(p).map_err(|source| RuleError::Regex {
                            id: r.id.clone(),
                            index: index + 1,
                            pattern: p.clone(),
                            source,
                        })?);
                    }
                }
                Kind::Disclosure => {
                    if r.triggers.is_empty() || r.required.is_empty() {
                        return Err(invalid(
                            "a disclosure rule needs `triggers` and at least one `required` group",
                        ));
                    }
                    if r.required.iter().any(|g| g.is_empty()) {
                        return Err(invalid("a `required` group is empty"));
                    }
                    for t in &r.triggers {
                        trigger_patterns.push(t.clone());
                        trigger_owner.push((ri, t.clone()));
                    }
                    required_norm = r
                        .required
                        .iter()
                        .map(|g| g.iter().map(|a| normalise(a)).collect())
                        .collect();
                }
            }
            rules.push(Rule {
                doc: r,
                regexes,
                required_norm,
            });
        }
        let phrases = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&patterns)?;
        // Standard match semantics: overlapping search needs them.
        let triggers = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&trigger_patterns)?;
        Ok(Checker {
            rules,
            phrases,
            phrase_owner,
            triggers,
            trigger_owner,
        })
    }

    /// The rules, in file order.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                id: r.doc.id.clone(),
                category: r.doc.category,
                severity: r.doc.severity,
                title_zh: r.doc.title_zh.clone(),
                title_en: r.doc.title_en.clone(),
                matches: match r.doc.kind {
                    Kind::Phrase => r.doc.phrases.clone(),
                    Kind::Regex => r.doc.patterns.clone(),
                    Kind::Disclosure => r.doc.triggers.clone(),
                },
                required: r.doc.required.clone(),
            })
            .collect()
    }

    /// Checks one text. Never fails: any text, including empty or malformed-looking, gets a
    /// report.
    pub fn check(&self, text: &str) -> CheckReport {
        let mut found: Vec<(usize, usize, usize)> = Vec::new(); // (rule, start, end)
        // First trigger of each disclosure rule.
        let mut trigger_at: Vec<Option<(usize, usize)>> = vec![None; self.rules.len()];

        // Overlapping search would report 保本 inside 保本保息 twice; leftmost-longest keeps
        // the longest phrase at each position. A phrase skipped for its context (不保本) is
        // not a match, so the scan moves past it.
        for m in self.phrases.find_iter(text) {
            let (ri, phrase) = &self.phrase_owner[m.pattern().as_usize()];
            let rule = &self.rules[*ri];
            let (s, e) = (m.start(), m.end());
            if is_ascii_word(phrase) && !on_word_boundaries(text, s, e) {
                continue;
            }
            if preceded_by_any(&text[..s], &rule.doc.not_preceded_by)
                || followed_by_any(&text[e..], &rule.doc.not_followed_by)
            {
                continue;
            }
            found.push((*ri, s, e));
        }
        // Overlapping, so every rule sees its own first trigger even where triggers nest.
        for m in self.triggers.find_overlapping_iter(text) {
            let (ri, phrase) = &self.trigger_owner[m.pattern().as_usize()];
            let (s, e) = (m.start(), m.end());
            if is_ascii_word(phrase) && !on_word_boundaries(text, s, e) {
                continue;
            }
            if trigger_at[*ri].is_none_or(|(ps, _)| s < ps) {
                trigger_at[*ri] = Some((s, e));
            }
        }
        for (ri, rule) in self.rules.iter().enumerate() {
            for re in &rule.regexes {
                for m in re.find_iter(text) {
                    if m.start() < m.end() {
                        found.push((ri, m.start(), m.end()));
                    }
                }
            }
        }
        let norm_text = normalise(text);
        for (ri, rule) in self.rules.iter().enumerate() {
            let Some((s, e)) = trigger_at[ri] else {
                continue;
            };
            let missing = rule
                .required_norm
                .iter()
                .any(|alts| !alts.iter().any(|a| norm_text.contains(a.as_str())));
            if missing {
                found.push((ri, s, e));
            }
        }
        found.sort_by(|a, b| {
            (a.1, a.2, &self.rules[a.0].doc.id).cmp(&(b.1, b.2, &self.rules[b.0].doc.id))
        });
        found.dedup();

        let mut violations = Vec::with_capacity(found.len());
        // Character offsets from one forward walk over the sorted starts and ends.
        for (ri, s, e) in found {
            let r = &self.rules[ri].doc;
            let mut message_zh = r.message_zh.clone();
            let mut message_en = r.message_en.clone();
            if r.kind == Kind::Disclosure {
                let norm_missing: Vec<&str> = r
                    .required
                    .iter()
                    .zip(&self.rules[ri].required_norm)
                    .filter(|(_, alts)| !alts.iter().any(|a| norm_text.contains(a.as_str())))
                    .filter_map(|(group, _)| group.first().map(String::as_str))
                    .collect();
                message_zh.push_str(&format!("缺少：{}。", norm_missing.join("、")));
                message_en.push_str(&format!(" Missing: {}.", norm_missing.join("; ")));
            }
            violations.push(Violation {
                rule_id: r.id.clone(),
                category: r.category,
                severity: r.severity,
                title_zh: r.title_zh.clone(),
                title_en: r.title_en.clone(),
                message_zh,
                message_en,
                fix_zh: r.fix_zh.clone(),
                fix_en: r.fix_en.clone(),
                matched: text[s..e].to_string(),
                byte_start: s,
                byte_end: e,
                char_start: text[..s].chars().count(),
                char_end: text[..e].chars().count(),
            });
        }
        CheckReport {
            blocking: violations.iter().any(|v| v.severity.blocks()),
            violations,
            bytes: text.len(),
            chars: text.chars().count(),
            rules_checked: self.rules.len(),
        }
    }
}

/// Lower-cases ASCII and drops whitespace and punctuation, so 「理财非存款，产品有风险」 and
/// 「理财非存款 产品有风险」 both contain 产品有风险, and "Invest  with caution" matches.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !is_punct(*c))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(
            c,
            '，' | '。'
                | '、'
                | '；'
                | '：'
                | '！'
                | '？'
                | '“'
                | '”'
                | '‘'
                | '’'
                | '（'
                | '）'
                | '【'
                | '】'
                | '《'
                | '》'
                | '—'
                | '…'
                | '·'
                | '「'
                | '」'
        )
}

/// A phrase made of ASCII letters/digits/spaces (English) must stand on word boundaries:
/// "fund" is not in "refund", "no risk" is not in "piano risk".
fn is_ascii_word(p: &str) -> bool {
    p.is_ascii() && p.bytes().any(|b| b.is_ascii_alphabetic())
}

fn on_word_boundaries(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    let starts_word = text[s..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ends_word = text[..e]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let glued_before = starts_word && before.is_some_and(|c| c.is_ascii_alphanumeric());
    let glued_after = ends_word && after.is_some_and(|c| c.is_ascii_alphanumeric());
    !glued_before && !glued_after
}

/// Does `before` end with one of `words` (ASCII case-insensitive, spaces before the match
/// ignored for Chinese entries)?
fn preceded_by_any(before: &str, words: &[String]) -> bool {
    let trimmed = before.trim_end_matches([' ', '\u{3000}']);
    words.iter().any(|w| {
        let hay = if w.ends_with(' ') { before } else { trimmed };
        ends_with_ci(hay, w)
    })
}

fn followed_by_any(after: &str, words: &[String]) -> bool {
    words.iter().any(|w| starts_with_ci(after, w))
}

fn ends_with_ci(hay: &str, w: &str) -> bool {
    hay.len() >= w.len()
        && hay.is_char_boundary(hay.len() - w.len())
        && hay[hay.len() - w.len()..].eq_ignore_ascii_case(w)
}

fn starts_with_ci(hay: &str, w: &str) -> bool {
    hay.len() >= w.len() && hay.is_char_boundary(w.len()) && hay[..w.len()].eq_ignore_ascii_case(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(text: &str) -> Vec<String> {
        check(text)
            .violations
            .into_iter()
            .map(|v| v.rule_id)
            .collect()
    }

    #[test]
    fn builtin_rules_load() {
        let c = builtin().expect("built-in rules compile");
        assert_eq!(c.rules().len(), 8);
    }

    #[test]
    fn guarantee_phrases_are_found_without_segmentation() {
        // jieba splits this into 保本/保/收益; raw matching finds both claims.
        let r = check("保本保收益");
        let m: Vec<(&str, usize, usize)> = r
            .violations
            .iter()
            .map(|v| (v.matched.as_str(), v.char_start, v.char_end))
            .collect();
        assert_eq!(m, [("保本", 0, 2), ("保收益", 2, 5)]);
        assert_eq!(r.violations[1].byte_start, 6);
        assert_eq!(r.violations[1].byte_end, 15);
    }

    #[test]
    fn negations_are_not_claims() {
        assert!(ids("本产品不保本，理财非存款、产品有风险、投资须谨慎。").is_empty());
        assert!(ids("非保本浮动收益型。理财非存款，产品有风险，投资须谨慎").is_empty());
        assert!(ids("投资并非零风险，请留意。").is_empty());
        assert!(ids("Returns are not guaranteed; there is no guaranteed return.").is_empty());
        assert!(ids("无风险利率为 1.5%。").is_empty());
    }

    #[test]
    fn english_phrases_respect_word_boundaries() {
        assert_eq!(
            ids("A risk-free, guaranteed return!"),
            ["prohibited.no_risk", "prohibited.guarantee"]
        );
        assert!(ids("We refund fees within 7 days.").is_empty());
        assert!(ids("The highestlevel").is_empty());
    }

    #[test]
    fn disclosure_is_required_for_wealth_copy_and_satisfied_with_punctuation_variants() {
        let r = check("新发理财产品，业绩比较基准3.2%。");
        assert_eq!(r.violations.len(), 1);
        let v = &r.violations[0];
        assert_eq!(v.rule_id, "disclosure.wealth");
        assert_eq!(v.matched, "理财");
        assert!(v.message_zh.contains("理财非存款") && v.message_zh.contains("投资须谨慎"));
        assert!(ids("新发理财产品，业绩比较基准3.2%。理财非存款 产品有风险 投资需谨慎").is_empty());
        // Two of three parts are not enough, and the message names the missing one only.
        let r = check("理财产品。理财非存款，投资须谨慎。");
        assert_eq!(r.violations.len(), 1);
        assert!(r.violations[0].message_zh.contains("缺少：产品有风险。"));
    }

    #[test]
    fn context_exceptions_for_absolute_terms() {
        assert!(ids("第一次购买可享手续费优惠").is_empty());
        assert!(ids("单笔最高额度以合同为准").is_empty());
        assert_eq!(
            ids("年化收益最高"),
            ["disclosure.wealth", "absolute.superlative"]
        );
    }

    #[test]
    fn bad_rules_name_the_rule() {
        let e = Checker::from_toml(
            r#"[[rule]]
id = "x.bad"
kind = "regex"
category = "absolute_term"
severity = "low"
title_zh = "t"
title_en = "t"
message_zh = "m"
message_en = "m"
fix_zh = "f"
fix_en = "f"
patterns = ["(unclosed"]
"#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("x.bad") && e.contains("pattern 1"), "{e}");
        let e = Checker::from_toml("[[rule]]\nid = 1\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("does not parse"), "{e}");
    }
}
