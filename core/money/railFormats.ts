import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import { formatMinorUnits, fromMajorString, parseMinorUnits, toMajorString } from './amount.js'
import type { AssetInfo, AssetRegistry } from './assets.js'

/**
 * Canonical money ↔ the amount formats of the rails, without floats. Exponents always come from
 * the asset registry (or an {@link AssetInfo} taken from it), never from the rail message.
 */

const CNY = 'iso4217:CNY'

/** Alipay's `total_amount` / `refund_amount` range, in fen: [0.01, 100000000] yuan (Alipay digest §2.1). */
export const ALIPAY_MIN_FEN = 1n
export const ALIPAY_MAX_FEN = 10_000_000_000n

/** Antom's amount object: ISO currency code and the amount in minor units as a string. */
export interface AntomAmount {
  /** ISO 4217 alphabetic code. */
  currency: string
  /** Minor units, decimal string (`'1999'` = 19.99 USD; JPY and KRW are whole units). */
  value: string
}

function fiatOf(money: Money, registry: AssetRegistry): AssetInfo {
  const info = registry.require(money.asset)
  if (info.kind !== 'fiat')
    throw new GatewayError('GW_AMOUNT_INVALID', `${info.id} is a token; this rail format takes a fiat currency`)
  return info
}

/**
 * A CNY amount as Alipay's `total_amount`: yuan with exactly two decimals, in Alipay's range
 * [0.01, 100000000]. Only `iso4217:CNY`; other currencies on Alipay's cross-border products use
 * {@link toAlipayAmount}.
 *
 * @example toAlipayYuan({ value: '8888', asset: 'iso4217:CNY' }, registry) // '88.88'
 */
export function toAlipayYuan(money: Money, registry: AssetRegistry): string {
  const info = fiatOf(money, registry)
  if (info.id !== CNY)
    throw new GatewayError('GW_AMOUNT_INVALID', `Alipay yuan amounts are for ${CNY}, got ${info.id}; use toAlipayAmount`)
  const fen = parseMinorUnits(money.value)
  if (fen < ALIPAY_MIN_FEN) throw new GatewayError('GW_AMOUNT_INVALID', `Alipay amounts start at 0.01 CNY, got ${money.value} fen`)
  if (fen > ALIPAY_MAX_FEN)
    throw new GatewayError('GW_AMOUNT_INVALID', `Alipay amounts end at 100000000.00 CNY, got ${toMajorString(fen, info.decimals)}`)
  return toMajorString(fen, info.decimals)
}

/**
 * A fiat amount in Alipay's decimal-string style with the currency's own ISO exponent (cross-border
 * products: "1.234" KWD, "500" JPY). Must be positive.
 *
 * @example toAlipayAmount({ value: '500', asset: 'iso4217:JPY' }, registry) // '500'
 */
export function toAlipayAmount(money: Money, registry: AssetRegistry): string {
  const info = fiatOf(money, registry)
  const minor = parseMinorUnits(money.value)
  if (minor === 0n) throw new GatewayError('GW_AMOUNT_INVALID', `Alipay amounts must be positive, got 0 ${info.id}`)
  return toMajorString(minor, info.decimals)
}

/**
 * Parse an Alipay yuan string (`total_amount`, `refund_fee`, …) back to canonical CNY. Strict:
 * "12", "12.3" and "12.30" are accepted; "12.345", "-1", "1e3", " 1", "012" are `GW_AMOUNT_INVALID`.
 * Zero ("0.00") is accepted, since Alipay reports it (e.g. nothing refunded yet).
 *
 * @example fromAlipayYuan('88.8', registry.require('iso4217:CNY')) // { value: '8880', asset: 'iso4217:CNY' }
 */
export function fromAlipayYuan(s: string, asset: AssetInfo): Money {
  if (asset.id !== CNY)
    throw new GatewayError('GW_AMOUNT_INVALID', `Alipay yuan amounts are for ${CNY}, got ${asset.id}; use fromAlipayAmount`)
  return fromAlipayAmount(s, asset)
}

/**
 * Parse an Alipay decimal amount in any fiat currency with that currency's ISO exponent.
 *
 * @example fromAlipayAmount('1.234', registry.require('iso4217:KWD')) // { value: '1234', asset: 'iso4217:KWD' }
 */
export function fromAlipayAmount(s: string, asset: AssetInfo): Money {
  if (asset.kind !== 'fiat') throw new GatewayError('GW_AMOUNT_INVALID', `${asset.id} is a token; Alipay amounts are fiat`)
  return { value: formatMinorUnits(fromMajorString(s, asset.decimals)), asset: asset.id }
}

/**
 * A fiat amount as Antom's `{ currency, value }` (minor units as a string, no conversion needed).
 *
 * @example toAntomAmount({ value: '1999', asset: 'iso4217:USD' }) // { currency: 'USD', value: '1999' }
 */
export function toAntomAmount(money: Money): AntomAmount {
  const m = /^iso4217:([A-Z]{3})$/.exec(money.asset)
  if (!m) throw new GatewayError('GW_AMOUNT_INVALID', `Antom amounts are fiat (iso4217:XXX), got ${String(money.asset)}`)
  return { currency: m[1]!, value: formatMinorUnits(parseMinorUnits(money.value)) }
}

/**
 * Antom's `{ currency, value }` as canonical money. The value must be a valid minor-unit string;
 * the currency a three-letter upper-case code.
 *
 * @example fromAntomAmount({ currency: 'JPY', value: '500' }) // { value: '500', asset: 'iso4217:JPY' }
 */
export function fromAntomAmount(amount: AntomAmount): Money {
  if (typeof amount !== 'object' || amount === null) throw new GatewayError('GW_AMOUNT_INVALID', 'Antom amount must be an object')
  if (typeof amount.currency !== 'string' || !/^[A-Z]{3}$/.test(amount.currency))
    throw new GatewayError('GW_AMOUNT_INVALID', `Antom currency must be a three-letter ISO 4217 code, got ${JSON.stringify(amount.currency)}`)
  return { value: formatMinorUnits(parseMinorUnits(amount.value)), asset: `iso4217:${amount.currency}` }
}

/**
 * A token amount in the token's smallest on-chain unit (what `transferWithAuthorization` takes):
 * canonical money of a token is already counted in that unit, so this validates the asset against
 * the registry and parses. Refuses fiat.
 *
 * @example toTokenUnits({ value: '1990000', asset: 'eip155:8453/erc20:0x8335…2913' }, registry) // 1990000n
 */
export function toTokenUnits(money: Money, registry: AssetRegistry): bigint {
  const info = registry.require(money.asset)
  if (info.kind !== 'token') throw new GatewayError('GW_AMOUNT_INVALID', `${info.id} is fiat; token units need a token asset`)
  return parseMinorUnits(money.value)
}

/**
 * On-chain units of a registered token as canonical money (normalised asset id).
 *
 * @example fromTokenUnits(1990000n, 'eip155:8453/erc20:0x8335…2913', registry) // { value: '1990000', asset: 'eip155:8453/erc20:0x8335…2913' }
 */
export function fromTokenUnits(units: bigint, asset: string, registry: AssetRegistry): Money {
  const info = registry.require(asset)
  if (info.kind !== 'token') throw new GatewayError('GW_AMOUNT_INVALID', `${info.id} is fiat; token units need a token asset`)
  return { value: formatMinorUnits(units), asset: info.id }
}
