-- Entry numbers per path. A row stays after its entries are deleted so that
-- numbers are never reused.
CREATE TABLE asset_paths (
    path        TEXT PRIMARY KEY NOT NULL,
    last_entry  INTEGER NOT NULL
);

CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL,
    entry         INTEGER NOT NULL,
    alt           TEXT,
    labels        TEXT NOT NULL,   -- JSON object of string to string
    tags          TEXT NOT NULL,   -- JSON array of strings
    content_type  TEXT NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    bytes         INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    created_at    INTEGER NOT NULL, -- unix milliseconds
    modified_at   INTEGER NOT NULL, -- unix milliseconds
    UNIQUE (path, entry)
);

CREATE INDEX entries_by_modified ON entries (path, modified_at, entry);

-- Labels again, one row each, so that label filters are plain indexed joins.
CREATE TABLE entry_labels (
    entry_id  INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (entry_id, key)
);

CREATE INDEX entry_labels_by_value ON entry_labels (key, value);
