-- Sampled review of policy approvals: the sample (rate, window, outcome)
-- as JSON, and while it waits for a person the time it is due, so the
-- sampled view and the deadline sweep find it by index.
ALTER TABLE proposals ADD COLUMN sample TEXT;
ALTER TABLE proposals ADD COLUMN sample_due BIGINT;
CREATE INDEX proposals_sample_due ON proposals (sample_due) WHERE sample_due IS NOT NULL;
-- The lead's oversight view reads the audit log over a time window.
CREATE INDEX audit_at ON audit (at);
