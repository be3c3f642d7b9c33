//! A whole request through the token, introspection and revocation handlers.
//!
//! Input layout: byte 0 picks the endpoint and the content type, then the Authorization header
//! value up to the first 0xFF byte, then the body. Every answer must be a 2xx or a 4xx; a 5xx
//! or a panic is a bug.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tollgate::auth::clients::ClientRegistry;
use tollgate::auth::{AuthConfig, AuthServer};
use tollgate::secret::{sha256, to_hex};

fn server() -> &'static AuthServer {
    static SERVER: OnceLock<AuthServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let hash = to_hex(&sha256(b"secret"));
        let text = format!(
            r#"{{"clients":[{{"client_id":"svc","secret_sha256":"{hash}","scope":"read write"}},
            {{"client_id":"rs","secret_sha256":"{hash}","scope":"read","introspect":true}}]}}"#
        );
        let registry = ClientRegistry::parse(&text).expect("fixed registry");
        AuthServer::new(registry, AuthConfig::new("https://localhost:5003"))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let path = ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/healthz"]
        [usize::from(selector & 3)];
    let content_type = [
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        "application/json",
        "",
    ][usize::from(selector >> 2 & 3)];
    let (authorization, body) = match rest.iter().position(|&b| b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b""[..], rest),
    };
    let mut request = http::Request::post(path);
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    if !authorization.is_empty() {
        match http::HeaderValue::from_bytes(authorization) {
            Ok(value) => request = request.header("authorization", value),
            Err(_) => return,
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let response = runtime.block_on(server().respond(
        &parts,
        body,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    ));
    assert!(
        !response.status().is_server_error(),
        "{} answered {}",
        path,
        response.status()
    );
});
