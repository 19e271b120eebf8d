-- Refunds (one row per refund of a settled intent; the intent's refunds[] mirrors it) and
-- disputes with their evidence bundle. Issue 10, refunds and disputes.
CREATE TABLE refunds (
  id          text        NOT NULL PRIMARY KEY,
  intent_id   text        NOT NULL,
  merchant_id text        NOT NULL,
  dedupe_key  text,                  -- unique per intent: a repeated request finds the same refund
  status      text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  doc         jsonb       NOT NULL,  -- the RefundRecord
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX refunds_dedupe ON refunds (intent_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX refunds_intent ON refunds (intent_id, created_at);

CREATE TABLE disputes (
  id          text        NOT NULL PRIMARY KEY,
  intent_id   text        NOT NULL,
  merchant_id text        NOT NULL,
  status      text        NOT NULL,
  doc         jsonb       NOT NULL,  -- the DisputeRecord with its evidence bundle
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL
);
CREATE INDEX disputes_intent ON disputes (intent_id, id);
CREATE INDEX disputes_merchant ON disputes (merchant_id, id);
