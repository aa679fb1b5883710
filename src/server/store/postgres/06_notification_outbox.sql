-- Notifications: every notifiable event, written in the transaction of the
-- change that causes it; then one delivery per sink that routes it.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
    proposal_id TEXT,
    alert_id TEXT,
    data TEXT NOT NULL,
    fanned_out BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_fan_out ON outbox (fanned_out, id);
CREATE TABLE deliveries (
    event_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    done_at BIGINT,
    last_error TEXT,
    PRIMARY KEY (event_id, sink)
);
CREATE INDEX deliveries_due ON deliveries (state, next_at);
