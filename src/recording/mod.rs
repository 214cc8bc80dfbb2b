//! MCAP recordings of delivered (and optionally sent) messages: the recorder thread and
//! its bounded queue, ring buffers, the manifest, integrity checks, crash recovery and
//! replay planning. No FFI types; the only threads are each recorder's I/O thread, the
//! compression threads of the recording it writes, and a short-lived one that writes a
//! growing file back to disk (`background_sync`).
//!
//! On disk, a recording is a folder named by a validated name under the configured root
//! ([`Store`]), holding [`MANIFEST_FILE`] ([`Manifest`]) and
//! `chunks/chunk-{index:06}-{sha8}.mcap` files ([`ChunkWriter`]): zstd-compressed MCAP
//! with 786 432-byte chunks (compressed side by side by a [`CompressorPool`], appended in
//! order) and CRCs, one MCAP channel per SDS channel, the SdsMessage protobuf schema
//! embedded. [`Recorder`] runs a [`RecordingWriter`] on its own thread; [`ReplayReader`]
//! reads a recording back; [`verify_folder`] and [`recover_store`] check and repair.

pub(crate) mod audit;
mod background_sync;
pub(crate) mod chain;
pub(crate) mod chunk_writer;
pub(crate) mod compressor;
pub(crate) mod error;
pub(crate) mod frame;
pub(crate) mod manifest;
pub(crate) mod mcap_chunk;
mod mcap_records;
pub(crate) mod mcap_stream;
pub(crate) mod name;
pub(crate) mod options;
pub(crate) mod recorder;
pub(crate) mod recovery;
pub(crate) mod replay;
pub(crate) mod ring;
pub(crate) mod scan;
pub(crate) mod schema;
pub(crate) mod store;
pub mod upload;
pub(crate) mod verify;
pub(crate) mod writer;

pub use audit::{
    query as audit_query, AuditAction, AuditDraft, AuditLog, AuditQuery, AuditReading, AuditRecord,
    AuditVerdict, AUDIT_FILE,
};
pub use chunk_writer::{active_file_name, ChunkWriter};
pub use compressor::CompressorPool;
pub use error::RecordingError;
pub use frame::Frame;
pub use manifest::{ChunkEntry, DeadLetter, Manifest, UploadMark, MANIFEST_FILE};
pub use options::{FullPolicy, Mode, RecordingOptions};
pub use recorder::{
    Done, MarkHandle, Now, OnSealed, Recorder, RecorderStats, RecorderSummary, SealedChunk,
};
pub use recovery::{recover_store, RecoveryAction};
pub use replay::{ReplayOptions, ReplayReader, ReplayedMessage};
pub use scan::{McapScan, ScanMode, ScannedMessage};
pub use store::{FolderLock, ListedRecording, Store, CHUNKS_DIR};
pub use verify::{verify_anchored, verify_folder, ChainVerdict, ChunkVerdict, VerifyReport};
pub use writer::{ChunkLimits, RecordingWriter};
