//! One error type for every handler. Each becomes `{"error": {"code",
//! "message"}}` with the status its `ErrorCode` names and a message a person
//! can act on.

use crate::api::ErrorCode;
use crate::domain::json::JsonProblem;
use crate::domain::machine::Refusal;
use crate::domain::submission::FieldError;
use crate::workflow::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra members of the error object (e.g. the current digest).
    pub detail: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            detail: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(obj), Some(serde_json::Value::Object(extra))) =
            (error.as_object_mut(), self.detail)
        {
            obj.extend(extra);
        }
        let retry_after = (status == StatusCode::TOO_MANY_REQUESTS)
            .then(|| error["retry_after"].as_u64())
            .flatten();
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        if let Some(secs) = retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        match &e.embedded {
            // A name twice inside an embedded document: the envelope's own
            // refusal, with the path inside the document beside the field.
            Some(p @ JsonProblem::Duplicate { .. }) => {
                ApiError::new(ErrorCode::DuplicateMember, e.to_string())
                    .with_detail(json!({"field": e.field, "path": p.path()}))
            }
            _ => ApiError::new(ErrorCode::InvalidField, e.to_string())
                .with_detail(json!({"field": e.field})),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        let code = match r {
            Refusal::Final(_) => ErrorCode::AlreadyFinal,
            Refusal::WrongState { .. } => ErrorCode::WrongState,
            Refusal::WindowClosed => ErrorCode::Lapsed,
            Refusal::ReasonRequired(_) => ErrorCode::ReasonRequired,
            Refusal::AgentCannotDecide => ErrorCode::AgentCannotDecide,
            Refusal::SamePrincipal(_) => ErrorCode::SamePrincipal,
            Refusal::SameKey(_) => ErrorCode::SameKey,
            Refusal::RoleRequired { .. } => ErrorCode::RoleRequired,
            Refusal::LeadRequired => ErrorCode::LeadRequired,
            Refusal::HardwareKeyRequired(_) => ErrorCode::HardwareKeyRequired,
            Refusal::NotProposer => ErrorCode::NotProposer,
            Refusal::SelfApproval(_) => ErrorCode::SelfApproval,
            Refusal::NotSampled => ErrorCode::NotSampled,
            Refusal::SampleClosed(_) => ErrorCode::SampleClosed,
        };
        ApiError::new(code, r.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let message = e.to_string();
        match e {
            StoreError::NotFound(_) => ApiError::not_found(message),
            StoreError::Refused(r) => r.into(),
            StoreError::StaleDigest { current } => ApiError::new(ErrorCode::StaleDigest, message)
                .with_detail(json!({"current_digest": current})),
            StoreError::Conflict(_) => ApiError::new(ErrorCode::Conflict, message),
            StoreError::Replay(_) => ApiError::new(ErrorCode::Replay, message),
            StoreError::Forbidden(_) => ApiError::new(ErrorCode::Forbidden, message),
            StoreError::Frozen(f) => {
                ApiError::new(ErrorCode::AgentFrozen, message).with_detail(json!({"freeze": f}))
            }
            StoreError::NotFrozen(_) => ApiError::new(ErrorCode::NotFrozen, message),
            StoreError::NotReversible(_) => ApiError::new(ErrorCode::NotReversible, message),
            StoreError::Unavailable(_) => {
                tracing::error!(%message, "storage unavailable");
                ApiError::new(ErrorCode::StorageUnavailable, message)
            }
            StoreError::Internal(_) => {
                tracing::error!(%message, "internal storage error");
                ApiError::internal(message)
            }
        }
    }
}
