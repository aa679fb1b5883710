//! Reads, and the writes outside the audit log (challenges, sessions;
//! tokens: `tokens.rs`).

use super::*;
use crate::api::oversight::Oversight;
use crate::domain::machine::Millis;
use crate::domain::records::{AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord};
use crate::domain::types::ProposalStatus;
use crate::server::store::op::{Lane, Op};
use crate::server::store::sql::{self, params};
use crate::server::store::tx::Tx;
use crate::server::store::{
    NewSession, OpenSession, QueryParts, QueuePage, QueueQuery, Store, StoreError,
};

/// The proposal with this id.
pub struct ProposalById(pub String);

impl Op for ProposalById {
    type Out = Option<ProposalRecord>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        proposal(tx, &self.0).await
    }
}

/// The alert with this id and its proposals, in one snapshot (they agree).
pub struct AlertById(pub String);

impl Op for AlertById {
    type Out = Option<(AlertRecord, Vec<ProposalRecord>)>;
    const LANE: Lane = Lane::Read;
    const SNAPSHOT: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        let Some(alert) = alert_by_id(tx, &self.0).await? else {
            return Ok(None);
        };
        let proposals = proposals_of(tx, &self.0).await?;
        Ok(Some((alert, proposals)))
    }
}

/// The proposals of `agent`'s alert with `external_id` (none if it has no
/// such alert).
pub struct ProposalsByExternal {
    pub agent: String,
    pub external_id: String,
}

impl Op for ProposalsByExternal {
    type Out = Vec<ProposalRecord>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query(
            &sql::proposals_by_external_sql(),
            &[(&self.agent).into(), (&self.external_id).into()],
            sql::proposal_row,
        )
        .await
    }
}

/// A page of the queue, in one snapshot (the head and the rows agree).
impl Op for QueueQuery {
    type Out = QueuePage;
    const LANE: Lane = Lane::Read;
    const SNAPSHOT: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<QueuePage, StoreError> {
        let head = head(tx).await?.seq;
        let parts = QueryParts::new(self);
        let args = params([
            parts.statuses_json.clone().into(),
            parts.mine.clone().into(),
            parts.sampled.into(),
            self.after.into(),
            self.agent.clone().into(),
            parts.include_gone.into(),
            parts.fetch.into(),
        ]);
        let rows = tx
            .query(&sql::queue_sql(tx.dialect()), &args, sql::queue_row)
            .await?;
        Ok(parts.page(rows, head))
    }
}

/// How many proposals are in each status.
pub struct StatusCounts;

impl Op for StatusCounts {
    type Out = Vec<(ProposalStatus, i64)>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        let rows = tx
            .query(sql::STATUS_COUNTS, &[], |r| {
                Ok((r.text("status")?, r.int("n")?))
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, n)| s.parse().ok().map(|s| (s, n)))
            .collect())
    }
}

/// Up to `limit` audit entries after `after`, oldest first; only those
/// of `alert_id` when given.
pub struct AuditAfter {
    pub after: i64,
    pub limit: u32,
    pub alert_id: Option<String>,
}

impl Op for AuditAfter {
    type Out = Vec<AuditEntry>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        let args = params([
            self.after.into(),
            self.alert_id.clone().into(),
            self.limit.into(),
        ]);
        tx.query(sql::AUDIT_AFTER, &args, sql::audit_row).await
    }
}

/// The audit chain's head.
pub struct AuditHead;

impl Op for AuditHead {
    type Out = Head;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Head, StoreError> {
        head(tx).await
    }
}

impl dyn Store {
    /// Every entry, page by page, oldest first: the whole log, as `audit
    /// export` and `policy test` read it from the database.
    pub async fn audit_all(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let page = self
                .run(AuditAfter {
                    after,
                    limit: 10_000,
                    alert_id: None,
                })
                .await?;
            if page.is_empty() {
                return Ok(entries);
            }
            entries.extend(page);
        }
    }
}

/// The lead's oversight figures over `[since, until)`, from the log, in
/// one snapshot.
pub struct OversightOver {
    pub since: Millis,
    pub until: Millis,
}

impl Op for OversightOver {
    type Out = Oversight;
    const LANE: Lane = Lane::Read;
    const SNAPSHOT: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Oversight, StoreError> {
        let window = params([self.since.into(), self.until.into()]);
        let rows = tx
            .query(&sql::oversight_sql(), &window, sql::oversight_row)
            .await?;
        let proposals = tx
            .query(sql::PROPOSALS_BY_AGENT, &window, |r| {
                Ok((r.text("proposed_by")?, r.int("n")?.max(0) as u64))
            })
            .await?;
        Ok(crate::domain::oversight::compute(
            &rows, &proposals, self.since, self.until,
        ))
    }
}

/// The notes on an alert.
pub struct AnnotationsOf(pub String);

impl Op for AnnotationsOf {
    type Out = Vec<AnnotationRecord>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query(
            &sql::annotations_of_sql(),
            &[(&self.0).into()],
            sql::annotation_row,
        )
        .await
    }
}

/// Every freeze in force.
pub struct Freezes;

impl Op for Freezes {
    type Out = Vec<crate::domain::freeze::Freeze>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        reads_of::freezes().run(tx, sql::freeze_row).await
    }
}

// ---- challenges, sessions (not in the audit log) ----

/// Records a login challenge until `expires_at`, and sweeps those that
/// expired an hour ago or more.
pub struct CreateChallenge {
    pub challenge: String,
    pub principal: String,
    pub expires_at: Millis,
}

impl Op for CreateChallenge {
    type Out = ();
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<(), StoreError> {
        tx.execute(
            sql::SWEEP_CHALLENGES,
            &[(self.expires_at - 3_600_000).into()],
        )
        .await?;
        let args = params([
            (&self.challenge).into(),
            (&self.principal).into(),
            self.expires_at.into(),
        ]);
        tx.execute(sql::ADD_CHALLENGE, &args).await?;
        Ok(())
    }
}

/// Removes and returns a challenge (single use): (principal, expires_at).
pub struct TakeChallenge(pub String);

impl Op for TakeChallenge {
    type Out = Option<(String, Millis)>;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query_opt(sql::TAKE_CHALLENGE, &[(&self.0).into()], |r| {
            Ok((r.text("principal")?, r.int("expires_at")?))
        })
        .await
    }
}

/// Deletes the login challenges and sessions expired at this time;
/// returns how many.
pub struct SweepExpired(pub Millis);

impl Op for SweepExpired {
    type Out = usize;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<usize, StoreError> {
        let a = tx.execute(sql::SWEEP_CHALLENGES, &[self.0.into()]).await?;
        let b = tx.execute(sql::SWEEP_SESSIONS, &[self.0.into()]).await?;
        Ok((a + b) as usize)
    }
}

/// Stores the session (and sweeps the expired ones).
impl Op for NewSession {
    type Out = ();
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<(), StoreError> {
        tx.execute(sql::SWEEP_SESSIONS, &[self.created_at.into()])
            .await?;
        let args = params([
            (&self.hash).into(),
            (&self.principal).into(),
            self.created_at.into(),
            self.expires_at.into(),
            (&self.login_key).into(),
            self.sk_flags.into(),
        ]);
        tx.execute(sql::ADD_SESSION, &args).await?;
        Ok(())
    }
}

/// Every session live at this time, oldest first, with what logged in.
pub struct SessionsOpen(pub Millis);

impl Op for SessionsOpen {
    type Out = Vec<OpenSession>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query(sql::OPEN_SESSIONS, &[self.0.into()], sql::open_session_row)
            .await
    }
}

/// Ends the sessions with these hashes (logout, or a reload that no
/// longer admits them); returns how many were still there.
pub struct EndSessions(pub Vec<String>);

impl Op for EndSessions {
    type Out = usize;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<usize, StoreError> {
        let mut ended = 0;
        for hash in &self.0 {
            ended += tx.execute(sql::END_SESSION, &[hash.into()]).await?;
        }
        Ok(ended as usize)
    }
}

/// The principal of the session with this hash, if it is live at `now`.
pub struct SessionPrincipal {
    pub hash: String,
    pub now: Millis,
}

impl Op for SessionPrincipal {
    type Out = Option<String>;
    const LANE: Lane = Lane::Read;
    const POINT: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Self::Out, StoreError> {
        tx.query_opt(
            sql::SESSION_PRINCIPAL,
            &[(&self.hash).into(), self.now.into()],
            |r| r.text("principal"),
        )
        .await
    }
}
