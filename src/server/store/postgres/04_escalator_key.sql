-- One key is one person: the escalator's key, beside the name.
ALTER TABLE proposals ADD COLUMN escalated_by_key TEXT;
