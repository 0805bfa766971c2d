//! The audit trail out of PostgreSQL as a binary `COPY … TO STDOUT`, parsed straight into
//! batches: no row description, no per-column decoding into owned values, one message a row.
//! sqlx reads the protocol; the rows' format is PostgreSQL's, documented at
//! <https://www.postgresql.org/docs/current/sql-copy.html> ("Binary Format"), and parsed here
//! because no crate of the stack reads it.

use futures::StreamExt;
use futures::stream::BoxStream;
use haven_core::StoreError;
use haven_core::audit::AuditBatch;
use sqlx::PgPool;

use super::rows::{AUDIT_COLUMNS, Db, corrupt};
use super::stream::{BATCH, Bounds, received};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
const COLUMNS: i16 = 10;

/// The events within `bounds`, read by a task of their own. A reader that stops early (a
/// verifier that found a problem) is noticed at the next chunk; the task then closes its
/// connection (never back to the pool mid-COPY), which ends the server's COPY; a COPY read to
/// its end leaves its connection to the pool.
pub(crate) fn batches(pool: PgPool, bounds: Bounds) -> BoxStream<'static, Result<AuditBatch, StoreError>> {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<AuditBatch, StoreError>>(4);
    tokio::spawn(async move {
        let mut batch = AuditBatch::with_capacity(BATCH);
        // Without a time bound (what verification reads) the trail is first read as the table
        // holds it, the cheapest read for the server: an append-only table holds it in sequence
        // order, or nearly. Rows ahead of their turn wait; if the order is too far off, or a row
        // is missing, the rest is read again in order, so the reader always gets what an ordered
        // read gives. Exports from a time are read in order at once.
        let mut pass = (bounds.from_seq, bounds.since_us == i64::MIN);
        loop {
            if sender.is_closed() {
                return;
            }
            match read(&pool, pass, bounds, &mut batch, &sender).await {
                Ok(Pass::Done) => break,
                Ok(Pass::Reread(from)) => pass = (from, false),
                Err(e) => {
                    // The events before it still come first (a problem among them is theirs).
                    if !batch.is_empty() {
                        let _ = sender.send(Ok(std::mem::take(&mut batch))).await;
                    }
                    let _ = sender.send(Err(e)).await;
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = sender.send(Ok(batch)).await;
        }
    });
    received(receiver)
}

enum Pass {
    /// Everything read, or the reader went away.
    Done,
    /// Read again, in order, from this sequence number.
    Reread(i64),
}

/// One COPY: from `from_seq`, as stored or in order, within `bounds`' other limits.
async fn read(
    pool: &PgPool,
    (from_seq, as_stored): (i64, bool),
    bounds: Bounds,
    batch: &mut AuditBatch,
    sender: &tokio::sync::mpsc::Sender<Result<AuditBatch, StoreError>>,
) -> Result<Pass, StoreError> {
    // COPY takes no parameters; the bounds are integers, formatted (no text reaches the SQL).
    let mut filter = Vec::new();
    if from_seq > 1 || !as_stored {
        filter.push(format!("seq >= {from_seq}"));
    }
    if bounds.to_seq != i64::MAX {
        filter.push(format!("seq <= {}", bounds.to_seq));
    }
    if bounds.since_us != i64::MIN {
        filter.push(format!("at_us >= {}", bounds.since_us));
    }
    let filter = if filter.is_empty() { String::new() } else { format!(" WHERE {}", filter.join(" AND ")) };
    let order = if as_stored { "" } else { " ORDER BY seq" };
    let sql = format!("COPY (SELECT {AUDIT_COLUMNS} FROM audit_events{filter}{order}) TO STDOUT (FORMAT binary)");
    let mut parser = Rows { order: as_stored.then(|| InOrder::from(from_seq)), ..Rows::default() };
    let mut conn = pool.acquire().await.db()?;
    let copied = copy(&mut conn, &sql, &mut parser, batch, sender).await;
    if !matches!(copied, Ok(None)) {
        // A COPY not read to its end: the connection is closed, never pooled mid-stream.
        conn.close_on_drop();
    }
    if let Some(stopped) = copied? {
        return Ok(stopped);
    }
    if !parser.ended {
        return Err(StoreError::Database("reading the audit trail: the COPY ended before its last row".into()));
    }
    if let Some(waiting) = parser.order.as_ref().filter(|o| !o.ahead.is_empty()) {
        return Ok(Pass::Reread(waiting.next)); // a gap: the ordered read shows it where it is
    }
    Ok(Pass::Done)
}

/// Run `sql` and feed what it sends to `parser`; `None` once read to its end, else why it stopped.
async fn copy(
    conn: &mut sqlx::PgConnection,
    sql: &str,
    parser: &mut Rows,
    batch: &mut AuditBatch,
    sender: &tokio::sync::mpsc::Sender<Result<AuditBatch, StoreError>>,
) -> Result<Option<Pass>, StoreError> {
    let mut chunks = conn.copy_out_raw(sql).await.db()?;
    while let Some(chunk) = chunks.next().await {
        if sender.is_closed() {
            return Ok(Some(Pass::Done)); // the reader went away
        }
        if let Some(from) = parser.feed(&chunk.db()?, batch)? {
            return Ok(Some(Pass::Reread(from)));
        }
        if batch.len() >= BATCH
            && sender.send(Ok(std::mem::replace(batch, AuditBatch::with_capacity(BATCH)))).await.is_err()
        {
            return Ok(Some(Pass::Done));
        }
    }
    Ok(None)
}

/// Rows that may arrive out of sequence order, put back in it.
struct InOrder {
    /// Where the read starts: rows before it are not the reader's (an ordered read leaves them out).
    from: i64,
    next: i64,
    /// Rows ahead of their turn, as they arrived, and their bytes in all.
    ahead: std::collections::BTreeMap<i64, Vec<u8>>,
    ahead_bytes: usize,
}

/// At most this many rows, and bytes, wait for their turn before the rest is read again in order.
const AHEAD: usize = 16_384;
const AHEAD_BYTES: usize = 64 << 20;

impl InOrder {
    fn from(seq: i64) -> Self {
        InOrder { from: seq, next: seq, ahead: Default::default(), ahead_bytes: 0 }
    }

    /// `row` (whose sequence number is `seq`) into `batch` in its turn, with the rows waiting for
    /// it; `Some(seq)` to read again in order from `seq`.
    fn take(
        &mut self,
        seq: i64,
        row: &[u8],
        fields: &Fields,
        batch: &mut AuditBatch,
    ) -> Result<Option<i64>, StoreError> {
        if seq < self.from {
            return Ok(None);
        }
        if seq < self.next || self.ahead.contains_key(&seq) {
            // Only a dropped primary key lets a sequence number be stored twice.
            return Err(corrupt("audit trail (a sequence number stored twice)"));
        }
        if seq > self.next {
            if self.ahead.len() >= AHEAD || self.ahead_bytes + row.len() > AHEAD_BYTES {
                return Ok(Some(self.next));
            }
            self.ahead_bytes += row.len();
            self.ahead.insert(seq, row.to_vec());
            return Ok(None);
        }
        push(batch, fields)?;
        self.next = self.next.saturating_add(1);
        while let Some(row) = self.ahead.remove(&self.next) {
            self.ahead_bytes -= row.len();
            match split(&row)? {
                Step::Row(fields, _) => push(batch, &fields)?,
                _ => return Err(corrupt("audit COPY")),
            }
            self.next = self.next.saturating_add(1);
        }
        Ok(None)
    }
}

/// The binary COPY stream, as it arrives (a row may span chunks).
#[derive(Default)]
struct Rows {
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
    order: Option<InOrder>,
}

impl Rows {
    /// Parse every whole row in what has arrived into `batch`, keeping a partial row for the next
    /// chunk. `Some(seq)`: the rows are too far out of order; read again from `seq`.
    fn feed(&mut self, chunk: &[u8], batch: &mut AuditBatch) -> Result<Option<i64>, StoreError> {
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        if !self.header_read {
            match header(&self.pending)? {
                Some(used) => {
                    at = used;
                    self.header_read = true;
                }
                None => return Ok(None),
            }
        }
        while !self.ended {
            let Some(rest) = self.pending.get(at..) else { break };
            match split(rest)? {
                Step::Row(fields, used) => {
                    match &mut self.order {
                        None => push(batch, &fields)?,
                        Some(order) => {
                            let again =
                                order.take(number(fields[0])?, rest.get(..used).unwrap_or_default(), &fields, batch)?;
                            if again.is_some() {
                                return Ok(again);
                            }
                        }
                    }
                    at += used;
                }
                Step::End => {
                    at += 2;
                    self.ended = true;
                }
                Step::More => break,
            }
        }
        if self.ended && at < self.pending.len() {
            return Err(corrupt("audit COPY (data after its end)"));
        }
        self.pending.drain(..at);
        Ok(None)
    }
}

type Fields<'a> = [&'a [u8]; COLUMNS as usize];

enum Step<'a> {
    Row(Fields<'a>, usize),
    End,
    More,
}

/// The signature, flags and header extension; `None` until all of it has arrived.
fn header(data: &[u8]) -> Result<Option<usize>, StoreError> {
    let Some(fixed) = data.get(..19) else { return Ok(None) };
    if &fixed[..11] != SIGNATURE {
        return Err(corrupt("audit COPY (not PostgreSQL's binary format)"));
    }
    let flags = u32::from_be_bytes([fixed[11], fixed[12], fixed[13], fixed[14]]);
    if flags & 0xffff_0000 != 0 {
        return Err(corrupt("audit COPY (header flags this reader does not know)"));
    }
    let extension = i32::from_be_bytes([fixed[15], fixed[16], fixed[17], fixed[18]]);
    let end = usize::try_from(extension).ok().and_then(|n| n.checked_add(19));
    let end = end.ok_or_else(|| corrupt("audit COPY (a header extension of negative length)"))?;
    Ok((data.len() >= end).then_some(end))
}

/// One row's fields at the start of `data`, or the trailer, or more needed.
fn split(data: &[u8]) -> Result<Step<'_>, StoreError> {
    let Some(count) = data.get(..2) else { return Ok(Step::More) };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Step::End);
    }
    if count != COLUMNS {
        return Err(corrupt("audit COPY (a row of another width)"));
    }
    let mut fields: Fields = [&[]; COLUMNS as usize];
    let mut at = 2;
    for field in &mut fields {
        let Some(length) = data.get(at..at + 4) else { return Ok(Step::More) };
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        // Every column is NOT NULL: a null (-1) is as corrupt as any other negative length.
        let length = usize::try_from(length).map_err(|_| corrupt("audit event"))?;
        let end = (at + 4).checked_add(length).ok_or_else(|| corrupt("audit event"))?;
        let Some(value) = data.get(at + 4..end) else { return Ok(Step::More) };
        *field = value;
        at = end;
    }
    Ok(Step::Row(fields, at))
}

fn number(f: &[u8]) -> Result<i64, StoreError> {
    f.try_into().map(i64::from_be_bytes).map_err(|_| corrupt("audit event"))
}

fn push(batch: &mut AuditBatch, fields: &Fields) -> Result<(), StoreError> {
    let text = |f| std::str::from_utf8(f).map_err(|_| corrupt("audit event"));
    let hash = |f: &[u8]| <[u8; 32]>::try_from(f).map_err(|_| corrupt("hash"));
    let texts =
        [text(fields[2])?, text(fields[3])?, text(fields[4])?, text(fields[5])?, text(fields[6])?, text(fields[7])?];
    batch.push((number(fields[0])?, number(fields[1])?), texts, hash(fields[8])?, hash(fields[9])?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn copy_of(rows: &[(i64, [&str; 6], [u8; 32])]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&4u32.to_be_bytes());
        out.extend_from_slice(b"ext!");
        for (seq, texts, hash) in rows {
            out.extend_from_slice(&COLUMNS.to_be_bytes());
            for number in [*seq, seq * 10] {
                out.extend_from_slice(&8i32.to_be_bytes());
                out.extend_from_slice(&number.to_be_bytes());
            }
            for t in texts {
                out.extend_from_slice(&(t.len() as i32).to_be_bytes());
                out.extend_from_slice(t.as_bytes());
            }
            for h in [[0u8; 32], *hash] {
                out.extend_from_slice(&32i32.to_be_bytes());
                out.extend_from_slice(&h);
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    fn rows() -> Vec<(i64, [&'static str; 6], [u8; 32])> {
        vec![
            (1, ["alice", "auth.signin", "", "p1", "127.0.0.1", "{}"], [1; 32]),
            (2, ["", "x.y", "t\u{e9}", "", "", "{\"k\":1}"], [2; 32]),
        ]
    }

    #[test]
    fn rows_split_anywhere_read_the_same() {
        let data = copy_of(&rows());
        for split in 0..data.len() {
            let (mut parser, mut batch) = (Rows::default(), AuditBatch::default());
            parser.feed(&data[..split], &mut batch).unwrap();
            parser.feed(&data[split..], &mut batch).unwrap();
            assert!(parser.ended, "split at {split}");
            let got: Vec<_> = batch.iter().map(|v| v.to_event()).collect();
            assert_eq!(got.len(), 2);
            assert_eq!((got[0].seq, got[0].at_us, got[0].actor.as_str(), got[0].hash), (1, 10, "alice", [1; 32]));
            assert_eq!(
                (got[1].target.as_str(), got[1].details.as_str(), got[1].hash),
                ("t\u{e9}", "{\"k\":1}", [2; 32])
            );
        }
    }

    #[test]
    fn rows_out_of_order_are_put_back_in_order_or_read_again() {
        let seqs = |order: &[i64], from: i64| {
            let rows: Vec<_> = order.iter().map(|&s| (s, ["a", "b", "c", "d", "e", "f"], [s as u8; 32])).collect();
            let mut parser = Rows { order: Some(InOrder::from(from)), ..Rows::default() };
            let mut batch = AuditBatch::default();
            let again = parser.feed(&copy_of(&rows), &mut batch).unwrap();
            let got: Vec<i64> = batch.iter().map(|v| v.fields.seq).collect();
            (got, again, parser.order.map(|o| (o.next, o.ahead.len())))
        };
        assert_eq!(seqs(&[1, 2, 3], 1), (vec![1, 2, 3], None, Some((4, 0))));
        assert_eq!(seqs(&[2, 3, 1, 5, 4], 1), (vec![1, 2, 3, 4, 5], None, Some((6, 0))));
        // A gap: what follows it waits (the reader then reads again from the gap, in order).
        assert_eq!(seqs(&[1, 3, 4], 1), (vec![1], None, Some((2, 2))));
        // A row before the read's start is not the reader's, as in an ordered read.
        assert_eq!(seqs(&[5, 6, 4, 7], 5), (vec![5, 6, 7], None, Some((8, 0))));
        // A sequence number twice (a dropped primary key): corrupt, not hidden.
        for twice in [&[1, 2, 2][..], &[1, 3, 3], &[2, 1, 1]] {
            let rows: Vec<_> = twice.iter().map(|&s| (s, ["a", "b", "c", "d", "e", "f"], [1; 32])).collect();
            let mut parser = Rows { order: Some(InOrder::from(1)), ..Rows::default() };
            assert!(parser.feed(&copy_of(&rows), &mut AuditBatch::default()).is_err(), "{twice:?}");
        }
        // More rows ahead than may wait.
        let far: Vec<i64> = (2..=AHEAD as i64 + 2).collect();
        let (got, again, _) = seqs(&far, 1);
        assert_eq!((got.len(), again), (0, Some(1)));
    }

    #[test]
    fn malformed_copies_are_refused() {
        let good = copy_of(&rows());
        let refuse = |data: &[u8], why: &str| {
            let (mut parser, mut batch) = (Rows::default(), AuditBatch::default());
            assert!(parser.feed(data, &mut batch).is_err(), "{why}");
        };
        let mut bad = good.clone();
        bad[0] = b'X';
        refuse(&bad, "signature");
        let mut bad = good.clone();
        bad[19 + 4 + 1] = 9; // the first row's column count
        refuse(&bad, "width");
        let mut bad = good.clone();
        bad.push(0);
        refuse(&bad, "data after the trailer");
        // A null column (length -1) where every column is NOT NULL.
        let mut bad = good.clone();
        let first_length = 19 + 4 + 2;
        bad[first_length..first_length + 4].copy_from_slice(&(-1i32).to_be_bytes());
        refuse(&bad, "null");
        // A hash of 31 bytes.
        let short = copy_of(&[(1, ["a", "b", "c", "d", "e", "f"], [1; 32])]);
        let hash_length = short.len() - 2 - 32 - 4;
        let mut bad = short.clone();
        bad[hash_length..hash_length + 4].copy_from_slice(&31i32.to_be_bytes());
        bad.remove(hash_length + 4);
        refuse(&bad, "short hash");
        // Text that is not UTF-8.
        let mut bad = short.clone();
        let actor = 19 + 4 + 2 + 12 + 12 + 4;
        bad[actor] = 0xff;
        refuse(&bad, "utf-8");
    }
}
