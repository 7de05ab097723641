-- The PostgreSQL catalog: the same tables as the SQLite one. Paths use the
-- "C" collation so that the tree range ["p/", "p0") means "below p", byte-wise.

CREATE TABLE asset_paths (
    path        TEXT COLLATE "C" PRIMARY KEY,
    last_entry  BIGINT NOT NULL
);

CREATE TABLE entries (
    id            BIGSERIAL PRIMARY KEY,
    path          TEXT COLLATE "C" NOT NULL,
    entry         BIGINT NOT NULL,
    alt           TEXT,
    labels        TEXT NOT NULL,
    tags          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    width         BIGINT NOT NULL,
    height        BIGINT NOT NULL,
    bytes         BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    modified_at   BIGINT NOT NULL,
    has_alpha     BOOLEAN NOT NULL DEFAULT FALSE,
    pages         BIGINT NOT NULL DEFAULT 1,
    colour        TEXT NOT NULL DEFAULT 'srgb',
    lqip          TEXT,
    UNIQUE (path, entry)
);

CREATE INDEX entries_by_modified ON entries (path, modified_at, entry);

CREATE TABLE entry_labels (
    entry_id  BIGINT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (entry_id, key)
);

CREATE INDEX entry_labels_by_value ON entry_labels (key, value);

CREATE TABLE variants (
    path          TEXT COLLATE "C" NOT NULL,
    entry         BIGINT NOT NULL,
    key           TEXT NOT NULL,
    state         TEXT NOT NULL,
    lease_until   BIGINT NOT NULL,
    content_type  TEXT,
    width         BIGINT,
    height        BIGINT,
    bytes         BIGINT,
    sha256        TEXT,
    object_key    TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (path, entry, key)
);

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'queued',
    attempts      BIGINT NOT NULL DEFAULT 0,
    run_at        BIGINT NOT NULL,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL
);

CREATE INDEX jobs_due ON jobs (state, run_at);
