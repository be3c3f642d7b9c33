//! Operating the real binaries: `--metrics-listen` (every family from the first scrape,
//! parsed strictly; counters moving by exactly the requests made; no label a caller chose),
//! `/readyz`, and `--log-format json`.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use support::child::{add_client_cli, run, Service, CLIENT1, CLIENT2, OAUTH_SERVER};
use support::metrics::{metrics_addr, parse, plain_http, scrape, Scrape};
use support::{basic, basic_raw, certs, http, temp_dir, Proto};

/// Every service's families.
const COMMON: [&str; 4] = [
    "tollgate_requests_total",
    "tollgate_request_duration_seconds",
    "tollgate_connections",
    "tollgate_build_info",
];
const AUTH: [&str; 4] = [
    "tollgate_tokens_issued_total",
    "tollgate_client_auth_failures_total",
    "tollgate_throttled_total",
    "tollgate_live_tokens",
];
const RESOURCE: [&str; 3] = [
    "tollgate_introspections_total",
    "tollgate_token_cache_hits_total",
    "tollgate_jwks_fetches_total",
];

/// A clients file with `svc` (read), `rs` (introspects), `c2` (read); their secrets.
fn clients(label: &str) -> (PathBuf, HashMap<&'static str, String>) {
    let file = temp_dir(label).join("clients.json");
    let mut secrets = HashMap::new();
    secrets.insert("svc", add_client_cli(&file, "svc", &["--scope", "read"]));
    let rs = add_client_cli(&file, "rs", &["--scope", "read", "--introspect"]);
    secrets.insert("rs", rs);
    secrets.insert("c2", add_client_cli(&file, "c2", &["--scope", "read"]));
    (file, secrets)
}

fn tls_args(command: &mut Command) -> &mut Command {
    command
        .arg("--cert")
        .arg(certs().cert())
        .arg("--key")
        .arg(certs().key())
}

/// The authorization server with a metrics listener.
fn auth_server(clients: &Path, extra: &[&str]) -> Service {
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
        .arg(clients);
    tls_args(&mut command)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(extra);
    Service::start(command)
}

/// client1 or client2 against `auth`, with a metrics listener.
fn service(program: &str, auth: &Service, secret: Option<&str>, extra: &[&str]) -> Service {
    let mut command = Command::new(program);
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--auth-server",
        &auth.base,
        "--ca",
    ]);
    command.arg(certs().ca());
    tls_args(&mut command)
        .args(["--metrics-listen", "127.0.0.1:0"])
        .args(extra);
    if let Some(secret) = secret {
        command.env("OAUTH_CLIENT_SECRET", secret);
    }
    Service::start(command)
}

/// The metrics address a service logged.
async fn metrics_of(service: &Service) -> SocketAddr {
    let log = service
        .wait_for_log("metrics at http://", 1, Duration::from_secs(5))
        .await;
    metrics_addr(&log).expect("a metrics address")
}

async fn token(base: &str, id: &str, secret: &str) -> String {
    let reply = http(Proto::H1).token_basic(base, id, secret, "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

fn assert_families(scrape: &Scrape, families: &[&str], who: &str) {
    for family in families {
        assert!(
            scrape.has_family(family),
            "{who} has no {family}:\n{}",
            scrape.text
        );
    }
}

/// Polls `GET /readyz` until it answers 200 (at most 5 s).
async fn ready(base: &str) {
    let h = http(Proto::H1);
    for _ in 0..50 {
        if h.get(&format!("{base}/readyz")).await.status == StatusCode::OK {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base}/readyz never answered 200");
}

#[tokio::test]
async fn every_family_is_there_from_the_first_scrape_on_every_service() {
    let (file, secrets) = clients("first-scrape");
    let auth = auth_server(&file, &[]);
    let auth_scrape = scrape(metrics_of(&auth).await).await;
    assert_families(&auth_scrape, &COMMON, "oauth-server");
    assert_families(&auth_scrape, &AUTH, "oauth-server");
    for family in AUTH {
        assert_eq!(auth_scrape.get(family, &[]), 0.0, "{family}");
    }
    assert_eq!(
        auth_scrape.get(
            "tollgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    let client1 = service(CLIENT1, &auth, Some(&secrets["rs"]), &["--client-id", "rs"]);
    let first = scrape(metrics_of(&client1).await).await;
    assert_families(&first, &COMMON, "client1");
    assert_families(&first, &RESOURCE, "client1");
    for outcome in ["active", "inactive", "error"] {
        let introspections = first.get("tollgate_introspections_total", &[("outcome", outcome)]);
        assert_eq!(introspections, 0.0, "{outcome}");
    }
    assert_eq!(first.get("tollgate_token_cache_hits_total", &[]), 0.0);
    assert_eq!(first.get("tollgate_jwks_fetches_total", &[]), 0.0);

    let resource = format!("{}/api/resource", client1.base);
    let secret = Some(secrets["c2"].as_str());
    let args = ["--client-id", "c2", "--resource", &resource];
    let client2 = service(CLIENT2, &auth, secret, &args);
    let first = scrape(metrics_of(&client2).await).await;
    assert_families(&first, &COMMON, "client2");
    assert_families(&first, &["tollgate_token_fetches_total"], "client2");
    for outcome in ["ok", "error"] {
        let fetches = first.get("tollgate_token_fetches_total", &[("outcome", outcome)]);
        assert_eq!(fetches, 0.0, "{outcome}");
    }
    for base in [&auth.base, &client1.base, &client2.base] {
        ready(base).await;
    }

    // JWT validation: the same families, the key set's fetches included.
    let keys = temp_dir("first-scrape-keys").join("keys");
    let generated = run(
        Command::new(OAUTH_SERVER)
            .args(["gen-signing-key", "--keys"])
            .arg(&keys),
        Duration::from_secs(10),
    );
    assert!(generated.status.success(), "{generated:?}");
    let keys_arg = keys.to_str().unwrap();
    let jwt_auth = auth_server(
        &file,
        &["--token-format", "jwt", "--signing-keys", keys_arg],
    );
    let args = [
        "--validation",
        "jwt",
        "--audience",
        "https://localhost:5004",
    ];
    let jwt_client1 = service(CLIENT1, &jwt_auth, None, &args);
    let first = scrape(metrics_of(&jwt_client1).await).await;
    assert_families(&first, &COMMON, "client1 --validation jwt");
    assert_families(&first, &RESOURCE, "client1 --validation jwt");
}

#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let (file, secrets) = clients("exact");
    let auth = auth_server(&file, &[]);
    let auth_metrics = metrics_of(&auth).await;
    let client1 = service(CLIENT1, &auth, Some(&secrets["rs"]), &["--client-id", "rs"]);
    let client1_metrics = metrics_of(&client1).await;
    ready(&client1.base).await;
    let auth_before = scrape(auth_metrics).await;
    let resource_before = scrape(client1_metrics).await;
    let moved = |after: &Scrape, before: &Scrape, name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels).unwrap_or(0.0) - before.value(name, labels).unwrap_or(0.0)
    };

    // Three tokens: three issued, three more live, three 200s on the token route.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(token(&auth.base, "svc", &secrets["svc"]).await);
    }
    let after = scrape(auth_metrics).await;
    assert_eq!(
        moved(&after, &auth_before, "tollgate_tokens_issued_total", &[]),
        3.0
    );
    assert_eq!(
        moved(&after, &auth_before, "tollgate_live_tokens", &[]),
        3.0
    );
    let token_200 = [("route", "/oauth/token"), ("status", "200")];
    assert_eq!(
        moved(&after, &auth_before, "tollgate_requests_total", &token_200),
        3.0
    );
    let token_route = [("route", "/oauth/token")];
    let count = "tollgate_request_duration_seconds_count";
    assert_eq!(moved(&after, &auth_before, count, &token_route), 3.0);

    // One token shown three times within the cache TTL: one introspection, two cache hits.
    let h = http(Proto::H2);
    let url = format!("{}/api/resource", client1.base);
    for _ in 0..3 {
        assert_eq!(h.get_bearer(&url, &tokens[0]).await.status, StatusCode::OK);
    }
    // A request with no token moves neither.
    assert_eq!(h.get(&url).await.status, StatusCode::UNAUTHORIZED);
    let after = scrape(client1_metrics).await;
    let active = [("outcome", "active")];
    let introspections = "tollgate_introspections_total";
    assert_eq!(
        moved(&after, &resource_before, introspections, &active),
        1.0
    );
    for outcome in ["inactive", "error"] {
        let labels = [("outcome", outcome)];
        assert_eq!(
            moved(&after, &resource_before, introspections, &labels),
            0.0
        );
    }
    let hits = "tollgate_token_cache_hits_total";
    assert_eq!(moved(&after, &resource_before, hits, &[]), 2.0);
    let requests = "tollgate_requests_total";
    let ok = [("route", "/api/resource"), ("status", "200")];
    assert_eq!(moved(&after, &resource_before, requests, &ok), 3.0);
    let refused = [("route", "/api/resource"), ("status", "401")];
    assert_eq!(moved(&after, &resource_before, requests, &refused), 1.0);

    // Refusals: one wrong secret is one failure; six for an id from one address lock it
    // out (five are free), and the next is throttled, not a failure.
    let auth_before = scrape(auth_metrics).await;
    let wrong = h.token_basic(&auth.base, "svc", "wrong", "").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for _ in 0..6 {
        let reply = h.token_basic(&auth.base, "ghost", "wrong", "").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked = h.token_basic(&auth.base, "ghost", "wrong", "").await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    let after = scrape(auth_metrics).await;
    let failures = "tollgate_client_auth_failures_total";
    assert_eq!(moved(&after, &auth_before, failures, &[]), 7.0);
    assert_eq!(
        moved(&after, &auth_before, "tollgate_throttled_total", &[]),
        1.0
    );
    let throttled = [("route", "/oauth/token"), ("status", "429")];
    assert_eq!(moved(&after, &auth_before, requests, &throttled), 1.0);

    // client2: one call is one token fetch, and a second call reuses the token.
    let secret = Some(secrets["c2"].as_str());
    let client2 = service(
        CLIENT2,
        &auth,
        secret,
        &["--client-id", "c2", "--resource", &url],
    );
    let client2_metrics = metrics_of(&client2).await;
    for _ in 0..2 {
        let call = h.get(&format!("{}/call", client2.base)).await;
        assert_eq!(call.status, StatusCode::OK, "{}", call.text());
    }
    let after = scrape(client2_metrics).await;
    let fetches = "tollgate_token_fetches_total";
    assert_eq!(after.get(fetches, &[("outcome", "ok")]), 1.0);
    assert_eq!(after.get(fetches, &[("outcome", "error")]), 0.0);
    assert_eq!(
        after.get(requests, &[("route", "/call"), ("status", "200")]),
        2.0
    );
}

#[tokio::test]
async fn no_label_holds_a_path_a_client_id_a_secret_or_a_token() {
    let (file, secrets) = clients("labels");
    let auth = auth_server(&file, &[]);
    let auth_metrics = metrics_of(&auth).await;
    let h = http(Proto::H1);
    let token = token(&auth.base, "svc", &secrets["svc"]).await;
    for path in ["/made-up-path", "/oauth/token/extra", "/.well-known/x"] {
        assert_eq!(h.get(&auth.url(path)).await.status, StatusCode::NOT_FOUND);
    }
    let odd = basic_raw(b"caller-chosen-id:whatever");
    let reply = h
        .post_form(
            &auth.url("/oauth/token"),
            "grant_type=client_credentials",
            Some(&odd),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let scrape = scrape(auth_metrics).await;
    let known = [
        "/oauth/token",
        "/oauth/introspect",
        "/oauth/revoke",
        "/oauth/jwks",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
        "other",
    ];
    let routes = scrape.values_of("tollgate_requests_total", "route");
    assert!(
        routes.iter().all(|r| known.contains(&r.as_str())),
        "{routes:?}"
    );
    assert_eq!(
        scrape.get(
            "tollgate_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        3.0
    );
    for status in scrape.values_of("tollgate_requests_total", "status") {
        assert!(
            status.len() == 3 && status.parse::<u16>().is_ok(),
            "{status}"
        );
    }
    for chosen in [
        "made-up",
        "extra",
        "svc",
        "caller-chosen-id",
        &secrets["svc"],
        &token,
    ] {
        assert!(
            !scrape.text.contains(chosen),
            "{chosen:?} in:\n{}",
            scrape.text
        );
    }
}

#[tokio::test]
async fn the_metrics_listener_answers_get_metrics_and_404_to_anything_else() {
    let (file, _) = clients("listener");
    let auth = auth_server(&file, &[]);
    let addr = metrics_of(&auth).await;
    for (method, path) in [
        ("GET", "/"),
        ("GET", "/metrics/x"),
        ("POST", "/metrics"),
        ("GET", "/healthz"),
    ] {
        let (status, head, _) = plain_http(addr, method, path).await;
        assert_eq!(status, 404, "{method} {path}: {head}");
    }
    let (status, _, body) = plain_http(addr, "GET", "/metrics?x=1").await;
    assert_eq!(status, 200);
    assert!(parse(&body).is_ok());
}

#[test]
fn the_strict_parser_refuses_what_a_prometheus_server_would() {
    let good = "# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\\\"\"} 1\n";
    assert_eq!(parse(good).unwrap().get("a_total", &[("l", "v\"")]), 1.0);
    for bad in [
        "a_total 1\n",
        "# TYPE a_total counter\na_total 1",
        "# TYPE a_total counter\na_total 1\na_total 2\n",
        "# TYPE a_total counter\na_total{l=v} 1\n",
        "# TYPE a counter\na 1\n# TYPE b counter\nb 1\na 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE 1a counter\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// Every line of a JSON log, parsed; panics on one that is not a JSON object.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect()
}

#[tokio::test]
async fn json_log_lines_have_the_fields_of_the_text_lines_escaped_and_no_secret() {
    let (file, secrets) = clients("json-log");
    let auth = auth_server(&file, &["--log-format", "json"]);
    let h = http(Proto::H1);
    let token = token(&auth.base, "svc", &secrets["svc"]).await;
    let tricky = basic("a\nb\"c", "wrong-secret-value");
    let url = auth.url("/oauth/token");
    let body = "grant_type=client_credentials";
    assert_eq!(
        h.post_form(&url, body, Some(&tricky)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let client1 = {
        let mut command = Command::new(CLIENT1);
        command.args([
            "--listen",
            "127.0.0.1:0",
            "--auth-server",
            &auth.base,
            "--ca",
        ]);
        command
            .arg(certs().ca())
            .args(["--client-id", "rs", "--log-format", "json"]);
        tls_args(&mut command).env("OAUTH_CLIENT_SECRET", &secrets["rs"]);
        Service::start(command)
    };
    let resource = format!("{}/api/resource", client1.base);
    assert_eq!(h.get_bearer(&resource, &token).await.status, StatusCode::OK);

    let log = auth
        .wait_for_log("\"status\":401", 1, Duration::from_secs(5))
        .await;
    let lines = json_lines(&log);
    assert!(lines.iter().any(|l| l["event"]
        .as_str()
        .is_some_and(|e| e.contains("listening on"))));
    let issued = lines
        .iter()
        .find(|l| l["path"] == "/oauth/token" && l["status"] == 200)
        .expect("the token request's line");
    assert_eq!(issued["method"], "POST");
    assert_eq!(issued["client_id"], "svc");
    assert!(
        issued["latency_ms"].is_number() && issued["time"].is_string(),
        "{issued}"
    );
    assert!(issued.get("peer").is_none(), "{issued}");
    let refused = lines
        .iter()
        .find(|l| l["status"] == 401)
        .expect("the 401's line");
    assert_eq!(refused["peer"], "127.0.0.1");
    assert_eq!(
        refused["client_id"], "a\\u{a}b\\u{22}c",
        "escaped as in the text line"
    );
    for secret in [&secrets["svc"], &token, &"wrong-secret-value".to_owned()] {
        assert!(
            !log.contains(secret.as_str()),
            "a secret or token in the log"
        );
    }

    let log = client1
        .wait_for_log("/api/resource", 1, Duration::from_secs(5))
        .await;
    let lines = json_lines(&log);
    let served = lines
        .iter()
        .find(|l| l["path"] == "/api/resource")
        .expect("the resource request's line");
    assert_eq!(
        (served["status"].as_u64(), served["client_id"].as_str()),
        (Some(200), Some("svc"))
    );
    assert!(!log.contains(&token));
}

#[tokio::test]
async fn text_log_lines_stay_the_default() {
    let (file, secrets) = clients("text-log");
    let auth = auth_server(&file, &[]);
    token(&auth.base, "svc", &secrets["svc"]).await;
    let log = auth
        .wait_for_log("POST /oauth/token 200 ", 1, Duration::from_secs(5))
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("POST /oauth/token 200 "))
        .unwrap();
    assert!(line.ends_with("ms client_id=svc"), "{line}");
    assert!(!log.contains('{'), "no JSON in a text log: {log}");
}
