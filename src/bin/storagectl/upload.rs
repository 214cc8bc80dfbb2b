//! `storagectl upload`: sealed recordings to an S3-compatible bucket, as the library's
//! uploader sends them (same keys, checks and manifest marks).

use clap::Args;
use serde_json::json;
use storage::recording::upload::{
    reconcile_recording, restore_recording, upload_recording_with, FailureClass, ObjectKeys,
    S3Bucket, UploadError, UploadOptions,
};
use storage::recording::{Manifest, Store};

use crate::progress::UploadBar;
use crate::Outcome;

/// Where to upload: the keys of the `upload` configuration section, as flags. The
/// credentials come from the usual `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN` variables (or `--secret-access-key-file`).
#[derive(Args)]
pub struct Target {
    /// The S3 endpoint URL.
    #[arg(long, env = "STORAGE_S3_ENDPOINT")]
    endpoint: String,
    /// The bucket.
    #[arg(long, env = "STORAGE_S3_BUCKET")]
    bucket: String,
    /// Key prefix before `{origin}/`.
    #[arg(long)]
    prefix: Option<String>,
    /// The region (default: `AWS_REGION`, else us-east-1).
    #[arg(long)]
    region: Option<String>,
    /// The key part naming the machine (default: the recording's participant id).
    #[arg(long)]
    origin: Option<String>,
    /// Virtual-host-style addressing instead of path style.
    #[arg(long)]
    virtual_host: bool,
    /// A file holding the secret access key.
    #[arg(long, value_name = "PATH")]
    secret_access_key_file: Option<std::path::PathBuf>,
    /// Create the bucket first when it does not exist (first-time set-up).
    #[arg(long)]
    create_bucket: bool,
}

impl Target {
    fn bucket(&self) -> Result<S3Bucket, UploadError> {
        let env = |name: &str| std::env::var(name).ok();
        let bucket = S3Bucket::new(&self.options(), &env)?;
        if self.create_bucket {
            bucket.create_bucket()?;
        }
        Ok(bucket)
    }

    /// The keys of recording `name`: under `--origin`, else its participant id.
    fn keys(&self, store: &Store, name: &str) -> Result<ObjectKeys, Outcome> {
        let origin = match &self.origin {
            Some(origin) => origin.clone(),
            None => {
                store
                    .existing(name)
                    .and_then(|f| Manifest::read(&f))
                    .map_err(|e| Outcome::Unreadable(e.to_string()))?
                    .participant
            }
        };
        ObjectKeys::new(self.prefix.as_deref(), &origin)
            .map_err(|e| Outcome::Unreadable(e.to_string()))
    }

    fn options(&self) -> UploadOptions {
        UploadOptions {
            endpoint: Some(self.endpoint.clone()),
            bucket: Some(self.bucket.clone()),
            prefix: self.prefix.clone(),
            region: self.region.clone(),
            path_style: Some(!self.virtual_host),
            secret_access_key_file: self.secret_access_key_file.clone(),
            ..UploadOptions::default()
        }
    }
}

/// Uploads every named recording (all sealed ones when none is named).
pub fn upload(store: &Store, names: &[String], target: &Target, json: bool) -> Outcome {
    each_sealed(store, names, target, |bucket, name, keys| {
        let mut bar = UploadBar::new(name, json);
        let uploaded =
            upload_recording_with(store, name, bucket, keys, now_ns(), &mut |p| bar.update(p));
        bar.finish();
        let report = uploaded?;
        if json {
            println!("{}", json!(report));
        } else {
            let sent = report.chunks.iter().filter(|c| c.bytes_sent > 0).count();
            println!(
                "{name}: {} chunks, {sent} sent ({} bytes), manifest {:?}",
                report.chunks.len(),
                report.bytes_sent,
                report.manifest
            );
            for c in report.chunks.iter().filter(|c| c.reason.is_some()) {
                let reason = c.reason.as_deref().unwrap_or("");
                println!("  chunk {} {:?}: {reason}", c.index, c.action);
            }
        }
        Ok(report.complete())
    })
}

/// Reconciles every named recording (all sealed ones when none is named) with the bucket.
pub fn reconcile(store: &Store, names: &[String], target: &Target, json: bool) -> Outcome {
    each_sealed(store, names, target, |bucket, name, keys| {
        let report = reconcile_recording(store, name, bucket, keys, now_ns())?;
        if json {
            println!("{}", json!(report));
        } else {
            println!("{name}: manifest {:?}", report.manifest);
            for c in &report.chunks {
                println!(
                    "  chunk {}: local {:?}, remote {:?} -> {:?}",
                    c.index, c.local, c.remote, c.action
                );
            }
            for o in &report.orphans {
                println!("  orphan ({:?}): {} ({} bytes)", o.side, o.name, o.size);
            }
            if report.orphans_not_shown > 0 {
                println!("  and {} more orphans", report.orphans_not_shown);
            }
        }
        Ok(report.converged())
    })
}

/// Runs `each` on every named recording (all sealed ones when none is named), with the
/// bucket and the recording's keys; `each` says whether the recording came out whole.
fn each_sealed(
    store: &Store,
    names: &[String],
    target: &Target,
    mut each: impl FnMut(&S3Bucket, &str, &ObjectKeys) -> Result<bool, UploadError>,
) -> Outcome {
    let bucket = match target.bucket() {
        Ok(bucket) => bucket,
        Err(e) => return Outcome::Remote(e.to_string()),
    };
    let names = match sealed_or(store, names) {
        Ok(names) => names,
        Err(outcome) => return outcome,
    };
    let mut whole = true;
    for name in &names {
        let keys = match target.keys(store, name) {
            Ok(keys) => keys,
            Err(outcome) => return outcome,
        };
        match each(&bucket, name, &keys) {
            Ok(ok) => whole &= ok,
            Err(e) => return failed(name, e),
        }
    }
    if whole {
        Outcome::Ok
    } else {
        Outcome::Damaged
    }
}

/// `names`, or every sealed recording of the root when none is given.
fn sealed_or(store: &Store, names: &[String]) -> Result<Vec<String>, Outcome> {
    if !names.is_empty() {
        return Ok(names.to_vec());
    }
    match store.folders() {
        Ok(folders) => Ok(folders
            .into_iter()
            .filter(|f| f.manifest.is_some() && !f.active)
            .map(|f| f.name)
            .collect()),
        Err(e) => Err(Outcome::Unreadable(e.to_string())),
    }
}

/// Restores the named recordings, which this root lacks, from the bucket.
pub fn restore(store: &Store, names: &[String], target: &Target, json: bool) -> Outcome {
    let Some(origin) = &target.origin else {
        return Outcome::Unreadable("restore needs --origin (whose recordings)".to_owned());
    };
    let bucket = match target.bucket() {
        Ok(bucket) => bucket,
        Err(e) => return Outcome::Remote(e.to_string()),
    };
    let keys = match ObjectKeys::new(target.prefix.as_deref(), origin) {
        Ok(keys) => keys,
        Err(e) => return Outcome::Unreadable(e.to_string()),
    };
    for name in names {
        match restore_recording(store, name, &bucket, &keys) {
            Ok(report) if json => println!("{}", json!(report)),
            Ok(report) => println!("{name}: restored, {} chunks", report.chunks.len()),
            Err(e) => return failed(name, e),
        }
    }
    Outcome::Ok
}

fn failed(name: &str, e: UploadError) -> Outcome {
    if e.class == FailureClass::Terminal {
        Outcome::Unreadable(format!("{name}: {e}"))
    } else {
        Outcome::Remote(format!("{name}: {e}"))
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
