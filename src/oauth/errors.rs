//! The RFC 6749 §5.2 error body and the answers built on it.
//!
//! Owns: `{"error": CODE, "error_description": TEXT}` as JSON (marked `no-store`), and the
//! renderings of failures the lower layers report without words of their own: a path no route
//! matches, a method the route does not take, a request the transport refused, a body that
//! could not be read. Descriptions are fixed texts: they never echo a token or a secret.

use http::{Response, StatusCode};
use serde::Serialize;

use crate::http::{json_response, with_allow, Body, BodyError, Refusal};

/// An error answer: `error` is an RFC 6749 §5.2 code (or a code named after the status where
/// OAuth has none), `description` a fixed human-readable text.
pub fn error_response(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    json_response(
        status,
        &ErrorBody {
            error,
            error_description: description,
        },
    )
}

/// An error answer whose code is the status's reason phrase in snake case
/// (`request_header_fields_too_large`), with the phrase as its description.
pub fn status_error(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("error");
    let code = reason.to_ascii_lowercase().replace(' ', "_");
    error_response(status, &code, reason)
}

/// 404 for a path no route matches.
pub fn not_found() -> Response<Body> {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// 405 with the `Allow` header listing the methods the path accepts.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        &format!("this endpoint accepts {allow}"),
    );
    with_allow(response, allow)
}

/// The answer to a request the transport refused: `invalid_request` for what the client got
/// wrong in the request itself, else a code named after the status.
pub fn refusal_response(refusal: Refusal) -> Response<Body> {
    match refusal {
        Refusal::BadHost | Refusal::TransferCoding | Refusal::ContentCoding => {
            error_response(refusal.status(), "invalid_request", refusal.reason())
        }
        Refusal::HeadTooLarge => status_error(refusal.status()),
    }
}

/// The answer to a request body that could not be read.
pub fn body_error_response(error: BodyError) -> Response<Body> {
    match error {
        BodyError::TooLarge => error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        ),
        // `invalid_request` is the RFC 6749 §5.2 code for a request "otherwise malformed",
        // which an incomplete one is; a code of our own would be one no OAuth client knows.
        BodyError::TimedOut => error_response(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request",
            "the request body did not arrive in time",
        ),
        BodyError::Unreadable(_) => error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request body could not be read",
        ),
    }
}
