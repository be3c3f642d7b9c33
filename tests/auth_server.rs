//! The authorization server of issue 2. Where the wire matters (the end-to-end path of each
//! endpoint, body limits, HEAD, the Host header, logs, peer addresses, concurrency) a real
//! server on an ephemeral loopback port is talked to over real TLS by a real HTTPS client,
//! over HTTP/1.1 and over HTTP/2; where it does not (the OAuth semantics of each parameter and
//! credential), the same requests go straight to `AuthServer::respond` through
//! `Auth::direct`. Each test reads like the sentence of RFC 6749 / 7662 / 7009 / 8414 or of the
//! issue that it checks, and owns its server, so throttling state never leaks between tests
//! running in parallel. The TLS and HTTP layer itself is tested in `transport.rs`.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use support::*;

const TOKEN: &str = "/oauth/token";
const INTROSPECT: &str = "/oauth/introspect";
const REVOKE: &str = "/oauth/revoke";
const METADATA: &str = "/.well-known/oauth-authorization-server";
const FORM: &str = "application/x-www-form-urlencoded";

async fn server() -> Auth {
    auth().await
}

fn assert_token_response(reply: &Reply, scope: &str) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let body = reply.json();
    let token = body["access_token"].as_str().expect("access_token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], scope);
    assert!(
        body.get("refresh_token").is_none(),
        "a client-credentials grant must not issue a refresh token (RFC 6749 §4.4.3)"
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
    token.to_owned()
}

fn assert_error(reply: &Reply, status: StatusCode, error: &str, what: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    assert_eq!(reply.error(), error, "{what}");
    assert!(reply.json().get("access_token").is_none(), "{what}");
}

fn scopes(value: &Value) -> HashSet<String> {
    value
        .as_str()
        .expect("scope string")
        .split(' ')
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Token endpoint (RFC 6749 §4.4, §5.1, §2.3.1)

#[tokio::test]
async fn token_request_with_client_secret_basic_gets_a_bearer_token_and_no_refresh_token() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        let reply = h
            .token_basic(&server.base, "svc", server.secret("svc"), "")
            .await;
        assert_token_response(&reply, "read write");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    assert_eq!(server.service.tokens_issued(), 2);
}

#[tokio::test]
async fn token_request_with_client_secret_post_gets_a_bearer_token() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        let reply = h
            .token_post(&server.base, "other", server.secret("other"), "")
            .await;
        assert_token_response(&reply, "read");
    }
}

#[tokio::test]
async fn basic_client_id_and_secret_are_form_urlencoded_before_base64() {
    let server = server().await;
    let secret = server.secret("svc.one_x-2");
    let h = server.direct();
    // "svc.one_x-2" with every character percent-encoded or not: both decode the same.
    for encoded_id in ["svc.one_x-2", "svc%2Eone%5Fx%2D2", "%73vc%2eone_x-2"] {
        let auth = basic_raw(format!("{encoded_id}:{secret}").as_bytes());
        let reply = h
            .post_form(
                &server.url(TOKEN),
                "grant_type=client_credentials",
                Some(&auth),
            )
            .await;
        assert_token_response(&reply, "read");
    }
    // A secret with its characters escaped decodes to the same secret.
    let escaped_secret: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
    let auth = basic_raw(format!("svc.one_x-2:{escaped_secret}").as_bytes());
    let reply = h
        .post_form(
            &server.url(TOKEN),
            "grant_type=client_credentials",
            Some(&auth),
        )
        .await;
    assert_token_response(&reply, "read");
    // A literal "+" in the encoded form is a space, so it is not the id "svc+".
    let auth = basic_raw(format!("svc.one+x-2:{secret}").as_bytes());
    let reply = h
        .post_form(
            &server.url(TOKEN),
            "grant_type=client_credentials",
            Some(&auth),
        )
        .await;
    assert_invalid_client(&reply, "'+' decodes to a space");
}

#[tokio::test]
async fn omitted_scope_grants_all_registered_scopes() {
    let server = server().await;
    let reply = server
        .direct()
        .token_basic(&server.base, "svc", server.secret("svc"), "")
        .await;
    assert_eq!(
        scopes(&reply.json()["scope"]),
        HashSet::from(["read".into(), "write".into()])
    );
}

#[tokio::test]
async fn empty_scope_parameter_counts_as_omitted() {
    let server = server().await;
    let h = server.direct();
    for extra in ["&scope=", "&scope"] {
        let reply = h
            .token_basic(&server.base, "svc", server.secret("svc"), extra)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{extra}: {}", reply.text());
        assert_eq!(
            scopes(&reply.json()["scope"]),
            HashSet::from(["read".into(), "write".into()]),
            "{extra}"
        );
    }
}

#[tokio::test]
async fn requested_subset_of_registered_scopes_is_granted() {
    let server = server().await;
    let h = server.direct();
    let reply = h
        .token_basic(&server.base, "svc", server.secret("svc"), "&scope=write")
        .await;
    assert_token_response(&reply, "write");
    let reply = h
        .token_post(&server.base, "svc", server.secret("svc"), "&scope=read")
        .await;
    assert_token_response(&reply, "read");
    let reply = h
        .token_basic(
            &server.base,
            "svc",
            server.secret("svc"),
            "&scope=write%20read",
        )
        .await;
    assert_eq!(
        scopes(&reply.json()["scope"]),
        HashSet::from(["read".into(), "write".into()])
    );
}

#[tokio::test]
async fn scope_beyond_the_clients_registered_scopes_is_invalid_scope() {
    let server = server().await;
    let h = server.direct();
    for extra in ["&scope=admin", "&scope=read+admin", "&scope=write"] {
        let id = if extra == "&scope=write" {
            "other"
        } else {
            "svc"
        };
        let reply = h
            .token_basic(&server.base, id, server.secret(id), extra)
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_scope", extra);
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn client_credentials_in_the_url_query_are_refused() {
    let server = server().await;
    let secret = server.secret("svc");
    let h = server.direct();
    let url = server.url(&format!("{TOKEN}?client_id=svc&client_secret={secret}"));
    let reply = h
        .post_form(&url, "grant_type=client_credentials", None)
        .await;
    assert!(
        reply.status.is_client_error(),
        "query credentials: {} {}",
        reply.status,
        reply.text()
    );
    assert!(reply.json().get("access_token").is_none());

    // Even beside valid Basic credentials, a secret in the query is not accepted.
    let url = server.url(&format!("{TOKEN}?client_secret={secret}"));
    let reply = h
        .post_form(
            &url,
            "grant_type=client_credentials",
            Some(&basic("svc", secret)),
        )
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.text());
    assert!(reply.json().get("access_token").is_none());
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn form_media_type_is_compared_case_insensitively_with_parameters_ignored() {
    let server = server().await;
    let h = server.direct();
    for content_type in [
        "application/x-www-form-urlencoded;charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded ; charset=utf-8",
    ] {
        let auth = basic("svc", server.secret("svc"));
        let reply = h
            .request(
                Method::POST,
                &server.url(TOKEN),
                &[("content-type", content_type), ("authorization", &auth)],
                b"grant_type=client_credentials",
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{content_type}: {}",
            reply.text()
        );
    }
}

#[tokio::test]
async fn other_or_missing_media_type_is_invalid_request() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    let h = server.direct();
    for (content_type, body) in [
        (
            Some("application/json"),
            &br#"{"grant_type":"client_credentials"}"#[..],
        ),
        (
            Some("application/json"),
            &b"grant_type=client_credentials"[..],
        ),
        (Some("text/plain"), &b"grant_type=client_credentials"[..]),
        (
            Some("multipart/form-data"),
            &b"grant_type=client_credentials"[..],
        ),
        (
            Some("application/x-www-form-urlencodedx"),
            &b"grant_type=client_credentials"[..],
        ),
        (None, &b"grant_type=client_credentials"[..]),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        for path in [TOKEN, INTROSPECT, REVOKE] {
            let reply = h
                .request(Method::POST, &server.url(path), &headers, body)
                .await;
            assert_error(
                &reply,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("{path} {content_type:?}"),
            );
        }
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

// ---------------------------------------------------------------------------------------------
// Errors (RFC 6749 §5.2) at every endpoint that authenticates clients

#[tokio::test]
async fn no_client_authentication_is_401_invalid_client_with_a_basic_challenge() {
    let server = server().await;
    let h = server.direct();
    for (path, body) in [
        (TOKEN, "grant_type=client_credentials"),
        (TOKEN, "grant_type=client_credentials&client_id=svc"),
        (INTROSPECT, "token=abc"),
        (REVOKE, "token=abc"),
    ] {
        let reply = h.post_form(&server.url(path), body, None).await;
        assert_invalid_client(&reply, &format!("{path} {body}"));
    }
}

#[tokio::test]
async fn unknown_client_is_401_invalid_client() {
    let server = server().await;
    // A fresh unknown id for each request, so the per-id throttle never answers instead.
    let h = server.direct();
    let nobody = "nobody";
    let reply = h
        .token_basic(
            &server.base,
            &format!("{nobody}-1"),
            server.secret("svc"),
            "",
        )
        .await;
    assert_invalid_client(&reply, "unknown id, Basic");
    let reply = h
        .token_post(
            &server.base,
            &format!("{nobody}-2"),
            server.secret("svc"),
            "",
        )
        .await;
    assert_invalid_client(&reply, "unknown id, post");
    for (i, path) in [INTROSPECT, REVOKE].into_iter().enumerate() {
        let reply = h
            .post_form(
                &server.url(path),
                "token=abc",
                Some(&basic(&format!("{nobody}-b{i}"), server.secret("rs"))),
            )
            .await;
        assert_invalid_client(&reply, path);
        let reply = h
            .post_form(
                &server.url(path),
                &format!(
                    "token=abc&client_id={nobody}-p{i}&client_secret={}",
                    server.secret("rs")
                ),
                None,
            )
            .await;
        assert_invalid_client(&reply, path);
    }
}

#[tokio::test]
async fn wrong_secret_is_401_invalid_client_with_a_basic_challenge_from_the_header_or_the_body() {
    let server = server().await;
    let h = server.direct();
    let reply = h.token_basic(&server.base, "svc", "wrong", "").await;
    assert_invalid_client(&reply, "token, Basic");
    let reply = h.token_post(&server.base, "other", "wrong", "").await;
    assert_invalid_client(&reply, "token, post");
    // rs for introspection, svc.one_x-2 for revocation: at most 2 failures per id in
    // this test, below the per-id lockout.
    for (path, id) in [(INTROSPECT, "rs"), (REVOKE, "svc.one_x-2")] {
        let reply = h
            .post_form(&server.url(path), "token=abc", Some(&basic(id, "wrong")))
            .await;
        assert_invalid_client(&reply, path);
        let reply = h
            .post_form(
                &server.url(path),
                &format!("token=abc&client_id={id}&client_secret=wrong"),
                None,
            )
            .await;
        assert_invalid_client(&reply, path);
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn malformed_basic_header_is_401_invalid_client_with_a_challenge() {
    let server = server().await;
    let secret = server.secret("svc").to_owned();
    let cases: Vec<(&str, String)> = vec![
        ("bad base64", "Basic !!!not-base64!!!".to_owned()),
        ("empty credentials", "Basic".to_owned()),
        ("no colon", basic_raw(b"svc")),
        (
            "bad percent-escape",
            basic_raw(format!("svc%zz:{secret}").as_bytes()),
        ),
        (
            "truncated percent-escape",
            basic_raw(format!("svc:{secret}%4").as_bytes()),
        ),
        (
            "invalid UTF-8 after decoding",
            basic_raw(format!("svc%ff:{secret}").as_bytes()),
        ),
        ("invalid UTF-8 bytes", basic_raw(&[b's', 0xff, b':', b'x'])),
        ("empty id", basic_raw(format!(":{secret}").as_bytes())),
        ("not Basic", "Bearer abc".to_owned()),
    ];
    let h = server.direct();
    for (what, auth) in &cases {
        for (path, body) in [
            (TOKEN, "grant_type=client_credentials"),
            (INTROSPECT, "token=abc"),
            (REVOKE, "token=abc"),
        ] {
            let reply = h.post_form(&server.url(path), body, Some(auth)).await;
            assert_invalid_client(&reply, &format!("{path} {what}"));
        }
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn basic_and_client_secret_in_the_body_is_invalid_request() {
    let server = server().await;
    let secret = server.secret("svc");
    let h = server.direct();
    for body in [
        format!("grant_type=client_credentials&client_id=svc&client_secret={secret}"),
        format!("grant_type=client_credentials&client_secret={secret}"),
    ] {
        let reply = h
            .post_form(&server.url(TOKEN), &body, Some(&basic("svc", secret)))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", &body);
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn basic_with_an_empty_client_secret_parameter_counts_as_omitted() {
    // RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they were omitted
    // from the request." The server applies this to scope and grant_type; client_secret too.
    let server = server().await;
    let reply = server
        .direct()
        .token_basic(&server.base, "svc", server.secret("svc"), "&client_secret=")
        .await;
    assert_token_response(&reply, "read write");
}

#[tokio::test]
async fn basic_with_a_matching_client_id_in_the_body_is_accepted() {
    let server = server().await;
    let reply = server
        .direct()
        .token_basic(&server.base, "svc", server.secret("svc"), "&client_id=svc")
        .await;
    assert_token_response(&reply, "read write");
}

#[tokio::test]
async fn basic_with_a_different_client_id_in_the_body_is_invalid_request() {
    let server = server().await;
    let reply = server
        .direct()
        .token_basic(
            &server.base,
            "svc",
            server.secret("svc"),
            "&client_id=other",
        )
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "other id",
    );
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    let rs = basic("rs", server.secret("rs"));
    let h = server.direct();
    for (path, body, auth) in [
        (
            TOKEN,
            "grant_type=client_credentials&grant_type=client_credentials".to_owned(),
            Some(auth.as_str()),
        ),
        (
            TOKEN,
            "grant_type=client_credentials&scope=read&scope=write".to_owned(),
            Some(auth.as_str()),
        ),
        (
            TOKEN,
            "grant_type=client_credentials&scope=&scope=".to_owned(),
            Some(auth.as_str()),
        ),
        (
            TOKEN,
            format!(
                "grant_type=client_credentials&client_id=svc&client_id=svc&client_secret={}",
                server.secret("svc")
            ),
            None,
        ),
        (INTROSPECT, "token=a&token=b".to_owned(), Some(rs.as_str())),
        (REVOKE, "token=a&token=b".to_owned(), Some(rs.as_str())),
    ] {
        let reply = h.post_form(&server.url(path), &body, auth).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", &body);
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn missing_grant_type_is_invalid_request() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    let h = server.direct();
    for body in ["", "scope=read", "grant_type=", "grant_type"] {
        let reply = h.post_form(&server.url(TOKEN), body, Some(&auth)).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", body);
    }
}

#[tokio::test]
async fn other_grant_types_are_unsupported_grant_type() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    let h = server.direct();
    for grant in [
        "password",
        "authorization_code",
        "refresh_token",
        "implicit",
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer",
        "Client_Credentials",
        "client_credentials%20",
    ] {
        let body = format!("grant_type={grant}&username=a&password=b&code=c");
        let reply = h.post_form(&server.url(TOKEN), &body, Some(&auth)).await;
        assert_error(
            &reply,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            grant,
        );
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let server = server().await;
    let h = server.direct();
    for path in [TOKEN, INTROSPECT, REVOKE] {
        for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
            let reply = h.request(method.clone(), &server.url(path), &[], b"").await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(reply.header("allow"), Some("POST"), "{method} {path}");
        }
    }
    for path in [METADATA, "/healthz"] {
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let reply = h
                .request(
                    method.clone(),
                    &server.url(path),
                    &[("content-type", FORM)],
                    b"",
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            let allow = reply.header("allow").expect("Allow header");
            assert!(allow.contains("GET"), "{method} {path}: Allow {allow}");
            assert!(
                !allow.contains(method.as_str()),
                "{method} {path}: Allow {allow}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_path_is_404() {
    let server = server().await;
    let h = server.direct();
    for path in [
        "/",
        "/oauth",
        "/oauth/token/",
        "/OAUTH/TOKEN",
        "/oauth/authorize",
        "/.well-known/openid-configuration",
    ] {
        let reply = h.get(&server.url(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "GET {path}");
        let reply = h
            .post_form(&server.url(path), "grant_type=client_credentials", None)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "POST {path}");
    }
}

#[tokio::test]
async fn request_body_over_16_kib_is_413() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    for proto in BOTH {
        let h = http(proto);
        let padding = "a".repeat(17 * 1024);
        let body = format!("grant_type=client_credentials&pad={padding}");
        for path in [TOKEN, INTROSPECT, REVOKE] {
            let reply = h.post_form(&server.url(path), &body, Some(&auth)).await;
            assert_eq!(
                reply.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "{proto:?} {path}"
            );
        }
        // Just under the limit is an ordinary request.
        let padding = "a".repeat(16 * 1024 - 100);
        let body = format!("grant_type=client_credentials&pad={padding}");
        let reply = h.post_form(&server.url(TOKEN), &body, Some(&auth)).await;
        assert_eq!(reply.status, StatusCode::OK, "{proto:?}: {}", reply.text());
    }
}

#[tokio::test]
async fn no_input_may_panic_the_server_or_produce_a_500() {
    let server = server().await;
    let secret = server.secret("svc").to_owned();
    let auth = basic("svc", &secret);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"&&&".to_vec(),
        b"===".to_vec(),
        b"%".to_vec(),
        b"%%%%".to_vec(),
        b"grant_type=%".to_vec(),
        b"grant_type=client_credentials&scope=%ff".to_vec(),
        b"grant_type=client_credentials&scope=\"\\".to_vec(),
        b"grant_type=client_credentials&scope=read%00".to_vec(),
        b"grant_type=client_credentials&scope=+++++".to_vec(),
        vec![0xff, 0xfe, 0x00, b'=', 0x80],
        b"token=%00%01".to_vec(),
        b"token=".to_vec(),
        "grant_type=client_credentials&scope=é".as_bytes().to_vec(),
        format!("grant_type=client_credentials&client_id=&client_secret={secret}").into_bytes(),
        b"grant_type=client_credentials&client_id=svc&client_secret=".to_vec(),
        format!("grant_type=client_credentials&{}", "x=1&".repeat(3000)).into_bytes(),
    ];
    let auths: Vec<Option<String>> = vec![
        None,
        Some(auth.clone()),
        Some("Basic".into()),
        Some("Basic ====".into()),
        Some(basic_raw(b":")),
        Some(basic_raw("é:é".as_bytes())),
        Some(basic_raw(&[0u8; 64])),
        Some(format!("Basic {}", "A".repeat(8000))),
    ];
    // What the server answered, per protocol, path, body and Authorization value.
    let mut answers = Vec::new();
    for proto in BOTH {
        let h = http(proto);
        for path in [TOKEN, INTROSPECT, REVOKE] {
            for (b, body) in bodies.iter().enumerate() {
                for (a, auth) in auths.iter().enumerate() {
                    let mut headers = vec![("content-type", FORM)];
                    if let Some(auth) = auth {
                        headers.push(("authorization", auth.as_str()));
                    }
                    let reply = h
                        .request(Method::POST, &server.url(path), &headers, body)
                        .await;
                    let what = format!(
                        "{proto:?} {path} {:?} {auth:?}: {} {}",
                        String::from_utf8_lossy(body),
                        reply.status,
                        reply.text()
                    );
                    assert!(reply.status.as_u16() < 500, "{what}");
                    answers.push((path, b, a, reply, what));
                }
            }
        }
    }
    assert_eq!(answers.len(), 2 * 3 * bodies.len() * auths.len());
    let valid_basic = 1;
    let mut token_200s = 0;
    for (path, _, a, reply, what) in &answers {
        if reply.status.is_success() {
            // Only the one valid Basic header authenticates: no malformed input ever does.
            assert_eq!(
                *a, valid_basic,
                "a success without valid credentials: {what}"
            );
            if *path == TOKEN {
                assert_token_response(reply, "read write");
                token_200s += 1;
            }
        } else {
            // Every refusal is an RFC 6749 §5.2 error body, never an empty or HTML page.
            let error = reply.error();
            match reply.status {
                StatusCode::UNAUTHORIZED => assert_eq!(error, "invalid_client", "{what}"),
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(reply.header("retry-after").is_some(), "{what}")
                }
                StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN => {}
                other => panic!("unexpected status {other}: {what}"),
            }
        }
    }
    // Valid requests among the garbage were served, and each 200 was a token the server
    // really issued and keeps: no refused request issued one.
    assert!(token_200s > 0, "no token request succeeded");
    assert_eq!(server.service.tokens_issued(), token_200s);
    assert_eq!(server.service.store().len() as u64, token_200s);
    // The server is still healthy afterwards.
    assert_eq!(
        http(Proto::H1).get(&server.url("/healthz")).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------
// Brute force (RFC 6749 §2.3.1)

#[tokio::test]
async fn repeated_wrong_secrets_lock_the_client_id_out_with_an_escalating_retry_after() {
    let server = server().await;
    let h = http(Proto::H1);
    let mut first_429 = None;
    for attempt in 1..=8 {
        let reply = h.token_basic(&server.base, "svc", "guess", "").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            first_429 = Some((attempt, reply));
            break;
        }
        assert_invalid_client(&reply, &format!("attempt {attempt}"));
    }
    let (attempt, reply) = first_429.expect("no 429 after 8 wrong secrets in a row");
    assert!(
        attempt >= 3,
        "locked out after only {} failures",
        attempt - 1
    );
    let first_wait: u64 = reply
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=15).contains(&first_wait), "Retry-After {first_wait}");
    assert!(reply.json().get("access_token").is_none());

    // During the lockout, even the right secret is refused from this address (and over
    // HTTP/2 too): the lockout is per (client id, source address).
    let reply = http(Proto::H2)
        .token_basic(&server.base, "svc", server.secret("svc"), "")
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.header("retry-after").is_some());
}

/// The escalation and the end of a lockout, on tokio's paused clock through
/// `AuthServer::respond` (the throttle runs on tokio's clock): no real waiting.
#[tokio::test(start_paused = true)]
async fn lockouts_escalate_with_each_failure_after_one_and_end_after_the_advertised_wait() {
    let clients = Clients::shared();
    let registry = tollgate::auth::clients::ClientRegistry::load(&clients.file).unwrap();
    let server = std::sync::Arc::new(tollgate::auth::AuthServer::new(
        registry,
        tollgate::auth::AuthConfig::new("https://localhost:1"),
    ));
    let h = Client::direct(&server);
    let base = "https://localhost:1";
    let retry_after = |reply: &Reply| -> u64 {
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.text()
        );
        reply.header("retry-after").unwrap().parse().unwrap()
    };
    let mut first_wait = None;
    for _ in 0..8 {
        let reply = h.token_basic(base, "svc", "guess", "").await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            first_wait = Some(retry_after(&reply));
            break;
        }
    }
    let first_wait = first_wait.expect("locked out within 8 failures");

    // Once the lockout passes, one more failure locks it out for longer.
    tokio::time::advance(Duration::from_millis(first_wait * 1000 + 100)).await;
    let reply = h.token_basic(base, "svc", "guess", "").await;
    assert_invalid_client(&reply, "after the first lockout");
    let second_wait = retry_after(&h.token_basic(base, "svc", "guess", "").await);
    assert!(
        second_wait > first_wait && second_wait <= 15,
        "Retry-After went from {first_wait} to {second_wait}"
    );
    // Just before the advertised time the right secret is still refused ...
    tokio::time::advance(Duration::from_millis(second_wait * 1000 - 100)).await;
    let reply = h.token_basic(base, "svc", clients.secret("svc"), "").await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // ... and once it has passed, it works again.
    tokio::time::advance(Duration::from_millis(200)).await;
    let reply = h.token_basic(base, "svc", clients.secret("svc"), "").await;
    assert_token_response(&reply, "read write");
}

#[tokio::test]
async fn unknown_client_ids_are_throttled_like_known_ones() {
    let server = server().await;
    let h = server.direct();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = h.token_basic(&server.base, "ghost", "guess", "").await;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(reply.header("retry-after").is_some());
            break;
        }
    }
    let mut known = Vec::new();
    for _ in 0..8 {
        let reply = h.token_basic(&server.base, "svc", "guess", "").await;
        known.push(reply.status.as_u16());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(
        statuses, known,
        "unknown and known ids are locked out alike"
    );
    assert_eq!(statuses.last(), Some(&429));
}

#[tokio::test]
async fn other_clients_keep_working_while_one_client_id_is_attacked() {
    let server = server().await;
    let h = server.direct();
    for i in 0..20 {
        let reply = h.token_basic(&server.base, "svc", "guess", "").await;
        assert!(
            reply.status == StatusCode::UNAUTHORIZED
                || reply.status == StatusCode::TOO_MANY_REQUESTS,
            "attack request {i}: {}",
            reply.status
        );
        // Same address, different client: served at once every time.
        let started = std::time::Instant::now();
        let reply = h
            .token_post(&server.base, "other", server.secret("other"), "")
            .await;
        assert_token_response(&reply, "read");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "request {i} was slowed"
        );
    }
    let reply = h.token_basic(&server.base, "svc", "guess", "").await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the attacked id is locked"
    );
}

#[tokio::test]
async fn a_dozen_failures_from_one_address_never_refuse_its_next_correct_request() {
    let server = server().await;
    let h = server.direct();
    // Twelve failures spread over twelve ids, so no per-id lockout is involved...
    for i in 0..12 {
        let reply = h
            .token_basic(&server.base, &format!("typo{i}"), "wrong", "")
            .await;
        assert_invalid_client(&reply, &format!("failure {i}"));
    }
    let reply = server
        .direct()
        .token_basic(&server.base, "svc", server.secret("svc"), "")
        .await;
    assert_token_response(&reply, "read write");
    // ...and twelve more against one id: the address still gets its next correct request.
    for _ in 0..12 {
        let reply = h.token_post(&server.base, "other", "wrong", "").await;
        assert!(
            reply.status == StatusCode::UNAUTHORIZED
                || reply.status == StatusCode::TOO_MANY_REQUESTS
        );
    }
    let reply = h
        .token_basic(
            &server.base,
            "svc.one_x-2",
            server.secret("svc.one_x-2"),
            "",
        )
        .await;
    assert_token_response(&reply, "read");
}

// ---------------------------------------------------------------------------------------------
// Tokens and secrets

#[tokio::test]
async fn access_tokens_are_43_url_safe_characters_and_all_distinct() {
    let server = server().await;
    let mut seen = HashSet::new();
    let h = server.direct();
    for _ in 0..50 {
        let token = h.token(&server, "svc").await;
        assert_eq!(token.len(), 43, "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{token}"
        );
        assert!(seen.insert(token), "a token was issued twice");
    }
    assert_eq!(server.service.tokens_issued(), 50);
    assert_eq!(server.service.store().len(), 50);
}

#[tokio::test]
async fn the_clients_file_keeps_no_secret() {
    let server = server().await;
    let text = std::fs::read_to_string(&server.clients.file).unwrap();
    serde_json::from_str::<Value>(&text).expect("the clients file is JSON");
    for (id, secret) in &server.clients.secrets {
        assert!(text.contains(id.as_str()));
        assert!(
            !text.contains(secret.as_str()),
            "the file holds the secret of {id}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection (RFC 7662)

#[tokio::test]
async fn introspection_requires_client_authentication() {
    let server = server().await;
    let token = server.direct().token(&server, "svc").await;
    let h = server.direct();
    let body = format!("token={token}");
    let reply = h.post_form(&server.url(INTROSPECT), &body, None).await;
    assert_invalid_client(&reply, "no authentication");
    let reply = h
        .post_form(&server.url(INTROSPECT), &body, Some(&basic("rs", "wrong")))
        .await;
    assert_invalid_client(&reply, "wrong secret");
    assert!(!reply.text().contains("active"));
}

#[tokio::test]
async fn client_without_introspect_permission_gets_403_and_learns_nothing_about_the_token() {
    let server = server().await;
    let active = server.direct().token(&server, "other").await;
    let h = server.direct();
    let mut answers = Vec::new();
    for token in [active.as_str(), "no-such-token"] {
        let reply = h
            .post_form(
                &server.url(INTROSPECT),
                &format!("token={token}"),
                Some(&basic("svc", server.secret("svc"))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
        assert!(reply.json().get("error").is_some());
        assert!(reply.json().get("active").is_none());
        assert!(!reply.text().contains(token));
        answers.push(reply.body);
    }
    assert_eq!(
        answers[0], answers[1],
        "active and unknown tokens look the same"
    );
    // Even without a token parameter, the answer is the same 403.
    let reply = h
        .post_form(
            &server.url(INTROSPECT),
            "",
            Some(&basic("svc", server.secret("svc"))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body, answers[0]);
}

#[tokio::test]
async fn active_token_introspects_with_scope_client_id_token_type_exp_iat_iss() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        let reply = h
            .token_basic(&server.base, "svc", server.secret("svc"), "&scope=write")
            .await;
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reply = h.introspect(&server, "rs", &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let body = reply.json();
        assert_eq!(body["active"], true);
        assert_eq!(body["scope"], "write");
        assert_eq!(body["client_id"], "svc");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["iss"], server.issuer.as_str());
        let iat = body["iat"].as_u64().expect("iat");
        let exp = body["exp"].as_u64().expect("exp");
        assert!(iat.abs_diff(now) <= 2, "iat {iat}, now {now}");
        assert_eq!(exp - iat, 3600);
    }
}

#[tokio::test]
async fn unknown_expired_and_revoked_tokens_introspect_as_exactly_active_false() {
    let server = start_auth(AuthOptions {
        token_ttl: Duration::from_secs(1),
        ..AuthOptions::default()
    })
    .await;
    let h = server.direct();
    let expiring = h.token(&server, "svc").await;
    let revoked = h.token(&server, "svc").await;
    assert_eq!(
        h.revoke(&server, "svc", &revoked).await.status,
        StatusCode::OK
    );
    // Alive right after issue.
    assert_eq!(
        h.introspect(&server, "rs", &expiring).await.json()["active"],
        true
    );
    // Expiry is in whole seconds of the system clock, so this waits for real.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (what, token) in [
        ("unknown", "no-such-token"),
        (
            "unknown, token-shaped",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        ("expired", expiring.as_str()),
        ("revoked", revoked.as_str()),
    ] {
        let reply = h.introspect(&server, "rs", token).await;
        assert_eq!(reply.status, StatusCode::OK, "{what}");
        assert_eq!(reply.json(), json!({"active": false}), "{what}");
    }
}

#[tokio::test]
async fn introspection_without_a_token_is_invalid_request() {
    let server = server().await;
    let h = server.direct();
    for body in ["", "token=", "token_type_hint=access_token"] {
        let reply = h
            .post_form(
                &server.url(INTROSPECT),
                body,
                Some(&basic("rs", server.secret("rs"))),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", body);
        assert!(reply.json().get("active").is_none());
    }
}

#[tokio::test]
async fn introspection_accepts_client_secret_basic_and_client_secret_post() {
    let server = server().await;
    let token = server.direct().token(&server, "svc").await;
    let h = server.direct();
    let reply = h.introspect(&server, "rs", &token).await;
    assert_eq!(reply.json()["active"], true, "basic");
    let body = format!(
        "token={token}&client_id=rs&client_secret={}",
        server.secret("rs")
    );
    let reply = h.post_form(&server.url(INTROSPECT), &body, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["active"], true, "post");
    assert_eq!(reply.json()["client_id"], "svc");
}

// ---------------------------------------------------------------------------------------------
// Revocation (RFC 7009)

#[tokio::test]
async fn revocation_requires_client_authentication() {
    let server = server().await;
    let token = server.direct().token(&server, "svc").await;
    let h = server.direct();
    let body = format!("token={token}");
    let reply = h.post_form(&server.url(REVOKE), &body, None).await;
    assert_invalid_client(&reply, "no authentication");
    let reply = h
        .post_form(&server.url(REVOKE), &body, Some(&basic("svc", "wrong")))
        .await;
    assert_invalid_client(&reply, "wrong secret");
    // Nothing was revoked.
    let reply = server.direct().introspect(&server, "rs", &token).await;
    assert_eq!(reply.json()["active"], true);
}

#[tokio::test]
async fn revocation_without_a_token_is_invalid_request() {
    let server = server().await;
    let h = server.direct();
    for body in ["", "token=", "token_type_hint=access_token"] {
        let reply = h
            .post_form(
                &server.url(REVOKE),
                body,
                Some(&basic("svc", server.secret("svc"))),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request", body);
    }
}

#[tokio::test]
async fn revoking_your_own_token_answers_200_and_the_token_becomes_inactive() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        let token = h.token(&server, "svc").await;
        let reply = h.revoke(&server, "svc", &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let reply = h.introspect(&server, "rs", &token).await;
        assert_eq!(reply.json(), json!({"active": false}));
        // Revoking it again is still 200.
        assert_eq!(
            h.revoke(&server, "svc", &token).await.status,
            StatusCode::OK
        );

        // With client_secret_post too.
        let token = h.token(&server, "other").await;
        let body = format!(
            "token={token}&token_type_hint=access_token&client_id=other&client_secret={}",
            server.secret("other")
        );
        let reply = h.post_form(&server.url(REVOKE), &body, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(
            h.introspect(&server, "rs", &token).await.json(),
            json!({"active": false})
        );
    }
}

#[tokio::test]
async fn revoking_an_unknown_token_answers_200() {
    let server = server().await;
    let h = server.direct();
    for token in [
        "no-such-token",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let reply = h.revoke(&server, "svc", token).await;
        assert_eq!(reply.status, StatusCode::OK, "{token}");
    }
}

#[tokio::test]
async fn revoking_another_clients_token_answers_200_and_leaves_it_active() {
    let server = server().await;
    let h = server.direct();
    let theirs = h.token(&server, "other").await;
    let own = h.token(&server, "svc").await;
    let unknown = h.revoke(&server, "svc", "no-such-token").await;
    let foreign = h.revoke(&server, "svc", &theirs).await;
    let mine = h.revoke(&server, "svc", &own).await;
    // The same answer in all three cases: the endpoint is no oracle.
    assert_eq!(foreign.status, StatusCode::OK);
    assert_eq!(foreign.status, unknown.status);
    assert_eq!(foreign.status, mine.status);
    assert_eq!(foreign.body, unknown.body);
    assert_eq!(foreign.body, mine.body);
    let reply = h.introspect(&server, "rs", &theirs).await;
    assert_eq!(
        reply.json()["active"],
        true,
        "someone else's token stays active"
    );
    assert_eq!(reply.json()["client_id"], "other");
}

// ---------------------------------------------------------------------------------------------
// Metadata (RFC 8414) and health

#[tokio::test]
async fn metadata_issuer_is_the_configured_issuer_byte_for_byte_and_never_the_host_header() {
    // The issuer names the port, so bind first.
    let listener = loopback().await;
    let addr = listener.local_addr().unwrap();
    let issuer = format!("https://localhost:{}/tenant", addr.port());
    let server = start_auth(AuthOptions {
        issuer: Some(issuer.clone()),
        listener: Some(listener),
        ..AuthOptions::default()
    })
    .await;
    let expected_scopes = json!(["introspect", "read", "write"]);
    let methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    // A path issuer's metadata lives where RFC 8414 §3.1 puts it, after the well-known path.
    let metadata = format!("{METADATA}/tenant");
    for proto in BOTH {
        let h = http(proto);
        for (url, host) in [
            (server.url(&metadata), None),
            (server.url(&metadata), Some("evil.example:8443")),
            (format!("https://127.0.0.1:{}{metadata}", addr.port()), None),
        ] {
            let headers: Vec<(&str, &str)> = host.map(|h| ("host", h)).into_iter().collect();
            let reply = h.request(Method::GET, &url, &headers, b"").await;
            assert_eq!(reply.status, StatusCode::OK, "{proto:?} {url} {host:?}");
            assert_eq!(reply.header("content-type"), Some("application/json"));
            let text = reply.text();
            assert!(
                text.contains(&format!("\"issuer\":\"{issuer}\"")),
                "issuer not byte for byte in {text}"
            );
            let body = reply.json();
            assert_eq!(body["issuer"], issuer.as_str());
            assert_eq!(body["token_endpoint"], format!("{issuer}/oauth/token"));
            assert_eq!(
                body["introspection_endpoint"],
                format!("{issuer}/oauth/introspect")
            );
            assert_eq!(
                body["revocation_endpoint"],
                format!("{issuer}/oauth/revoke")
            );
            assert_eq!(body["response_types_supported"], json!([]));
            assert_eq!(body["grant_types_supported"], json!(["client_credentials"]));
            assert_eq!(body["token_endpoint_auth_methods_supported"], methods);
            assert_eq!(
                body["introspection_endpoint_auth_methods_supported"],
                methods
            );
            assert_eq!(body["revocation_endpoint_auth_methods_supported"], methods);
            assert_eq!(body["scopes_supported"], expected_scopes);
            assert!(!text.contains("evil.example"));
        }
        // Introspection, at the endpoint the metadata names, reports the same issuer.
        let reply = h
            .token_basic(&issuer, "svc", server.secret("svc"), "")
            .await;
        let token = assert_token_response(&reply, "read write");
        let reply = h
            .post_form(
                &format!("{issuer}{INTROSPECT}"),
                &format!("token={token}"),
                Some(&basic("rs", server.secret("rs"))),
            )
            .await;
        assert_eq!(reply.json()["iss"], issuer.as_str());
    }
}

#[tokio::test]
async fn metadata_adds_no_trailing_slash_to_an_issuer_without_a_path() {
    let server = start_auth(AuthOptions {
        issuer: Some("https://auth.example.com".into()),
        ..AuthOptions::default()
    })
    .await;
    let reply = server.direct().get(&server.url(METADATA)).await;
    assert_eq!(reply.json()["issuer"], "https://auth.example.com");
    assert_eq!(
        reply.json()["token_endpoint"],
        "https://auth.example.com/oauth/token"
    );
}

#[tokio::test]
async fn healthz_answers_200() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        let reply = h.get(&server.url("/healthz")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn head_requests_are_answered_without_a_body_over_both_versions() {
    // The server answers `Allow: GET, HEAD` for its GET paths, so HEAD must work; and no
    // response to HEAD may carry a body (RFC 9110 §9.3.2), errors included.
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        for (path, status) in [
            ("/healthz", StatusCode::OK),
            (METADATA, StatusCode::OK),
            (TOKEN, StatusCode::METHOD_NOT_ALLOWED),
            ("/no-such-path", StatusCode::NOT_FOUND),
        ] {
            let request = http::Request::builder()
                .method(Method::HEAD)
                .uri(server.url(path))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            let reply = h
                .try_send(request)
                .await
                .unwrap_or_else(|e| panic!("{proto:?} HEAD {path}: {e}"));
            assert_eq!(reply.status, status, "{proto:?} HEAD {path}");
            assert!(reply.body.is_empty(), "{proto:?} HEAD {path}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

#[tokio::test]
async fn logs_never_show_a_secret_or_a_token_and_name_the_authenticated_client() {
    tollgate::access_log::start_capture();
    let server = start_auth(AuthOptions {
        clients: Some(Clients::register(&[
            client("log-svc", "read", false),
            client("log-rs", "", true),
        ])),
        ..AuthOptions::default()
    })
    .await;
    let secret = server.secret("log-svc").to_owned();
    let rs_secret = server.secret("log-rs").to_owned();
    let wrong = ["wrong-secret-AAAA-1234", "wrong-secret-BBBB-5678"];
    let mut tokens = Vec::new();
    for proto in BOTH {
        let h = http(proto);
        let token = h.token(&server, "log-svc").await;
        let post = h.token_post(&server.base, "log-svc", &secret, "").await;
        tokens.push(post.json()["access_token"].as_str().unwrap().to_owned());
        for w in wrong {
            h.token_basic(&server.base, "log-svc", w, "").await;
            h.token_post(&server.base, "log-svc", w, "").await;
        }
        // Credentials in the query, where a careless log would show them.
        h.post_form(
            &server.url(&format!("{TOKEN}?client_id=log-svc&client_secret={secret}")),
            "grant_type=client_credentials",
            None,
        )
        .await;
        assert_eq!(
            h.introspect(&server, "log-rs", &token).await.json()["active"],
            true
        );
        h.introspect(&server, "log-rs", "forged-token-CCCC-9999")
            .await;
        h.post_form(
            &server.url(&format!("{INTROSPECT}?token={token}")),
            &format!("token={token}"),
            Some(&basic("log-rs", &rs_secret)),
        )
        .await;
        assert_eq!(
            h.revoke(&server, "log-svc", &token).await.status,
            StatusCode::OK
        );
        h.revoke(&server, "log-svc", "forged-token-DDDD-0000").await;
        tokens.push(token);
    }
    let lines = tollgate::access_log::captured();
    let mine: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("client_id=log-svc") || l.contains("client_id=log-rs"))
        .collect();
    assert!(!mine.is_empty(), "no line names the client: {lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" POST /oauth/token 200 ") && l.contains("client_id=log-svc")),
        "a successful token request's line names its client_id: {mine:#?}"
    );
    let needles: Vec<&str> = [secret.as_str(), rs_secret.as_str()]
        .into_iter()
        .chain(wrong)
        .chain(tokens.iter().map(String::as_str))
        .chain(["forged-token-CCCC-9999", "forged-token-DDDD-0000"])
        .collect();
    for line in &lines {
        for needle in &needles {
            assert!(
                !line.contains(needle),
                "a log line shows a secret or token: {line}"
            );
        }
        assert!(!line.contains("client_secret="), "{line}");
    }
    // Debug output of the server holds no secret either.
    let debug = format!("{:?}", server.service);
    for needle in &needles {
        assert!(!debug.contains(needle));
    }
}

#[tokio::test]
async fn logged_request_paths_have_no_query() {
    tollgate::access_log::start_capture();
    let server = server().await;
    let marker = "querymarker7f3a9c";
    for proto in BOTH {
        let h = http(proto);
        let reply = h
            .get(&server.url(&format!("/healthz?access_token={marker}&x={proto:?}")))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let lines = tollgate::access_log::captured();
    assert!(
        lines.iter().any(|l| l.contains(" GET /healthz 200 ")),
        "no line for the request: {lines:#?}"
    );
    for line in &lines {
        assert!(!line.contains(marker), "the query was logged: {line}");
    }
}

// ---------------------------------------------------------------------------------------------
// Added checks: per-address limit, token sweeping, concurrency, bodies and raw input

#[tokio::test]
async fn one_host_guessing_across_many_ids_is_stopped_while_other_hosts_keep_full_speed() {
    let server = server().await;
    let attacker_ip: std::net::IpAddr = [127, 0, 0, 2].into();
    if tokio::net::TcpSocket::new_v4()
        .and_then(|s| s.bind(SocketAddr::new(attacker_ip, 0)))
        .is_err()
    {
        eprintln!("cannot bind 127.0.0.2: skipped");
        return;
    }
    let attacker = http_from(Proto::H2, attacker_ip);
    let honest = http(Proto::H1);
    let mut first_refusal = None;
    for i in 0..200 {
        let reply = attacker
            .token_basic(&server.base, &format!("guess-{i}"), "wrong", "")
            .await;
        match reply.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(reply.header("retry-after").is_some());
                first_refusal = Some(i);
                break;
            }
            other => panic!("attack request {i}: {other}"),
        }
        if i % 10 == 0 {
            let started = std::time::Instant::now();
            let reply = honest
                .token_basic(&server.base, "svc", server.secret("svc"), "")
                .await;
            assert_token_response(&reply, "read write");
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
    let first_refusal = first_refusal.expect("200 failures across 200 ids from one host");
    // Its budget is a burst of 100 failures.
    assert!(
        first_refusal >= 100,
        "the address was refused after only {first_refusal} failures"
    );
    // The guessing host is stopped even for a correct secret; every other host is served.
    let reply = attacker
        .token_basic(&server.base, "other", server.secret("other"), "")
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    for proto in BOTH {
        let reply = http(proto)
            .token_basic(&server.base, "other", server.secret("other"), "")
            .await;
        assert_token_response(&reply, "read");
    }
}

#[tokio::test]
async fn expired_tokens_are_swept_so_the_store_holds_only_live_tokens() {
    let server = start_auth(AuthOptions {
        token_ttl: Duration::from_secs(1),
        sweep_interval: Some(Duration::from_millis(200)),
        ..AuthOptions::default()
    })
    .await;
    let h = server.direct();
    for _ in 0..20 {
        h.token(&server, "svc").await;
    }
    assert_eq!(server.service.store().len(), 20);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !server.service.store().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        server.service.store().len(),
        0,
        "expired tokens were not swept"
    );
    h.token(&server, "svc").await;
    assert_eq!(server.service.store().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_token_requests_all_succeed_with_distinct_tokens() {
    let server = std::sync::Arc::new(server().await);
    for (proto, count) in [(Proto::H2, 300), (Proto::H1, 40)] {
        let h = std::sync::Arc::new(http(proto));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..count {
            let h = h.clone();
            let server = server.clone();
            tasks.spawn(async move {
                let id = if i % 2 == 0 { "svc" } else { "other" };
                h.token(&server, id).await
            });
        }
        let mut tokens = HashSet::new();
        while let Some(token) = tasks.join_next().await {
            assert!(tokens.insert(token.expect("task")), "duplicate token");
        }
        assert_eq!(tokens.len(), count, "{proto:?}");
    }
    assert_eq!(server.service.tokens_issued(), 340);
}

#[tokio::test]
async fn request_body_far_over_the_limit_is_refused_without_issuing_a_token() {
    let server = server().await;
    let auth = basic("svc", server.secret("svc"));
    let body = format!("grant_type=client_credentials&pad={}", "a".repeat(1 << 20));
    for proto in BOTH {
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(server.url(TOKEN))
            .header("content-type", FORM)
            .header("authorization", auth.as_str())
            .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
            .unwrap();
        match http(proto).try_send(request).await {
            Ok(reply) => assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{proto:?}"),
            Err(e) => panic!("{proto:?}: no 413 for a 1 MiB body: {e}"),
        }
    }
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn chunked_request_body_over_16_kib_is_413() {
    let server = server().await;
    let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
    let auth = basic("svc", server.secret("svc"));
    let mut request = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nAuthorization: {auth}\r\n\
         Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let first = b"grant_type=client_credentials&pad=";
    request.extend_from_slice(format!("{:x}\r\n", first.len()).as_bytes());
    request.extend_from_slice(first);
    request.extend_from_slice(b"\r\n");
    for _ in 0..5 {
        request.extend_from_slice(b"1000\r\n");
        request.extend(std::iter::repeat_n(b'a', 0x1000));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    write_all(&mut tls, &request).await;
    let (status, head, _) =
        tokio::time::timeout(Duration::from_secs(5), read_h1_response(&mut tls))
            .await
            .expect("answer in time")
            .expect("read")
            .expect("a response");
    assert_eq!(status, 413, "{head}");
    assert_eq!(server.service.tokens_issued(), 0);
}

#[tokio::test]
async fn malformed_raw_http1_requests_never_get_a_5xx() {
    let server = server().await;
    let secret = server.secret("svc").to_owned();
    let cases: Vec<Vec<u8>> = vec![
        b"GARBAGE\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n".to_vec(),
        b"GET /heal\xffthz HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad\x00: v\r\n\r\n".to_vec(),
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX: a\x01b\r\n\r\n".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic \xff\xfe\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\xe9\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"POST /oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials".to_vec(),
        format!("POST /oauth/token?client_secret={secret} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\ngrant_type=client_credentials").into_bytes(),
        b"POST http://evil.example/oauth/token HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n".to_vec(),
        b"OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
    ];
    for (i, case) in cases.iter().enumerate() {
        let mut tls = raw_tls(server.addr, &[b"http/1.1"]).await.unwrap();
        write_all(&mut tls, case).await;
        let _ = tls.shutdown().await;
        let response = tokio::time::timeout(Duration::from_secs(5), read_h1_response(&mut tls))
            .await
            .unwrap_or_else(|_| panic!("case {i}: no answer and no close within 5 s"));
        if let Ok(Some((status, head, _))) = response {
            assert!(
                status < 500,
                "case {i} {:?}: {head}",
                String::from_utf8_lossy(case)
            );
        }
    }
    assert_eq!(server.service.tokens_issued(), 0);
    assert_eq!(
        http(Proto::H1).get(&server.url("/healthz")).await.status,
        StatusCode::OK
    );
}
