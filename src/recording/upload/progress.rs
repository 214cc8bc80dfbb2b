//! Progress of an upload as it goes, for a caller that shows it (`storagectl upload`'s
//! progress bar): the uploader's rows of its report are collected here, and each row
//! added tells the observer where the upload stands.

use std::collections::BTreeMap;

use super::recording_upload::{ChunkAction, ChunkUpload};
use crate::recording::manifest::ChunkEntry;

/// Where an upload stands, told after each chunk is dealt with (sent, found in the
/// bucket, already marked, corrupt or failed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// The index of the chunk just dealt with.
    pub chunk_index: u64,
    /// What happened to it.
    pub action: ChunkAction,
    /// Bytes sent so far by this upload.
    pub bytes_sent: u64,
    /// Manifest sizes of the chunks dealt with so far, sent or not: where a bar stands.
    pub bytes_done: u64,
    /// Manifest sizes of all the recording's chunks.
    pub bytes_total: u64,
    /// Chunks dealt with so far.
    pub chunks_done: u64,
    /// The recording's chunks.
    pub chunks_total: u64,
}

/// The report's chunk rows, telling the observer of each as it is added.
pub(super) struct ObservedRows<'a> {
    rows: Vec<ChunkUpload>,
    sizes: BTreeMap<u64, u64>,
    observer: &'a mut dyn FnMut(UploadProgress),
    progress: UploadProgress,
}

impl<'a> ObservedRows<'a> {
    /// Rows for the manifest's `chunks`, observed by `observer`.
    pub(super) fn new(chunks: &[ChunkEntry], observer: &'a mut dyn FnMut(UploadProgress)) -> Self {
        let sizes: BTreeMap<u64, u64> = chunks.iter().map(|c| (c.index, c.size)).collect();
        Self {
            rows: Vec::with_capacity(chunks.len()),
            progress: UploadProgress {
                chunk_index: 0,
                action: ChunkAction::AlreadyUploaded,
                bytes_sent: 0,
                bytes_done: 0,
                bytes_total: chunks.iter().map(|c| c.size).sum(),
                chunks_done: 0,
                chunks_total: chunks.len() as u64,
            },
            sizes,
            observer,
        }
    }

    /// Adds the row of a chunk dealt with, and tells the observer.
    pub(super) fn push(&mut self, row: ChunkUpload) {
        let p = &mut self.progress;
        p.chunk_index = row.index;
        p.action = row.action;
        p.bytes_sent += row.bytes_sent;
        p.bytes_done += self.sizes.get(&row.index).copied().unwrap_or_default();
        p.chunks_done += 1;
        (self.observer)(*p);
        self.rows.push(row);
    }

    /// The rows, in the order they were added.
    pub(super) fn into_rows(self) -> Vec<ChunkUpload> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(index: u64, size: u64) -> ChunkEntry {
        ChunkEntry {
            index,
            size,
            ..ChunkEntry::default()
        }
    }

    fn row(index: u64, action: ChunkAction, bytes_sent: u64) -> ChunkUpload {
        ChunkUpload {
            index,
            key: String::new(),
            action,
            bytes_sent,
            reason: None,
        }
    }

    #[test]
    fn each_row_tells_the_observer_where_the_upload_stands() {
        let mut seen = Vec::new();
        let chunks = [chunk(0, 100), chunk(1, 50), chunk(2, 30)];
        let mut observer = |p: UploadProgress| seen.push(p);
        let mut rows = ObservedRows::new(&chunks, &mut observer);
        rows.push(row(0, ChunkAction::Uploaded, 100));
        rows.push(row(1, ChunkAction::AlreadyRemote, 0));
        rows.push(row(2, ChunkAction::Uploaded, 30));
        let rows = rows.into_rows();
        assert_eq!(rows.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
        let stand: Vec<_> = seen
            .iter()
            .map(|p| (p.chunk_index, p.bytes_sent, p.bytes_done, p.chunks_done))
            .collect();
        assert_eq!(
            stand,
            [(0, 100, 100, 1), (1, 100, 150, 2), (2, 130, 180, 3)]
        );
        assert!(seen
            .iter()
            .all(|p| (p.bytes_total, p.chunks_total) == (180, 3)));
        assert_eq!(seen[1].action, ChunkAction::AlreadyRemote);
    }
}
