-- Agent wallets (W): the wallet document gets optimistic versioning; spend is one reservation row
-- per intent (idempotent by intent id). A reservation counts against the caps only while its
-- intent is neither failed nor canceled (joined at reservation time), so every path that ends an
-- intent unpaid gives the budget back. The unused spend_counters table of 0001 stays unused.
ALTER TABLE wallets ADD COLUMN version integer NOT NULL DEFAULT 1;
ALTER TABLE wallets ADD COLUMN updated_at timestamptz;
CREATE INDEX wallets_agent_created ON wallets (agent_id, created_at, id);

CREATE TABLE wallet_spend (
  intent_id text           NOT NULL PRIMARY KEY,
  wallet_id text           NOT NULL,
  amount    numeric(78, 0) NOT NULL CHECK (amount >= 0), -- integer minor units of asset
  asset     text           NOT NULL,
  at        timestamptz    NOT NULL
);
CREATE INDEX wallet_spend_wallet_at ON wallet_spend (wallet_id, at);
