-- Containment for a while: when an executed containment action runs out
-- (`contain_for`), the gate proposes its revert. Found by index.
ALTER TABLE proposals ADD COLUMN contain_until BIGINT;
CREATE INDEX proposals_contained ON proposals (contain_until) WHERE contain_until IS NOT NULL;
