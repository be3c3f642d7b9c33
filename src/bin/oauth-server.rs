//! `oauth-server`: the authorization server command. Parses flags and calls the library.
//!
//! ```text
//! oauth-server gen-certs --out DIR [--force]
//! oauth-server add-client --clients FILE --id ID [--scope "read write"] [--introspect]
//! oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
//!                      [--token-ttl SECS] [--issuer URL] [limit flags]
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tollgate::auth::clients::{self, ClientRegistry};
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::cli::Flags;
use tollgate::http::{self, Limits};
use tollgate::{access_log, certs};

const USAGE: &str = "usage:
  oauth-server gen-certs --out DIR [--force]
  oauth-server add-client --clients FILE --id ID [--scope \"read write\"] [--introspect]
  oauth-server [serve] [--listen ADDR] [--cert FILE] [--key FILE] [--clients FILE]
                       [--token-ttl SECS] [--issuer URL] [limit flags]
defaults: --listen 127.0.0.1:5003 --cert certs/server.pem --key certs/server.key
          --clients clients.json --token-ttl 3600 --issuer https://localhost:PORT
limit flags:";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}\n{}", Limits::FLAGS_HELP);
            return ExitCode::SUCCESS;
        }
        Some(first) if !first.starts_with('-') => args.remove(0),
        _ => "serve".to_owned(),
    };
    let result = match command.as_str() {
        "gen-certs" => gen_certs(args),
        "add-client" => add_client(args),
        "serve" => serve(args),
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("oauth-server: {message}");
            ExitCode::FAILURE
        }
    }
}

fn gen_certs(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &["--force"])?;
    let out = flags.value("--out").ok_or("gen-certs needs --out DIR")?;
    let force = flags.switch("--force");
    flags.finish()?;
    certs::generate(&PathBuf::from(&out), force).map_err(|e| e.to_string())?;
    eprintln!("wrote {out}/ca.pem, {out}/server.pem and {out}/server.key");
    Ok(())
}

fn add_client(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &["--introspect"])?;
    let file = flags
        .value("--clients")
        .ok_or("add-client needs --clients FILE")?;
    let id = flags.value("--id").ok_or("add-client needs --id ID")?;
    let scopes = clients::parse_scope_list(&flags.value("--scope").unwrap_or_default())?;
    let introspect = flags.switch("--introspect");
    flags.finish()?;
    let secret = clients::add_client(&PathBuf::from(&file), &id, scopes, introspect)
        .map_err(|e| e.to_string())?;
    // The only place a client secret is ever shown.
    let line = serde_json::json!({ "client_id": id, "client_secret": secret.expose() });
    println!("{line}");
    Ok(())
}

fn serve(args: Vec<String>) -> Result<(), String> {
    let mut flags = Flags::parse(args, &[])?;
    let server = flags.server(SocketAddr::from(([127, 0, 0, 1], 5003)))?;
    let clients_file = flags
        .value("--clients")
        .unwrap_or_else(|| "clients.json".into());
    let token_ttl: u64 = flags
        .parsed("--token-ttl", "a whole number of seconds")?
        .unwrap_or(3600);
    if token_ttl == 0 {
        return Err("--token-ttl must be at least 1 second".into());
    }
    let issuer = flags.value("--issuer");
    let mut limits = Limits::default();
    flags.limits(&mut limits)?;
    flags.finish()?;

    let registry =
        ClientRegistry::load(&PathBuf::from(&clients_file)).map_err(|e| e.to_string())?;
    let tls = http::server_tls_config(&server.cert, &server.key).map_err(|e| e.to_string())?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let listen = server.listen;
    runtime.block_on(async move {
        let listener = http::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        // With port 0 the kernel picks the port: log and use the address actually bound.
        let bound = listener.local_addr().unwrap_or(listen);
        let port = bound.port();
        let issuer = issuer.unwrap_or_else(|| format!("https://localhost:{port}"));
        let mut config = AuthConfig::new(issuer.clone());
        config.token_ttl = Duration::from_secs(token_ttl);
        config.max_body_bytes = limits.max_body_bytes;
        let clients = registry.len();
        let server = Arc::new(AuthServer::new(registry, config));
        access_log::event(format_args!(
            "oauth-server listening on {bound} (issuer {issuer}, {clients} client(s))"
        ));
        tollgate::auth::run(listener, tls, limits, server, http::shutdown_signal()).await;
        access_log::event(format_args!("oauth-server stopped"));
        access_log::flush();
        Ok(())
    })
}
