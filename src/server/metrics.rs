//! Prometheus metrics (prometheus-client, the Prometheus project's own Rust
//! client). `/metrics` reveals counts, never content.

use crate::domain::types::ProposalStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkStateLabels {
    pub sink: String,
    /// `sent`, `failed`, `pending` (not yet delivered: waiting or retrying),
    /// `disabled`.
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    pub sink: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkOutcomeLabels {
    pub sink: String,
    /// `sent`, `retry`, `failed`.
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    /// Deliveries by sink and state (from the database: every replica's).
    pub notify_deliveries: Family<SinkStateLabels, Gauge>,
    /// Age of the oldest undelivered delivery per sink, seconds.
    pub notify_oldest_pending: Family<SinkLabels, Gauge>,
    /// Delivery attempts by this replica.
    pub notify_attempts: Family<SinkOutcomeLabels, Counter>,
    pub requests: Family<RequestLabels, Counter>,
    pub proposals: Family<StatusLabels, Gauge>,
    pub submissions: Family<StatusLabels, Counter>,
    pub time_to_decision: Histogram,
    pub audit_head: Gauge,
    pub db_commits: Gauge,
    pub db_writes: Gauge,
    pub db_replays: Gauge,
    pub db_lock_waits: Gauge,
    /// Long-polls (decision, queue) waiting for a change right now.
    pub long_polls: Gauge,
}

/// Counts one waiting long-poll while it lives.
pub struct Waiting(Gauge);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("countersign");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let proposals = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "proposals",
            "Proposals by status (queue depth)",
            proposals.clone(),
        );
        let submissions = Family::<StatusLabels, Counter>::default();
        registry.register(
            "alert_submissions",
            "Alert submissions by outcome (created, unchanged, revised)",
            submissions.clone(),
        );
        // 1 s .. ~9 h: humans decide in seconds to hours.
        let time_to_decision = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 16),
        );
        registry.register(
            "time_to_decision_seconds",
            "From proposal to human approve/reject/escalate",
            time_to_decision.clone(),
        );
        let audit_head = Gauge::default();
        registry.register(
            "audit_head_seq",
            "Sequence number of the audit log head",
            audit_head.clone(),
        );
        let db_commits = Gauge::default();
        registry.register(
            "db_commits",
            "Durable database commits since start (one fsync each)",
            db_commits.clone(),
        );
        let db_writes = Gauge::default();
        registry.register(
            "db_writes",
            "Write requests carried by those commits (group commit)",
            db_writes.clone(),
        );
        let db_replays = Gauge::default();
        registry.register(
            "db_write_replays",
            "Batches rolled back after a statement failed and run again one write at a time",
            db_replays.clone(),
        );
        let db_lock_waits = Gauge::default();
        registry.register(
            "db_write_batches_waited_for_lock",
            "Batches that waited for another replica's chain lock (PostgreSQL)",
            db_lock_waits.clone(),
        );
        let long_polls = Gauge::default();
        registry.register(
            "long_polls_waiting",
            "Long-polls (decision, queue) waiting for a change",
            long_polls.clone(),
        );
        let notify_deliveries = Family::<SinkStateLabels, Gauge>::default();
        registry.register(
            "notify_deliveries",
            "Notification deliveries by sink and state (sent, failed, pending, disabled)",
            notify_deliveries.clone(),
        );
        let notify_oldest_pending = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "notify_oldest_pending_seconds",
            "Age of the oldest undelivered notification per sink",
            notify_oldest_pending.clone(),
        );
        let notify_attempts = Family::<SinkOutcomeLabels, Counter>::default();
        registry.register(
            "notify_attempts",
            "Notification delivery attempts by this server, by sink and outcome",
            notify_attempts.clone(),
        );
        Metrics {
            notify_deliveries,
            notify_oldest_pending,
            notify_attempts,
            long_polls,
            db_commits,
            db_writes,
            db_replays,
            db_lock_waits,
            registry,
            requests,
            proposals,
            submissions,
            time_to_decision,
            audit_head,
        }
    }

    /// Sets the group-commit gauges from the store's counters.
    pub fn set_writes(&self, stats: crate::server::store::WriteStats) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.db_commits.set(gauge(stats.commits));
        self.db_writes.set(gauge(stats.writes));
        self.db_replays.set(gauge(stats.replays));
        self.db_lock_waits.set(gauge(stats.lock_waits));
    }

    /// Sets the queue-depth gauges from fresh counts (every status listed,
    /// zero where absent, so a drained queue reads 0, not stale).
    pub fn set_counts(&self, counts: &[(ProposalStatus, i64)]) {
        for s in ProposalStatus::ALL {
            let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
            self.proposals
                .get_or_create(&StatusLabels {
                    status: s.as_str().to_owned(),
                })
                .set(n);
        }
    }

    /// Sets the delivery gauges for every configured sink (zero where the
    /// database has none, so a drained sink reads 0).
    pub fn set_deliveries(
        &self,
        sinks: &[String],
        counts: &[crate::server::store::DeliveryCount],
        now_ms: i64,
    ) {
        for sink in sinks {
            for state in ["sent", "failed", "pending", "disabled"] {
                let n = counts
                    .iter()
                    .find(|c| &c.sink == sink && c.state == state)
                    .map_or(0, |c| c.n);
                self.notify_deliveries
                    .get_or_create(&SinkStateLabels {
                        sink: sink.clone(),
                        state: state.into(),
                    })
                    .set(n);
            }
            let oldest = counts
                .iter()
                .find(|c| &c.sink == sink && c.state == "pending")
                .and_then(|c| c.oldest)
                .map_or(0, |t| (now_ms - t).max(0) / 1000);
            self.notify_oldest_pending
                .get_or_create(&SinkLabels { sink: sink.clone() })
                .set(oldest);
        }
    }

    pub fn observe_decision(&self, created_at_ms: i64, now_ms: i64) {
        let secs = (now_ms - created_at_ms).max(0) as f64 / 1000.0;
        self.time_to_decision.observe(secs);
    }

    /// Marks a long-poll as waiting until the guard is dropped.
    pub fn waiting(&self) -> Waiting {
        self.long_polls.inc();
        Waiting(self.long_polls.clone())
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
