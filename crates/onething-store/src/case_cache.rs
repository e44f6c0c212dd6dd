//! A bounded per-process cache of folded cases: a command for a case this
//! process has just handled starts from the cached state instead of reading
//! and folding every event again.
//!
//! The cache is never trusted for correctness. A stale entry (another
//! process appended since) meets the events primary key when appending, as
//! any racing writer does: the entry is dropped, the case is read again and
//! the command decided again. A command the stale state refuses is decided
//! again on the stored case before the refusal is given. So several servers
//! on one database stay correct with a cache each.

use std::collections::HashMap;
use std::sync::Mutex;

use onething_core::case::Case;

/// A case as of its last event, with that event's hash (the next one's
/// `prev_hash`).
#[derive(Debug, Clone)]
pub struct CachedCase {
    pub case: Case,
    pub head_hash: String,
}

#[derive(Debug)]
pub struct CaseCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, (CachedCase, u64)>,
    clock: u64,
}

impl CaseCache {
    /// A cache of at most `capacity` cases; 0 turns it off.
    pub fn new(capacity: usize) -> CaseCache {
        CaseCache {
            capacity,
            inner: Mutex::default(),
        }
    }

    pub fn get(&self, case_id: &str) -> Option<CachedCase> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.lock().expect("case cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        inner.entries.get_mut(case_id).map(|(cached, used)| {
            *used = clock;
            cached.clone()
        })
    }

    /// Takes a case out, to decide on and put back once its events are
    /// stored: no copy is made. A command for the same case meanwhile reads
    /// it from the store.
    pub fn take(&self, case_id: &str) -> Option<CachedCase> {
        if self.capacity == 0 {
            return None;
        }
        let mut inner = self.inner.lock().expect("case cache lock");
        inner.entries.remove(case_id).map(|(cached, _)| cached)
    }

    pub fn put(&self, case_id: &str, cached: CachedCase) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.inner.lock().expect("case cache lock");
        inner.clock += 1;
        let clock = inner.clock;
        inner.entries.insert(case_id.to_string(), (cached, clock));
        if inner.entries.len() > self.capacity {
            // Drop the least recently used tenth at once, so that eviction
            // costs one scan per many insertions.
            let mut uses: Vec<u64> = inner.entries.values().map(|(_, used)| *used).collect();
            let keep = self.capacity - self.capacity / 10;
            let cut = uses.len() - keep;
            let (_, threshold, _) = uses.select_nth_unstable(cut.saturating_sub(1));
            let threshold = *threshold;
            inner.entries.retain(|_, (_, used)| *used > threshold);
        }
    }

    pub fn remove(&self, case_id: &str) {
        if self.capacity == 0 {
            return;
        }
        self.inner
            .lock()
            .expect("case cache lock")
            .entries
            .remove(case_id);
    }

    pub fn clear(&self) {
        self.inner.lock().expect("case cache lock").entries.clear();
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("case cache lock").entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CachedCase {
        CachedCase {
            case: Case::default(),
            head_hash: String::new(),
        }
    }

    #[test]
    fn the_cache_keeps_at_most_its_capacity_and_drops_the_least_recently_used() {
        let cache = CaseCache::new(10);
        for number in 0..10 {
            cache.put(&format!("C{number}"), entry());
        }
        assert!(cache.get("C0").is_some(), "used again, so kept");
        cache.put("C10", entry());
        assert!(cache.len() <= 10);
        assert!(cache.get("C0").is_some());
        assert!(cache.get("C10").is_some());
        assert!(
            cache.get("C1").is_none(),
            "the least recently used went first"
        );
        assert!(cache.take("C10").is_some());
        assert!(cache.get("C10").is_none(), "taken out until put back");
        assert!(cache.take("C10").is_none());
    }

    #[test]
    fn a_cache_of_capacity_zero_holds_nothing() {
        let cache = CaseCache::new(0);
        cache.put("C1", entry());
        assert!(cache.get("C1").is_none());
        assert!(cache.is_empty());
        assert!(cache.take("C1").is_none());
    }
}
