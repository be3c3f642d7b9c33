//! Bad input, issue 5: table-driven integration tests over real TLS. Every case names the answer
//! it expects (status and error code) and runs over HTTP/1.1 and HTTP/2 where a real client can
//! send it; what only a hand-written HTTP/1 request can carry (invalid header bytes, bare LF,
//! obs-fold, duplicate Content-Length, huge request lines) goes over a raw TLS stream. No case
//! may give a 5xx, hang or kill the server: after each table the server must still answer
//! `/healthz` and issue a token. A bad clients file must stop `oauth-server serve` at start-up
//! with a message naming the file, and the file must be left byte for byte as it was.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::Full;
use rustls::pki_types::ServerName;

use support::*;

const FORM: &str = "application/x-www-form-urlencoded";
const TOKEN: &str = "/oauth/token";
const INTROSPECT: &str = "/oauth/introspect";
const REVOKE: &str = "/oauth/revoke";
const RESOURCE: &str = "/api/resource";
/// The body limit of the authorization server (16 KiB).
const MAX_BODY: usize = 16 * 1024;

/// One request and the answer it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    expect_status: u16,
    /// The authorization server: the JSON `error` field. client1: the `error="..."` of
    /// `WWW-Authenticate`. `None`: no error code at all (a success, RFC 6750 §3.1's answer to a
    /// request without a token, or a refusal by the HTTP layer before any handler ran).
    expect_error: Option<&'static str>,
    /// A header the answer must carry, and the value it must start with.
    expect_header: Option<(&'static str, &'static str)>,
    /// Where HTTP/2 answers with another error code than HTTP/1.1: the h2 layer refuses an
    /// oversized header list itself (a bare 431), before the service sees the request.
    h2_error: Option<Option<&'static str>>,
}

fn case(name: &'static str, method: &'static str, path: &str) -> Case {
    Case {
        name,
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
        expect_status: 0,
        expect_error: None,
        expect_header: None,
        h2_error: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }
    fn form(self) -> Self {
        self.header("content-type", FORM)
    }
    fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }
    fn expect(mut self, status: u16, error: Option<&'static str>) -> Self {
        self.expect_status = status;
        self.expect_error = error;
        self
    }
    fn h2_error(mut self, error: Option<&'static str>) -> Self {
        self.h2_error = Some(error);
        self
    }
    fn with_header(mut self, name: &'static str, prefix: &'static str) -> Self {
        self.expect_header = Some((name, prefix));
        self
    }
}

/// Where an error code is read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    /// The authorization server, client1's own routing errors, and refusals by the HTTP layer:
    /// the JSON body (an HTTP-layer refusal has none, so no error code).
    Json,
    /// client1: `WWW-Authenticate`.
    Resource,
}

fn request(case: &Case, base: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(case.method.as_bytes()).expect("method"))
        .uri(format!("{base}{}", case.path));
    for (name, value) in &case.headers {
        builder = builder.header(*name, HeaderValue::from_bytes(value).expect("header value"));
    }
    builder
        .body(Full::new(Bytes::from(case.body.clone())))
        .expect("request")
}

/// The JSON `error` of a body, if it is a JSON object with one.
fn json_error(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_owned)
}

/// The `error="..."` of a `WWW-Authenticate` value.
fn challenge_error(value: &str) -> Option<String> {
    let start = value.find("error=\"")? + "error=\"".len();
    let rest = &value[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Checks one answer; the message of a mismatch names the case and the protocol.
fn check(
    service: Service,
    name: &str,
    via: &str,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    (expect_status, expect_error, expect_header): Expected,
) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if status >= 500 {
        return Err(format!("case {name} over {via}: 5xx {status}: {text}"));
    }
    if status != expect_status {
        return Err(format!(
            "case {name} over {via}: status {status}, expected {expect_status}: {text}"
        ));
    }
    let error = match service {
        Service::Json => json_error(body),
        Service::Resource => {
            let challenge = header("www-authenticate");
            if matches!(status, 401 | 400 | 403)
                && challenge.is_none_or(|c| !c.starts_with("Bearer"))
            {
                return Err(format!(
                    "case {name} over {via}: {status} without a Bearer challenge: {headers:?}"
                ));
            }
            challenge.and_then(challenge_error)
        }
    };
    if error.as_deref() != expect_error {
        return Err(format!(
            "case {name} over {via}: error {error:?}, expected {expect_error:?}: {headers:?} {text}"
        ));
    }
    if let Some((hname, prefix)) = expect_header {
        match header(hname) {
            Some(value) if value.starts_with(prefix) => {}
            other => {
                return Err(format!(
                    "case {name} over {via}: header {hname} is {other:?}, expected {prefix:?}..."
                ))
            }
        }
    }
    Ok(())
}

/// Status, error code and a required header prefix.
type Expected<'a> = (u16, Option<&'a str>, Option<(&'a str, &'a str)>);

fn reply_headers(reply: &Reply) -> Vec<(String, String)> {
    reply
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Runs every case over both HTTP versions; returns the failures.
async fn run_table(
    service: Service,
    base: &str,
    clients: &[Client],
    cases: &[Case],
) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        for client in clients {
            let via = client.via().to_owned();
            let started = Instant::now();
            match client.try_send(request(case, base)).await {
                Ok(reply) => {
                    if let Err(e) = check(
                        service,
                        case.name,
                        &via,
                        reply.status.as_u16(),
                        &reply_headers(&reply),
                        &reply.body,
                        (
                            case.expect_status,
                            match (client.proto(), case.h2_error) {
                                (Some(Proto::H2), Some(error)) => error,
                                _ => case.expect_error,
                            },
                            case.expect_header,
                        ),
                    ) {
                        failures.push(e);
                    }
                }
                Err(e) => failures.push(format!(
                    "case {} over {via}: no answer after {:?}: {e}",
                    case.name,
                    started.elapsed()
                )),
            }
        }
    }
    failures
}

fn assert_no_failures(failures: Vec<String>, total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The authorization server's cases. `svc` and `rs` are valid Basic headers of clients with
/// scopes `read write` and `introspect`.
fn auth_cases(server: &Auth) -> Vec<Case> {
    let svc = basic("svc", server.secret("svc"));
    let rs = basic("rs", server.secret("rs"));
    let other_secret = server.secret("other").to_owned();
    let grant = "grant_type=client_credentials";
    let token = |name| {
        case(name, "POST", TOKEN)
            .form()
            .header("authorization", &svc)
    };
    let introspect = |name| {
        case(name, "POST", INTROSPECT)
            .form()
            .header("authorization", &rs)
    };
    let revoke = |name| {
        case(name, "POST", REVOKE)
            .form()
            .header("authorization", &svc)
    };
    let over_limit = format!("{grant}&pad={}", "a".repeat(MAX_BODY - grant.len() - 5 + 1));
    assert_eq!(over_limit.len(), MAX_BODY + 1);
    let at_limit = &over_limit[..MAX_BODY];
    let ten_kib = "A".repeat(10 * 1024);
    let twenty_kib = "a".repeat(20 * 1024);

    let cases = vec![
        // Form bodies: percent-encoding and UTF-8.
        token("token_bad_percent_escape")
            .body(format!("{grant}&scope=%zz"))
            .expect(400, Some("invalid_request")),
        token("token_truncated_percent_escape")
            .body("grant_type=client_credentials%2")
            .expect(400, Some("invalid_request")),
        token("token_lone_percent_in_name")
            .body(format!("{grant}&%=x"))
            .expect(400, Some("invalid_request")),
        token("token_invalid_utf8_raw")
            .body(b"grant_type=client_credentials&scope=\xff\xfe".as_slice())
            .expect(400, Some("invalid_request")),
        token("token_invalid_utf8_escaped")
            .body(format!("{grant}&scope=%C3%28"))
            .expect(400, Some("invalid_request")),
        token("token_overlong_utf8_escaped")
            .body(format!("{grant}&scope=%C0%AF"))
            .expect(400, Some("invalid_request")),
        token("token_utf16_surrogate_escaped")
            .body(format!("{grant}&scope=%ED%A0%80"))
            .expect(400, Some("invalid_request")),
        token("token_nul_in_grant_type")
            .body("grant_type=client_credentials%00")
            .expect(400, Some("unsupported_grant_type")),
        // Repeated and empty parameters.
        token("token_repeated_grant_type")
            .body(format!("{grant}&{grant}"))
            .expect(400, Some("invalid_request")),
        token("token_repeated_scope")
            .body(format!("{grant}&scope=read&scope=write"))
            .expect(400, Some("invalid_request")),
        token("token_repeated_empty_scope")
            .body(format!("{grant}&scope=&scope="))
            .expect(400, Some("invalid_request")),
        token("token_repeated_name_escaped_differently")
            .body(format!("{grant}&scope=read&%73cope=write"))
            .expect(400, Some("invalid_request")),
        token("token_missing_grant_type")
            .body("scope=read")
            .expect(400, Some("invalid_request")),
        token("token_empty_grant_type")
            .body("grant_type=&scope=read")
            .expect(400, Some("invalid_request")),
        token("token_grant_type_without_equals")
            .body("grant_type")
            .expect(400, Some("invalid_request")),
        token("token_unknown_grant_type")
            .body("grant_type=password&username=a&password=b")
            .expect(400, Some("unsupported_grant_type")),
        token("token_grant_type_wrong_case")
            .body("grant_type=Client_Credentials")
            .expect(400, Some("unsupported_grant_type")),
        token("token_empty_body").expect(400, Some("invalid_request")),
        token("token_only_separators")
            .body("&&=&&")
            .expect(400, Some("invalid_request")),
        token("token_empty_scope_counts_as_omitted")
            .body(format!("{grant}&scope="))
            .expect(200, None),
        token("token_empty_unknown_parameter_is_ignored")
            .body(format!("{grant}&&foo=&"))
            .expect(200, None),
        token("token_scope_with_forbidden_character")
            .body(format!("{grant}&scope=read%22"))
            .expect(400, Some("invalid_scope")),
        token("token_scope_not_registered")
            .body(format!("{grant}&scope=admin"))
            .expect(400, Some("invalid_scope")),
        // Sizes.
        token("token_body_at_16_kib_limit")
            .body(at_limit)
            .expect(200, None),
        token("token_body_16_kib_plus_1")
            .body(&over_limit)
            .expect(413, Some("invalid_request")),
        token("token_body_64_kib")
            .body(format!("{grant}&pad={}", "a".repeat(64 * 1024)))
            .expect(413, Some("invalid_request")),
        token("token_16_kib_of_ampersands")
            .body("&".repeat(MAX_BODY))
            .expect(400, Some("invalid_request")),
        // Media types.
        case("token_no_content_type", "POST", TOKEN)
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        case("token_json_body", "POST", TOKEN)
            .header("authorization", &svc)
            .header("content-type", "application/json")
            .body(r#"{"grant_type":"client_credentials"}"#)
            .expect(400, Some("invalid_request")),
        case("token_json_body_labelled_as_form", "POST", TOKEN)
            .form()
            .header("authorization", &svc)
            .body(r#"{"grant_type":"client_credentials"}"#)
            .expect(400, Some("invalid_request")),
        case("token_multipart", "POST", TOKEN)
            .header("authorization", &svc)
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--x--\r\n")
            .expect(400, Some("invalid_request")),
        case("token_two_content_types", "POST", TOKEN)
            .form()
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        case("token_content_type_with_charset", "POST", TOKEN)
            .header("content-type", "Application/X-WWW-Form-URLEncoded; charset=UTF-8")
            .header("authorization", &svc)
            .body(grant)
            .expect(200, None),
        case("token_content_type_obs_text", "POST", TOKEN)
            .header("content-type", b"application/x-www-form-urlencoded\xe9")
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        // Basic headers.
        case("token_basic_bad_base64", "POST", TOKEN)
            .form()
            .header("authorization", "Basic !!!not-base64!!!")
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_no_colon", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(b"svc"))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_empty_id", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(b":secret"))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_bad_escape", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(b"svc%zz:secret"))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_invalid_utf8", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(b"\xff\xfe:secret"))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_escaped_invalid_utf8", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(b"svc:%ff"))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_scheme_alone", "POST", TOKEN)
            .form()
            .header("authorization", "Basic")
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_obs_text", "POST", TOKEN)
            .form()
            .header("authorization", b"Basic \xff\xfe")
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_basic_10_kib", "POST", TOKEN)
            .form()
            .header("authorization", basic_raw(ten_kib.as_bytes()))
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_bearer_scheme", "POST", TOKEN)
            .form()
            .header("authorization", "Bearer abc")
            .body(grant)
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        case("token_empty_authorization", "POST", TOKEN)
            .form()
            .header("authorization", "")
            .body(grant)
            .expect(401, Some("invalid_client")),
        case("token_two_authorization_headers", "POST", TOKEN)
            .form()
            .header("authorization", &svc)
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        token("token_basic_and_client_secret")
            .body(format!("{grant}&client_secret=x"))
            .expect(400, Some("invalid_request")),
        token("token_basic_and_other_client_id")
            .body(format!("{grant}&client_id=other"))
            .expect(400, Some("invalid_request")),
        // Credentials elsewhere or missing.
        case("token_secret_in_query", "POST", &format!("{TOKEN}?client_secret=x"))
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        case("token_escaped_client_id_in_query", "POST", &format!("{TOKEN}?client%5Fid=svc"))
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(400, Some("invalid_request")),
        case("token_client_id_without_secret", "POST", TOKEN)
            .form()
            .body(format!("{grant}&client_id=svc"))
            .expect(401, Some("invalid_client")),
        case("token_empty_client_secret", "POST", TOKEN)
            .form()
            .body(format!("{grant}&client_id=svc&client_secret="))
            .expect(401, Some("invalid_client")),
        case("token_no_credentials", "POST", TOKEN)
            .form()
            .body(grant)
            .expect(401, Some("invalid_client")),
        case("token_wrong_secret", "POST", TOKEN)
            .form()
            .body(format!("{grant}&client_id=other&client_secret={other_secret}x"))
            .expect(401, Some("invalid_client")),
        case("token_unknown_client_with_nul", "POST", TOKEN)
            .form()
            .body(format!("{grant}&client_id=svc%00&client_secret=x"))
            .expect(401, Some("invalid_client")),
        // Methods and paths.
        case("token_get", "GET", TOKEN)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("token_put", "PUT", TOKEN)
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("token_delete", "DELETE", TOKEN)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("token_extension_method", "BREW", TOKEN)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("introspect_get", "GET", INTROSPECT)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("revoke_patch", "PATCH", REVOKE)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "POST"),
        case("healthz_post", "POST", "/healthz")
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "GET, HEAD"),
        case("metadata_delete", "DELETE", "/.well-known/oauth-authorization-server")
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "GET, HEAD"),
        case("unknown_path", "GET", "/nope").expect(404, Some("not_found")),
        case("token_trailing_slash", "POST", "/oauth/token/")
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(404, Some("not_found")),
        case("token_path_other_case", "POST", "/OAuth/Token")
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(404, Some("not_found")),
        case("token_path_percent_encoded", "POST", "/oauth/%74oken")
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(404, Some("not_found")),
        case("token_path_dot_segment", "POST", "/oauth/x/../token")
            .form()
            .header("authorization", &svc)
            .body(grant)
            .expect(404, Some("not_found")),
        // Huge headers.
        case("healthz_20_kib_header", "GET", "/healthz")
            .header("x-big", &twenty_kib)
            .expect(431, Some("request_header_fields_too_large"))
            .h2_error(None),
        case("token_20_kib_authorization", "POST", TOKEN)
            .form()
            .header("authorization", format!("Basic {twenty_kib}"))
            .body(grant)
            .expect(431, None),
        {
            let mut c = case("healthz_300_headers_of_100_bytes", "GET", "/healthz");
            for _ in 0..300 {
                c = c.header("x-many", "b".repeat(100));
            }
            c.expect(431, None)
        },
        case("healthz_20_kib_query", "GET", &format!("/healthz?q={twenty_kib}")).expect(431, None),
        case("healthz_12_kib_header_is_fine", "GET", "/healthz")
            .header("x-big", "a".repeat(12 * 1024))
            .expect(200, None),
        // Introspection.
        introspect("introspect_no_token")
            .expect(400, Some("invalid_request")),
        introspect("introspect_empty_token")
            .body("token=")
            .expect(400, Some("invalid_request")),
        introspect("introspect_repeated_token")
            .body("token=a&token=b")
            .expect(400, Some("invalid_request")),
        introspect("introspect_bad_escape")
            .body("token=%g0")
            .expect(400, Some("invalid_request")),
        introspect("introspect_invalid_utf8")
            .body(b"token=\xc3".as_slice())
            .expect(400, Some("invalid_request")),
        introspect("introspect_unknown_token")
            .body("token=abc&token_type_hint=access_token")
            .expect(200, None),
        introspect("introspect_10_kib_token")
            .body(format!("token={ten_kib}"))
            .expect(200, None),
        introspect("introspect_oversized_body")
            .body(&over_limit)
            .expect(413, Some("invalid_request")),
        case("introspect_not_allowed_to_introspect", "POST", INTROSPECT)
            .form()
            .header("authorization", &svc)
            .body("token=abc")
            .expect(403, Some("unauthorized_client")),
        case("introspect_no_client_authentication", "POST", INTROSPECT)
            .form()
            .body("token=abc")
            .expect(401, Some("invalid_client")),
        case("introspect_json_body", "POST", INTROSPECT)
            .header("content-type", "application/json")
            .header("authorization", &rs)
            .body(r#"{"token":"abc"}"#)
            .expect(400, Some("invalid_request")),
        case("introspect_basic_no_colon", "POST", INTROSPECT)
            .form()
            .header("authorization", basic_raw(b"rs"))
            .body("token=abc")
            .expect(401, Some("invalid_client"))
            .with_header("www-authenticate", "Basic"),
        // Revocation.
        revoke("revoke_no_token").expect(400, Some("invalid_request")),
        revoke("revoke_repeated_token")
            .body("token=a&token=a")
            .expect(400, Some("invalid_request")),
        revoke("revoke_invalid_utf8_escaped")
            .body("token=%80")
            .expect(400, Some("invalid_request")),
        revoke("revoke_unknown_token")
            .body("token=abc")
            .expect(200, None),
        revoke("revoke_oversized_body")
            .body(&over_limit)
            .expect(413, Some("invalid_request")),
        case("revoke_no_client_authentication", "POST", REVOKE)
            .form()
            .body("token=abc")
            .expect(401, Some("invalid_client")),
        case("revoke_secret_in_query", "POST", &format!("{REVOKE}?client_secret=x"))
            .form()
            .header("authorization", &svc)
            .body("token=abc")
            .expect(400, Some("invalid_request")),
    ];
    cases
}

/// A server that answers this is alive and still issues tokens.
async fn assert_alive(server: &Auth) {
    for proto in BOTH {
        let client = http(proto);
        let health = client.get(&server.url("/healthz")).await;
        assert_eq!(health.status, StatusCode::OK, "{proto:?}: /healthz");
        let token = client
            .token_basic(&server.base, "svc", server.secret("svc"), "")
            .await;
        assert_eq!(
            token.status,
            StatusCode::OK,
            "{proto:?}: a valid token request after the table: {}",
            token.text()
        );
    }
}

#[tokio::test]
async fn authorization_server_answers_every_bad_request_with_its_named_error() {
    let server = auth().await;
    let cases = auth_cases(&server);
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be distinct");
    let clients = [http(Proto::H1), http(Proto::H2)];
    let failures = run_table(Service::Json, &server.base, &clients, &cases).await;
    assert_no_failures(failures, cases.len() * 2);
    assert_alive(&server).await;
}

/// The expected "status" of a raw case the server closes without answering (as HTTP/1.1 allows
/// for a request it cannot even parse as one).
const CLOSED: u16 = 0;

/// A request only a hand-written HTTP/1.1 client can send.
struct RawCase {
    name: &'static str,
    bytes: Vec<u8>,
    /// Send close_notify after the request (for a body that never completes).
    close_write: bool,
    expect_status: u16,
    expect_error: Option<&'static str>,
}

fn raw(
    name: &'static str,
    bytes: impl AsRef<[u8]>,
    status: u16,
    error: Option<&'static str>,
) -> RawCase {
    RawCase {
        name,
        bytes: bytes.as_ref().to_vec(),
        close_write: false,
        expect_status: status,
        expect_error: error,
    }
}

/// A POST with the given extra head lines (each ending in CRLF) and body.
fn raw_post(path: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn run_raw(
    service: Service,
    addr: std::net::SocketAddr,
    ca: &Path,
    cases: &[RawCase],
) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = match raw_tls_with_ca(addr, name, &[b"http/1.1"], ca).await {
            Ok(tls) => tls,
            Err(e) => {
                failures.push(format!(
                    "case {} over raw HTTP/1.1: connect: {e}",
                    case.name
                ));
                continue;
            }
        };
        write_all(&mut tls, &case.bytes).await;
        if case.close_write {
            use tokio::io::AsyncWriteExt as _;
            let _ = tls.shutdown().await;
        }
        let answer = tokio::time::timeout(STEP, read_h1_response(&mut tls)).await;
        let (status, head, body) = match answer {
            Err(_) => {
                failures.push(format!(
                    "case {} over raw HTTP/1.1: no answer and no close within {STEP:?}",
                    case.name
                ));
                continue;
            }
            Ok(Ok(None)) | Ok(Err(_)) if case.expect_status == CLOSED => continue,
            Ok(Err(e)) => {
                failures.push(format!("case {} over raw HTTP/1.1: read: {e}", case.name));
                continue;
            }
            Ok(Ok(None)) => {
                failures.push(format!(
                    "case {} over raw HTTP/1.1: closed without an answer",
                    case.name
                ));
                continue;
            }
            Ok(Ok(Some(answer))) => answer,
        };
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        if let Err(e) = check(
            service,
            case.name,
            "raw HTTP/1.1",
            status,
            &headers,
            &body,
            (case.expect_status, case.expect_error, None),
        ) {
            failures.push(e);
        }
    }
    failures
}

#[tokio::test]
async fn authorization_server_survives_malformed_http1_requests() {
    let server = auth().await;
    let svc = basic("svc", server.secret("svc"));
    let grant = "grant_type=client_credentials";
    let form = format!("Content-Type: {FORM}\r\nAuthorization: {svc}\r\n");
    let big = "a".repeat(20 * 1024);
    let mut truncated = raw(
        "raw_body_shorter_than_content_length",
        format!(
            "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 100\r\n\r\n{grant}"
        ),
        400,
        Some("invalid_request"),
    );
    truncated.close_write = true;
    let cases = vec![
        raw("raw_valid_request_for_reference", raw_post(TOKEN, &form, grant), 200, None),
        raw(
            "raw_bare_lf_line_endings",
            "GET /healthz HTTP/1.1\nHost: localhost\n\n",
            200,
            None,
        ),
        raw(
            "raw_obs_fold",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Folded: a\r\n b\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_duplicate_content_length_differing",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 29\r\nContent-Length: 30\r\n\r\n{grant}x"
            ),
            400,
            None,
        ),
        raw(
            "raw_content_length_list",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 29, 30\r\n\r\n{grant}x"
            ),
            400,
            None,
        ),
        raw(
            "raw_negative_content_length",
            format!("POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: -1\r\n\r\n"),
            400,
            None,
        ),
        raw(
            "raw_huge_declared_content_length",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 1000000000\r\n\r\n{grant}"
            ),
            413,
            Some("invalid_request"),
        ),
        raw(
            "raw_chunked_bad_chunk_size",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Transfer-Encoding: chunked\r\n\r\nzz\r\n{grant}\r\n0\r\n\r\n"
            ),
            400,
            Some("invalid_request"),
        ),
        raw(
            "raw_chunked_over_16_kib",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Transfer-Encoding: chunked\r\n\r\n4001\r\n{}\r\n0\r\n\r\n",
                "a".repeat(MAX_BODY + 1)
            ),
            413,
            Some("invalid_request"),
        ),
        raw(
            "raw_nul_in_header_name",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad\x00: v\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_control_character_in_header_value",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX: a\x01b\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_space_before_colon",
            "GET /healthz HTTP/1.1\r\nHost : localhost\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_header_without_colon",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nNoColonHere\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_invalid_byte_in_path",
            b"GET /heal\xffthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
            None,
        ),
        raw(
            "raw_unknown_http_version",
            "GET /healthz HTTP/9.9\r\nHost: localhost\r\n\r\n",
            400,
            None,
        ),
        raw("raw_garbage_request_line", "GARBAGE\r\n\r\n", 400, None),
        raw(
            "raw_20_kib_request_line",
            format!("GET /healthz?q={big} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
            431,
            None,
        ),
        raw(
            "raw_20_kib_header",
            format!("GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: {big}\r\n\r\n"),
            431,
            None,
        ),
        raw(
            "raw_lower_case_method",
            "get /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
            405,
            Some("method_not_allowed"),
        ),
        raw(
            "raw_http10_without_host",
            "GET /healthz HTTP/1.0\r\n\r\n",
            200,
            None,
        ),
        raw(
            "raw_basic_obs_text",
            raw_post(
                TOKEN,
                &format!("Content-Type: {FORM}\r\nAuthorization: Basic \u{e9}\u{e8}\r\n"),
                grant,
            ),
            401,
            Some("invalid_client"),
        ),
        raw(
            "raw_expect_100_continue_over_limit",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Expect: 100-continue\r\nContent-Length: 20000\r\n\r\n"
            ),
            413,
            Some("invalid_request"),
        ),
        raw(
            "raw_content_length_and_chunked",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n1d\r\n{grant}\r\n0\r\n\r\n"
            ),
            200,
            None,
        ),
        raw(
            "raw_transfer_encoding_identity",
            format!(
                "POST {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Transfer-Encoding: identity\r\nContent-Length: 29\r\n\r\n{grant}"
            ),
            400,
            None,
        ),
        raw(
            "raw_absolute_form_target",
            format!(
                "POST https://evil.example{TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 29\r\n\r\n{grant}"
            ),
            200,
            None,
        ),
        raw("raw_options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, Some("not_found")),
        raw("raw_connect", "CONNECT localhost:443 HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, Some("not_found")),
        raw("raw_http2_preface_over_http1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CLOSED, None),
        raw("raw_token_get_with_body", format!("GET {TOKEN} HTTP/1.1\r\nHost: localhost\r\n{form}Content-Length: 29\r\n\r\n{grant}"), 405, Some("method_not_allowed")),
        truncated,
    ];
    let failures = run_raw(Service::Json, server.addr, &certs().ca(), &cases).await;
    assert_no_failures(failures, cases.len());
    assert_alive(&server).await;
}

#[tokio::test]
async fn client1_answers_every_bad_bearer_header_as_rfc_6750_says() {
    let auth = auth().await;
    let client1 = start_client1(&auth.issuer, Duration::from_secs(30)).await;
    let https = http(Proto::H1);
    let good = https.token(&auth, "svc").await;
    let no_read = https.token(&auth, "writer").await;
    let ten_kib = "a".repeat(10 * 1024);
    let get = |name| case(name, "GET", RESOURCE);
    let bearer = |name, value: &str| get(name).header("authorization", value);
    let cases = vec![
        bearer(
            "resource_valid_token_for_reference",
            &format!("Bearer {good}"),
        )
        .expect(200, None),
        bearer("resource_lower_case_scheme", &format!("bearer {good}")).expect(200, None),
        bearer("resource_upper_case_scheme", &format!("BEARER {good}")).expect(200, None),
        get("resource_no_authorization")
            .expect(401, None)
            .with_header("www-authenticate", "Bearer realm="),
        bearer("resource_bearer_alone", "Bearer").expect(400, Some("invalid_request")),
        bearer("resource_bearer_spaces_only", "Bearer    ").expect(400, Some("invalid_request")),
        bearer(
            "resource_bearer_with_space_inside",
            &format!("Bearer {} {}", &good[..10], &good[10..]),
        )
        .expect(400, Some("invalid_request")),
        bearer("resource_two_tokens", &format!("Bearer {good} {good}"))
            .expect(400, Some("invalid_request")),
        bearer(
            "resource_comma_separated_tokens",
            &format!("Bearer {good},{good}"),
        )
        .expect(400, Some("invalid_request")),
        bearer(
            "resource_two_schemes",
            &format!("Bearer {good}, Basic YTpi"),
        )
        .expect(400, Some("invalid_request")),
        bearer("resource_token_with_quote", "Bearer \"abc\"").expect(400, Some("invalid_request")),
        bearer("resource_token_only_padding", "Bearer ===").expect(400, Some("invalid_request")),
        bearer("resource_token_with_padding_inside", "Bearer ab=cd")
            .expect(400, Some("invalid_request")),
        get("resource_token_obs_text")
            .header("authorization", b"Bearer abc\xe9def")
            .expect(400, Some("invalid_request")),
        get("resource_two_authorization_headers")
            .header("authorization", format!("Bearer {good}"))
            .header("authorization", format!("Bearer {good}"))
            .expect(400, Some("invalid_request")),
        bearer("resource_10_kib_token", &format!("Bearer {ten_kib}"))
            .expect(401, Some("invalid_token")),
        bearer("resource_unknown_token", "Bearer abc.DEF-123_~+/==")
            .expect(401, Some("invalid_token")),
        bearer("resource_token_lacks_scope", &format!("Bearer {no_read}"))
            .expect(403, Some("insufficient_scope")),
        bearer(
            "resource_extra_spaces_around_token",
            &format!("Bearer   {good}"),
        )
        .expect(200, None),
        bearer("resource_basic_scheme", "Basic YTpi")
            .expect(401, None)
            .with_header("www-authenticate", "Bearer realm="),
        bearer("resource_empty_authorization", "")
            .expect(401, None)
            .with_header("www-authenticate", "Bearer realm="),
        bearer("resource_scheme_glued_to_token", &format!("Bearer{good}"))
            .expect(401, None)
            .with_header("www-authenticate", "Bearer realm="),
        case(
            "resource_token_in_query",
            "GET",
            &format!("{RESOURCE}?access_token={good}"),
        )
        .expect(401, None)
        .with_header("www-authenticate", "Bearer realm="),
        get("resource_token_in_body")
            .form()
            .body(format!("access_token={good}"))
            .expect(401, None)
            .with_header("www-authenticate", "Bearer realm="),
        bearer(
            "resource_20_kib_token",
            &format!("Bearer {}", "a".repeat(20 * 1024)),
        )
        .expect(431, Some("request_header_fields_too_large"))
        .h2_error(None),
        case("resource_post", "POST", RESOURCE)
            .header("authorization", format!("Bearer {good}"))
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "GET, HEAD"),
        case("resource_delete", "DELETE", RESOURCE)
            .expect(405, Some("method_not_allowed"))
            .with_header("allow", "GET, HEAD"),
        case("resource_unknown_path", "GET", "/api/resource/x")
            .header("authorization", format!("Bearer {good}"))
            .expect(404, Some("not_found")),
    ];
    // client1's error codes are in WWW-Authenticate; its own JSON errors (405, 404) are not
    // challenges, so those cases are checked against the JSON body instead.
    let (challenges, plain): (Vec<Case>, Vec<Case>) = cases
        .into_iter()
        .partition(|c| !matches!(c.expect_status, 404 | 405 | 431));
    let clients = [
        http_trusting(Proto::H1, &certs().ca()),
        http_trusting(Proto::H2, &certs().ca()),
    ];
    let base = client1.url("");
    let mut failures = run_table(Service::Resource, &base, &clients, &challenges).await;
    failures.extend(run_table(Service::Json, &base, &clients, &plain).await);

    let raw_cases = vec![
        raw(
            "resource_raw_control_character_in_token",
            "GET /api/resource HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ab\x01cd\r\n\r\n",
            400,
            None,
        ),
        raw(
            "resource_raw_nul_in_token",
            "GET /api/resource HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ab\x00cd\r\n\r\n",
            400,
            None,
        ),
        raw(
            "resource_raw_del_in_token",
            "GET /api/resource HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ab\x7fcd\r\n\r\n",
            400,
            None,
        ),
        raw(
            "resource_raw_folded_authorization",
            format!("GET /api/resource HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer\r\n {good}\r\n\r\n"),
            400,
            None,
        ),
    ];
    // Refused by the HTTP layer before client1's guard runs: a bare 400, no challenge.
    failures.extend(run_raw(Service::Json, client1.addr, &certs().ca(), &raw_cases).await);
    assert_no_failures(
        failures,
        (challenges.len() + plain.len()) * 2 + raw_cases.len(),
    );

    // client1 is alive and still lets a good token through.
    for client in &clients {
        let health = client.get(&client1.url("/healthz")).await;
        assert_eq!(health.status, StatusCode::OK, "{}: /healthz", client.via());
        let ok = client
            .request(
                Method::GET,
                &client1.url(RESOURCE),
                &[("authorization", &format!("Bearer {good}"))],
                b"",
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}: {}", client.via(), ok.text());
    }
}

/// A clients file that `serve` must refuse.
struct BadFile {
    name: &'static str,
    /// `None`: the file does not exist.
    contents: Option<Vec<u8>>,
    /// A piece of the message that says what is wrong (besides the path).
    says: &'static str,
}

#[test]
fn a_bad_clients_file_stops_start_up_with_a_message_naming_it_and_is_never_rewritten() {
    let dir = temp_dir("bad-clients");
    let good = dir.join("good.json");
    tollgate::auth::clients_file::add_client(
        &good,
        &tollgate::auth::clients_file::Registration::new("svc", vec!["read".into()], false),
    )
    .unwrap();
    let good_text = std::fs::read_to_string(&good).unwrap();
    let entry: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(&good_text).unwrap()["clients"][0].clone();
    let hash = entry["secret_sha256"].as_str().unwrap().to_owned();
    let with = |id: &str, hash: &str, scope: &str| {
        serde_json::json!({ "clients": [
            { "client_id": id, "secret_sha256": hash, "scope": scope, "introspect": false }
        ]})
        .to_string()
        .into_bytes()
    };
    let files = [
        BadFile {
            name: "missing",
            contents: None,
            says: "cannot read",
        },
        BadFile {
            name: "empty",
            contents: Some(Vec::new()),
            says: "not a valid clients file",
        },
        BadFile {
            name: "corrupt",
            contents: Some(b"{\"clients\": [ {\"client_id\": \"svc\", ".to_vec()),
            says: "not a valid clients file",
        },
        BadFile {
            name: "not_an_object",
            contents: Some(b"[1, 2, 3]".to_vec()),
            says: "not a valid clients file",
        },
        BadFile {
            name: "invalid_utf8",
            contents: Some(b"{\"clients\": [\xff]}".to_vec()),
            says: "",
        },
        BadFile {
            name: "duplicate_id",
            contents: Some(
                serde_json::json!({ "clients": [entry.clone(), entry.clone()] })
                    .to_string()
                    .into_bytes(),
            ),
            says: "more than once",
        },
        BadFile {
            name: "bad_id",
            contents: Some(with("svc one", &hash, "read")),
            says: "client_id",
        },
        BadFile {
            name: "empty_id",
            contents: Some(with("", &hash, "read")),
            says: "client_id",
        },
        BadFile {
            name: "bad_hash",
            contents: Some(with("svc", "xyz", "read")),
            says: "secret_sha256",
        },
        BadFile {
            name: "bad_scope",
            contents: Some(with("svc", &hash, "re\"ad")),
            says: "scope",
        },
        BadFile {
            name: "unknown_field",
            contents: Some(b"{\"clients\": [], \"admin\": true}".to_vec()),
            says: "not a valid clients file",
        },
    ];
    let certs = certs();
    let listing = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let mut failures = Vec::new();
    for file in &files {
        let path: PathBuf = dir.join(format!("{}.json", file.name));
        if let Some(contents) = &file.contents {
            std::fs::write(&path, contents).unwrap();
        }
        let before = listing(&dir);
        let mut serve = Command::new(support::child::OAUTH_SERVER);
        serve
            .args(["serve", "--listen", "127.0.0.1:0", "--clients"])
            .arg(&path)
            .arg("--cert")
            .arg(certs.cert())
            .arg("--key")
            .arg(certs.key());
        let (status, output) = match support::child::try_run(&mut serve, STEP) {
            Ok(output) => (Some(output.status), output),
            Err(output) => (None, output),
        };
        let stderr = String::from_utf8_lossy(&output.stderr);
        let name = file.name;
        match status {
            None => failures.push(format!("{name}: serve still running after {STEP:?}")),
            Some(status) if status.success() => failures.push(format!("{name}: serve exited 0")),
            Some(status) if status.code().is_none() => failures.push(format!(
                "{name}: serve died of a signal ({status}): {stderr}"
            )),
            Some(_) => {}
        }
        if !stderr.contains(path.to_str().unwrap()) || !stderr.contains(file.says) {
            failures.push(format!(
                "{name}: the message does not name the file and say {:?}: {stderr}",
                file.says
            ));
        }
        if stderr.contains("panicked") {
            failures.push(format!("{name}: panic: {stderr}"));
        }
        match &file.contents {
            Some(contents) => {
                if std::fs::read(&path).ok().as_ref() != Some(contents) {
                    failures.push(format!("{name}: the file was rewritten"));
                }
            }
            None => {
                if path.exists() {
                    failures.push(format!("{name}: the missing file was created"));
                }
            }
        }
        let after = listing(&dir);
        if after != before {
            failures.push(format!(
                "{name}: serve changed the directory: {before:?} -> {after:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
/// request message that lacks a Host header field and to any request message that contains more
/// than one Host header field line or a Host header field with an invalid field value."
#[tokio::test]
async fn http11_requests_without_exactly_one_valid_host_are_400() {
    let server = auth().await;
    let cases = vec![
        raw(
            "raw_http11_without_host",
            "GET /healthz HTTP/1.1\r\n\r\n",
            400,
            Some("invalid_request"),
        ),
        raw(
            "raw_two_host_headers",
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n",
            400,
            Some("invalid_request"),
        ),
        raw(
            "raw_invalid_host",
            "GET /healthz HTTP/1.1\r\nHost: a b/c\r\n\r\n",
            400,
            Some("invalid_request"),
        ),
    ];
    let failures = run_raw(Service::Json, server.addr, &certs().ca(), &cases).await;
    assert_no_failures(failures, cases.len());
    assert_alive(&server).await;
}
