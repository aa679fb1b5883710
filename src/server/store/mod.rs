//! Storage behind one trait, one folder per backend. The rules live in
//! [`crate::workflow`] (pure functions over loaded records); [`ops`] runs every
//! operation once over the [`tx::Tx`] trait (load, apply the rules, write
//! the result and its audit entries in one transaction) with the SQL of
//! [`sql`]; a backend only implements `Tx` and how transactions begin and
//! commit.

pub mod ops;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod tx;

use crate::api::events::EventType;
pub use crate::api::{ExecutionReport, QueuePage, SubmitStatus, View};
use crate::audit::chain::Head;
use crate::domain::machine::Millis;
use crate::domain::records::{
    AlertRecord, AnnotationRecord, AuditEntry, ProposalRecord, QueueItem, TokenRecord,
};
use crate::domain::types::{ProposalStatus, Risk, TokenRole};
pub use crate::workflow::{
    AnnotateCommand, AnnotateOutcome, ClaimCommand, DecideCommand, DecideOutcome, EndContainments,
    ExecutionCommand, ExtendCommand, FreezeCommand, FreezeOutcome, RecordPolicy, RevertCommand,
    RevertOutcome, SignedBlob, StoreError, SubmitCommand, SubmitOutcome,
};
use async_trait::async_trait;
pub use ops::notify::{Claimed, DeliveryCount, Finish};
use std::sync::Arc;
use tokio::sync::broadcast;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // Name the database's own message, not just "db error".
        let text = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => e.to_string(),
        };
        StoreError::Unavailable(format!("PostgreSQL: {text}"))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        // With its causes: "error performing TLS handshake: invalid peer
        // certificate: UnknownIssuer" says what to fix.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let more = s.to_string();
            if !text.contains(&more) {
                text.push_str(": ");
                text.push_str(&more);
            }
            source = s.source();
        }
        StoreError::Unavailable(format!("PostgreSQL is unreachable: {text}"))
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON is unreadable: {e}"))
    }
}

impl From<crate::domain::digest::DigestError> for StoreError {
    fn from(e: crate::domain::digest::DigestError) -> Self {
        StoreError::Internal(e.to_string())
    }
}

/// A token to store: only its hash, never the secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: TokenRole,
    pub hash: String,
    pub created_at: Millis,
    /// `None`: it never expires.
    pub expires_at: Option<Millis>,
    pub scope: crate::domain::scope::Scope,
}

impl NewToken {
    /// A token that never expires and may propose anything (the embedded
    /// demo's, tests').
    pub fn unlimited(name: &str, role: TokenRole, hash: String, now: Millis) -> Self {
        NewToken {
            name: name.to_owned(),
            role,
            hash,
            created_at: now,
            expires_at: None,
            scope: crate::domain::scope::Scope::any(),
        }
    }
}

/// A console session to store: its token's hash, never the token, and
/// what logged in, so a reload of allowed_signers can check it again.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub hash: String,
    pub principal: String,
    pub created_at: Millis,
    pub expires_at: Millis,
    /// The key or certificate that signed the login, in OpenSSH text form.
    pub login_key: String,
    /// A FIDO security key's flags on the login signature.
    pub sk_flags: Option<i64>,
}

/// A live session, as a reload re-checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSession {
    pub hash: String,
    pub principal: String,
    /// `None`: opened before sessions remembered their key.
    pub login_key: Option<String>,
    pub sk_flags: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct QueueQuery {
    pub view: View,
    pub after: i64,
    pub limit: u32,
    /// Whose `mine` view this is.
    pub principal: Option<String>,
    pub agent: Option<String>,
}

/// Sent to subscribers after every commit.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    pub head_seq: i64,
    pub proposals: Vec<String>,
    /// Something may have been missed (a notification channel reconnected),
    /// or a change concerns everyone (a freeze): every waiter re-reads.
    pub reset: bool,
}

/// Among a write's changed ids: the change concerns every waiter (a
/// freeze changes what each agent is told), not one proposal.
pub const EVERYONE: &str = "*";

impl ChangeSet {
    /// The change set of a commit that changed `ids` (see [`EVERYONE`]).
    pub fn of(head_seq: i64, ids: Vec<String>) -> Self {
        ChangeSet {
            head_seq,
            reset: ids.iter().any(|id| id == EVERYONE),
            proposals: ids,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn submit(&self, cmd: SubmitCommand) -> Result<SubmitOutcome, StoreError>;
    async fn decide(&self, cmd: DecideCommand) -> Result<DecideOutcome, StoreError>;
    async fn report_execution(&self, cmd: ExecutionCommand) -> Result<ProposalRecord, StoreError>;
    /// Applies every deadline due at `now`; returns how many proposals moved.
    async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError>;
    /// Ends every executed containment whose `contain_until` passed by
    /// `now`: each proposes its revert under `policy`. Returns how many.
    async fn end_containments(
        &self,
        now: Millis,
        policy: Arc<crate::domain::policy::Policy>,
        sampler: Arc<crate::domain::sample::Sampler>,
    ) -> Result<usize, StoreError>;
    /// Records the policy in force (`policy_loaded`) unless the log's last
    /// policy entry has the same digest; returns the entry written, if any.
    /// Read and append happen under the chain's write lock, so replicas
    /// starting together with one policy write it once.
    async fn record_policy(&self, cmd: RecordPolicy) -> Result<Option<AuditEntry>, StoreError>;

    async fn proposal(&self, id: &str) -> Result<Option<ProposalRecord>, StoreError>;
    async fn alert(
        &self,
        id: &str,
    ) -> Result<Option<(AlertRecord, Vec<ProposalRecord>)>, StoreError>;
    /// The proposals of `agent`'s alert with `external_id` (none if it
    /// has no such alert).
    async fn proposals_by_external(
        &self,
        agent: &str,
        external_id: &str,
    ) -> Result<Vec<ProposalRecord>, StoreError>;
    async fn queue(&self, q: QueueQuery) -> Result<QueuePage, StoreError>;
    async fn status_counts(&self) -> Result<Vec<(ProposalStatus, i64)>, StoreError>;

    async fn audit_after(
        &self,
        after: i64,
        limit: u32,
        alert_id: Option<String>,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Every entry, page by page, oldest first: the whole log, as `audit
    /// export` and `policy test` read it from the database.
    async fn audit_all(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        loop {
            let after = entries.last().map_or(0, |e| e.seq);
            let page = self.audit_after(after, 10_000, None).await?;
            if page.is_empty() {
                return Ok(entries);
            }
            entries.extend(page);
        }
    }

    async fn audit_head(&self) -> Result<Head, StoreError>;
    /// The lead's oversight figures over `[since, until)`, from the log.
    async fn oversight(
        &self,
        since: Millis,
        until: Millis,
    ) -> Result<crate::api::oversight::Oversight, StoreError>;

    async fn create_token(&self, new: NewToken) -> Result<TokenRecord, StoreError>;
    /// A token by its hash unless revoked; expired ones too (the caller
    /// compares `expires_at` with its clock, and says when it expired).
    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes the token with this id; false if there is no active one.
    async fn revoke_token(&self, id: &str, now: Millis) -> Result<bool, StoreError>;
    /// In one transaction: the new token, and the `old` ones stopping by
    /// `old_until` (sooner if they already would).
    async fn rotate_token(
        &self,
        old: Vec<String>,
        old_until: Millis,
        new: NewToken,
    ) -> Result<TokenRecord, StoreError>;
    /// Records that token `id` was used at `at` (never moves it back).
    async fn touch_token(&self, id: &str, at: Millis) -> Result<(), StoreError>;

    /// A signed note on an alert; same digest, nonce and audit rules as a
    /// decision.
    async fn annotate(&self, cmd: AnnotateCommand) -> Result<AnnotateOutcome, StoreError>;
    async fn annotations(&self, alert_id: &str) -> Result<Vec<AnnotationRecord>, StoreError>;
    async fn claim(&self, cmd: ClaimCommand) -> Result<ProposalRecord, StoreError>;

    /// A lead's signed freeze or unfreeze (same nonce and audit rules as a
    /// decision).
    async fn freeze(&self, cmd: FreezeCommand) -> Result<FreezeOutcome, StoreError>;
    /// Every freeze in force.
    async fn freezes(&self) -> Result<Vec<crate::domain::freeze::Freeze>, StoreError>;
    /// A person's signed revert of an executed proposal: its compensating
    /// proposal, that signature its first approval.
    async fn revert(&self, cmd: RevertCommand) -> Result<RevertOutcome, StoreError>;
    /// A person's signed extension of an executed containment.
    async fn extend(&self, cmd: ExtendCommand) -> Result<DecideOutcome, StoreError>;

    /// Records a login challenge until `expires_at`.
    async fn create_challenge(
        &self,
        challenge: String,
        principal: String,
        expires_at: Millis,
    ) -> Result<(), StoreError>;
    /// Removes and returns a challenge (single use): (principal, expires_at).
    async fn take_challenge(&self, challenge: &str)
    -> Result<Option<(String, Millis)>, StoreError>;
    /// Deletes expired login challenges and sessions; returns how many.
    async fn sweep_expired(&self, now: Millis) -> Result<usize, StoreError>;
    /// Stores a session (and sweeps the expired ones).
    async fn create_session(&self, new: NewSession) -> Result<(), StoreError>;
    /// The principal of a live session.
    async fn session_principal(
        &self,
        hash: &str,
        now: Millis,
    ) -> Result<Option<String>, StoreError>;
    /// Every session live at `now`, oldest first.
    async fn sessions_open(&self, now: Millis) -> Result<Vec<OpenSession>, StoreError>;
    /// Ends the sessions with these hashes (logout, or a reload that no
    /// longer admits them); returns how many were still there.
    async fn end_sessions(&self, hashes: Vec<String>) -> Result<usize, StoreError>;

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>>;

    // ---- notifications (`ops::notify`) ----
    /// From now on, each write hands its events to the sinks that route
    /// them in its own transaction (the dispatcher calls this as it
    /// starts). Before, or in a process that never calls it, events wait
    /// for `outbox_fan_out`.
    fn route_events(&self, routes: Arc<Vec<SinkRoute>>);
    /// Gives new outbox events to the sinks that route them.
    async fn outbox_fan_out(
        &self,
        routes: Arc<Vec<SinkRoute>>,
        now: Millis,
    ) -> Result<usize, StoreError>;
    /// Leases due deliveries to this dispatcher.
    async fn outbox_claim(
        &self,
        now: Millis,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records how deliveries went, in one transaction.
    async fn outbox_finish(
        &self,
        done: Vec<(Claimed, Finish)>,
        now: Millis,
    ) -> Result<(), StoreError>;
    async fn outbox_disable_sink(
        &self,
        sink: String,
        reason: String,
        now: Millis,
    ) -> Result<u64, StoreError>;
    /// Writes `proposal.expiring` reminders.
    async fn outbox_remind(&self, now: Millis, share: f64) -> Result<usize, StoreError>;
    async fn outbox_stats(&self) -> Result<Vec<DeliveryCount>, StoreError>;
    async fn outbox_prune(&self, before: Millis) -> Result<u64, StoreError>;

    /// Durable commits and the writes they carried, since start: their
    /// ratio is the group-commit batch size.
    fn write_stats(&self) -> WriteStats {
        WriteStats::default()
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub commits: u64,
    pub writes: u64,
    /// Batches rolled back after a statement failed, then run again one
    /// write at a time (PostgreSQL).
    pub replays: u64,
    /// Batches that waited for another replica's chain lock (PostgreSQL).
    pub lock_waits: u64,
}

/// Query parameters and paging shared by the backends' queue queries.
pub(crate) struct QueryParts {
    /// JSON array of statuses, or `None` for every status.
    pub statuses_json: Option<String>,
    pub mine: Option<String>,
    /// Only sampled policy approvals waiting for review.
    pub sampled: bool,
    /// Rows to fetch: one more than the page, to know whether more wait.
    pub fetch: i64,
    /// With a cursor, changed rows outside the view come back as `gone`.
    pub include_gone: bool,
    limit: usize,
}

/// Page size bounds. The lower bound exceeds the most proposals one write
/// can stamp with a single sequence number, so a page never splits a group.
pub const QUEUE_PAGE_MIN: u32 = 100;
pub const QUEUE_PAGE_MAX: u32 = 5_000;

impl QueryParts {
    pub fn new(q: &QueueQuery) -> Self {
        let limit = q.limit.clamp(QUEUE_PAGE_MIN, QUEUE_PAGE_MAX) as usize;
        QueryParts {
            statuses_json: q.view.statuses().map(|s| {
                serde_json::to_string(&s.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                    .unwrap_or_default()
            }),
            mine: match q.view {
                View::Mine => Some(q.principal.clone().unwrap_or_default()),
                _ => None,
            },
            sampled: q.view == View::Sampled,
            fetch: limit as i64 + 1,
            include_gone: q.after > 0,
            limit,
        }
    }

    /// Rows come ordered by `change_seq`, each with whether it is in view.
    pub fn page(&self, mut rows: Vec<(QueueItem, bool)>, head: i64) -> QueuePage {
        let more = rows.len() > self.limit;
        let cursor = if more {
            let boundary = rows[self.limit].0.proposal.change_seq;
            rows.truncate(self.limit);
            while rows
                .last()
                .is_some_and(|(r, _)| r.proposal.change_seq == boundary)
            {
                rows.pop();
            }
            rows.last()
                .map_or(boundary - 1, |(r, _)| r.proposal.change_seq)
        } else {
            rows.last()
                .map_or(head, |(r, _)| r.proposal.change_seq.max(head))
        };
        let mut items = Vec::new();
        let mut gone = Vec::new();
        for (item, in_view) in rows {
            if in_view {
                items.push(item);
            } else {
                gone.push(item.proposal.id);
            }
        }
        QueuePage {
            items,
            gone,
            cursor,
            more,
        }
    }
}

/// What a sink wants to hear about.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRoute {
    pub name: String,
    /// Empty: every event type.
    pub events: Vec<EventType>,
    pub min_risk: Risk,
    /// Empty: every action kind.
    pub actions: Vec<String>,
}

impl SinkRoute {
    pub fn wants(&self, kind: EventType, data: &serde_json::Value) -> bool {
        let risk = data["risk"]
            .as_str()
            .and_then(|r| r.parse::<Risk>().ok())
            .unwrap_or(Risk::Critical);
        let action = data["action"].as_str().unwrap_or("");
        // A freeze is about an agent, whatever it proposes: an action
        // filter does not hide it (an `events` list still may).
        let about_agent = matches!(kind, EventType::AgentFrozen | EventType::AgentUnfrozen);
        (self.events.is_empty() || self.events.contains(&kind))
            && risk >= self.min_risk
            && (self.actions.is_empty() || about_agent || self.actions.iter().any(|a| a == action))
    }
}

/// The sinks' routes a store's writes hand their events to, once the
/// dispatcher has set them (shared with the store's writer).
#[derive(Default, Clone)]
pub struct Routes(Arc<std::sync::RwLock<Option<Arc<Vec<SinkRoute>>>>>);

impl Routes {
    pub fn set(&self, routes: Arc<Vec<SinkRoute>>) {
        if let Ok(mut now) = self.0.write() {
            *now = Some(routes);
        }
    }

    /// `None` until set (events are then handed over by the dispatcher).
    pub fn get(&self) -> Option<Arc<Vec<SinkRoute>>> {
        self.0.read().ok().and_then(|r| r.clone())
    }
}
