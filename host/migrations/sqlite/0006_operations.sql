-- The webhook outbox: one row per message to one endpoint, written in the
-- transaction of the change it announces, delivered by whichever process
-- claims it (a lock, like jobs), kept after delivery for replays until it
-- is older than the retention.
CREATE TABLE webhook_messages (
    id               INTEGER PRIMARY KEY,
    endpoint         TEXT NOT NULL,
    message_id       TEXT NOT NULL,
    event            TEXT NOT NULL,
    body             TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    locked_until     INTEGER,
    lock_token       INTEGER,
    last_outcome     TEXT,
    created_at       INTEGER NOT NULL
);
CREATE INDEX webhook_messages_due ON webhook_messages (state, next_attempt_at);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint, created_at);

-- What is known of each endpoint across processes: disabled by a 410, and
-- its last attempt.
CREATE TABLE webhook_endpoints (
    name             TEXT PRIMARY KEY,
    disabled_at      INTEGER,
    last_attempt_at  INTEGER,
    last_outcome     TEXT
);

-- Requests and bytes served per UTC day (days since the epoch) and path
-- prefix, added to in batches by every process.
CREATE TABLE usage_daily (
    day       INTEGER NOT NULL,
    prefix    TEXT NOT NULL,
    requests  INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    PRIMARY KEY (day, prefix)
);

-- Requests per day of each entry served ('entry') and of each path not
-- found ('missing', entry 0); a bounded number of rows a day.
CREATE TABLE usage_paths (
    day       INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    path      TEXT NOT NULL,
    entry     INTEGER NOT NULL,
    requests  INTEGER NOT NULL,
    PRIMARY KEY (day, kind, path, entry)
);

-- Plugin calls by outcome, and their durations by bucket (see usage.rs).
CREATE TABLE plugin_calls (
    plugin   TEXT NOT NULL,
    outcome  TEXT NOT NULL,
    calls    INTEGER NOT NULL,
    PRIMARY KEY (plugin, outcome)
);
CREATE TABLE plugin_durations (
    plugin  TEXT NOT NULL,
    bucket  INTEGER NOT NULL,
    calls   INTEGER NOT NULL,
    PRIMARY KEY (plugin, bucket)
);
