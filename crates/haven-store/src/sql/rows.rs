//! Reading rows back: columns by name with the driver's errors mapped (never leaking a connection
//! URL's password), fixed-size hashes, stored enums, and the audit event decoder both the reads
//! and the writer use.

use haven_core::StoreError;
use haven_core::audit::AuditEvent;
use sqlx::any::AnyRow;

/// The columns every audit event query selects, in the order [`audit_event`] names them.
pub(crate) const AUDIT_COLUMNS: &str = "seq, at_us, actor, action, target, project, source, details, prev_hash, hash";

/// A stored value that does not read back as what was written.
pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored {what} is malformed"))
}

/// The driver's error as the port's: a unique violation is a duplicate, anything else a
/// database error with any connection password redacted.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Duplicate("key");
    }
    StoreError::Database(redact(&e.to_string()))
}

/// `.db()?` on a driver result: [`map_err`] without spelling it at every statement.
pub(crate) trait Db<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> Db<T> for Result<T, sqlx::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(map_err)
    }
}

/// Columns of a row, by name.
pub(crate) trait Columns {
    fn col<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(&'r self, name: &str) -> Result<T, StoreError>;

    /// An integer column that stores a boolean.
    fn flag(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.col::<i64>(name)? != 0)
    }

    /// A 32-byte hash column.
    fn hash32(&self, name: &str) -> Result<[u8; 32], StoreError> {
        let v: Vec<u8> = self.col(name)?;
        v.try_into().map_err(|_| corrupt("hash"))
    }

    /// A text column holding one of an enum's stored names.
    fn parsed<T>(&self, name: &str, parse: impl FnOnce(&str) -> Option<T>, what: &str) -> Result<T, StoreError> {
        let text: String = self.col(name)?;
        parse(&text).ok_or_else(|| corrupt(what))
    }
}

impl Columns for AnyRow {
    fn col<'r, T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>>(&'r self, name: &str) -> Result<T, StoreError> {
        sqlx::Row::try_get(self, name).db()
    }
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

/// An audit event from a row of [`AUDIT_COLUMNS`].
pub(crate) fn audit_event(row: &AnyRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        seq: row.col("seq")?,
        at_us: row.col("at_us")?,
        actor: row.col("actor")?,
        action: row.col("action")?,
        target: row.col("target")?,
        project: row.col("project")?,
        source: row.col("source")?,
        details: row.col("details")?,
        prev_hash: row.hash32("prev_hash")?,
        hash: row.hash32("hash")?,
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
