//! Request ids (SPEC §8): an incoming `X-Request-Id` of 1 to 64 characters
//! of `[A-Za-z0-9_-]` is kept, anything else is replaced by a new one. The id
//! is echoed on every response, carried by every log line of the request
//! (the `request` span the trace layer opens, from the header set here), and
//! put in every JSON error body.
//!
//! The id travels in a task-local for the length of the request, so that
//! [`super::error::error_response`] finds it wherever an error is made,
//! without every handler passing it down.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// The span every log line of a request is written in, named by its id.
pub fn span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let id = request
        .headers()
        .get(&HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("request", id, method = %request.method(), path = %request.uri().path())
}

/// The id of the request being handled, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok()
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// 128 random bits in lower-case hex.
fn make() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Keeps or makes the request's id, sets it on the request for the layers
/// inside, runs them in its task-local, and echoes it on the response.
pub async fn run(mut request: Request, next: Next) -> Response {
    let kept = request
        .headers()
        .get(&HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_owned);
    let id = kept.unwrap_or_else(make);
    // Only characters that are valid in a header value reach here.
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    request.headers_mut().insert(HEADER, value.clone());
    let mut response = CURRENT.scope(id, next.run(request)).await;
    response.headers_mut().insert(HEADER, value);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept() {
        for id in ["a", "req_123-ABC", &"x".repeat(64)] {
            assert!(acceptable(id), "{id}");
        }
        for id in ["", "has space", "semi;colon", "ünï", &"x".repeat(65), "a/b"] {
            assert!(!acceptable(id), "{id}");
        }
        let made = make();
        assert!(acceptable(&made) && made.len() == 32 && made != make());
    }
}
