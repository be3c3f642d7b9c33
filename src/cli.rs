//! The flag parser shared by the binaries: `--name value`, `--name=value` and switches.
//!
//! Owns: splitting arguments into flags, refusing unknown, repeated or valueless flags with a
//! message that names them, and the server limit flags of [`crate::http::Limits`]. Does not own:
//! what a flag means (each binary decides).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::http::Limits;

/// The flags every tollgate server takes: where to listen, and its certificate and key.
#[derive(Debug)]
pub struct ServerFlags {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The `main` of a single-command service binary: `-h`/`--help` prints `usage` followed by the
/// limit flags; otherwise `run` gets the arguments, and its error is printed as
/// `PROGRAM: message` (after any buffered log lines) with a failing exit status.
pub fn service_main(
    program: &str,
    usage: &str,
    run: impl FnOnce(Vec<String>) -> Result<(), String>,
) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        println!("{usage}\n{}", Limits::FLAGS_HELP);
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            crate::access_log::flush();
            eprintln!("{program}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parsed flags, consumed by name; whatever is left at [`Flags::finish`] is an error.
#[derive(Debug, Default)]
pub struct Flags {
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Flags {
    /// Parses `args` (without the program name). `switches` take no value.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        switches: &[&str],
    ) -> Result<Flags, String> {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if !arg.starts_with("--") || arg == "--" {
                return Err(format!("unexpected argument {arg:?}"));
            }
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if switches.contains(&name.as_str()) {
                if inline.is_some() {
                    return Err(format!("{name} takes no value"));
                }
                if flags.switches.contains(&name) {
                    return Err(format!("{name} is given twice"));
                }
                flags.switches.push(name);
                continue;
            }
            let value = match inline {
                Some(value) => value,
                None => args.next().ok_or_else(|| format!("{name} needs a value"))?,
            };
            if flags.values.insert(name.clone(), value).is_some() {
                return Err(format!("{name} is given twice"));
            }
        }
        Ok(flags)
    }

    /// Takes the value of `name`, if given.
    pub fn value(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// Takes and parses the value of `name`, if given.
    pub fn parsed<T: std::str::FromStr>(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, String> {
        match self.values.remove(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| format!("{name} takes {what}, not {text:?}")),
        }
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
    pub fn server(&mut self, default_listen: SocketAddr) -> Result<ServerFlags, String> {
        let example = format!(
            "a socket address such as {default_listen} or [::1]:{}",
            default_listen.port()
        );
        let listen = self.parsed("--listen", &example)?.unwrap_or(default_listen);
        let cert = self
            .value("--cert")
            .unwrap_or_else(|| "certs/server.pem".into());
        let key = self
            .value("--key")
            .unwrap_or_else(|| "certs/server.key".into());
        Ok(ServerFlags {
            listen,
            cert: cert.into(),
            key: key.into(),
        })
    }

    /// Applies any server limit flags to `limits`.
    pub fn limits(&mut self, limits: &mut Limits) -> Result<(), String> {
        let names: Vec<String> = self.values.keys().cloned().collect();
        for name in names {
            if let Some(value) = self.values.get(&name) {
                if limits.parse_flag(&name, value)? {
                    self.values.remove(&name);
                }
            }
        }
        Ok(())
    }

    /// Refuses any flag nobody asked for.
    pub fn finish(self) -> Result<(), String> {
        let mut unknown: Vec<&String> = self.values.keys().chain(self.switches.iter()).collect();
        unknown.sort();
        match unknown.first() {
            None => Ok(()),
            Some(name) => Err(format!("unknown flag {name}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_switches_and_equals_forms() {
        let mut flags = Flags::parse(
            args(&["--id", "a", "--scope=read write", "--introspect"]),
            &["--introspect"],
        )
        .unwrap();
        assert_eq!(flags.value("--id").as_deref(), Some("a"));
        assert_eq!(flags.value("--scope").as_deref(), Some("read write"));
        assert!(flags.switch("--introspect"));
        assert!(flags.finish().is_ok());
    }

    #[test]
    fn unknown_repeated_and_missing_values_are_refused() {
        assert!(Flags::parse(args(&["--id"]), &[]).is_err());
        assert!(Flags::parse(args(&["--id", "a", "--id", "b"]), &[]).is_err());
        assert!(Flags::parse(args(&["stray"]), &[]).is_err());
        let flags = Flags::parse(args(&["--bogus", "1"]), &[]).unwrap();
        assert_eq!(flags.finish().unwrap_err(), "unknown flag --bogus");
    }

    #[test]
    fn numbers_are_checked() {
        let mut flags = Flags::parse(args(&["--token-ttl", "ten"]), &[]).unwrap();
        assert!(flags.parsed::<u64>("--token-ttl", "seconds").is_err());
    }
}
