//! API tokens (not in the audit log): created with a lifetime and a scope,
//! rotated with a grace for the old one, revoked one at a time by id.

use crate::domain::machine::Millis;
use crate::domain::records::TokenRecord;
use crate::server::store::op::{Lane, Op};
use crate::server::store::sql::{self, params};
use crate::server::store::tx::Tx;
use crate::server::store::{NewToken, StoreError};
use crate::workflow as logic;

/// Stores the token; returns its record.
impl Op for NewToken {
    type Out = TokenRecord;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<TokenRecord, StoreError> {
        create_token(tx, self).await
    }
}

async fn create_token<T: Tx>(tx: &mut T, new: &NewToken) -> Result<TokenRecord, StoreError> {
    // Any scope is stored as NULL, so older rows and new ones read alike.
    let scope = if new.scope.is_any() {
        None
    } else {
        Some(serde_json::to_string(&new.scope)?)
    };
    let rec = TokenRecord {
        id: logic::new_id(),
        name: new.name.clone(),
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
        (&new.hash).into(),
        rec.created_at.into(),
        rec.expires_at.into(),
        (&rec.scope).into(),
    ]);
    tx.execute(sql::ADD_TOKEN, &args).await?;
    Ok(rec)
}

/// A token by its hash unless revoked; expired ones too (the caller
/// compares `expires_at` with its clock, and says when it expired).
pub struct TokenByHash(pub String);

impl Op for TokenByHash {
    type Out = Option<TokenRecord>;
    const LANE: Lane = Lane::Read;
    const POINT: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query_opt(
            &sql::token_by_hash_sql(),
            &[(&self.0).into()],
            sql::token_row,
        )
        .await
    }
}

/// Every token, revoked and expired ones too.
pub struct ListTokens;

impl Op for ListTokens {
    type Out = Vec<TokenRecord>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query(&sql::tokens_sql(), &[], sql::token_row).await
    }
}

/// Revokes the token with this id; `true` if it was active.
pub struct RevokeToken {
    pub id: String,
    pub now: Millis,
}

impl Op for RevokeToken {
    type Out = bool;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<bool, StoreError> {
        let n = tx
            .execute(sql::REVOKE_TOKEN, &[self.now.into(), (&self.id).into()])
            .await?;
        Ok(n > 0)
    }
}

/// In one transaction: the new token, and each of `old` made to stop by
/// `old_until` (sooner if it already would), so a rotation is whole.
pub struct RotateToken {
    pub old: Vec<String>,
    pub old_until: Millis,
    pub new: NewToken,
}

impl Op for RotateToken {
    type Out = TokenRecord;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<TokenRecord, StoreError> {
        for id in &self.old {
            tx.execute(sql::EXPIRE_TOKEN_BY, &[self.old_until.into(), id.into()])
                .await?;
        }
        create_token(tx, &self.new).await
    }
}

/// Records that token `id` was used at `at` (never moves it back).
pub struct TouchToken {
    pub id: String,
    pub at: Millis,
}

impl Op for TouchToken {
    type Out = ();
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<(), StoreError> {
        tx.execute(sql::TOUCH_TOKEN, &[self.at.into(), (&self.id).into()])
            .await?;
        Ok(())
    }
}
