//! One error type for the HTTP layer, mapped in one place to RFC 9457 problem+json.
//!
//! Client errors carry a precise `detail` (and `errors` / `hint` where the service
//! knows them); server errors are opaque to the client and their cause is logged.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::store::StoreError;

/// The problem+json body of every 4xx/5xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` or `urn:auth-service:problem:<kind>`).
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// Field-level validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// What the user should do next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The request's `X-Request-Id`, to find it in the service's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Errors returned by handlers.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with field errors.
    #[error("validation failed: {detail}")]
    Validation {
        /// Summary.
        detail: String,
        /// The field errors.
        errors: Vec<FieldError>,
    },
    /// 400 without field errors.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: missing or unknown key.
    #[error("unauthorized")]
    Unauthorized,
    /// 403: a known key without the right scope.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// 404 from Vault, or 403 from Vault after a fresh login, and other upstream answers passed on.
    #[error("upstream {status}: {detail}")]
    Upstream {
        /// The status to return.
        status: StatusCode,
        /// What Vault said.
        detail: String,
        /// What to do.
        hint: Option<String>,
    },
    /// 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413.
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// 405: the path exists, the method does not (the `Allow` header is added by the caller).
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// 412: `If-Match` names another revision than the stored one.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 429 with Retry-After: a key over its rate.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// Why.
        detail: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// 503 with Retry-After: login back-off, or a dependency down.
    #[error("unavailable: {detail}")]
    Unavailable {
        /// Why.
        detail: String,
        /// What to do.
        hint: Option<String>,
        /// When to retry.
        retry_after: Option<Duration>,
    },
    /// 504: Vault did not answer in time.
    #[error("gateway timeout: {0}")]
    GatewayTimeout(String),
    /// 502: Vault could not be reached or answered nonsense.
    #[error("bad gateway: {0}")]
    BadGateway(String),
    /// 500: logged, opaque to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Run `work` within `limit`; past it the request is answered 503 with
/// Retry-After and the work is dropped (a dropped agent run is killed and its
/// folder removed).
pub async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(ApiError::Unavailable {
            detail: format!("the request took longer than {} s and was stopped", limit.as_secs()),
            hint: Some("retry; if it keeps happening, check Vault's reachability and the agent timeout".into()),
            retry_after: Some(Duration::from_secs(5)),
        }),
    }
}

impl ApiError {
    /// A 400 for one field.
    pub fn field(pointer: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let e = FieldError::new(pointer, message.to_string());
        ApiError::Validation { detail: format!("{}: {}", display_pointer(&e.pointer), e.message), errors: vec![e] }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Validation { .. } => ("validation", "The request is not valid"),
            ApiError::BadRequest(_) => ("bad-request", "The request is not valid"),
            ApiError::Unauthorized => ("unauthorized", "Missing or unknown API key"),
            ApiError::Forbidden(_) => ("forbidden", "The API key lacks the scope for this"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Upstream { .. } => ("vault", "Vault refused the request"),
            ApiError::Conflict(_) => ("conflict", "Already exists"),
            ApiError::TooLarge(_) => ("too-large", "The request body is too large"),
            ApiError::PreconditionFailed(_) => ("precondition-failed", "The profile changed since you read it"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable { .. } => ("unavailable", "Temporarily unavailable"),
            ApiError::GatewayTimeout(_) => ("vault-timeout", "Vault did not answer in time"),
            ApiError::BadGateway(_) => ("vault-unreachable", "Vault could not be reached"),
            ApiError::Internal(_) => ("internal", "Internal error"),
        }
    }
}

/// `/config/role` reads better than `""` for the whole document.
fn display_pointer(p: &str) -> &str {
    if p.is_empty() { "the body" } else { p }
}

/// A Vault call without a usable answer: 504 when it timed out, else 502.
impl From<crate::vault::VaultError> for ApiError {
    fn from(e: crate::vault::VaultError) -> Self {
        match e {
            crate::vault::VaultError::Timeout(..) => ApiError::GatewayTimeout(e.to_string()),
            other => ApiError::BadGateway(other.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "database unavailable");
                ApiError::Unavailable {
                    detail: "the database is unavailable".into(),
                    hint: Some("retry shortly; operators: check the database".into()),
                    retry_after: Some(Duration::from_secs(5)),
                }
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    /// What the client is told: detail, field errors, hint (5xx causes only logged).
    pub fn parts(&self) -> (String, Option<Vec<FieldError>>, Option<String>) {
        match self {
            ApiError::Validation { detail, errors } => (detail.clone(), Some(errors.clone()), None),
            ApiError::Unauthorized => {
                ("send Authorization: Bearer <key> with an operator or tenant API key".to_string(), None, None)
            }
            ApiError::Upstream { detail, hint, .. } | ApiError::Unavailable { detail, hint, .. } => {
                (detail.clone(), None, hint.clone())
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                ("the service failed to handle the request; the cause is in its log".to_string(), None, None)
            }
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::TooLarge(d)
            | ApiError::PreconditionFailed(d)
            | ApiError::MethodNotAllowed(d)
            | ApiError::TooManyRequests { detail: d, .. }
            | ApiError::GatewayTimeout(d)
            | ApiError::BadGateway(d) => (d.clone(), None, None),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Upstream { status, .. } => *status,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (kind, title) = self.kind();
        let (detail, errors, hint) = self.parts();
        let body = Problem {
            type_: format!("urn:auth-service:problem:{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail,
            errors,
            hint,
            request_id: crate::telemetry::current_request_id(),
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        resp.insert_header((header::CACHE_CONTROL, "no-store"));
        if let ApiError::Unauthorized = self {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        let retry_after = match self {
            ApiError::Unavailable { retry_after: Some(d), .. } | ApiError::TooManyRequests { retry_after: d, .. } => {
                Some(*d)
            }
            _ => None,
        };
        if let Some(d) = retry_after {
            let secs = d.as_secs().max(1);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.insert_header((header::RETRY_AFTER, v));
            }
        }
        resp.body(serde_json::to_string(&body).unwrap_or_else(|_| "{}".into()))
    }
}

/// Turn actix's JSON/path extractor failures into problem+json instead of plain text.
pub fn json_error_handler(err: actix_web::error::JsonPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as J;
    let api = match &err {
        J::OverflowKnownLength { length, limit } => {
            ApiError::TooLarge(format!("the body has {length} bytes; at most {limit} are accepted"))
        }
        J::Overflow { limit } => ApiError::TooLarge(format!("the body exceeds {limit} bytes")),
        J::ContentType => ApiError::BadRequest("send the body as JSON with Content-Type: application/json".into()),
        J::Deserialize(e) => json_deserialize_error(e),
        other => ApiError::BadRequest(format!("could not read the JSON body: {other}")),
    };
    api.into()
}

fn json_deserialize_error(e: &serde_json::Error) -> ApiError {
    let text = e.to_string();
    // serde's messages name the missing or unknown field: turn them into pointers.
    let field = |marker: &str| text.split(marker).nth(1).and_then(|rest| rest.split('`').nth(1)).map(|f| f.to_string());
    if let Some(f) = field("missing field") {
        return ApiError::field(format!("/{f}"), "required");
    }
    if let Some(f) = field("unknown field") {
        let expected = text.split("expected").nth(1).map(|s| format!("; accepted fields:{s}")).unwrap_or_default();
        let expected = expected.split(" at line").next().unwrap_or_default().to_string();
        return ApiError::field(format!("/{f}"), format!("unknown field{expected}"));
    }
    ApiError::field("", format!("not a valid JSON body: {text}"))
}

/// Path extractor failures.
pub fn path_error_handler(err: actix_web::error::PathError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("bad path: {err}")).into()
}

/// Query extractor failures.
pub fn query_error_handler(
    err: actix_web::error::QueryPayloadError,
    _req: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("bad query: {err}")).into()
}
