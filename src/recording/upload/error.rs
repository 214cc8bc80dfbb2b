//! Why an upload failed, and what an uploader should do about it.

use thiserror::Error;

/// What a failure means for the queue of uploads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// Try again later (network, timeouts, 5xx, throttling, a checksum the server
    /// computed differently in transit).
    Retryable,
    /// This object will never go up as it is (a corrupt local file, a request refused
    /// for its content).
    Terminal,
    /// Nothing will go up until the configuration or the bucket is fixed (missing
    /// bucket, bad credentials, access denied): pause the whole queue.
    Pause,
}

/// An upload's failure. The message never holds a credential.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{message}")]
pub struct UploadError {
    /// What to do about it.
    pub class: FailureClass,
    /// What failed, and where.
    pub message: String,
}

impl UploadError {
    /// A configuration key is malformed.
    pub fn config(key: &str, reason: impl std::fmt::Display) -> Self {
        Self::new(
            FailureClass::Pause,
            format!("invalid upload option `{key}`: {reason}"),
        )
    }

    /// An error of `class`.
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }

    /// Classifies the server's answer `status` (with its S3 error `code`, if the body
    /// had one) to `what`.
    pub fn from_status(what: &str, status: u16, code: Option<&str>) -> Self {
        let class = match (status, code) {
            (_, Some("NoSuchBucket" | "InvalidAccessKeyId" | "SignatureDoesNotMatch"))
            | (_, Some("AccessDenied" | "ExpiredToken" | "InvalidToken" | "AllAccessDisabled"))
            | (401 | 403, _) => FailureClass::Pause,
            (_, Some("BadDigest" | "XAmzContentSHA256Mismatch" | "InvalidDigest")) => {
                FailureClass::Retryable
            }
            (408 | 429 | 500..=599, _) => FailureClass::Retryable,
            (_, Some("RequestTimeout" | "SlowDown" | "InternalError")) => FailureClass::Retryable,
            _ => FailureClass::Terminal,
        };
        let code = code.map_or(String::new(), |c| format!(" ({c})"));
        Self::new(class, format!("{what}: the server answered {status}{code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_answers_are_classified() {
        let class = |status, code| UploadError::from_status("put", status, code).class;
        assert_eq!(class(404, Some("NoSuchBucket")), FailureClass::Pause);
        assert_eq!(
            class(403, Some("SignatureDoesNotMatch")),
            FailureClass::Pause
        );
        assert_eq!(class(403, None), FailureClass::Pause);
        assert_eq!(class(503, Some("SlowDown")), FailureClass::Retryable);
        assert_eq!(class(400, Some("BadDigest")), FailureClass::Retryable);
        assert_eq!(class(400, Some("RequestTimeout")), FailureClass::Retryable);
        assert_eq!(class(400, Some("EntityTooLarge")), FailureClass::Terminal);
        assert_eq!(
            UploadError::from_status("put `k`", 500, None).message,
            "put `k`: the server answered 500"
        );
    }
}
