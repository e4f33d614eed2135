//! One customer against a compiled query, with real-time facts taking precedence.
//!
//! Batch tags come from the index; "did event Y in the last N days" is asked first of a
//! [`LiveFacts`] source (the real-time event profiles), which knows about events that
//! arrived after the index was built. This is what lets a saved audience fire an
//! "entered" event within a second of the event that put the customer in it.

use crate::index::{AudienceIndex, TagIndex};
use crate::query::Query;

/// Facts known in real time about one customer.
pub trait LiveFacts {
    /// At least `min_count` events of `event_type` in the last `days` days (`None`: ever);
    /// `None` when the live source does not know (the index answers instead).
    fn did(&self, event_type: &str, days: Option<u32>, min_count: u32) -> Option<bool>;
}

/// No live facts: the index answers everything.
pub struct NoLiveFacts;

impl LiveFacts for NoLiveFacts {
    fn did(&self, _: &str, _: Option<u32>, _: u32) -> Option<bool> {
        None
    }
}

impl AudienceIndex {
    /// Whether dense customer `c` matches `q` (same semantics as [`AudienceIndex::evaluate`],
    /// without building bitmaps). A customer outside the index matches only through live
    /// facts and constant parts.
    pub fn matches(&self, q: &Query, c: Option<u32>, live: &dyn LiveFacts) -> bool {
        match q {
            Query::Const(b) => *b,
            Query::And(parts) => parts.iter().all(|p| self.matches(p, c, live)),
            Query::Or(parts) => parts.iter().any(|p| self.matches(p, c, live)),
            Query::Not(inner) => !self.matches(inner, c, live),
            Query::Did {
                event,
                days,
                min_count,
            } => {
                let name = &self.events[*event].name;
                if let Some(answer) = live.did(name, *days, *min_count) {
                    return answer;
                }
                c.is_some_and(|c| self.test(q, c as usize))
            }
            Query::CatIn {
                tag,
                codes,
                negated,
            } => c.is_some_and(|c| match &self.tags[*tag] {
                TagIndex::Categorical {
                    bitmaps, non_null, ..
                } => {
                    let inside = codes.iter().any(|&k| bitmaps[k].contains(c));
                    if *negated {
                        non_null.contains(c) && !inside
                    } else {
                        inside
                    }
                }
                _ => false,
            }),
            Query::Flag { tag, value } => c.is_some_and(|c| match &self.tags[*tag] {
                TagIndex::Flag { trues, falses } => {
                    if *value {
                        trues.contains(c)
                    } else {
                        falses.contains(c)
                    }
                }
                _ => false,
            }),
            Query::IsNull { tag, negated } => {
                c.is_some_and(|c| self.tags[*tag].has_value(c) == *negated)
            }
            Query::HoldsProduct(p) => c.is_some_and(|c| self.product_holders[*p].contains(c)),
            Query::HoldsCategory(k) => c.is_some_and(|c| self.category_holders[*k].contains(c)),
            Query::NumCmp { .. } | Query::NumBetween { .. } | Query::NumIn { .. } => {
                c.is_some_and(|c| self.test(q, c as usize))
            }
        }
    }
}
