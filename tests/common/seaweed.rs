//! A real S3 server for tests: SeaweedFS (`weed mini`), built by `make s3-server`,
//! cached under `~/.cache/libstorage/` and named by `STORAGE_WEED`. One server per test
//! binary ([`Seaweed::shared`]), on free loopback ports, with a fresh data folder and an
//! identity file; tests use buckets of their own. It runs under a small shell that kills
//! it when the test process's end closes the shell's stdin, so no server outlives its
//! tests, whatever way they end.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use storage::recording::upload::{S3Bucket, UploadOptions};

use super::scratch::Scratch;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "libstorage-test";
/// Its secret.
pub const SECRET_KEY: &str = "libstorage-test-secret-key-0123456789";

/// A running `weed mini` (or one stopped by [`Seaweed::stop`], to be started again on
/// the same ports and data by [`Seaweed::restart`]).
pub struct Seaweed {
    child: Option<Child>,
    weed: PathBuf,
    /// Master, filer, volume, S3 and admin ports.
    ports: [u16; 5],
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    data: Scratch,
}

/// The server binary `make s3-server` built and the test command names
/// (`STORAGE_WEED`).
fn binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("STORAGE_WEED")?);
    path.is_file().then_some(path)
}

/// A port `p` such that `p` and `p + 10000` (SeaweedFS's gRPC port) are both free, both
/// below Linux's ephemeral range (32768) so that no outgoing connection takes them
/// meanwhile, and not handed out before by this process (a server given them may not
/// have bound them yet); the search starts at a place of this process's own.
fn free_port_pair() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut taken = HANDED_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let start = 10_000 + (std::process::id() as usize * 7_919) % 12_000;
    let port = (0..12_000)
        .map(|i| (10_000 + (start - 10_000 + i * 17) % 12_000) as u16)
        .find(|&port| {
            !taken.contains(&port)
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        })
        .expect("a free pair of loopback ports");
    taken.push(port);
    port
}

impl Seaweed {
    /// The test binary's server, started on first use; `None` as for [`Seaweed::start`].
    #[allow(dead_code)] // not every test binary shares one
    pub fn shared() -> Option<&'static Seaweed> {
        static SERVER: OnceLock<Option<Seaweed>> = OnceLock::new();
        SERVER.get_or_init(Seaweed::start).as_ref()
    }

    /// Starts a server, or `None` (saying why) when the binary is not built and the
    /// test command does not require it (`STORAGE_REQUIRE_S3` unset).
    pub fn start() -> Option<Self> {
        let Some(weed) = binary() else {
            assert!(
                std::env::var_os("STORAGE_REQUIRE_S3").is_none(),
                "no S3 test server at STORAGE_WEED: run `make s3-server`"
            );
            eprintln!("skipped: no S3 test server (`make rust-test` builds and names one)");
            return None;
        };
        let data = Scratch::new("seaweed");
        std::fs::write(
            data.file("s3.json"),
            format!(
                r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .expect("identities");
        std::fs::create_dir_all(data.join("data")).expect("data dir");
        let ports = [(); 5].map(|()| free_port_pair());
        let mut server = Seaweed {
            child: None,
            weed,
            endpoint: format!("http://127.0.0.1:{}", ports[3]),
            ports,
            data,
        };
        server.spawn();
        Some(server)
    }

    /// The port S3 listens on.
    #[allow(dead_code)] // only the fault tests put a relay in front
    pub fn s3_port(&self) -> u16 {
        self.ports[3]
    }

    /// Kills the server (as a crash would: no shutdown), keeping its data.
    #[allow(dead_code)] // only the fault tests stop it
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(mut stdin) = child.stdin.take() {
                let _ = writeln!(stdin, "keep");
            }
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again, on the same ports and data, and waits for it.
    #[allow(dead_code)] // only the fault tests stop it
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let [master, filer, volume, s3, admin] = self.ports;
        // `sh` starts weed in the background (its stdin /dev/null) and, once its own
        // stdin (a pipe from this process) gives a line or reaches end of file, kills it
        // (weed takes its time over SIGTERM) and, unless that line was `keep`, removes
        // the data folder: a static server is never dropped, and the test process's end
        // closes the pipe.
        let data = &self.data;
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"dir=$1; shift; "$@" & pid=$!; read -r line; kill -9 $pid; wait $pid; [ "$line" = keep ] || rm -rf "$dir""#)
            .arg("sh")
            .arg(&**data)
            .arg(&self.weed)
            .arg("mini")
            .arg(format!("-dir={}", data.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-admin.port={admin}"))
            .arg(format!("-s3.config={}", data.file("s3.json").display()))
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-admin.port.legacy=0",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-s3.autoCreateBucket=false",
            ])
            .current_dir(&**data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(data.file("weed.log"))
                    .expect("log"),
            ))
            .spawn()
            .expect("start weed");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Upload options for bucket `bucket` of this server, with its credentials.
    pub fn options(&self, bucket: &str) -> UploadOptions {
        UploadOptions {
            endpoint: Some(self.endpoint.clone()),
            bucket: Some(bucket.to_owned()),
            access_key_id: Some(ACCESS_KEY.to_owned()),
            secret_access_key: Some(SECRET_KEY.to_owned().into()),
            ..UploadOptions::default()
        }
    }

    /// A client of bucket `bucket`, created if missing.
    pub fn bucket(&self, bucket: &str) -> S3Bucket {
        let client = S3Bucket::new(&self.options(bucket), &no_env).expect("client");
        client.create_bucket().expect("create bucket");
        client
    }

    /// Waits (up to a minute: a cold start on a busy machine) until S3 stores an object:
    /// a restarted server answers before its volumes take writes again.
    fn wait_ready(&self) {
        let probe = S3Bucket::new(&self.options("ready-probe"), &no_env).expect("client");
        let started = Instant::now();
        loop {
            match probe
                .create_bucket()
                .and_then(|()| probe.put_bytes("probe", b"ok"))
            {
                Ok(_) => return,
                Err(e) if started.elapsed() > Duration::from_secs(60) => {
                    panic!("the S3 server did not come up: {e}")
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // Closing the shell's stdin makes it kill weed.
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// An empty environment: tests never read the process's AWS variables.
pub fn no_env(_: &str) -> Option<String> {
    None
}
