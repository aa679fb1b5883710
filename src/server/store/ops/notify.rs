//! The notification outbox, over [`Tx`]: events are written by `apply` in
//! the transaction of their change; these hand them to sinks (fan-out),
//! lease due deliveries to one dispatcher (PostgreSQL: `SKIP LOCKED`, so
//! replicas never send the same delivery at once), record how each went,
//! write the "expiring soon" reminders, and count for /metrics.

use crate::api::events::EventType;
use crate::domain::machine::Millis;
use crate::server::store::op::{Lane, Op};
use crate::server::store::sql::{self, Param, params};
use crate::server::store::tx::Tx;
use crate::server::store::{SinkRoute, StoreError};
use crate::workflow::notify;
use serde_json::Value;

/// A delivery leased to this dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub event_id: String,
    pub sink: String,
    pub attempts: i64,
    pub created_at: Millis,
    pub kind: EventType,
    pub at: Millis,
    pub data: Value,
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Sent,
    Retry {
        next_at: Millis,
        error: String,
    },
    Failed {
        error: String,
    },
    /// Not sent: the sink is disabled (its receiver said 410 Gone).
    Disabled {
        reason: String,
    },
}

/// Deliveries by sink and state, for /metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryCount {
    pub sink: String,
    pub state: String,
    pub n: i64,
    pub oldest: Option<Millis>,
}

/// A delivery of event `id` to `sink`, due at once.
fn delivery_params(id: &str, sink: &str, now: Millis) -> Vec<Param> {
    params([
        id.into(),
        sink.into(),
        "pending".into(),
        0_i64.into(),
        now.into(),
        now.into(),
    ])
}

/// The rows an event writes: itself, and when the transaction knows the
/// sinks' routes, a delivery for each sink that routes it, the event
/// marked as handed over. Written with the change, a delivery costs no
/// transaction of its own: handing events over afterwards (read, insert,
/// mark) was a fifth of PostgreSQL's work per proposal ingested, on
/// every replica.
pub fn event_rows(
    routes: Option<&[SinkRoute]>,
    e: &notify::OutboxEvent,
) -> Vec<(&'static str, Vec<Param>)> {
    let mut rows = vec![(
        sql::ADD_OUTBOX,
        params([
            (&e.id).into(),
            e.kind.as_str().into(),
            e.at.into(),
            (&e.proposal_id).into(),
            (&e.alert_id).into(),
            e.data.to_string().into(),
            i64::from(routes.is_some()).into(),
        ]),
    )];
    for route in routes.unwrap_or_default() {
        if route.wants(e.kind, &e.data) {
            rows.push((sql::ADD_DELIVERY, delivery_params(&e.id, &route.name, e.at)));
        }
    }
    rows
}

/// Gives up to 200 new events to the sinks that route them.
pub struct FanOut {
    pub routes: std::sync::Arc<Vec<SinkRoute>>,
    pub now: Millis,
}

impl Op for FanOut {
    type Out = usize;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<usize, StoreError> {
        let (routes, now) = (&self.routes[..], self.now);
        let lock = tx.dialect().skip_locked("");
        let rows = tx
            .query(&sql::outbox_unfanned_sql(&lock), &[200_i64.into()], |r| {
                Ok((r.text("id")?, r.text("type")?, r.text("data")?))
            })
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // One flight: every delivery, then one statement marking them all.
        let mut batch = Vec::new();
        for (id, kind, data) in &rows {
            let kind: EventType = kind.parse().map_err(StoreError::Internal)?;
            let data: Value = serde_json::from_str(data)?;
            for route in routes.iter().filter(|r| r.wants(kind, &data)) {
                batch.push((sql::ADD_DELIVERY, delivery_params(id, &route.name, now)));
            }
        }
        let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
        let mark = sql::mark_fanned_sql(tx.dialect());
        batch.push((&mark, vec![serde_json::to_string(&ids)?.into()]));
        tx.execute_all(&batch).await?;
        Ok(rows.len())
    }
}

/// Leases up to `limit` due deliveries for `lease_ms`.
pub struct ClaimDeliveries {
    pub now: Millis,
    pub lease_ms: i64,
    pub limit: u32,
}

impl Op for ClaimDeliveries {
    type Out = Vec<Claimed>;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        _: &mut Vec<String>,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (now, lease_ms, limit) = (self.now, self.lease_ms, self.limit);
        let lock = tx.dialect().skip_locked("d");
        let rows = tx
            .query(
                &sql::deliveries_due_sql(&lock),
                &[now.into(), limit.into()],
                |r| {
                    Ok(Claimed {
                        event_id: r.text("event_id")?,
                        sink: r.text("sink")?,
                        attempts: r.int("attempts")?,
                        created_at: r.int("created_at")?,
                        kind: r.text("type")?.parse().map_err(StoreError::Internal)?,
                        at: r.int("at")?,
                        data: serde_json::from_str(&r.text("data")?)?,
                    })
                },
            )
            .await?;
        for c in &rows {
            tx.execute(
                sql::LEASE_DELIVERY,
                &params([
                    (now + lease_ms).into(),
                    (&c.event_id).into(),
                    (&c.sink).into(),
                ]),
            )
            .await?;
        }
        Ok(rows)
    }
}

/// Records how deliveries went, in one transaction.
pub struct FinishDeliveries {
    pub done: Vec<(Claimed, Finish)>,
    pub now: Millis,
}

impl Op for FinishDeliveries {
    type Out = ();
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<(), StoreError> {
        let (done, now) = (&self.done, self.now);
        for (c, how) in done {
            let attempts = c.attempts + 1;
            let (state, next_at, done_at, error): (&str, Millis, Option<Millis>, Option<String>) =
                match how {
                    Finish::Sent => ("sent", now, Some(now), None),
                    Finish::Retry { next_at, error } => {
                        ("pending", *next_at, None, Some(error.clone()))
                    }
                    Finish::Failed { error } => ("failed", now, Some(now), Some(error.clone())),
                    Finish::Disabled { reason } => {
                        ("disabled", now, Some(now), Some(reason.clone()))
                    }
                };
            tx.execute(
                sql::FINISH_DELIVERY,
                &params([
                    state.into(),
                    attempts.into(),
                    next_at.into(),
                    done_at.into(),
                    error.into(),
                    (&c.event_id).into(),
                    (&c.sink).into(),
                ]),
            )
            .await?;
        }
        Ok(())
    }
}

/// A sink the receiver says is gone (410): nothing more is sent to it.
pub struct DisableSink {
    pub sink: String,
    pub reason: String,
    pub now: Millis,
}

impl Op for DisableSink {
    type Out = u64;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<u64, StoreError> {
        let (sink, reason, now) = (&self.sink, &self.reason, self.now);
        tx.execute(
            sql::DISABLE_SINK,
            &params([now.into(), reason.into(), sink.into()]),
        )
        .await
    }
}

/// Writes `proposal.expiring` for open proposals past `share` of their
/// time to decide; each at most once per deadline.
pub struct Remind {
    pub now: Millis,
    pub share: f64,
}

impl Op for Remind {
    type Out = usize;
    const LANE: Lane = Lane::Plain;
    const BY_INDEX: bool = true;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<usize, StoreError> {
        let (now, share) = (self.now, self.share);
        let due = tx
            .query(
                &sql::expiring_sql(tx.dialect(), sql::PROPOSAL_COLS),
                &[now.into(), Param::Real(share)],
                sql::proposal_row,
            )
            .await?;
        for p in &due {
            super::add_outbox(tx, &notify::expiring(p, now)).await?;
        }
        Ok(due.len())
    }
}

/// Deliveries by sink and state, for /metrics.
pub struct DeliveryStats;

impl Op for DeliveryStats {
    type Out = Vec<DeliveryCount>;
    const LANE: Lane = Lane::Read;
    async fn run<T: Tx>(
        &self,
        tx: &mut T,
        _: &mut Vec<String>,
    ) -> Result<Vec<DeliveryCount>, StoreError> {
        tx.query(sql::DELIVERY_STATS, &[], |r| {
            Ok(DeliveryCount {
                sink: r.text("sink")?,
                state: r.text("state")?,
                n: r.int("n")?,
                oldest: r.opt_int("oldest")?,
            })
        })
        .await
    }
}

/// Forgets deliveries finished before `before`, then events with none left.
pub struct PruneOutbox(pub Millis);

impl Op for PruneOutbox {
    type Out = u64;
    const LANE: Lane = Lane::Plain;
    async fn run<T: Tx>(&self, tx: &mut T, _: &mut Vec<String>) -> Result<u64, StoreError> {
        let before = self.0;
        let d = tx.execute(sql::PRUNE_DELIVERIES, &[before.into()]).await?;
        let o = tx.execute(sql::PRUNE_OUTBOX, &[before.into()]).await?;
        Ok(d + o)
    }
}
