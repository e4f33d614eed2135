//! The seam between real-time profiles and saved audiences.
//!
//! A [`MembershipWatcher`] answers "is this customer in audience X now?" from the customer's
//! updated [`ProfileView`]. The store remembers each customer's memberships, so when the answer
//! flips it writes an `AudienceEntered` / `AudienceLeft` record ([`AudienceChange`]) to the log
//! in the same group commit as the event that caused it, and publishes it to subscribers
//! (campaign triggers) once it is durable. The audience expression language plugs in here by
//! implementing the trait for a compiled expression.
//!
//! [`AudienceChange`]: crate::AudienceChange

use crate::input::Change;
use crate::profile::ProfileView;

pub trait MembershipWatcher: Send + Sync {
    /// Stable id of the saved audience, as stored in the log and in profiles.
    fn audience_id(&self) -> &str;

    /// Whether the customer belongs to the audience now.
    fn is_member(&self, view: &ProfileView<'_>) -> bool;

    /// Enter or leave, given whether the customer was a member before this update.
    fn transition(&self, view: &ProfileView<'_>, was_member: bool) -> Option<Change> {
        match (was_member, self.is_member(view)) {
            (false, true) => Some(Change::Entered),
            (true, false) => Some(Change::Left),
            _ => None,
        }
    }
}

/// A watcher from a closure, for predicates written in Rust (and tests).
pub struct FnWatcher<F> {
    id: String,
    predicate: F,
}

impl<F> FnWatcher<F>
where
    F: Fn(&ProfileView<'_>) -> bool + Send + Sync,
{
    pub fn new(audience_id: impl Into<String>, predicate: F) -> Self {
        FnWatcher {
            id: audience_id.into(),
            predicate,
        }
    }
}

impl<F> MembershipWatcher for FnWatcher<F>
where
    F: Fn(&ProfileView<'_>) -> bool + Send + Sync,
{
    fn audience_id(&self) -> &str {
        &self.id
    }
    fn is_member(&self, view: &ProfileView<'_>) -> bool {
        (self.predicate)(view)
    }
}
