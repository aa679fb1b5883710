-- The chain head for a writer, in one statement: with `wait`, after
-- waiting for the chain lock; without, only if the lock was free (else no
-- head, `locked` false). VOLATILE, so that in READ COMMITTED the head is
-- read on a snapshot taken after the lock (a statement that took the lock
-- and read the head itself would read it on a snapshot from before: a
-- commit of the replica that held the lock unseen).
CREATE FUNCTION countersign_chain_head(lock_key BIGINT, wait BOOLEAN)
RETURNS TABLE (locked BOOLEAN, seq BIGINT, hash TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(lock_key);
    ELSIF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN QUERY SELECT false, NULL::BIGINT, NULL::TEXT;
        RETURN;
    END IF;
    RETURN QUERY SELECT true, a.seq, a.hash
        FROM (SELECT 1) one
        LEFT JOIN LATERAL (
            SELECT audit.seq, audit.hash FROM audit ORDER BY audit.seq DESC LIMIT 1
        ) a ON true;
END $$;

-- Audit entries (a few kB: an alert's entry holds its document) were
-- compressed with pglz, a tenth of PostgreSQL's time per proposal taken.
-- lz4 where this server has it (new values; old ones stay as they are).
DO $$ BEGIN
    ALTER TABLE audit ALTER COLUMN entry SET COMPRESSION lz4;
    ALTER TABLE alerts ALTER COLUMN document SET COMPRESSION lz4;
    ALTER TABLE proposals ALTER COLUMN document SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available: entries stay compressed with pglz';
END $$;
