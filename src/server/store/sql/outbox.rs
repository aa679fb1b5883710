//! The notification outbox and its deliveries.

/// Events not yet given to the sinks, oldest first.
pub fn outbox_unfanned_sql(lock: &str) -> String {
    format!("SELECT id, type, data FROM outbox WHERE fanned_out = 0 ORDER BY id LIMIT $1{lock}")
}

/// Marks the events whose ids are in the JSON array `$1`.
pub fn mark_fanned_sql(d: super::Dialect) -> String {
    format!(
        "UPDATE outbox SET fanned_out = 1 WHERE id IN ({})",
        d.json_texts("$1")
    )
}

/// A delivery of an event to a sink (see `ops::notify::delivery_params`).
/// Plain `VALUES ($1, …)`, so that a batch's go as one statement.
pub const ADD_DELIVERY: &str = "INSERT INTO deliveries (event_id, sink, state, attempts, \
     created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (event_id, sink) DO NOTHING";

/// Deliveries due and not leased to another dispatcher, with their event.
pub fn deliveries_due_sql(lock: &str) -> String {
    format!(
        "SELECT d.event_id, d.sink, d.attempts, d.created_at, o.type, o.at, o.data \
         FROM deliveries d JOIN outbox o ON o.id = d.event_id \
         WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1 \
         ORDER BY d.next_at LIMIT $2{lock}"
    )
}

pub const LEASE_DELIVERY: &str =
    "UPDATE deliveries SET lease_until = $1 WHERE event_id = $2 AND sink = $3";

pub const FINISH_DELIVERY: &str = "UPDATE deliveries SET state = $1, attempts = $2, \
     next_at = $3, lease_until = 0, done_at = $4, last_error = $5 \
     WHERE event_id = $6 AND sink = $7";

pub const DISABLE_SINK: &str = "UPDATE deliveries SET state = 'disabled', done_at = $1, \
     last_error = $2 WHERE sink = $3 AND state = 'pending'";

/// Open proposals past `share` (`$2`) of their time at `$1`, with no
/// reminder yet. One is due once `expires_at - $1 <= lifetime * (1 -
/// share)`, so only those expiring within the longest open lifetime times
/// `1 - share` are looked at (found by index): scanning every open
/// proposal for the few due took 50-170 ms with a backlog of 100,000, on
/// every replica every 5 seconds.
pub fn expiring_sql(d: super::Dialect, cols: &str) -> String {
    const OPEN: &str = "('pending', 'awaiting_second', 'escalated')";
    format!(
        "SELECT {cols} FROM proposals p{by_expiry} \
         WHERE p.status IN {OPEN} \
         AND p.expires_at > CAST($1 AS BIGINT) \
         AND p.expires_at <= CAST($1 AS BIGINT) + CAST( \
             (SELECT MAX(l.expires_at - l.created_at) FROM proposals l{by_lifetime} \
              WHERE l.status IN {OPEN}) \
             * (1 - CAST($2 AS DOUBLE PRECISION)) AS BIGINT) + 1 \
         AND p.created_at + (p.expires_at - p.created_at) * CAST($2 AS DOUBLE PRECISION) \
             <= CAST($1 AS BIGINT) \
         AND NOT EXISTS (SELECT 1 FROM outbox o \
             WHERE o.id = 'expiring-' || p.id || '-' || CAST(p.expires_at AS TEXT)) \
         ORDER BY p.expires_at LIMIT 200",
        by_expiry = d.indexed_by("proposals_expiry"),
        by_lifetime = d.indexed_by("proposals_lifetime"),
    )
}

pub const DELIVERY_STATS: &str = "SELECT sink, state, COUNT(*) AS n, MIN(created_at) AS oldest \
     FROM deliveries GROUP BY sink, state";

/// Delivered (or given up) events older than the retention, and their
/// deliveries: nothing pending is ever removed.
pub const PRUNE_DELIVERIES: &str = "DELETE FROM deliveries WHERE state <> 'pending' \
     AND done_at < $1";

pub const PRUNE_OUTBOX: &str = "DELETE FROM outbox WHERE fanned_out = 1 AND at < $1 \
     AND NOT EXISTS (SELECT 1 FROM deliveries WHERE deliveries.event_id = outbox.id)";
