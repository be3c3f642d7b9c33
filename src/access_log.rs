//! The access log: one line per request on stderr, written by a background thread.
//!
//! Owns: formatting a request line (time, method, path without query, status, latency, the
//! handler's [`LogLabel`]) and getting it to stderr without making
//! request tasks wait on the terminal or a pipe. A request appends its line to a shared buffer
//! (a short mutex hold, no system call); a writer thread wakes every `WRITE_INTERVAL` (50 ms) and
//! writes the whole batch at once, so a busy server pays one `write` per batch instead of one
//! wake-up and one `write` per request. When stderr cannot keep up, the buffer is capped and
//! further lines are counted as dropped rather than blocking requests or growing memory.
//! Every piece of text that came from a peer is escaped here with a visible sequence
//! (`\u{a}`), never with whitespace, so a newline, a control character or a space in a path or
//! a client id can neither split a line nor blur where one field ends: the path is cut at the
//! query and escaped, and a [`LogLabel`] can only be made through constructors that escape.
//!
//! Two formats, chosen once at start ([`set_format`]): text, `TIME METHOD PATH STATUS LATENCY
//! [label]`, and JSON lines with the same fields (`time`, `method`, `path`, `status`,
//! `latency_ms`, and `client_id` and `peer` when the label has them; events are `time` and
//! `event`) for log shippers. The JSON values are the text fields as escaped for the text
//! line, so both formats show the same characters and neither holds a control character
//! (written by `json`).
//! Does not own: deciding what is safe to log. Callers pass only method, path, status and
//! labels that never hold a secret or a token.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::net::IpAddr;
#[cfg(any(test, feature = "test-hooks"))]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Response};

mod json;

/// A short label a handler attaches to a response (as an extension) for its log line, such as
/// the authenticated client id. It must never hold a secret or a token. Made only by its
/// constructors, which escape what they are given: an id is the peer's to choose (or another
/// service's to report), so it is never pushed into a line as it came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLabel {
    /// The label as the text line shows it; ends with `client_id=ID`.
    text: String,
    /// The peer of a refusal, for the JSON line's `peer`.
    peer: Option<IpAddr>,
}

impl LogLabel {
    /// `client_id=ID`: the client a request authenticated as, or the client another service
    /// named (client1 logs the `client_id` the authorization server returned).
    pub fn client(client_id: &str) -> Self {
        let mut label = String::with_capacity("client_id=".len() + client_id.len());
        label.push_str("client_id=");
        push_escaped_id(&mut label, client_id);
        LogLabel {
            text: label,
            peer: None,
        }
    }

    /// `peer=ADDR client_id=ID`: a refused client authentication (401, 429), naming where it
    /// came from and the id it tried, known or not; `client_id=(none)` when the request named
    /// no readable id. Parentheses are always escaped in an id, so `(none)` is never an id.
    pub fn refused(client_id: Option<&str>, peer: IpAddr) -> Self {
        let mut label = String::with_capacity(48);
        let _ = write!(label, "peer={peer} client_id=");
        match client_id {
            Some(id) => push_escaped_id(&mut label, id),
            None => label.push_str(NO_ID),
        }
        LogLabel {
            text: label,
            peer: Some(peer),
        }
    }

    /// The label as it appears in the line.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The client id as escaped for the line; `None` for a refusal that named none.
    fn client_id(&self) -> Option<&str> {
        let (_, id) = self.text.split_once("client_id=")?;
        (id != NO_ID).then_some(id)
    }
}

/// What [`LogLabel::refused`] logs when the request named no readable client id.
const NO_ID: &str = "(none)";
/// Ids longer than this (in characters) are cut in the log, marked with `(cut)`.
const MAX_LOGGED_ID: usize = 100;

/// Appends `id`, keeping the characters of a valid client id (`A-Za-z0-9._-`) as they are and
/// writing every other character, the backslash included, as `\u{HEX}`: whatever an id holds,
/// the label stays one word of printable ASCII, and no id can fake an escape or another field.
fn push_escaped_id(out: &mut String, id: &str) {
    for (count, c) in id.chars().enumerate() {
        if count == MAX_LOGGED_ID {
            out.push_str("(cut)");
            return;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// How often buffered lines are written out.
const WRITE_INTERVAL: Duration = Duration::from_millis(50);
/// Most bytes held between two writes; lines beyond are dropped and counted.
const MAX_BUFFERED: usize = 4 * 1024 * 1024;
/// Paths longer than this are cut in the log: a path is the client's to choose.
const MAX_LOGGED_PATH: usize = 200;

struct Writer {
    pending: Mutex<String>,
    dropped: AtomicU64,
    /// Serialises writes to stderr between the writer thread and [`flush`].
    out: Mutex<()>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();
/// Set by test harnesses that run many servers in one process: lines are still captured
/// (see `start_capture`) but not written. Test builds only, like [`CAPTURE`]: a release
/// build's log line costs no extra lock.
#[cfg(any(test, feature = "test-hooks"))]
static DISCARD: AtomicBool = AtomicBool::new(false);
/// Set by tests to capture what would go to stderr.
#[cfg(any(test, feature = "test-hooks"))]
static CAPTURE: Mutex<Option<Vec<String>>> = Mutex::new(None);

fn writer() -> &'static Writer {
    WRITER.get_or_init(|| {
        // If the thread cannot start, lines pile up to MAX_BUFFERED and are then counted as
        // dropped; the service itself keeps working, and `flush` still writes them.
        let _ = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(|| loop {
                std::thread::sleep(WRITE_INTERVAL);
                write_pending();
            });
        Writer {
            pending: Mutex::new(String::new()),
            dropped: AtomicU64::new(0),
            out: Mutex::new(()),
        }
    })
}

/// Writes out everything buffered so far.
fn write_pending() {
    let writer = writer();
    let Ok(_out) = writer.out.lock() else {
        return;
    };
    let batch = match writer.pending.lock() {
        Ok(mut pending) if !pending.is_empty() => std::mem::take(&mut *pending),
        _ => return,
    };
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(batch.as_bytes());
    let dropped = writer.dropped.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        let _ = writeln!(
            stderr,
            "access log: {dropped} line(s) dropped because stderr was too slow"
        );
    }
    let _ = stderr.flush();
}

fn emit(line: &str) {
    #[cfg(any(test, feature = "test-hooks"))]
    {
        if let Ok(mut capture) = CAPTURE.lock() {
            if let Some(lines) = capture.as_mut() {
                lines.push(line.to_owned());
            }
        }
        if DISCARD.load(Ordering::Relaxed) {
            return;
        }
    }
    let writer = writer();
    match writer.pending.lock() {
        Ok(mut pending) if pending.len() + line.len() <= MAX_BUFFERED => pending.push_str(line),
        _ => {
            writer.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// How lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `TIME METHOD PATH STATUS LATENCY [label]`, and events as `TIME message`.
    #[default]
    Text,
    /// One JSON object per line, the same fields by name.
    Json,
}

static FORMAT: AtomicU8 = AtomicU8::new(0);

/// Chooses the format of every line from now on (at start-up, before serving).
pub fn set_format(format: LogFormat) {
    FORMAT.store(format as u8, Ordering::Relaxed);
}

fn is_json() -> bool {
    FORMAT.load(Ordering::Relaxed) == LogFormat::Json as u8
}

/// Logs one answered request.
pub fn request<B>(method: &Method, path: &str, response: &Response<B>, latency: Duration) {
    let mut line = String::with_capacity(128);
    let label = response.extensions().get::<LogLabel>();
    let status = response.status().as_u16();
    if is_json() {
        json::request_line(&mut line, method, path, status, latency, label);
    } else {
        let now = SystemTime::now();
        text_request_line(&mut line, now, method, path, status, latency, label);
    }
    emit(&line);
}

/// The text line of one request, `TIME METHOD PATH STATUS LATENCY [label]` and its newline.
/// Pushed piece by piece rather than through `write!`: the formatting machinery was a fifth of
/// a `/healthz`'s instructions (callgrind).
fn text_request_line(
    line: &mut String,
    now: SystemTime,
    method: &Method,
    path: &str,
    status: u16,
    latency: Duration,
    label: Option<&LogLabel>,
) {
    push_timestamp(line, now);
    line.push(' ');
    line.push_str(method.as_str());
    line.push(' ');
    push_escaped_path(line, path);
    line.push(' ');
    line.push_str(itoa::Buffer::new().format(status));
    line.push(' ');
    let micros = latency.as_micros();
    line.push_str(itoa::Buffer::new().format(micros / 1000));
    let mut fraction = *b".000ms";
    put_digits(&mut fraction[1..4], (micros % 1000) as u32);
    line.extend(fraction.iter().map(|&b| char::from(b)));
    if let Some(label) = label {
        line.push(' ');
        line.push_str(label.as_str());
    }
    line.push('\n');
}

/// Logs a service event (start-up, accept errors, shutdown). The message must hold no secret.
pub fn event(message: fmt::Arguments<'_>) {
    let mut line = String::with_capacity(96);
    if is_json() {
        json::event_line(&mut line, message);
        emit(&line);
        return;
    }
    push_timestamp(&mut line, SystemTime::now());
    line.push(' ');
    // Messages may quote a peer's words: one event is one line, whatever they hold.
    for c in message.to_string().chars() {
        if c.is_control() {
            let _ = write!(line, "\\u{{{:x}}}", c as u32);
        } else {
            line.push(c);
        }
    }
    line.push('\n');
    emit(&line);
}

/// Writes every line logged so far, now.
pub fn flush() {
    write_pending();
}

/// Stops writing log lines to stderr (capturing goes on), for test processes that would
/// otherwise print thousands of lines.
#[cfg(any(test, feature = "test-hooks"))]
pub fn discard_output() {
    DISCARD.store(true, Ordering::Relaxed);
}

/// Starts keeping a copy of every line logged from now on, for tests that check the log.
#[cfg(any(test, feature = "test-hooks"))]
pub fn start_capture() {
    if let Ok(mut capture) = CAPTURE.lock() {
        capture.get_or_insert_with(Vec::new);
    }
}

/// Every line logged since `start_capture`.
#[cfg(any(test, feature = "test-hooks"))]
pub fn captured() -> Vec<String> {
    CAPTURE
        .lock()
        .map(|capture| capture.clone().unwrap_or_default())
        .unwrap_or_default()
}

/// Appends the path as [`EscapedPath`] shows it; a short path of visible ASCII, the path of
/// nearly every request, is pushed as it is without walking its characters one by one.
fn push_escaped_path(line: &mut String, path: &str) {
    if path.len() <= MAX_LOGGED_PATH && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        line.push_str(path);
    } else {
        let _ = write!(line, "{}", EscapedPath(path));
    }
}

struct EscapedPath<'a>(&'a str);

impl fmt::Display for EscapedPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (count, c) in self.0.chars().enumerate() {
            if count == MAX_LOGGED_PATH {
                return f.write_str("...");
            }
            // The backslash too, so a path cannot fake an escape.
            if c.is_ascii_graphic() && c != '\\' {
                f.write_char(c)?;
            } else {
                write!(f, "\\u{{{:x}}}", c as u32)?;
            }
        }
        Ok(())
    }
}

/// Appends an RFC 3339 UTC timestamp with milliseconds.
fn push_timestamp(line: &mut String, now: SystemTime) {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    // Digit by digit into a fixed template: `write!` with its seven width specifiers cost about
    // 2,000 instructions per line, a sixth of a `/healthz` (callgrind). Years past 9999 are
    // written as 9999.
    let mut text = *b"0000-00-00T00:00:00.000Z";
    put_digits(
        &mut text[0..4],
        u32::try_from(year.clamp(0, 9999)).unwrap_or(0),
    );
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], (rem / 3600) as u32);
    put_digits(&mut text[14..16], (rem % 3600 / 60) as u32);
    put_digits(&mut text[17..19], (rem % 60) as u32);
    put_digits(&mut text[20..23], since_epoch.subsec_millis());
    line.extend(text.iter().map(|&b| char::from(b)));
}

/// Writes the low `out.len()` decimal digits of `value` into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Days since 1970-01-01 to a (year, month, day) date; Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
