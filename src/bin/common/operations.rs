//! The operations flags every service takes, and what they start: `--metrics-listen ADDR`
//! (the plain-HTTP `/metrics` listener, off by default), `--log-format text|json`, and the
//! SIGHUP watcher that re-reads a service's files.
//!
//! Owns: parsing those flags, binding the metrics listener (its address logged as
//! `PROGRAM metrics at http://ADDR/metrics`, after the service's `listening on` line), and
//! calling a service's reload on each SIGHUP. Does not own: what a reload re-reads (each
//! binary), nor the metrics (the services).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tollgate::access_log::{self, LogFormat};
use tollgate::http::{self, ServerCertificate};
use tollgate::metrics::Source;

use super::{BoxError, Flags, UsageError};

/// The operations flags, for usage texts.
pub const OPERATIONS_FLAGS_HELP: &str =
    "  --metrics-listen ADDR (off: GET http://ADDR/metrics, Prometheus text format)
  --log-format text|json (text)";

/// `--metrics-listen` and `--log-format`.
#[derive(Debug, Default)]
pub struct OperationsFlags {
    pub metrics_listen: Option<SocketAddr>,
    pub log_format: LogFormat,
}

impl OperationsFlags {
    pub fn take(flags: &mut Flags) -> Result<OperationsFlags, UsageError> {
        let metrics_listen = flags.parsed(
            "--metrics-listen",
            "a socket address such as 127.0.0.1:9103",
        )?;
        let log_format = match flags.value("--log-format")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(format!("--log-format takes text or json, not {other:?}").into())
            }
        };
        Ok(OperationsFlags {
            metrics_listen,
            log_format,
        })
    }

    /// Sets the log format for every line from now on.
    pub fn apply_log_format(&self) {
        access_log::set_format(self.log_format);
    }

    /// Binds the metrics listener, if asked for, and serves `source` on it until the returned
    /// task is aborted. Call it inside the runtime, after the service's `listening on` line.
    pub async fn start_metrics(
        &self,
        program: &str,
        source: Arc<dyn Source>,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, BoxError> {
        let Some(addr) = self.metrics_listen else {
            return Ok(None);
        };
        let listener = http::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on --metrics-listen {addr}: {e}"))?;
        let bound = listener.local_addr().unwrap_or(addr);
        access_log::event(format_args!(
            "{program} metrics at http://{bound}{}",
            http::METRICS_PATH
        ));
        let serving = http::serve_metrics(listener, source, std::future::pending());
        Ok(Some(tokio::spawn(serving)))
    }
}

/// Calls `reload` on every SIGHUP, until the returned task is aborted.
pub fn on_hangup(reload: impl Fn() + Send + 'static) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            access_log::event(format_args!("SIGHUP cannot be watched; reload disabled"));
            return;
        };
        while hangups.recv().await.is_some() {
            reload();
        }
    })
}

/// Re-reads the TLS certificate and key: new connections get the new pair; a pair that does
/// not load leaves the one in use, and one line says why.
pub fn reload_certificate(certificate: &ServerCertificate) {
    match certificate.reload() {
        Ok(()) => access_log::event(format_args!(
            "SIGHUP: TLS certificate reloaded from {}",
            certificate.cert_path().display()
        )),
        Err(e) => access_log::event(format_args!("SIGHUP: TLS certificate kept: {e}")),
    }
}

/// The certificate of a server's `--cert` and `--key`, and the TLS configuration over it
/// (asking callers for a client certificate when `ask_client_certificates`).
pub fn server_certificate(
    cert: &Path,
    key: &Path,
    ask_client_certificates: bool,
) -> Result<(Arc<ServerCertificate>, Arc<rustls::ServerConfig>), BoxError> {
    let certificate = ServerCertificate::load(cert, key)?;
    let tls = http::server_tls(certificate.clone(), ask_client_certificates)?;
    Ok((certificate, tls))
}
