//! The Redis protocol (RESP2) as the store speaks it: a command is an array of bulk strings,
//! a reply is parsed strictly and within bounds.
//!
//! Owns: [`Command`] (its arguments and their wire form), [`Value`] (a reply), [`parse`] (one
//! reply from the front of a buffer, or "not all here yet", or a protocol error for anything
//! that is not RESP2: a bad type byte, a length that is not a number, a missing CRLF, a bulk
//! string over [`MAX_BULK`], an array over [`MAX_ARRAY`] elements or nested deeper than
//! [`MAX_DEPTH`]), and [`Script`] (a Lua script and its SHA-1, for `EVALSHA`). Does not own:
//! the connection (see `link`) or what the replies mean (see the parent).

/// The largest bulk string accepted: a token record is under 1 KiB; anything near this is
/// not our store talking.
pub const MAX_BULK: usize = 1 << 20;
/// The most elements of one array (our scripts answer two).
pub const MAX_ARRAY: usize = 1024;
/// The deepest nesting of arrays.
pub const MAX_DEPTH: usize = 4;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A null bulk string or array.
    Nil,
    /// A simple string (`+OK`, `+PONG`).
    Status(String),
    Int(i64),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
    /// An error reply (`-ERR ...`, `-NOSCRIPT ...`): its text, which may quote a command.
    Error(String),
}

impl Value {
    /// Whether this is `+OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Value::Status(s) if s == "OK")
    }

    /// The first word of an error reply (`NOSCRIPT`, `WRONGTYPE`): what may be logged.
    pub fn error_kind(&self) -> Option<&str> {
        match self {
            Value::Error(text) => text.split(' ').next(),
            _ => None,
        }
    }
}

/// A reply that is not RESP2, or not within our bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolError;

/// One command: its name and arguments, each sent as a bulk string. The arguments are
/// written in their wire form as they are added; only the count goes in front at the end.
/// Wiped when dropped (`AUTH` carries the store's password); `Debug` shows no argument.
#[derive(Clone)]
pub struct Command {
    count: usize,
    body: Vec<u8>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Command({} arguments)", self.count)
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body);
    }
}

impl Command {
    pub fn new(name: &str) -> Command {
        Command::with_capacity(name, 256)
    }

    /// A command whose arguments fit in `capacity` bytes of wire form without the buffer
    /// growing (a grown buffer leaves its old bytes behind, unwiped).
    pub fn with_capacity(name: &str, capacity: usize) -> Command {
        let mut command = Command {
            count: 0,
            body: Vec::with_capacity(capacity),
        };
        command.arg(name);
        command
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<[u8]>) -> &mut Command {
        let arg = arg.as_ref();
        self.body.push(b'$');
        push_decimal(&mut self.body, arg.len() as u64);
        self.body.extend_from_slice(b"\r\n");
        self.body.extend_from_slice(arg);
        self.body.extend_from_slice(b"\r\n");
        self.count += 1;
        self
    }

    /// Adds a number, in decimal.
    pub fn num(&mut self, n: u64) -> &mut Command {
        self.arg(itoa::Buffer::new().format(n))
    }

    /// The command as RESP: `*N`, then `$len` and the bytes of each argument.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 24);
        out.push(b'*');
        push_decimal(&mut out, self.count as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

fn push_decimal(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `n` in decimal, as a script argument.
pub fn decimal(n: u64) -> Vec<u8> {
    itoa::Buffer::new().format(n).as_bytes().to_vec()
}

/// A Lua script, run by its SHA-1 (`EVALSHA`), sent whole (`EVAL`) when Redis does not know
/// it yet (after a restart or `SCRIPT FLUSH`).
#[derive(Debug)]
pub struct Script {
    source: String,
    sha1_hex: String,
}

impl Script {
    pub fn new(source: &str) -> Script {
        // SHA-1 is what Redis names scripts by; nothing here depends on its collision
        // resistance (a script is ours, not an attacker's).
        let digest =
            ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, source.as_bytes());
        Script {
            source: source.to_owned(),
            sha1_hex: crate::secret::to_hex(digest.as_ref()),
        }
    }

    /// `EVALSHA sha1 numkeys keys... args...`.
    pub fn by_hash(&self, keys: &[Vec<u8>], args: &[Vec<u8>]) -> Command {
        self.command("EVALSHA", &self.sha1_hex, keys, args)
    }

    /// `EVAL source numkeys keys... args...`.
    pub fn whole(&self, keys: &[Vec<u8>], args: &[Vec<u8>]) -> Command {
        self.command("EVAL", &self.source, keys, args)
    }

    fn command(&self, name: &str, script: &str, keys: &[Vec<u8>], args: &[Vec<u8>]) -> Command {
        let mut command = Command::new(name);
        command.arg(script).num(keys.len() as u64);
        for part in keys.iter().chain(args) {
            command.arg(part);
        }
        command
    }
}

/// One reply from the front of `buf`: `Ok(Some((reply, bytes used)))`, `Ok(None)` when it has
/// not all arrived yet.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some((line, next)) = line(buf, at)? else {
        return Ok(None);
    };
    let (&kind, rest) = line.split_first().ok_or(ProtocolError)?;
    // An error's text may quote an argument, and our keys are raw bytes: read it lossily
    // rather than drop the connection over it.
    let text = || String::from_utf8_lossy(rest).into_owned();
    match kind {
        b'+' => Ok(Some((Value::Status(text()), next))),
        b'-' => Ok(Some((Value::Error(text()), next))),
        b':' => Ok(Some((Value::Int(number(rest)?), next))),
        b'$' => {
            let len = number(rest)?;
            if len == -1 {
                return Ok(Some((Value::Nil, next)));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError)?;
            if len > MAX_BULK {
                return Err(ProtocolError);
            }
            let end = next + len;
            let Some(tail) = buf.get(end..end + 2) else {
                return Ok(None);
            };
            if tail != b"\r\n" {
                return Err(ProtocolError);
            }
            Ok(Some((Value::Bulk(buf[next..end].to_vec()), end + 2)))
        }
        b'*' => {
            let len = number(rest)?;
            if len == -1 {
                return Ok(Some((Value::Nil, next)));
            }
            let len = usize::try_from(len).map_err(|_| ProtocolError)?;
            if len > MAX_ARRAY || depth >= MAX_DEPTH {
                return Err(ProtocolError);
            }
            let mut items = Vec::with_capacity(len);
            let mut at = next;
            for _ in 0..len {
                let Some((item, after)) = parse_at(buf, at, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                at = after;
            }
            Ok(Some((Value::Array(items), at)))
        }
        _ => Err(ProtocolError),
    }
}

/// The line starting at `at` without its CRLF, and where the next one starts. A line longer
/// than any header we expect (a length, a status, an error) is refused.
fn line(buf: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    const MAX_LINE: usize = 4096;
    let rest = buf.get(at..).unwrap_or_default();
    match memchr::memchr(b'\n', rest) {
        None if rest.len() > MAX_LINE => Err(ProtocolError),
        None => Ok(None),
        Some(lf) if lf == 0 || rest[lf - 1] != b'\r' || lf > MAX_LINE => Err(ProtocolError),
        Some(lf) => Ok(Some((&rest[..lf - 1], at + lf + 1))),
    }
}

fn number(digits: &[u8]) -> Result<i64, ProtocolError> {
    let text = std::str::from_utf8(digits).map_err(|_| ProtocolError)?;
    if text.is_empty() || text.len() > 20 {
        return Err(ProtocolError);
    }
    text.parse().map_err(|_| ProtocolError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut command = Command::new("SET");
        command.arg("k").arg(b"").num(42);
        assert_eq!(
            command.encode(),
            b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$2\r\n42\r\n"
        );
    }

    #[test]
    fn every_reply_type_parses_and_partial_replies_wait() {
        let cases: [(&[u8], Value); 7] = [
            (b"+OK\r\n", Value::Status("OK".into())),
            (
                b"-NOSCRIPT No matching script\r\n",
                Value::Error("NOSCRIPT No matching script".into()),
            ),
            (b":-12\r\n", Value::Int(-12)),
            (b"$3\r\na\r\n\r\n", Value::Bulk(b"a\r\n".to_vec())),
            (b"$-1\r\n", Value::Nil),
            (b"*-1\r\n", Value::Nil),
            (
                b"*2\r\n:0\r\n$2\r\nhi\r\n",
                Value::Array(vec![Value::Int(0), Value::Bulk(b"hi".to_vec())]),
            ),
        ];
        for (wire, value) in cases {
            assert_eq!(parse(wire), Ok(Some((value.clone(), wire.len()))));
            for cut in 0..wire.len() {
                assert_eq!(parse(&wire[..cut]), Ok(None), "{value:?} cut at {cut}");
            }
            let mut two = wire.to_vec();
            two.extend_from_slice(b"+OK\r\n");
            assert_eq!(
                parse(&two),
                Ok(Some((value, wire.len()))),
                "followed by another"
            );
        }
        assert_eq!(
            Value::Error("WRONGTYPE Operation".into()).error_kind(),
            Some("WRONGTYPE")
        );
    }

    #[test]
    fn anything_else_is_a_protocol_error() {
        for wire in [
            &b"?what\r\n"[..],
            b"+OK\n",
            b"\r\n",
            b":12a\r\n",
            b":\r\n",
            b"$-2\r\n",
            b"$2\r\nabc\r\n",
            b"$2000000\r\n",
            b"*2000\r\n",
            b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
            b"$99999999999999999999999\r\n",
        ] {
            assert_eq!(
                parse(wire),
                Err(ProtocolError),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        assert_eq!(
            parse(&[b'+'; 5000]),
            Err(ProtocolError),
            "a line without end"
        );
    }

    #[test]
    fn a_script_is_named_by_its_sha1() {
        // Redis: SCRIPT LOAD "return 1" answers e0e1f9fabfc9d4800c877a703b823ac0578ff8db.
        let script = Script::new("return 1");
        let command = script.by_hash(&[b"k".to_vec()], &[b"a".to_vec()]).encode();
        let text = String::from_utf8(command).unwrap();
        assert!(
            text.contains("e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
            "{text}"
        );
        assert!(text.starts_with("*5\r\n$7\r\nEVALSHA\r\n"));
    }
}
