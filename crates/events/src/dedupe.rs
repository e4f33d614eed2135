//! Idempotency: the ids of the most recent appends, in bounded memory.
//!
//! Ids are kept as 128-bit hashes in generations of `generation_size` ids. When the newest
//! generation is full it is sealed (shared read-only, so a checkpoint can copy it for free)
//! and, once there are more than `generations`, the oldest is dropped. A retry is therefore
//! recognised if it arrives within the last `generations × generation_size` accepted ids
//! (at least `(generations − 1) × generation_size`), and memory stays flat however long the
//! server runs.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// The keys are already uniform hashes: use their low bits directly.
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

pub type KeySet = HashSet<u128, BuildHasherDefault<KeyHasher>>;

#[derive(Debug, Clone)]
pub struct Dedupe {
    generation_size: usize,
    generations: usize,
    pub(crate) sealed: VecDeque<Arc<KeySet>>,
    pub(crate) current: KeySet,
}

impl Dedupe {
    pub fn new(window: usize) -> Self {
        let generations = 4;
        let generation_size = (window / generations).max(1);
        Dedupe {
            generation_size,
            generations,
            sealed: VecDeque::new(),
            current: KeySet::with_capacity_and_hasher(
                generation_size.min(1 << 16),
                Default::default(),
            ),
        }
    }

    pub fn contains(&self, key: u128) -> bool {
        self.current.contains(&key) || self.sealed.iter().any(|g| g.contains(&key))
    }

    pub fn insert(&mut self, key: u128) {
        self.current.insert(key);
        if self.current.len() >= self.generation_size {
            let full = std::mem::replace(
                &mut self.current,
                KeySet::with_capacity_and_hasher(self.generation_size, Default::default()),
            );
            self.sealed.push_back(Arc::new(full));
            while self.sealed.len() >= self.generations {
                self.sealed.pop_front();
            }
        }
    }

    /// Ids currently remembered.
    pub fn len(&self) -> usize {
        self.current.len() + self.sealed.iter().map(|g| g.len()).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces the contents with generations read from a checkpoint (oldest first).
    pub fn restore(&mut self, mut gens: Vec<KeySet>) {
        self.sealed.clear();
        self.current = gens.pop().unwrap_or_default();
        for g in gens {
            self.sealed.push_back(Arc::new(g));
        }
        while self.sealed.len() >= self.generations {
            self.sealed.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_recent_window() {
        let mut d = Dedupe::new(400);
        for k in 0..1000u128 {
            assert!(!d.contains(k));
            d.insert(k);
            assert!(d.contains(k));
        }
        assert!(d.len() <= 400, "{}", d.len());
        // The last 300 (3 full generations) are always remembered; the first ones are gone.
        assert!((700..1000).all(|k| d.contains(k)));
        assert!(!d.contains(0));
    }
}
