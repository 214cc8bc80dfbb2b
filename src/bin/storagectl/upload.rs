//! `storagectl upload`: sealed recordings to an S3-compatible bucket, as the library's
//! uploader sends them (same keys, checks and manifest marks).

use clap::Args;
use serde_json::json;
use storage::recording::upload::{
    upload_recording, FailureClass, ObjectKeys, S3Bucket, UploadOptions,
};
use storage::recording::{Manifest, Store};

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
}

impl Target {
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
    let env = |name: &str| std::env::var(name).ok();
    let bucket = match S3Bucket::new(&target.options(), &env) {
        Ok(bucket) => bucket,
        Err(e) => return Outcome::Remote(e.to_string()),
    };
    let names: Vec<String> = if names.is_empty() {
        match store.folders() {
            Ok(folders) => folders
                .into_iter()
                .filter(|f| f.manifest.is_some() && !f.active)
                .map(|f| f.name)
                .collect(),
            Err(e) => return Outcome::Unreadable(e.to_string()),
        }
    } else {
        names.to_vec()
    };
    let mut all_complete = true;
    for name in &names {
        let origin = match &target.origin {
            Some(origin) => origin.clone(),
            None => match store.existing(name).and_then(|f| Manifest::read(&f)) {
                Ok(manifest) => manifest.participant,
                Err(e) => return Outcome::Unreadable(e.to_string()),
            },
        };
        let keys = match ObjectKeys::new(target.prefix.as_deref(), &origin) {
            Ok(keys) => keys,
            Err(e) => return Outcome::Unreadable(e.to_string()),
        };
        let report = match upload_recording(store, name, &bucket, &keys, now_ns()) {
            Ok(report) => report,
            Err(e) if e.class == FailureClass::Terminal => {
                return Outcome::Unreadable(format!("{name}: {e}"))
            }
            Err(e) => return Outcome::Remote(format!("{name}: {e}")),
        };
        all_complete &= report.complete();
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
                println!(
                    "  chunk {} {:?}: {}",
                    c.index,
                    c.action,
                    c.reason.as_deref().unwrap_or("")
                );
            }
        }
    }
    if all_complete {
        Outcome::Ok
    } else {
        Outcome::Damaged
    }
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
