//! Storage behind one trait, one folder per backend. The rules live in
//! [`crate::workflow`] (pure functions over loaded records). Every
//! operation is an [`Op`] in [`ops`], written once over the [`tx::Tx`]
//! trait (load, apply the rules, write the result and its audit entries in
//! one transaction) with the SQL of [`sql`]; callers run one with
//! `store.run(op)`. A backend implements `Tx` and how the transaction of
//! each [`Lane`] begins, runs a [`Job`] and commits: a new operation
//! touches neither backend nor this trait.

pub mod op;
pub mod ops;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod tx;

use crate::api::events::EventType;
pub use crate::api::{ExecutionReport, QueuePage, SubmitStatus, View};
use crate::domain::machine::Millis;
use crate::domain::records::QueueItem;
use crate::domain::types::{Risk, TokenRole};
pub use crate::workflow::{
    AnnotateCommand, AnnotateOutcome, ClaimCommand, DecideCommand, DecideOutcome, EndContainments,
    ExecutionCommand, ExtendCommand, FreezeCommand, FreezeOutcome, RecordPolicy, RevertCommand,
    RevertOutcome, SignedBlob, StoreError, SubmitCommand, SubmitOutcome,
};
use async_trait::async_trait;
pub use op::{Job, Lane, Op};
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

/// A backend: how each [`Lane`]'s transaction begins, runs a [`Job`] and
/// ends. Callers run operations with `store.run(op)` ([`op`]); the
/// operations themselves are in [`ops`], written once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Runs `job` where its lane says, or queues it for the writer; the job
    /// answers its caller itself (a write after its commit).
    async fn run_job(&self, job: Box<dyn Job>) -> Result<(), StoreError>;

    fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeSet>>;

    /// From now on, each write hands its events to the sinks that route
    /// them in its own transaction (the dispatcher calls this as it
    /// starts). Before, or in a process that never calls it, events wait
    /// for [`ops::notify::FanOut`].
    fn route_events(&self, routes: Arc<Vec<SinkRoute>>);

    /// Durable commits and the writes they carried, since start: their
    /// ratio is the group-commit batch size.
    fn write_stats(&self) -> WriteStats {
        WriteStats::default()
    }
}

impl dyn Store {
    /// Runs `op` where its lane says; a write answers after its commit.
    pub async fn run<O: Op>(&self, op: O) -> Result<O::Out, StoreError> {
        let op = std::sync::Arc::new(op);
        let (job, answer) = op::Pending::new(op.clone());
        self.run_job(Box::new(job)).await?;
        let out = answer.await.map_err(|_| {
            StoreError::Unavailable("the database stopped before answering; try again".into())
        })?;
        // Freed here, on the caller's thread.
        drop(op);
        out
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
