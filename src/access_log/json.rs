//! The access log's JSON lines (`--log-format json`): the fields of the text line by name.
//!
//! Owns: writing a request line (`time`, `method`, `path`, `status`, `latency_ms`, and
//! `client_id` and `peer` when the label has them) and an event line (`time`, `event`), each
//! value a JSON string escaped again (quotes, backslashes, control characters) over the text
//! line's own escaping. Does not own: what goes in a line (the parent).

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime};

use http::Method;

use super::{push_timestamp, EscapedPath, LogLabel};

/// Appends `text` as a JSON string: quotes, backslashes and any control character escaped.
pub(super) fn push_json_string(line: &mut String, text: &str) {
    line.push('"');
    for c in text.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(line, "\\u{:04x}", c as u32);
            }
            c => line.push(c),
        }
    }
    line.push('"');
}

/// The JSON line of one answered request.
pub(super) fn request_line(
    line: &mut String,
    method: &Method,
    path: &str,
    status: u16,
    latency: Duration,
    label: Option<&LogLabel>,
) {
    line.push_str("{\"time\":\"");
    push_timestamp(line, SystemTime::now());
    line.push_str("\",\"method\":");
    push_json_string(line, method.as_str());
    line.push_str(",\"path\":");
    push_json_string(line, &EscapedPath(path).to_string());
    let micros = latency.as_micros();
    let _ = write!(
        line,
        ",\"status\":{status},\"latency_ms\":{}.{:03}",
        micros / 1000,
        micros % 1000
    );
    if let Some(id) = label.and_then(LogLabel::client_id) {
        line.push_str(",\"client_id\":");
        push_json_string(line, id);
    }
    if let Some(peer) = label.and_then(|label| label.peer) {
        let _ = write!(line, ",\"peer\":\"{peer}\"");
    }
    line.push_str("}\n");
}

/// The JSON line of one event.
pub(super) fn event_line(line: &mut String, message: fmt::Arguments<'_>) {
    line.push_str("{\"time\":\"");
    push_timestamp(line, SystemTime::now());
    line.push_str("\",\"event\":");
    push_json_string(line, &message.to_string());
    line.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    #[test]
    fn json_lines_carry_the_text_fields_escaped_and_parse_as_json() {
        let mut line = String::new();
        let label = LogLabel::refused(Some("a\"b\n"), IpAddr::from([10, 0, 0, 1]));
        let latency = Duration::from_micros(1234);
        request_line(
            &mut line,
            &Method::POST,
            "/x\ny",
            401,
            latency,
            Some(&label),
        );
        assert!(
            line.ends_with('\n') && !line[..line.len() - 1].contains('\n'),
            "{line}"
        );
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["method"], "POST");
        assert_eq!(value["path"], "/x\\u{a}y");
        assert_eq!(value["status"], 401);
        assert_eq!(value["latency_ms"], 1.234);
        assert_eq!(value["client_id"], "a\\u{22}b\\u{a}");
        assert_eq!(value["peer"], "10.0.0.1");
        assert!(value["time"].as_str().is_some_and(|t| t.ends_with('Z')));
        let mut line = String::new();
        let none = LogLabel::refused(None, IpAddr::from([10, 0, 0, 1]));
        request_line(&mut line, &Method::GET, "/", 200, latency, Some(&none));
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert!(value.get("client_id").is_none(), "{line}");
        let mut quoted = String::new();
        push_json_string(&mut quoted, "q\"\\\u{7}é");
        assert_eq!(quoted, "\"q\\\"\\\\\\u0007é\"");
    }
}
