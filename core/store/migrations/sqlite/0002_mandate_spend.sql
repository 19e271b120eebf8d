-- AP2: every use of an open payment mandate (budget, recurrence, single use), keyed by the open
-- mandate's hash; one row per closed mandate that used it (idempotent by spend_id).
CREATE TABLE mandate_spend (
  mandate_id TEXT NOT NULL,
  spend_id   TEXT NOT NULL,
  amount     TEXT NOT NULL,   -- integer minor units as a decimal string
  currency   TEXT NOT NULL,
  at         TEXT NOT NULL,
  PRIMARY KEY (mandate_id, spend_id)
);
