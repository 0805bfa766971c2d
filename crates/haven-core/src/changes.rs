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
//! An entry is used only while its stamp equals the topic's current version, and only while the
//! node is sure it is current ([`Changes::confirm`], renewed by every read of the counters): when
//! the listener or the poll fails, or reads stop, every memo is bypassed until the counters have
//! been read again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// What this node knows of the change counters: a version per topic, and until when it can
/// be trusted.
#[derive(Debug)]
pub struct Changes {
    /// This node's version of each topic: it moves on whenever the database's counter is seen
    /// to differ from the value seen last, forwards or backwards (a database restored, or failed
    /// over to a standby that had not seen every change, counts again from lower down).
    versions: [AtomicU64; 2],
    /// The database's counters as seen last.
    last: Mutex<[u64; 2]>,
    /// Until when (nanoseconds after `base`) the versions are known to be current: each read
    /// of the counters extends it a little; if reads stop (the database is cut off, the
    /// follower stopped), every memo is bypassed soon after.
    current_until: AtomicU64,
    base: Instant,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            versions: [AtomicU64::new(0), AtomicU64::new(0)],
            last: Mutex::new([0; 2]),
            current_until: AtomicU64::new(0),
            base: Instant::now(),
        }
    }
}

impl Changes {
    /// Counters not yet read: every memo is bypassed until [`Changes::confirm`].
    pub fn new() -> Self {
        Changes::default()
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The topic's version, or None while this node cannot be sure it knows the newest.
    pub fn seen(&self, topic: Topic) -> Option<u64> {
        let version = self.versions[topic.index()].load(Ordering::Acquire);
        (self.now_ns() < self.current_until.load(Ordering::Acquire)).then_some(version)
    }

    /// A counter as read from the database. Reads may arrive out of order (a poll begun before
    /// a commit, published after it): that only empties memos once more than needed.
    pub fn observe(&self, topic: Topic, n: u64) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last[topic.index()] != n {
            last[topic.index()] = n;
            self.versions[topic.index()].fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The counters were all just read: trust them for `span` (past the next read, with room).
    pub fn confirm(&self, span: Duration) {
        let until = self.now_ns().saturating_add(u64::try_from(span.as_nanos()).unwrap_or(u64::MAX));
        self.current_until.store(until, Ordering::Release);
    }

    /// The counters cannot be read, or changes may have been missed: keep nothing until the
    /// next [`Changes::confirm`].
    pub fn distrust(&self) {
        self.current_until.store(0, Ordering::Release);
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
        changes.confirm(Duration::from_secs(60));
        memo.put("a".into(), memo.stamp(), Arc::new(1));
        assert_eq!(memo.get(&"a".into()).as_deref(), Some(&1));
        changes.observe(Topic::Credentials, 9);
        changes.observe(Topic::Packages, 4);
        assert_eq!(memo.get(&"a".into()).as_deref(), Some(&1), "another topic's change, or the same value");
        changes.observe(Topic::Packages, 5);
        assert!(memo.get(&"a".into()).is_none(), "its topic changed");
        memo.put("a".into(), memo.stamp(), Arc::new(2));
        changes.observe(Topic::Packages, 3);
        assert!(memo.get(&"a".into()).is_none(), "a counter that moved back (a restored database) is a change");
        changes.distrust();
        memo.put("b".into(), memo.stamp(), Arc::new(2));
        assert!(memo.get(&"b".into()).is_none(), "not kept while the counters may be old");
    }

    #[test]
    fn trust_in_the_counters_runs_out_unless_renewed() {
        let changes = Arc::new(Changes::new());
        changes.confirm(Duration::from_millis(30));
        assert!(changes.seen(Topic::Packages).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(changes.seen(Topic::Packages).is_none(), "reads stopped: nothing is trusted");
    }

    #[test]
    fn a_value_read_across_a_change_is_stale_at_once() {
        let changes = Arc::new(Changes::new());
        changes.confirm(Duration::from_secs(60));
        let memo: Memo<u8, u32> = Memo::new(Topic::Credentials, changes.clone());
        let stamp = memo.stamp();
        changes.observe(Topic::Credentials, 1); // committed while the value was being read
        memo.put(1, stamp, Arc::new(7));
        assert!(memo.get(&1).is_none());
    }

    #[test]
    fn entries_stay_bounded() {
        let changes = Arc::new(Changes::new());
        changes.confirm(Duration::from_secs(60));
        let memo: Memo<usize, ()> = Memo::new(Topic::Packages, changes.clone());
        for i in 0..MAX_ENTRIES * 2 {
            memo.put(i, memo.stamp(), Arc::new(()));
            assert!(memo.len() <= MAX_ENTRIES);
        }
        changes.observe(Topic::Packages, 1);
        memo.put(0, memo.stamp(), Arc::new(()));
        assert_eq!(memo.len(), 1, "entries of an older version are dropped");
    }
}
