//! One error type for every handler. Each becomes `{"error": {"code",
//! "message"}}` with a status and a message a person can act on.

use super::store::StoreError;
use crate::domain::machine::Refusal;
use crate::domain::submission::FieldError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra members of the error object (e.g. the current digest).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(obj), Some(serde_json::Value::Object(extra))) =
            (error.as_object_mut(), self.detail)
        {
            obj.extend(extra);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::bad_request("invalid_field", e.to_string()).with_detail(json!({"field": e.field}))
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let message = r.to_string();
        match r {
            Refusal::Final(_) => ApiError::new(StatusCode::CONFLICT, "already_final", message),
            Refusal::WrongState { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_state", message)
            }
            Refusal::WindowClosed => ApiError::new(StatusCode::CONFLICT, "lapsed", message),
            Refusal::ReasonRequired(_) => ApiError::bad_request("reason_required", message),
            Refusal::AgentCannotDecide => ApiError::forbidden("agent_cannot_decide", message),
            Refusal::SamePrincipal(_) => ApiError::forbidden("same_principal", message),
            Refusal::RoleRequired { .. } => ApiError::forbidden("role_required", message),
            Refusal::LeadRequired => ApiError::forbidden("lead_required", message),
            Refusal::NotProposer => ApiError::forbidden("not_proposer", message),
            Refusal::SelfApproval(_) => ApiError::forbidden("self_approval", message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound(_) => ApiError::not_found(message),
            StoreError::Refused(r) => r.into(),
            StoreError::StaleDigest { current } => {
                ApiError::new(StatusCode::CONFLICT, "stale_digest", message)
                    .with_detail(json!({"current_digest": current}))
            }
            StoreError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            StoreError::Replay(_) => ApiError::new(StatusCode::CONFLICT, "replay", message),
            StoreError::Forbidden(_) => ApiError::forbidden("forbidden", message),
            StoreError::Unavailable(_) => {
                tracing::error!(%message, "storage unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    message,
                )
            }
            StoreError::Internal(_) => {
                tracing::error!(%message, "internal storage error");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}
