//! The one error type of the HTTP edge: every failure becomes
//! `{"error": "<code>", "message": "<what happened and how to fix it>",
//! "request_id": "<id>"}` with
//! the right status (SPEC §7). Internal details are logged, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::address::AddressError;
use crate::assets::AssetError;
use crate::auth::AuthError;
use crate::auth::signing::SignatureError;
use crate::plugin::PluginError;
use crate::probe::ProbeError;
use crate::remote::FetchError;
use crate::transform::{ParamError, PipelineError, TransformError};

#[derive(Debug)]
pub enum ApiError {
    /// 400 with a specific code: `invalid_path`, `invalid_param`, `invalid_body` …
    BadRequest {
        code: &'static str,
        message: String,
    },
    Unauthorized(String),
    Forbidden {
        code: &'static str,
        message: String,
    },
    NotFound(String),
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge {
        limit: u64,
    },
    UnsupportedMediaType(String),
    RangeNotSatisfiable {
        length: u64,
    },
    /// 422: the request is well-formed but this image cannot be processed as asked.
    Unprocessable {
        code: &'static str,
        message: String,
    },
    /// 408: the client did not send its body in time.
    RequestTimeout(String),
    /// 503 with `Retry-After`: the server is at capacity.
    Overloaded(String),
    /// 503 with `Retry-After`: the catalog or the object store does not
    /// answer; the detail is logged, not sent.
    Unavailable(String),
    /// A fault of the server itself; the message is logged, not sent.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_param(param: &str, why: impl std::fmt::Display) -> Self {
        let param = crate::address::truncate(param, 64);
        Self::bad_request("invalid_param", format!("parameter `{param}`: {why}"))
    }

    /// The code and message this error answers with (for answers that
    /// describe an error rather than fail with it, as `/api/explain`).
    pub fn code_and_message(&self) -> (&'static str, String) {
        let (_, code, message) = self.parts();
        (code, message)
    }

    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::BadRequest { code, message } => (StatusCode::BAD_REQUEST, code, message.clone()),
            Self::Unauthorized(message) => (StatusCode::UNAUTHORIZED, "unauthorized", message.clone()),
            Self::Forbidden { code, message } => (StatusCode::FORBIDDEN, code, message.clone()),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, "not_found", message.clone()),
            Self::MethodNotAllowed { allow } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this URL accepts {allow}"),
            ),
            Self::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than the {limit} bytes allowed here"),
            ),
            Self::UnsupportedMediaType(message) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message.clone(),
            ),
            Self::RangeNotSatisfiable { length } => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the requested range lies outside the {length} bytes of the content"),
            ),
            Self::Unprocessable { code, message } => (StatusCode::UNPROCESSABLE_ENTITY, code, message.clone()),
            Self::Overloaded(message) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", message.clone()),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the catalog or the object store does not answer; retry shortly".into(),
            ),
            Self::RequestTimeout(message) => (StatusCode::REQUEST_TIMEOUT, "request_timeout", message.clone()),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server failed to handle this request; it has been logged".into(),
            ),
        }
    }
}

/// Every error's body (SPEC §7).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// A stable code: `invalid_param`, `not_found`, `unauthorized` …
    #[schema(example = "invalid_param")]
    pub error: &'a str,
    /// What happened and how to fix it, in one sentence.
    pub message: &'a str,
    /// The request's id, as in the `X-Request-Id` answer header and the log.
    pub request_id: Option<String>,
}

pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: code,
        message,
        request_id: super::request_id::current(),
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            Self::Unavailable(detail) => tracing::warn!(%detail, "a dependency is unavailable"),
            _ => {}
        }
        let (status, code, message) = self.parts();
        let mut response = error_response(status, code, &message);
        let headers = response.headers_mut();
        match self {
            Self::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::RangeNotSatisfiable { length } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                    headers.insert(header::CONTENT_RANGE, value);
                }
            }
            Self::Overloaded(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            // The rest of the body was never read: the connection cannot
            // carry another request, and the client must not reuse it.
            Self::PayloadTooLarge { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<AddressError> for ApiError {
    fn from(error: AddressError) -> Self {
        match error {
            AddressError::InvalidPath(message) => Self::bad_request("invalid_path", message),
            AddressError::InvalidSelector(message) => Self::bad_request("invalid_selector", message),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::MissingKey | AuthError::InvalidKey => Self::Unauthorized(error.to_string()),
            AuthError::MissingScope { .. } | AuthError::OutsidePrefix { .. } => Self::Forbidden {
                code: "forbidden",
                message: error.to_string(),
            },
        }
    }
}

impl From<FetchError> for ApiError {
    fn from(error: FetchError) -> Self {
        let message = error.to_string();
        match error {
            FetchError::TooLarge(limit) => Self::PayloadTooLarge { limit },
            FetchError::BadUrl(_) => Self::bad_request("invalid_body", message),
            FetchError::Timeout(_) => Self::Unprocessable {
                code: "url_fetch_timeout",
                message,
            },
            refused if refused.is_refusal() => Self::Forbidden {
                code: "url_not_allowed",
                message,
            },
            _ => Self::Unprocessable {
                code: "url_fetch_failed",
                message,
            },
        }
    }
}

impl From<SignatureError> for ApiError {
    fn from(error: SignatureError) -> Self {
        let code = match error {
            SignatureError::Expired(_) => "expired",
            SignatureError::BadExpiry => return Self::invalid_param("exp", error.to_string()),
            SignatureError::OutsidePrefix(_) => "forbidden",
            SignatureError::Missing | SignatureError::Invalid => "invalid_signature",
        };
        Self::Forbidden {
            code,
            message: error.to_string(),
        }
    }
}

impl From<AssetError> for ApiError {
    fn from(error: AssetError) -> Self {
        match error {
            AssetError::Probe(ProbeError::Empty) => Self::bad_request("empty_body", "the upload is empty"),
            AssetError::Probe(ProbeError::Unrecognised) => Self::UnsupportedMediaType(error.to_string()),
            AssetError::Probe(ProbeError::Broken { .. }) => Self::bad_request("invalid_image", error.to_string()),
            AssetError::TypeNotAllowed { .. } => Self::UnsupportedMediaType(error.to_string()),
            AssetError::Undecodable(detail) => {
                tracing::info!(detail = %detail, "upload could not be decoded");
                Self::bad_request(
                    "invalid_image",
                    "the image data could not be decoded: the file is truncated, corrupt or not what its header says",
                )
            }
            AssetError::Transform(transform) => transform.into(),
            AssetError::Preprocess(message) => Self::Unprocessable {
                code: "preprocess_failed",
                message: format!("the path's preprocessing cannot apply to this upload: {message}"),
            },
            AssetError::VariantBusy => Self::Overloaded(error.to_string()),
            AssetError::TooManyVariants(_) => Self::Unprocessable {
                code: "too_many_variants",
                message: error.to_string(),
            },
            AssetError::Rejected { .. } => Self::Unprocessable {
                code: "rejected",
                message: error.to_string(),
            },
            AssetError::Catalog(ref catalog) if catalog.is_unavailable() => Self::Unavailable(error.to_string()),
            AssetError::Store(ref store) if store.is_unavailable() => Self::Unavailable(error.to_string()),
            AssetError::Catalog(_) | AssetError::Store(_) => Self::Internal(error.to_string()),
        }
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(error: crate::catalog::CatalogError) -> Self {
        AssetError::from(error).into()
    }
}

impl From<TransformError> for ApiError {
    fn from(error: TransformError) -> Self {
        match (&error, error.code()) {
            (_, None) => Self::Overloaded("every transformation worker is busy; retry shortly".into()),
            (_, Some("internal")) => Self::Internal(error.to_string()),
            // libvips' text is process-global and speaks of its internals: the
            // client gets the step, the log gets the rest.
            (TransformError::Pipeline(PipelineError::Vips { step, message }), Some(code)) => {
                tracing::warn!(step, detail = %message, "transformation failed");
                Self::Unprocessable {
                    code,
                    message: format!("the image could not be processed (at the {step} step); it may be damaged"),
                }
            }
            (TransformError::Pipeline(PipelineError::Plugin(PluginError::InvalidParam { name, param, reason })), _) => {
                Self::invalid_param(&format!("{name}.{param}"), reason)
            }
            (TransformError::Pipeline(PipelineError::Plugin(plugin)), Some(code)) => Self::Unprocessable {
                code,
                message: plugin.to_string(),
            },
            (_, Some(code)) => Self::Unprocessable {
                code,
                message: error.to_string(),
            },
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(error: ParamError) -> Self {
        Self::invalid_param(&error.param, &error.message)
    }
}
