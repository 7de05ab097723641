-- How many times an entry's variants were purged: part of what identifies
-- a remembered variant row, so that a purge in any process makes every
-- process's memory of the entry's variants miss.
ALTER TABLE entries ADD COLUMN purges BIGINT NOT NULL DEFAULT 0;
