//! MCAP recordings of delivered (and optionally sent) messages: the recorder thread and
//! its bounded queue, ring buffers, the manifest, integrity checks, crash recovery and
//! replay planning. No FFI types; the only threads are each recorder's I/O thread, the
//! compression threads of the recording it writes, and a short-lived one that writes a
//! growing file back to disk (`background_sync`).
//!
//! On disk, a recording is a folder named by a validated name ([`name`]) under the
//! configured root, holding `manifest.json` ([`manifest`]) and
//! `chunks/chunk-{index:06}-{sha8}.mcap` files ([`chunk_writer`]): zstd-compressed MCAP
//! with 786 432-byte chunks ([`mcap_chunk`], compressed side by side by [`compressor`],
//! appended in order by [`mcap_stream`]) and CRCs, one MCAP channel per SDS channel,
//! the SdsMessage protobuf schema embedded ([`schema`]).

mod background_sync;
pub mod chunk_writer;
pub mod compressor;
pub mod error;
pub mod frame;
pub mod manifest;
pub mod mcap_chunk;
mod mcap_records;
pub mod mcap_stream;
pub mod name;
pub mod options;
pub mod recorder;
pub mod recovery;
pub mod replay;
pub mod ring;
pub mod scan;
pub mod schema;
pub mod store;
pub mod verify;
pub mod writer;

pub use error::RecordingError;
