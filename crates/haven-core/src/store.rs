//! The storage port. Every read goes through [`read`] (except the streamed audit trail) and
//! every change through [`transact`]: one unit of work run inside a database transaction
//! together with the audit events it appends, so a change and its audit record are committed or
//! lost together. Adapters may group several units into one commit
//! (group commit); each unit still succeeds or rolls back on its own.
//!
//! A unit of work must only talk to the database: it runs on the adapter's writer, and anything
//! slow inside it (network, hashing) delays every other writer.

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::accounts::NewUser;
use crate::audit::{AuditEvent, Checkpoint, NewAuditEvent};
use crate::blobs::ObjectMeta;
use crate::cluster::ClusterTx;
use crate::egress::store::EgressTx;
use crate::error::StoreError;
use crate::governance::store::GovernanceTx;
use crate::identity::store::IdentityTx;
use crate::packages::store::PackagesTx;
use crate::transfer::store::TransferTx;
use crate::updates::{NewServiceUpdate, ServiceUpdate};
use crate::workspaces::catalogue::CatalogueTx;
use crate::workspaces::jobs::JobsTx;
use crate::workspaces::sessions::SessionsTx;

/// What a unit of work may do inside its transaction.
#[async_trait]
pub trait Tx:
    IdentityTx + PackagesTx + GovernanceTx + TransferTx + CatalogueTx + SessionsTx + JobsTx + EgressTx + ClusterTx + Send
{
    // audit
    async fn append_audit(&mut self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    async fn last_checkpoint_seq(&mut self) -> Result<i64, StoreError>;
    /// The head a unit of work appends after (in a write; a read sees no head: use
    /// [`Tx::last_audit_seq`]).
    async fn audit_head(&mut self) -> Result<(i64, [u8; 32]), StoreError>;
    /// The last event's sequence number as stored (0 for an empty trail), in a read or a write.
    async fn last_audit_seq(&mut self) -> Result<i64, StoreError>;
    async fn insert_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), StoreError>;
    async fn audit_checkpoints(&mut self) -> Result<Vec<Checkpoint>, StoreError>;
    /// How many audit events in `[from_us, to_us)`: of each action (actor empty), or, when
    /// `action` is given, of that action by each actor. For reports.
    async fn audit_tally(
        &mut self,
        from_us: i64,
        to_us: i64,
        action: Option<&str>,
    ) -> Result<Vec<(String, String, i64)>, StoreError>;
    // accounts
    async fn count_admins(&mut self) -> Result<i64, StoreError>;
    async fn insert_user(&mut self, user: &NewUser) -> Result<(), StoreError>;
    async fn replace_bootstrap_token(&mut self, hash: &[u8; 32], expires_us: i64) -> Result<(), StoreError>;
    /// Delete the token if it exists and has not expired; whether it did.
    async fn take_bootstrap_token(&mut self, hash: &[u8; 32], now_us: i64) -> Result<bool, StoreError>;
    // service updates
    async fn insert_update(&mut self, update: &NewServiceUpdate) -> Result<i64, StoreError>;
    /// The newest `limit` updates, newest first.
    async fn service_updates(&mut self, limit: i64) -> Result<Vec<ServiceUpdate>, StoreError>;
    // keys and objects
    async fn insert_project_key(
        &mut self,
        project: &str,
        version: i64,
        wrapped: &[u8],
        at_us: i64,
    ) -> Result<(), StoreError>;
    async fn project_key(&mut self, project: &str) -> Result<Option<(i64, Vec<u8>)>, StoreError>;
    /// Some project's wrapped key (project, version, wrapped), if any was made: what tells
    /// whether a master key is the one the database was made with.
    async fn any_project_key(&mut self) -> Result<Option<(String, i64, Vec<u8>)>, StoreError>;
    async fn insert_object(&mut self, meta: &ObjectMeta) -> Result<(), StoreError>;
    async fn delete_object(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Whether the object is recorded (its key is held).
    async fn object_recorded(&mut self, id: &str) -> Result<bool, StoreError>;
    /// An object's record (its wrapped key), if it is recorded.
    async fn object(&mut self, id: &str) -> Result<Option<ObjectMeta>, StoreError>;
    /// Up to `limit` object records with ids after `after`, in id order (for checking them all).
    async fn objects_after(&mut self, after: &str, limit: i64) -> Result<Vec<ObjectMeta>, StoreError>;
}

/// A unit of work with its output type erased; returns whether it wants to commit.
pub type Job = Box<dyn for<'a> FnOnce(&'a mut dyn Tx) -> BoxFuture<'a, bool> + Send>;

#[async_trait]
pub trait Store: Send + Sync {
    /// Run `job` in a transaction; `Ok` once its outcome (commit or rollback) is durable.
    async fn run_job(&self, job: Job) -> Result<(), StoreError>;
    /// Run `job` in a read-only transaction on a reader connection; nothing it does is kept.
    async fn run_read(&self, job: Job) -> Result<(), StoreError>;
    /// The change counters this store keeps current, for in-memory caches
    /// ([`crate::changes`]).
    fn changes(&self) -> std::sync::Arc<crate::changes::Changes>;
    /// The database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Events with `seq >= from_seq` and `at >= since_us`, in sequence order, streamed. The one
    /// read outside [`read`]: a trail of millions of events is verified or exported without
    /// holding it in memory, which a unit of work, returning one value, cannot do.
    fn audit_events(&self, from_seq: i64, since_us: i64) -> BoxStream<'_, Result<AuditEvent, StoreError>>;
    /// The events `from_seq..=to_seq`, in sequence order, packed in batches (what the verifier
    /// reads: a store with a reader thread of its own packs them there, without an allocation
    /// per event).
    fn audit_batches(&self, from_seq: i64, to_seq: i64) -> BoxStream<'_, Result<crate::audit::AuditBatch, StoreError>> {
        batches_of(self.audit_events(from_seq, i64::MIN), to_seq)
    }
}

/// `events` up to `to_seq`, packed 1,024 to a batch.
pub fn batches_of<'a>(
    events: BoxStream<'a, Result<AuditEvent, StoreError>>,
    to_seq: i64,
) -> BoxStream<'a, Result<crate::audit::AuditBatch, StoreError>> {
    use futures::StreamExt;
    events
        .take_while(move |e| futures::future::ready(e.as_ref().map_or(true, |e| e.seq <= to_seq)))
        .chunks(1024)
        .flat_map(|events| {
            // The events before a failed read still come first (a problem among them is theirs).
            let mut batch = crate::audit::AuditBatch::with_capacity(events.len());
            let mut failed = None;
            for e in events {
                match e {
                    Ok(e) => batch.push_event(&e),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            let failed = failed.map(Err);
            futures::stream::iter(std::iter::once(Ok(batch)).chain(failed))
        })
        .boxed()
}

/// Erase `work`'s output type: the job hands the outcome back through the receiver and asks to
/// commit when it succeeded.
fn into_job<T, E, F>(work: F) -> (Job, futures::channel::oneshot::Receiver<Result<T, E>>)
where
    T: Send + 'static,
    E: Send + 'static,
    F: for<'a> FnOnce(&'a mut dyn Tx) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
{
    let (send, receive) = futures::channel::oneshot::channel::<Result<T, E>>();
    let job: Job = Box::new(move |tx| {
        Box::pin(async move {
            let outcome = work(tx).await;
            let commit = outcome.is_ok();
            let _ = send.send(outcome);
            commit
        })
    });
    (job, receive)
}

/// Run `work` in a read-only transaction and return its output: a consistent view through the
/// same [`Tx`] methods, off the writer. Anything it writes is discarded.
pub async fn read<T, E, F>(store: &dyn Store, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'a> FnOnce(&'a mut dyn Tx) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
{
    let (job, receive) = into_job(work);
    store.run_read(job).await?;
    match receive.await {
        Ok(outcome) => outcome,
        Err(_) => Err(StoreError::Database("the read was dropped before it ran".into()).into()),
    }
}

/// Run `work` as one unit of work and return its output. If `work` fails, its changes (audit
/// events included) are rolled back and its error returned.
pub async fn transact<T, E, F>(store: &dyn Store, work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: for<'a> FnOnce(&'a mut dyn Tx) -> BoxFuture<'a, Result<T, E>> + Send + 'static,
{
    let (job, receive) = into_job(work);
    store.run_job(job).await?;
    match receive.await {
        Ok(outcome) => outcome,
        Err(_) => Err(StoreError::Database("the unit of work was dropped before it ran".into()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn event(seq: i64) -> AuditEvent {
        AuditEvent {
            seq,
            at_us: seq,
            actor: "alice".into(),
            action: "a.b".into(),
            target: String::new(),
            project: String::new(),
            source: String::new(),
            details: "{}".into(),
            prev_hash: [0; 32],
            hash: [1; 32],
        }
    }

    #[tokio::test]
    async fn events_read_before_a_failed_read_still_come_first() {
        let events: Vec<Result<AuditEvent, StoreError>> =
            vec![Ok(event(1)), Ok(event(2)), Err(StoreError::Database("broken row".into())), Ok(event(4))];
        let out: Vec<_> = batches_of(futures::stream::iter(events).boxed(), i64::MAX).collect().await;
        assert_eq!(out.len(), 2, "{out:?}");
        let first = out[0].as_ref().unwrap();
        assert_eq!(first.iter().map(|v| v.fields.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert!(matches!(&out[1], Err(StoreError::Database(m)) if m == "broken row"));
    }

    #[tokio::test]
    async fn batches_end_at_their_last_sequence_number() {
        let events: Vec<Result<AuditEvent, StoreError>> = (1..=5).map(|s| Ok(event(s))).collect();
        let out: Vec<_> = batches_of(futures::stream::iter(events).boxed(), 3).collect().await;
        let seqs: Vec<i64> = out.iter().flat_map(|b| b.as_ref().unwrap().iter().map(|v| v.fields.seq)).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }
}
