-- The token of the lease a pending variant is made under, and of the lock a
-- running job is held by: completing or giving up names it, so a holder
-- whose lease lapsed cannot finish or undo the work of the one that took over.
ALTER TABLE variants ADD COLUMN lease_token BIGINT;
ALTER TABLE jobs ADD COLUMN lock_token BIGINT;

-- Variants are found by the SHA-256 of their key: a key carries a URL's
-- plugin parameters and can outgrow what a btree index entry may hold.
ALTER TABLE variants ADD COLUMN key_hash BYTEA;
UPDATE variants SET key_hash = sha256(convert_to(key, 'UTF8'));
ALTER TABLE variants ALTER COLUMN key_hash SET NOT NULL;
ALTER TABLE variants DROP CONSTRAINT variants_pkey;
ALTER TABLE variants ADD PRIMARY KEY (path, entry, key_hash);
