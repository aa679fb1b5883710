//! Writes the audit log records: each loads, lets `logic` decide, applies.

use super::*;
use crate::api::ExecutionReport;
use crate::domain::machine::Millis;
use crate::domain::records::ProposalRecord;
use crate::server::store::Store;
use crate::server::store::op::{Lane, Op, id_key, nonce_key};
use crate::server::store::sql;
use crate::server::store::tx::Tx;
use crate::server::store::{
    AnnotateCommand, AnnotateOutcome, ClaimCommand, DecideCommand, DecideOutcome, ExecutionCommand,
    RecordPolicy, StoreError, SubmitCommand, SubmitOutcome,
};
use crate::workflow::{
    self as logic, EndContainments, ExtendCommand, FreezeCommand, FreezeOutcome, RevertCommand,
    RevertOutcome, Writes,
};
use std::sync::Arc;

impl Op for SubmitCommand {
    type Out = SubmitOutcome;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::submit(d, self).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![format!("alert\0{}\0{}", self.agent, self.external_id())]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<SubmitOutcome, StoreError> {
        // The alert (locked) and its proposals, in one flight.
        let [alert, proposals] = reads_of::submit(tx.dialect(), self);
        let (alert, stored) = alert
            .run_pair(&proposals, tx, (sql::alert_row, sql::proposal_row))
            .await?;
        let old = alert.into_iter().next().map(|a| (a, stored));
        let freezes = if self.any_auto() {
            reads_of::freezes_of(&self.agent)
                .run(tx, sql::freeze_row)
                .await?
        } else {
            Vec::new()
        };
        let frozen = crate::domain::freeze::for_agent(&freezes, &self.agent);
        let mut plan = logic::submit(self, old, logic::ByPolicy::unless(frozen))?;
        apply(tx, &mut plan.writes, changed).await?;
        Ok(plan.outcome())
    }
}

impl Op for DecideCommand {
    type Out = DecideOutcome;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        let (nonce, proposal) = reads_of::decide(d, self);
        nonce.into_iter().chain([proposal]).collect()
    }
    fn keys(&self) -> Vec<String> {
        self.signed
            .as_ref()
            .map(|s| nonce_key(&s.nonce))
            .into_iter()
            .chain([id_key(&self.proposal_id)])
            .collect()
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<DecideOutcome, StoreError> {
        let (nonce, proposal) = reads_of::decide(tx.dialect(), self);
        let found = match &nonce {
            Some(nonce) => {
                let (seen, found) = nonce
                    .run_pair(&proposal, tx, (nonce_row, sql::proposal_row))
                    .await?;
                unused(seen)?;
                found
            }
            None => proposal.run(tx, sql::proposal_row).await?,
        };
        let p = found_proposal(found, &self.proposal_id)?;
        let (next, entries, event) = logic::decide(&p, self)?;
        let mut w = Writes {
            proposals: vec![next],
            entries,
            nonce: self.signed.as_ref().map(|s| s.nonce.clone()),
            ..Writes::default()
        };
        let audit = recorded(apply(tx, &mut w, changed).await?)?;
        Ok(DecideOutcome {
            proposal: only(w.proposals)?,
            event,
            audit,
        })
    }
}

impl Op for ExecutionCommand {
    type Out = ProposalRecord;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        vec![reads_of::proposal(d, &self.proposal_id)]
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.proposal_id)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<ProposalRecord, StoreError> {
        let p = proposal_for_update(tx, &self.proposal_id).await?;
        let freezes = match self.report {
            ExecutionReport::Started { .. } => {
                reads_of::freezes_of(&p.proposed_by)
                    .run(tx, sql::freeze_row)
                    .await?
            }
            _ => Vec::new(),
        };
        let frozen = crate::domain::freeze::for_agent(&freezes, &p.proposed_by);
        let (next, entries) = logic::execution(&p, self, frozen)?;
        let mut w = Writes {
            proposals: vec![next],
            entries,
            ..Writes::default()
        };
        apply(tx, &mut w, changed).await?;
        only(w.proposals)
    }
}

impl Op for ClaimCommand {
    type Out = ProposalRecord;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        vec![reads_of::proposal(d, &self.proposal_id)]
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.proposal_id)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<ProposalRecord, StoreError> {
        let p = proposal_for_update(tx, &self.proposal_id).await?;
        let (next, entry) = logic::claim(&p, self)?;
        let mut w = Writes {
            proposals: vec![next],
            entries: vec![entry],
            ..Writes::default()
        };
        apply(tx, &mut w, changed).await?;
        only(w.proposals)
    }
}

impl Op for AnnotateCommand {
    type Out = AnnotateOutcome;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::annotate(d, self).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![id_key(&self.alert_id), nonce_key(&self.signed.nonce)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        _: &mut Vec<String>,
    ) -> Result<AnnotateOutcome, StoreError> {
        let [nonce, alert] = reads_of::annotate(tx.dialect(), self);
        let (seen, alert) = nonce
            .run_pair(&alert, tx, (nonce_row, sql::alert_row))
            .await?;
        unused(seen)?;
        let alert = alert
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NotFound(format!("alert {}", self.alert_id)))?;
        let (note, entry) = logic::annotate(&alert, self)?;
        let mut w = Writes {
            entries: vec![entry],
            annotation: Some(note),
            nonce: Some(self.signed.nonce.clone()),
            ..Writes::default()
        };
        let audit = recorded(apply(tx, &mut w, &mut Vec::new()).await?)?;
        let annotation = w
            .annotation
            .ok_or_else(|| StoreError::Internal("the annotation was not written".into()))?;
        Ok(AnnotateOutcome { annotation, audit })
    }
}

/// Ids of proposals with a deadline due at this time (read outside the
/// write), each once.
pub struct Due(pub Millis);

impl Op for Due {
    type Out = Vec<String>;
    const LANE: Lane = Lane::Read;
    const BY_INDEX: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Vec<String>, StoreError> {
        let sql = sql::due_sql(tx.dialect());
        let mut ids = tx.query(&sql, &[self.0.into()], |r| r.text("id")).await?;
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        Ok(ids)
    }
}

/// Applies the deadlines of `ids` due at `now`, re-read under the lock:
/// another replica may have acted first. Returns how many moved.
pub struct Settle {
    pub ids: Vec<String>,
    pub now: Millis,
}

impl Op for Settle {
    type Out = usize;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::settle(d, &self.ids)
    }
    fn keys(&self) -> Vec<String> {
        self.ids.iter().map(|id| id_key(id)).collect()
    }
    async fn run<T: Tx>(&self, tx: &mut T, changed: &mut Vec<String>) -> Result<usize, StoreError> {
        let mut moved = 0;
        for read in reads_of::settle(tx.dialect(), &self.ids) {
            let found = read.run(tx, sql::proposal_row).await?.into_iter().next();
            let Some(mut p) = found else { continue };
            let entries = logic::settle(&mut p, self.now);
            if !entries.is_empty() {
                let mut w = Writes {
                    proposals: vec![p],
                    entries,
                    ..Writes::default()
                };
                apply(tx, &mut w, changed).await?;
                moved += 1;
            }
        }
        Ok(moved)
    }
}

impl dyn Store {
    /// Applies every deadline due at `now`; returns how many proposals
    /// moved.
    pub async fn run_deadlines(&self, now: Millis) -> Result<usize, StoreError> {
        let ids = self.run(Due(now)).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.run(Settle { ids, now }).await
    }

    /// Ends every executed containment whose `contain_until` passed by
    /// `now`: each proposes its revert under `policy`. Returns how many.
    pub async fn end_containments(
        &self,
        now: Millis,
        policy: Arc<crate::domain::policy::Policy>,
        sampler: Arc<crate::domain::sample::Sampler>,
    ) -> Result<usize, StoreError> {
        let ids = self.run(ContainedDue(now)).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.run(EndContainments {
            ids,
            now,
            policy,
            sampler,
        })
        .await
    }
}

/// The policy in force into the log, unless its last policy entry names
/// the same digest. The caller holds the chain's write lock (SQLite's one
/// writer; PostgreSQL's advisory lock), so the check and the append are one.
impl Op for RecordPolicy {
    type Out = Option<AuditEntry>;
    const LANE: Lane = Lane::Chain;
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        _: &mut Vec<String>,
    ) -> Result<Option<AuditEntry>, StoreError> {
        let last = tx.query_opt(sql::LAST_POLICY, &[], sql::audit_row).await?;
        if let Some(last) = last {
            let body: serde_json::Value = serde_json::from_str(&last.entry)?;
            if body["data"]["digest"].as_str() == Some(self.digest.as_str()) {
                return Ok(None);
            }
        }
        let mut w = Writes {
            entries: vec![logic::policy_loaded(self)],
            ..Writes::default()
        };
        apply(tx, &mut w, &mut Vec::new()).await
    }
}

/// A lead's freeze or unfreeze: its nonce unused, then the change to the
/// freezes in force, its entry, and every freeze after it.
impl Op for FreezeCommand {
    type Out = FreezeOutcome;
    const LANE: Lane = Lane::Chain;
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<FreezeOutcome, StoreError> {
        let nonce = Read::nonce(tx.dialect(), &self.signed.nonce);
        let (seen, mut freezes) = nonce
            .run_pair(&reads_of::freezes(), tx, (nonce_row, sql::freeze_row))
            .await?;
        unused(seen)?;
        let (change, entry) = logic::freeze(&freezes, self)?;
        let event = entry.kind;
        let mut w = Writes {
            entries: vec![entry],
            nonce: Some(self.signed.nonce.clone()),
            freeze: Some(change),
            ..Writes::default()
        };
        let audit = recorded(apply(tx, &mut w, changed).await?)?;
        match w.freeze {
            Some(logic::FreezeChange::Put(f)) => {
                freezes.retain(|g| g.agent != f.agent);
                freezes.push(f);
                freezes.sort_by(|a, b| a.agent.cmp(&b.agent));
            }
            Some(logic::FreezeChange::Lift(agent)) => freezes.retain(|g| g.agent != agent),
            None => {}
        }
        Ok(FreezeOutcome {
            audit,
            event,
            freezes,
        })
    }
}

/// A person's signed revert of an executed proposal: its nonce unused, the
/// proposal (locked), its alert, and the alert that would revert it (none
/// yet, or it was reverted already).
impl Op for RevertCommand {
    type Out = RevertOutcome;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::revert(d, &self.signed.nonce, &self.proposal_id).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce), id_key(&self.proposal_id)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<RevertOutcome, StoreError> {
        let original = signed_on_proposal(tx, &self.signed.nonce, &self.proposal_id).await?;
        let alert = alert_by_id(tx, &original.alert_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {}", original.alert_id)))?;
        let key: Vec<sql::Param> = vec![
            original.proposed_by.as_str().into(),
            crate::domain::revert::external_id(&original.id).into(),
        ];
        let lock = tx.dialect().for_update();
        let existing = tx
            .query_opt(&sql::alert_by_external_sql(lock), &key, sql::alert_row)
            .await?;
        let mut plan = logic::revert(&original, &alert, existing.as_ref(), self)?;
        let audit = recorded(apply(tx, &mut plan.writes, changed).await?)?;
        Ok(RevertOutcome {
            proposal: only(plan.writes.proposals)?,
            event: plan.event,
            audit,
        })
    }
}

/// Ids of executed containments whose time ran out by this time (read
/// outside the write).
pub struct ContainedDue(pub Millis);

impl Op for ContainedDue {
    type Out = Vec<String>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<Vec<String>, StoreError> {
        let sql = sql::contained_due_sql(tx.dialect());
        tx.query(&sql, &[self.0.into()], |r| r.text("id")).await
    }
}

/// Ends the containments of `ids` whose time ran out, re-read under the
/// lock (another replica may have ended one, or a person extended it):
/// each proposes its revert. Returns how many ended.
impl Op for EndContainments {
    type Out = usize;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::settle(d, &self.ids)
    }
    fn keys(&self) -> Vec<String> {
        self.ids.iter().map(|id| id_key(id)).collect()
    }
    async fn run<T: Tx>(&self, tx: &mut T, changed: &mut Vec<String>) -> Result<usize, StoreError> {
        let mut ended = 0;
        for read in reads_of::settle(tx.dialect(), &self.ids) {
            let found = read.run(tx, sql::proposal_row).await?.into_iter().next();
            let Some(p) = found.filter(|p| p.contain_until.is_some_and(|t| t <= self.now)) else {
                continue;
            };
            let alert = alert_by_id(tx, &p.alert_id)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("alert {}", p.alert_id)))?;
            let key: Vec<sql::Param> = vec![
                p.proposed_by.as_str().into(),
                crate::domain::revert::external_id(&p.id).into(),
            ];
            let lock = tx.dialect().for_update();
            let existing = tx
                .query_opt(&sql::alert_by_external_sql(lock), &key, sql::alert_row)
                .await?;
            let mut w = logic::containment_ended(
                &p,
                &alert,
                existing.as_ref(),
                &self.policy,
                &self.sampler,
                self.now,
            );
            apply(tx, &mut w, changed).await?;
            ended += 1;
        }
        Ok(ended)
    }
}

/// A person's signed extension of an executed containment: its nonce
/// unused, the proposal (locked).
impl Op for ExtendCommand {
    type Out = DecideOutcome;
    const LANE: Lane = Lane::Chain;
    fn reads(&self, d: Dialect) -> Vec<Read> {
        reads_of::revert(d, &self.signed.nonce, &self.proposal_id).into()
    }
    fn keys(&self) -> Vec<String> {
        vec![nonce_key(&self.signed.nonce), id_key(&self.proposal_id)]
    }
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        changed: &mut Vec<String>,
    ) -> Result<DecideOutcome, StoreError> {
        let p = signed_on_proposal(tx, &self.signed.nonce, &self.proposal_id).await?;
        let (next, entry) = logic::extend(&p, self)?;
        let mut w = Writes {
            proposals: vec![next],
            entries: vec![entry],
            nonce: Some(self.signed.nonce.clone()),
            ..Writes::default()
        };
        let audit = recorded(apply(tx, &mut w, changed).await?)?;
        Ok(DecideOutcome {
            proposal: only(w.proposals)?,
            event: crate::domain::machine::Event::Executed,
            audit,
        })
    }
}

/// A signed change to one proposal (a revert, an extension): its nonce
/// unused, and the proposal (locked), read in one flight.
async fn signed_on_proposal<T: Tx>(
    tx: &mut T,
    nonce: &str,
    proposal_id: &str,
) -> Result<ProposalRecord, StoreError> {
    let [nonce, proposal] = reads_of::revert(tx.dialect(), nonce, proposal_id);
    let (seen, found) = nonce
        .run_pair(&proposal, tx, (nonce_row, sql::proposal_row))
        .await?;
    unused(seen)?;
    found_proposal(found, proposal_id)
}
