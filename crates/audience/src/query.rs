//! Binding (parsed expression + tag catalogue → typed [`Query`]) and evaluation on bitmaps.
//!
//! Binding resolves names (tag key, or its Chinese name when that is unambiguous), checks
//! every operator against the tag's kind and every value against the tag's codes, and
//! reports mistakes at their position. Evaluation then cannot fail.

use roaring::RoaringBitmap;

use crate::error::{ExprError, ExprErrorKind, Span, did_you_mean};
use crate::index::{AudienceIndex, TagIndex};
use crate::meta::TagKind;
use crate::parser::{Ast, CmpOp, Lit, Name, Value, parse};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A checked expression, ready to evaluate against the index it was bound to.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Const(bool),
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    /// Code in the set (indices into the tag's codes); `negated`: non-null and not in it.
    CatIn {
        tag: usize,
        codes: Vec<usize>,
        negated: bool,
    },
    /// Flag equals `value` (null matches neither).
    Flag {
        tag: usize,
        value: bool,
    },
    NumCmp {
        tag: usize,
        op: CmpOp,
        value: f64,
    },
    /// Inclusive range; `negated`: non-null and outside it.
    NumBetween {
        tag: usize,
        lo: f64,
        hi: f64,
        negated: bool,
    },
    NumIn {
        tag: usize,
        values: Vec<f64>,
        negated: bool,
    },
    IsNull {
        tag: usize,
        negated: bool,
    },
    HoldsProduct(usize),
    HoldsCategory(usize),
    /// At least `min_count` events of the type in the window (`None`: ever), counted back
    /// from the index's `as_of`.
    Did {
        event: usize,
        days: Option<u32>,
        min_count: u32,
    },
}

impl AudienceIndex {
    /// Parses and checks `src` against this index's catalogue.
    pub fn compile(&self, src: &str) -> Result<Query, ExprError> {
        let ast = parse(src)?;
        Binder { src, ix: self }.bind(&ast)
    }

    /// The members of a compiled query.
    pub fn evaluate(&self, q: &Query) -> RoaringBitmap {
        match q {
            Query::Const(true) => self.universe.clone(),
            Query::Const(false) => RoaringBitmap::new(),
            Query::And(parts) => {
                // Bitmap-native parts first, smallest first, so the running intersection is
                // small; scan predicates (numeric ranges, event windows) then test only the
                // surviving candidates when there are few of them, instead of scanning all.
                let (scans, native): (Vec<&Query>, Vec<&Query>) =
                    parts.iter().partition(|p| is_scan(p));
                let mut sets: Vec<RoaringBitmap> =
                    native.iter().map(|p| self.evaluate(p)).collect();
                sets.sort_by_key(|b| b.len());
                let mut it = sets.into_iter();
                let mut acc = it.next().unwrap_or_else(|| self.universe.clone());
                for s in it {
                    if acc.is_empty() {
                        return acc;
                    }
                    acc &= s;
                }
                for p in scans {
                    if acc.is_empty() {
                        break;
                    }
                    if acc.len() * 4 < u64::from(self.customers()) {
                        let kept: Vec<u32> =
                            acc.iter().filter(|&id| self.test(p, id as usize)).collect();
                        acc = RoaringBitmap::from_sorted_iter(kept).unwrap_or_default();
                    } else {
                        acc &= self.evaluate(p);
                    }
                }
                acc
            }
            Query::Or(parts) => {
                let mut acc = RoaringBitmap::new();
                for p in parts {
                    acc |= self.evaluate(p);
                }
                acc
            }
            Query::Not(inner) => &self.universe - self.evaluate(inner),
            Query::CatIn {
                tag,
                codes,
                negated,
            } => {
                let TagIndex::Categorical {
                    bitmaps, non_null, ..
                } = &self.tags[*tag]
                else {
                    return RoaringBitmap::new();
                };
                let mut acc = RoaringBitmap::new();
                for &c in codes {
                    acc |= &bitmaps[c];
                }
                if *negated { non_null - acc } else { acc }
            }
            Query::Flag { tag, value } => match &self.tags[*tag] {
                TagIndex::Flag { trues, falses } => {
                    if *value {
                        trues.clone()
                    } else {
                        falses.clone()
                    }
                }
                _ => RoaringBitmap::new(),
            },
            Query::NumCmp { tag, op, value } => self.num_cmp(*tag, *op, *value),
            Query::NumBetween {
                tag,
                lo,
                hi,
                negated,
            } => {
                let inside = self.num_range(*tag, *lo, true, *hi, true);
                if *negated {
                    self.tags[*tag].non_null() - inside
                } else {
                    inside
                }
            }
            Query::NumIn {
                tag,
                values,
                negated,
            } => {
                let mut acc = RoaringBitmap::new();
                for v in values {
                    acc |= self.num_range(*tag, *v, true, *v, true);
                }
                if *negated {
                    self.tags[*tag].non_null() - acc
                } else {
                    acc
                }
            }
            Query::IsNull { tag, negated } => {
                let nn = self.tags[*tag].non_null();
                if *negated { nn } else { &self.universe - nn }
            }
            Query::HoldsProduct(p) => self.product_holders[*p].clone(),
            Query::HoldsCategory(c) => self.category_holders[*c].clone(),
            Query::Did {
                event,
                days,
                min_count,
            } => self.did(*event, *days, *min_count),
        }
    }

    /// Parses, checks and evaluates in one go.
    pub fn members(&self, src: &str) -> Result<RoaringBitmap, ExprError> {
        Ok(self.evaluate(&self.compile(src)?))
    }

    /// One customer against a scan predicate (see [`is_scan`]); same semantics as `evaluate`.
    pub(crate) fn test(&self, q: &Query, c: usize) -> bool {
        let num = |tag: usize| match &self.tags[tag] {
            TagIndex::Numeric { values, .. } => values[c],
            _ => f64::NAN,
        };
        match q {
            Query::NumCmp { tag, op, value } => {
                let x = num(*tag);
                !x.is_nan()
                    && match op {
                        CmpOp::Eq => x == *value,
                        CmpOp::Ne => x != *value,
                        CmpOp::Lt => x < *value,
                        CmpOp::Le => x <= *value,
                        CmpOp::Gt => x > *value,
                        CmpOp::Ge => x >= *value,
                    }
            }
            Query::NumBetween {
                tag,
                lo,
                hi,
                negated,
            } => {
                let x = num(*tag);
                !x.is_nan() && ((x >= *lo && x <= *hi) != *negated)
            }
            Query::NumIn {
                tag,
                values,
                negated,
            } => {
                let x = num(*tag);
                !x.is_nan() && (values.contains(&x) != *negated)
            }
            Query::Did {
                event,
                days,
                min_count,
            } => {
                let e = &self.events[*event];
                let k = (*min_count).max(1) as usize;
                let (s, t) = (e.offsets[c] as usize, e.offsets[c + 1] as usize);
                match days {
                    None => t - s >= k,
                    Some(d) => {
                        let cutoff = self.as_of - i64::from(*d) * MICROS_PER_DAY;
                        let w = &e.times[s..t];
                        let upto = w.partition_point(|&x| x <= self.as_of);
                        upto >= k && w[upto - k] > cutoff
                    }
                }
            }
            other => self.evaluate(other).contains(c as u32),
        }
    }

    fn num_cmp(&self, tag: usize, op: CmpOp, v: f64) -> RoaringBitmap {
        let inf = f64::INFINITY;
        match op {
            CmpOp::Eq => self.num_range(tag, v, true, v, true),
            CmpOp::Ne => self.tags[tag].non_null() - self.num_range(tag, v, true, v, true),
            CmpOp::Lt => self.num_range(tag, -inf, true, v, false),
            CmpOp::Le => self.num_range(tag, -inf, true, v, true),
            CmpOp::Gt => self.num_range(tag, v, false, inf, true),
            CmpOp::Ge => self.num_range(tag, v, true, inf, true),
        }
    }

    /// Customers whose value lies between `lo` and `hi` (each bound inclusive or not).
    fn num_range(&self, tag: usize, lo: f64, lo_inc: bool, hi: f64, hi_inc: bool) -> RoaringBitmap {
        let TagIndex::Numeric {
            values, sorted_ids, ..
        } = &self.tags[tag]
        else {
            return RoaringBitmap::new();
        };
        let first_where =
            |pred: &dyn Fn(f64) -> bool| sorted_ids.partition_point(|&i| pred(values[i as usize]));
        let start = if lo_inc {
            first_where(&|x| x < lo)
        } else {
            first_where(&|x| x <= lo)
        };
        let end = if hi_inc {
            first_where(&|x| x <= hi)
        } else {
            first_where(&|x| x < hi)
        };
        if end <= start {
            return RoaringBitmap::new();
        }
        let k = end - start;
        // A few ids: sort them. Many: one pass over the column into a bitset is cheaper
        // than sorting (k log k) and touches memory sequentially.
        if k * 16 < values.len() {
            let mut ids = sorted_ids[start..end].to_vec();
            ids.sort_unstable();
            RoaringBitmap::from_sorted_iter(ids).unwrap_or_default()
        } else {
            let inside = |x: f64| {
                (if lo_inc { x >= lo } else { x > lo }) && (if hi_inc { x <= hi } else { x < hi })
            };
            bitmap_from_predicate(values.len(), |i| inside(values[i]))
        }
    }

    fn did(&self, event: usize, days: Option<u32>, min_count: u32) -> RoaringBitmap {
        let e = &self.events[event];
        let k = min_count.max(1) as usize;
        match days {
            None => bitmap_from_predicate(self.customer_ids.len(), |c| {
                (e.offsets[c + 1] - e.offsets[c]) as usize >= k
            }),
            Some(d) => {
                let cutoff = self.as_of - i64::from(d) * MICROS_PER_DAY;
                if k == 1 {
                    let last = &e.last;
                    return bitmap_from_predicate(self.customer_ids.len(), |c| last[c] > cutoff);
                }
                let times = &e.times;
                bitmap_from_predicate(self.customer_ids.len(), |c| {
                    let (s, t) = (e.offsets[c] as usize, e.offsets[c + 1] as usize);
                    // The k-th latest event at or before as_of is inside the window.
                    if t - s < k || e.last[c] <= cutoff {
                        return false;
                    }
                    let w = &times[s..t];
                    let upto = w.partition_point(|&x| x <= self.as_of);
                    upto >= k && w[upto - k] > cutoff
                })
            }
        }
    }
}

/// Predicates answered by scanning a column rather than by stored bitmaps.
fn is_scan(q: &Query) -> bool {
    matches!(
        q,
        Query::NumCmp { .. } | Query::NumBetween { .. } | Query::NumIn { .. } | Query::Did { .. }
    )
}

/// Scans ids `0..n` into a bitset, then hands the bytes to roaring in one go.
pub(crate) fn bitmap_from_predicate(n: usize, pred: impl Fn(usize) -> bool) -> RoaringBitmap {
    let mut words = vec![0u64; n.div_ceil(64)];
    for (w, word) in words.iter_mut().enumerate() {
        let base = w * 64;
        let lim = (n - base).min(64);
        let mut acc = 0u64;
        for b in 0..lim {
            acc |= u64::from(pred(base + b)) << b;
        }
        *word = acc;
    }
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    RoaringBitmap::from_lsb0_bytes(0, &bytes)
}

struct Binder<'a> {
    src: &'a str,
    ix: &'a AudienceIndex,
}

impl Binder<'_> {
    fn err(&self, kind: ExprErrorKind, span: Span, msg: String) -> ExprError {
        ExprError::new(kind, self.src, span, msg)
    }

    fn bind(&self, ast: &Ast) -> Result<Query, ExprError> {
        Ok(match ast {
            Ast::And(a, b) => {
                let mut parts = Vec::new();
                for q in [self.bind(a)?, self.bind(b)?] {
                    match q {
                        Query::And(v) => parts.extend(v),
                        q => parts.push(q),
                    }
                }
                Query::And(parts)
            }
            Ast::Or(a, b) => {
                let mut parts = Vec::new();
                for q in [self.bind(a)?, self.bind(b)?] {
                    match q {
                        Query::Or(v) => parts.extend(v),
                        q => parts.push(q),
                    }
                }
                Query::Or(parts)
            }
            Ast::Not(a, _) => Query::Not(Box::new(self.bind(a)?)),
            Ast::Const(b, _) => Query::Const(*b),
            Ast::Bare(name) => {
                let (t, kind) = self.tag(name)?;
                if kind != TagKind::Flag {
                    return Err(self
                        .err(
                            ExprErrorKind::Type,
                            name.span,
                            format!(
                                "`{}` is a {} tag; only flags can stand alone",
                                name.name,
                                kind.name()
                            ),
                        )
                        .expected(self.example(t)));
                }
                Query::Flag {
                    tag: t,
                    value: true,
                }
            }
            Ast::Cmp {
                tag,
                op,
                op_span,
                value,
            } => self.cmp(tag, *op, *op_span, value)?,
            Ast::Between {
                tag,
                lo,
                hi,
                negated,
            } => {
                let (t, kind) = self.tag(tag)?;
                if kind != TagKind::Numeric {
                    return Err(self.no_order(tag, t, kind, tag.span.to(hi.span)));
                }
                let l = self.number(tag, lo)?;
                let h = self.number(tag, hi)?;
                if l > h {
                    return Err(self
                        .err(
                            ExprErrorKind::Type,
                            lo.span.to(hi.span),
                            format!("the lower bound {l} is above the upper bound {h}"),
                        )
                        .expected(format!("`between {h} and {l}`")));
                }
                Query::NumBetween {
                    tag: t,
                    lo: l,
                    hi: h,
                    negated: *negated,
                }
            }
            Ast::In {
                tag,
                values,
                negated,
            } => {
                let (t, kind) = self.tag(tag)?;
                match kind {
                    TagKind::Categorical => {
                        let mut codes = Vec::new();
                        for v in values {
                            codes.push(self.code(tag, t, v)?);
                        }
                        codes.sort_unstable();
                        codes.dedup();
                        Query::CatIn {
                            tag: t,
                            codes,
                            negated: *negated,
                        }
                    }
                    TagKind::Numeric => {
                        let mut vs = Vec::new();
                        for v in values {
                            vs.push(self.number(tag, v)?);
                        }
                        Query::NumIn {
                            tag: t,
                            values: vs,
                            negated: *negated,
                        }
                    }
                    TagKind::Flag => {
                        return Err(self
                            .err(
                                ExprErrorKind::Type,
                                tag.span,
                                format!(
                                    "`{}` is a flag; `in (…)` needs a categorical or numeric tag",
                                    tag.name
                                ),
                            )
                            .expected(self.example(t)));
                    }
                }
            }
            Ast::IsNull { tag, negated } => {
                let (t, _) = self.tag(tag)?;
                Query::IsNull {
                    tag: t,
                    negated: *negated,
                }
            }
            Ast::HoldsProduct { product, .. } => {
                let id = self.text(product);
                match self.ix.product_by_id.get(id) {
                    Some(&p) => Query::HoldsProduct(p),
                    None => {
                        let mut e = self
                            .err(
                                ExprErrorKind::UnknownValue,
                                product.span,
                                format!("unknown product `{id}`"),
                            )
                            .expected("a product id from the products table")
                            .suggest(did_you_mean(
                                id,
                                self.ix.products.iter().map(String::as_str),
                            ));
                        if self.ix.products.len() <= 30 {
                            e = e.valid(self.ix.products.clone());
                        }
                        if self.ix.categories.iter().any(|c| c == id) {
                            e = e.suggest(Some(format!("holds category \"{id}\"")));
                        }
                        return Err(e);
                    }
                }
            }
            Ast::HoldsCategory { category, .. } => {
                let c = self.text(category);
                match self
                    .ix
                    .categories
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(c))
                {
                    Some(i) => Query::HoldsCategory(i),
                    None => {
                        return Err(self
                            .err(
                                ExprErrorKind::UnknownValue,
                                category.span,
                                format!("unknown product category `{c}`"),
                            )
                            .expected("a product category")
                            .suggest(did_you_mean(
                                c,
                                self.ix.categories.iter().map(String::as_str),
                            ))
                            .valid(self.ix.categories.clone()));
                    }
                }
            }
            Ast::Did {
                event,
                days,
                min_count,
                ..
            } => {
                let name = self.text(event);
                match self
                    .ix
                    .events
                    .iter()
                    .position(|e| e.name.eq_ignore_ascii_case(name))
                {
                    Some(i) => Query::Did {
                        event: i,
                        days: days.map(|d| d.0),
                        min_count: min_count.map_or(1, |m| m.0),
                    },
                    None => {
                        let names: Vec<String> =
                            self.ix.events.iter().map(|e| e.name.clone()).collect();
                        return Err(self
                            .err(
                                ExprErrorKind::UnknownValue,
                                event.span,
                                format!("unknown event type `{name}`"),
                            )
                            .expected("an event type")
                            .suggest(did_you_mean(name, names.iter().map(String::as_str)))
                            .valid(names));
                    }
                }
            }
        })
    }

    fn text<'v>(&self, v: &'v Value) -> &'v str {
        match &v.lit {
            Lit::Str(s) | Lit::Word(s) => s,
            _ => "",
        }
    }

    /// Resolves a tag by key (exact, then case-insensitive) or by unique Chinese name.
    fn tag(&self, name: &Name) -> Result<(usize, TagKind), ExprError> {
        let ix = self.ix;
        let found = ix.tag_by_key.get(&name.name).copied().or_else(|| {
            let ci: Vec<usize> = (0..ix.meta.len())
                .filter(|&i| ix.meta[i].key.eq_ignore_ascii_case(&name.name))
                .collect();
            if ci.len() == 1 { Some(ci[0]) } else { None }
        });
        if let Some(i) = found {
            return Ok((i, ix.tags[i].kind()));
        }
        let by_zh: Vec<usize> = (0..ix.meta.len())
            .filter(|&i| !ix.meta[i].name_zh.is_empty() && ix.meta[i].name_zh == name.name)
            .collect();
        match by_zh.len() {
            1 => return Ok((by_zh[0], ix.tags[by_zh[0]].kind())),
            n if n > 1 => {
                let keys: Vec<String> = by_zh.iter().map(|&i| ix.meta[i].key.clone()).collect();
                return Err(self
                    .err(
                        ExprErrorKind::UnknownTag,
                        name.span,
                        format!("`{}` names {n} tags; use the tag key", name.name),
                    )
                    .expected("one of the tag keys")
                    .valid(keys));
            }
            _ => {}
        }
        let candidates = ix
            .meta
            .iter()
            .flat_map(|m| [m.key.as_str(), m.name_zh.as_str()])
            .filter(|s| !s.is_empty());
        let mut e = self
            .err(
                ExprErrorKind::UnknownTag,
                name.span,
                format!("unknown tag `{}`", name.name),
            )
            .expected("a tag key or Chinese tag name from tags.meta.json")
            .suggest(did_you_mean(&name.name, candidates));
        if ["holds", "did"]
            .iter()
            .any(|k| name.name.eq_ignore_ascii_case(k))
        {
            e = e.suggest(Some(format!("{}(\"…\")", name.name.to_lowercase())));
        }
        Err(e)
    }

    fn example(&self, t: usize) -> String {
        let m = &self.ix.meta[t];
        match &self.ix.tags[t] {
            TagIndex::Categorical { codes, .. } => format!(
                "`{} = \"{}\"` or `{} in (…)`",
                m.key,
                codes.first().map_or("…", |c| c.code.as_str()),
                m.key
            ),
            TagIndex::Numeric { .. } => format!("`{} >= …` or `{} between … and …`", m.key, m.key),
            TagIndex::Flag { .. } => format!("`{}` or `not {}`", m.key, m.key),
        }
    }

    fn no_order(&self, name: &Name, t: usize, kind: TagKind, span: Span) -> ExprError {
        self.err(
            ExprErrorKind::Type,
            span,
            format!("`{}` is a {} tag and has no order", name.name, kind.name()),
        )
        .expected(self.example(t))
    }

    fn number(&self, tag: &Name, v: &Value) -> Result<f64, ExprError> {
        match &v.lit {
            Lit::Num(n) => Ok(*n),
            other => {
                let found = match other {
                    Lit::Str(s) => format!("the string \"{s}\""),
                    Lit::Word(s) => format!("`{s}`"),
                    Lit::Bool(b) => format!("`{b}`"),
                    Lit::Num(_) => unreachable!("handled above"),
                };
                Err(self
                    .err(
                        ExprErrorKind::Type,
                        v.span,
                        format!(
                            "`{}` is numeric; expected a number, found {found}",
                            tag.name
                        ),
                    )
                    .expected("a number"))
            }
        }
    }

    /// A categorical value: matched to a code, or to a code's Chinese or English label.
    fn code(&self, tag: &Name, t: usize, v: &Value) -> Result<usize, ExprError> {
        let TagIndex::Categorical { codes, .. } = &self.ix.tags[t] else {
            unreachable!("caller checked the kind");
        };
        let valid = || -> Vec<String> {
            codes
                .iter()
                .map(|c| {
                    let label = if c.zh.is_empty() { &c.en } else { &c.zh };
                    if label.is_empty() {
                        c.code.clone()
                    } else {
                        format!("{} ({label})", c.code)
                    }
                })
                .collect()
        };
        let s = match &v.lit {
            Lit::Str(s) | Lit::Word(s) => s,
            Lit::Num(n) => {
                return Err(self
                    .err(
                        ExprErrorKind::Type,
                        v.span,
                        format!(
                            "cannot compare categorical tag `{}` with the number {n}",
                            tag.name
                        ),
                    )
                    .expected("one of its codes in quotes")
                    .valid(valid()));
            }
            Lit::Bool(b) => {
                return Err(self
                    .err(
                        ExprErrorKind::Type,
                        v.span,
                        format!("cannot compare categorical tag `{}` with `{b}`", tag.name),
                    )
                    .expected("one of its codes in quotes")
                    .valid(valid()));
            }
        };
        let found = codes
            .iter()
            .position(|c| c.code == *s)
            .or_else(|| codes.iter().position(|c| c.code.eq_ignore_ascii_case(s)))
            .or_else(|| codes.iter().position(|c| !c.zh.is_empty() && c.zh == *s))
            .or_else(|| {
                codes
                    .iter()
                    .position(|c| !c.en.is_empty() && c.en.eq_ignore_ascii_case(s))
            });
        found.ok_or_else(|| {
            let cands = codes
                .iter()
                .flat_map(|c| [c.code.as_str(), c.zh.as_str()])
                .filter(|x| !x.is_empty());
            self.err(
                ExprErrorKind::UnknownValue,
                v.span,
                format!("`{s}` is not a value of `{}`", tag.name),
            )
            .expected("one of its codes")
            .suggest(did_you_mean(s, cands))
            .valid(valid())
        })
    }

    fn cmp(&self, tag: &Name, op: CmpOp, op_span: Span, v: &Value) -> Result<Query, ExprError> {
        let (t, kind) = self.tag(tag)?;
        match kind {
            TagKind::Numeric => Ok(Query::NumCmp {
                tag: t,
                op,
                value: self.number(tag, v)?,
            }),
            TagKind::Categorical => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.no_order(tag, t, kind, op_span));
                }
                Ok(Query::CatIn {
                    tag: t,
                    codes: vec![self.code(tag, t, v)?],
                    negated: op == CmpOp::Ne,
                })
            }
            TagKind::Flag => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(self.no_order(tag, t, kind, op_span));
                }
                let b = match &v.lit {
                    Lit::Bool(b) => *b,
                    _ => {
                        return Err(self
                            .err(
                                ExprErrorKind::Type,
                                v.span,
                                format!("`{}` is a flag; compare it with true or false", tag.name),
                            )
                            .expected(self.example(t)));
                    }
                };
                Ok(Query::Flag {
                    tag: t,
                    value: if op == CmpOp::Eq { b } else { !b },
                })
            }
        }
    }
}
