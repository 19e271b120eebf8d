-- Risk rules (velocity, amount history, first purchase): expression indexes over the intent
-- document, so the rules read the intents table itself (one source of truth, no extra write
-- path). The queries in sqlite/riskQueries.ts use exactly these expressions.
CREATE INDEX intents_risk_agent ON intents (json_extract(doc, '$.payer.agent_id'), created_at);
CREATE INDEX intents_risk_payer ON intents (coalesce(json_extract(doc, '$.payer.user_id'), json_extract(doc, '$.payer.address')), created_at)
  WHERE coalesce(json_extract(doc, '$.payer.user_id'), json_extract(doc, '$.payer.address')) IS NOT NULL;
