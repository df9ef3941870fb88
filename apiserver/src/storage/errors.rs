//! Storage errors. The apiserver maps each to a `Status` in one place (`crate::errors`).

/// What can go wrong talking to storage.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No object under the key.
    #[error("key not found: {key}")]
    NotFound { key: String },
    /// A create found the key taken.
    #[error("key exists: {key}")]
    AlreadyExists { key: String },
    /// A compare-and-swap found a newer revision.
    #[error("revision mismatch for {key}")]
    Conflict { key: String },
    /// A delete or update precondition (uid, resourceVersion) did not hold.
    #[error("{message}")]
    PreconditionFailed { key: String, message: String },
    /// The requested revision has been compacted (watch, exact list) or left the watch cache.
    #[error("too old resource version: {requested} ({oldest})")]
    TooOldResourceVersion { requested: i64, oldest: i64 },
    /// A continue token points at a compacted revision. Carries a token that continues the
    /// list at the latest revision, for clients willing to accept an inconsistent list.
    #[error("continue token expired")]
    ContinueExpired {
        inconsistent_continue: Option<String>,
    },
    /// A continue token that does not decode.
    #[error("{0}")]
    InvalidContinue(String),
    /// The cache did not reach the requested revision in time.
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLargeResourceVersion { requested: i64, current: i64 },
    /// Stored bytes that do not decode.
    #[error("corrupt object at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// etcd could not be reached or answered with an error.
    #[error("etcd: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<etcd_client::Error> for Error {
    fn from(e: etcd_client::Error) -> Self {
        let text = e.to_string();
        if text.contains("required revision has been compacted") {
            return Error::TooOldResourceVersion {
                requested: 0,
                oldest: 0,
            };
        }
        Error::Unavailable(text)
    }
}
