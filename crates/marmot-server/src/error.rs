//! The one error type of the API: a JSON body `{"error": {"code", "message"}}` with a stable
//! `code`. 4xx answers say what the caller got wrong; 5xx answers say only that it was ours
//! and give the request id, while the details go to the log.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use marmot_engine::EngineError;
use marmot_lake::LakeError;
use serde::Serialize;
use utoipa::ToSchema;

/// An API error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed: a bad parameter value or body.
    #[error("{message}")]
    BadRequest {
        /// Stable code, e.g. `bad_period`.
        code: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// No such resource (unknown indicator, area, dashboard...).
    #[error("{message}")]
    NotFound {
        /// Stable code, e.g. `unknown_indicator`.
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// No or an unknown token where one is needed.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request conflicts with the state (e.g. a view id already taken).
    #[error("{0}")]
    Conflict(String),
    /// The request took longer than allowed.
    #[error("{0}")]
    Timeout(String),
    /// The request asked for more than allowed (rows, memory, body size).
    #[error("{0}")]
    TooLarge(String),
    /// Too much at once: try again shortly.
    #[error("{0}")]
    Busy(String),
    /// Ours: details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: String,
    /// For a person.
    pub message: String,
}

impl ApiError {
    /// A 400 with a code.
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }

    /// HTTP status and stable code.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            ApiError::NotFound { code, .. } => (StatusCode::NOT_FOUND, code),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Busy(_) => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_code();
        let message = if status.is_server_error() {
            // The log has the details; the caller gets none of them.
            tracing::error!(error = %self, "request failed");
            "something went wrong on our side; it has been logged".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Query(m) => ApiError::bad("bad_query", m),
            EngineError::Lake(LakeError::Config(m)) => ApiError::bad("bad_request", m),
            EngineError::Lake(LakeError::Refused(m)) => ApiError::Conflict(m),
            EngineError::Lake(LakeError::Model(m)) => ApiError::from(m),
            EngineError::Lake(e @ LakeError::File { .. }) => {
                ApiError::bad("bad_file", e.to_string())
            }
            EngineError::ResourcesExhausted(m) => ApiError::TooLarge(format!(
                "the query needs more memory than the server allows: {m}"
            )),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<LakeError> for ApiError {
    fn from(e: LakeError) -> ApiError {
        ApiError::from(EngineError::Lake(e))
    }
}

impl From<marmot_model::ModelError> for ApiError {
    fn from(e: marmot_model::ModelError) -> ApiError {
        match e {
            marmot_model::ModelError::Unknown {
                kind: "dataset", ..
            } => ApiError::not_found("unknown_dataset", e.to_string()),
            marmot_model::ModelError::Unknown { kind, .. } => ApiError::bad(
                match kind {
                    "level" => "unknown_level",
                    "breakdown" => "unknown_breakdown",
                    _ => "bad_request",
                },
                e.to_string(),
            ),
            other => ApiError::bad("bad_request", other.to_string()),
        }
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;
