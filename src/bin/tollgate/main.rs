//! `tollgate`: the newcomer's command (`cargo run --release`). Generates development
//! certificates if there are none, provisions the demo clients, starts the authorization
//! server, client1 and client2 in one process, makes one call through the chain and says what
//! happened, then serves until Ctrl-C. Parses flags and calls [`demo::run`].
//!
//! ```text
//! tollgate [--certs DIR] [--clients FILE] [--keys DIR] [--auth-port P] [--resource-port P]
//!          [--caller-port P]
//! ```

#[path = "../common/mod.rs"]
mod common;
mod demo;

use std::ffi::OsString;
use std::process::ExitCode;

use common::{BoxError, Flags};
use demo::DemoConfig;
use tollgate::{access_log, http};

const USAGE: &str = "usage:
  tollgate [--certs DIR] [--clients FILE] [--keys DIR] [--auth-port P] [--resource-port P]
           [--caller-port P]
defaults: --certs certs --clients clients.json --keys keys, ports 5003 (authorization server),
          5004 (client1, the resource) and 5005 (client2, the caller); port 0 picks a free one";

fn main() -> ExitCode {
    common::main("tollgate", USAGE, run)
}

fn run(args: Vec<OsString>) -> Result<(), BoxError> {
    let mut flags = Flags::parse(args, &[])?;
    let mut config = DemoConfig::default();
    if let Some(dir) = flags.path("--certs") {
        config.certs_dir = dir;
    }
    if let Some(file) = flags.path("--clients") {
        config.clients_file = file;
    }
    if let Some(dir) = flags.path("--keys") {
        config.keys_dir = dir;
    }
    let port = |flags: &mut Flags, name: &str, default: u16| -> Result<u16, BoxError> {
        Ok(flags.parsed(name, "a port number")?.unwrap_or(default))
    };
    config.auth_port = port(&mut flags, "--auth-port", config.auth_port)?;
    config.resource_port = port(&mut flags, "--resource-port", config.resource_port)?;
    config.caller_port = port(&mut flags, "--caller-port", config.caller_port)?;
    flags.finish()?;
    // Three services share this process's open files.
    common::fit_open_file_limit("tollgate", &mut config.limits, 3);

    common::runtime()?.block_on(async move {
        let mut stdout = std::io::stdout();
        let result = demo::run(config, &mut stdout, http::shutdown_signal()).await;
        access_log::flush();
        result
    })
}
