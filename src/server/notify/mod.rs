//! The notification dispatcher. Events are written to the outbox in the
//! transaction of the change that causes them (`store::ops::apply`); this
//! gives them to the configured sinks, delivers with retries (doubling,
//! jittered, until the sink's `give_up_after_secs`), and records each
//! outcome. Every replica runs one: deliveries are leased with
//! `SKIP LOCKED`, so no two send the same one at once; a replica that dies
//! mid-delivery leaves a lease that runs out and another sends again, with
//! the same `webhook-id` for the receiver to deduplicate.
//!
//! Deliveries run in tasks of their own, bounded in number: a slow or dead
//! receiver holds only its own task, never a decision or an ingest.

pub mod sinks;

use crate::api::events::EventType;
use crate::config::NotifyConfig;
use crate::domain::machine::Millis;
use crate::domain::time::{now_millis, to_rfc3339};
use crate::server::metrics::{Metrics, SinkOutcomeLabels};
use crate::server::store::ops::{
    AlertById, ClaimDeliveries, DisableSink, FanOut, FinishDeliveries, PruneOutbox, Remind,
};
use crate::server::store::{Claimed, Finish, SinkRoute, Store};
use rand::Rng;
use serde_json::{Value, json};
use sinks::Verdict;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// Deliveries in flight at once.
const IN_FLIGHT: usize = 32;
/// Delivered and given-up notifications are kept this long.
const RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// An alert as sinks describe it.
struct AlertFacts {
    header: Value,
    summary: Value,
    rationales: Vec<(String, Value)>,
}

pub struct Notifier {
    store: Arc<dyn Store>,
    sinks: Vec<NotifyConfig>,
    routes: Arc<Vec<SinkRoute>>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    remind_at: f64,
    disabled: Mutex<HashSet<String>>,
    alerts: Mutex<std::collections::HashMap<String, (Millis, Arc<AlertFacts>)>>,
    in_flight: Arc<Semaphore>,
    /// How long a leased delivery is this dispatcher's before another may
    /// try: longer than any attempt may take.
    lease_ms: i64,
    /// Issues receipts for the `[[executors]]` (`server::execute`), whose
    /// deliveries ride this outbox too.
    issuer: Option<super::receipts::Issuer>,
}

impl Notifier {
    pub fn new(
        store: Arc<dyn Store>,
        sinks: Vec<NotifyConfig>,
        metrics: Arc<Metrics>,
        remind_at: f64,
    ) -> Self {
        let routes = sinks
            .iter()
            .map(|s| SinkRoute {
                name: s.name.clone(),
                events: s.events.clone(),
                min_risk: s.min_risk,
                actions: s.actions.clone(),
            })
            .collect();
        let lease_ms = 5_000
            + 1_000
                * sinks
                    .iter()
                    .map(|s| s.timeout_secs as i64)
                    .max()
                    .unwrap_or(10);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Notifier {
            store,
            sinks,
            routes: Arc::new(routes),
            http,
            metrics,
            remind_at,
            disabled: Mutex::new(HashSet::new()),
            alerts: Mutex::new(std::collections::HashMap::new()),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            lease_ms,
            issuer: None,
        }
    }

    /// Also delivers approved actions to the issuer's `[[executors]]`:
    /// each is a sink of approvals for its actions.
    pub fn with_executors(mut self, issuer: super::receipts::Issuer) -> Self {
        let mut routes = (*self.routes).clone();
        for e in issuer.executors.iter() {
            routes.push(SinkRoute {
                name: super::execute::sink_name(e),
                events: super::execute::EVENTS.to_vec(),
                min_risk: crate::domain::types::Risk::Low,
                actions: e.actions.clone(),
            });
            self.lease_ms = self.lease_ms.max(5_000 + 1_000 * e.attempt_secs as i64);
        }
        self.routes = Arc::new(routes);
        self.issuer = Some(issuer);
        self
    }

    /// Whether any sink takes `proposal.expiring` reminders.
    fn reminds(&self) -> bool {
        self.routes
            .iter()
            .any(|r| r.events.is_empty() || r.events.contains(&EventType::Expiring))
    }

    pub fn sink_names(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.name.clone()).collect()
    }

    /// Runs until `stop` turns true.
    pub fn spawn(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        // Events are handed to the sinks as they are written; the rounds
        // below hand over any written before (or by a process without
        // sinks' routes).
        self.store.route_events(self.routes.clone());
        tokio::spawn(async move {
            let mut changes = self.store.subscribe();
            let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Claimed, Finish)>();
            let mut last_remind: Millis = 0;
            let mut last_prune: Millis = 0;
            loop {
                if *stop.borrow() {
                    break;
                }
                let now = now_millis();
                // Outcomes recorded together: one transaction per round,
                // not one per delivery.
                let mut done = Vec::new();
                while let Ok(d) = done_rx.try_recv() {
                    done.push(d);
                }
                if !done.is_empty()
                    && let Err(e) = self.store.run(FinishDeliveries { done, now }).await
                {
                    tracing::warn!(error = %e, "recording deliveries failed; their leases will run out and they are sent again");
                }
                // Reminders are events for sinks: with none that takes
                // them, the search for proposals near expiry is not made.
                if self.reminds() && now - last_remind >= 5_000 {
                    last_remind = now;
                    if let Err(e) = self
                        .store
                        .run(Remind {
                            now,
                            share: self.remind_at,
                        })
                        .await
                    {
                        tracing::warn!(error = %e, "writing expiry reminders failed; will retry");
                    }
                }
                let started = match self.round(now, &done_tx).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "notification dispatch failed; will retry");
                        0
                    }
                };
                if now - last_prune >= 3_600_000 {
                    last_prune = now;
                    if let Err(e) = self.store.run(PruneOutbox(now - RETENTION_MS)).await {
                        tracing::warn!(error = %e, "pruning old notifications failed");
                    }
                }
                // A pause between rounds however busy the gate is (the
                // dispatcher must not crowd out the writes it reports),
                // shorter while there is a backlog to work through.
                let pause = if started > 0 { 25 } else { 100 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(400)) => {}
                    _ = changes.recv() => {}
                    _ = stop.changed() => {}
                }
            }
        });
    }

    /// Fans new events out and starts every due delivery.
    async fn round(
        self: &Arc<Self>,
        now: Millis,
        done: &mpsc::UnboundedSender<(Claimed, Finish)>,
    ) -> Result<usize, crate::server::store::StoreError> {
        while self
            .store
            .run(FanOut {
                routes: self.routes.clone(),
                now,
            })
            .await?
            >= 200
        {}
        // Only what can start now is leased: a lease must not run out
        // while its delivery waits for a free slot.
        let free = self.in_flight.available_permits() as u32;
        if free == 0 {
            return Ok(0);
        }
        let claimed = self
            .store
            .run(ClaimDeliveries {
                now,
                lease_ms: self.lease_ms,
                limit: free,
            })
            .await?;
        let started = claimed.len();
        for c in claimed {
            let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
                return Ok(started);
            };
            let me = self.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let how = me.deliver(&c).await;
                let _ = done.send((c, how));
                drop(permit);
            });
        }
        Ok(started)
    }

    /// The event's data with its alert (and, if the sink opted in, text).
    async fn enrich(&self, c: &Claimed, include_text: bool) -> Value {
        let mut data = c.data.clone();
        let alert_id = c.data["alert_id"].as_str().unwrap_or("");
        let Some(about) = self.alert_facts(alert_id).await else {
            return data;
        };
        data["alert"] = about.header.clone();
        if include_text {
            data["summary"] = about.summary.clone();
            let pid = c.data["proposal_id"].as_str().unwrap_or("");
            if let Some((_, r)) = about.rationales.iter().find(|(id, _)| id == pid) {
                data["rationale"] = r.clone();
            }
        }
        data
    }

    /// What sinks say about an alert, read once a minute at most per alert:
    /// a burst of events about one alert reads it once.
    async fn alert_facts(&self, alert_id: &str) -> Option<Arc<AlertFacts>> {
        let now = now_millis();
        if let Ok(cache) = self.alerts.lock()
            && let Some((at, facts)) = cache.get(alert_id)
            && now - at < 60_000
        {
            return Some(facts.clone());
        }
        let (alert, proposals) = self
            .store
            .run(AlertById(alert_id.to_owned()))
            .await
            .ok()??;
        let facts = Arc::new(AlertFacts {
            header: json!({
                "id": alert.id, "title": alert.title, "source": alert.source,
                "severity": alert.severity, "entity": {"kind": alert.entity_kind, "id": alert.entity_id},
                "agent": alert.agent,
            }),
            summary: alert.document["summary"]["text"].clone(),
            rationales: proposals
                .iter()
                .map(|p| (p.id.clone(), p.document["rationale"].clone()))
                .collect(),
        });
        if let Ok(mut cache) = self.alerts.lock() {
            if cache.len() >= 4096 {
                cache.clear();
            }
            cache.insert(alert_id.to_owned(), (now, facts.clone()));
        }
        Some(facts)
    }

    /// One attempt at one delivery.
    pub async fn deliver(&self, c: &Claimed) -> Finish {
        if let Some(issuer) = &self.issuer
            && let Some(exec) = issuer
                .executors
                .iter()
                .find(|e| super::execute::sink_name(e) == c.sink)
        {
            let retry_at = |attempts| now_millis() + retry_delay(attempts).as_millis() as i64;
            return super::execute::deliver(&*self.store, issuer, &self.http, exec, c, retry_at)
                .await;
        }
        let Some(sink) = self.sinks.iter().find(|s| s.name == c.sink) else {
            return Finish::Failed {
                error: format!("sink {} is no longer configured", c.sink),
            };
        };
        let gone = self
            .disabled
            .lock()
            .map(|d| d.contains(&sink.name))
            .unwrap_or(false);
        if gone {
            return Finish::Disabled {
                reason: "the sink was disabled (410 Gone)".into(),
            };
        }
        let data = self.enrich(c, sink.include_text).await;
        let answer = send(
            &self.http,
            sink,
            &c.event_id,
            c.kind,
            &to_rfc3339(c.at),
            &data,
        )
        .await;
        let (verdict, error) = match answer {
            Ok(status) => (sinks::verdict(sink.kind, status), format!("HTTP {status}")),
            Err(e) => (Verdict::Retry, e),
        };
        let outcome = match verdict {
            Verdict::Delivered => "sent",
            Verdict::Retry => "retry",
            Verdict::Refused | Verdict::Gone => "failed",
        };
        self.metrics
            .notify_attempts
            .get_or_create(&SinkOutcomeLabels {
                sink: sink.name.clone(),
                outcome: outcome.into(),
            })
            .inc();
        match verdict {
            Verdict::Delivered => Finish::Sent,
            Verdict::Refused => Finish::Failed { error },
            Verdict::Gone => {
                tracing::warn!(sink = %sink.name, "the receiver answered 410 Gone: sink disabled, nothing more is sent to it until the server restarts");
                if let Ok(mut d) = self.disabled.lock() {
                    d.insert(sink.name.clone());
                }
                let reason = "410 Gone: sink disabled".to_owned();
                if let Err(e) = self
                    .store
                    .run(DisableSink {
                        sink: sink.name.clone(),
                        reason: reason.clone(),
                        now: now_millis(),
                    })
                    .await
                {
                    tracing::warn!(error = %e, "recording a disabled sink failed");
                }
                Finish::Failed { error: reason }
            }
            Verdict::Retry => {
                let now = now_millis();
                let next_at = now + retry_delay(c.attempts).as_millis() as i64;
                if next_at - c.created_at > sink.give_up_after_secs as i64 * 1000 {
                    Finish::Failed {
                        error: format!("gave up after {} attempts: {error}", c.attempts + 1),
                    }
                } else {
                    Finish::Retry { next_at, error }
                }
            }
        }
    }
}

/// Sends once; the receiver's status, or why there was none.
async fn send(
    http: &reqwest::Client,
    sink: &NotifyConfig,
    event_id: &str,
    kind: EventType,
    at: &str,
    data: &Value,
) -> Result<u16, String> {
    let out = sinks::render(sink, event_id, kind, at, data, now_millis() / 1000);
    let mut req = http
        .post(&sink.url)
        .timeout(Duration::from_secs(sink.timeout_secs))
        .header("content-type", "application/json")
        .body(out.body);
    for (k, v) in out.headers {
        req = req.header(k, v);
    }
    req.send().await.map(|r| r.status().as_u16()).map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {} s", sink.timeout_secs)
        } else {
            format!("cannot reach the receiver: {e}")
        }
    })
}

/// `countersign notify test SINK`: one test event, straight to the sink.
pub async fn send_test(sinks: &[NotifyConfig], name: &str) -> Result<u16, String> {
    let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
    let sink = sinks.iter().find(|s| s.name == name).ok_or_else(|| {
        format!(
            "no [[notify]] sink named `{name}` (configured: {})",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )
    })?;
    let id = format!("test-{}", uuid::Uuid::now_v7());
    let now = now_millis();
    let data = json!({
        "proposal_id": id, "alert_id": "test", "action": "isolate_host",
        "target": "test-host", "risk": "high", "status": "pending",
        "rule": "test", "proposed_by": "countersign", "expires_at": to_rfc3339(now + 3_600_000),
        "alert": {"title": "countersign test notification"}, "test": true,
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    send(
        &http,
        sink,
        &id,
        EventType::Pending,
        &to_rfc3339(now),
        &data,
    )
    .await
}

/// Doubling from 2 s to 15 min, drawn from the upper half of each step.
pub fn retry_delay(attempts: i64) -> Duration {
    let step = Duration::from_secs(2)
        .saturating_mul(1u32 << attempts.clamp(0, 20) as u32)
        .min(Duration::from_secs(900));
    let half = step / 2;
    half + rand::rng().random_range(Duration::ZERO..=step - half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_cap() {
        assert!(retry_delay(0) <= Duration::from_secs(2));
        assert!(retry_delay(3) >= Duration::from_secs(8));
        assert!(retry_delay(40) <= Duration::from_secs(900));
        assert!(retry_delay(40) >= Duration::from_secs(450));
    }
}
