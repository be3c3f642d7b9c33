//! Reading a whole body under a size limit: one reader for requests and for answers.
//!
//! Owns: refusing early on a declared length already over the limit, enforcing the limit with
//! `http_body_util::Limited` while collecting, and telling "too large" apart from "broken off".
//! Does not own: what the answer to a bad body is (the service renders it).

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit (a request: answer 413).
    #[error("the body is larger than allowed")]
    TooLarge,
    /// The peer broke off or sent a malformed body (a request: answer 400); the text says how,
    /// and never holds body bytes.
    #[error("the body broke off: {0}")]
    Unreadable(String),
}

/// Reads all of `body`, at most `limit` bytes.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Unreadable(describe(e.as_ref()))),
    }
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    read_limited(body, limit).await
}

/// An error and its causes on one line: hyper's outer errors alone say little.
pub(crate) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(e) = current {
        let cause = e.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        current = e.source();
    }
    text
}
