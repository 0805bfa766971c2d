//! The audit trail's records and its verification. Events are appended by the store inside the
//! same transaction as the change they record; [`ChainVerifier`] walks them in order and names the
//! first one that was edited, deleted or reordered.

use haven_crypto::audit_chain::{self, EventFields, GENESIS};
use serde::Serialize;
use time::OffsetDateTime;

use crate::to_micros;

mod batch;
mod names;
pub use batch::{AuditBatch, EventView};
pub use names::{action, actor};

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub project: String,
    pub source: String,
    pub details: serde_json::Value,
}

impl NewAuditEvent {
    pub fn new(at: OffsetDateTime, actor: &str, action: &str) -> Self {
        NewAuditEvent {
            at,
            actor: actor.into(),
            action: action.into(),
            target: String::new(),
            project: String::new(),
            source: String::new(),
            details: serde_json::Value::Object(Default::default()),
        }
    }
    pub fn target(mut self, target: &str) -> Self {
        self.target = target.into();
        self
    }
    pub fn project(mut self, project: &str) -> Self {
        self.project = project.into();
        self
    }
    pub fn source(mut self, source: &str) -> Self {
        self.source = source.into();
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// How long repeats of one anonymous refusal from one source are counted instead of written.
pub const REFUSAL_WINDOW_US: i64 = 60_000_000;

/// Append an anonymous refusal (a refused CSRF post, a bad link, a rate-limited sign-in…) without
/// letting one client flood the append-only trail: the first from a source in a window is written
/// in full; repeats within the window are only counted (in the prunable attempts table), and the
/// next event written for that source and action carries how many there were
/// (`repeats_since_last`). Returns whether the event was written.
pub async fn append_refusal(tx: &mut dyn crate::Tx, mut event: NewAuditEvent) -> Result<bool, crate::StoreError> {
    let now_us = to_micros(event.at);
    let client = crate::client::rate_key(&event.source);
    let written_key = format!("audit:{}:{client}", event.action);
    let repeats_key = format!("audit-repeat:{}:{client}", event.action);
    if tx.count_attempts(&written_key, now_us - REFUSAL_WINDOW_US).await? > 0 {
        tx.record_attempt(&repeats_key, now_us).await?;
        return Ok(false);
    }
    let repeats = tx.count_attempts(&repeats_key, i64::MIN).await?;
    if repeats > 0 {
        tx.clear_attempts(&repeats_key).await?;
        if let serde_json::Value::Object(map) = &mut event.details {
            map.insert("repeats_since_last".into(), repeats.into());
        }
    }
    tx.record_attempt(&written_key, now_us).await?;
    tx.append_audit(event).await?;
    Ok(true)
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub at_us: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub project: String,
    pub source: String,
    /// JSON text exactly as hashed.
    pub details: String,
    #[serde(with = "hex_bytes")]
    pub prev_hash: [u8; 32],
    #[serde(with = "hex_bytes")]
    pub hash: [u8; 32],
}

mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
}

impl AuditEvent {
    pub fn fields(&self) -> EventFields<'_> {
        EventFields {
            seq: self.seq,
            at_micros: self.at_us,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            project: &self.project,
            source: &self.source,
            details: &self.details,
        }
    }

    /// Seal a new event onto the chain whose head is (`prev_seq`, `prev_hash`).
    pub fn chain(new: NewAuditEvent, prev_seq: i64, prev_hash: [u8; 32], scratch: &mut Vec<u8>) -> AuditEvent {
        let mut e = AuditEvent {
            seq: prev_seq + 1,
            at_us: to_micros(new.at),
            actor: new.actor,
            action: new.action,
            target: new.target,
            project: new.project,
            source: new.source,
            details: new.details.to_string(),
            prev_hash,
            hash: [0; 32],
        };
        e.hash = audit_chain::event_hash(&prev_hash, &e.fields(), scratch);
        e
    }

    /// JSON line for export.
    pub fn to_json_line(&self) -> String {
        let details: serde_json::Value =
            serde_json::from_str(&self.details).unwrap_or(serde_json::Value::String(self.details.clone()));
        let at =
            crate::from_micros(self.at_us).format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
        serde_json::json!({
            "seq": self.seq, "at": at, "actor": self.actor, "action": self.action, "target": self.target,
            "project": self.project, "source": self.source, "details": details,
            "prev_hash": hex::encode(self.prev_hash), "hash": hex::encode(self.hash),
        })
        .to_string()
    }
}

/// A signed statement that the chain's event `seq` had hash `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: [u8; 32],
    pub at_us: i64,
    pub signature: Vec<u8>,
}

impl Checkpoint {
    pub fn message(&self) -> Vec<u8> {
        audit_chain::checkpoint_message(self.seq, &self.hash, self.at_us)
    }
}

/// The first thing wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The event's content no longer matches its hash.
    Edited { seq: i64 },
    /// The event does not link to the one before it: that one was rewritten, or events between were removed.
    BrokenLink { seq: i64 },
    /// Sequence numbers jump: events were deleted.
    Missing { expected: i64, found: i64 },
    /// A signed checkpoint disagrees with the chain: events up to it were rewritten.
    CheckpointMismatch { seq: i64, after_good_checkpoint: i64 },
    /// A checkpoint's signature does not verify (forged or corrupted).
    BadCheckpoint { seq: i64 },
    /// Events that a checkpoint vouches for are gone from the end of the trail.
    Truncated { last_seq: i64, checkpoint_seq: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Edited { seq } => write!(f, "event {seq} was edited: its content no longer matches its hash"),
            Problem::BrokenLink { seq } => write!(
                f,
                "event {seq} does not follow event {}: that event was rewritten, or events were removed or reordered",
                seq - 1
            ),
            Problem::Missing { expected, found } => {
                write!(f, "event {expected} is missing (deleted): the trail jumps from {} to {found}", expected - 1)
            }
            Problem::CheckpointMismatch { seq, after_good_checkpoint } => write!(
                f,
                "the trail was rewritten between event {} and event {seq}: it disagrees with the signed checkpoint at event {seq}",
                after_good_checkpoint + 1
            ),
            Problem::BadCheckpoint { seq } => {
                write!(f, "the checkpoint at event {seq} has an invalid signature")
            }
            Problem::Truncated { last_seq, checkpoint_seq } => write!(
                f,
                "events {}..={checkpoint_seq} were deleted from the end of the trail (a signed checkpoint vouches for event {checkpoint_seq})",
                last_seq + 1
            ),
        }
    }
}

impl Problem {
    /// The first event the problem concerns.
    pub fn first_bad_seq(&self) -> i64 {
        match self {
            Problem::Edited { seq } | Problem::BrokenLink { seq } | Problem::BadCheckpoint { seq } => *seq,
            Problem::Missing { expected, .. } => *expected,
            Problem::CheckpointMismatch { after_good_checkpoint, .. } => after_good_checkpoint + 1,
            Problem::Truncated { last_seq, .. } => last_seq + 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub events: u64,
    pub checkpoints: u64,
    pub last_seq: i64,
    pub problem: Option<Problem>,
}

/// Walks a chain in sequence order. Feed every event to [`ChainVerifier::push`]; it stops at the
/// first problem. Allocation-free per event.
pub struct ChainVerifier {
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    last_good_checkpoint: i64,
    prev_hash: [u8; 32],
    last_seq: i64,
    events: u64,
    scratch: Vec<u8>,
    problem: Option<Problem>,
}

impl ChainVerifier {
    /// Checkpoints in any order; their signatures are checked here.
    pub fn new(public_key: [u8; 32], mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        let problem = checkpoints
            .iter()
            .find(|c| !haven_crypto::signing::verify(&public_key, &c.message(), &c.signature))
            .map(|c| Problem::BadCheckpoint { seq: c.seq });
        ChainVerifier {
            checkpoints,
            next_checkpoint: 0,
            last_good_checkpoint: 0,
            prev_hash: GENESIS,
            last_seq: 0,
            events: 0,
            scratch: Vec::with_capacity(512),
            problem,
        }
    }

    pub fn is_done(&self) -> bool {
        self.problem.is_some()
    }

    /// Check the next event. Returns false once a problem is found.
    pub fn push(&mut self, e: &AuditEvent) -> bool {
        self.push_view(&EventView { fields: e.fields(), prev_hash: &e.prev_hash, hash: &e.hash })
    }

    /// As [`ChainVerifier::push`], for an event of a batch.
    pub fn push_view(&mut self, v: &EventView<'_>) -> bool {
        if self.problem.is_some() {
            return false;
        }
        let e = &v.fields;
        let expected = self.last_seq + 1;
        if e.seq != expected {
            self.problem = Some(if e.seq > expected {
                Problem::Missing { expected, found: e.seq }
            } else {
                Problem::BrokenLink { seq: e.seq }
            });
            return false;
        }
        if *v.prev_hash != self.prev_hash {
            self.problem = Some(Problem::BrokenLink { seq: e.seq });
            return false;
        }
        let hash = audit_chain::event_hash(&self.prev_hash, e, &mut self.scratch);
        if hash != *v.hash {
            self.problem = Some(Problem::Edited { seq: e.seq });
            return false;
        }
        while let Some(c) = self.checkpoints.get(self.next_checkpoint) {
            if c.seq > e.seq {
                break;
            }
            if c.seq == e.seq && c.hash != hash {
                self.problem =
                    Some(Problem::CheckpointMismatch { seq: c.seq, after_good_checkpoint: self.last_good_checkpoint });
                return false;
            }
            self.last_good_checkpoint = c.seq;
            self.next_checkpoint += 1;
        }
        self.prev_hash = hash;
        self.last_seq = e.seq;
        self.events += 1;
        true
    }

    pub fn finish(mut self) -> Verification {
        if self.problem.is_none()
            && let Some(c) = self.checkpoints.last()
            && c.seq > self.last_seq
        {
            self.problem = Some(Problem::Truncated { last_seq: self.last_seq, checkpoint_seq: c.seq });
        }
        Verification {
            events: self.events,
            checkpoints: self.checkpoints.len() as u64,
            last_seq: self.last_seq,
            problem: self.problem,
        }
    }
}

impl ChainVerifier {
    /// A verifier for the part of a chain after event `after` (whose hash is `prev_hash`), with
    /// the checkpoints that fall in that part, their signatures already checked.
    fn resume(after: i64, prev_hash: [u8; 32], mut checkpoints: Vec<Checkpoint>, last_good_checkpoint: i64) -> Self {
        checkpoints.sort_by_key(|c| c.seq);
        ChainVerifier {
            checkpoints,
            next_checkpoint: 0,
            last_good_checkpoint,
            prev_hash,
            last_seq: after,
            events: 0,
            scratch: Vec::with_capacity(512),
            problem: None,
        }
    }
}

/// The check of one part, to be run where the caller likes (a task of its own).
pub type PartCheck = futures::future::BoxFuture<'static, Result<Part, crate::StoreError>>;

/// One part of the trail, `from..=to`, checked on its own (see [`verify_trail_parts`]).
pub struct Part {
    from: i64,
    /// The stored link of its first event (what the part before must end with).
    first_prev: Option<[u8; 32]>,
    last_hash: [u8; 32],
    verification: Verification,
}

/// Check events `from..=to` as the whole chain would be, trusting the first event's link to the
/// one before (the part before checks that it ends there). The last part (`last`) also takes the
/// checkpoints beyond `to`, so that a truncated trail is found.
async fn verify_part(
    store: std::sync::Arc<dyn crate::Store>,
    checkpoints: std::sync::Arc<Vec<Checkpoint>>,
    (from, to, last): (i64, i64, bool),
    seen: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Part, crate::StoreError> {
    use futures::StreamExt;
    use std::sync::atomic::Ordering;
    let mine: Vec<Checkpoint> =
        checkpoints.iter().filter(|c| c.seq >= from && (last || c.seq <= to)).cloned().collect();
    let good_before = checkpoints.iter().filter(|c| c.seq < from).map(|c| c.seq).max().unwrap_or(0);
    let mut batches = store.audit_batches(from, if last { i64::MAX } else { to });
    let mut verifier: Option<ChainVerifier> = None;
    let mut first_prev = None;
    'reading: while let Some(batch) = batches.next().await {
        let batch = batch?;
        let mut counted = 0;
        for event in batch.iter() {
            // The last part reads on to the end, as the whole verifier does.
            if !last && event.fields.seq > to {
                seen.fetch_add(counted, Ordering::Relaxed);
                break 'reading;
            }
            let v = verifier.get_or_insert_with(|| {
                // The first part starts at the genesis; any other from its first event's link.
                let prev = if from == 1 { GENESIS } else { *event.prev_hash };
                first_prev = Some(*event.prev_hash);
                ChainVerifier::resume(from - 1, prev, mine.clone(), good_before)
            });
            if !v.push_view(&event) {
                seen.fetch_add(counted, Ordering::Relaxed);
                break 'reading;
            }
            counted += 1;
        }
        seen.fetch_add(counted, Ordering::Relaxed);
    }
    let v = verifier.unwrap_or_else(|| ChainVerifier::resume(from - 1, GENESIS, mine, good_before));
    let last_hash = v.prev_hash;
    let ended_at = v.last_seq;
    let mut verification = if last {
        v.finish()
    } else {
        Verification { events: v.events, checkpoints: 0, last_seq: v.last_seq, problem: v.problem }
    };
    // A part that stops short lost its last events (the next part starts after them).
    if !last && verification.problem.is_none() && ended_at < to {
        verification.problem = Some(Problem::Missing { expected: ended_at + 1, found: to + 1 });
    }
    Ok(Part { from, first_prev, last_hash, verification })
}

/// Verify the whole trail in `parts` ranges side by side, each through `spawn` (a task of its
/// own, so that reading and hashing use every core): each part is checked as [`verify_trail`]
/// checks the whole, then the parts' joins (each part's last hash is the next part's first link).
/// The result is the one [`verify_trail`] gives: the first problem in sequence order. `seen`
/// counts the events checked so far, for progress.
pub async fn verify_trail_parts(
    store: std::sync::Arc<dyn crate::Store>,
    public_key: [u8; 32],
    parts: usize,
    seen: std::sync::Arc<std::sync::atomic::AtomicU64>,
    spawn: &dyn Fn(PartCheck) -> PartCheck,
) -> Result<Verification, crate::StoreError> {
    let (checkpoints, head) = crate::read(store.as_ref(), |tx| {
        Box::pin(async move { Ok::<_, crate::StoreError>((tx.audit_checkpoints().await?, tx.last_audit_seq().await?)) })
    })
    .await?;
    // Every signature first, as the whole verifier does.
    let signed = ChainVerifier::new(public_key, checkpoints.clone());
    if signed.is_done() {
        return Ok(signed.finish());
    }
    let checkpoints = std::sync::Arc::new(checkpoints);
    let parts = i64::try_from(parts.max(1)).unwrap_or(1).min(head.max(1));
    let per = (head + parts - 1) / parts.max(1);
    let mut running = Vec::new();
    for i in 0..parts {
        let from = 1 + i * per;
        let to = if i == parts - 1 { head } else { ((i + 1) * per).min(head) };
        let last = i == parts - 1;
        let part = verify_part(store.clone(), checkpoints.clone(), (from, to, last), seen.clone());
        running.push(spawn(Box::pin(part)));
    }
    let mut done = Vec::with_capacity(running.len());
    for part in running {
        done.push(part.await?);
    }
    Ok(join_parts(done, checkpoints.len() as u64))
}

fn join_parts(parts: Vec<Part>, checkpoints: u64) -> Verification {
    let mut events = 0;
    let mut last_seq = 0;
    let mut before: Option<[u8; 32]> = None;
    for p in parts {
        // A problem at the part's very first event is that event's, whatever the link says
        // (a missing or edited first event), as the whole verifier would report it.
        let own_first = p.verification.problem.as_ref().is_some_and(|q| q.first_bad_seq() <= p.from);
        if !own_first
            && let (Some(end), Some(first)) = (before, p.first_prev)
            && end != first
        {
            return Verification { events, checkpoints, last_seq, problem: Some(Problem::BrokenLink { seq: p.from }) };
        }
        events += p.verification.events;
        if p.verification.events > 0 {
            last_seq = p.verification.last_seq;
        }
        if p.verification.problem.is_some() {
            return Verification { events, checkpoints, last_seq, problem: p.verification.problem };
        }
        before = Some(p.last_hash);
    }
    Verification { events, checkpoints, last_seq, problem: None }
}

/// Make a signed checkpoint for the head (`seq`, `hash`).
pub fn sign_checkpoint(
    key: &haven_crypto::signing::SigningKey,
    seq: i64,
    hash: [u8; 32],
    at: OffsetDateTime,
) -> Checkpoint {
    let mut c = Checkpoint { seq, hash, at_us: to_micros(at), signature: Vec::new() };
    c.signature = key.sign(&c.message());
    c
}

/// Verify the whole trail in the store against the checkpoint key's public half, streaming.
/// `progress` is called with the number of events checked so far, about every 50,000 events.
pub async fn verify_trail(
    store: &dyn crate::Store,
    public_key: [u8; 32],
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Verification, crate::StoreError> {
    use futures::StreamExt;
    let checkpoints = crate::read(store, |tx| Box::pin(async move { tx.audit_checkpoints().await })).await?;
    let mut verifier = ChainVerifier::new(public_key, checkpoints);
    if !verifier.is_done() {
        let mut batches = store.audit_batches(1, i64::MAX);
        let (mut seen, mut told): (u64, u64) = (0, 0);
        'reading: while let Some(batch) = batches.next().await {
            for event in batch?.iter() {
                if !verifier.push_view(&event) {
                    break 'reading;
                }
                seen += 1;
            }
            if seen - told >= 50_000 {
                told = seen;
                progress(seen);
            }
        }
    }
    Ok(verifier.finish())
}

/// Sign a checkpoint for the current head if events were appended since the last one.
/// Returns the checkpointed sequence number, if one was written.
pub async fn write_checkpoint(
    store: &dyn crate::Store,
    key: std::sync::Arc<haven_crypto::signing::SigningKey>,
    at: OffsetDateTime,
) -> Result<Option<i64>, crate::StoreError> {
    Ok(write_checkpoint_record(store, key, at).await?.map(|c| c.seq))
}

/// As [`write_checkpoint`], returning the checkpoint written (to copy it off the host).
pub async fn write_checkpoint_record(
    store: &dyn crate::Store,
    key: std::sync::Arc<haven_crypto::signing::SigningKey>,
    at: OffsetDateTime,
) -> Result<Option<Checkpoint>, crate::StoreError> {
    crate::transact(store, move |tx| {
        Box::pin(async move {
            let (seq, hash) = tx.audit_head().await?;
            if seq == 0 || tx.last_checkpoint_seq().await? >= seq {
                return Ok(None);
            }
            let checkpoint = sign_checkpoint(&key, seq, hash, at);
            tx.insert_checkpoint(&checkpoint).await?;
            Ok(Some(checkpoint))
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use haven_crypto::{SystemRng, signing::SigningKey};

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = Vec::new();
        let mut scratch = Vec::new();
        for i in 0..n {
            let (seq, hash) = out.last().map(|e| (e.seq, e.hash)).unwrap_or((0, GENESIS));
            let new = NewAuditEvent::new(crate::from_micros(i * 1000), "alice", "test.event")
                .target(&format!("t{i}"))
                .details(serde_json::json!({"i": i}));
            out.push(AuditEvent::chain(new, seq, hash, &mut scratch));
        }
        out
    }

    fn key() -> SigningKey {
        SigningKey::from_seed(SigningKey::generate_seed(&SystemRng::new()).unwrap().as_ref()).unwrap()
    }

    fn verify(events: &[AuditEvent], key: &SigningKey, cps: Vec<Checkpoint>) -> Verification {
        let mut v = ChainVerifier::new(key.public_key(), cps);
        for e in events {
            if !v.push(e) {
                break;
            }
        }
        v.finish()
    }

    #[test]
    fn intact_chain_verifies() {
        let k = key();
        let events = chain(20);
        let cp = sign_checkpoint(&k, 10, events[9].hash, crate::from_micros(0));
        let r = verify(&events, &k, vec![cp]);
        assert_eq!(r.problem, None);
        assert_eq!(r.events, 20);
    }

    #[test]
    fn edit_delete_reorder_rewrite_and_truncation_are_named() {
        let k = key();
        let events = chain(20);
        let mut edited = events.clone();
        edited[6].target = "changed".into();
        assert_eq!(verify(&edited, &k, vec![]).problem, Some(Problem::Edited { seq: 7 }));

        let mut deleted = events.clone();
        deleted.remove(4);
        assert_eq!(verify(&deleted, &k, vec![]).problem, Some(Problem::Missing { expected: 5, found: 6 }));

        let mut reordered = events.clone();
        reordered.swap(2, 3);
        let (a, b) = (reordered[2].seq, reordered[3].seq);
        reordered[2].seq = b;
        reordered[3].seq = a;
        assert_eq!(verify(&reordered, &k, vec![]).problem.map(|p| p.first_bad_seq()), Some(3));

        // Rewrite from event 5 on with valid hashes: only the checkpoint can tell.
        let cps = vec![
            sign_checkpoint(&k, 3, events[2].hash, crate::from_micros(0)),
            sign_checkpoint(&k, 12, events[11].hash, crate::from_micros(0)),
        ];
        let mut rewritten: Vec<AuditEvent> = events[..4].to_vec();
        let mut scratch = Vec::new();
        for e in &events[4..] {
            let prev = rewritten.last().unwrap();
            let mut n = NewAuditEvent::new(crate::from_micros(e.at_us), &e.actor, &e.action).target("forged");
            n.details = serde_json::from_str(&e.details).unwrap();
            rewritten.push(AuditEvent::chain(n, prev.seq, prev.hash, &mut scratch));
        }
        assert_eq!(
            verify(&rewritten, &k, cps.clone()).problem,
            Some(Problem::CheckpointMismatch { seq: 12, after_good_checkpoint: 3 })
        );

        assert_eq!(
            verify(&events[..9], &k, cps.clone()).problem,
            Some(Problem::Truncated { last_seq: 9, checkpoint_seq: 12 })
        );

        let mut forged = cps;
        forged[0].hash = [9; 32];
        assert_eq!(verify(&events, &k, forged).problem, Some(Problem::BadCheckpoint { seq: 3 }));
    }
}
