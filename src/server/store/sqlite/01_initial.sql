CREATE TABLE alerts (
    id          TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    external_id TEXT NOT NULL,
    source      TEXT NOT NULL,
    severity    TEXT NOT NULL,
    title       TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    confidence  REAL NOT NULL,
    revision    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    document    TEXT NOT NULL,
    UNIQUE (agent, external_id)
);

CREATE TABLE proposals (
    id           TEXT PRIMARY KEY,
    alert_id     TEXT NOT NULL REFERENCES alerts (id),
    idx          INTEGER NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT NOT NULL,
    risk         TEXT NOT NULL,
    status       TEXT NOT NULL,
    digest       TEXT NOT NULL,
    document     TEXT NOT NULL,
    proposed_by  TEXT NOT NULL,
    rule         TEXT NOT NULL,
    approvals    TEXT NOT NULL,
    escalated_by TEXT,
    decided_by   TEXT,
    reason       TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    escalate_at  INTEGER,
    execute_by   INTEGER,
    decided_at   INTEGER,
    change_seq   INTEGER NOT NULL,
    UNIQUE (alert_id, idx)
);
CREATE INDEX proposals_change ON proposals (change_seq);
CREATE INDEX proposals_status ON proposals (status, change_seq);
CREATE INDEX proposals_agent ON proposals (proposed_by, change_seq);
CREATE INDEX proposals_expiry ON proposals (expires_at)
    WHERE status IN ('pending', 'awaiting_second', 'escalated');
CREATE INDEX proposals_escalate ON proposals (escalate_at) WHERE status = 'pending';
CREATE INDEX proposals_execute ON proposals (execute_by) WHERE status = 'approved';

-- Who approved, escalated or decided what: the "mine" view.
CREATE TABLE participants (
    principal   TEXT NOT NULL,
    proposal_id TEXT NOT NULL REFERENCES proposals (id),
    PRIMARY KEY (principal, proposal_id)
) WITHOUT ROWID;

-- The hash-chained audit log. `entry` holds the exact hashed bytes.
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    alert_id    TEXT,
    proposal_id TEXT,
    entry       TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_alert ON audit (alert_id, seq);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
