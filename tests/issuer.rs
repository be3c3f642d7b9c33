//! The issuer identifier (RFC 8414 §2, §3.1) as `oauth-server serve --issuer` takes it: an
//! `https` URL with a host and no query or fragment, or the server does not start. An issuer
//! with a path serves its metadata where §3.1 puts it (the well-known path, then the issuer's
//! path) and its endpoints under the path, and client1 and client2 find it there; a trailing
//! `/` stays in the issuer byte for byte but never doubles into `//` in a URL. `/healthz`
//! stays at the root.

mod support;

use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use support::child::{run, Service, OAUTH_SERVER};
use support::*;

const METADATA: &str = "/.well-known/oauth-authorization-server";

fn serve_command(listen: &str, issuer: &str) -> Command {
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", listen, "--cert"])
        .arg(certs().cert())
        .arg("--key")
        .arg(certs().key())
        .arg("--clients")
        .arg(&Clients::shared().file)
        .args(["--issuer", issuer]);
    command
}

/// The binary on a port reserved for it, with the issuer `https://localhost:PORT{path}`: the
/// issuer names the port, so the port is reserved (bound, not listening) before the start and
/// kept reserved while it runs, and the server binds it beside the reservation.
fn serve_issuer(path: &str) -> (Service, String, Reserved) {
    let reserved = Reserved::new();
    let issuer = format!("https://localhost:{}{path}", reserved.port());
    let service = Service::start(serve_command(&reserved.addr().to_string(), &issuer));
    (service, issuer, reserved)
}

#[test]
fn serve_refuses_an_issuer_that_is_not_an_https_url_with_a_host_and_no_query_or_fragment() {
    for bad in [
        "http://localhost:5003",
        "https://localhost:5003?tenant=1",
        "https://localhost:5003/?",
        "https://localhost:5003/#top",
        "https://user:password@localhost:5003",
        "https://",
        "https:///tenant",
        "https://localhost:5003//tenant",
        "localhost:5003",
        "/tenant",
        "ftp://localhost",
    ] {
        let output = run(
            &mut serve_command("127.0.0.1:0", bad),
            Duration::from_secs(20),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "--issuer {bad:?} was accepted: {stderr}"
        );
        assert!(
            stderr.contains("--issuer") && stderr.contains(bad) && stderr.contains("https"),
            "--issuer {bad:?}: the message does not say what is wrong: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "{bad:?}: {stderr}");
    }
}

/// Checks a metadata document: the issuer byte for byte, and the endpoints `base` + path.
fn assert_endpoints(reply: &Reply, issuer: &str, base: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let text = reply.text();
    assert!(
        text.contains(&format!("\"issuer\":\"{issuer}\"")),
        "issuer not byte for byte: {text}"
    );
    assert_eq!(
        text.matches("//").count(),
        4,
        "a '//' beyond the four schemes: {text}"
    );
    let body: Value = reply.json();
    for (member, path) in [
        ("token_endpoint", "/oauth/token"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
    ] {
        assert_eq!(body[member], format!("{base}{path}"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_issuer_serves_metadata_where_rfc_8414_puts_it_and_endpoints_under_its_path() {
    let (served, issuer, _reserved) = serve_issuer("/tenant");
    let origin = served.base.clone();
    for proto in BOTH {
        let h = http(proto);
        let reply = h.get(&format!("{origin}{METADATA}/tenant")).await;
        assert_endpoints(&reply, &issuer, &issuer);
        // Every endpoint the metadata names answers there.
        let reply = h
            .token_basic(&issuer, "svc", Clients::shared().secret("svc"), "")
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{proto:?}: {}", reply.text());
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        let reply = h
            .post_form(
                &format!("{issuer}/oauth/introspect"),
                &format!("token={token}"),
                Some(&basic("rs", Clients::shared().secret("rs"))),
            )
            .await;
        assert_eq!(reply.json()["active"], true, "{}", reply.text());
        assert_eq!(reply.json()["iss"], issuer.as_str());
        let reply = h
            .post_form(
                &format!("{issuer}/oauth/revoke"),
                &format!("token={token}"),
                Some(&basic("svc", Clients::shared().secret("svc"))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        // Nothing is served at the paths of an issuer without the path ...
        for path in [METADATA, "/oauth/token", "/tenant/healthz"] {
            let reply = h.get(&format!("{origin}{path}")).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{proto:?} {path}");
        }
        // ... but health stays at the root.
        let reply = h.get(&format!("{origin}/healthz")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client1_and_client2_discover_a_path_issuer_and_the_chain_works() {
    let (_served, issuer, _reserved) = serve_issuer("/tenant/");
    let client1 = start_client1(&issuer, Duration::from_secs(5)).await;
    let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
    for proto in BOTH {
        let reply = http(proto).get(&client2.url("/call")).await;
        assert_eq!(reply.status, StatusCode::OK, "{proto:?}: {}", reply.text());
        assert_eq!(reply.json()["client_id"], "c2", "{}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trailing_slash_stays_in_the_issuer_and_never_doubles_into_a_url() {
    for path in ["/", "/tenant/"] {
        let (served, issuer, _reserved) = serve_issuer(path);
        let trimmed = issuer.trim_end_matches('/');
        // The metadata of `https://host/` is at the root well-known path.
        let location = format!("{}{METADATA}{}", served.base, path.trim_end_matches('/'));
        for proto in BOTH {
            let h = http(proto);
            let reply = h.get(&location).await;
            assert_endpoints(&reply, &issuer, trimmed);
            let reply = h
                .token_basic(trimmed, "svc", Clients::shared().secret("svc"), "")
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{proto:?} {path}");
        }
        // client2 finds it, and its tokens work at client1.
        let client1 = start_client1(&issuer, Duration::from_secs(5)).await;
        let client2 = start_client2(&issuer, &client1.url("/api/resource")).await;
        let reply = http(Proto::H2).get(&client2.url("/call")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text());
    }
}
