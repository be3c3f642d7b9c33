//! Request bodies and reading a whole body under a size limit: one reader for requests and for
//! answers.
//!
//! Owns: [`RequestBody`], the body every handler gets, which fails with
//! [`RequestBodyError::TimedOut`] once [`Limits::body_timeout`](super::Limits) has passed since
//! its head was handed over; refusing early on a declared length already over the limit,
//! enforcing the limit with `http_body_util::Limited` while collecting, and telling "too
//! large", "too slow" and "broken off" apart. Does not own: what the answer to a bad body is
//! (the service renders it), nor closing the connection after a 408 (`conn`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit (a request: answer 413).
    #[error("the body is larger than allowed")]
    TooLarge,
    /// Not all there by the body deadline (a request: answer 408).
    #[error("the body did not arrive in time")]
    TimedOut,
    /// The peer broke off or sent a malformed body (a request: answer 400); the text says how,
    /// and never holds body bytes.
    #[error("the body broke off: {0}")]
    Unreadable(String),
}

/// Why a [`RequestBody`] stopped short.
#[derive(Debug, thiserror::Error)]
pub enum RequestBodyError {
    /// The body was not complete by its deadline.
    #[error("the request body did not arrive within the body timeout")]
    TimedOut,
    /// The connection failed or the framing was malformed.
    #[error("the request body broke off")]
    Transport(#[source] hyper::Error),
}

pin_project_lite::pin_project! {
    /// A request body with a deadline: the body of every request a
    /// [`Handler`](super::Handler) gets. Frames are passed on as hyper delivers them; once the
    /// deadline has passed while the body is still incomplete, the next poll fails with
    /// [`RequestBodyError::TimedOut`].
    ///
    /// The timer costs nothing while the body keeps up: it lives inline (no allocation) and
    /// is made and registered only the first time a poll finds no frame ready, which a small
    /// body sent with its head over HTTP/1 never does; a complete body answers its end
    /// without polling hyper at all.
    #[derive(Debug)]
    pub struct RequestBody {
        inner: Incoming,
        deadline: Instant,
        #[pin]
        timer: Option<Sleep>,
    }
}

impl RequestBody {
    /// `inner` must be complete by `deadline`.
    pub(crate) fn new(inner: Incoming, deadline: Instant) -> Self {
        RequestBody {
            inner,
            deadline,
            timer: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        let mut this = self.project();
        // hyper's body of a known length says so as soon as its last byte is in; answering
        // here spares a poll that would wait for its connection task to close the channel.
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut *this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(RequestBodyError::Transport)));
        }
        if this.timer.is_none() {
            this.timer
                .set(Some(tokio::time::sleep_until(*this.deadline)));
        }
        match this.timer.as_pin_mut().map(|timer| timer.poll(cx)) {
            Some(Poll::Pending) => Poll::Pending,
            Some(Poll::Ready(())) | None => Poll::Ready(Some(Err(RequestBodyError::TimedOut))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
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
        Err(e) if matches!(e.downcast_ref(), Some(RequestBodyError::TimedOut)) => {
            Err(BodyError::TimedOut)
        }
        Err(e) => Err(BodyError::Unreadable(describe(e.as_ref()))),
    }
}

/// Reads a whole request body of at most `limit` bytes.
pub async fn read_body(body: RequestBody, limit: usize) -> Result<Bytes, BodyError> {
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
