-- Claims: who is working on a proposal (a renewable lease).
ALTER TABLE proposals ADD COLUMN claimed_by TEXT;
ALTER TABLE proposals ADD COLUMN claim_until INTEGER;
