-- What planning a transformation needs to know about an original, learned
-- at upload so that no request has to read the original to plan.
ALTER TABLE entries ADD COLUMN has_alpha INTEGER NOT NULL DEFAULT 0;
ALTER TABLE entries ADD COLUMN pages INTEGER NOT NULL DEFAULT 1;
ALTER TABLE entries ADD COLUMN colour TEXT NOT NULL DEFAULT 'srgb';
ALTER TABLE entries ADD COLUMN lqip TEXT; -- JSON {blurhash?, thumbhash?}

-- Cached variants, one per entry and canonical transformation. A 'pending'
-- row is a lease: the process holding it is generating the variant, and
-- others wait for it until `lease_until` has passed.
CREATE TABLE variants (
    path          TEXT NOT NULL,
    entry         INTEGER NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    lease_until   INTEGER NOT NULL,
    content_type  TEXT,
    width         INTEGER,
    height        INTEGER,
    bytes         INTEGER,
    sha256        TEXT,
    object_key    TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (path, entry, key)
);

-- The durable job queue (eager variants). A job is taken by setting
-- `locked_until`; one whose lock has passed is taken again.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'queued',
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_at        INTEGER NOT NULL,
    locked_until  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL
);

CREATE INDEX jobs_due ON jobs (state, run_at);
