import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import type { AssetRegistry } from '../money/assets.js'
import { newId } from '../util/ids.js'
import { convertAmount, withSpread } from './convert.js'
import type { FxQuote, FxQuoter, FxSource } from './port.js'

export interface FxQuoterOptions {
  source: FxSource
  /** The gateway's margin on the mid rate, in basis points (default 0). */
  spreadBps?: number | undefined
  /** How long a quote may be used (default 60 s). */
  quoteTtlSeconds?: number | undefined
  /** Decimals of both assets of a pair come from here only. */
  assets: AssetRegistry
  clock?: (() => Date) | undefined
}

/**
 * Quotes from a source: rate × (1 + spread), valid `quoteTtlSeconds`. A pair the source does not
 * know is `GW_FX_UNAVAILABLE` (the payment cannot be priced in the payer's asset).
 *
 * @example const fx = createFxQuoter({ source: createTableFxSource(rates), spreadBps: 50, quoteTtlSeconds: 60, assets })
 */
export function createFxQuoter(o: FxQuoterOptions): FxQuoter {
  const clock = o.clock ?? (() => new Date())
  const ttlMs = (o.quoteTtlSeconds ?? 60) * 1000
  const spread = o.spreadBps ?? 0
  withSpread('1', spread) // checks the spread at construction
  return {
    async quote({ from, to, signal }): Promise<FxQuote> {
      const mid = await o.source.rate({ from, to, signal })
      if (!mid) throw new GatewayError('GW_FX_UNAVAILABLE', `FX source ${o.source.name} has no rate for ${from} → ${to}`)
      return {
        id: newId('fxq'),
        from,
        to,
        rate: withSpread(mid.rate, spread),
        source: mid.source,
        expires_at: new Date(clock().getTime() + ttlMs).toISOString(),
      }
    },
    isFresh(q, now = clock()) {
      return Date.parse(q.expires_at) > now.getTime()
    },
    convert(amount: Money, q: FxQuote): Money {
      if (q.from !== amount.asset) throw new GatewayError('GW_INTERNAL', `quote ${q.id} converts ${q.from}, not ${amount.asset}`)
      return convertAmount(amount, q.to, q.rate, o.assets)
    },
  }
}
