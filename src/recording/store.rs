//! The recordings root: where each recording's folder is, which ones exist, and the lock
//! that marks a recording as being written.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::RecordingError;
use super::manifest::Manifest;
use super::name::validate_name;

/// Sub-folder of a recording holding its chunk files.
pub const CHUNKS_DIR: &str = "chunks";
/// Sub-folder of a recording where unrecoverable files are moved.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";
/// Lock file held while a recording is written (by this or another process).
const LOCK_FILE: &str = ".lock";

/// The configured root folder of recordings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    root: PathBuf,
}

/// A held lock on a recording folder; released on drop (or when the process dies).
#[derive(Debug)]
pub struct FolderLock(#[allow(dead_code)] File);

/// One entry of [`Store::list`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ListedRecording {
    /// Folder name.
    pub name: String,
    /// Being written right now (its lock is held).
    pub active: bool,
    /// Its manifest, when readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    /// Why the manifest is unreadable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Store {
    /// A store rooted at `root` (not checked until used).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Fails unless the root is an existing folder.
    pub fn check_root(&self) -> Result<(), RecordingError> {
        let shown = || crate::shorten::shorten_path(&self.root);
        match std::fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(RecordingError::RootNotDirectory(shown())),
            Err(_) => Err(RecordingError::RootMissing(shown())),
        }
    }

    /// The folder of recording `name` (validated; the root must exist).
    pub fn folder(&self, name: &str) -> Result<PathBuf, RecordingError> {
        validate_name(name)?;
        self.check_root()?;
        Ok(self.root.join(name))
    }

    /// The folder of an existing recording.
    pub fn existing(&self, name: &str) -> Result<PathBuf, RecordingError> {
        let folder = self.folder(name)?;
        if folder.join(super::manifest::MANIFEST_FILE).is_file() {
            Ok(folder)
        } else {
            Err(RecordingError::NotFound(name.to_owned()))
        }
    }

    /// Creates the folder (and `chunks/`) of a new recording and locks it; refuses a name
    /// that exists.
    pub fn create(&self, name: &str) -> Result<(PathBuf, FolderLock), RecordingError> {
        let folder = self.folder(name)?;
        match fs::create_dir(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(RecordingError::AlreadyExists(name.to_owned()))
            }
            Err(e) => return Err(RecordingError::io("create folder", &folder, e)),
        }
        // The folder is new, so nobody writes it; a list or a recovery may be probing its
        // lock for an instant, so wait for it rather than fail.
        let lock_path = folder.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|file| file.lock().map(|()| FolderLock(file)))
            .map_err(|e| RecordingError::io("lock", &lock_path, e))?;
        let chunks = folder.join(CHUNKS_DIR);
        fs::create_dir(&chunks).map_err(|e| RecordingError::io("create folder", &chunks, e))?;
        Ok((folder, lock))
    }

    /// Every recording folder under the root, sorted by name, each with its manifest or
    /// the reason it cannot be read. Never panics on odd folder contents.
    pub fn list(&self) -> Result<Vec<ListedRecording>, RecordingError> {
        self.check_root()?;
        let entries =
            fs::read_dir(&self.root).map_err(|e| RecordingError::io("list", &self.root, e))?;
        let mut listed = Vec::new();
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if validate_name(&name).is_err() || !entry.path().is_dir() {
                continue;
            }
            let folder = entry.path();
            let active = is_locked(&folder);
            let (manifest, error) = match Manifest::read(&folder) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            };
            listed.push(ListedRecording {
                name,
                active,
                manifest,
                error,
            });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Deletes a recording; refused while it is being written.
    pub fn delete(&self, name: &str) -> Result<(), RecordingError> {
        let folder = self.folder(name)?;
        if !folder.is_dir() {
            return Err(RecordingError::NotFound(name.to_owned()));
        }
        // Hold the lock while deleting, so no writer can start in between.
        let _lock =
            lock_folder(&folder)?.ok_or_else(|| RecordingError::AlreadyActive(name.to_owned()))?;
        fs::remove_dir_all(&folder).map_err(|e| RecordingError::io("delete", &folder, e))
    }
}

/// Takes the folder's lock without waiting: `None` if someone holds it.
pub(crate) fn lock_folder(folder: &Path) -> Result<Option<FolderLock>, RecordingError> {
    let path = folder.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RecordingError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FolderLock(file))),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(RecordingError::io("lock", &path, e)),
    }
}

/// Whether a writer holds the folder's lock.
fn is_locked(folder: &Path) -> bool {
    let path = folder.join(LOCK_FILE);
    match OpenOptions::new().write(true).open(&path) {
        Ok(file) => matches!(file.try_lock(), Err(TryLockError::WouldBlock)),
        Err(_) => false,
    }
}
