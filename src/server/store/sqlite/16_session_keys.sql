-- Sessions remember what logged in: the key or certificate in OpenSSH
-- text form, and a FIDO security key's flags (NULL for other keys). A
-- reload of allowed_signers re-checks every open session with them and
-- ends those it no longer admits (so does every start); a session without
-- a key (opened before this migration) is ended at the first start.
ALTER TABLE sessions ADD COLUMN login_key TEXT;
ALTER TABLE sessions ADD COLUMN sk_flags INTEGER;
