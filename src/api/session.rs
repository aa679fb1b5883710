//! Console login by challenge/response.

use crate::domain::time::rfc3339;
use crate::domain::types::Role;
use serde::{Deserialize, Serialize};

/// `POST /v1/session/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    #[schema(schema_with = crate::domain::schema::principal)]
    pub principal: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChallengeResponse {
    /// Sign exactly these UTF-8 bytes, namespace `countersign-login`.
    pub challenge: String,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub expires_at: i64,
}

/// `POST /v1/session`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(schema_with = crate::domain::schema::principal)]
    pub principal: String,
    pub challenge: String,
    /// Armored SSHSIG over the challenge.
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoginResponse {
    pub token: String,
    #[serde(with = "rfc3339")]
    #[schema(schema_with = crate::domain::schema::timestamp)]
    pub expires_at: i64,
    pub roles: Vec<Role>,
    pub principal: String,
    /// SHA256 fingerprint of the key that signed the challenge.
    pub fingerprint: String,
    /// The leads the policy names (its lead patterns that are plain
    /// names), so the console can say who can still approve what needs a
    /// lead.
    #[serde(default)]
    pub leads: Vec<String>,
}
