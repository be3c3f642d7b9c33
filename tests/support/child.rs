//! The binaries as child processes. [`Service::start`] runs a server binary with
//! `--listen ...:0` and reads the address it bound from its `listening on ADDR` log line, so
//! no test probes for a free port; its stderr keeps being drained into a buffer tests can read
//! ([`Service::log`]). The child is killed when the guard is dropped. [`run`] and [`try_run`]
//! run a command that should exit by itself, bounded in time; [`wrapped`] runs one under
//! another (such as `prlimit`).

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a service may take to log its address.
const START_LIMIT: Duration = Duration::from_secs(20);
/// Most bytes of a child's stderr kept for [`Service::log`].
const MAX_LOG: usize = 8 << 20;

pub const OAUTH_SERVER: &str = env!("CARGO_BIN_EXE_oauth-server");
pub const CLIENT1: &str = env!("CARGO_BIN_EXE_client1");
pub const CLIENT2: &str = env!("CARGO_BIN_EXE_client2");

/// A running server binary, killed when dropped.
pub struct Service {
    child: Option<Child>,
    /// The address the child bound, from its log.
    pub addr: SocketAddr,
    /// `https://localhost:PORT`
    pub base: String,
    log: Arc<Mutex<String>>,
    drain: Option<JoinHandle<()>>,
}

/// How a service ended.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    /// From the signal to the exit.
    pub took: Duration,
    /// All of stderr.
    pub log: String,
}

impl Service {
    /// Starts `command` (which must listen on port 0 or any port and log `listening on ADDR`);
    /// panics with its stderr when it exits or stays silent instead.
    pub fn start(command: Command) -> Service {
        Service::try_start(command).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Service::start`]; `Err` holds what went wrong and the child's stderr.
    pub fn try_start(mut command: Command) -> Result<Service, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (bound_tx, bound_rx) = mpsc::channel::<SocketAddr>();
        let drain = {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut bound_tx = Some(bound_tx);
                let mut lines = BufReader::new(stderr);
                let mut line = String::new();
                loop {
                    line.clear();
                    match lines.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if let Ok(mut log) = log.lock() {
                        if log.len() + line.len() <= MAX_LOG {
                            log.push_str(&line);
                        }
                    }
                    // After the line is in the log: a test may look for it at once.
                    if let Some(addr) = bound_tx.as_ref().and(listening_addr(&line)) {
                        let _ = bound_tx.take().expect("sender").send(addr);
                    }
                }
            })
        };
        let mut service = Service {
            child: Some(child),
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            base: String::new(),
            log,
            drain: Some(drain),
        };
        match bound_rx.recv_timeout(START_LIMIT) {
            Ok(addr) => {
                service.addr = addr;
                service.base = format!("https://localhost:{}", addr.port());
                Ok(service)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed: the child exited (or closed it) without listening.
                let exited = service.wait(START_LIMIT);
                Err(format!(
                    "{command:?} ended without listening ({:?}): {}",
                    exited.map(|e| e.status),
                    service.log()
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(format!(
                "{command:?} logged no address within {START_LIMIT:?}: {}",
                service.log()
            )),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Everything the child wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends SIGHUP (the service reloads its files and keeps running).
    pub fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -HUP failed");
    }

    /// Waits (at most `limit`) until the log holds `needle` at least `count` times.
    pub async fn wait_for_log(&self, needle: &str, count: usize, limit: Duration) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.matches(needle).count() >= count {
                return log;
            }
            assert!(
                started.elapsed() < limit,
                "{count} x {needle:?} not logged within {limit:?}: {log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident memory of the child, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Sends `signal` (`-TERM`, `-INT`) and waits (at most 15 s, else panics) for the exit.
    /// The wait yields to the runtime, so the test's own clients keep running meanwhile (an
    /// idle HTTP/2 connection must see the server's GOAWAY for the server to finish).
    pub async fn signal(mut self, signal: &str) -> Exited {
        let started = Instant::now();
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
        loop {
            if let Some(exited) = self.exited(started) {
                return exited;
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "the service ignored {signal} for 15 s: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded, blocking) for the child to exit.
    fn wait(&mut self, limit: Duration) -> Option<Exited> {
        let started = Instant::now();
        loop {
            if let Some(exited) = self.exited(started) {
                return Some(exited);
            }
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How the child ended, if it has; then its whole stderr is in the log.
    fn exited(&mut self, since: Instant) -> Option<Exited> {
        let status = self.child.as_mut()?.try_wait().expect("wait")?;
        self.child = None;
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        Some(Exited {
            status,
            took: since.elapsed(),
            log: self.log(),
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command running `program` under `wrapper` (a command that runs the rest of its
/// arguments, such as `prlimit --nofile=256:256`), or `program` itself when `wrapper` is empty.
pub fn wrapped(wrapper: &[&str], program: &str) -> Command {
    match wrapper.split_first() {
        Some((first, args)) => {
            let mut command = Command::new(first);
            command.args(args).arg(program);
            command
        }
        None => Command::new(program),
    }
}

/// The address in a `... listening on ADDR ...` line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Runs `command` to its exit; panics (with its stderr) when it runs longer than `limit`.
pub fn run(command: &mut Command, limit: Duration) -> Output {
    try_run(command, limit).unwrap_or_else(|output| {
        panic!(
            "{command:?} still running after {limit:?}; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Runs `command` to its exit, reading its stdout and stderr meanwhile; `Err` with what it
/// wrote when it had to be killed after `limit`.
pub fn try_run(command: &mut Command, limit: Duration) -> Result<Output, Output> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    wait_output(child, limit)
}

/// Waits (bounded) for a child started with piped stdout and stderr.
pub fn wait_output(mut child: Child, limit: Duration) -> Result<Output, Output> {
    fn reader(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    }
    let stdout = reader(child.stdout.take());
    let stderr = reader(child.stderr.take());
    let started = Instant::now();
    let (status, killed) = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break (status, false);
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            break (child.wait().expect("wait"), true);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if killed {
        Err(output)
    } else {
        Ok(output)
    }
}

/// `oauth-server add-client --clients FILE --id ID ARGS...`, which must succeed; the secret it
/// printed.
pub fn add_client_cli(file: &std::path::Path, id: &str, args: &[&str]) -> String {
    let output = run(
        Command::new(OAUTH_SERVER)
            .args(["add-client", "--clients"])
            .arg(file)
            .args(["--id", id])
            .args(args),
        Duration::from_secs(10),
    );
    assert!(output.status.success(), "{output:?}");
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    line["client_secret"]
        .as_str()
        .expect("a client secret")
        .to_owned()
}
