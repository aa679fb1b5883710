-- A proposal approved as amended (narrowed) by a person: who, when, the
-- digest the agent proposed, and each replaced field (JSON).
ALTER TABLE proposals ADD COLUMN amended TEXT;
