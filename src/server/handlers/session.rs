//! Console login by challenge/response: the server makes a single-use
//! challenge naming itself, the principal, a nonce and the expiry; the
//! console signs exactly its bytes (namespace `countersign-login`); the
//! server checks the signature against allowed_signers and opens a session.

use crate::api::ErrorCode;
use crate::api::{ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse};
use crate::domain::text::principal_problem;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::server::auth::{
    Caller, CallerKind, ClientIp, SESSION_PREFIX, bearer, hash_token, new_secret,
};
use crate::server::body::{JsonBody, typed};
use crate::server::error::ApiError;
use crate::server::session_keys::login_key_text;
use crate::server::state::AppState;
use crate::server::store::NewSession;
use crate::server::store::ops::{CreateChallenge, EndSessions, TakeChallenge};
use crate::signing::payload::new_nonce;
use crate::signing::{self, NS_LOGIN};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

#[utoipa::path(
    post,
    operation_id = "login_challenge",
    path = "/v1/session/challenge",
    tag = "session",
    summary = "A login challenge for a principal, to sign with their SSH key",
    request_body(content = crate::api::ChallengeRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Sign exactly these bytes (namespace countersign-login)", body = crate::api::ChallengeResponse),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(())
)]
pub async fn challenge(
    State(state): State<AppState>,
    ClientIp(addr): ClientIp,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<ChallengeResponse>), ApiError> {
    let req: ChallengeRequest = typed(body)?;
    if let Some(problem) = principal_problem(&req.principal) {
        return Err(
            ApiError::new(ErrorCode::InvalidField, format!("principal: {problem}"))
                .with_detail(serde_json::json!({"field": "principal"})),
        );
    }
    state.rate_limits.challenge(addr)?;
    let now = now_millis();
    let expires_at = now + state.limits.challenge_ttl.as_millis() as i64;
    // No trailing newline: shell users take it with $(…), which strips one.
    let challenge = format!(
        "countersign-login v1\nserver: {}\nprincipal: {}\nnonce: {}\nexpires: {}",
        state.server_name,
        req.principal,
        new_nonce(),
        to_rfc3339(expires_at)
    );
    // Only a principal some key may sign for gets a stored challenge; the
    // others get an answer of the same shape that no signature can redeem,
    // so the names in allowed_signers cannot be enumerated.
    if state.signers().may_sign(&req.principal, NS_LOGIN, now) {
        state
            .store
            .run(CreateChallenge {
                challenge: challenge.clone(),
                principal: req.principal,
                expires_at,
            })
            .await?;
    }
    Ok((
        StatusCode::CREATED,
        Json(ChallengeResponse {
            challenge,
            expires_at,
        }),
    ))
}

/// Who logged in, with which key (and certificate), and until when at
/// the latest.
struct Login {
    principal: String,
    verified: signing::Verified,
    /// The certificate's or the allowed_signers line's end, if sooner than
    /// a session's.
    until: Option<i64>,
}

/// The principal and key of a login whose challenge is this server's,
/// unused, unexpired, for that principal, and signed by a key
/// allowed_signers trusts for them now; else why not. The store's own
/// failure is the outer error.
async fn verified(
    state: &AppState,
    req: &LoginRequest,
    now: i64,
) -> Result<Result<Login, String>, ApiError> {
    let Some((principal, expires_at)) = state
        .store
        .run(TakeChallenge(req.challenge.clone()))
        .await?
    else {
        return Ok(Err(
            "unknown or already used challenge; ask for a new one".into()
        ));
    };
    if principal != req.principal {
        return Ok(Err("the challenge was issued to another principal".into()));
    }
    if now > expires_at {
        return Ok(Err("the challenge expired; ask for a new one".into()));
    }
    let key = match signing::verify(&req.signature, req.challenge.as_bytes(), NS_LOGIN) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let signers = state.signers();
    let line = match signers.check_signer(&principal, &key, NS_LOGIN, now) {
        Ok(line) => line,
        Err(e) => return Ok(Err(e.to_string())),
    };
    // A session outlives neither the certificate nor the line that let
    // the person in.
    let until = [
        key.certificate.as_ref().map(|c| {
            i64::try_from(c.valid_before())
                .unwrap_or(i64::MAX)
                .saturating_mul(1000)
        }),
        line.valid_before,
    ]
    .into_iter()
    .flatten()
    .min();
    Ok(Ok(Login {
        principal,
        verified: key,
        until,
    }))
}

#[utoipa::path(
    post,
    operation_id = "login",
    path = "/v1/session",
    tag = "session",
    summary = "Trade a signed challenge for a session token",
    request_body(content = crate::api::LoginRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "A session for the principal, with their roles and key", body = crate::api::LoginResponse),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode).", body = crate::api::ErrorBody)
    ),
    security(())
)]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<LoginResponse>), ApiError> {
    let req: LoginRequest = typed(body)?;
    let now = now_millis();
    let Login {
        principal,
        verified,
        until,
    } = match verified(&state, &req, now).await? {
        Ok(found) => found,
        Err(why) => {
            // Counted per principal: past the rate, 429 instead.
            state.rate_limits.login_failed(&req.principal)?;
            return Err(ApiError::unauthorized(format!("login refused: {why}")));
        }
    };
    let (token, hash) = new_secret(SESSION_PREFIX);
    let session_end =
        (now + state.limits.session_ttl.as_millis() as i64).min(until.unwrap_or(i64::MAX));
    let login_key = login_key_text(&verified).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("the login key cannot be written out: {e}"),
        )
    })?;
    state
        .store
        .run(NewSession {
            hash: hash.clone(),
            principal: principal.clone(),
            created_at: now,
            expires_at: session_end,
            login_key,
            sk_flags: verified.sk_flags.map(i64::from),
        })
        .await?;
    // A reload that took this person's line away while they logged in
    // re-checked the sessions before this one was stored: ask the
    // allowed_signers in force now, and take the session back if they
    // no longer let the key in.
    let signers = state.signers();
    if signers
        .check_signer(&principal, &verified, NS_LOGIN, now)
        .is_err()
    {
        state.store.run(EndSessions(vec![hash])).await?;
        return Err(ApiError::unauthorized(
            "login refused: allowed_signers changed during the login and no longer let this key in",
        ));
    }
    let policy = state.policy();
    let role = policy.role_of(&principal);
    let leads = policy
        .leads()
        .filter(|l| !l.contains(['*', '?', '!']))
        .map(str::to_owned)
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(LoginResponse {
            token,
            expires_at: session_end,
            roles: vec![role],
            principal,
            fingerprint: signing::fingerprint(&verified.key),
            leads,
        }),
    ))
}

#[utoipa::path(
    delete,
    operation_id = "logout",
    path = "/v1/session",
    tag = "session",
    summary = "Log out: end the caller's own session",
    responses(
        (status = 204, description = "The session is over; its token gets 401 from now on"),
        (status = "default", description = "An error. `error.code` names it and always comes with the same HTTP status (see ErrorCode). Only a session token (`css_…`) can log out: an agent or reviewer token gets `login_required`.", body = crate::api::ErrorBody)
    ),
    security(("bearer" = []))
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers)?;
    if caller.kind != CallerKind::Person || !token.starts_with(SESSION_PREFIX) {
        return Err(ApiError::new(
            ErrorCode::LoginRequired,
            "only a console session (a `css_` token from POST /v1/session) can log out; \
             agent and reviewer tokens are revoked with `countersign token revoke`",
        ));
    }
    state
        .store
        .run(EndSessions(vec![hash_token(token)]))
        .await?;
    tracing::info!(principal = %caller.name, "logged out");
    Ok(StatusCode::NO_CONTENT)
}
