-- AP2: every use of an open payment mandate (budget, recurrence, single use), keyed by the open
-- mandate's hash; one row per closed mandate that used it (idempotent by spend_id).
CREATE TABLE mandate_spend (
  mandate_id text           NOT NULL,
  spend_id   text           NOT NULL,
  amount     numeric(78, 0) NOT NULL CHECK (amount >= 0), -- integer minor units
  currency   text           NOT NULL,
  at         timestamptz    NOT NULL,
  PRIMARY KEY (mandate_id, spend_id)
);
