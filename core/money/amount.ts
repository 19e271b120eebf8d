import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import { MAX_ASSET_DECIMALS, normalizeAssetId } from './assets.js'

/**
 * Integer minor units end to end (DESIGN §2). Amounts travel as decimal strings of a non-negative
 * integer and are computed on as `bigint`; no function here ever creates a `number` from an amount.
 */

/** At most 78 digits: enough for any uint256 (2^256 − 1 has 78 digits), the widest on-chain amount. */
export const MAX_MINOR_UNITS_DIGITS = 78

const MINOR_UNITS = /^(0|[1-9][0-9]{0,77})$/
const MAJOR_AMOUNT = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/
const MAX_MINOR = 10n ** BigInt(MAX_MINOR_UNITS_DIGITS) - 1n

/** Rounding of {@link convertDecimals} when the target scale is coarser. */
export type Rounding = 'floor' | 'ceil' | 'exact'

function amountError(message: string): GatewayError {
  return new GatewayError('GW_AMOUNT_INVALID', message)
}

/** A bounded, quoted rendering of a bad input for error messages (never the whole of a huge string). */
function quote(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
}

/** Why `value` is not a minor-unit string, or `undefined` when it is one. */
function minorUnitsProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') {
    const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value
    return `amount must be a decimal string of minor units, got ${type}${typeof value === 'number' ? ` (${String(value)})` : ''}`
  }
  if (MINOR_UNITS.test(value)) return undefined
  const q = quote(value)
  if (value.length === 0) return 'amount is empty: expected a decimal string of minor units such as "1999"'
  if (/\s/u.test(value)) return `amount ${q} contains whitespace`
  if (value.startsWith('-')) return `amount ${q} is negative: amounts are non-negative minor units`
  if (value.startsWith('+')) return `amount ${q} has a sign: write the digits only`
  if (/^[0-9.]*[eE][-+]?[0-9]*$/.test(value)) return `amount ${q} uses exponent notation: write every digit`
  if (/^[0-9]*\.[0-9]*$/.test(value))
    return `amount ${q} has a decimal point: amounts are integers in minor units ("19.99 USD" is "1999")`
  if (/\P{ASCII}/u.test(value) && /^\p{Nd}+$/u.test(value)) return `amount ${q} uses non-ASCII digits: only 0-9 are allowed`
  if (!/^[0-9]+$/.test(value)) return `amount ${q} contains characters other than the digits 0-9`
  if (value.length > 1 && value.startsWith('0')) return `amount ${q} has leading zeros`
  return `amount has ${value.length} digits; at most ${MAX_MINOR_UNITS_DIGITS} are allowed`
}

/**
 * Whether `value` is a valid minor-unit amount string: `^(0|[1-9][0-9]*)$`, at most 78 digits.
 *
 * @example isMinorUnits('1999') // true
 * @example isMinorUnits('19.99') // false
 */
export function isMinorUnits(value: unknown): value is string {
  return typeof value === 'string' && MINOR_UNITS.test(value)
}

/**
 * Parse a minor-unit amount string into a `bigint`. Accepts only `^(0|[1-9][0-9]*)$` up to 78 digits;
 * anything else (negative, leading zeros, fraction, exponent, whitespace, empty, non-string,
 * non-ASCII digits) throws `GW_AMOUNT_INVALID` saying exactly what is wrong.
 *
 * @example parseMinorUnits('1999') // 1999n
 * @example parseMinorUnits('1e3') // throws GW_AMOUNT_INVALID: amount "1e3" uses exponent notation…
 */
export function parseMinorUnits(value: unknown): bigint {
  const problem = minorUnitsProblem(value)
  if (problem !== undefined) throw amountError(problem)
  return BigInt(value as string)
}

/** Throw unless `v` is a non-negative bigint of at most 78 digits. */
function checkMinor(v: unknown, what = 'amount'): bigint {
  if (typeof v !== 'bigint') throw amountError(`${what} must be a bigint, got ${typeof v}`)
  if (v < 0n) throw amountError(`${what} ${v.toString()} is negative: amounts are non-negative minor units`)
  if (v > MAX_MINOR) throw amountError(`${what} has more than ${MAX_MINOR_UNITS_DIGITS} digits`)
  return v
}

/**
 * Render a minor-unit amount as its canonical decimal string. Refuses negatives and values of more
 * than 78 digits, so the output always passes {@link parseMinorUnits}.
 *
 * @example formatMinorUnits(1999n) // '1999'
 */
export function formatMinorUnits(v: bigint): string {
  return checkMinor(v).toString()
}

function checkDecimals(decimals: unknown, what = 'decimals'): number {
  if (typeof decimals !== 'number' || !Number.isInteger(decimals) || decimals < 0 || decimals > MAX_ASSET_DECIMALS)
    throw new GatewayError('GW_INTERNAL', `${what} must be an integer 0..${MAX_ASSET_DECIMALS}, got ${String(decimals)}`)
  return decimals
}

function toMinor(minor: bigint | string): bigint {
  return typeof minor === 'string' ? parseMinorUnits(minor) : checkMinor(minor)
}

/**
 * The exact major-unit decimal string of a minor-unit amount: always exactly `decimals` fraction
 * digits when `decimals > 0`, no fraction when `decimals` is 0. `decimals` must come from the asset
 * registry.
 *
 * @example toMajorString('1999', 2) // '19.99'
 * @example toMajorString('5', 2) // '0.05'
 * @example toMajorString('100', 0) // '100'
 * @example toMajorString('1234', 3) // '1.234'
 */
export function toMajorString(minor: bigint | string, decimals: number): string {
  const d = checkDecimals(decimals)
  const digits = toMinor(minor).toString()
  if (d === 0) return digits
  const padded = digits.padStart(d + 1, '0')
  return `${padded.slice(0, -d)}.${padded.slice(-d)}`
}

/**
 * Parse a major-unit decimal string (`^(0|[1-9][0-9]*)(\.[0-9]+)?$`) into minor units of an asset
 * with `decimals` places. More fraction digits than `decimals` is an error even when they are zeros
 * ("1.990" for USD): precision loss is never silent, and a counterpart that sends extra digits is
 * not speaking the format we agreed on.
 *
 * @example fromMajorString('19.99', 2) // 1999n
 * @example fromMajorString('19.9', 2) // 1990n
 * @example fromMajorString('19.999', 2) // throws GW_AMOUNT_INVALID
 */
export function fromMajorString(major: string, decimals: number): bigint {
  const d = checkDecimals(decimals)
  if (typeof major !== 'string') throw amountError(`amount must be a decimal string, got ${major === null ? 'null' : typeof major}`)
  if (major.length > MAX_MINOR_UNITS_DIGITS + 1 + MAX_ASSET_DECIMALS) throw amountError(`amount has ${major.length} characters; too long`)
  const m = MAJOR_AMOUNT.exec(major)
  if (!m) {
    const q = quote(major)
    if (major.length === 0) throw amountError('amount is empty: expected a decimal string such as "19.99"')
    if (/\s/u.test(major)) throw amountError(`amount ${q} contains whitespace`)
    if (major.startsWith('-')) throw amountError(`amount ${q} is negative`)
    if (/[eE]/.test(major)) throw amountError(`amount ${q} uses exponent notation: write every digit`)
    throw amountError(`amount ${q} is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)`)
  }
  const whole = m[1]!
  const fraction = m[2] ?? ''
  if (fraction.length > d)
    throw amountError(
      `amount ${quote(major)} has ${fraction.length} fraction digits; this asset has ${d} (refusing to round)`,
    )
  return checkMinor(BigInt(whole + fraction.padEnd(d, '0')))
}

/**
 * Change the scale of a minor-unit amount (token ↔ fiat: 6-decimal USDC to 2-decimal USD cents).
 * Scaling up is always exact. Scaling down with `exact` throws `GW_AMOUNT_INVALID` when a remainder
 * would be dropped; `floor` rounds down and `ceil` rounds up (choose the direction that favours the
 * party who must not be short-changed: `ceil` for what a payer owes, `floor` for what is paid out).
 *
 * @example convertDecimals(1_990_000n, 6, 2, 'exact') // 199n
 * @example convertDecimals(1_990_001n, 6, 2, 'ceil') // 200n
 */
export function convertDecimals(minor: bigint, fromDecimals: number, toDecimals: number, rounding: Rounding): bigint {
  const from = checkDecimals(fromDecimals, 'fromDecimals')
  const to = checkDecimals(toDecimals, 'toDecimals')
  const v = checkMinor(minor)
  if (rounding !== 'floor' && rounding !== 'ceil' && rounding !== 'exact')
    throw new GatewayError('GW_INTERNAL', `rounding must be floor, ceil or exact, got ${String(rounding)}`)
  if (to >= from) return checkMinor(v * 10n ** BigInt(to - from), 'converted amount')
  const divisor = 10n ** BigInt(from - to)
  const quotient = v / divisor
  const remainder = v % divisor
  if (remainder === 0n) return quotient
  if (rounding === 'exact')
    throw amountError(
      `converting ${v.toString()} from ${from} to ${to} decimals would drop ${remainder.toString()} (refusing to round)`,
    )
  return rounding === 'floor' ? quotient : quotient + 1n
}

/** The normalised asset of two amounts, or a `GW_AMOUNT_INVALID` when they differ. */
function commonAsset(a: Money, b: Money, op: string): string {
  const ia = normalizeAssetId(a.asset)
  const ib = normalizeAssetId(b.asset)
  if (ia === undefined) throw new GatewayError('GW_ASSET_UNKNOWN', `asset ${quote(String(a.asset))} is not a valid asset id`)
  if (ib === undefined) throw new GatewayError('GW_ASSET_UNKNOWN', `asset ${quote(String(b.asset))} is not a valid asset id`)
  if (ia !== ib) throw amountError(`cannot ${op} amounts of different assets (${ia} and ${ib}); convert one first`)
  return ia
}

/**
 * `a + b`, refusing different assets. Assets are compared in normalised form (a checksummed and a
 * lowercase token address are the same asset); the result carries the normalised id.
 *
 * @example addMoney({ value: '1999', asset: 'iso4217:USD' }, { value: '1', asset: 'iso4217:USD' }) // { value: '2000', asset: 'iso4217:USD' }
 */
export function addMoney(a: Money, b: Money): Money {
  const asset = commonAsset(a, b, 'add')
  return { value: formatMinorUnits(parseMinorUnits(a.value) + parseMinorUnits(b.value)), asset }
}

/**
 * `a - b`, refusing different assets and a negative result (a refund larger than what is left, a
 * fee larger than the amount).
 *
 * @example subMoney({ value: '1999', asset: 'iso4217:USD' }, { value: '999', asset: 'iso4217:USD' }) // { value: '1000', asset: 'iso4217:USD' }
 */
export function subMoney(a: Money, b: Money): Money {
  const asset = commonAsset(a, b, 'subtract')
  const x = parseMinorUnits(a.value)
  const y = parseMinorUnits(b.value)
  if (y > x) throw amountError(`${a.value} - ${b.value} ${asset} would be negative`)
  return { value: formatMinorUnits(x - y), asset }
}

/**
 * Compare two amounts of the same asset: -1, 0 or 1. Refuses different assets.
 *
 * @example compareMoney({ value: '10', asset: 'iso4217:JPY' }, { value: '9', asset: 'iso4217:JPY' }) // 1
 */
export function compareMoney(a: Money, b: Money): -1 | 0 | 1 {
  commonAsset(a, b, 'compare')
  const x = parseMinorUnits(a.value)
  const y = parseMinorUnits(b.value)
  return x < y ? -1 : x > y ? 1 : 0
}
