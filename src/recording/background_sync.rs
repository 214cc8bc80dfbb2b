//! Writing a growing file back to disk while it is still being written, so that sealing
//! it does not wait for the whole file. The kernel may otherwise keep tens of megabytes
//! dirty until the seal's fsync, which then stalls the recorder (about 80 ms per 64 MiB
//! file here) and, behind it, the protocol worker's queue.

use std::fs::File;
use std::io;
use std::thread::JoinHandle;

/// Bytes written between two background syncs.
pub(crate) const SYNC_EVERY_BYTES: u64 = 8 * 1024 * 1024;

/// At most one `sync_data` at a time, on a short-lived thread of its own.
#[derive(Default)]
pub(super) struct BackgroundSync {
    running: Option<JoinHandle<io::Result<()>>>,
    /// File length when the last sync started.
    started_at: u64,
}

impl BackgroundSync {
    /// Starts syncing `file` (a handle on the file being written) if `length` grew by
    /// [`SYNC_EVERY_BYTES`] since the last start and none is running. Reports the error
    /// of a finished one.
    pub(super) fn maybe_start(
        &mut self,
        length: u64,
        file: impl FnOnce() -> io::Result<File>,
    ) -> io::Result<()> {
        if length.saturating_sub(self.started_at) < SYNC_EVERY_BYTES {
            return Ok(());
        }
        if self.running.as_ref().is_some_and(|t| !t.is_finished()) {
            return Ok(());
        }
        self.wait()?;
        let file = file()?;
        self.started_at = length;
        self.running = Some(
            std::thread::Builder::new()
                .name("storage-sync".into())
                .spawn(move || file.sync_data())?,
        );
        Ok(())
    }

    /// Syncs `file` (the file being written, now `length` bytes long) before returning,
    /// after the running background sync if any: everything written so far is then on
    /// disk. The next background sync is due [`SYNC_EVERY_BYTES`] after `length`.
    pub(super) fn sync_now(&mut self, length: u64, file: &File) -> io::Result<()> {
        self.wait()?;
        file.sync_data()?;
        self.started_at = length;
        Ok(())
    }

    /// Waits for the running sync, if any, and returns its outcome.
    pub(super) fn wait(&mut self) -> io::Result<()> {
        match self.running.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the background sync panicked"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncs_once_per_stretch_and_reports_the_outcome() {
        let path = std::env::temp_dir().join(format!("bg-sync-{}", std::process::id()));
        let mut file = File::create(&path).expect("create");
        let mut sync = BackgroundSync::default();
        let mut opened = 0;
        let handle = |opened: &mut u32| {
            *opened += 1;
            file.try_clone()
        };
        sync.maybe_start(SYNC_EVERY_BYTES - 1, || handle(&mut opened))
            .expect("too early");
        assert_eq!(opened, 0);
        sync.maybe_start(SYNC_EVERY_BYTES, || handle(&mut opened))
            .expect("start");
        assert_eq!(opened, 1);
        sync.maybe_start(SYNC_EVERY_BYTES + 10, || handle(&mut opened))
            .expect("not yet due again");
        assert_eq!(opened, 1);
        sync.wait().expect("synced");
        sync.wait().expect("nothing running");
        drop(sync);
        file.write_all(b"x").expect("still writable");
        let _ = std::fs::remove_file(&path);
    }
}
