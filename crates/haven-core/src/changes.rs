//! What a node keeps in memory of what rarely changes, and how it learns that it changed.
//!
//! A token check or a package policy read on every request made the database the bottleneck of
//! the package repository (and, with several nodes, of every node). They are kept in [`Memo`]s
//! instead, each entry stamped with the change counter of its topic as it was *before* the
//! database was read. The database bumps a topic's counter in the same transaction as any change
//! that can alter what is cached (triggers on the tables, so no code path can forget); a node
//! learns the new value
//! - for its own commits, before the commit returns (the store reads the counters inside the
//!   committing transaction): what one node changes it never serves stale;
//! - for other nodes' and processes' commits, from PostgreSQL `NOTIFY` at once, and from a poll
//!   of the counters every second (SQLite, and a safety net for a lost notification).
//!
//! An entry is used only while its stamp equals the topic's current counter, and only while the
//! node is sure it is current ([`Changes::set_current`]): when the listener or the poll fails,
//! every memo is bypassed until the counters have been read again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a counter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// Personal tokens, and the status and roles of accounts (what a token check reads).
    Credentials,
    /// Package rules and advisories (what a package policy reads).
    Packages,
}

impl Topic {
    pub const ALL: [Topic; 2] = [Topic::Credentials, Topic::Packages];

    /// Its name in the database (`change_counters.topic`, the `NOTIFY` payload).
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Credentials => "credentials",
            Topic::Packages => "packages",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The newest counters this node knows, one per topic.
#[derive(Debug, Default)]
pub struct Changes {
    counters: [AtomicU64; 2],
    current: AtomicBool,
}

impl Changes {
    /// Counters not yet read: every memo is bypassed until [`Changes::set_current`].
    pub fn new() -> Self {
        Changes::default()
    }

    /// The topic's counter, or None while this node cannot be sure it knows the newest.
    pub fn seen(&self, topic: Topic) -> Option<u64> {
        let n = self.counters[topic.index()].load(Ordering::Acquire);
        self.current.load(Ordering::Acquire).then_some(n)
    }

    /// A counter as read from the database (never moves back: reads may arrive out of order).
    pub fn observe(&self, topic: Topic, n: u64) {
        self.counters[topic.index()].fetch_max(n, Ordering::AcqRel);
    }

    /// Whether the counters are known to be current (a listener and poll that work).
    pub fn set_current(&self, current: bool) {
        self.current.store(current, Ordering::Release);
    }
}

/// Most entries one memo holds; past it the memo is emptied (in denylist mode anyone can ask
/// for any name, which must not grow memory without bound).
pub const MAX_ENTRIES: usize = 10_000;

/// Values computed from the database, valid while their topic's counter has not moved.
pub struct Memo<K, V> {
    topic: Topic,
    changes: Arc<Changes>,
    entries: Mutex<HashMap<K, (u64, Arc<V>)>>,
}

impl<K: Hash + Eq + Clone, V> Memo<K, V> {
    pub fn new(topic: Topic, changes: Arc<Changes>) -> Self {
        Memo { topic, changes, entries: Mutex::new(HashMap::new()) }
    }

    /// The stamp to give a value about to be read from the database (None: do not keep it).
    /// Taken before the read, so a change committed during the read leaves the value stale.
    pub fn stamp(&self) -> Option<u64> {
        self.changes.seen(self.topic)
    }

    /// The value for `key`, if it was computed since the last change of its topic.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let now = self.changes.seen(self.topic)?;
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|(stamp, _)| *stamp == now).map(|(_, v)| v.clone())
    }

    /// Keep `value`, computed from a read that began at `stamp`.
    pub fn put(&self, key: K, stamp: Option<u64>, value: Arc<V>) {
        // A value read before the latest change known is stale already.
        let Some(stamp) = stamp.filter(|s| self.changes.seen(self.topic) == Some(*s)) else { return };
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        // Entries of an older counter are never used again: drop them as they are met.
        if entries.values().next().is_some_and(|(s, _)| *s != stamp) {
            entries.retain(|_, (s, _)| *s == stamp);
        }
        entries.insert(key, (stamp, value));
    }

    /// The cached value, or `load`'s (kept when it succeeds).
    pub async fn get_or_load<E, F>(&self, key: &K, load: F) -> Result<Arc<V>, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        if let Some(v) = self.get(key) {
            return Ok(v);
        }
        let stamp = self.stamp();
        let value = Arc::new(load.await?);
        self.put(key.clone(), stamp, value.clone());
        Ok(value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_until_its_topic_changes() {
        let changes = Arc::new(Changes::new());
        let memo: Memo<String, u32> = Memo::new(Topic::Packages, changes.clone());
        memo.put("a".into(), memo.stamp(), Arc::new(1));
        assert!(memo.get(&"a".into()).is_none(), "nothing is kept before the counters are known");
        changes.observe(Topic::Packages, 4);
        changes.set_current(true);
        memo.put("a".into(), memo.stamp(), Arc::new(1));
        assert_eq!(memo.get(&"a".into()).as_deref(), Some(&1));
        changes.observe(Topic::Credentials, 9);
        assert_eq!(memo.get(&"a".into()).as_deref(), Some(&1), "another topic's change leaves it");
        changes.observe(Topic::Packages, 3);
        assert_eq!(memo.get(&"a".into()).as_deref(), Some(&1), "counters never move back");
        changes.observe(Topic::Packages, 5);
        assert!(memo.get(&"a".into()).is_none(), "its topic changed");
        changes.set_current(false);
        memo.put("b".into(), memo.stamp(), Arc::new(2));
        assert!(memo.get(&"b".into()).is_none(), "not kept while the counters may be old");
    }

    #[test]
    fn a_value_read_across_a_change_is_stale_at_once() {
        let changes = Arc::new(Changes::new());
        changes.set_current(true);
        let memo: Memo<u8, u32> = Memo::new(Topic::Credentials, changes.clone());
        let stamp = memo.stamp();
        changes.observe(Topic::Credentials, 1); // committed while the value was being read
        memo.put(1, stamp, Arc::new(7));
        assert!(memo.get(&1).is_none());
    }

    #[test]
    fn entries_stay_bounded() {
        let changes = Arc::new(Changes::new());
        changes.set_current(true);
        let memo: Memo<usize, ()> = Memo::new(Topic::Packages, changes.clone());
        for i in 0..MAX_ENTRIES * 2 {
            memo.put(i, memo.stamp(), Arc::new(()));
            assert!(memo.len() <= MAX_ENTRIES);
        }
        changes.observe(Topic::Packages, 1);
        memo.put(0, memo.stamp(), Arc::new(()));
        assert_eq!(memo.len(), 1, "entries of an older counter are dropped");
    }
}
