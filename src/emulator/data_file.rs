//! The emulator's data file: the whole store as one JSON document, loaded at start and
//! rewritten atomically (temporary file in the same directory, fsync, rename; mode 0600) after
//! changes — once per burst of changes, before any of them is acknowledged (see `app.rs`).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::EmulatorError;
use super::store::Store;

/// Where the store is persisted.
#[derive(Debug, Clone)]
pub(crate) struct DataFile {
    path: PathBuf,
}

impl DataFile {
    /// A data file at `path` (created on first save).
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Reads the store; a missing or empty file is an empty store, anything unreadable is an
    /// error naming the file.
    pub(crate) fn load(&self) -> Result<Store, EmulatorError> {
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

    /// Replaces the file's content with `store`, atomically.
    pub(crate) fn save(&self, store: &Store) -> io::Result<()> {
        let bytes = serde_json::to_vec(store).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes)
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
