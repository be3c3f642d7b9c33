//! What the binaries share: their `main` (help, errors, exit status), the runtime, the flags
//! of the services that call the authorization server, loading a client secret, fitting
//! the connection cap under the open-file limit, and (`operations`) the metrics listener, the
//! log format and the SIGHUP reload; in the static musl build, the allocator.
//!
//! Included by each binary with `#[path]`; not part of the library, which never prints or
//! exits and does not own process-wide settings. Owns: everything about start-up that is not
//! a service's behaviour.

// Each binary uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod flags;
pub mod operations;

/// The static musl build's allocator (see Cargo.toml): a process-wide choice, so the binaries
/// make it, never the library.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use tollgate::access_log;
use tollgate::app;
use tollgate::discovery::Discovered;
use tollgate::http::{self, Handler, Limits, Outbound};
use tollgate::metrics::Source;
use tollgate::secret::SecretString;

pub use flags::{Flags, UsageError, LIMIT_FLAGS_HELP};
pub use operations::{OperationsFlags, OPERATIONS_FLAGS_HELP};

/// The error of a binary's edge: whatever went wrong, printed once as `PROGRAM: message`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The environment variable a service's client secret may come from.
pub const SECRET_ENV: &str = "OAUTH_CLIENT_SECRET";

/// The `main` of a binary: `-h`/`--help` prints `usage`; otherwise `run` gets the arguments
/// (as `OsString`s: never a panic on one that is not UTF-8), and its error is printed as
/// `PROGRAM: message` (after any buffered log lines) with a failing exit status.
pub fn main(
    program: &str,
    usage: &str,
    run: impl FnOnce(Vec<OsString>) -> Result<(), BoxError>,
) -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if matches!(args.first().and_then(|a| a.to_str()), Some("-h" | "--help")) {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    exit_with(program, run(args))
}

/// The `main` of a service that calls the authorization server (`client1`, `client2`): as
/// [`main`], with the flags they share already taken (listening on `default_port` unless
/// told otherwise) and the usage text completed with the secret's sources and the limit flags.
pub fn service_main(
    program: &str,
    usage: &str,
    default_port: u16,
    run: impl FnOnce(Flags, ServiceFlags) -> Result<(), BoxError>,
) -> ExitCode {
    let usage = format!(
        "{usage}\nthe client secret comes from {SECRET_ENV} or --client-secret-file (not both)\n\
         SIGHUP re-reads the TLS certificate and key\n\
         operations flags:\n{OPERATIONS_FLAGS_HELP}\nlimit flags:\n{LIMIT_FLAGS_HELP}"
    );
    main(program, &usage, |args| {
        let mut flags = Flags::parse(args, &[])?;
        let listen = SocketAddr::from(([127, 0, 0, 1], default_port));
        let service = ServiceFlags::take(&mut flags, listen, std::env::var_os(SECRET_ENV))?;
        run(flags, service)
    })
}

/// Prints an error, if any, and turns the result into an exit status.
pub fn exit_with(program: &str, result: Result<(), BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            access_log::flush();
            eprintln!("{program}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The multi-threaded runtime every service runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}").into())
}

/// Runs a service that calls the authorization server (`client1`, `client2`) until SIGTERM
/// or Ctrl-C: TLS, the outgoing client, the listener, discovery, then [`app::run`]; the
/// metrics listener if asked for, and SIGHUP re-reading the certificate and key. `make`
/// builds the handler from the discovery holder and the outgoing client, and says what to add
/// to the start-up log line.
pub fn run_service<H: Handler + Source>(
    program: &str,
    service: ServiceFlags,
    make: impl FnOnce(Arc<Discovered>, Outbound, ServiceIdentity) -> (Arc<H>, String),
) -> Result<(), BoxError> {
    service.operations.apply_log_format();
    let (certificate, tls) = operations::server_certificate(
        &service.cert,
        &service.key,
        service.ask_client_certificates,
    )?;
    let identity = match &service.client_certificate {
        Some((cert, key)) => Some(http::ClientIdentity::load(cert, key)?),
        None => None,
    };
    let outbound = Outbound::with_identity(&service.ca, identity)?;
    let ServiceFlags {
        listen,
        auth_server,
        client_id,
        client_secret,
        mut limits,
        operations,
        ..
    } = service;
    fit_open_file_limit(program, &mut limits, 1);
    runtime()?.block_on(async move {
        let listener = http::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        // With port 0 the kernel picks the port: log the address actually bound.
        let bound = listener.local_addr().unwrap_or(listen);
        let discovered = Arc::new(Discovered::new(auth_server.clone(), outbound.clone()));
        let identity = ServiceIdentity {
            client_id,
            client_secret,
        };
        let (handler, detail) = make(discovered.clone(), outbound, identity);
        access_log::event(format_args!(
            "{program} listening on {bound} (authorization server {auth_server}{detail})"
        ));
        let metrics = operations.start_metrics(program, handler.clone()).await?;
        let reloader = operations::on_hangup(move || operations::reload_certificate(&certificate));
        let result = app::run(
            listener,
            tls,
            limits,
            handler,
            discovered,
            http::shutdown_signal(),
        )
        .await;
        reloader.abort();
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        access_log::event(format_args!("{program} stopped"));
        access_log::flush();
        Ok(result?)
    })
}

/// Open files kept free beyond the served connections: listeners, outgoing connections (to
/// the authorization server, to a resource), the files read at start.
pub const FILE_HEADROOM: u64 = 64;

/// Raises the soft open-file limit (`RLIMIT_NOFILE`) to the hard limit, then, if `services`
/// servers of `limits.max_connections` each (and [`FILE_HEADROOM`]) still do not fit under
/// it, lowers the cap to what fits and says so on stderr: beyond the limit, accepting would
/// fail with EMFILE while the cap still promised room, and every new client would wait.
pub fn fit_open_file_limit(program: &str, limits: &mut Limits, services: usize) {
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(open_files) => open_files,
        Err(e) => {
            eprintln!(
                "{program}: cannot read or raise the open-file limit ({e}); the connection cap \
                 stays at {}",
                limits.max_connections
            );
            return;
        }
    };
    let wanted = limits.max_connections;
    let fitted = fitted_connections(wanted, services, open_files);
    if fitted < wanted {
        let (cap, each) = match services {
            1 => (format!("--max-connections {wanted} does"), ""),
            n => (
                format!("{n} services of {wanted} connections each do"),
                " each",
            ),
        };
        eprintln!(
            "{program}: {cap} not fit under the open-file limit of {open_files} (less \
             {FILE_HEADROOM} kept for listeners, outgoing connections and files); serving at \
             most {fitted} connections{each}"
        );
        limits.max_connections = fitted;
    }
}

/// The most connections each of `services` servers may take under an open-file limit of
/// `open_files`, at most `wanted`, and at least one.
fn fitted_connections(wanted: usize, services: usize, open_files: u64) -> usize {
    let available = open_files.saturating_sub(FILE_HEADROOM) / services.max(1) as u64;
    usize::try_from(available)
        .unwrap_or(usize::MAX)
        .clamp(1, wanted.max(1))
}

/// Who a service is at the authorization server, as far as its flags say.
#[derive(Debug)]
pub struct ServiceIdentity {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
}

/// The flags `client1` and `client2` share.
#[derive(Debug)]
pub struct ServiceFlags {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The authorization server's issuer URL.
    pub auth_server: String,
    pub ca: PathBuf,
    /// `--client-id`, if given.
    pub client_id: Option<String>,
    /// The secret from [`SECRET_ENV`] or `--client-secret-file`, if either is given.
    pub client_secret: Option<SecretString>,
    pub limits: Limits,
    /// `--metrics-listen`, `--log-format`.
    pub operations: OperationsFlags,
    /// Ask callers for a TLS client certificate (client1's `--client-ca`); set by the binary.
    pub ask_client_certificates: bool,
    /// The certificate and key the outgoing connections present (client2's `--client-cert`
    /// and `--client-key`); set by the binary.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
}

impl ServiceFlags {
    /// The shared flags, taken from `flags`; the secret comes from `secret_env` (the value of
    /// [`SECRET_ENV`]) or `--client-secret-file`.
    pub fn take(
        flags: &mut Flags,
        default_listen: SocketAddr,
        secret_env: Option<OsString>,
    ) -> Result<ServiceFlags, UsageError> {
        let server = flags.server(default_listen)?;
        let auth_server = flags
            .value("--auth-server")?
            .ok_or("--auth-server URL (the authorization server's issuer) is required")?;
        let ca = flags
            .path("--ca")
            .ok_or("--ca FILE (the CA certificate to trust) is required")?;
        let client_id = flags.value("--client-id")?;
        let secret_file = flags.path("--client-secret-file");
        let client_secret = match (&secret_file, &secret_env) {
            (None, None) => None,
            _ => Some(load_client_secret(secret_file.as_deref(), secret_env)?),
        };
        let limits = flags.limits()?;
        let operations = OperationsFlags::take(flags)?;
        Ok(ServiceFlags {
            listen: server.listen,
            cert: server.cert,
            key: server.key,
            auth_server,
            ca,
            client_id,
            client_secret,
            limits,
            operations,
            ask_client_certificates: false,
            client_certificate: None,
        })
    }

    /// Refuses to go on without a client id and a secret, for a service that authenticates
    /// to the authorization server with them.
    pub fn require_identity(&self) -> Result<(), UsageError> {
        if self.client_id.is_none() {
            return Err("--client-id ID is required".into());
        }
        if self.client_secret.is_none() {
            return Err(format!(
                "a client secret is needed: set {SECRET_ENV} or pass --client-secret-file FILE"
            )
            .into());
        }
        Ok(())
    }
}

/// The client secret from the environment variable's value or from a file (one trailing
/// newline stripped), never both, never empty.
pub fn load_client_secret(
    file: Option<&Path>,
    env_value: Option<OsString>,
) -> Result<SecretString, UsageError> {
    let env_value = env_value
        .map(|value| {
            value
                .into_string()
                .map(SecretString::new)
                .map_err(|_| format!("{SECRET_ENV} is not UTF-8"))
        })
        .transpose()?;
    let secret = match (file, env_value) {
        (Some(file), Some(_)) => {
            return Err(format!(
                "both {SECRET_ENV} and --client-secret-file {} are given; use one of them",
                file.display()
            )
            .into())
        }
        (None, None) => {
            return Err(format!(
                "a client secret is needed: set {SECRET_ENV} or pass --client-secret-file FILE"
            )
            .into())
        }
        (None, Some(value)) => value,
        (Some(file), None) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read --client-secret-file {}: {e}", file.display()))?;
            let text = SecretString::new(text);
            let value = text.expose();
            let value = value
                .strip_suffix("\r\n")
                .or_else(|| value.strip_suffix('\n'))
                .unwrap_or(value);
            SecretString::new(value.to_owned())
        }
    };
    if secret.expose().is_empty() {
        return Err(match file {
            Some(file) => format!("--client-secret-file {} is empty", file.display()),
            None => format!("{SECRET_ENV} is empty"),
        }
        .into());
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_is_lowered_only_when_it_does_not_fit_under_the_file_limit() {
        assert_eq!(fitted_connections(4096, 1, 1_048_576), 4096);
        assert_eq!(fitted_connections(4096, 1, 1024), 960);
        assert_eq!(fitted_connections(4096, 3, 1024), 320);
        assert_eq!(fitted_connections(100, 1, 164), 100);
        assert_eq!(fitted_connections(100, 1, 163), 99);
        // Whatever the limit, a service still serves.
        assert_eq!(fitted_connections(4096, 1, 10), 1);
        assert_eq!(fitted_connections(4096, 1, u64::MAX), 4096);
    }

    fn temp_file(name: &str, contents: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tollgate-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn a_secret_file_loses_one_trailing_newline() {
        let path = temp_file("one", "s3cret\n\n");
        assert_eq!(
            load_client_secret(Some(&path), None).unwrap().expose(),
            "s3cret\n"
        );
        let path = temp_file("two", "s3cret");
        assert_eq!(
            load_client_secret(Some(&path), None).unwrap().expose(),
            "s3cret"
        );
    }

    #[test]
    fn empty_missing_or_doubled_secrets_are_refused() {
        let path = temp_file("empty", "\n");
        assert!(load_client_secret(Some(&path), None)
            .unwrap_err()
            .0
            .contains("empty"));
        let both = load_client_secret(Some(&path), Some("x".into()))
            .unwrap_err()
            .0;
        assert!(both.contains(SECRET_ENV) && both.contains("--client-secret-file"));
        assert!(load_client_secret(None, None).is_err());
        assert!(load_client_secret(None, Some(OsString::new())).is_err());
    }
}
