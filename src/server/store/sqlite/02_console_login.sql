-- Console login: single-use challenges and short-lived sessions.
CREATE TABLE challenges (
    challenge  TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    principal  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Every accepted signed payload's nonce: a replay is refused.
CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY,
    seq   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE annotations (
    id         TEXT PRIMARY KEY,
    alert_id   TEXT NOT NULL REFERENCES alerts (id),
    principal  TEXT NOT NULL,
    note       TEXT NOT NULL,
    labels     TEXT NOT NULL,
    digest     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    seq        INTEGER NOT NULL
);
CREATE INDEX annotations_alert ON annotations (alert_id, seq);
