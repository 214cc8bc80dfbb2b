//! The recordings root: where each recording's folder is, which ones exist, and the lock
//! that marks a recording as being written.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::audit::{AuditAction, AuditDraft, AuditLog, AuditRecord};
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
    /// The audit record that retired the recording, when it is superseded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded: Option<AuditRecord>,
    /// The audit record of the erasure of its files, when they were erased (the
    /// recording is then listed from the audit log alone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased: Option<AuditRecord>,
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

    /// Locks the folder of an existing, sealed recording, so that no writer (of this or
    /// another process) opens it meanwhile; refused while it is being written.
    pub fn lock_sealed(&self, name: &str) -> Result<(PathBuf, FolderLock), RecordingError> {
        let folder = self.existing(name)?;
        match lock_folder(&folder)? {
            Some(lock) => Ok((folder, lock)),
            None => Err(RecordingError::AlreadyActive(name.to_owned())),
        }
    }

    /// The audit log of this root.
    pub fn audit(&self) -> AuditLog {
        AuditLog::new(&self.root)
    }

    /// [`Store::folders`], plus what the audit log says: each superseded recording with
    /// its supersession record, and each erased one (folder gone) with its erasure
    /// record. An unreadable audit log fails the listing.
    pub fn list(&self) -> Result<Vec<ListedRecording>, RecordingError> {
        let mut listed = self.folders()?;
        let records = self.audit().read(None)?.records;
        for record in records.iter().filter(|r| r.draft.chunk.is_none()) {
            let known = listed.iter_mut().find(|l| l.name == record.draft.recording);
            match (record.action, known) {
                (AuditAction::Supersede, Some(l)) => l.superseded = Some(record.clone()),
                (AuditAction::Erase, Some(l)) => l.erased = Some(record.clone()),
                (AuditAction::Supersede, None) => {}
                (AuditAction::Erase, None) => listed.push(ListedRecording {
                    name: record.draft.recording.clone(),
                    active: false,
                    manifest: None,
                    error: None,
                    superseded: records
                        .iter()
                        .rev()
                        .find(|r| {
                            r.action == AuditAction::Supersede
                                && r.draft.chunk.is_none()
                                && r.draft.recording == record.draft.recording
                        })
                        .cloned(),
                    erased: Some(record.clone()),
                }),
            }
        }
        // A folder made again under an erased name is a new recording.
        for l in &mut listed {
            if l.manifest.is_some() || l.error.is_some() {
                if let (Some(s), Some(e)) = (&l.superseded, &l.erased) {
                    if e.seq > s.seq {
                        l.superseded = None;
                        l.erased = None;
                    }
                }
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }

    /// Every recording folder under the root, sorted by name, each with its manifest or
    /// the reason it cannot be read. Never panics on odd folder contents.
    pub fn folders(&self) -> Result<Vec<ListedRecording>, RecordingError> {
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
                superseded: None,
                erased: None,
            });
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listed)
    }
    /// Retires recording `name` (or, with `chunk`, one of its chunks) by appending a
    /// supersession record to the audit log; no file is touched. `replacement` names the
    /// recording that replaces it, which must exist. Refused while it is being written,
    /// and when it is already superseded.
    pub fn supersede(
        &self,
        name: &str,
        chunk: Option<u64>,
        replacement: Option<&str>,
        actor: &str,
        reason: &str,
        now_ns: u64,
    ) -> Result<AuditRecord, RecordingError> {
        let (folder, _lock) = self.lock_sealed(name)?;
        if let Some(by) = replacement {
            self.existing(by)?;
        }
        let manifest = Manifest::read(&folder)?;
        let target_hash = match chunk {
            None => manifest.head.clone(),
            Some(index) => Some(
                manifest
                    .chunks
                    .iter()
                    .find(|c| c.index == index)
                    .map(|c| c.sha256.clone())
                    .ok_or_else(|| RecordingError::NotFound(format!("{name} chunk {index}")))?,
            ),
        };
        let audit = self.audit();
        let records = audit.read(None)?.records;
        // Records from before the last erasure of this name are about an earlier
        // recording of the same name.
        let since = records
            .iter()
            .rposition(|r| r.draft.recording == name && r.action == AuditAction::Erase)
            .map_or(0, |i| i + 1);
        let already = records[since..].iter().any(|r| {
            r.draft.recording == name
                && r.draft.chunk == chunk
                && r.action == AuditAction::Supersede
        });
        if already {
            return Err(RecordingError::AlreadySuperseded(match chunk {
                None => name.to_owned(),
                Some(i) => format!("{name} chunk {i}"),
            }));
        }
        audit.append(
            AuditAction::Supersede,
            AuditDraft {
                recording: name.to_owned(),
                chunk,
                target_hash,
                replacement: replacement.map(str::to_owned),
                actor: actor.to_owned(),
                reason: reason.to_owned(),
            },
            now_ns,
        )
    }

    /// Deletes the files of superseded recording `name`, after appending an erasure
    /// record to the audit log. Refused while it is being written and unless superseded.
    pub fn erase(
        &self,
        name: &str,
        actor: &str,
        reason: &str,
        now_ns: u64,
    ) -> Result<AuditRecord, RecordingError> {
        let folder = self.folder(name)?;
        if !folder.is_dir() {
            return Err(RecordingError::NotFound(name.to_owned()));
        }
        // Hold the lock while deleting, so no writer can start in between.
        let _lock =
            lock_folder(&folder)?.ok_or_else(|| RecordingError::AlreadyActive(name.to_owned()))?;
        let listed = self.list()?;
        let entry = listed.iter().find(|l| l.name == name);
        if entry.and_then(|l| l.superseded.as_ref()).is_none() {
            return Err(RecordingError::NotSuperseded(name.to_owned()));
        }
        let target_hash = entry
            .and_then(|l| l.manifest.as_ref())
            .and_then(|m| m.head.clone());
        let record = self.audit().append(
            AuditAction::Erase,
            AuditDraft {
                recording: name.to_owned(),
                target_hash,
                actor: actor.to_owned(),
                reason: reason.to_owned(),
                ..AuditDraft::default()
            },
            now_ns,
        )?;
        fs::remove_dir_all(&folder).map_err(|e| RecordingError::io("delete", &folder, e))?;
        Ok(record)
    }

    /// What `storage_recording_delete` does: supersedes recording `name` (unless it is
    /// already) and erases its files, each step leaving an audit record. Returns both
    /// records (the first is `None` when it was already superseded).
    pub fn delete(
        &self,
        name: &str,
        actor: &str,
        reason: &str,
        now_ns: u64,
    ) -> Result<(Option<AuditRecord>, AuditRecord), RecordingError> {
        let superseded = match self.supersede(name, None, None, actor, reason, now_ns) {
            Ok(record) => Some(record),
            Err(RecordingError::AlreadySuperseded(_)) => None,
            Err(e) => return Err(e),
        };
        let erased = self.erase(name, actor, reason, now_ns)?;
        Ok((superseded, erased))
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
