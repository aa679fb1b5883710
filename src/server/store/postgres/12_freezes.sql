-- Freezes in force: a lead's stop on one agent, or on every agent (`*`).
-- Lifting one deletes its row; the audit log records both, signed.
CREATE TABLE freezes (
    agent TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    principal TEXT NOT NULL,
    reason TEXT NOT NULL,
    since BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
