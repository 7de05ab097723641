-- The token of the lease a pending variant is made under, and of the lock a
-- running job is held by: completing or giving up names it, so a holder
-- whose lease lapsed cannot finish or undo the work of the one that took over.
ALTER TABLE variants ADD COLUMN lease_token INTEGER;
ALTER TABLE jobs ADD COLUMN lock_token INTEGER;
