-- Refunds (one row per refund of a settled intent; the intent's refunds[] mirrors it) and
-- disputes with their evidence bundle. Issue 10, refunds and disputes.
CREATE TABLE refunds (
  id          TEXT NOT NULL PRIMARY KEY,
  intent_id   TEXT NOT NULL,
  merchant_id TEXT NOT NULL,
  dedupe_key  TEXT,            -- unique per intent: a repeated request finds the same refund
  status      TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  doc         TEXT NOT NULL,   -- the RefundRecord as JSON
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX refunds_dedupe ON refunds (intent_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX refunds_intent ON refunds (intent_id, created_at);

CREATE TABLE disputes (
  id          TEXT NOT NULL PRIMARY KEY,
  intent_id   TEXT NOT NULL,
  merchant_id TEXT NOT NULL,
  status      TEXT NOT NULL,
  doc         TEXT NOT NULL,   -- the DisputeRecord (with its evidence bundle) as JSON
  created_at  TEXT NOT NULL,
  updated_at  TEXT NOT NULL
);
CREATE INDEX disputes_intent ON disputes (intent_id, id);
CREATE INDEX disputes_merchant ON disputes (merchant_id, id);
