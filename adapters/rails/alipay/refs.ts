import { createHash } from 'node:crypto'

/**
 * The rail's idempotency keys on the wire. `out_trade_no` / `paymentRequestId` is derived from the
 * intent's settlement idempotency key (fixed before the first attempt, DESIGN §4 step 5), so every
 * retry, query and notification names the same trade; the intent id is readable back from it.
 */

const INTENT_SETTLE_KEY = /^(pi_[0-9A-HJKMNP-TV-Z]{26}):settle$/
const INTENT_ID = /^pi_[0-9A-HJKMNP-TV-Z]{26}$/
const SAFE = /^[A-Za-z0-9_]+$/

/** An optional prefix (letters, digits, underscore, ≤ 24) keeps gateways sharing one app id apart. */
export function checkPrefix(prefix: string): string {
  if (prefix !== '' && !/^[A-Za-z0-9_]{1,24}$/.test(prefix)) throw new Error('the out_trade_no prefix must be up to 24 letters, digits or underscores')
  return prefix
}

/**
 * Map an idempotency key to Alipay's grammar (≤ 64 letters, digits, underscore), injectively:
 * - `pi_<ULID>:settle` (the settlement key of an intent) → `<prefix>pi_<ULID>` (the intent id);
 * - a key already in the grammar → `<prefix><key>`;
 * - anything else → `<prefix>h` + 40 hex digits of its SHA-256.
 *
 * @example outTradeNoFor('pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F:settle') // 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F'
 */
export function outTradeNoFor(idempotencyKey: string, prefix = ''): string {
  const m = INTENT_SETTLE_KEY.exec(idempotencyKey)
  if (m) return `${prefix}${m[1]}`
  if (SAFE.test(idempotencyKey) && prefix.length + idempotencyKey.length <= 64 && !/^h[0-9a-f]{40}$/.test(idempotencyKey)) return `${prefix}${idempotencyKey}`
  return `${prefix}h${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40)}`
}

/** The refund's `out_request_no` / `refundRequestId` from its idempotency key (same grammar). */
export function requestNoFor(refundKey: string, prefix = ''): string {
  if (SAFE.test(refundKey) && prefix.length + refundKey.length <= 64 && !/^h[0-9a-f]{40}$/.test(refundKey)) return `${prefix}${refundKey}`
  return `${prefix}h${createHash('sha256').update(refundKey).digest('hex').slice(0, 40)}`
}

/** The intent id an `out_trade_no` was derived from, when it was (`undefined` for other trades). */
export function intentIdFromOutTradeNo(outTradeNo: string, prefix = ''): string | undefined {
  if (!outTradeNo.startsWith(prefix)) return undefined
  const rest = outTradeNo.slice(prefix.length)
  return INTENT_ID.test(rest) ? rest : undefined
}
