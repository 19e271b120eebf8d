-- agentswitch schema v1 (PostgreSQL). DESIGN §5.
-- Conventions: times are timestamptz; money is integer minor units as NUMERIC(78,0) (never
-- float); JSON documents are jsonb (queryable), except audit events and bodies to replay, which
-- keep their exact bytes as text. Tables are created in the connection's search_path.

CREATE TABLE intents (
  id          text        NOT NULL PRIMARY KEY,
  merchant_id text        NOT NULL,
  protocol    text        NOT NULL,
  status      text        NOT NULL,
  version     integer     NOT NULL CHECK (version >= 1),
  dedupe_key  text,
  doc         jsonb       NOT NULL,        -- the whole PaymentIntent
  audit_head  text        NOT NULL,        -- hash of the newest audit event
  audit_seq   integer     NOT NULL,        -- seq of the newest audit event
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
-- UNIQUE (merchant_id, dedupe_key) for the intents that have a key: partial, so an intent without
-- one costs no index write (inserts use ON CONFLICT (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL).
CREATE UNIQUE INDEX intents_merchant_dedupe ON intents (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- Lists by merchant, and by merchant and status, newest first (scanned backwards, never sorted).
-- Ascending on purpose: new ids are the largest, so inserts append at the right edge of each
-- b-tree (the cheap split) instead of the left. Every index costs page writes on every insert.
CREATE INDEX intents_merchant_id ON intents (merchant_id, id);
CREATE INDEX intents_merchant_status_id ON intents (merchant_id, status, id);

-- No FOREIGN KEY to intents on purpose: its check takes a FOR KEY SHARE lock on the intent row,
-- an extra WAL record on every insert (measured: 10-20 % of insert throughput). An event is only ever
-- written by the statement that inserts or conditionally updates its intent (it selects from that
-- write's RETURNING), so an orphan cannot be created; verifyAuditChain checks the rest.
CREATE TABLE intent_events (
  intent_id text        NOT NULL,
  seq       integer     NOT NULL CHECK (seq >= 1),
  type      text        NOT NULL,
  actor     text        NOT NULL,
  at        timestamptz NOT NULL,
  doc       text        NOT NULL,          -- the whole AuditEvent, exactly as written (JSON)
  hash      text        NOT NULL,
  PRIMARY KEY (intent_id, seq)
);

CREATE TABLE idempotency_keys (
  scope        text        NOT NULL,
  key          text        NOT NULL,
  fingerprint  text        NOT NULL,
  state        text        NOT NULL CHECK (state IN ('in_flight', 'done')),
  owner        text        NOT NULL,
  locked_until timestamptz,
  status_code  integer,
  headers      jsonb,
  body         text,                       -- replayed byte-for-byte: text, not json
  created_at   timestamptz NOT NULL,
  completed_at timestamptz,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_completed ON idempotency_keys (completed_at) WHERE state = 'done';

CREATE TABLE outbox (
  id              text        NOT NULL PRIMARY KEY,
  type            text        NOT NULL,
  destination     text        NOT NULL,
  payload         text        NOT NULL,    -- the exact body to deliver
  aggregate_id    text,
  state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  claimed_by      text,
  claimed_until   timestamptz,
  created_at      timestamptz NOT NULL,
  delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE outbox_attempts (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id   text        NOT NULL REFERENCES outbox (id),
  attempt     integer     NOT NULL,
  worker_id   text        NOT NULL,
  at          timestamptz NOT NULL,
  duration_ms integer     NOT NULL,
  status_code integer,
  error       text,
  result      text        NOT NULL CHECK (result IN ('delivered', 'retry', 'dead'))
);
CREATE INDEX outbox_attempts_outbox ON outbox_attempts (outbox_id, id);

CREATE TABLE replay_locks (
  namespace  text        NOT NULL,
  key        text        NOT NULL,
  holder     text        NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (namespace, key)
);
CREATE INDEX replay_locks_expires ON replay_locks (expires_at);

CREATE TABLE api_keys (
  hash         text        NOT NULL PRIMARY KEY, -- SHA-256 hex of the key; the key itself is never stored
  id           text        NOT NULL UNIQUE,
  kind         text        NOT NULL CHECK (kind IN ('admin', 'merchant', 'agent')),
  principal_id text        NOT NULL,
  scopes       jsonb       NOT NULL,
  created_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);

-- Tables of later features, created now so the schema matches DESIGN §5.

CREATE TABLE checkout_sessions (
  id          text        NOT NULL PRIMARY KEY,
  protocol    text        NOT NULL,
  merchant_id text        NOT NULL,
  status      text        NOT NULL,
  doc         jsonb       NOT NULL,
  version     integer     NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX checkout_sessions_merchant ON checkout_sessions (merchant_id, id DESC);

CREATE TABLE wallets (
  id         text        NOT NULL PRIMARY KEY,
  user_id    text        NOT NULL,
  agent_id   text,
  doc        jsonb       NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE INDEX wallets_user ON wallets (user_id);
CREATE INDEX wallets_agent ON wallets (agent_id) WHERE agent_id IS NOT NULL;

CREATE TABLE spend_counters (
  wallet_id    text          NOT NULL REFERENCES wallets (id),
  period       text          NOT NULL,   -- e.g. 'day', 'month'
  window_start timestamptz   NOT NULL,
  spent        numeric(78, 0) NOT NULL DEFAULT 0 CHECK (spent >= 0), -- integer minor units
  PRIMARY KEY (wallet_id, period, window_start)
);

CREATE TABLE tokens (
  id         text        NOT NULL PRIMARY KEY,
  doc        jsonb       NOT NULL,
  state      text        NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_expires ON tokens (expires_at);

CREATE TABLE mandates (
  id         text        NOT NULL PRIMARY KEY,
  doc        jsonb       NOT NULL,
  created_at timestamptz NOT NULL
);
