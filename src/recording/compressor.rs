//! The threads that compress a recording's MCAP chunks: each chunk is compressed whole
//! on one thread (single-threaded zstd, so its bytes do not depend on the machine), and
//! several chunks are compressed at once, which is what lets one recording use every
//! core. Results come back through one [`PendingChunk`] per chunk, so the writer can
//! append them in order.

use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};

use super::mcap_chunk::{CompressedChunk, OpenChunk, ZSTD_LEVEL};

/// Most compression threads a recording starts, whatever the core count.
const MAX_THREADS: usize = 4;

/// One chunk to compress and where its result goes.
struct Job {
    chunk: OpenChunk,
    result: Sender<io::Result<CompressedChunk>>,
}

/// A handle on a pool of compression threads; clones share the threads. The threads end
/// when the last handle is dropped, after finishing the chunks they were given.
#[derive(Clone)]
pub struct CompressorPool {
    // Declared before `threads`: dropping the last handle closes the queue first, so the
    // threads see it closed when `Joiner` waits for them.
    jobs: Sender<Job>,
    threads: Arc<Joiner>,
}

impl std::fmt::Debug for CompressorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressorPool")
            .field("threads", &self.threads.0.len())
            .finish()
    }
}

/// Waits for the threads when the last handle goes.
struct Joiner(Vec<JoinHandle<()>>);

impl Drop for Joiner {
    fn drop(&mut self) {
        for thread in self.0.drain(..) {
            let _ = thread.join();
        }
    }
}

impl CompressorPool {
    /// One thread per core, at most `MAX_THREADS`.
    pub fn for_this_machine() -> io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.min(MAX_THREADS))
    }

    /// `threads` compression threads (at least one).
    pub fn new(threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        // A chunk waits in the queue only while every thread is busy; the writer bounds
        // how many it has in flight, so this only has to hold that many.
        let (jobs, queue) = bounded::<Job>(threads * 2);
        let handles = (0..threads)
            .map(|_| {
                let queue = queue.clone();
                std::thread::Builder::new()
                    .name("storage-compress".into())
                    .spawn(move || compress_until_closed(&queue))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Self {
            jobs,
            threads: Arc::new(Joiner(handles)),
        })
    }

    /// Threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads.0.len()
    }

    /// Hands `chunk` to a thread, waiting for room in the queue if every thread is busy.
    pub fn submit(&self, chunk: OpenChunk) -> PendingChunk {
        let max_file_bytes = chunk.max_file_bytes();
        let (result, receiver) = bounded(1);
        if let Err(unsent) = self.jobs.send(Job { chunk, result }) {
            // The threads are gone (they only end when every handle is dropped, so this
            // is a thread that panicked): compress here rather than lose the chunk.
            let job = unsent.into_inner();
            let _ = job.result.send(compress(job.chunk));
        }
        PendingChunk {
            result: receiver,
            max_file_bytes,
        }
    }
}

fn compress(chunk: OpenChunk) -> io::Result<CompressedChunk> {
    let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL)?;
    chunk.compress(&mut zstd)
}

fn compress_until_closed(queue: &Receiver<Job>) {
    let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL);
    for job in queue {
        let result = match &mut zstd {
            Ok(zstd) => job.chunk.compress(zstd),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        // The writer may have given up on the chunk (it failed); nothing to tell then.
        let _ = job.result.send(result);
    }
}

/// A chunk being compressed.
pub struct PendingChunk {
    result: Receiver<io::Result<CompressedChunk>>,
    max_file_bytes: u64,
}

impl PendingChunk {
    /// Most bytes the chunk can add to a file (see [`OpenChunk::max_file_bytes`]).
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// Waits for the compressed chunk.
    pub fn wait(self) -> io::Result<CompressedChunk> {
        self.result.recv().unwrap_or_else(|_| Err(thread_lost()))
    }

    /// The compressed chunk if it is ready; `Err(self)` if it is not yet.
    pub fn try_take(self) -> Result<io::Result<CompressedChunk>, Self> {
        match self.result.try_recv() {
            Ok(result) => Ok(result),
            Err(TryRecvError::Empty) => Err(self),
            Err(TryRecvError::Disconnected) => Ok(Err(thread_lost())),
        }
    }
}

fn thread_lost() -> io::Error {
    io::Error::other("a compression thread stopped before finishing its chunk")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcap::records::MessageHeader;

    fn chunk(messages: u32) -> OpenChunk {
        let mut chunk = OpenChunk::new();
        for i in 0..messages {
            let header = MessageHeader {
                channel_id: 1,
                sequence: i,
                log_time: u64::from(i),
                publish_time: 0,
            };
            chunk.push_message(&header, &[i as u8; 100]);
        }
        chunk
    }

    #[test]
    fn results_come_back_per_chunk_whatever_order_threads_finish() {
        let pool = CompressorPool::new(3).expect("pool");
        let pending: Vec<_> = (1u32..=8).map(|n| pool.submit(chunk(n * 50))).collect();
        for (n, p) in (1u32..=8).zip(pending) {
            let done = p.wait().expect("compressed");
            assert_eq!(done.message_count(), u64::from(n) * 50);
            let records = zstd::bulk::decompress(&done.data, 1 << 20).expect("zstd");
            assert_eq!(records.len() as u64, done.header.uncompressed_size);
            assert_eq!(crc32fast::hash(&records), done.header.uncompressed_crc);
        }
    }

    #[test]
    fn dropping_the_last_handle_finishes_queued_chunks_and_joins() {
        let pool = CompressorPool::new(1).expect("pool");
        let pending: Vec<_> = (0..4).map(|_| pool.submit(chunk(10))).collect();
        drop(pool);
        for p in pending {
            assert_eq!(p.wait().expect("compressed").message_count(), 10);
        }
    }
}
