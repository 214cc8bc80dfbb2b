//! An S3-compatible bucket, through `rusty-s3` (request signing, SigV4) and `ureq`
//! (blocking HTTP, rustls). Every object goes up with checksums the server verifies
//! (`Content-MD5`, which every S3 server checks, and `x-amz-checksum-sha256`, which
//! newer ones check too) and with its SHA-256 in the metadata (`x-amz-meta-sha256`), so
//! a later HEAD tells whether what is there is what we have. Nothing here deletes an
//! object.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest, Md5};
use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::config::{Secrets, UploadOptions};
use super::{FailureClass, UploadError};
use crate::recording::chain::decode_hash;

/// How long a signed request stays valid: longer than any single request takes.
const SIGNED_FOR: Duration = Duration::from_secs(15 * 60);
/// The most of an error answer's body read (for its S3 error code).
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// The most of a listing or multipart answer read.
const MAX_XML_BODY: u64 = 16 * 1024 * 1024;
/// Most objects a listing follows: far beyond one recording's chunks, and a bound on
/// what a server that keeps handing out pages can make us do.
const MAX_LISTED: u64 = 1_000_000;
/// The metadata key holding an object's SHA-256 (lower-case hex).
const SHA256_META: &str = "x-amz-meta-sha256";

/// What HEAD says of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// Its ETag, quotes removed.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 we stored with it, when we did.
    pub sha256: Option<String>,
}

/// One object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A bucket and the means to reach it.
pub struct S3Bucket {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
    part_size: u64,
    /// Set when the owner stops: a multipart upload ends before its next part.
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for S3Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("url", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl S3Bucket {
    /// The bucket `options` name, with credentials looked up through `env`.
    pub fn new(
        options: &UploadOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, UploadError> {
        let endpoint = options
            .endpoint
            .as_deref()
            .ok_or_else(|| UploadError::config("endpoint", "is required"))?;
        let endpoint = endpoint
            .parse()
            .map_err(|e| UploadError::config("endpoint", format!("not a URL: {e}")))?;
        let name = options
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| UploadError::config("bucket", "is required"))?;
        let region = options
            .region
            .clone()
            .or_else(|| env("AWS_REGION"))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let style = if options.path_style.unwrap_or(true) {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, name, region)
            .map_err(|e| UploadError::config("endpoint", e))?;
        let credentials = credentials(options.secrets(env)?);
        let timeout = Duration::from_millis(options.request_timeout_ms.unwrap_or(60_000).max(1));
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Ok(Self {
            bucket,
            credentials,
            agent,
            part_size: options.part_size()?,
            stop: Arc::default(),
        })
    }

    /// A flag that, once set, ends multipart uploads before their next part (aborted,
    /// a retryable failure), so that an owner stopping waits for at most one request.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// HEAD `key`: `None` when there is no such object.
    pub fn head(&self, key: &str) -> Result<Option<RemoteObject>, UploadError> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self
            .agent
            .head(url.as_str())
            .call()
            .map_err(|e| transport("head", key, e))?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            // A HEAD answer has no body to read a code from.
            return Err(UploadError::from_status(
                &format!("head `{key}`"),
                status,
                None,
            ));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Some(RemoteObject {
            etag: header("etag").map(unquote).unwrap_or_default(),
            size: header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            sha256: header(SHA256_META),
        }))
    }

    /// Uploads the file at `path`, whose SHA-256 is `sha256` (lower-case hex), as `key`:
    /// in one PUT up to the part size (read into memory for its `Content-MD5`), else in
    /// parts of that size, one in memory at a time. Returns the object's ETag.
    pub fn put_file(&self, key: &str, path: &Path, sha256: &str) -> Result<String, UploadError> {
        let raw_sha = decode_hash(sha256).ok_or_else(|| {
            UploadError::new(
                FailureClass::Terminal,
                format!("`{sha256}` is not a SHA-256"),
            )
        })?;
        let file = File::open(path).map_err(|e| local("open", path, e))?;
        let size = file.metadata().map_err(|e| local("stat", path, e))?.len();
        if size > self.part_size {
            return self.put_parts(key, file, sha256);
        }
        let mut body = Vec::with_capacity(size as usize);
        file.take(self.part_size)
            .read_to_end(&mut body)
            .map_err(|e| local("read", path, e))?;
        self.put(key, &body[..], Md5::digest(&body).into(), raw_sha, sha256)
    }

    /// Uploads `bytes` as `key` (a manifest, say), with the same checksums.
    pub fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<String, UploadError> {
        let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
        let sha_hex = crate::recording::chunk_writer::hex_lower(&sha);
        self.put(key, bytes, Md5::digest(bytes).into(), sha, &sha_hex)
    }

    /// One PUT of `body`, with its checksums signed and sent.
    fn put(
        &self,
        key: &str,
        body: impl ureq::AsSendBody,
        md5: [u8; 16],
        sha256: [u8; 32],
        sha256_hex: &str,
    ) -> Result<String, UploadError> {
        let headers = [
            ("content-md5", BASE64.encode(md5)),
            ("x-amz-checksum-sha256", BASE64.encode(sha256)),
            (SHA256_META, sha256_hex.to_owned()),
        ];
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        for (name, value) in &headers {
            action.headers_mut().insert(*name, value.clone());
        }
        let url = action.sign(SIGNED_FOR);
        let mut request = self.agent.put(url.as_str());
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        let response = request.send(body).map_err(|e| transport("put", key, e))?;
        etag_of(response, "put", key)
    }

    /// A multipart upload of `file`, each part with its own `Content-MD5`; aborted (the
    /// parts discarded; no object existed) when a part fails.
    fn put_parts(&self, key: &str, mut file: File, sha256: &str) -> Result<String, UploadError> {
        let mut create = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key);
        create.headers_mut().insert(SHA256_META, sha256.to_owned());
        let url = create.sign(SIGNED_FOR);
        let response = self
            .agent
            .post(url.as_str())
            .header(SHA256_META, sha256)
            .send_empty()
            .map_err(|e| transport("start multipart upload of", key, e))?;
        let body = xml_body(response, "start multipart upload of", key)?;
        let created = CreateMultipartUpload::parse_response(&body)
            .map_err(|e| unreadable("start multipart upload of", key, e))?;
        let upload_id = created.upload_id().to_owned();
        let result = self.send_parts(key, &mut file, &upload_id);
        if result.is_err() {
            let abort = self
                .bucket
                .abort_multipart_upload(Some(&self.credentials), key, &upload_id)
                .sign(SIGNED_FOR);
            // Best effort: a stale multipart upload holds no object and expires by policy.
            let _ = self.agent.delete(abort.as_str()).call();
        }
        result
    }

    fn send_parts(
        &self,
        key: &str,
        file: &mut File,
        upload_id: &str,
    ) -> Result<String, UploadError> {
        let mut part = Vec::with_capacity(self.part_size as usize);
        let mut etags = Vec::new();
        for number in 1u16.. {
            if self.stop.load(Ordering::SeqCst) {
                return Err(UploadError::new(
                    FailureClass::Retryable,
                    format!("upload of `{key}` interrupted: stopping"),
                ));
            }
            part.clear();
            let read = file
                .by_ref()
                .take(self.part_size)
                .read_to_end(&mut part)
                .map_err(|e| UploadError::new(FailureClass::Retryable, format!("read: {e}")))?;
            if read == 0 && number > 1 {
                break;
            }
            let md5 = BASE64.encode(Md5::digest(&part));
            let mut action =
                self.bucket
                    .upload_part(Some(&self.credentials), key, number, upload_id);
            action.headers_mut().insert("content-md5", md5.clone());
            let url = action.sign(SIGNED_FOR);
            let response = self
                .agent
                .put(url.as_str())
                .header("content-md5", md5)
                .send(&part[..])
                .map_err(|e| transport("upload part of", key, e))?;
            etags.push(etag_of(response, "upload part of", key)?);
            if (read as u64) < self.part_size {
                break;
            }
        }
        let complete = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let body = complete.body();
        let response = self
            .agent
            .post(url.as_str())
            .send(body.as_bytes())
            .map_err(|e| transport("complete multipart upload of", key, e))?;
        let answer = xml_body(response, "complete multipart upload of", key)?;
        // S3 may answer 200 with an error document.
        if let Some(code) = error_code(&answer) {
            return Err(UploadError::from_status(
                &format!("complete multipart upload of `{key}`"),
                500,
                Some(&code),
            ));
        }
        Ok(tag_text(&answer, "ETag").map(unquote).unwrap_or_default())
    }

    /// Downloads `key` into a new file at `path` (streamed), returning its size; an
    /// object longer than `max_bytes` is refused part-way (the bytes written so far stay
    /// in the file, for the caller to remove).
    pub fn download(&self, key: &str, path: &Path, max_bytes: u64) -> Result<u64, UploadError> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let mut response = self
            .agent
            .get(url.as_str())
            .call()
            .map_err(|e| transport("get", key, e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BODY)
                .read_to_string()
                .unwrap_or_default();
            let what = format!("get `{key}`");
            return Err(UploadError::from_status(
                &what,
                status,
                error_code(&body).as_deref(),
            ));
        }
        let mut file = File::create(path).map_err(|e| local("create", path, e))?;
        let body = response.body_mut().with_config().limit(u64::MAX).reader();
        let copied = std::io::copy(&mut body.take(max_bytes.saturating_add(1)), &mut file)
            .map_err(|e| UploadError::new(FailureClass::Retryable, format!("get `{key}`: {e}")))?;
        if copied > max_bytes {
            return Err(UploadError::new(
                FailureClass::Terminal,
                format!("`{key}` is longer than the {max_bytes} bytes expected"),
            ));
        }
        Ok(copied)
    }

    /// Creates the bucket (for tests and first-time set-up); an existing bucket of ours
    /// is fine.
    pub fn create_bucket(&self) -> Result<(), UploadError> {
        let action = self.bucket.create_bucket(&self.credentials);
        let url = action.sign(SIGNED_FOR);
        let body = action.body();
        let response = self
            .agent
            .put(url.as_str())
            .send(body.as_bytes())
            .map_err(|e| transport("create bucket", self.bucket.name(), e))?;
        match xml_body(response, "create bucket", self.bucket.name()) {
            Ok(_) => Ok(()),
            Err(e) if e.message.contains("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Tells `each` every object whose key starts with `prefix`, a page at a time (never
    /// the whole listing in memory); a listing past `MAX_LISTED` objects, or one whose
    /// pages do not move on, is refused rather than followed for ever.
    pub fn list_each(
        &self,
        prefix: &str,
        each: &mut dyn FnMut(ListedObject),
    ) -> Result<(), UploadError> {
        let mut token: Option<String> = None;
        let mut seen = 0u64;
        loop {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(token) = &token {
                action.with_continuation_token(token.clone());
            }
            let url = action.sign(SIGNED_FOR);
            let response = self
                .agent
                .get(url.as_str())
                .call()
                .map_err(|e| transport("list", prefix, e))?;
            let body = xml_body(response, "list", prefix)?;
            let page =
                ListObjectsV2::parse_response(&body).map_err(|e| unreadable("list", prefix, e))?;
            seen += page.contents.len() as u64;
            if seen > MAX_LISTED {
                return Err(UploadError::new(
                    FailureClass::Terminal,
                    format!("list `{prefix}`: more than {MAX_LISTED} objects"),
                ));
            }
            for object in page.contents {
                each(ListedObject {
                    key: object.key,
                    size: object.size.unwrap_or(0),
                });
            }
            match page.next_continuation_token {
                Some(next) if token.as_ref() != Some(&next) => token = Some(next),
                _ => return Ok(()),
            }
        }
    }
}

fn credentials(secrets: Secrets) -> Credentials {
    match &secrets.session_token {
        Some(token) => Credentials::new_with_token(
            secrets.access_key_id.clone(),
            secrets.secret_access_key.as_str(),
            token.as_str(),
        ),
        None => Credentials::new(
            secrets.access_key_id.clone(),
            secrets.secret_access_key.as_str(),
        ),
    }
}

/// A failure to reach the server (or a timeout): worth retrying.
fn transport(what: &str, key: &str, error: ureq::Error) -> UploadError {
    UploadError::new(FailureClass::Retryable, format!("{what} `{key}`: {error}"))
}

/// An answer that does not parse: a proxy or a server in trouble; worth retrying.
fn unreadable(what: &str, key: &str, error: impl std::fmt::Display) -> UploadError {
    UploadError::new(
        FailureClass::Retryable,
        format!("{what} `{key}`: unreadable answer: {error}"),
    )
}

fn local(action: &str, path: &Path, error: std::io::Error) -> UploadError {
    UploadError::new(
        FailureClass::Terminal,
        format!(
            "cannot {action} `{}`: {error}",
            crate::shorten::shorten_path(path)
        ),
    )
}

/// The ETag of a successful answer, or the classified failure.
fn etag_of(
    mut response: ureq::http::Response<ureq::Body>,
    what: &str,
    key: &str,
) -> Result<String, UploadError> {
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(unquote)
            .unwrap_or_default());
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_string()
        .unwrap_or_default();
    Err(UploadError::from_status(
        &format!("{what} `{key}`"),
        status,
        error_code(&body).as_deref(),
    ))
}

/// The body of a successful XML answer, or the classified failure.
fn xml_body(
    mut response: ureq::http::Response<ureq::Body>,
    what: &str,
    key: &str,
) -> Result<String, UploadError> {
    let status = response.status().as_u16();
    let limit = if (200..300).contains(&status) {
        MAX_XML_BODY
    } else {
        MAX_ERROR_BODY
    };
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| transport(what, key, e))?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(UploadError::from_status(
            &format!("{what} `{key}`"),
            status,
            error_code(&body).as_deref(),
        ))
    }
}

/// The `<Code>` of an S3 error document.
fn error_code(body: &str) -> Option<String> {
    body.contains("<Error")
        .then(|| tag_text(body, "Code"))
        .flatten()
        .map(str::to_owned)
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn tag_text<'x>(xml: &'x str, tag: &str) -> Option<&'x str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..start + len])
}

fn unquote(etag: impl AsRef<str>) -> String {
    etag.as_ref()
        .trim_matches('"')
        .replace("&quot;", "")
        .replace("&#34;", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_documents_are_read_for_their_code() {
        let body =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>x</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchBucket"));
        assert_eq!(error_code("<ListBucketResult><Code>x</Code>"), None);
        assert_eq!(error_code("<Error><Code>unterminated"), None);
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("&quot;abc&quot;"), "abc");
    }
}
