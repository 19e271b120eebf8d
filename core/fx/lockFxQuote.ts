import { GatewayError } from '../errors/gatewayError.js'
import type { PaymentIntent } from '../intent/types.js'
import { normalizeAssetId } from '../money/assets.js'
import { transitionIntent, type TransitionIntentDeps } from '../pipeline/transitionIntent.js'
import type { FxQuoter } from './port.js'

export interface LockFxQuoteParameters {
  /** The intent as last read (its `version` guards the write). */
  intent: PaymentIntent
  /** The asset the rail settles (routing's `settlementAsset`). */
  to: string
  /** Absent when no FX source is configured: then an existing fresh quote is kept, anything else fails. */
  quoter?: FxQuoter | undefined
  actor: string
  now?: Date | undefined
  signal?: AbortSignal | undefined
}

/**
 * Make sure an intent about to be sent to a rail carries a FRESH quote into `to` (DESIGN §4 step 4):
 *
 * - same asset: nothing to do;
 * - no quote yet: quote, convert, and record `fx_quote` + `settlement_amount` (audit `fx_quoted`);
 * - a quote that is still fresh: kept as is (the amount the payer was shown);
 * - an EXPIRED quote: never reused silently: a new quote with a new id replaces it and the audit
 *   chain records both (`fx_requoted`, `replaces`).
 *
 * Only for intents not yet sent (`authorized`): once a rail has the settlement amount, the quote is
 * fixed forever. Throws `GW_FX_UNAVAILABLE` when no quote can be made.
 *
 * @example intent = await lockFxQuote({ store }, { intent, to: 'iso4217:CNY', quoter, actor: 'system:routing' })
 */
export async function lockFxQuote(deps: TransitionIntentDeps, p: LockFxQuoteParameters): Promise<PaymentIntent> {
  const { intent } = p
  const from = normalizeAssetId(intent.amount.asset) ?? intent.amount.asset
  const to = normalizeAssetId(p.to) ?? p.to
  if (from === to) return intent
  const old = intent.fx_quote
  const matches = old !== undefined && old.from === from && old.to === to && intent.settlement_amount !== undefined
  const now = p.now ?? (deps.clock ?? (() => new Date()))()
  if (matches && Date.parse(old.expires_at) > now.getTime()) return intent
  if (!p.quoter) {
    throw new GatewayError('GW_FX_UNAVAILABLE', old ? `the FX quote ${old.id ?? ''} expired at ${old.expires_at} and no FX source is configured to renew it` : `no FX source is configured to convert ${from} into ${to}`)
  }
  const quote = await p.quoter.quote({ from, to, signal: p.signal })
  const settlement = p.quoter.convert({ value: intent.amount.value, asset: from }, quote)
  return transitionIntent(deps, {
    intentId: intent.id,
    event: 'annotate',
    actor: p.actor,
    reason: old ? 'fx_requoted' : 'fx_quoted',
    expectedVersion: intent.version,
    data: {
      quote,
      amount: intent.amount,
      settlement_amount: settlement,
      ...(old ? { replaces: { id: old.id ?? null, rate: old.rate, expires_at: old.expires_at, settlement_amount: intent.settlement_amount ?? null } } : {}),
    },
    patch: () => ({ fx_quote: quote, settlement_amount: settlement }),
  })
}
