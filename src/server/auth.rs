//! Who is calling: bearer tokens, stored only as SHA-256 hashes.

use super::error::ApiError;
use super::state::AppState;
use crate::domain::types::TokenRole;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every API token, so a leaked one is easy to grep for.
pub const TOKEN_PREFIX: &str = "cs_";

/// A new random token (256 bits) and the hash to store.
pub fn new_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
    let hash = hash_token(&token);
    (token, hash)
}

/// Tokens are 256 random bits, so a plain SHA-256 is enough to store them.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub kind: CallerKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerKind {
    Agent,
    /// Read-only: dashboards, and the console before it logs in.
    Reviewer,
}

impl Caller {
    pub fn require_agent(&self) -> Result<(), ApiError> {
        match self.kind {
            CallerKind::Agent => Ok(()),
            _ => Err(ApiError::forbidden(
                "agent_only",
                "only agent tokens may do this",
            )),
        }
    }

    pub fn require_reviewer(&self) -> Result<(), ApiError> {
        match self.kind {
            CallerKind::Reviewer => Ok(()),
            CallerKind::Agent => Err(ApiError::forbidden(
                "reviewer_only",
                "agent tokens cannot read the review queue",
            )),
        }
    }

    /// Agents see only their own proposals.
    pub fn agent_filter(&self) -> Option<String> {
        (self.kind == CallerKind::Agent).then(|| self.name.clone())
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized("missing `Authorization: Bearer <token>` header")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        let record = state
            .store
            .token_by_hash(&hash_token(token))
            .await?
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        Ok(Caller {
            name: record.name,
            kind: match record.role {
                TokenRole::Agent => CallerKind::Agent,
                TokenRole::Reviewer => CallerKind::Reviewer,
            },
        })
    }
}
