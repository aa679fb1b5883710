//! API tokens (not in the audit log): created with a lifetime and a scope,
//! rotated with a grace for the old one, revoked one at a time by id.

use crate::domain::machine::Millis;
use crate::domain::records::TokenRecord;
use crate::server::store::sql::{self, params};
use crate::server::store::tx::Tx;
use crate::server::store::{NewToken, StoreError};
use crate::workflow as logic;

pub async fn create_token<T: Tx>(tx: &mut T, new: NewToken) -> Result<TokenRecord, StoreError> {
    // Any scope is stored as NULL, so older rows and new ones read alike.
    let scope = if new.scope.is_any() {
        None
    } else {
        Some(serde_json::to_string(&new.scope)?)
    };
    let rec = TokenRecord {
        id: logic::new_id(),
        name: new.name,
        role: new.role,
        created_at: new.created_at,
        revoked_at: None,
        expires_at: new.expires_at,
        last_used_at: None,
        scope,
    };
    let args = params([
        (&rec.id).into(),
        (&rec.name).into(),
        rec.role.as_str().into(),
        new.hash.into(),
        rec.created_at.into(),
        rec.expires_at.into(),
        (&rec.scope).into(),
    ]);
    tx.execute(sql::ADD_TOKEN, &args).await?;
    Ok(rec)
}

pub async fn token_by_hash<T: Tx>(
    tx: &mut T,
    hash: &str,
) -> Result<Option<TokenRecord>, StoreError> {
    tx.query_opt(&sql::token_by_hash_sql(), &[hash.into()], sql::token_row)
        .await
}

pub async fn list_tokens<T: Tx>(tx: &mut T) -> Result<Vec<TokenRecord>, StoreError> {
    tx.query(&sql::tokens_sql(), &[], sql::token_row).await
}

/// Whether a token with this id was active and is now revoked.
pub async fn revoke_token<T: Tx>(tx: &mut T, id: &str, now: Millis) -> Result<bool, StoreError> {
    let n = tx
        .execute(sql::REVOKE_TOKEN, &[now.into(), id.into()])
        .await?;
    Ok(n > 0)
}

/// The new token, and each of `old` made to stop by `old_until` (sooner if
/// it already would): call in one transaction, so a rotation is whole.
pub async fn rotate_token<T: Tx>(
    tx: &mut T,
    old: &[String],
    old_until: Millis,
    new: NewToken,
) -> Result<TokenRecord, StoreError> {
    for id in old {
        tx.execute(sql::EXPIRE_TOKEN_BY, &[old_until.into(), id.into()])
            .await?;
    }
    create_token(tx, new).await
}

pub async fn touch_token<T: Tx>(tx: &mut T, id: &str, at: Millis) -> Result<(), StoreError> {
    tx.execute(sql::TOUCH_TOKEN, &[at.into(), id.into()])
        .await?;
    Ok(())
}
