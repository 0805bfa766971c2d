//! Parsed upstream indexes, reused for `index_ttl_secs`, under a bound on entries and on bytes:
//! in denylist or off mode anyone can ask for any name, so a flood of distinct names (or a few
//! very large pages) must not grow memory without limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most entries one cache holds.
pub const MAX_ENTRIES: usize = 10_000;
/// Most bytes (as the upstream sent them, or estimated) one cache holds, unless set.
pub const MAX_BYTES: usize = 256 * 1024 * 1024;

pub struct Cache<T> {
    inner: Mutex<Entries<T>>,
    max_bytes: usize,
}

struct Entries<T> {
    map: HashMap<String, (i64, usize, Arc<T>)>,
    bytes: usize,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache::with_limit(MAX_BYTES)
    }
}

impl<T> Cache<T> {
    pub fn with_limit(max_bytes: usize) -> Self {
        Cache { inner: Mutex::new(Entries { map: HashMap::new(), bytes: 0 }), max_bytes }
    }

    /// The entry for `key` if it was stored less than `ttl_us` before `now`.
    pub fn get(&self, key: &str, now: i64, ttl_us: i64) -> Option<Arc<T>> {
        let e = self.inner.lock().ok()?;
        e.map.get(key).filter(|(at, _, _)| now - at < ttl_us && now >= *at).map(|(_, _, v)| v.clone())
    }

    /// Store `value` (about `bytes` large). When the cache would pass a bound, it is emptied
    /// first (the next requests refetch); a value larger than the byte bound is not kept.
    pub fn put(&self, key: &str, now: i64, bytes: usize, value: Arc<T>) {
        let Ok(mut e) = self.inner.lock() else { return };
        if bytes > self.max_bytes {
            return;
        }
        if let Some((_, old, _)) = e.map.remove(key) {
            e.bytes = e.bytes.saturating_sub(old);
        }
        if e.map.len() >= MAX_ENTRIES || e.bytes.saturating_add(bytes) > self.max_bytes {
            e.map.clear();
            e.bytes = 0;
        }
        e.bytes += bytes;
        e.map.insert(key.to_string(), (now, bytes, value));
    }

    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        self.inner.lock().map(|e| (e.map.len(), e.bytes)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_and_bytes_stay_bounded() {
        let c: Cache<u8> = Cache::default();
        for i in 0..(MAX_ENTRIES * 2) {
            c.put(&format!("n{i}"), 0, 10, Arc::new(1));
            assert!(c.held().0 <= MAX_ENTRIES);
        }
        let big = MAX_BYTES / 3;
        for i in 0..10 {
            c.put(&format!("big{i}"), 0, big, Arc::new(2));
            assert!(c.held().1 <= MAX_BYTES);
        }
        c.put("huge", 0, MAX_BYTES + 1, Arc::new(3));
        assert!(c.get("huge", 0, 10).is_none(), "larger than the bound: not kept");
        c.put("k", 100, 5, Arc::new(4));
        c.put("k", 100, 7, Arc::new(5));
        assert_eq!(c.get("k", 105, 10).as_deref(), Some(&5), "replaced, not counted twice");
        assert!(c.get("k", 111, 10).is_none(), "expired");
    }
}
