//! Audience-restricted tokens (RFC 8707) against the real binaries over real TLS: `add-client
//! --audience`, `resource=` at the token endpoint (each one registered, else `invalid_target`),
//! the token's audience at introspection, and client1's and client2's `--audience`.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};
use support::child::{add_client_cli, run, Service, CLIENT1, CLIENT2, OAUTH_SERVER};
use support::*;

const API: &str = "https://api.example";
const OTHER: &str = "https://other.example/v1";

struct Stack {
    server: Service,
    svc: String,
    plain: String,
    rs: String,
    dir: PathBuf,
}

/// An authorization server (opaque tokens) with `svc` registered for two audiences, `plain`
/// for none, and the resource server `rs`.
fn stack(label: &str) -> Stack {
    let dir = temp_dir(label);
    let file = dir.join("clients.json");
    let svc = add_client_cli(
        &file,
        "svc",
        &["--scope", "read", "--audience", API, "--audience", OTHER],
    );
    let plain = add_client_cli(&file, "plain", &["--scope", "read"]);
    let rs = add_client_cli(&file, "rs", &["--scope", "read", "--introspect"]);
    let certs = certs();
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(&file)
        .arg("--cert")
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key());
    Stack {
        server: Service::start(command),
        svc,
        plain,
        rs,
        dir,
    }
}

impl Stack {
    async fn token(&self, h: &Client, id: &str, extra: &str) -> Reply {
        let secret = if id == "svc" { &self.svc } else { &self.plain };
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("&{extra}")
        };
        h.token_basic(&self.server.base, id, secret, &extra).await
    }

    async fn introspect(&self, h: &Client, token: &str) -> Value {
        let body = format!("token={}", tollgate::form::encode_form_component(token));
        let reply = h
            .post_form(
                &self.server.url("/oauth/introspect"),
                &body,
                Some(&basic("rs", &self.rs)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        reply.json()
    }
}

fn access_token(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

#[test]
fn add_client_keeps_audiences_in_the_clients_file_and_refuses_bad_ones() {
    let dir = temp_dir("audience-file");
    let file = dir.join("clients.json");
    add_client_cli(
        &file,
        "svc",
        &["--audience", API, "--audience", OTHER, "--audience", API],
    );
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        stored["clients"][0]["audiences"],
        json!([API, OTHER]),
        "in order, no repeats"
    );
    for bad in ["api.example", "https://api.example/#x", "https://a b", ""] {
        let output = run(
            Command::new(OAUTH_SERVER)
                .args(["add-client", "--clients"])
                .arg(&file)
                .args(["--id", "bad", "--audience", bad]),
            Duration::from_secs(10),
        );
        assert!(!output.status.success(), "{bad:?} was accepted");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("audience"),
            "{output:?}"
        );
    }
    let stored_after = std::fs::read_to_string(&file).unwrap();
    assert!(
        !stored_after.contains("\"bad\""),
        "a refused client is not written"
    );
}

#[tokio::test]
async fn each_resource_must_be_registered_for_the_client_else_invalid_target() {
    let stack = stack("audience-target");
    for h in both() {
        for (extra, what) in [
            (
                "resource=https%3A%2F%2Fnope.example",
                "an unregistered resource",
            ),
            ("resource=api.example", "a relative resource"),
            (
                "resource=https%3A%2F%2Fapi.example%2F%23frag",
                "a resource with a fragment",
            ),
            (
                "resource=https%3A%2F%2Fapi.example&resource=https%3A%2F%2Fnope.example",
                "one good and one unregistered",
            ),
        ] {
            let reply = stack.token(&h, "svc", extra).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{what}: {}",
                reply.text()
            );
            assert_eq!(reply.error(), "invalid_target", "{what}");
        }
        // A client with no audiences may ask for none.
        let reply = stack
            .token(&h, "plain", "resource=https%3A%2F%2Fapi.example")
            .await;
        assert_eq!(reply.error(), "invalid_target");
    }
}

#[tokio::test]
async fn the_token_is_for_the_resources_asked_or_else_every_registered_audience() {
    let stack = stack("audience-granted");
    for h in both() {
        let one = access_token(
            &stack
                .token(&h, "svc", "resource=https%3A%2F%2Fapi.example")
                .await,
        );
        let answer = stack.introspect(&h, &one).await;
        assert_eq!(answer["active"], true);
        assert_eq!(answer["aud"], json!(API), "one audience is a string");

        let both_asked = access_token(
            &stack
                .token(
                    &h,
                    "svc",
                    "resource=https%3A%2F%2Fother.example%2Fv1&resource=https%3A%2F%2Fapi.example",
                )
                .await,
        );
        assert_eq!(
            stack.introspect(&h, &both_asked).await["aud"],
            json!([API, OTHER])
        );

        let unasked = access_token(&stack.token(&h, "svc", "").await);
        assert_eq!(
            stack.introspect(&h, &unasked).await["aud"],
            json!([API, OTHER]),
            "without resource: every registered audience"
        );

        let plain = access_token(&stack.token(&h, "plain", "").await);
        let answer = stack.introspect(&h, &plain).await;
        assert_eq!(answer["active"], true);
        assert!(
            answer.get("aud").is_none(),
            "no audience restriction: {answer}"
        );
    }
    let _ = std::fs::remove_dir_all(&stack.dir);
}

/// client1 started with `--audience`, against the stack's server.
fn client1_for(stack: &Stack, audience: &str) -> Service {
    let certs = certs();
    let mut command = Command::new(CLIENT1);
    command
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .args(["--auth-server", &stack.server.base, "--ca"])
        .arg(certs.ca())
        .args(["--client-id", "rs", "--audience", audience])
        .env("OAUTH_CLIENT_SECRET", &stack.rs);
    Service::start(command)
}

#[tokio::test]
async fn client1_with_an_audience_refuses_tokens_for_other_resources_or_for_none() {
    let stack = stack("audience-client1");
    let client1 = client1_for(&stack, API);
    let resource = client1.url("/api/resource");
    for h in both() {
        let for_api = access_token(
            &stack
                .token(&h, "svc", "resource=https%3A%2F%2Fapi.example")
                .await,
        );
        assert_eq!(
            h.get_bearer(&resource, &for_api).await.status,
            StatusCode::OK
        );
        let for_other = access_token(
            &stack
                .token(&h, "svc", "resource=https%3A%2F%2Fother.example%2Fv1")
                .await,
        );
        let for_none = access_token(&stack.token(&h, "plain", "").await);
        for (token, what) in [
            (&for_other, "another resource's token"),
            (&for_none, "a token for no audience"),
        ] {
            let reply = h.get_bearer(&resource, token).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{what}");
            assert!(
                reply
                    .header("www-authenticate")
                    .is_some_and(|c| c.contains("error=\"invalid_token\"")),
                "{what}: {:?}",
                reply.headers
            );
        }
    }
}

/// client2 started with `--audience audience`, calling `client1`.
fn client2_for(stack: &Stack, audience: &str, client1: &Service) -> Service {
    let certs = certs();
    let mut command = Command::new(CLIENT2);
    command
        .args(["--listen", "127.0.0.1:0", "--cert"])
        .arg(certs.cert())
        .arg("--key")
        .arg(certs.key())
        .args(["--auth-server", &stack.server.base, "--ca"])
        .arg(certs.ca())
        .args(["--client-id", "svc", "--audience", audience, "--resource"])
        .arg(client1.url("/api/resource"))
        .env("OAUTH_CLIENT_SECRET", &stack.svc);
    Service::start(command)
}

#[tokio::test]
async fn client2_with_an_audience_asks_for_tokens_for_that_resource() {
    let stack = stack("audience-client2");
    let client1 = client1_for(&stack, OTHER);
    let client2 = client2_for(&stack, OTHER, &client1);
    // An audience the client is not registered for: the server refuses client2's token
    // requests (invalid_target), which shows client2 sends resource= with them.
    let misdirected = client2_for(&stack, "https://unregistered.example", &client1);
    for h in both() {
        let reply = h.get(&client2.url("/call")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["client_id"], "svc");
        let reply = h.get(&misdirected.url("/call")).await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    }
}
