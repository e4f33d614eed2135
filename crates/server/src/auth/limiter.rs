//! Login rate limiting: failed attempts per username and per client address within a
//! sliding window. In memory, per process: enough to make online guessing slow (5 tries per
//! 15 minutes per account), and a restart only forgives what argon2 already makes costly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(username: &str, client: Option<&str>) -> Vec<String> {
        let mut k = vec![format!("user:{}", username.trim().to_lowercase())];
        if let Some(c) = client {
            k.push(format!("addr:{c}"));
        }
        k
    }

    /// Seconds to wait before the next attempt is allowed, or `None` if allowed now.
    /// A client address gets four times the per-user allowance (several people share NATs).
    pub fn retry_after(&self, username: &str, client: Option<&str>, now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in Self::keys(username, client) {
            let limit = if key.starts_with("addr:") {
                self.max_failures * 4
            } else {
                self.max_failures
            };
            if let Some(v) = map.get_mut(&key) {
                v.retain(|t| now.duration_since(*t) < self.window);
                if v.len() as u32 >= limit
                    && let Some(oldest) = v.first()
                {
                    let secs = self
                        .window
                        .saturating_sub(now.duration_since(*oldest))
                        .as_secs()
                        .max(1);
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, username: &str, client: Option<&str>, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood of distinct usernames: forget stale keys first.
        if map.len() > 100_000 {
            map.retain(|_, v| {
                v.last()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in Self::keys(username, client) {
            map.entry(key).or_default().push(now);
        }
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn record_success(&self, username: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("user:{}", username.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_user_for_the_rest_of_the_window() {
        let l = LoginLimiter::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        for i in 0..5 {
            assert_eq!(
                l.retry_after("Alice", Some("1.2.3.4"), t0),
                None,
                "attempt {i}"
            );
            l.record_failure("alice", Some("1.2.3.4"), t0);
        }
        assert_eq!(l.retry_after("ALICE", None, t0), Some(900));
        assert_eq!(
            l.retry_after("alice", None, t0 + Duration::from_secs(600)),
            Some(300)
        );
        assert_eq!(
            l.retry_after("alice", None, t0 + Duration::from_secs(900)),
            None
        );
        // Another user from the same address is not locked by five failures...
        assert_eq!(l.retry_after("bob", Some("1.2.3.4"), t0), None);
        // ...but twenty failures from one address lock every user there.
        for _ in 0..15 {
            l.record_failure("x", Some("1.2.3.4"), t0);
        }
        assert!(l.retry_after("bob", Some("1.2.3.4"), t0).is_some());
        l.record_success("bob");
        assert!(l.retry_after("bob", Some("5.6.7.8"), t0).is_none());
    }
}
