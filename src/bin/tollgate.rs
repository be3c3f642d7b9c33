//! `tollgate`: the newcomer's command (`cargo run --release`). Generates development
//! certificates if there are none, provisions the demo clients, starts the authorization
//! server, client1 and client2 in one process, makes one call through the chain and says what
//! happened, then serves until Ctrl-C. Parses flags and calls [`tollgate::demo::run`].
//!
//! ```text
//! tollgate [--certs DIR] [--clients FILE] [--auth-port P] [--resource-port P] [--caller-port P]
//! ```

use std::process::ExitCode;

use tollgate::access_log;
use tollgate::cli::Flags;
use tollgate::demo::{self, DemoConfig};
use tollgate::http;

const USAGE: &str = "usage:
  tollgate [--certs DIR] [--clients FILE] [--auth-port P] [--resource-port P] [--caller-port P]
defaults: --certs certs --clients clients.json, ports 5003 (authorization server),
          5004 (client1, the resource) and 5005 (client2, the caller)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), Some("-h" | "--help")) {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            access_log::flush();
            eprintln!("tollgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &[])?;
    let mut config = DemoConfig::default();
    if let Some(dir) = flags.value("--certs") {
        config.certs_dir = dir.into();
    }
    if let Some(file) = flags.value("--clients") {
        config.clients_file = file.into();
    }
    let port = |flags: &mut Flags, name: &str, default: u16| -> Result<u16, String> {
        Ok(flags.parsed(name, "a port number")?.unwrap_or(default))
    };
    config.auth_port = port(&mut flags, "--auth-port", config.auth_port)?;
    config.resource_port = port(&mut flags, "--resource-port", config.resource_port)?;
    config.caller_port = port(&mut flags, "--caller-port", config.caller_port)?;
    flags.finish()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let mut stdout = std::io::stdout();
        let result = demo::run(config, &mut stdout, None, http::shutdown_signal()).await;
        access_log::flush();
        result
    })
}
