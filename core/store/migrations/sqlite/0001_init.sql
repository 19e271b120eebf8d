-- agentswitch schema v1 (SQLite). DESIGN §5.
-- Conventions: times are ISO-8601 UTC strings (`Date.toISOString()`, so they sort and compare
-- as text); money is integer minor units as TEXT, never REAL; JSON documents are TEXT.

CREATE TABLE intents (
  id          TEXT    NOT NULL PRIMARY KEY,
  merchant_id TEXT    NOT NULL,
  protocol    TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  version     INTEGER NOT NULL CHECK (version >= 1),
  dedupe_key  TEXT,
  doc         TEXT    NOT NULL,            -- the whole PaymentIntent (JSON)
  audit_head  TEXT    NOT NULL,            -- hash of the newest audit event
  audit_seq   INTEGER NOT NULL,            -- seq of the newest audit event
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL
);
-- UNIQUE (merchant_id, dedupe_key) for the intents that have a key: partial, so an intent without
-- one costs no index write (inserts use ON CONFLICT (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL).
CREATE UNIQUE INDEX intents_merchant_dedupe ON intents (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- Lists by merchant, and by merchant and status, newest first (scanned backwards, never sorted).
-- Ascending on purpose: new ids are the largest, so inserts append at the right edge of each
-- b-tree (the cheap split) instead of the left. Every index costs page writes on every insert.
CREATE INDEX intents_merchant_id ON intents (merchant_id, id);
CREATE INDEX intents_merchant_status_id ON intents (merchant_id, status, id);

CREATE TABLE intent_events (
  intent_id TEXT    NOT NULL REFERENCES intents (id),
  seq       INTEGER NOT NULL CHECK (seq >= 1),
  type      TEXT    NOT NULL,
  actor     TEXT    NOT NULL,
  at        TEXT    NOT NULL,
  doc       TEXT    NOT NULL,              -- the whole AuditEvent (JSON)
  hash      TEXT    NOT NULL,
  PRIMARY KEY (intent_id, seq)
);

CREATE TABLE idempotency_keys (
  scope        TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  fingerprint  TEXT    NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('in_flight', 'done')),
  owner        TEXT    NOT NULL,
  locked_until TEXT,
  status_code  INTEGER,
  headers      TEXT,                       -- JSON object
  body         TEXT,
  created_at   TEXT    NOT NULL,
  completed_at TEXT,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_completed ON idempotency_keys (completed_at) WHERE state = 'done';

CREATE TABLE outbox (
  id              TEXT    NOT NULL PRIMARY KEY,
  type            TEXT    NOT NULL,
  destination     TEXT    NOT NULL,
  payload         TEXT    NOT NULL,
  aggregate_id    TEXT,
  state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT    NOT NULL,
  claimed_by      TEXT,
  claimed_until   TEXT,
  created_at      TEXT    NOT NULL,
  delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE outbox_attempts (
  id          INTEGER PRIMARY KEY,
  outbox_id   TEXT    NOT NULL REFERENCES outbox (id),
  attempt     INTEGER NOT NULL,
  worker_id   TEXT    NOT NULL,
  at          TEXT    NOT NULL,
  duration_ms INTEGER NOT NULL,
  status_code INTEGER,
  error       TEXT,
  result      TEXT    NOT NULL CHECK (result IN ('delivered', 'retry', 'dead'))
);
CREATE INDEX outbox_attempts_outbox ON outbox_attempts (outbox_id, id);

CREATE TABLE replay_locks (
  namespace  TEXT NOT NULL,
  key        TEXT NOT NULL,
  holder     TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX replay_locks_expires ON replay_locks (expires_at);

CREATE TABLE api_keys (
  hash         TEXT NOT NULL PRIMARY KEY,  -- SHA-256 hex of the key; the key itself is never stored
  id           TEXT NOT NULL UNIQUE,
  kind         TEXT NOT NULL CHECK (kind IN ('admin', 'merchant', 'agent')),
  principal_id TEXT NOT NULL,
  scopes       TEXT NOT NULL,              -- JSON array
  created_at   TEXT NOT NULL,
  revoked_at   TEXT
);

-- Tables of later features, created now so the schema matches DESIGN §5.

CREATE TABLE checkout_sessions (
  id          TEXT    NOT NULL PRIMARY KEY,
  protocol    TEXT    NOT NULL,
  merchant_id TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  doc         TEXT    NOT NULL,
  version     INTEGER NOT NULL DEFAULT 1,
  created_at  TEXT    NOT NULL,
  updated_at  TEXT    NOT NULL
);
CREATE INDEX checkout_sessions_merchant ON checkout_sessions (merchant_id, id DESC);

CREATE TABLE wallets (
  id         TEXT NOT NULL PRIMARY KEY,
  user_id    TEXT NOT NULL,
  agent_id   TEXT,
  doc        TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX wallets_user ON wallets (user_id);
CREATE INDEX wallets_agent ON wallets (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE spend_counters (
  wallet_id    TEXT NOT NULL REFERENCES wallets (id),
  period       TEXT NOT NULL,              -- e.g. 'day', 'month'
  window_start TEXT NOT NULL,
  spent        TEXT NOT NULL DEFAULT '0',  -- integer minor units as a decimal string
  PRIMARY KEY (wallet_id, period, window_start)
);

CREATE TABLE tokens (
  id         TEXT NOT NULL PRIMARY KEY,
  doc        TEXT NOT NULL,
  state      TEXT NOT NULL,
  expires_at TEXT NOT NULL
);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE mandates (
  id         TEXT NOT NULL PRIMARY KEY,
  doc        TEXT NOT NULL,
  created_at TEXT NOT NULL
);
