//! Which file this is and which schema it holds: identification and migrations.
//!
//! A cbrflow database carries `PRAGMA application_id` = [`APPLICATION_ID`] and its schema
//! version in `PRAGMA user_version`, both set in the transaction that creates or migrates the
//! schema. A file with neither and no tables is a fresh database; anything else without our
//! application id belongs to another program and is left alone.

use std::path::Path;

use rusqlite::Transaction;

use super::{Failure, sql};
use crate::state::StateError;

/// `PRAGMA application_id` of a cbrflow state database: "cbrf".
pub(super) const APPLICATION_ID: i64 = 0x6362_7266;

/// The schema version this build writes and understands.
pub(super) const SUPPORTED: i64 = sql::MIGRATIONS.len() as i64;

/// Checks the identity a file declares and returns its schema version (0 for a fresh file).
pub(super) fn classify(
    path: &Path,
    user_version: i64,
    application_id: i64,
    has_objects: bool,
) -> Result<i64, StateError> {
    match (application_id, user_version) {
        (APPLICATION_ID, found) if found > SUPPORTED => Err(StateError::NewerSchema {
            path: path.to_owned(),
            found,
            supported: SUPPORTED,
        }),
        (APPLICATION_ID, found) => Ok(found),
        (0, 0) if !has_objects => Ok(0),
        _ => Err(StateError::Unreadable {
            path: path.to_owned(),
            reason: format!(
                "not a cbrflow state database (application id {application_id:#x}, user \
                 version {user_version}{})",
                if has_objects { ", has tables" } else { "" }
            ),
        }),
    }
}

/// Reads and checks the identity of the database `tx` works on.
pub(super) fn identify(tx: &rusqlite::Connection, path: &Path) -> Result<i64, Failure> {
    let (user_version, application_id, has_objects) = tx.query_row(sql::IDENTIFY, [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })?;
    Ok(classify(path, user_version, application_id, has_objects)?)
}

/// Brings the schema up to [`SUPPORTED`] inside `tx`, a write transaction, so that two
/// processes opening a fresh file at once create the schema exactly once.
pub(super) fn migrate(tx: &Transaction<'_>, path: &Path) -> Result<(), Failure> {
    let found = identify(tx, path)?;
    if found == SUPPORTED {
        return Ok(());
    }
    for step in &sql::MIGRATIONS[usize::try_from(found).unwrap_or(0)..] {
        tx.execute_batch(step)?;
    }
    // PRAGMA takes no parameters; both values are integer constants.
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SUPPORTED};"
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_fresh_ours_newer_and_foreign_files() {
        let path = Path::new("/s/state.db");
        assert_eq!(classify(path, 0, 0, false).unwrap(), 0);
        assert_eq!(classify(path, 1, APPLICATION_ID, true).unwrap(), 1);
        assert!(matches!(
            classify(path, SUPPORTED + 1, APPLICATION_ID, true),
            Err(StateError::NewerSchema { found, supported: SUPPORTED, .. }) if found == SUPPORTED + 1
        ));
        for (version, app, tables) in [(0, 0, true), (3, 0, true), (1, 0x1234, true)] {
            let err = classify(path, version, app, tables).unwrap_err();
            assert!(
                err.to_string()
                    .contains("/s/state.db is unreadable: not a cbrflow state database"),
                "{err}"
            );
        }
    }
}
