//! Events as the verifier reads them: many to a batch, their text in one buffer, so that a
//! trail of millions crosses from the database's reader thread without an allocation (and a
//! free on another thread) per field of every event.

use haven_crypto::audit_chain::EventFields;

use super::AuditEvent;

/// Events in sequence order, packed.
#[derive(Debug, Default)]
pub struct AuditBatch {
    text: String,
    rows: Vec<Packed>,
}

#[derive(Debug)]
struct Packed {
    seq: i64,
    at_us: i64,
    /// Where each text field ends in `text` (actor, action, target, project, source, details).
    ends: [usize; 6],
    prev_hash: [u8; 32],
    hash: [u8; 32],
}

/// One event of a batch, borrowed.
pub struct EventView<'a> {
    pub fields: EventFields<'a>,
    pub prev_hash: &'a [u8; 32],
    pub hash: &'a [u8; 32],
}

impl EventView<'_> {
    /// The event, owned (for what keeps or exports it; the verifier needs only the view).
    pub fn to_event(&self) -> AuditEvent {
        let f = &self.fields;
        AuditEvent {
            seq: f.seq,
            at_us: f.at_micros,
            actor: f.actor.to_string(),
            action: f.action.to_string(),
            target: f.target.to_string(),
            project: f.project.to_string(),
            source: f.source.to_string(),
            details: f.details.to_string(),
            prev_hash: *self.prev_hash,
            hash: *self.hash,
        }
    }
}

impl AuditBatch {
    pub fn with_capacity(events: usize) -> Self {
        AuditBatch { text: String::with_capacity(events * 128), rows: Vec::with_capacity(events) }
    }

    /// Add an event whose text fields are, in order, actor, action, target, project, source and
    /// details.
    pub fn push(&mut self, (seq, at_us): (i64, i64), texts: [&str; 6], prev_hash: [u8; 32], hash: [u8; 32]) {
        let mut ends = [0; 6];
        for (end, t) in ends.iter_mut().zip(texts) {
            self.text.push_str(t);
            *end = self.text.len();
        }
        self.rows.push(Packed { seq, at_us, ends, prev_hash, hash });
    }

    pub fn push_event(&mut self, e: &AuditEvent) {
        let texts = [&*e.actor, &*e.action, &*e.target, &*e.project, &*e.source, &*e.details];
        self.push((e.seq, e.at_us), texts, e.prev_hash, e.hash);
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = EventView<'_>> {
        let mut start = 0;
        self.rows.iter().map(move |r| {
            let field = |i: usize| {
                let from = if i == 0 { start } else { r.ends[i - 1] };
                self.text.get(from..r.ends[i]).unwrap_or_default()
            };
            let view = EventView {
                fields: EventFields {
                    seq: r.seq,
                    at_micros: r.at_us,
                    actor: field(0),
                    action: field(1),
                    target: field(2),
                    project: field(3),
                    source: field(4),
                    details: field(5),
                },
                prev_hash: &r.prev_hash,
                hash: &r.hash,
            };
            start = r.ends[5];
            view
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_as_they_went_in() {
        let mut b = AuditBatch::with_capacity(2);
        b.push((1, 10), ["alice", "a.b", "", "p", "127.0.0.1", "{}"], [1; 32], [2; 32]);
        b.push((2, 20), ["", "c.d", "t\u{e9}", "", "", "{\"k\":1}"], [2; 32], [3; 32]);
        let got: Vec<_> =
            b.iter().map(|v| (v.fields.seq, v.fields.actor, v.fields.target, v.fields.details, *v.hash)).collect();
        assert_eq!(got, vec![(1, "alice", "", "{}", [2; 32]), (2, "", "t\u{e9}", "{\"k\":1}", [3; 32])]);
        assert_eq!(b.iter().nth(1).map(|v| (v.fields.action, v.fields.at_micros)), Some(("c.d", 20)));
        let mut again = AuditBatch::default();
        for v in b.iter() {
            again.push_event(&v.to_event());
        }
        assert_eq!(
            again.iter().map(|v| v.to_event()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_event()).collect::<Vec<_>>()
        );
    }
}
