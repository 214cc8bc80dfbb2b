//! Recordings leave the robot: sealed recordings uploaded to an S3-compatible bucket
//! (AWS S3, R2, GCS's S3 interface, MinIO, SeaweedFS) under deterministic keys
//! ([`ObjectKeys`]), each chunk re-verified before it is sent, sent once (a HEAD finds
//! what already arrived), verified by the server on arrival, and marked in the manifest.
//! Nothing here ever deletes a remote object.

mod backoff;
mod config;
mod error;
mod keys;
mod progress;
mod reconcile;
mod recording_upload;
mod s3;

pub use backoff::Backoff;
pub use config::{RetryPolicy, Secrets, UploadOptions};
pub use error::{FailureClass, UploadError};
pub use keys::ObjectKeys;
pub use progress::UploadProgress;
pub use reconcile::{
    reconcile_recording, restore_recording, LocalState, Orphan, OrphanSide, ReconcileAction,
    ReconcileReport, ReconcileRow, RemoteState, MAX_ORPHANS_SHOWN,
};
pub(crate) use recording_upload::{send_chunk, upload_manifest, ChunkFault};
pub use recording_upload::{
    upload_recording, upload_recording_with, ChunkAction, ChunkUpload, ManifestAction, UploadReport,
};
pub use s3::{ListedObject, RemoteObject, S3Bucket};
