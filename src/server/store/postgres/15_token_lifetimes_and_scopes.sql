-- Agent tokens that expire (`token create --ttl`, `token rotate` shortens
-- the old one's life to a grace period), record when they were last used
-- (at most once a minute per token), and carry a scope: what the agent may
-- propose, as the JSON of `domain::scope::Scope` (NULL: anything).
ALTER TABLE tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE tokens ADD COLUMN scope TEXT;
