-- Reminders before expiry look ahead only as far as the longest lifetime
-- of an open proposal allows (a reminder is due once `share` of that time
-- has passed); the longest lifetime is read off this index, not off every
-- open proposal.
CREATE INDEX proposals_lifetime ON proposals ((expires_at - created_at))
    WHERE status IN ('pending', 'awaiting_second', 'escalated');
