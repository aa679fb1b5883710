//! Every store operation, written once over [`Tx`]: load what the rules
//! (`crate::workflow`) ask for, let them decide, write what they return. A backend
//! only says how a statement runs and how a transaction begins and ends.

use crate::audit::chain::{self, Head};
use crate::domain::records::{AlertRecord, AuditEntry, ProposalRecord};
use crate::server::store::StoreError;
use crate::server::store::sql::{self, Dialect, Many, Param, Read, SqlRow, params};
use crate::server::store::tx::{RowMap, Tx};
use crate::workflow::{self as logic, Writes};

pub mod notify;
mod reads;
mod tokens;
mod writes;

pub use notify::{
    ClaimDeliveries, DeliveryStats, DisableSink, FanOut, FinishDeliveries, PruneOutbox, Remind,
};
pub use reads::*;
pub use tokens::*;
pub use writes::*;

// ---- loads ----

pub async fn head<T: Tx>(tx: &mut T) -> Result<Head, StoreError> {
    if let Some(known) = tx.known_head() {
        return Ok(known);
    }
    Ok(head_of(tx.query(sql::HEAD, &[], head_row).await?))
}

/// [`sql::HEAD`]'s rows as the head (the genesis head of an empty log).
pub fn head_of(rows: Vec<Head>) -> Head {
    rows.into_iter().next().unwrap_or_else(Head::genesis)
}

pub fn head_row(r: &dyn SqlRow) -> Result<Head, StoreError> {
    Ok(Head {
        seq: r.int("seq")?,
        hash: r.text("hash")?,
    })
}

pub async fn proposal<T: Tx>(tx: &mut T, id: &str) -> Result<Option<ProposalRecord>, StoreError> {
    tx.query_opt(
        &sql::proposal_by_id_sql(""),
        &[id.into()],
        sql::proposal_row,
    )
    .await
}

impl Read {
    fn new(sql: impl Into<String>, params: Vec<Param>) -> Self {
        Read {
            sql: sql.into(),
            params,
            many: None,
        }
    }

    /// With its form for many keys, on the backend that has it.
    fn or_many(
        mut self,
        d: Dialect,
        sql: impl FnOnce() -> String,
        keys: &'static [&'static str],
    ) -> Self {
        if d == Dialect::Postgres {
            self.many = Some(Many { sql: sql(), keys });
        }
        self
    }

    /// A proposal about to change: locked against other replicas.
    fn proposal(d: Dialect, id: &str) -> Self {
        let lock = d.for_update();
        Read::new(sql::proposal_by_id_sql(lock), vec![id.into()]).or_many(
            d,
            || sql::proposals_by_ids_sql(lock),
            &["id"],
        )
    }

    fn nonce(d: Dialect, nonce: &str) -> Self {
        Read::new(sql::NONCE_SEEN, vec![nonce.into()]).or_many(
            d,
            || sql::NONCES_SEEN.to_owned(),
            &["nonce"],
        )
    }

    async fn run<T: Tx, R>(&self, tx: &mut T, map: RowMap<R>) -> Result<Vec<R>, StoreError> {
        tx.query(&self.sql, &self.params, map).await
    }

    /// This read and `other`, in one flight where the backend can.
    async fn run_pair<T: Tx, A: Send, B: Send>(
        &self,
        other: &Read,
        tx: &mut T,
        maps: (RowMap<A>, RowMap<B>),
    ) -> Result<(Vec<A>, Vec<B>), StoreError> {
        tx.query_pair(
            (&self.sql, &self.params, maps.0),
            (&other.sql, &other.params, maps.1),
        )
        .await
    }
}

/// What each write reads first, in the order it reads them.
pub mod reads_of {
    use crate::server::store::sql::Read;
    use crate::server::store::sql::{self, Dialect, Param};
    use crate::server::store::{AnnotateCommand, DecideCommand, SubmitCommand};

    /// The audit chain's head (a writer holding the chain lock reads it
    /// once per transaction).
    pub fn head() -> Read {
        Read::new(sql::HEAD, Vec::new())
    }

    /// The freezes that stop `agent` (read by a write that a freeze
    /// changes: a submission an `auto` rule would approve, a `started`).
    pub fn freezes_of(agent: &str) -> Read {
        Read::new(sql::freezes_of_sql(), vec![agent.into()])
    }

    /// Every freeze (a freeze or an unfreeze starts with them).
    pub fn freezes() -> Read {
        Read::new(sql::freezes_sql(), Vec::new())
    }

    /// The alert under its external id (locked), and its proposals.
    pub fn submit(d: Dialect, cmd: &SubmitCommand) -> [Read; 2] {
        let key: Vec<Param> = vec![(&cmd.agent).into(), cmd.external_id().into()];
        let lock = d.for_update();
        [
            Read::new(sql::alert_by_external_sql(lock), key.clone()).or_many(
                d,
                || sql::alerts_by_externals_sql(lock),
                &["agent", "external_id"],
            ),
            Read::new(sql::proposals_by_external_sql(), key).or_many(
                d,
                sql::proposals_by_externals_sql,
                &["of_agent", "of_external"],
            ),
        ]
    }

    /// A decision: its nonce unused (when signed), and the proposal (locked).
    pub fn decide(d: Dialect, cmd: &DecideCommand) -> (Option<Read>, Read) {
        let nonce = cmd.signed.as_ref().map(|s| Read::nonce(d, &s.nonce));
        (nonce, Read::proposal(d, &cmd.proposal_id))
    }

    /// A revert: its nonce unused, and the proposal it reverts (locked).
    pub fn revert(d: Dialect, nonce: &str, proposal_id: &str) -> [Read; 2] {
        [Read::nonce(d, nonce), Read::proposal(d, proposal_id)]
    }

    /// A claim or an execution report: the proposal (locked).
    pub fn proposal(d: Dialect, id: &str) -> Read {
        Read::proposal(d, id)
    }

    /// A note: its nonce unused, and the alert.
    pub fn annotate(d: Dialect, cmd: &AnnotateCommand) -> [Read; 2] {
        [
            Read::nonce(d, &cmd.signed.nonce),
            Read::new(sql::alert_by_id_sql(), vec![(&cmd.alert_id).into()]).or_many(
                d,
                sql::alerts_by_ids_sql,
                &["id"],
            ),
        ]
    }

    /// Deadlines: each proposal, re-read under the lock.
    pub fn settle(d: Dialect, ids: &[String]) -> Vec<Read> {
        ids.iter().map(|id| Read::proposal(d, id)).collect()
    }
}

/// A proposal about to change (see [`reads_of::proposal`]).
async fn proposal_for_update<T: Tx>(tx: &mut T, id: &str) -> Result<ProposalRecord, StoreError> {
    found_proposal(
        reads_of::proposal(tx.dialect(), id)
            .run(tx, sql::proposal_row)
            .await?,
        id,
    )
}

fn found_proposal(rows: Vec<ProposalRecord>, id: &str) -> Result<ProposalRecord, StoreError> {
    rows.into_iter()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("proposal {id}")))
}

async fn proposals_of<T: Tx>(
    tx: &mut T,
    alert_id: &str,
) -> Result<Vec<ProposalRecord>, StoreError> {
    tx.query(
        &sql::proposals_of_sql(),
        &[alert_id.into()],
        sql::proposal_row,
    )
    .await
}

async fn alert_by_id<T: Tx>(tx: &mut T, id: &str) -> Result<Option<AlertRecord>, StoreError> {
    tx.query_opt(&sql::alert_by_id_sql(), &[id.into()], sql::alert_row)
        .await
}

fn nonce_row(r: &dyn SqlRow) -> Result<String, StoreError> {
    r.text("nonce")
}

/// Refuses a nonce already used by an accepted payload: `seen` are the
/// rows [`Read::nonce`] found.
fn unused(seen: Vec<String>) -> Result<(), StoreError> {
    match seen.into_iter().next() {
        Some(nonce) => Err(StoreError::Replay(nonce)),
        None => Ok(()),
    }
}

// ---- the one write path ----

/// Writes what a rule returned: the alert, the audit entries (chained on
/// the current head), the proposals stamped with the last sequence number
/// and their participants, the outbox events, the annotation and the
/// nonce — one batch after reading the head (pipelined on PostgreSQL).
/// Returns the last audit entry; the ids of changed proposals go to
/// `changed`.
pub async fn apply<T: Tx>(
    tx: &mut T,
    w: &mut Writes,
    changed: &mut Vec<String>,
) -> Result<Option<AuditEntry>, StoreError> {
    let mut batch: Vec<(&str, Vec<Param>)> = Vec::new();
    if let Some(a) = &w.alert {
        batch.push((sql::UPSERT_ALERT, sql::alert_params(a)?));
    }
    let mut at = head(tx).await?;
    let mut last: Option<AuditEntry> = None;
    for e in &w.entries {
        let a = chain::append(&at, e)?;
        let row = params([
            a.seq.into(),
            e.at.into(),
            e.kind.into(),
            e.alert_id.clone().into(),
            e.proposal_id.clone().into(),
            (&a.entry).into(),
            (&a.prev_hash).into(),
            (&a.hash).into(),
        ]);
        batch.push((sql::APPEND, row));
        at = Head {
            seq: a.seq,
            hash: a.hash.clone(),
        };
        last = Some(a);
    }
    let seq = last.as_ref().map(|a| a.seq);
    for p in &mut w.proposals {
        if let Some(seq) = seq {
            p.change_seq = seq;
        }
        batch.push((sql::UPSERT_PROPOSAL, sql::proposal_params(p)?));
        for who in logic::participants(p) {
            batch.push((sql::ADD_PARTICIPANT, params([who.into(), (&p.id).into()])));
        }
    }
    for event in logic::notify::events(w) {
        batch.extend(notify::event_rows(tx.routes(), &event));
    }
    if w.annotation.is_some() || w.nonce.is_some() {
        let seq = seq.ok_or_else(|| {
            StoreError::Internal("a signed payload must be recorded in the audit log".into())
        })?;
        if let Some(note) = &mut w.annotation {
            note.seq = seq;
            batch.push((sql::ADD_ANNOTATION, sql::annotation_params(note)?));
        }
        if let Some(nonce) = &w.nonce {
            batch.push((sql::ADD_NONCE, params([nonce.into(), seq.into()])));
        }
    }
    match &mut w.freeze {
        Some(logic::FreezeChange::Put(f)) => {
            f.seq = seq.ok_or_else(|| {
                StoreError::Internal("a freeze must be recorded in the audit log".into())
            })?;
            batch.push((sql::PUT_FREEZE, sql::freeze_params(f)));
        }
        Some(logic::FreezeChange::Lift(agent)) => {
            batch.push((sql::LIFT_FREEZE, params([agent.as_str().into()])));
        }
        None => {}
    }
    tx.execute_all(&batch).await?;
    tx.set_head(&at);
    changed.extend(w.proposals.iter().map(|p| p.id.clone()));
    if w.freeze.is_some() {
        // Every waiter re-reads: a freeze changes what each agent is told.
        changed.push(crate::server::store::EVERYONE.to_owned());
    }
    Ok(last)
}

/// One event into the outbox, in the caller's transaction.
pub async fn add_outbox<T: Tx>(
    tx: &mut T,
    e: &logic::notify::OutboxEvent,
) -> Result<(), StoreError> {
    let rows = notify::event_rows(tx.routes(), e);
    tx.execute_all(&rows).await
}

fn recorded(audit: Option<AuditEntry>) -> Result<AuditEntry, StoreError> {
    audit.ok_or_else(|| StoreError::Internal("the change wrote no audit entry".into()))
}

fn only(mut proposals: Vec<ProposalRecord>) -> Result<ProposalRecord, StoreError> {
    proposals
        .pop()
        .ok_or_else(|| StoreError::Internal("the change wrote no proposal".into()))
}
