//! The scope grammar (RFC 6749 §3.3) on the wire, over HTTP/1.1 and HTTP/2:
//! `scope = scope-token *( SP scope-token )`. There is no empty scope, so a client registered
//! with none gets no `scope` member at all, in the token response or in introspection; a
//! `scope` parameter with two spaces in a row, or a space at either end, is `invalid_scope`;
//! an empty `scope=` is no parameter at all (§3.2).

mod support;

use http::StatusCode;
use serde_json::Value;

use support::*;

async fn server() -> Auth {
    start_auth(AuthOptions {
        clients: Some(Clients::register(&[
            client("bare", "", false),
            client("svc", "read write", false),
            client("rs", "", true),
        ])),
        ..AuthOptions::default()
    })
    .await
}

fn token_of(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

#[tokio::test]
async fn a_client_registered_with_no_scopes_gets_no_scope_member_anywhere() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        for extra in ["", "&scope="] {
            let reply = h
                .token_basic(&server.base, "bare", server.secret("bare"), extra)
                .await;
            let token = token_of(&reply);
            let body = reply.json();
            assert_eq!(body.get("scope"), None, "{proto:?} {extra:?}: {body}");
            assert!(!reply.text().contains("\"scope\""), "{}", reply.text());
            let reply = h.introspect(&server, "rs", &token).await;
            let body = reply.json();
            assert_eq!(body["active"], true, "{body}");
            assert_eq!(body["client_id"], "bare");
            assert_eq!(body.get("scope"), None, "{proto:?}: {body}");
        }
        // Asking for a scope it does not have is still invalid_scope.
        let reply = h
            .token_basic(&server.base, "bare", server.secret("bare"), "&scope=read")
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.error(), "invalid_scope");
    }
}

#[tokio::test]
async fn a_scope_parameter_outside_the_grammar_is_invalid_scope() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        for scope in ["read++write", "+read", "read+", "+", "++", "read+write+"] {
            let reply = h
                .token_post(
                    &server.base,
                    "svc",
                    server.secret("svc"),
                    &format!("&scope={scope}"),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{proto:?} scope={scope}: {}",
                reply.text()
            );
            assert_eq!(reply.error(), "invalid_scope", "{proto:?} scope={scope}");
            assert!(reply.json().get("access_token").is_none());
        }
        assert_eq!(server.service.tokens_issued(), 0);
    }
}

#[tokio::test]
async fn a_well_formed_or_empty_scope_parameter_is_granted_as_the_grammar_says() {
    let server = server().await;
    for proto in BOTH {
        let h = http(proto);
        for (extra, granted) in [
            ("&scope=write+read", "read write"),
            ("&scope=write", "write"),
            ("&scope=read%20read", "read"),
            ("&scope=", "read write"),
            ("", "read write"),
        ] {
            let reply = h
                .token_basic(&server.base, "svc", server.secret("svc"), extra)
                .await;
            token_of(&reply);
            assert_eq!(
                reply.json()["scope"],
                Value::from(granted),
                "{proto:?} {extra:?}"
            );
        }
    }
}
