//! Reading rows back: typed columns with the driver's errors mapped (never leaking a connection
//! URL's password), fixed-size hashes, and the audit event decoder both the reads and the writer
//! use.

use haven_core::StoreError;
use haven_core::audit::AuditEvent;

/// A stored value that does not read back as what was written.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored {what} is malformed"))
}

/// Column `i` of a row, with the driver's error mapped.
pub(crate) fn get<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(
    row: &'r sqlx::any::AnyRow,
    i: usize,
) -> Result<T, StoreError> {
    sqlx::Row::try_get(row, i).map_err(map_err)
}

/// A 32-byte hash column.
pub(crate) fn hash32(row: &sqlx::any::AnyRow, i: usize) -> Result<[u8; 32], StoreError> {
    let v: Vec<u8> = get(row, i)?;
    v.try_into().map_err(|_| corrupt("hash"))
}

pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Duplicate("key");
    }
    StoreError::Database(redact(&e.to_string()))
}

/// Driver messages can quote a connection URL; never let a password through.
fn redact(message: &str) -> String {
    let mut out = message.to_string();
    if let Some(at) = out.find('@')
        && let Some(scheme) = out.find("://")
        && scheme < at
    {
        out.replace_range(scheme + 3..at, "<redacted>");
    }
    out
}

/// An audit event, from `audit_events` columns in the order the queries select them.
pub(crate) fn audit_event(row: &sqlx::any::AnyRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: sqlx::Row::try_get(row, 0).map_err(map_err)?,
        at_us: sqlx::Row::try_get(row, 1).map_err(map_err)?,
        actor: sqlx::Row::try_get(row, 2).map_err(map_err)?,
        action: sqlx::Row::try_get(row, 3).map_err(map_err)?,
        target: sqlx::Row::try_get(row, 4).map_err(map_err)?,
        project: sqlx::Row::try_get(row, 5).map_err(map_err)?,
        source: sqlx::Row::try_get(row, 6).map_err(map_err)?,
        details: sqlx::Row::try_get(row, 7).map_err(map_err)?,
        prev_hash: hash32(row, 8)?,
        hash: hash32(row, 9)?,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_driver_messages_are_redacted() {
        let r = super::redact("error connecting to postgres://haven:s3cret@db:5432/haven");
        assert!(!r.contains("s3cret"), "{r}");
    }
}
