//! A TCP relay between an S3 client and its server that counts the bytes the client
//! sends: a fault test stops the server once so many bytes have gone (the middle of a
//! chunk, of a multipart upload), and measures what a resumed upload sends again. It can
//! also pass bytes at a slow link's pace.

use std::io::copy;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// A relay listening on a free loopback port, forwarding to `127.0.0.1:{upstream}`.
pub struct Relay {
    /// `http://127.0.0.1:{port}`, the endpoint to give the client.
    pub endpoint: String,
    sent: Arc<AtomicU64>,
}

impl Relay {
    /// Starts the relay; its threads live as long as the test process.
    pub fn start(upstream: u16) -> Self {
        Self::with_rate(upstream, None)
    }

    /// A relay passing at most `bytes_per_second` towards the server.
    #[allow(dead_code)] // not every test binary slows its link
    pub fn throttled(upstream: u16, bytes_per_second: u64) -> Self {
        Self::with_rate(upstream, Some(bytes_per_second))
    }

    fn with_rate(upstream: u16, rate: Option<u64>) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("relay port");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let counter = counter.clone();
                thread::spawn(move || forward(client, upstream, &counter, rate));
            }
        });
        Relay { endpoint, sent }
    }

    /// Bytes the clients have sent towards the server so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Copies one connection both ways until either side closes; a server that cannot be
/// reached closes the client's connection, as a refused connection would end it.
fn forward(client: TcpStream, upstream: u16, sent: &AtomicU64, rate: Option<u64>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let mut counted = Counted(&mut server_write, sent, rate);
    let answers = thread::spawn({
        let (mut server, mut client) = (server, client);
        move || {
            let _ = copy(&mut server, &mut client);
            let _ = client.shutdown(Shutdown::Both);
        }
    });
    let _ = copy(&mut client_read, &mut counted);
    let _ = server_write.shutdown(Shutdown::Both);
    let _ = answers.join();
}

/// A writer that adds what it writes to a counter, at most at a rate (bytes/s) if set.
struct Counted<'a>(&'a mut TcpStream, &'a AtomicU64, Option<u64>);

impl std::io::Write for Counted<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.0.write(bytes)?;
        self.1.fetch_add(written as u64, Ordering::SeqCst);
        if let Some(rate) = self.2 {
            let nanos = written as u64 * 1_000_000_000 / rate.max(1);
            thread::sleep(std::time::Duration::from_nanos(nanos));
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
