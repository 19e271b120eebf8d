-- Risk rules (velocity, amount history, first purchase): expression indexes over the intent
-- document, so the rules read the intents table itself (one source of truth, no extra write
-- path). The queries in postgres/riskQueries.ts use exactly these expressions.
CREATE INDEX intents_risk_agent ON intents ((doc -> 'payer' ->> 'agent_id'), created_at);
CREATE INDEX intents_risk_payer ON intents ((coalesce(doc -> 'payer' ->> 'user_id', doc -> 'payer' ->> 'address')), created_at)
  WHERE coalesce(doc -> 'payer' ->> 'user_id', doc -> 'payer' ->> 'address') IS NOT NULL;
