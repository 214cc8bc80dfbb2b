//! Uploading one sealed recording: each chunk re-verified, looked up, sent if the bucket
//! lacks it, and marked in the manifest; then the manifest itself, once.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::keys::ObjectKeys;
use super::progress::{ObservedRows, UploadProgress};
use super::s3::S3Bucket;
use super::{FailureClass, UploadError};
use crate::recording::chunk_writer::hex_lower;
use crate::recording::manifest::{ChunkEntry, Manifest, UploadMark, MANIFEST_FILE};
use crate::recording::store::{Store, CHUNKS_DIR};

/// What happened to one chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ChunkAction {
    /// Sent now.
    Uploaded,
    /// The bucket already held it with this SHA-256: marked, not sent.
    AlreadyRemote,
    /// Its manifest entry was already marked uploaded: nothing done.
    AlreadyUploaded,
    /// The local file does not match its manifest entry: flagged, never sent.
    Corrupt,
    /// Sending it failed (see `reason`); it stays unmarked, to be tried again.
    Failed,
    /// The background uploader gave up on it earlier (see `reason`); asking for the
    /// recording's upload by name tries it again.
    DeadLettered,
}

/// One chunk's row of an [`UploadReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct ChunkUpload {
    /// The chunk's index.
    pub index: u64,
    /// Its object key.
    pub key: String,
    /// What happened.
    pub action: ChunkAction,
    /// Bytes sent for it.
    pub bytes_sent: u64,
    /// Why, for `corrupt` and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ChunkUpload {
    /// Whether the chunk is in the bucket and marked after this row.
    pub fn is_up(&self) -> bool {
        matches!(
            self.action,
            ChunkAction::Uploaded | ChunkAction::AlreadyRemote | ChunkAction::AlreadyUploaded
        )
    }
}

/// What happened to the manifest object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum ManifestAction {
    /// Sent now.
    Uploaded,
    /// The bucket's copy is this very manifest.
    Unchanged,
    /// Not sent: some chunk is not in the bucket yet, and a manifest goes up only after
    /// all its chunks.
    Withheld,
}

/// The outcome of uploading a recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UploadReport {
    /// The recording.
    pub recording: String,
    /// One row per manifest entry, in index order.
    pub chunks: Vec<ChunkUpload>,
    /// The manifest object's key.
    pub manifest_key: String,
    /// What happened to it.
    pub manifest: ManifestAction,
    /// Bytes sent in all.
    pub bytes_sent: u64,
}

impl UploadReport {
    /// Every chunk and the manifest are in the bucket.
    pub fn complete(&self) -> bool {
        self.manifest != ManifestAction::Withheld
    }
}

/// Uploads sealed recording `name` of `store` to `bucket` under `keys`, marking each
/// chunk found or put there with `now_ns` in the manifest (written atomically after
/// each, so a kill loses no mark). Holds the recording's folder lock throughout.
///
/// A failure that pauses the queue (bad credentials, missing bucket) ends the upload
/// with that error, the marks made so far kept; other failures are rows of the report.
pub fn upload_recording(
    store: &Store,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
    now_ns: u64,
) -> Result<UploadReport, UploadError> {
    upload_recording_with(store, name, bucket, keys, now_ns, &mut |_| {})
}

/// [`upload_recording`], telling `observer` where the upload stands after each chunk
/// (once per manifest entry, in index order), for a progress display.
pub fn upload_recording_with(
    store: &Store,
    name: &str,
    bucket: &S3Bucket,
    keys: &ObjectKeys,
    now_ns: u64,
    observer: &mut dyn FnMut(UploadProgress),
) -> Result<UploadReport, UploadError> {
    let unusable = |e: crate::recording::RecordingError| {
        UploadError::new(FailureClass::Terminal, e.to_string())
    };
    let (folder, _lock) = store.lock_sealed(name).map_err(unusable)?;
    let mut manifest = Manifest::read(&folder).map_err(unusable)?;
    manifest.chunks.sort_by_key(|c| c.index);
    let chunks_dir = folder.join(CHUNKS_DIR);
    let mut rows = ObservedRows::new(&manifest.chunks, observer);
    for at in 0..manifest.chunks.len() {
        let entry = &manifest.chunks[at];
        let Some(key) = keys.chunk(name, entry) else {
            rows.push(row(
                entry.index,
                String::new(),
                ChunkAction::Corrupt,
                0,
                "no SHA-256 in its entry",
            ));
            continue;
        };
        if entry.uploaded_at_ns.is_some() {
            rows.push(row(entry.index, key, ChunkAction::AlreadyUploaded, 0, ""));
            continue;
        }
        let sent = send_chunk(bucket, &key, &chunks_dir.join(&entry.file), entry);
        match sent {
            Ok(sent) => {
                let entry = &mut manifest.chunks[at];
                entry.apply(&sent.mark(now_ns));
                let index = entry.index;
                manifest.write(&folder).map_err(unusable)?;
                rows.push(row(index, key, sent.action, sent.bytes, ""));
            }
            Err(ChunkFault::Corrupt(why)) => {
                rows.push(row(entry.index, key, ChunkAction::Corrupt, 0, &why));
            }
            Err(ChunkFault::Failed(e)) if e.class == FailureClass::Pause => return Err(e),
            Err(ChunkFault::Failed(e)) => rows.push(row(
                manifest.chunks[at].index,
                key,
                ChunkAction::Failed,
                0,
                &e.message,
            )),
        }
    }
    let manifest_key = keys.manifest(name);
    let all_up = manifest.chunks.iter().all(|c| c.uploaded_at_ns.is_some());
    let action = if all_up {
        upload_manifest(bucket, &manifest_key, &folder)?
    } else {
        ManifestAction::Withheld
    };
    let rows = rows.into_rows();
    let bytes_sent = rows.iter().map(|r| r.bytes_sent).sum();
    Ok(UploadReport {
        recording: name.to_owned(),
        chunks: rows,
        manifest_key,
        manifest: action,
        bytes_sent,
    })
}

/// A chunk that is in the bucket now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Sent now, or found there.
    pub action: ChunkAction,
    /// The object's ETag.
    pub etag: String,
    /// Bytes sent.
    pub bytes: u64,
}

impl Sent {
    /// The manifest mark saying so, made at `now_ns`.
    pub(crate) fn mark(&self, now_ns: u64) -> UploadMark {
        UploadMark::Uploaded {
            at_ns: now_ns,
            etag: self.etag.clone(),
        }
    }
}

/// Why a chunk is not in the bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ChunkFault {
    /// The local file does not match its entry: never sent.
    Corrupt(String),
    /// Sending failed.
    Failed(UploadError),
}

/// Puts the chunk file at `path`, listed as `entry`, in the bucket as `key`: re-verified
/// first (a corrupt file is never sent), then looked up (what is there with this SHA-256
/// is not sent again), then sent with checksums the server verifies.
pub(crate) fn send_chunk(
    bucket: &S3Bucket,
    key: &str,
    path: &Path,
    entry: &ChunkEntry,
) -> Result<Sent, ChunkFault> {
    let (sha256, size) = digest_file(path).map_err(ChunkFault::Corrupt)?;
    if sha256 != entry.sha256 || size != entry.size {
        let why = "the file does not match its manifest entry (SHA-256 or size)";
        return Err(ChunkFault::Corrupt(why.to_owned()));
    }
    match bucket.head(key).map_err(ChunkFault::Failed)? {
        Some(remote) if remote.sha256.as_deref() == Some(sha256.as_str()) => Ok(Sent {
            action: ChunkAction::AlreadyRemote,
            etag: remote.etag,
            bytes: 0,
        }),
        _ => bucket
            .put_file(key, path, &sha256)
            .map(|etag| Sent {
                action: ChunkAction::Uploaded,
                etag,
                bytes: size,
            })
            .map_err(ChunkFault::Failed),
    }
}

fn row(index: u64, key: String, action: ChunkAction, bytes_sent: u64, reason: &str) -> ChunkUpload {
    ChunkUpload {
        index,
        key,
        action,
        bytes_sent,
        reason: (!reason.is_empty()).then(|| reason.to_owned()),
    }
}

/// Sends the manifest file as it is on disk, unless the bucket holds these very bytes.
pub(crate) fn upload_manifest(
    bucket: &S3Bucket,
    key: &str,
    folder: &Path,
) -> Result<ManifestAction, UploadError> {
    let path = folder.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| {
        UploadError::new(
            FailureClass::Terminal,
            format!("cannot read the manifest: {e}"),
        )
    })?;
    let sha256 = hex_lower(&Sha256::digest(&bytes));
    match bucket.head(key)? {
        Some(remote) if remote.sha256.as_deref() == Some(sha256.as_str()) => {
            Ok(ManifestAction::Unchanged)
        }
        _ => bucket
            .put_bytes(key, &bytes)
            .map(|_| ManifestAction::Uploaded),
    }
}

/// The SHA-256 (hex) of the file at `path` and its size, in one read.
pub(super) fn digest_file(path: &Path) -> Result<(String, u64), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open the file: {e}"))?;
    let mut sha = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| format!("cannot read the file: {e}"))?;
        if n == 0 {
            break;
        }
        sha.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hex_lower(&sha.finalize()), size))
}
