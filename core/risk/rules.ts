import type { PaymentIntent } from '../intent/types.js'
import { parseMinorUnits } from '../money/amount.js'
import type { Store } from '../store/port.js'

/** What a rule asks for when it fires. */
export type RiskAction = 'review' | 'deny'

/**
 * One configured risk rule (config `risk.rules[]`, schema `core/config/schema.json`). Each fires
 * with a snake_case reason code; `action` says whether a person must approve (`review`) or the
 * payment is declined (`deny`).
 */
export type RiskRuleConfig =
  /** More than `max` intents from one agent (or one payer) within `windowSeconds`. Reason `velocity_agent_exceeded` / `velocity_payer_exceeded`. */
  | { type: 'velocity'; scope: 'agent' | 'payer'; windowSeconds: number; max: number; action: RiskAction }
  /**
   * The amount exceeds `multiplier` × the median of the agent's last `history` paid intents in the
   * same asset (only once it has at least `minHistory` of them). Reason `amount_anomaly`.
   */
  | { type: 'amount_anomaly'; multiplier: number; history: number; minHistory: number; action: RiskAction }
  /** The agent has never paid this merchant before (optionally only from `minAmount` minor units on). Reason `first_purchase_from_merchant`. */
  | { type: 'first_merchant'; minAmount?: string | undefined; action: RiskAction }
  /** The payer's region differs from the merchant's (both must be known). Reason `region_mismatch`. */
  | { type: 'region_mismatch'; action: RiskAction }
  /** The payer's currency differs from the merchant's (both must be known). Reason `currency_mismatch`. */
  | { type: 'currency_mismatch'; action: RiskAction }

/** Where a party is and what it pays in (config `risk.merchants` / `risk.payers`). */
export interface RiskProfile {
  /** ISO 3166-1 alpha-2, e.g. `CN`. */
  region?: string | undefined
  /** ISO 4217, e.g. `CNY`. */
  currency?: string | undefined
}

/** The `risk` config section. */
export interface RiskConfig {
  rules: RiskRuleConfig[]
  /** By merchant id. */
  merchants?: Record<string, RiskProfile> | undefined
  /** By agent id; the intent's `metadata.payer_region` / `metadata.payer_currency` take precedence. */
  payers?: Record<string, RiskProfile> | undefined
}

/** One rule's finding. */
export interface RiskFinding {
  rule: RiskRuleConfig['type']
  /** `fired` findings carry the rule's action; `pass` ones are recorded as facts only. */
  outcome: 'pass' | RiskAction
  reason: string
  /** Facts behind it (counts, medians): for the audit chain, never secrets. */
  facts?: Record<string, string | number> | undefined
}

export interface RiskRuleDeps {
  store: Store
  config: RiskConfig
  clock?: (() => Date) | undefined
}

/** The median of integer amounts (the lower middle one for an even count), exact in bigint. */
export function medianOf(values: readonly bigint[]): bigint | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return sorted[Math.floor((sorted.length - 1) / 2)]
}

/** The payer key of velocity-per-payer: the person behind the agent, else the paying address. */
export function payerKey(intent: PaymentIntent): string | undefined {
  return intent.payer.user_id ?? intent.payer.address
}

function currencyOfAsset(asset: string): string | undefined {
  return asset.startsWith('iso4217:') ? asset.slice('iso4217:'.length) : undefined
}

/**
 * Evaluate one rule for `intent`. Pure apart from the store reads (counts and history from the
 * intents table itself, so they hold across gateway instances).
 */
export async function evaluateRule(deps: RiskRuleDeps, rule: RiskRuleConfig, intent: PaymentIntent): Promise<RiskFinding> {
  const fire = (reason: string, facts?: Record<string, string | number>): RiskFinding => ({ rule: rule.type, outcome: rule.action, reason, ...(facts ? { facts } : {}) })
  const pass = (reason: string, facts?: Record<string, string | number>): RiskFinding => ({ rule: rule.type, outcome: 'pass', reason, ...(facts ? { facts } : {}) })
  switch (rule.type) {
    case 'velocity': {
      // A payer the agent did not name is counted as the agent itself: leaving it out never escapes the rule.
      const named = rule.scope === 'payer' ? payerKey(intent) : undefined
      const by = named === undefined ? 'agent' : 'payer'
      const key = named ?? intent.payer.agent_id
      const now = (deps.clock ?? (() => new Date()))()
      const since = new Date(now.getTime() - rule.windowSeconds * 1000)
      // This intent is already stored: count the others, then add it.
      const count = (await deps.store.riskCountIntents({ by, key, since, excludeId: intent.id })) + 1
      const facts = { count, max: rule.max, window_seconds: rule.windowSeconds }
      return count > rule.max ? fire(`velocity_${rule.scope}_exceeded`, facts) : pass(`velocity_${rule.scope}_ok`, facts)
    }
    case 'amount_anomaly': {
      const history = await deps.store.riskPaidAmounts({ agentId: intent.payer.agent_id, asset: intent.amount.asset, limit: rule.history, excludeId: intent.id })
      if (history.length < rule.minHistory) return pass('amount_history_too_short', { history: history.length })
      const median = medianOf(history.map((v) => parseMinorUnits(v)))!
      const amount = parseMinorUnits(intent.amount.value)
      const facts = { median: median.toString(), multiplier: rule.multiplier, history: history.length }
      return amount > median * BigInt(rule.multiplier) ? fire('amount_anomaly', facts) : pass('amount_usual', facts)
    }
    case 'first_merchant': {
      if (rule.minAmount !== undefined && parseMinorUnits(intent.amount.value) < parseMinorUnits(rule.minAmount)) return pass('first_purchase_below_minimum')
      const before = await deps.store.riskHasPaidMerchant({ agentId: intent.payer.agent_id, merchantId: intent.merchant_id })
      return before ? pass('known_merchant') : fire('first_purchase_from_merchant')
    }
    case 'region_mismatch': {
      // The operator's configuration wins over what the agent writes in metadata (an empty value counts as none).
      const payer = deps.config.payers?.[intent.payer.agent_id]?.region || intent.metadata?.['payer_region'] || undefined
      const merchant = deps.config.merchants?.[intent.merchant_id]?.region
      if (!payer || !merchant) return pass('region_unknown')
      const facts = { payer_region: payer.toUpperCase(), merchant_region: merchant.toUpperCase() }
      return payer.toUpperCase() === merchant.toUpperCase() ? pass('region_match', facts) : fire('region_mismatch', facts)
    }
    case 'currency_mismatch': {
      const payer = deps.config.payers?.[intent.payer.agent_id]?.currency || intent.metadata?.['payer_currency'] || undefined
      const merchant = deps.config.merchants?.[intent.merchant_id]?.currency ?? currencyOfAsset(intent.amount.asset)
      if (!payer || !merchant) return pass('currency_unknown')
      const facts = { payer_currency: payer.toUpperCase(), merchant_currency: merchant.toUpperCase() }
      return payer.toUpperCase() === merchant.toUpperCase() ? pass('currency_match', facts) : fire('currency_mismatch', facts)
    }
  }
}
