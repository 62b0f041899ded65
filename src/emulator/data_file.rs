//! The emulator's data file: a snapshot of the whole store as one JSON document, and a journal
//! next to it (`<file>.journal`) with one JSON line per batch of changes — the changed and
//! removed records, not the store — so that a change costs the same in a store of 10 vaults as
//! in one of 10,000.
//!
//! Every write is synced before the changes it holds are acknowledged (see `app.rs`). The
//! snapshot is rewritten atomically (temporary file in the same directory, fsync, rename; mode
//! 0600) when there is none yet, when the journal has grown larger than the snapshot (so the
//! rewrites cost O(1) per change, amortized), at start when a journal is left over, and at a
//! graceful shutdown, which leaves the snapshot alone. Loading replays the journal over the
//! snapshot; replaying a line twice changes nothing, and a last line cut off by a crash was
//! never acknowledged and is dropped.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::EmulatorError;
use super::store::{ChangeSet, Store};

/// The journal is compacted into the snapshot once it is larger than the snapshot and than
/// this.
const MIN_COMPACTION_BYTES: u64 = 1024 * 1024;

/// Where the store is persisted.
#[derive(Debug, Clone)]
pub(crate) struct DataFile {
    path: PathBuf,
    journal: PathBuf,
    sizes: Arc<Mutex<Sizes>>,
}

/// Bytes in the snapshot (`None` before the first one) and in the journal.
#[derive(Debug, Default)]
struct Sizes {
    snapshot: Option<u64>,
    journal: u64,
}

impl DataFile {
    /// A data file at `path` (created on first save).
    pub(crate) fn new(path: PathBuf) -> Self {
        let mut journal = path.clone().into_os_string();
        journal.push(".journal");
        Self {
            path,
            journal: PathBuf::from(journal),
            sizes: Arc::default(),
        }
    }

    fn sizes(&self) -> std::sync::MutexGuard<'_, Sizes> {
        self.sizes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Loads the store for serving: the snapshot with the journal replayed, then compacted
    /// into a fresh snapshot if there was a journal.
    pub(crate) fn recover(&self) -> Result<Store, EmulatorError> {
        let mut store = self.load()?;
        let journal = fs::metadata(&self.journal).map_or(0, |m| m.len());
        if journal > 0 {
            store.forget_changes();
            self.save(&store).map_err(|err| EmulatorError::DataFile {
                path: self.path.clone(),
                reason: err.to_string(),
            })?;
        } else {
            self.sizes().snapshot = fs::metadata(&self.path).ok().map(|m| m.len());
        }
        Ok(store)
    }

    /// Reads the store (the snapshot with the journal replayed); a missing or empty file is an
    /// empty store, anything unreadable is an error naming the file.
    pub(crate) fn load(&self) -> Result<Store, EmulatorError> {
        let mut store = self.load_snapshot()?;
        let text = match fs::read_to_string(&self.journal) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(err) => return Err(self.journal_error(err.to_string())),
        };
        // Only lines ending in a newline were written completely (and acknowledged).
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for (number, line) in complete.lines().enumerate() {
            let changes: ChangeSet = serde_json::from_str(line)
                .map_err(|e| self.journal_error(format!("line {}: {e}", number + 1)))?;
            store.apply(changes);
        }
        Ok(store)
    }

    fn journal_error(&self, reason: String) -> EmulatorError {
        EmulatorError::DataFile {
            path: self.journal.clone(),
            reason,
        }
    }

    fn load_snapshot(&self) -> Result<Store, EmulatorError> {
        let fail = |reason: String| EmulatorError::DataFile {
            path: self.path.clone(),
            reason,
        };
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Store::default()),
            Err(err) => return Err(fail(err.to_string())),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Store::default());
        }
        let store: Store = serde_json::from_slice(&bytes).map_err(|e| fail(e.to_string()))?;
        if store.version != Store::VERSION {
            return Err(fail(format!(
                "unsupported data format version {} (expected {})",
                store.version,
                Store::VERSION
            )));
        }
        Ok(store)
    }

    /// Whether the next write should be a snapshot: there is none yet, or the journal has
    /// outgrown it.
    pub(crate) fn wants_snapshot(&self) -> bool {
        let sizes = self.sizes();
        sizes
            .snapshot
            .is_none_or(|snapshot| sizes.journal > snapshot.max(MIN_COMPACTION_BYTES))
    }

    /// Whether the journal holds changes that the snapshot does not.
    pub(crate) fn has_journal(&self) -> bool {
        self.sizes().journal > 0
    }

    /// Replaces the snapshot with `store`, atomically, then empties the journal (a crash in
    /// between leaves a journal whose replay over the new snapshot changes nothing).
    pub(crate) fn save(&self, store: &Store) -> io::Result<()> {
        let bytes = serde_json::to_vec(store).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes)?;
        match fs::remove_file(&self.journal) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        let mut sizes = self.sizes();
        sizes.snapshot = Some(bytes.len() as u64);
        sizes.journal = 0;
        Ok(())
    }

    /// Appends one batch of changes to the journal and syncs it.
    pub(crate) fn append(&self, changes: &ChangeSet) -> io::Result<()> {
        let mut line = serde_json::to_vec(changes).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut options = fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&self.journal)?;
        file.write_all(&line)?;
        file.sync_data()?;
        let mut sizes = self.sizes();
        if sizes.journal == 0 {
            // A new journal: make its directory entry durable too (best effort, as above).
            if let Some(dir) = self.journal.parent()
                && let Ok(dir) = fs::File::open(if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                })
            {
                let _ = dir.sync_all();
            }
        }
        sizes.journal += line.len() as u64;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory that is synced and
/// renamed over the target, so readers see the old or the new content, never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable (best effort: not every platform can open a directory).
        if let Ok(dir) = fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_empty_stores() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("absent.json"));
        assert_eq!(file.load().unwrap(), Store::default());
        std::fs::write(dir.path().join("empty.json"), "").unwrap();
        assert_eq!(
            DataFile::new(dir.path().join("empty.json")).load().unwrap(),
            Store::default()
        );
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = DataFile::new(path).load().unwrap_err().to_string();
        assert!(err.contains("data.json"), "{err}");
    }

    #[test]
    fn saves_round_trip_with_private_mode_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("data.json");
        let file = DataFile::new(path.clone());
        let mut store = Store::default();
        store.project_mut("p1");
        file.save(&store).unwrap();
        file.save(&store).unwrap();
        assert_eq!(file.load().unwrap(), store);
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "temporary files left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;

    fn store_with(projects: &[&str]) -> Store {
        let mut store = Store::default();
        for p in projects {
            store.project_mut(p);
        }
        store
    }

    #[test]
    fn appended_changes_are_replayed_over_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("data.json"));
        let mut live = store_with(&["p1"]);
        live.forget_changes();
        file.save(&live).unwrap();
        live.project_mut("p2");
        file.append(&live.take_changes()).unwrap();
        live.project_mut("p3");
        file.append(&live.take_changes()).unwrap();
        assert!(dir.path().join("data.json.journal").exists());
        assert_eq!(file.load().unwrap(), live);
        assert!(!file.wants_snapshot(), "a small journal is kept");
        // A line cut off by a crash was never acknowledged: it is dropped.
        let mut journal = fs::OpenOptions::new()
            .append(true)
            .open(&file.journal)
            .unwrap();
        journal.write_all(br#"{"projects":{"p4""#).unwrap();
        assert_eq!(file.load().unwrap(), live);
    }

    #[test]
    fn recovering_folds_the_journal_into_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        let file = DataFile::new(path.clone());
        assert!(file.wants_snapshot(), "the first write is a snapshot");
        let mut live = store_with(&["p1"]);
        live.forget_changes();
        file.save(&live).unwrap();
        live.project_mut("p2");
        file.append(&live.take_changes()).unwrap();

        let reopened = DataFile::new(path.clone());
        assert_eq!(reopened.recover().unwrap(), live);
        assert!(!reopened.journal.exists() && !reopened.has_journal());
        let snapshot: Store = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(snapshot, live);
    }

    #[test]
    fn a_corrupt_journal_line_is_an_error_naming_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("data.json"));
        fs::write(&file.journal, "{not json}\n").unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(
            err.contains("data.json.journal") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn the_journal_is_compacted_once_it_outgrows_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let file = DataFile::new(dir.path().join("data.json"));
        file.save(&Store::default()).unwrap();
        let mut live = Store::default();
        let mut i = 0;
        while !file.wants_snapshot() {
            live.project_mut(&format!("project-{i:06}-{}", "x".repeat(20_000)));
            file.append(&live.take_changes()).unwrap();
            i += 1;
        }
        assert!(file.sizes().journal > MIN_COMPACTION_BYTES);
        file.save(&live).unwrap();
        assert!(!file.wants_snapshot() && !file.has_journal());
        assert_eq!(file.load().unwrap(), live);
    }
}
