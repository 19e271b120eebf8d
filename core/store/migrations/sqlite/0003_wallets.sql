-- Agent wallets (W): the wallet document gets optimistic versioning; spend is one reservation row
-- per intent (idempotent by intent id). A reservation counts against the caps only while its
-- intent is neither failed nor canceled (joined at reservation time), so every path that ends an
-- intent unpaid gives the budget back. The unused spend_counters table of 0001 stays unused.
ALTER TABLE wallets ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE wallets ADD COLUMN updated_at TEXT;
CREATE INDEX wallets_agent_created ON wallets (agent_id, created_at, id);

CREATE TABLE wallet_spend (
  intent_id TEXT NOT NULL PRIMARY KEY,
  wallet_id TEXT NOT NULL,
  amount    TEXT NOT NULL,   -- integer minor units of asset as a decimal string
  asset     TEXT NOT NULL,
  at        TEXT NOT NULL
);
CREATE INDEX wallet_spend_wallet_at ON wallet_spend (wallet_id, at);
