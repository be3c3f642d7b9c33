//! The one connection a process keeps to its Redis: opened on first use, pipelined, and
//! opened again when it fails.
//!
//! Owns: [`Link`] (where Redis is and as whom, and the live connection if any), connecting
//! (TCP, TLS for `rediss://` with the system's roots on ring, `AUTH` and `SELECT`, all within
//! [`CONNECTION_TIMEOUT`]), one call ([`Link::call`], within [`RESPONSE_TIMEOUT`]), and the task
//! that owns the socket: it writes every queued command at once (the commands of concurrent
//! requests share writes) and hands each reply to its caller in order. A connection that
//! errs, closes, sends something that is not RESP, or takes no write within
//! [`RESPONSE_TIMEOUT`] ends, and every call waiting on it fails; a call left unanswered past
//! its timeout makes the link open a new connection for the calls after it (the old one
//! serves the calls already on it, in order, until it ends or they do). The next call after a
//! failure connects again, after a back-off of 50 ms doubling to [`MAX_BACKOFF`] while
//! connecting fails or each connection ends within [`STABLE_CONNECTION`] of opening, so a Redis
//! that is down, at its client limit, or behind a proxy that accepts and closes costs each
//! request one fast failure rather than a connection attempt. Does not own: the deadline of a
//! whole request (the parent's) or what commands mean.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};

use super::resp::{self, Command, Value};
use super::{CONNECTION_TIMEOUT, MAX_BACKOFF, RESPONSE_TIMEOUT};
use crate::secret::SecretString;

/// Why a call has no reply: a short, fixed description, never a command or a reply's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallError(pub &'static str);

/// Where the store is and as whom.
pub struct Target {
    pub host: String,
    pub port: u16,
    /// `rediss://`: TLS, the server's certificate checked against the system's roots.
    pub tls: bool,
    pub username: Option<SecretString>,
    pub password: Option<SecretString>,
    pub db: u32,
}

/// Most commands queued for the socket task before callers wait to queue more.
const QUEUE: usize = 1024;
/// The first wait after a failed connection attempt.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// A connection that ends sooner than this after opening counts as a failed attempt: a Redis
/// at its client limit accepts, answers an error and closes, and would otherwise be connected
/// to again by every request.
const STABLE_CONNECTION: Duration = Duration::from_secs(1);

/// A command on its way, and where its reply goes.
struct Pending {
    wire: Vec<u8>,
    reply: oneshot::Sender<Result<Value, CallError>>,
}

/// The connection to one Redis.
pub struct Link {
    target: Target,
    tls: Option<tokio_rustls::TlsConnector>,
    /// The live connection's queue, if there is one.
    live: Mutex<Option<mpsc::Sender<Pending>>>,
    /// One connection attempt at a time; the others wait for its outcome.
    connecting: tokio::sync::Mutex<Backoff>,
}

#[derive(Default)]
struct Backoff {
    /// No attempt before this instant, after a failed one.
    not_before: Option<Instant>,
    next_wait: Option<Duration>,
    /// When the live connection, or the last one, was opened.
    opened: Option<Instant>,
}

impl Backoff {
    /// After an attempt made `at` that failed: no other until the wait has passed since, and
    /// the one after that twice as long.
    fn failed(&mut self, at: Instant) {
        let wait = self.next_wait.unwrap_or(FIRST_BACKOFF);
        self.not_before = Some(at + wait);
        self.next_wait = Some((wait * 2).min(MAX_BACKOFF));
    }
}

impl Link {
    /// A link to `target`; nothing is connected until the first call.
    pub fn new(target: Target) -> Result<Link, CallError> {
        let tls = if target.tls {
            Some(tokio_rustls::TlsConnector::from(Arc::new(
                system_roots_config()?,
            )))
        } else {
            None
        };
        Ok(Link {
            target,
            tls,
            live: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(Backoff::default()),
        })
    }

    /// Sends `command` and waits for its reply, connecting first if need be. An error reply
    /// is a reply (`Value::Error`); `Err` means there is none.
    pub async fn call(&self, command: &Command) -> Result<Value, CallError> {
        let queue = self.queue().await?;
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            wire: command.encode(),
            reply,
        };
        match timeout(RESPONSE_TIMEOUT, queue.send(pending)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                self.forget(&queue);
                return Err(CallError("the connection to Redis closed"));
            }
            Err(_) => {
                self.forget(&queue);
                return Err(CallError("Redis did not take the command in time"));
            }
        }
        match timeout(RESPONSE_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError("the connection to Redis closed")),
            Err(_) => {
                // A Redis that stopped answering: the calls after this one get a new
                // connection rather than queue behind it.
                self.forget(&queue);
                Err(CallError("Redis did not answer in time"))
            }
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Pending>>> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops `queue` as the live connection (its task then ends and fails what it holds).
    fn forget(&self, queue: &mpsc::Sender<Pending>) {
        let mut live = self.live();
        if live.as_ref().is_some_and(|q| q.same_channel(queue)) {
            *live = None;
        }
    }

    /// The live connection's queue, connecting if there is none.
    async fn queue(&self) -> Result<mpsc::Sender<Pending>, CallError> {
        if let Some(queue) = self.live().as_ref().filter(|q| !q.is_closed()) {
            return Ok(queue.clone());
        }
        let mut backoff = self.connecting.lock().await;
        // Another caller may have connected while this one waited.
        if let Some(queue) = self.live().as_ref().filter(|q| !q.is_closed()) {
            return Ok(queue.clone());
        }
        if let Some(opened) = backoff.opened.take() {
            if opened.elapsed() < STABLE_CONNECTION {
                // Counted from the opening: a call that comes once the wait has passed
                // connects at once.
                backoff.failed(opened);
            } else {
                *backoff = Backoff::default();
            }
        }
        if backoff.not_before.is_some_and(|t| Instant::now() < t) {
            return Err(CallError("Redis is unreachable; retrying shortly"));
        }
        match timeout(CONNECTION_TIMEOUT, self.connect()).await {
            Ok(Ok(queue)) => {
                // The wait keeps growing until a connection proves stable (above).
                backoff.not_before = None;
                backoff.opened = Some(Instant::now());
                *self.live() = Some(queue.clone());
                Ok(queue)
            }
            failed => {
                backoff.failed(Instant::now());
                Err(match failed {
                    Ok(Err(e)) => e,
                    _ => CallError("connecting to Redis timed out"),
                })
            }
        }
    }

    async fn connect(&self) -> Result<mpsc::Sender<Pending>, CallError> {
        let target = &self.target;
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|_| CallError("cannot connect to Redis"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.start(tcp).await,
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|_| CallError("the Redis host is not a TLS server name"))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|_| CallError("the TLS handshake with Redis failed"))?;
                self.start(stream).await
            }
        }
    }

    /// Authenticates and selects the database on `stream`, then hands it to its task.
    async fn start<S>(&self, mut stream: S) -> Result<mpsc::Sender<Pending>, CallError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let target = &self.target;
        let mut buf = Vec::new();
        if let Some(password) = &target.password {
            let user = target.username.as_ref().map(|u| u.expose());
            let mut answer = exchange(&mut stream, &mut buf, &auth(user, password)).await?;
            // A Redis before 6 knows no users: it takes the password alone.
            let no_users =
                matches!(&answer, Value::Error(e) if e.contains("wrong number of arguments"));
            if user.is_some() && no_users {
                answer = exchange(&mut stream, &mut buf, &auth(None, password)).await?;
            }
            if !answer.is_ok() {
                return Err(CallError("Redis refused the store's credentials"));
            }
        }
        if target.db != 0 {
            let mut select = Command::new("SELECT");
            select.num(u64::from(target.db));
            if !exchange(&mut stream, &mut buf, &select).await?.is_ok() {
                return Err(CallError("Redis refused the database number"));
            }
        }
        let (queue, commands) = mpsc::channel(QUEUE);
        tokio::spawn(drive(stream, commands, buf));
        Ok(queue)
    }
}

/// `AUTH [user] password`, in a buffer that never grows (so the one copy is wiped on drop).
fn auth(user: Option<&str>, password: &SecretString) -> Command {
    let room = 64 + user.map_or(0, str::len) + password.expose().len();
    let mut auth = Command::with_capacity("AUTH", room);
    if let Some(user) = user {
        auth.arg(user);
    }
    auth.arg(password.expose());
    auth
}

/// One command and its reply, before the connection is shared.
async fn exchange<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    command: &Command,
) -> Result<Value, CallError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let lost = |_| CallError("the connection to Redis closed");
    let mut wire = command.encode();
    let sent = stream.write_all(&wire).await;
    // `AUTH` carries the store's password.
    zeroize::Zeroize::zeroize(&mut wire);
    sent.map_err(lost)?;
    stream.flush().await.map_err(lost)?;
    loop {
        if let Some((value, used)) =
            resp::parse(buf).map_err(|_| CallError("Redis spoke no RESP"))?
        {
            buf.drain(..used);
            return Ok(value);
        }
        if stream.read_buf(buf).await.map_err(lost)? == 0 {
            return Err(CallError("the connection to Redis closed"));
        }
    }
}

/// The socket's task: writes queued commands, reads replies in order, until the connection
/// fails or the link drops it; then every caller still waiting gets an error.
async fn drive<S>(stream: S, mut commands: mpsc::Receiver<Pending>, mut buf: Vec<u8>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut waiting: VecDeque<oneshot::Sender<Result<Value, CallError>>> = VecDeque::new();
    let mut out = Vec::new();
    'connection: loop {
        tokio::select! {
            pending = commands.recv() => {
                let Some(pending) = pending else { break 'connection };
                out.extend_from_slice(&pending.wire);
                waiting.push_back(pending.reply);
                while let Ok(more) = commands.try_recv() {
                    out.extend_from_slice(&more.wire);
                    waiting.push_back(more.reply);
                }
                // A Redis that stops reading: give up on the connection rather than wait on a
                // full socket buffer for as long as the kernel would.
                let written = timeout(RESPONSE_TIMEOUT, async {
                    writer.write_all(&out).await?;
                    writer.flush().await
                });
                if !matches!(written.await, Ok(Ok(()))) {
                    break 'connection;
                }
                out.clear();
            }
            read = reader.read_buf(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break 'connection;
                }
                let mut at = 0;
                loop {
                    match resp::parse(&buf[at..]) {
                        Ok(Some((value, used))) => {
                            at += used;
                            // A reply nobody asked for: the stream is out of step.
                            let Some(caller) = waiting.pop_front() else { break 'connection };
                            let _ = caller.send(Ok(value));
                        }
                        Ok(None) => break,
                        Err(_) => break 'connection,
                    }
                }
                buf.drain(..at);
            }
        }
    }
    for caller in waiting {
        let _ = caller.send(Err(CallError("the connection to Redis closed")));
    }
}

/// A client configuration trusting the system's roots, on ring.
fn system_roots_config() -> Result<rustls::ClientConfig, CallError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A root the system has but rustls cannot read is skipped, as every client does.
        let _ = roots.add(cert);
    }
    let config = rustls::ClientConfig::builder_with_provider(crate::http::crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|_| CallError("no TLS configuration for Redis"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests;
