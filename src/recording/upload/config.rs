//! The `upload` options: where recordings go (an S3-compatible bucket) and with which
//! credentials. Secrets come from the options, from environment variables the options
//! name, from a file, or from the usual `AWS_*` variables; they are never printed
//! (`Debug` redacts them) and are zeroed when dropped.

use std::path::PathBuf;

use serde::{Deserialize, Serialize, Serializer};
use zeroize::Zeroizing;

use super::UploadError;
use crate::recording::options::read_options;

/// Smallest part S3 accepts in a multipart upload (but the last).
pub(crate) const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// Default multipart part size: the memory an upload holds at a time.
pub(crate) const DEFAULT_PART_BYTES: u64 = 16 * 1024 * 1024;

/// Most recordings a context's uploader sends at once.
pub(crate) const MAX_CONCURRENCY: u32 = 16;

/// The `upload` options document, every key optional but `endpoint` and `bucket`. As a
/// context's `upload` section it also starts the background uploader (the last four
/// keys are its own). Serialized (a configuration echoed), secrets read `"(redacted)"`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub struct UploadOptions {
    /// The S3 endpoint URL (`https://s3.eu-west-1.amazonaws.com`,
    /// `http://127.0.0.1:8333`, ...).
    pub endpoint: Option<String>,
    /// The bucket.
    pub bucket: Option<String>,
    /// The region (default: `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// Key prefix before `{origin}/` (default: none).
    pub prefix: Option<String>,
    /// Path-style addressing (`{endpoint}/{bucket}/{key}`, the default, which every
    /// server and IP endpoints take); `false` for virtual-host style.
    pub path_style: Option<bool>,
    /// The key part naming this machine (default: the context's participant id).
    pub origin: Option<String>,
    /// Access key id (default: the variable `access_key_id_env` names, else
    /// `AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (default: the variable `secret_access_key_env` names, the file
    /// `secret_access_key_file` names, else `AWS_SECRET_ACCESS_KEY`).
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    #[serde(serialize_with = "redacted")]
    pub secret_access_key: Option<Zeroizing<String>>,
    /// Session token (default: the variable `session_token_env` names, else
    /// `AWS_SESSION_TOKEN`, else none).
    #[cfg_attr(test, schemars(with = "Option<String>"))]
    #[serde(serialize_with = "redacted")]
    pub session_token: Option<Zeroizing<String>>,
    /// Environment variable holding the access key id.
    pub access_key_id_env: Option<String>,
    /// Environment variable holding the secret access key.
    pub secret_access_key_env: Option<String>,
    /// File holding the secret access key (surrounding white space ignored).
    pub secret_access_key_file: Option<PathBuf>,
    /// Environment variable holding the session token.
    pub session_token_env: Option<String>,
    /// Files larger than this go up in parts of this size, one part in memory at a
    /// time (default 16 MiB, at least 5 MiB).
    pub part_size_bytes: Option<u64>,
    /// Time allowed for one request, in ms (default 60 000).
    pub request_timeout_ms: Option<u64>,
    /// Background uploader: recordings sent at once, each one chunk at a time in index
    /// order (1 to 16, default 2); memory held is at most this many parts.
    pub concurrency: Option<u32>,
    /// Background uploader: the first wait after a failure, in ms (default 1 000); each
    /// failure in a row doubles it, a success resets it. One wait for the whole queue.
    pub retry_initial_ms: Option<u64>,
    /// Background uploader: the longest wait, in ms (default 300 000); also how often a
    /// paused queue tries again.
    pub retry_max_ms: Option<u64>,
    /// Background uploader: a chunk that keeps failing this long, in ms, goes to the
    /// dead-letter list (default 86 400 000, a day); one the bucket refuses for its
    /// content, or whose file is corrupt, goes there at once.
    pub dead_letter_after_ms: Option<u64>,
}

/// How the background uploader retries, from the options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Recordings sent at once.
    pub concurrency: u32,
    /// First wait after a failure, ms.
    pub initial_ms: u64,
    /// Longest wait, ms.
    pub max_ms: u64,
    /// Time a chunk may keep failing before it is dead-lettered, ms.
    pub dead_letter_after_ms: u64,
}

fn redacted<S: Serializer>(value: &Option<Zeroizing<String>>, out: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => out.serialize_str("(redacted)"),
        None => out.serialize_none(),
    }
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Resolved credentials: the secret and the token are zeroed when dropped.
pub struct Secrets {
    /// Access key id (not secret, but kept with the rest).
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token, if any.
    pub session_token: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl UploadOptions {
    /// Reads the options document (empty: all unset); errors name the key.
    pub fn from_json(text: &str) -> Result<Self, UploadError> {
        read_options(text).map_err(|e| UploadError::new(super::FailureClass::Pause, e.to_string()))
    }

    /// The background uploader's policy, checked: the error names the key.
    pub fn retry_policy(&self) -> Result<RetryPolicy, UploadError> {
        let concurrency = self.concurrency.unwrap_or(2);
        if !(1..=MAX_CONCURRENCY).contains(&concurrency) {
            return Err(UploadError::config(
                "concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let positive = |key: &str, value: Option<u64>, default: u64| match value {
            Some(0) => Err(UploadError::config(key, "must be greater than 0")),
            value => Ok(value.unwrap_or(default)),
        };
        let initial_ms = positive("retry_initial_ms", self.retry_initial_ms, 1_000)?;
        let max_ms = positive("retry_max_ms", self.retry_max_ms, 300_000)?;
        if max_ms < initial_ms {
            return Err(UploadError::config(
                "retry_max_ms",
                "must be at least retry_initial_ms",
            ));
        }
        Ok(RetryPolicy {
            concurrency,
            initial_ms,
            max_ms,
            dead_letter_after_ms: positive(
                "dead_letter_after_ms",
                self.dead_letter_after_ms,
                86_400_000,
            )?,
        })
    }

    /// The multipart part size, checked against S3's minimum.
    pub fn part_size(&self) -> Result<u64, UploadError> {
        match self.part_size_bytes {
            None => Ok(DEFAULT_PART_BYTES),
            Some(n) if n >= MIN_PART_BYTES => Ok(n),
            Some(_) => Err(UploadError::config(
                "part_size_bytes",
                format!("must be at least {MIN_PART_BYTES} (S3's smallest part)"),
            )),
        }
    }

    /// The credentials, looked up in the documented order through `env` (the process
    /// environment, or a test's).
    pub fn secrets(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Secrets, UploadError> {
        let from_env = |named: &Option<String>, default: &str| {
            env(named.as_deref().unwrap_or(default)).filter(|v| !v.is_empty())
        };
        let access_key_id = self
            .access_key_id
            .clone()
            .or_else(|| from_env(&self.access_key_id_env, "AWS_ACCESS_KEY_ID"))
            .ok_or_else(|| missing("access_key_id", "AWS_ACCESS_KEY_ID"))?;
        let secret = match (&self.secret_access_key, &self.secret_access_key_file) {
            (Some(secret), _) => Some(secret.clone()),
            (None, Some(path)) => Some(read_secret_file(path)?),
            (None, None) => {
                from_env(&self.secret_access_key_env, "AWS_SECRET_ACCESS_KEY").map(Zeroizing::new)
            }
        };
        let secret_access_key =
            secret.ok_or_else(|| missing("secret_access_key", "AWS_SECRET_ACCESS_KEY"))?;
        let session_token = self
            .session_token
            .clone()
            .or_else(|| from_env(&self.session_token_env, "AWS_SESSION_TOKEN").map(Zeroizing::new));
        Ok(Secrets {
            access_key_id,
            secret_access_key,
            session_token,
        })
    }
}

fn missing(key: &str, variable: &str) -> UploadError {
    UploadError::config(
        key,
        format!("no credentials: set `{key}`, or the variable {variable}"),
    )
}

fn read_secret_file(path: &std::path::Path) -> Result<Zeroizing<String>, UploadError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
        UploadError::config(
            "secret_access_key_file",
            format!("cannot read `{}`: {e}", crate::shorten::shorten_path(path)),
        )
    })?);
    Ok(Zeroizing::new(text.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn credentials_come_from_options_then_named_variables_then_aws_variables() {
        let aws = env(&[
            ("AWS_ACCESS_KEY_ID", "aws-id"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("MY_SECRET", "mine"),
        ]);
        let plain = UploadOptions::from_json("{}").expect("options");
        let s = plain.secrets(&aws).expect("secrets");
        assert_eq!(
            (s.access_key_id.as_str(), s.secret_access_key.as_str()),
            ("aws-id", "aws-secret")
        );
        assert!(s.session_token.is_none());

        let named =
            UploadOptions::from_json(r#"{"secret_access_key_env":"MY_SECRET"}"#).expect("options");
        assert_eq!(
            named
                .secrets(&aws)
                .expect("secrets")
                .secret_access_key
                .as_str(),
            "mine"
        );

        let given = UploadOptions::from_json(r#"{"access_key_id":"a","secret_access_key":"b"}"#)
            .expect("options");
        let s = given.secrets(&env(&[])).expect("secrets");
        assert_eq!(
            (s.access_key_id.as_str(), s.secret_access_key.as_str()),
            ("a", "b")
        );

        let err = plain.secrets(&env(&[])).expect_err("none anywhere");
        assert!(err.message.contains("AWS_ACCESS_KEY_ID"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let options = UploadOptions::from_json(
            r#"{"access_key_id":"id-1","secret_access_key":"s3cr3t","session_token":"t0k3n"}"#,
        )
        .expect("options");
        let secrets = options.secrets(&env(&[])).expect("secrets");
        let echoed = serde_json::to_string(&options).expect("options serialize");
        assert!(
            echoed.contains(r#""secret_access_key":"(redacted)""#),
            "{echoed}"
        );
        for shown in [format!("{options:?}"), format!("{secrets:?}"), echoed] {
            assert!(
                !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
                "{shown}"
            );
        }
    }

    #[test]
    fn bad_options_name_the_key() {
        let err = UploadOptions::from_json(r#"{"bucket":"b","secret":"x"}"#).expect_err("unknown");
        assert!(err.message.contains("secret"), "{err}");
        for (text, key) in [
            (r#"{"concurrency":0}"#, "concurrency"),
            (r#"{"concurrency":17}"#, "concurrency"),
            (r#"{"retry_initial_ms":0}"#, "retry_initial_ms"),
            (
                r#"{"retry_initial_ms":10,"retry_max_ms":5}"#,
                "retry_max_ms",
            ),
            (r#"{"dead_letter_after_ms":0}"#, "dead_letter_after_ms"),
        ] {
            let options = UploadOptions::from_json(text).expect("options");
            let err = options.retry_policy().expect_err(text);
            assert!(err.message.contains(key), "{err}");
        }
        let policy = UploadOptions::default().retry_policy().expect("defaults");
        assert_eq!((policy.concurrency, policy.initial_ms), (2, 1_000));
        let small = UploadOptions::from_json(r#"{"part_size_bytes":1024}"#).expect("options");
        assert!(small
            .part_size()
            .expect_err("too small")
            .message
            .contains("part_size_bytes"));
    }
}
