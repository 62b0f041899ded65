//! The 100-byte SQLite file header, read with plain file I/O.
//!
//! Before SQLite opens an existing file, the store reads its header to reject what SQLite
//! would open lazily and fail on later, or worse, write next to: a file that is not a SQLite
//! database, a truncated one, another program's database, or one from a newer cbrflow. This
//! never writes. See <https://www.sqlite.org/fileformat.html#the_database_header>.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::schema;
use crate::state::StateError;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
const LEN: usize = 100;

/// The header fields the store looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    /// Bytes per page.
    pub page_size: u64,
    /// Pages in the file as of the last commit to it, when the header vouches for the count.
    pub page_count: Option<u64>,
    /// `PRAGMA user_version`: the schema version.
    pub user_version: i64,
    /// `PRAGMA application_id`: which program's file this is.
    pub application_id: i64,
}

impl Header {
    /// Parses the first 100 bytes of a database file.
    pub fn parse(bytes: &[u8; LEN]) -> Result<Self, String> {
        if &bytes[..16] != MAGIC {
            return Err("not a SQLite database".to_owned());
        }
        let page_size = match u16::from_be_bytes([bytes[16], bytes[17]]) {
            1 => 65_536,
            n if n >= 512 && n.is_power_of_two() => u64::from(n),
            n => return Err(format!("invalid page size {n} in the file header")),
        };
        let word = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        let be32 = |at: usize| u32::from_be_bytes(word(at));
        // The in-header page count is valid when the change counter matches version-valid-for.
        let page_count = (be32(24) == be32(92) && be32(28) != 0).then(|| u64::from(be32(28)));
        // Both are signed 32-bit integers in SQLite.
        let signed = |at: usize| i64::from(i32::from_be_bytes(word(at)));
        Ok(Self {
            page_size,
            page_count,
            user_version: signed(60),
            application_id: signed(68),
        })
    }
}

/// Checks an existing database file before SQLite opens it. An empty file is a database that
/// was created and never written, and passes.
pub(super) fn check_file(path: &Path) -> Result<(), StateError> {
    let unreadable = |reason: String| StateError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let mut file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    if len == 0 {
        return Ok(());
    }
    let mut bytes = [0; LEN];
    if len < LEN as u64 {
        return Err(unreadable(format!(
            "not a SQLite database ({len} bytes, shorter than a file header)"
        )));
    }
    file.read_exact(&mut bytes)
        .map_err(|e| unreadable(e.to_string()))?;
    let header = Header::parse(&bytes).map_err(unreadable)?;

    if (header.user_version, header.application_id) != (0, 0) {
        schema::classify(path, header.user_version, header.application_id, true)?;
    }

    // Committed pages may still sit in the write-ahead log; only a file without one has to hold
    // every page itself.
    if wal_has_frames(path) {
        return Ok(());
    }
    if len % header.page_size != 0 {
        return Err(unreadable(format!(
            "truncated: {len} bytes is not a whole number of {}-byte pages",
            header.page_size
        )));
    }
    if let Some(pages) = header.page_count {
        let expected = pages * header.page_size;
        if len < expected {
            return Err(unreadable(format!(
                "truncated: the header counts {pages} pages ({expected} bytes), the file has \
                 {len} bytes"
            )));
        }
    }
    Ok(())
}

/// Whether `<db>-wal` exists and is not empty.
fn wal_has_frames(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; LEN] {
        let mut bytes = [0; LEN];
        bytes[..16].copy_from_slice(MAGIC);
        bytes[16..18].copy_from_slice(&4096u16.to_be_bytes());
        bytes[24..28].copy_from_slice(&7u32.to_be_bytes());
        bytes[28..32].copy_from_slice(&3u32.to_be_bytes());
        bytes[92..96].copy_from_slice(&7u32.to_be_bytes());
        bytes[60..64].copy_from_slice(&1u32.to_be_bytes());
        bytes[68..72].copy_from_slice(&(-2i32).to_be_bytes());
        bytes
    }

    #[test]
    fn parses_the_fields_the_store_needs() {
        let parsed = Header::parse(&header()).unwrap();
        assert_eq!(
            parsed,
            Header {
                page_size: 4096,
                page_count: Some(3),
                user_version: 1,
                application_id: -2,
            }
        );
    }

    #[test]
    fn a_stale_page_count_is_not_trusted() {
        let mut bytes = header();
        bytes[92..96].copy_from_slice(&6u32.to_be_bytes());
        assert_eq!(Header::parse(&bytes).unwrap().page_count, None);
    }

    #[test]
    fn page_size_one_means_64k() {
        let mut bytes = header();
        bytes[16..18].copy_from_slice(&1u16.to_be_bytes());
        assert_eq!(Header::parse(&bytes).unwrap().page_size, 65_536);
    }

    #[test]
    fn rejects_a_foreign_magic_and_a_bad_page_size() {
        let mut bytes = header();
        bytes[0] = b's';
        assert_eq!(Header::parse(&bytes).unwrap_err(), "not a SQLite database");
        let mut bytes = header();
        bytes[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(
            Header::parse(&bytes).unwrap_err(),
            "invalid page size 1000 in the file header"
        );
    }
}
