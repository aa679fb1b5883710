-- `policy_loaded` entries (the policy in force, by digest): a server
-- reads the last one at start and on reload, and writes a new one only
-- when the digest differs. The index holds just those entries.
CREATE INDEX audit_policy ON audit (seq) WHERE kind = 'policy_loaded';
