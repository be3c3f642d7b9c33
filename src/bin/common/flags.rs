//! The flag parser the binaries share: `--name value`, `--name=value` and switches.
//!
//! Owns: splitting arguments into flags, refusing unknown, repeated or valueless flags with a
//! message that names them, and the flags every server takes (listen address, certificate,
//! the transport limits). Arguments are `OsString`s: a path that is not UTF-8 is still a path,
//! and any other non-UTF-8 value is refused with a message, never a panic. Does not own: what
//! a flag means (each binary decides).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tollgate::http::Limits;
use tollgate::oauth::audience::is_resource_indicator;

/// A command line that cannot be run: the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl From<String> for UsageError {
    fn from(message: String) -> Self {
        UsageError(message)
    }
}

impl From<&str> for UsageError {
    fn from(message: &str) -> Self {
        UsageError(message.to_owned())
    }
}

/// The limit flags [`Flags::limits`] understands, for usage texts.
pub const LIMIT_FLAGS_HELP: &str =
    "  --handshake-timeout SECS  (5)   --head-timeout SECS (5)   --idle-timeout SECS (60)
  --body-timeout SECS (10)       --max-connections N (4096) --max-connections-per-address N (512)
  --max-body-bytes N (16384)     --max-head-bytes N (16384) --h2-max-streams N (128)
  --h2-max-header-bytes N (16384)  --shutdown-grace SECS (10)";

/// The flags every tollgate server takes: where to listen, and its certificate and key.
#[derive(Debug)]
pub struct ServerFlags {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Parsed flags, consumed by name; whatever is left at [`Flags::finish`] is an error.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, OsString>,
    /// Values of the flags that may be given more than once, in order.
    repeated: HashMap<String, Vec<OsString>>,
    switches: Vec<String>,
}

impl Flags {
    /// Parses `args` (without the program name). `switches` take no value.
    pub fn parse(
        args: impl IntoIterator<Item = OsString>,
        switches: &[&str],
    ) -> Result<Flags, UsageError> {
        Flags::parse_with(args, switches, &[])
    }

    /// [`Flags::parse`] where the flags in `repeatable` may be given more than once.
    pub fn parse_with(
        args: impl IntoIterator<Item = OsString>,
        switches: &[&str],
        repeatable: &[&str],
    ) -> Result<Flags, UsageError> {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = split_flag(&arg)?;
            if switches.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value").into());
                }
                if flags.switches.contains(&name) {
                    return Err(format!("{name} is given twice").into());
                }
                flags.switches.push(name);
                continue;
            }
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or_else(|| format!("{name} needs a value"))?,
            };
            if repeatable.contains(&name.as_str()) {
                flags.repeated.entry(name).or_default().push(value);
                continue;
            }
            if flags.values.insert(name.clone(), value).is_some() {
                return Err(format!("{name} is given twice").into());
            }
        }
        Ok(flags)
    }

    /// Takes the value of `name` as text, if given; a value that is not UTF-8 is refused.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        match self.values.remove(name) {
            None => Ok(None),
            Some(value) => value
                .into_string()
                .map(Some)
                .map_err(|_| format!("{name} takes text, and its value is not UTF-8").into()),
        }
    }

    /// Takes every value of the repeatable flag `name` as text, in order.
    pub fn values(&mut self, name: &str) -> Result<Vec<String>, UsageError> {
        let values = self.repeated.remove(name).unwrap_or_default();
        values
            .into_iter()
            .map(|value| {
                value
                    .into_string()
                    .map_err(|_| format!("{name} takes text, and a value is not UTF-8").into())
            })
            .collect()
    }

    /// Takes the value of `name`, if given, as a resource indicator (RFC 8707 §2: an absolute
    /// URI without a fragment), as `--audience` and `--default-audience` want.
    pub fn resource_indicator(&mut self, name: &str) -> Result<Option<String>, UsageError> {
        let value = self.value(name)?;
        match value {
            Some(uri) if !is_resource_indicator(&uri) => {
                Err(format!("{name} {uri:?} is not an absolute URI without a fragment").into())
            }
            value => Ok(value),
        }
    }

    /// Takes the value of `name` as a path, if given: any bytes will do.
    pub fn path(&mut self, name: &str) -> Option<PathBuf> {
        self.values.remove(name).map(PathBuf::from)
    }

    /// Takes and parses the value of `name`, if given.
    pub fn parsed<T: std::str::FromStr>(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, UsageError> {
        let Some(value) = self.values.remove(name) else {
            return Ok(None);
        };
        let shown = value.to_string_lossy().into_owned();
        value
            .to_str()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{name} takes {what}, not {shown:?}").into())
    }

    /// Whether the switch `name` was given.
    pub fn switch(&mut self, name: &str) -> bool {
        match self.switches.iter().position(|s| s == name) {
            Some(i) => {
                self.switches.remove(i);
                true
            }
            None => false,
        }
    }

    /// Takes `--listen` (default `default_listen`), `--cert` (default `certs/server.pem`) and
    /// `--key` (default `certs/server.key`).
    pub fn server(&mut self, default_listen: SocketAddr) -> Result<ServerFlags, UsageError> {
        let example = format!(
            "a socket address such as {default_listen} or [::1]:{}",
            default_listen.port()
        );
        let listen = self.parsed("--listen", &example)?.unwrap_or(default_listen);
        let cert = self
            .path("--cert")
            .unwrap_or_else(|| "certs/server.pem".into());
        let key = self
            .path("--key")
            .unwrap_or_else(|| "certs/server.key".into());
        Ok(ServerFlags { listen, cert, key })
    }

    /// The transport limits, defaults overridden by any limit flags given.
    pub fn limits(&mut self) -> Result<Limits, UsageError> {
        let mut limits = Limits::default();
        let secs = |flags: &mut Flags, name: &str, default: Duration| {
            let what = "a non-negative whole number of seconds";
            Ok::<_, UsageError>(
                flags
                    .parsed::<u64>(name, what)?
                    .map_or(default, Duration::from_secs),
            )
        };
        let count = "a non-negative whole number";
        let small = "a whole number up to 4294967295";
        limits.handshake_timeout = secs(self, "--handshake-timeout", limits.handshake_timeout)?;
        limits.head_timeout = secs(self, "--head-timeout", limits.head_timeout)?;
        limits.idle_timeout = secs(self, "--idle-timeout", limits.idle_timeout)?;
        limits.shutdown_grace = secs(self, "--shutdown-grace", limits.shutdown_grace)?;
        limits.body_timeout = secs(self, "--body-timeout", limits.body_timeout)?;
        if limits.body_timeout.is_zero() {
            // Every body not already there on the first read would be refused.
            return Err("--body-timeout must be at least 1 second".into());
        }
        let at_least_one = |flags: &mut Flags, name: &str, default: usize| match flags
            .parsed::<usize>(name, count)?
        {
            Some(0) => Err(UsageError(format!("{name} must be at least 1"))),
            Some(n) => Ok(n),
            None => Ok(default),
        };
        limits.max_connections = at_least_one(self, "--max-connections", limits.max_connections)?;
        limits.max_connections_per_address = at_least_one(
            self,
            "--max-connections-per-address",
            limits.max_connections_per_address,
        )?;
        if let Some(n) = self.parsed("--max-body-bytes", count)? {
            limits.max_body_bytes = n;
        }
        if let Some(n) = self.parsed::<usize>("--max-head-bytes", count)? {
            limits.max_head_bytes = n.max(Limits::MIN_HEAD_BYTES);
        }
        if let Some(n) = self.parsed("--h2-max-streams", small)? {
            limits.h2_max_streams = n;
        }
        if let Some(n) = self.parsed("--h2-max-header-bytes", small)? {
            limits.h2_max_header_bytes = n;
        }
        Ok(limits)
    }

    /// Refuses any flag nobody asked for.
    pub fn finish(self) -> Result<(), UsageError> {
        let mut unknown: Vec<&String> = self
            .values
            .keys()
            .chain(self.repeated.keys())
            .chain(self.switches.iter())
            .collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(format!("unknown flag {name}").into()),
        }
    }
}

/// A flag's name and its inline (`--name=value`) value. Names are ASCII by construction; only
/// the value may be any bytes.
fn split_flag(arg: &OsStr) -> Result<(String, Option<OsString>), UsageError> {
    let bytes = arg.as_encoded_bytes();
    let (name, value) = match bytes.iter().position(|&b| b == b'=') {
        Some(eq) => (&bytes[..eq], Some(&bytes[eq + 1..])),
        None => (bytes, None),
    };
    let name = std::str::from_utf8(name)
        .ok()
        .filter(|name| name.starts_with("--") && *name != "--")
        .ok_or_else(|| format!("unexpected argument {:?}", arg.to_string_lossy()))?;
    let value = value.map(|value| os_string_from(value, arg)).transpose()?;
    Ok((name.to_owned(), value))
}

/// The bytes after `=` in `arg` as an `OsString`.
fn os_string_from(value: &[u8], arg: &OsStr) -> Result<OsString, UsageError> {
    #[cfg(unix)]
    {
        let _ = arg;
        use std::os::unix::ffi::OsStrExt;
        Ok(OsStr::from_bytes(value).to_owned())
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(value)
            .map(OsString::from)
            .map_err(|_| format!("{:?} is not UTF-8", arg.to_string_lossy()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn values_switches_and_equals_forms() {
        let mut flags = Flags::parse(
            args(&["--id", "a", "--scope=read write", "--introspect"]),
            &["--introspect"],
        )
        .unwrap();
        assert_eq!(flags.value("--id").unwrap().as_deref(), Some("a"));
        assert_eq!(
            flags.value("--scope").unwrap().as_deref(),
            Some("read write")
        );
        assert!(flags.switch("--introspect"));
        assert!(flags.finish().is_ok());
    }

    #[test]
    fn unknown_repeated_and_missing_values_are_refused() {
        assert!(Flags::parse(args(&["--id"]), &[]).is_err());
        assert!(Flags::parse(args(&["--id", "a", "--id", "b"]), &[]).is_err());
        assert!(Flags::parse(args(&["stray"]), &[]).is_err());
        let flags = Flags::parse(args(&["--bogus", "1"]), &[]).unwrap();
        assert_eq!(flags.finish().unwrap_err().0, "unknown flag --bogus");
    }

    #[test]
    fn repeatable_flags_keep_every_value_in_order() {
        let mut flags = Flags::parse_with(
            args(&["--audience", "a", "--id", "x", "--audience=b"]),
            &[],
            &["--audience"],
        )
        .unwrap();
        assert_eq!(flags.values("--audience").unwrap(), ["a", "b"]);
        assert_eq!(flags.value("--id").unwrap().as_deref(), Some("x"));
        assert!(flags.finish().is_ok());
        let unasked = Flags::parse_with(args(&["--audience", "a"]), &[], &["--audience"]).unwrap();
        assert!(unasked.finish().is_err(), "a repeatable flag nobody took");
    }

    #[test]
    fn numbers_are_checked() {
        let mut flags = Flags::parse(args(&["--token-ttl", "ten"]), &[]).unwrap();
        assert!(flags.parsed::<u64>("--token-ttl", "seconds").is_err());
    }

    #[test]
    fn limit_flags_parse_and_reject_garbage() {
        let mut flags = Flags::parse(
            args(&[
                "--max-connections",
                "10",
                "--head-timeout=2",
                "--body-timeout=3",
                "--max-connections-per-address",
                "4",
            ]),
            &[],
        )
        .unwrap();
        let limits = flags.limits().unwrap();
        assert_eq!(limits.max_connections, 10);
        assert_eq!(limits.head_timeout, Duration::from_secs(2));
        assert_eq!(limits.body_timeout, Duration::from_secs(3));
        assert_eq!(limits.max_connections_per_address, 4);
        assert!(flags.finish().is_ok());
        let defaults = Flags::default().limits().unwrap();
        assert_eq!(defaults.body_timeout, Duration::from_secs(10));
        assert_eq!(defaults.max_connections_per_address, 512);
        for bad in [
            ["--max-connections", "-1"],
            ["--max-connections", "0"],
            ["--max-connections-per-address", "0"],
            ["--body-timeout", "0"],
        ] {
            let mut flags = Flags::parse(args(&bad), &[]).unwrap();
            assert!(flags.limits().is_err(), "{bad:?}");
        }
        let mut other = Flags::parse(args(&["--listen", "x"]), &[]).unwrap();
        assert!(other.limits().is_ok());
        assert!(other.finish().is_err(), "--listen is not a limit flag");
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_are_paths_or_refused_never_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let raw = OsString::from_vec(b"/tmp/\xff.json".to_vec());
        let mut inline = OsString::from("--clients=");
        inline.push(&raw);
        let mut flags =
            Flags::parse(vec![inline, OsString::from("--id"), raw.clone()], &[]).unwrap();
        assert_eq!(flags.path("--clients"), Some(PathBuf::from(&raw)));
        assert!(flags.value("--id").is_err());
        let bad_name = OsString::from_vec(b"--\xff".to_vec());
        assert!(Flags::parse(vec![bad_name], &[]).is_err());
    }
}
