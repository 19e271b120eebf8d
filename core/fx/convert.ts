import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import { formatMinorUnits, parseMinorUnits } from '../money/amount.js'
import type { AssetRegistry } from '../money/assets.js'

/** Most decimals a rate may carry (the `fx_quote.rate` pattern of the canonical intent). */
export const MAX_RATE_DECIMALS = 18

const RATE = /^(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,18}))?$/

/** An exact decimal rate as `numerator / 10^scale` (never a float). */
export interface ExactRate {
  numerator: bigint
  scale: number
}

/**
 * Parse a rate string (`"7.1234"`) exactly. Throws `GW_FX_UNAVAILABLE` for anything that is not a
 * positive decimal with at most 18 decimals (a float's exponent form, a sign, zero).
 *
 * @example parseRate('7.10') // { numerator: 710n, scale: 2 }
 */
export function parseRate(rate: string): ExactRate {
  const m = RATE.exec(rate)
  if (!m) throw new GatewayError('GW_FX_UNAVAILABLE', `rate ${JSON.stringify(rate.slice(0, 40))} is not a decimal string with at most ${MAX_RATE_DECIMALS} decimals`)
  const frac = m[2] ?? ''
  const numerator = BigInt(`${m[1]}${frac}`)
  if (numerator === 0n) throw new GatewayError('GW_FX_UNAVAILABLE', 'a rate of zero cannot convert anything')
  return { numerator, scale: frac.length }
}

/** Render `numerator / 10^scale` as a decimal string without trailing zeros (`"7.1"`, `"0.000140845"`). */
export function formatRate(r: ExactRate): string {
  const s = r.numerator.toString().padStart(r.scale + 1, '0')
  if (r.scale === 0) return s
  const int = s.slice(0, s.length - r.scale)
  const frac = s.slice(s.length - r.scale).replace(/0+$/, '')
  return frac ? `${int}.${frac}` : int
}

/** `n / d` rounded half up (to nearest; a tie goes away from zero). Both positive. */
export function divRoundHalfUp(n: bigint, d: bigint): bigint {
  const q = n / d
  return 2n * (n % d) >= d ? q + 1n : q
}

/**
 * A rate with a spread applied and cut to {@link MAX_RATE_DECIMALS} decimals, rounded half up.
 * The spread is the gateway's margin, charged to the payer: `rate × (1 + bps / 10 000)`. The
 * result is the exact rate the conversion then uses (and the intent records).
 *
 * @example withSpread('7.1', 50) // '7.1355'
 */
export function withSpread(rate: string, spreadBps: number): string {
  if (!Number.isInteger(spreadBps) || spreadBps < 0 || spreadBps > 10_000) throw new GatewayError('GW_CONFIG_INVALID', `spread_bps must be an integer in [0, 10000], got ${spreadBps}`)
  const r = parseRate(rate)
  // numerator/10^scale × (10000 + bps)/10000 = numerator × (10000 + bps) / 10^(scale + 4)
  const n = r.numerator * BigInt(10_000 + spreadBps)
  const scale = r.scale + 4
  if (scale <= MAX_RATE_DECIMALS) return formatRate({ numerator: n, scale })
  return formatRate({ numerator: divRoundHalfUp(n, 10n ** BigInt(scale - MAX_RATE_DECIMALS)), scale: MAX_RATE_DECIMALS })
}

/**
 * The inverse of a rate (`1 / rate`), at {@link MAX_RATE_DECIMALS} decimals rounded half up.
 *
 * @example invertRate('8') // '0.125'
 */
export function invertRate(rate: string): string {
  const r = parseRate(rate)
  // 1 / (n / 10^s) = 10^s / n; at 18 decimals: 10^(s + 18) / n
  const q = divRoundHalfUp(10n ** BigInt(r.scale + MAX_RATE_DECIMALS), r.numerator)
  if (q === 0n) throw new GatewayError('GW_FX_UNAVAILABLE', `the inverse of ${rate} is below 10^-${MAX_RATE_DECIMALS}`)
  return formatRate({ numerator: q, scale: MAX_RATE_DECIMALS })
}

/**
 * Convert an amount into another asset at `rate` (units of `to` per unit of `from`), in integer
 * arithmetic on minor units with the registry's decimals (USD 2 → CNY 2, CNY 2 → USDC 6, JPY 0):
 *
 *   to_minor = from_minor × rate × 10^(to_decimals − from_decimals)
 *
 * **Rounding: half up** (to the nearest minor unit of `to`; an exact half goes up). One rule for
 * every pair, so a quote recorded in the intent reproduces the settled amount exactly. The
 * spread, not the rounding, is the gateway's margin; rounding moves at most half a minor unit.
 * A non-zero amount that would convert to zero is refused (`GW_AMOUNT_INVALID`): nothing is ever
 * settled for free.
 *
 * @example convertAmount({ value: '1999', asset: 'iso4217:USD' }, 'iso4217:CNY', '7.1', assets) // { value: '14193', asset: 'iso4217:CNY' }
 */
export function convertAmount(amount: Money, to: string, rate: string, assets: AssetRegistry): Money {
  const fromInfo = assets.require(amount.asset)
  const toInfo = assets.require(to)
  const v = parseMinorUnits(amount.value)
  const r = parseRate(rate)
  const shift = toInfo.decimals - fromInfo.decimals
  let n = v * r.numerator
  let d = 10n ** BigInt(r.scale)
  if (shift >= 0) n *= 10n ** BigInt(shift)
  else d *= 10n ** BigInt(-shift)
  const out = divRoundHalfUp(n, d)
  if (v > 0n && out === 0n)
    throw new GatewayError('GW_AMOUNT_INVALID', `${amount.value} ${fromInfo.id} is less than half a minor unit of ${toInfo.id} at rate ${rate}`)
  return { value: formatMinorUnits(out), asset: toInfo.id }
}
