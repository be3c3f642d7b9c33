//! Refused client authentications as a client and an operator see them. On the wire: every 401
//! is `invalid_client` with `WWW-Authenticate: Basic realm="tollgate"` (RFC 9110 §15.5.2), at
//! all three endpoints, without credentials or with failed ones from the header or the body.
//! In the log: every 401 and 429 line names the peer address and the client id tried, known,
//! unknown or malformed, escaped so that no character of it can split or blur the line, and
//! never a secret.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::child::{Service, OAUTH_SERVER};
use support::*;

const ENDPOINTS: [(&str, &str); 3] = [
    ("/oauth/token", "grant_type=client_credentials"),
    ("/oauth/introspect", "token=abc"),
    ("/oauth/revoke", "token=abc"),
];

#[tokio::test]
async fn every_401_is_invalid_client_with_a_basic_challenge_at_all_three_endpoints() {
    for proto in BOTH {
        // A server per version: two failures per id and version stay below any lockout.
        let server = auth().await;
        let h = http(proto);
        for ((path, params), id) in ENDPOINTS.into_iter().zip(["svc", "rs", "other"]) {
            let url = server.url(path);
            let cases: [(&str, String, Option<String>); 6] = [
                ("no credentials", params.to_owned(), None),
                (
                    "a client_id alone",
                    format!("{params}&client_id={id}"),
                    None,
                ),
                (
                    "a wrong secret in the header",
                    params.to_owned(),
                    Some(basic(id, "wrong")),
                ),
                (
                    "a wrong secret in the body",
                    format!("{params}&client_id={id}&client_secret=wrong"),
                    None,
                ),
                (
                    "an unknown id in the body",
                    format!("{params}&client_id=nobody&client_secret=wrong"),
                    None,
                ),
                (
                    "a header that does not decode",
                    params.to_owned(),
                    Some("Basic !!!".to_owned()),
                ),
            ];
            for (what, body, authorization) in &cases {
                let reply = h.post_form(&url, body, authorization.as_deref()).await;
                assert_invalid_client(&reply, &format!("{proto:?} {path}: {what}"));
            }
        }
        assert_eq!(server.service.tokens_issued(), 0);
    }
}

/// Requests whose log lines the test below looks for, each with the id it tries (as the
/// client sends it) and what the line must show for it.
struct Tried {
    what: &'static str,
    authorization: Option<String>,
    body: String,
    logged: &'static str,
}

fn tried(secret_of_known: &str, wrong: &str) -> Vec<Tried> {
    let post =
        |id: &str| format!("grant_type=client_credentials&client_id={id}&client_secret={wrong}");
    vec![
        Tried {
            what: "a known id, wrong secret, Basic",
            authorization: Some(basic("refusal-known", wrong)),
            body: "grant_type=client_credentials".into(),
            logged: "client_id=refusal-known",
        },
        Tried {
            what: "an unknown id, body",
            authorization: None,
            body: post("refusal-ghost"),
            logged: "client_id=refusal-ghost",
        },
        Tried {
            what: "an id with a newline",
            authorization: None,
            body: post("refusal-nl%0A2026-01-01T00:00:00.000Z+POST+%2Ffake+200"),
            logged: "client_id=refusal-nl\\u{a}2026-01-01T00\\u{3a}00\\u{3a}00.000Z\\u{20}POST\\u{20}\\u{2f}fake\\u{20}200",
        },
        Tried {
            what: "an id with a carriage return, Basic",
            authorization: Some(basic("refusal-cr\rX", wrong)),
            body: "grant_type=client_credentials".into(),
            logged: "client_id=refusal-cr\\u{d}X",
        },
        Tried {
            what: "an id with a space",
            authorization: None,
            body: post("refusal+sp"),
            logged: "client_id=refusal\\u{20}sp",
        },
        Tried {
            what: "an id with a backslash escape of its own",
            authorization: None,
            body: post("refusal-bs%5Cu%7Ba%7D"),
            logged: "client_id=refusal-bs\\u{5c}u\\u{7b}a\\u{7d}",
        },
        Tried {
            what: "a non-ASCII id",
            authorization: None,
            body: post("refusal-%C3%A9"),
            logged: "client_id=refusal-\\u{e9}",
        },
        Tried {
            what: "a Basic header whose id is not form-encoded right",
            authorization: Some(basic_raw(format!("refusal-pct%zz:{secret_of_known}").as_bytes())),
            body: "grant_type=client_credentials".into(),
            logged: "client_id=refusal-pct\\u{25}zz",
        },
        Tried {
            what: "a Basic header that does not decode",
            authorization: Some(format!("Basic !{secret_of_known}")),
            body: "grant_type=client_credentials".into(),
            logged: "client_id=(none)",
        },
        Tried {
            what: "no secret at all",
            authorization: None,
            body: "grant_type=client_credentials&client_id=refusal-nosecret".into(),
            logged: "client_id=refusal-nosecret",
        },
    ]
}

/// Lines of `log` that answered `status` on the token endpoint and show `logged` from `peer`.
fn lines_with<'a>(log: &'a [String], status: u16, peer: &str, logged: &str) -> Vec<&'a String> {
    let answered = format!(" POST /oauth/token {status} ");
    let label = format!("peer={peer} {logged}");
    log.iter()
        .filter(|l| l.contains(&answered) && l.trim_end().ends_with(&label))
        .collect()
}

#[tokio::test]
async fn every_refusal_is_logged_with_the_peer_and_the_id_tried_escaped_and_never_a_secret() {
    // From an address of its own: the capture holds every line of this test binary.
    let peer: std::net::IpAddr = [127, 0, 0, 3].into();
    if std::net::TcpListener::bind((peer, 0)).is_err() {
        eprintln!("cannot bind {peer}: skipped");
        return;
    }
    tollgate::access_log::start_capture();
    let server = start_auth(AuthOptions {
        clients: Some(Clients::register(&[client("refusal-known", "read", false)])),
        ..AuthOptions::default()
    })
    .await;
    let secret = server.secret("refusal-known").to_owned();
    let wrong = "wrong-secret-QQQQ-4242";
    for proto in BOTH {
        let h = http_from(proto, peer);
        for t in tried(&secret, wrong) {
            let reply = h
                .post_form(
                    &server.url("/oauth/token"),
                    &t.body,
                    t.authorization.as_deref(),
                )
                .await;
            assert_invalid_client(&reply, &format!("{proto:?} {}", t.what));
        }
        // A locked-out id with a line break in it: the 429 line names it too.
        let lock = "refusal-lock%0D%0Aforged";
        let body = format!("grant_type=client_credentials&client_id={lock}&client_secret={wrong}");
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let reply = h.post_form(&server.url("/oauth/token"), &body, None).await;
            statuses.push(reply.status.as_u16());
        }
        assert_eq!(statuses.last(), Some(&429), "{proto:?} {statuses:?}");
    }
    let log = tollgate::access_log::captured();
    for t in tried(&secret, wrong) {
        let found = lines_with(&log, 401, "127.0.0.3", t.logged);
        assert_eq!(
            found.len(),
            2,
            "{}: want one line per version showing {:?}",
            t.what,
            t.logged
        );
    }
    let locked = "client_id=refusal-lock\\u{d}\\u{a}forged";
    assert!(
        !lines_with(&log, 429, "127.0.0.3", locked).is_empty(),
        "no 429 line names {locked}"
    );
    for line in log.iter().filter(|l| l.contains("refusal")) {
        assert!(
            !line.contains(&secret) && !line.contains(wrong),
            "a secret in {line:?}"
        );
        assert_eq!(line.matches('\n').count(), 1, "a line split: {line:?}");
        assert!(line.ends_with('\n') && !line.contains('\r'), "{line:?}");
        assert!(line.is_ascii() && !line.contains('\t'), "{line:?}");
    }
}

/// The same against the binary's own stderr, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_logs_every_refusal_on_stderr_with_peer_and_id_and_no_secret() {
    let clients = Clients::register(&[client("log-bin", "read", false)]);
    let mut command = Command::new(OAUTH_SERVER);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--cert"])
        .arg(certs().cert())
        .arg("--key")
        .arg(certs().key())
        .arg("--clients")
        .arg(&clients.file);
    let served = Service::start(command);
    let secret = clients.secret("log-bin");
    let wrong = "wrong-secret-RRRR-1717";
    let h = http(Proto::H2);
    assert_eq!(
        h.token_basic(&served.base, "log-bin", secret, "")
            .await
            .status,
        200
    );
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            h.token_post(&served.base, "log-bin", wrong, "")
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let reply = h.token_post(&served.base, "ghost\nline", wrong, "").await;
    assert_eq!(reply.status, 401);
    let wanted = [
        " 200 ",
        " 401 ",
        " 429 ",
        "peer=127.0.0.1 client_id=log-bin",
        "peer=127.0.0.1 client_id=ghost\\u{a}line",
    ];
    // The log is written in batches: wait (bounded) for the last line.
    let started = Instant::now();
    let log = loop {
        let log = served.log();
        if log.contains(wanted[4]) || started.elapsed() > Duration::from_secs(5) {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for want in wanted {
        assert!(log.contains(want), "stderr lacks {want:?}: {log}");
    }
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" 401 ") || l.contains(" 429 "))
        .collect();
    assert_eq!(refusals.len(), 8, "{log}");
    for line in &refusals {
        assert!(line.contains("peer=127.0.0.1 client_id="), "{line}");
    }
    assert!(
        !log.contains(secret) && !log.contains(wrong),
        "a secret on stderr: {log}"
    );
    assert!(
        !log.lines().any(|l| l.starts_with("line")),
        "a line was split: {log}"
    );
}
