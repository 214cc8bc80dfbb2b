//! A real S3 server for tests: SeaweedFS (`weed mini`), built by `make s3-server`,
//! cached under `~/.cache/libstorage/` and named by `STORAGE_WEED`. One server per test
//! binary ([`Seaweed::shared`]), on free loopback ports, with a fresh data folder and an
//! identity file; tests use buckets of their own. It runs under a small shell that kills
//! it when the test process's end closes the shell's stdin, so no server outlives its
//! tests, whatever way they end.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use storage::recording::upload::{S3Bucket, UploadOptions};

use super::scratch::Scratch;

/// The access key the server accepts.
pub const ACCESS_KEY: &str = "libstorage-test";
/// Its secret.
pub const SECRET_KEY: &str = "libstorage-test-secret-key-0123456789";

/// A running `weed mini`.
pub struct Seaweed {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub endpoint: String,
    _data: Scratch,
}

/// The server binary `make s3-server` built and the test command names
/// (`STORAGE_WEED`).
fn binary() -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("STORAGE_WEED")?);
    path.is_file().then_some(path)
}

/// A port `p` such that `p` and `p + 10000` (SeaweedFS's gRPC port) are both free, both
/// below Linux's ephemeral range (32768) so that no outgoing connection takes them
/// meanwhile; the search starts at a place of this process's own.
fn free_port_pair(taken: &[u16]) -> u16 {
    let start = 10_000 + (std::process::id() as usize * 7_919) % 12_000;
    (0..12_000)
        .map(|i| (10_000 + (start - 10_000 + i * 17) % 12_000) as u16)
        .find(|&port| {
            !taken.contains(&port)
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        })
        .expect("a free pair of loopback ports")
}

impl Seaweed {
    /// The test binary's server, started on first use; `None` as for [`Seaweed::start`].
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
        let identities = data.file("s3.json");
        std::fs::write(
            &identities,
            format!(
                r#"{{"identities":[{{"name":"test","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .expect("identities");
        let mut ports = Vec::new();
        for _ in 0..5 {
            let port = free_port_pair(&ports);
            ports.push(port);
        }
        let [master, filer, volume, s3, admin] = ports[..] else {
            unreachable!()
        };
        // `sh` starts weed in the background (its stdin /dev/null) and, once its own
        // stdin (a pipe from this process) reaches end of file, kills it (weed takes
        // its time over SIGTERM) and removes the data folder.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"dir=$1; shift; "$@" & pid=$!; read -r _; kill -9 $pid; wait $pid; rm -rf "$dir""#)
            .arg("sh")
            .arg(&*data)
            .arg(weed)
            .arg("mini")
            .arg(format!("-dir={}", data.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-admin.port={admin}"))
            .arg(format!("-s3.config={}", identities.display()))
            .args([
                "-webdav=false",
                "-admin.ui=false",
                "-admin.port.legacy=0",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-s3.autoCreateBucket=false",
            ])
            .current_dir(&*data)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(data.file("weed.log")).expect("log"),
            ))
            .spawn()
            .expect("start weed");
        std::fs::create_dir_all(data.join("data")).expect("data dir");
        let server = Seaweed {
            child,
            endpoint: format!("http://127.0.0.1:{s3}"),
            _data: data,
        };
        server.wait_ready();
        Some(server)
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

    /// Waits (up to a minute: a cold start on a busy machine) until S3 answers.
    fn wait_ready(&self) {
        let probe = S3Bucket::new(&self.options("ready-probe"), &no_env).expect("client");
        let started = Instant::now();
        loop {
            match probe.create_bucket() {
                Ok(()) => return,
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
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// An empty environment: tests never read the process's AWS variables.
pub fn no_env(_: &str) -> Option<String> {
    None
}
