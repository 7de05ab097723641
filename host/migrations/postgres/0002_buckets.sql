-- The bucket that holds each object (S3 store); NULL means the store's
-- default bucket, and is all the filesystem store ever records.
ALTER TABLE entries ADD COLUMN bucket TEXT;
ALTER TABLE variants ADD COLUMN bucket TEXT;
