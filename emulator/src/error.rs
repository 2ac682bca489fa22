//! The one error type of the API surface: a status plus the documented `{"errorMessage"}` body.

use axum::http::StatusCode;
use serde_json::json;

/// An API answer that is not a success. Every variant of bad input ends here, never in a panic.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Documented `errorCode` values such as `SKU_ALREADY_EXISTS`.
    pub code: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            code: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>, code: Option<&'static str>) -> Self {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
            code,
        }
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// The JSON body sent with the status.
    pub fn body(&self) -> Vec<u8> {
        let v = match self.code {
            Some(code) => json!({ "errorMessage": self.message, "errorCode": code }),
            None => json!({ "errorMessage": self.message }),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
