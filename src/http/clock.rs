//! The clock of one connection: what its timers (in `conn`) read, and the evidence they need.
//!
//! Owns: [`ConnClock`] (requests in flight, when idleness began, when a request head began),
//! the [`InFlight`] guard that marks a request answered, and [`ClockedIo`], the TLS stream
//! that notes when an HTTP/1 head starts arriving. Does not own: the timers themselves or
//! what happens when one fires (`conn`).
//!
//! A head timer must also run for a head that hyper holds in its buffer, unparsed, when a
//! request completes: the start of a pipelined request, read while the one before it was in
//! flight. hyper does not show its buffer, so [`ClockedIo`] gathers the evidence itself, for
//! HTTP/1 only: it scans the bytes read since the last completed request for the end of the
//! first head (`\n`, an optional `\r`, `\n`: this covers `\r\n\r\n` and bare-LF heads), and
//! after it only counts bytes. When the request completes, its head and body account for
//! every byte read only if the scan began at that request's first byte, found its head's end,
//! and the bytes after it are exactly its declared body (`Content-Length`). Anything else (more
//! bytes, a chunked body whose length on the wire is unknown, a request parsed from hyper's
//! buffer with no read of its own, a scan that began inside an earlier request) may leave a
//! next head behind: the head timer starts at once. A body holding `\r\n\r\n` cannot hide a
//! head, as only the first head end is looked for and every byte after it is counted. The
//! price of erring that way: a connection that once pipelined (or sent a chunked body) is
//! closed after the head timeout, not the idle timeout, when it next falls idle.
//!
//! The scan stops at the first head end, a few hundred bytes per request; the rest is one
//! addition per read. Reads and completions of an HTTP/1 connection happen on its one task
//! (hyper polls an HTTP/1 handler inline), so the atomics here are never contended.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// `head_started_ms` when no request head is on its way.
pub(super) const NO_HEAD: u64 = u64::MAX;
/// `body_len` of a request whose body length on the wire is not known (chunked).
const UNKNOWN_BODY: u64 = u64::MAX;
/// `scan` once the end of a head has been found.
const HEAD_END_FOUND: u8 = u8::MAX;

/// Per-connection clock shared by the IO wrapper, the service wrapper and the watcher loop.
pub(super) struct ConnClock {
    origin: Instant,
    /// HTTP/1: heads are timed and the pipelining evidence is gathered.
    http1: bool,
    /// Requests handed to the service and not yet answered.
    pub(super) in_flight: AtomicU32,
    /// When the last request was answered (ms since `origin`): the start of idleness.
    pub(super) last_done_ms: AtomicU64,
    /// When the first byte of a not-yet-complete HTTP/1 request head arrived (or when a
    /// request completed with a next head possibly buffered), or `NO_HEAD`.
    pub(super) head_started_ms: AtomicU64,
    /// Wakes the connection's watcher when a head starts, so it arms the head timer at once
    /// instead of at its next idle deadline.
    pub(super) head_started: Notify,
    /// The head-end scanner's state since the last completed request: the partial match
    /// (0 none, 1 after `\n`, 2 after `\n\r`) or `HEAD_END_FOUND`.
    scan: AtomicU8,
    /// Bytes read after the head end found, since the last completed request.
    after_head: AtomicU64,
    /// The body length of the request in flight, or `UNKNOWN_BODY`.
    body_len: AtomicU64,
    /// Whether the bytes read since the last completed request began at a request's first
    /// byte: true at the start and after every completion that accounted for every byte.
    aligned: AtomicBool,
}

impl ConnClock {
    pub(super) fn new(http1: bool) -> Self {
        ConnClock {
            origin: Instant::now(),
            http1,
            in_flight: AtomicU32::new(0),
            last_done_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NO_HEAD),
            head_started: Notify::new(),
            scan: AtomicU8::new(0),
            after_head: AtomicU64::new(0),
            body_len: AtomicU64::new(UNKNOWN_BODY),
            aligned: AtomicBool::new(true),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    /// A request was handed to the service; `body_len` is its exact body length, if known.
    pub(super) fn request_started(self: &Arc<Self>, body_len: Option<u64>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started_ms.store(NO_HEAD, Ordering::Relaxed);
        if self.http1 {
            let len = body_len.unwrap_or(UNKNOWN_BODY);
            self.body_len.store(len, Ordering::Relaxed);
        }
        InFlight(self.clone())
    }

    fn start_head_timer(&self, now: u64) {
        self.head_started_ms.store(now, Ordering::Relaxed);
        self.head_started.notify_one();
    }

    /// Plaintext bytes read from the peer (HTTP/1 only).
    fn bytes_read(&self, bytes: &[u8]) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started_ms.load(Ordering::Relaxed) == NO_HEAD
        {
            self.start_head_timer(self.now_ms());
        }
        let mut scan = self.scan.load(Ordering::Relaxed);
        let after = if scan == HEAD_END_FOUND {
            bytes.len()
        } else {
            let Some(end) = find_head_end(&mut scan, bytes) else {
                self.scan.store(scan, Ordering::Relaxed);
                return;
            };
            self.scan.store(HEAD_END_FOUND, Ordering::Relaxed);
            bytes.len() - end
        };
        let total = self.after_head.load(Ordering::Relaxed);
        self.after_head
            .store(total.saturating_add(after as u64), Ordering::Relaxed);
    }

    /// A request's future ended, answered or dropped.
    fn request_done(&self) {
        let now = self.now_ms();
        self.last_done_ms.store(now, Ordering::Relaxed);
        if self.http1 {
            let head_ended = self.scan.swap(0, Ordering::Relaxed) == HEAD_END_FOUND;
            let after = self.after_head.swap(0, Ordering::Relaxed);
            let body_len = self.body_len.swap(UNKNOWN_BODY, Ordering::Relaxed);
            let accounted = self.aligned.load(Ordering::Relaxed)
                && head_ended
                && body_len != UNKNOWN_BODY
                && after == body_len;
            self.aligned.store(accounted, Ordering::Relaxed);
            if !accounted {
                // A next head may be waiting in hyper's buffer: time it from now.
                self.start_head_timer(now);
            }
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Marks its request answered when the request's future ends, answered or dropped.
pub(super) struct InFlight(Arc<ConnClock>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// Finds the end of an HTTP/1 head in `bytes`: the offset just past `\n` `\r`? `\n`.
/// `state` carries a partial match from one read to the next (0 none, 1 after `\n`, 2 after
/// `\n\r`).
fn find_head_end(state: &mut u8, bytes: &[u8]) -> Option<usize> {
    let &last = bytes.last()?;
    // Only a line feed can end a head: jump from one to the next (memchr reads a word or a
    // vector at a time; a head is a few hundred bytes and a handful of lines) and look back at
    // what came before it, in this read or, at its start, in `state`.
    let carried = *state;
    let before = |i: usize| -> u8 {
        // The state the byte-by-byte automaton is in just before `bytes[i]`, given that no
        // head end was found before `i`.
        match i.checked_sub(1).map(|j| bytes[j]) {
            None => carried,
            Some(b'\n') => 1,
            Some(b'\r') => match i.checked_sub(2).map(|j| bytes[j]) {
                None if carried == 1 => 2,
                Some(b'\n') => 2,
                _ => 0,
            },
            Some(_) => 0,
        }
    };
    for i in memchr::memchr_iter(b'\n', bytes) {
        if matches!(before(i), 1 | 2) {
            *state = 0;
            return Some(i + 1);
        }
    }
    *state = match last {
        b'\n' => 1,
        b'\r' if before(bytes.len() - 1) == 1 => 2,
        _ => 0,
    };
    None
}

/// The TLS stream, noting for HTTP/1 when a request head starts arriving and what was read
/// after it (see the module doc).
pub(super) struct ClockedIo<T> {
    pub(super) inner: T,
    pub(super) clock: Arc<ConnClock>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ClockedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if self.clock.http1 && !read.is_empty() {
            self.clock.bytes_read(read);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ClockedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The automaton [`find_head_end`] shortcuts, a byte at a time.
    fn head_end_byte_by_byte(state: &mut u8, bytes: &[u8]) -> Option<usize> {
        for (i, &byte) in bytes.iter().enumerate() {
            *state = match (byte, *state) {
                (b'\n', 1 | 2) => {
                    *state = 0;
                    return Some(i + 1);
                }
                (b'\n', _) => 1,
                (b'\r', 1) => 2,
                _ => 0,
            };
        }
        None
    }

    proptest! {
        // Same answer and same carried state as the byte-by-byte automaton, for any bytes
        // (drawn mostly from the characters that matter) and any state carried in.
        #[test]
        fn the_scan_agrees_with_the_automaton(
            bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a'), any::<u8>()], 0..40),
            carried in 0u8..3,
        ) {
            let (mut ours, mut theirs) = (carried, carried);
            prop_assert_eq!(find_head_end(&mut ours, &bytes), head_end_byte_by_byte(&mut theirs, &bytes));
            prop_assert_eq!(ours, theirs);
        }
    }

    /// Where the first head ends when `stream` arrives in `reads` pieces of these sizes.
    fn head_end_in_pieces(stream: &[u8], sizes: &[usize]) -> Option<usize> {
        let mut state = 0;
        let mut offset = 0;
        for &size in sizes {
            let piece = &stream[offset..(offset + size).min(stream.len())];
            if let Some(end) = find_head_end(&mut state, piece) {
                return Some(offset + end);
            }
            offset += piece.len();
        }
        None
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line_crlf_or_bare_lf() {
        let crlf = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody";
        assert_eq!(find_head_end(&mut 0, crlf), Some(crlf.len() - 4));
        let lf = b"GET / HTTP/1.1\nHost: x\n\nbody";
        assert_eq!(find_head_end(&mut 0, lf), Some(lf.len() - 4));
        let mixed = b"GET / HTTP/1.1\r\nHost: x\n\r\nbody";
        assert_eq!(find_head_end(&mut 0, mixed), Some(mixed.len() - 4));
        // Line ends alone, or a carriage return that is not followed by a line feed, are not
        // an empty line.
        assert_eq!(
            find_head_end(&mut 0, b"GET / HTTP/1.1\r\nHost: x\r\n"),
            None
        );
        assert_eq!(find_head_end(&mut 0, b"a\n\r\rb\n"), None);
    }

    #[test]
    fn a_head_end_split_across_reads_is_found_at_its_place() {
        let stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
        let end = stream.len() - 9;
        for split in 1..stream.len() {
            assert_eq!(
                head_end_in_pieces(stream, &[split, stream.len()]),
                Some(end),
                "split at {split}"
            );
        }
        assert_eq!(head_end_in_pieces(stream, &[1; 64]), Some(end));
    }

    fn clock_after(reads: &[&[u8]], body_len: Option<u64>) -> Arc<ConnClock> {
        let clock = Arc::new(ConnClock::new(true));
        let guard = clock.request_started(body_len);
        for read in reads {
            clock.bytes_read(read);
        }
        drop(guard);
        clock
    }

    fn head_timer_running(clock: &ConnClock) -> bool {
        clock.head_started_ms.load(Ordering::Relaxed) != NO_HEAD
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_accounts_for_every_byte_read_leaves_no_head_timer() {
        let clock = clock_after(
            &[b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"],
            Some(4),
        );
        assert!(!head_timer_running(&clock));
        let clock = clock_after(&[b"GET / HTTP/1.1\r\n", b"Host: x\r\n\r\n"], Some(0));
        assert!(!head_timer_running(&clock));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_beyond_the_request_start_the_head_timer_when_it_completes() {
        // A partial next head in the same read, or read while the request was in flight.
        let one_write = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost:";
        assert!(head_timer_running(&clock_after(&[one_write], Some(0))));
        let later = clock_after(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET"], Some(0));
        assert!(head_timer_running(&later));
        // A body holding an empty line does not hide the next head behind it.
        let tricky = b"POST / HTTP/1.1\r\nContent-Length: 8\r\n\r\na\r\n\r\nbcdGET / H";
        assert!(head_timer_running(&clock_after(&[tricky], Some(8))));
        // A chunked body's length on the wire is unknown: assume the worst.
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(head_timer_running(&clock_after(&[chunked], None)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_parsed_from_the_buffer_and_every_one_after_it_start_the_head_timer() {
        let clock = clock_after(
            &[b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n"],
            Some(0),
        );
        assert!(head_timer_running(&clock));
        // The rest of the second head arrives; the scan began inside it, so even a request
        // that seems to end exactly where the bytes do may have left a head behind.
        let guard = clock.request_started(Some(0));
        clock.bytes_read(b"Host: x\r\n\r\n");
        drop(guard);
        assert!(head_timer_running(&clock));
        // A request handed over with no read since the last one completed came from the buffer.
        let guard = clock.request_started(Some(0));
        drop(guard);
        assert!(head_timer_running(&clock));
    }

    #[tokio::test(start_paused = true)]
    async fn http2_connections_gather_no_evidence() {
        let clock = Arc::new(ConnClock::new(false));
        let guard = clock.request_started(Some(0));
        drop(guard);
        assert!(!head_timer_running(&clock));
    }
}
