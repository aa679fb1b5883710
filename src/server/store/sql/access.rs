//! Tokens, login challenges and sessions (not in the audit log).

use super::*;
use crate::domain::records::TokenRecord;
use crate::server::store::{OpenSession, StoreError};

pub const TOKEN_COLS: &str =
    "id, name, role, created_at, revoked_at, expires_at, last_used_at, scope";

pub const ADD_TOKEN: &str = "INSERT INTO tokens (id, name, role, hash, created_at, expires_at, \
     scope) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A token not revoked, expired or not: the caller says which (and when).
pub fn token_by_hash_sql() -> String {
    format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL")
}

pub fn tokens_sql() -> String {
    format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_at, id")
}

pub const REVOKE_TOKEN: &str =
    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

/// Shortens a token's life to `$1` (never lengthens it): a rotation's grace.
pub const EXPIRE_TOKEN_BY: &str = "UPDATE tokens SET expires_at = $1 \
     WHERE id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";

/// Records a use; never moves it back (two servers may record out of order).
pub const TOUCH_TOKEN: &str = "UPDATE tokens SET last_used_at = $1 \
     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)";

pub fn token_row(r: &dyn SqlRow) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.text("id")?,
        name: r.text("name")?,
        role: parsed(r, "role")?,
        created_at: r.int("created_at")?,
        revoked_at: r.opt_int("revoked_at")?,
        expires_at: r.opt_int("expires_at")?,
        last_used_at: r.opt_int("last_used_at")?,
        scope: r.opt_text("scope")?,
    })
}

pub const SWEEP_CHALLENGES: &str = "DELETE FROM challenges WHERE expires_at < $1";
pub const ADD_CHALLENGE: &str =
    "INSERT INTO challenges (challenge, principal, expires_at) VALUES ($1, $2, $3)";
/// Single use, even when two replicas race.
pub const TAKE_CHALLENGE: &str =
    "DELETE FROM challenges WHERE challenge = $1 RETURNING principal, expires_at";

pub const SWEEP_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at < $1";
pub const ADD_SESSION: &str = "INSERT INTO sessions (hash, principal, created_at, expires_at, \
     login_key, sk_flags) VALUES ($1, $2, $3, $4, $5, $6)";
pub const SESSION_PRINCIPAL: &str =
    "SELECT principal FROM sessions WHERE hash = $1 AND expires_at > $2";
/// Every live session with what logged in: a reload re-checks them.
pub const OPEN_SESSIONS: &str = "SELECT hash, principal, login_key, sk_flags FROM sessions \
     WHERE expires_at > $1 ORDER BY created_at, hash";
pub const END_SESSION: &str = "DELETE FROM sessions WHERE hash = $1";

pub fn open_session_row(r: &dyn SqlRow) -> Result<OpenSession, StoreError> {
    Ok(OpenSession {
        hash: r.text("hash")?,
        principal: r.text("principal")?,
        login_key: r.opt_text("login_key")?,
        sk_flags: r.opt_int("sk_flags")?,
    })
}

pub const FREEZE_COLS: &str = "agent, mode, principal, reason, since, seq";

/// Every freeze in force.
pub fn freezes_sql() -> String {
    format!("SELECT {FREEZE_COLS} FROM freezes ORDER BY agent")
}

/// The freezes that stop agent `$1`: its own and that of every agent.
pub fn freezes_of_sql() -> String {
    format!("SELECT {FREEZE_COLS} FROM freezes WHERE agent = $1 OR agent = '*' ORDER BY agent")
}

pub const PUT_FREEZE: &str = "INSERT INTO freezes (agent, mode, principal, reason, since, seq) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent) DO UPDATE SET mode = excluded.mode, \
     principal = excluded.principal, reason = excluded.reason, since = excluded.since, \
     seq = excluded.seq";

pub const LIFT_FREEZE: &str = "DELETE FROM freezes WHERE agent = $1";

pub fn freeze_params(f: &crate::domain::freeze::Freeze) -> Vec<Param> {
    params([
        (&f.agent).into(),
        f.mode.as_str().into(),
        (&f.by).into(),
        (&f.reason).into(),
        f.since.into(),
        f.seq.into(),
    ])
}

pub fn freeze_row(r: &dyn SqlRow) -> Result<crate::domain::freeze::Freeze, StoreError> {
    let mode = r.text("mode")?;
    Ok(crate::domain::freeze::Freeze {
        agent: r.text("agent")?,
        mode: crate::domain::freeze::FreezeMode::parse(&mode)
            .ok_or_else(|| bad_column("mode", format!("`{mode}` is not a freeze mode")))?,
        by: r.text("principal")?,
        reason: r.text("reason")?,
        since: r.int("since")?,
        seq: r.int("seq")?,
    })
}
