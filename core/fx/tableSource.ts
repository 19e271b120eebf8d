import { GatewayError } from '../errors/gatewayError.js'
import { normalizeAssetId } from '../money/assets.js'
import { invertRate, parseRate } from './convert.js'
import type { FxRate, FxSource } from './port.js'

/** One configured rate: units of `to` per unit of `from`. */
export interface FxTableEntry {
  from: string
  to: string
  rate: string
}

/**
 * The default FX source: a rate table from configuration (`fx.rates`). A pair configured only the
 * other way round is answered with the exact inverse (18 decimals, half up). Rates are checked at
 * construction, so a bad table stops start-up.
 *
 * @example createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }])
 */
export function createTableFxSource(entries: readonly FxTableEntry[], name = 'table'): FxSource {
  const table = new Map<string, string>()
  const key = (from: string, to: string): string => `${normalizeAssetId(from) ?? from}>${normalizeAssetId(to) ?? to}`
  for (const [i, e] of entries.entries()) {
    try {
      parseRate(e.rate)
    } catch (err) {
      throw new GatewayError('GW_CONFIG_INVALID', `fx.rates[${i}].rate: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (!normalizeAssetId(e.from) || !normalizeAssetId(e.to)) throw new GatewayError('GW_CONFIG_INVALID', `fx.rates[${i}]: from and to must be asset ids`)
    table.set(key(e.from, e.to), e.rate)
  }
  return {
    name,
    async rate({ from, to }): Promise<FxRate | undefined> {
      const direct = table.get(key(from, to))
      if (direct) return { from, to, rate: direct, source: name }
      const reverse = table.get(key(to, from))
      if (reverse) return { from, to, rate: invertRate(reverse), source: name }
      return undefined
    },
  }
}
