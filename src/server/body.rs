//! A JSON body extractor whose failures are our JSON errors: 413 past the
//! size limit, 400 naming line and column for malformed JSON.

use super::error::ApiError;
use crate::api::ErrorCode;
use crate::domain::json::{self, JsonProblem};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::Value;

pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        json_body(&bytes).map(JsonBody)
    }
}

/// The body's bytes, unparsed (within `--max-body`): for a handler that
/// charges them to a budget before parsing them with `json_body`.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit_hint = "the body is larger than the server's limit (--max-body)";
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::BodyTooLarge, limit_hint)
            } else if super::conn::timed_out(&e) {
                ApiError::new(
                    ErrorCode::BodyTimeout,
                    "the request body was still arriving at the server's deadline (--body-timeout)",
                )
            } else {
                ApiError::new(ErrorCode::UnreadableBody, e.body_text())
            }
        })?;
        Ok(RawBody(bytes))
    }
}

/// A body as one JSON value, or the error naming what is wrong with it.
pub fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyBody,
            "the request body is empty; send a JSON object",
        ));
    }
    // The strict walk first: it names what serde_json would only call
    // malformed (a lone surrogate) or silently accept (a duplicate).
    strict(bytes)?;
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(ErrorCode::MalformedJson, format!("malformed JSON: {e}")))
}

/// One document, one meaning: no member name twice, nothing a double
/// cannot hold (see `domain::json`). Nothing is stored from a body that
/// fails this.
/// A syntax error passes here: serde_json, which reads the body next,
/// names it with line and column.
pub fn strict(bytes: &[u8]) -> Result<(), ApiError> {
    json::check(bytes)
        .or_else(|p| match p {
            JsonProblem::Syntax(_) => Ok(()),
            p => Err(p),
        })
        .map_err(|p| json_problem(&p, p.to_string()))
}

/// A JSON problem as its error code, naming where it is (`field`), with
/// `message`.
pub fn json_problem(p: &JsonProblem, message: String) -> ApiError {
    let code = match p {
        JsonProblem::Duplicate { .. } => ErrorCode::DuplicateMember,
        JsonProblem::NotIJson { .. } => ErrorCode::NotIJson,
        JsonProblem::Syntax(_) => ErrorCode::MalformedJson,
    };
    let e = ApiError::new(code, message);
    match p.path() {
        Some(f) => e.with_detail(serde_json::json!({ "field": f })),
        None => e,
    }
}

/// Parses a body into a typed request, naming the bad field.
pub fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::new(
            ErrorCode::InvalidField,
            format!("{path}: {}", e.into_inner()),
        )
    })
}

/// A query string whose rejections are our JSON errors (`?wait=abc`,
/// `?view=bogus`, `?limit=-1`), naming what is wrong.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("query parameter {field}: {}", e.into_inner()),
                )
                .with_detail(serde_json::json!({ "field": field }))
            })
    }
}

/// A `limit` query parameter within `1..=max` (the range the OpenAPI
/// document gives), else 400 `invalid_query`.
pub fn page_limit(limit: Option<u32>, max: u32, default: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("query parameter limit: {n} is not from 1 to {max}"),
        )
        .with_detail(serde_json::json!({ "field": "limit" }))),
    }
}
