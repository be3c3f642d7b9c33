//! A `redis-server` of the test's own, for the shared-store tests: on a free loopback port,
//! with no persistence (`--save '' --appendonly no`, in a temporary directory), stopped,
//! restarted (same port) and paused by its process id, never a system Redis on 6379.
//!
//! Where no `redis-server` is on `PATH`, [`RedisServer::start`] prints that the test was
//! skipped and why, and returns `None`; with `TOLLGATE_REQUIRE_REDIS=1` (set by `.ci/run`,
//! which installs the package) it fails the test instead. [`RedisServer::keys`] and
//! [`RedisServer::query`] read the server over redis-rs's blocking connection.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::certs::temp_dir;

/// How long a fresh `redis-server` may take to answer PING.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A running `redis-server`, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

/// The `redis-server` on `PATH`, if any.
fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

impl RedisServer {
    /// A fresh `redis-server`, or `None` (with a line on stderr naming `test`) when there is
    /// none to run and `TOLLGATE_REQUIRE_REDIS` is not `1`.
    pub fn start(test: &str) -> Option<RedisServer> {
        RedisServer::start_with(test, &[])
    }

    /// Like [`RedisServer::start`], with more `redis-server` arguments (`--requirepass`, ...).
    pub fn start_with(test: &str, extra: &[&str]) -> Option<RedisServer> {
        if binary().is_none() {
            assert!(
                std::env::var("TOLLGATE_REQUIRE_REDIS").as_deref() != Ok("1"),
                "TOLLGATE_REQUIRE_REDIS=1 but there is no redis-server on PATH"
            );
            eprintln!(
                "SKIPPED {test}: no redis-server on PATH (apt-get install redis-server, \
                 or run .ci/run, which installs it)"
            );
            return None;
        }
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir: temp_dir("redis"),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        // A port free a moment ago can be taken before redis-server binds it: try a few.
        for _ in 0..5 {
            server.port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            if server.spawn() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of five free ports");
    }

    /// Starts the process on `self.port`; whether it answers PING within [`START_LIMIT`].
    fn spawn(&mut self) -> bool {
        let child = Command::new(binary().expect("redis-server"))
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < START_LIMIT {
            if self.answers_ping() {
                return true;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() {
                self.child = None;
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("redis-server running").id()
    }

    /// Kills the process (SIGKILL, by its id) and waits for it: an outage with no goodbye.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty (nothing was persisted).
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.spawn(),
            "redis-server did not restart on {}",
            self.port
        );
    }

    /// SIGSTOP or SIGCONT by process id: a Redis that holds its connections and answers
    /// nothing, then resumes.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} redis-server failed");
    }

    fn answers_ping(&self) -> bool {
        let ping = self
            .connection()
            .and_then(|mut c| redis::cmd("PING").query(&mut c));
        ping.is_ok_and(|v: redis::Value| v == redis::Value::SimpleString("PONG".into()))
    }

    /// A blocking connection, with the `--requirepass` it was started with, if any.
    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let at = self.extra.iter().position(|a| a == "--requirepass");
        let url = match at.and_then(|at| self.extra.get(at + 1)) {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => self.url(),
        };
        redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(2))
    }

    /// The answer of a command whose arguments are `args` (panics when it fails).
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&[u8]]) -> T {
        let (name, rest) = args.split_first().expect("a command");
        let mut command = redis::cmd(&String::from_utf8_lossy(name));
        for arg in rest {
            command.arg(*arg);
        }
        self.connection()
            .and_then(|mut c| command.query(&mut c))
            .unwrap_or_else(|e| panic!("redis {}: {e}", String::from_utf8_lossy(name)))
    }

    /// Every key in database 0.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        self.query(&[b"KEYS", b"*"])
    }

    /// A key's value.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.query(&[b"GET", key])
    }

    /// A key's time to live in milliseconds (-1: none, -2: no such key).
    pub fn pttl(&self, key: &[u8]) -> i64 {
        self.query(&[b"PTTL", key])
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Continued first, so that nothing is left stopped whatever happens to the kill.
        if self.child.is_some() {
            let _ = Command::new("kill")
                .args(["-CONT", &self.pid().to_string()])
                .status();
        }
        self.stop();
    }
}
