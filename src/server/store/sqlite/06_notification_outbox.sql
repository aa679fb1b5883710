-- Notifications: every notifiable event, written in the transaction of the
-- change that causes it; then one delivery per sink that routes it.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    at INTEGER NOT NULL,
    proposal_id TEXT,
    alert_id TEXT,
    data TEXT NOT NULL,
    fanned_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_fan_out ON outbox (fanned_out, id);
CREATE TABLE deliveries (
    event_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    done_at INTEGER,
    last_error TEXT,
    PRIMARY KEY (event_id, sink)
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
