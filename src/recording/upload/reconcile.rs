//! Healing the three sources of truth of an uploaded recording (its manifest, its local
//! chunk files, the bucket), chunk by chunk and without deleting anything; and restoring
//! a recording onto a machine that lacks it, from the bucket alone.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::keys::ObjectKeys;
use super::recording_upload::{digest_file, upload_manifest, ManifestAction};
use super::s3::S3Bucket;
use super::{FailureClass, UploadError};
use crate::recording::chunk_writer::parse_sealed_file_name;
use crate::recording::manifest::{
    sync_folder, ChunkEntry, Manifest, MANIFEST_FILE, MAX_MANIFEST_BYTES,
};
use crate::recording::store::{Store, CHUNKS_DIR, QUARANTINE_DIR};

/// The local copy of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum LocalState {
    /// The file matches its manifest entry.
    Ok,
    /// No file.
    Missing,
    /// A file that does not match its entry.
    Corrupt,
}

/// The bucket's copy of a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum RemoteState {
    /// No object.
    Absent,
    /// An object with the entry's SHA-256.
    Same,
    /// An object with another (or no) SHA-256.
    Different,
}

/// What reconcile did for a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ReconcileAction {
    /// All three agreed.
    None,
    /// The bucket lacked it: uploaded.
    Uploaded,
    /// The bucket's object differed: uploaded again over it.
    Reuploaded,
    /// The bucket had it but the manifest did not say so: marked.
    Marked,
    /// The local file was missing or corrupt and the bucket's good: downloaded (a corrupt
    /// file is kept in `quarantine/`).
    Downloaded,
    /// Neither copy is good: flagged, nothing changed.
    Lost,
}

/// One chunk's row of a [`ReconcileReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ReconcileRow {
    /// The chunk's index.
    pub index: u64,
    /// Its object key.
    pub key: String,
    /// Its local file, before.
    pub local: LocalState,
    /// Its object, before.
    pub remote: RemoteState,
    /// What was done.
    pub action: ReconcileAction,
}

/// Where an orphan lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum OrphanSide {
    /// A file in the recording's `chunks/` folder.
    Local,
    /// An object under the recording's keys.
    Remote,
}

/// A file or an object of a recording that its manifest does not name: reported, never
/// touched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct Orphan {
    /// Where it lies.
    pub side: OrphanSide,
    /// The file's name in `chunks/`, or the object's key.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Orphans a report lists at most; the others are counted in `orphans_not_shown`.
pub const MAX_ORPHANS_SHOWN: usize = 1000;

/// The outcome of reconciling (or restoring) a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ReconcileReport {
    /// The recording.
    pub recording: String,
    /// One row per manifest entry, in index order.
    pub chunks: Vec<ReconcileRow>,
    /// What happened to the manifest object.
    pub manifest: ManifestAction,
    /// Files and objects of the recording its manifest does not name (local ones first,
    /// each side sorted), at most [`MAX_ORPHANS_SHOWN`].
    pub orphans: Vec<Orphan>,
    /// Orphans found beyond those listed.
    pub orphans_not_shown: u64,
}

impl ReconcileReport {
    /// Every chunk is good locally and in the bucket, and so is the manifest.
    pub fn converged(&self) -> bool {
        self.manifest != ManifestAction::Withheld
            && self
                .chunks
                .iter()
                .all(|c| c.action != ReconcileAction::Lost)
    }
}

fn terminal(e: impl std::fmt::Display) -> UploadError {
    UploadError::new(FailureClass::Terminal, e.to_string())
}

/// Reconciles sealed recording `name` with the bucket: uploads what the bucket lacks or
/// holds differently, marks what it already has, downloads what the local copy lost, and
/// flags what both lost. Idempotent; never deletes an object or a file.
pub fn reconcile_recording(
    store: &Store,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
    now_ns: u64,
) -> Result<ReconcileReport, UploadError> {
    let (folder, _lock) = store.lock_sealed(name).map_err(terminal)?;
    let mut manifest = Manifest::read(&folder).map_err(terminal)?;
    manifest.chunks.sort_by_key(|c| c.index);
    let mut rows = Vec::with_capacity(manifest.chunks.len());
    for at in 0..manifest.chunks.len() {
        let entry = manifest.chunks[at].clone();
        let Some(key) = keys.chunk(name, &entry) else {
            return Err(terminal(format!("chunk {} has no SHA-256", entry.index)));
        };
        let path = folder.join(CHUNKS_DIR).join(&entry.file);
        let local = local_state(&path, &entry);
        let (remote, etag) = match bucket.head(&key)? {
            None => (RemoteState::Absent, None),
            Some(o) if o.sha256.as_deref() == Some(entry.sha256.as_str()) => {
                (RemoteState::Same, Some(o.etag))
            }
            Some(_) => (RemoteState::Different, None),
        };
        let (action, etag) = match (local, remote) {
            (LocalState::Ok, RemoteState::Absent | RemoteState::Different) => {
                let etag = bucket.put_file(&key, &path, &entry.sha256)?;
                let action = if remote == RemoteState::Absent {
                    ReconcileAction::Uploaded
                } else {
                    ReconcileAction::Reuploaded
                };
                (action, Some(etag))
            }
            (LocalState::Ok, RemoteState::Same) if entry.uploaded_at_ns.is_some() => {
                (ReconcileAction::None, None)
            }
            (LocalState::Ok, RemoteState::Same) => (ReconcileAction::Marked, etag),
            (_, RemoteState::Same) => {
                download_chunk(bucket, &key, &folder, &entry, local)?;
                (ReconcileAction::Downloaded, etag)
            }
            (_, _) => (ReconcileAction::Lost, None),
        };
        if let Some(etag) = etag {
            let marked = &mut manifest.chunks[at];
            if marked.uploaded_at_ns.is_none() || action != ReconcileAction::Downloaded {
                marked.uploaded_at_ns = Some(now_ns);
            }
            marked.etag = Some(etag);
            manifest.write(&folder).map_err(terminal)?;
        }
        rows.push(ReconcileRow {
            index: entry.index,
            key,
            local,
            remote,
            action,
        });
    }
    let manifest_key = keys.manifest(name);
    let (orphans, orphans_not_shown) = orphans(&folder, &manifest, name, bucket, keys)?;
    let all_up = manifest.chunks.iter().all(|c| c.uploaded_at_ns.is_some())
        && rows.iter().all(|r| r.action != ReconcileAction::Lost);
    let action = if all_up {
        upload_manifest(bucket, &manifest_key, &folder)?
    } else {
        ManifestAction::Withheld
    };
    Ok(ReconcileReport {
        recording: name.to_owned(),
        chunks: rows,
        manifest: action,
        orphans,
        orphans_not_shown,
    })
}

/// The files in `folder`'s `chunks/` and the objects under the recording's keys that
/// `manifest` does not name, at most [`MAX_ORPHANS_SHOWN`] (and how many more).
fn orphans(
    folder: &Path,
    manifest: &Manifest,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
) -> Result<(Vec<Orphan>, u64), UploadError> {
    let files: HashSet<&str> = manifest.chunks.iter().map(|c| c.file.as_str()).collect();
    let mut objects: HashSet<String> = manifest
        .chunks
        .iter()
        .filter_map(|c| keys.chunk(name, c))
        .collect();
    objects.insert(keys.manifest(name));
    let chunks = folder.join(CHUNKS_DIR);
    let mut local = Vec::new();
    for file in fs::read_dir(&chunks).map_err(terminal)? {
        let file = file.map_err(terminal)?;
        let file_name = file.file_name().to_string_lossy().into_owned();
        if !files.contains(file_name.as_str()) {
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            local.push((file_name, size));
        }
    }
    local.sort();
    // The listing may be long: only the orphans that can be shown are kept.
    let (mut remote, mut not_shown) = (Vec::new(), 0u64);
    bucket.list_each(&keys.recording(name), &mut |object| {
        if objects.contains(&object.key) {
            return;
        }
        if remote.len() < MAX_ORPHANS_SHOWN {
            remote.push((object.key, object.size));
        } else {
            not_shown += 1;
        }
    })?;
    remote.sort();
    let side = |side| move |(name, size)| Orphan { side, name, size };
    let mut orphans: Vec<Orphan> = local
        .into_iter()
        .map(side(OrphanSide::Local))
        .chain(remote.into_iter().map(side(OrphanSide::Remote)))
        .collect();
    not_shown += orphans.len().saturating_sub(MAX_ORPHANS_SHOWN) as u64;
    orphans.truncate(MAX_ORPHANS_SHOWN);
    Ok((orphans, not_shown))
}

fn local_state(path: &Path, entry: &ChunkEntry) -> LocalState {
    if !path.is_file() {
        return LocalState::Missing;
    }
    match digest_file(path) {
        Ok((sha, size)) if sha == entry.sha256 && size == entry.size => LocalState::Ok,
        _ => LocalState::Corrupt,
    }
}

/// Downloads a chunk next to its place, checks it, keeps a corrupt local file in
/// `quarantine/`, and moves the download into place.
fn download_chunk(
    bucket: &S3Bucket,
    key: &str,
    folder: &Path,
    entry: &ChunkEntry,
    local: LocalState,
) -> Result<(), UploadError> {
    let chunks = folder.join(CHUNKS_DIR);
    fs::create_dir_all(&chunks).map_err(terminal)?;
    let partial = chunks.join(format!("{}.download", entry.file));
    if let Err(e) = bucket.download(key, &partial, entry.size) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    if local_state(&partial, entry) != LocalState::Ok {
        let _ = fs::remove_file(&partial);
        return Err(UploadError::new(
            FailureClass::Retryable,
            format!("`{key}` did not match its manifest entry once downloaded"),
        ));
    }
    let target = chunks.join(&entry.file);
    if local == LocalState::Corrupt {
        let quarantine = folder.join(QUARANTINE_DIR);
        fs::create_dir_all(&quarantine).map_err(terminal)?;
        fs::rename(&target, quarantine.join(&entry.file)).map_err(terminal)?;
    }
    fs::rename(&partial, &target).map_err(terminal)?;
    sync_folder(&chunks).map_err(terminal)
}

/// Whether a manifest from the bucket describes recording `name` in files of its own:
/// every entry's file is the sealed chunk name of its index and SHA-256 (so nothing is
/// written outside `chunks/`), indexes are distinct, and the names agree.
fn restorable(manifest: &Manifest, name: &str) -> Result<(), String> {
    if manifest.name != name {
        return Err(format!("it names recording `{}`", manifest.name));
    }
    let mut seen = HashSet::new();
    for entry in &manifest.chunks {
        let own_name = parse_sealed_file_name(&entry.file)
            .is_some_and(|(index, sha8)| index == entry.index && entry.sha256.starts_with(sha8));
        if !own_name || entry.sha256.len() != 64 {
            return Err(format!("chunk {} names file `{}`", entry.index, entry.file));
        }
        if !seen.insert(entry.index) {
            return Err(format!("chunk {} appears twice", entry.index));
        }
    }
    Ok(())
}

/// Rebuilds recording `name`, which this machine lacks, from the bucket: its manifest,
/// then every chunk, each checked against the manifest, in a staging folder moved into
/// place only when complete.
pub fn restore_recording(
    store: &Store,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
) -> Result<ReconcileReport, UploadError> {
    let folder = store.folder(name).map_err(terminal)?;
    if folder.exists() {
        return Err(terminal(format!("recording `{name}` already exists here")));
    }
    // `~` is not allowed in recording names: listing never shows a half-done restore.
    let staging = store.root().join(format!("{name}~restoring"));
    fs::create_dir_all(staging.join(CHUNKS_DIR)).map_err(terminal)?;
    let rows = match download_recording(&staging, name, bucket, keys) {
        Ok(rows) => rows,
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    fs::rename(&staging, &folder).map_err(terminal)?;
    sync_folder(store.root()).map_err(terminal)?;
    Ok(ReconcileReport {
        recording: name.to_owned(),
        chunks: rows,
        manifest: ManifestAction::Unchanged,
        orphans: Vec::new(),
        orphans_not_shown: 0,
    })
}

/// Downloads recording `name`'s manifest and chunks into `staging`, each checked.
fn download_recording(
    staging: &Path,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
) -> Result<Vec<ReconcileRow>, UploadError> {
    let manifest_path = staging.join(MANIFEST_FILE);
    bucket.download(&keys.manifest(name), &manifest_path, MAX_MANIFEST_BYTES)?;
    let mut manifest = Manifest::read(staging).map_err(terminal)?;
    manifest.chunks.sort_by_key(|c| c.index);
    // The bucket is not to be trusted with paths: each entry must name its own file.
    restorable(&manifest, name).map_err(|why| {
        terminal(format!(
            "the bucket's manifest of `{name}` cannot be restored: {why}"
        ))
    })?;
    let mut rows = Vec::with_capacity(manifest.chunks.len());
    for entry in &manifest.chunks {
        let key = keys
            .chunk(name, entry)
            .ok_or_else(|| terminal(format!("chunk {} has no SHA-256", entry.index)))?;
        download_chunk(bucket, &key, staging, entry, LocalState::Missing)?;
        rows.push(ReconcileRow {
            index: entry.index,
            key,
            local: LocalState::Missing,
            remote: RemoteState::Same,
            action: ReconcileAction::Downloaded,
        });
    }
    Ok(rows)
}
