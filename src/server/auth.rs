//! Who is calling: bearer tokens, stored only as SHA-256 hashes.

pub use super::caller::{Caller, CallerKind};
use super::error::ApiError;
use super::state::AppState;
use crate::domain::scope::Scope;
use crate::domain::types::TokenRole;
use crate::server::store::ops::{SessionPrincipal, TokenByHash};
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every API token, so a leaked one is easy to grep for.
pub const TOKEN_PREFIX: &str = "cs_";
/// Prefix of console session tokens.
pub const SESSION_PREFIX: &str = "css_";

/// A new random token (256 bits) and the hash to store.
pub fn new_token() -> (String, String) {
    new_secret(TOKEN_PREFIX)
}

/// A new random secret with a prefix, and its hash.
pub fn new_secret(prefix: &str) -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!("{prefix}{}", hex::encode(raw));
    let hash = hash_token(&token);
    (token, hash)
}

/// Tokens are 256 random bits, so a plain SHA-256 is enough to store them.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The client's address, when the server was started with connection
/// info (`serve`); behind a proxy this is the proxy's.
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("missing `Authorization: Bearer <token>` header"))?;
    // The scheme is case-insensitive (RFC 7235 §2.1).
    header
        .to_str()
        .ok()
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be `Bearer <token>`"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?;
        if token.starts_with(SESSION_PREFIX) {
            let now = crate::domain::time::now_millis();
            let principal = state
                .store
                .run(SessionPrincipal {
                    hash: hash_token(token),
                    now,
                })
                .await?
                .ok_or_else(|| {
                    ApiError::unauthorized("session expired or unknown; log in again")
                })?;
            return Ok(Caller {
                name: principal,
                kind: CallerKind::Person,
                scope: Scope::any(),
            });
        }
        // A JWT is a workload identity (`[[agents.oidc]]`), never a stored token.
        if let Some(oidc) = &state.oidc
            && super::oidc::looks_like_jwt(token)
        {
            return oidc.caller(token).await;
        }
        let record = state
            .store
            .run(TokenByHash(hash_token(token)))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        // Checked here, on every request, against this server's clock.
        let now = crate::domain::time::now_millis();
        if let Some(at) = record.expires_at
            && at <= now
        {
            return Err(ApiError::unauthorized(format!(
                "token expired at {}; ask the gate's operator for a new one \
                 (countersign token create or token rotate)",
                crate::domain::time::to_rfc3339(at)
            )));
        }
        // A scope that cannot be read refuses the token: never "any".
        let scope = record.scope().map_err(|e| {
            ApiError::unauthorized(format!(
                "{e}; the token is refused until the operator issues a new one"
            ))
        })?;
        state.token_uses.record(&state.store, &record.id, now);
        Ok(Caller {
            name: record.name,
            kind: match record.role {
                TokenRole::Agent => CallerKind::Agent,
                TokenRole::Reviewer => CallerKind::Reviewer,
            },
            scope,
        })
    }
}
