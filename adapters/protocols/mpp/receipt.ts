/**
 * The MPP receipt (`Payment-Receipt: base64url(JSON)`, digest §6): only on 2xx, `status` is always
 * `success`; methods may add fields (evm: `challengeId`, `chainId`).
 */
import { base64urlEncode, base64urlJsonObject } from './base64url.js'
import { MppParseError } from './challenge.js'

export interface MppReceipt {
  status: 'success'
  /** The payment method (`evm`). */
  method: string
  /** RFC 3339 settlement time. */
  timestamp: string
  /** The settlement reference: the transaction hash for `evm`. */
  reference: string
  /** Method-specific extras (evm: `challengeId`, `chainId`; `externalId`). */
  [extra: string]: unknown
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** Whether `s` is an RFC 3339 date-time that names a real instant. */
export function isRfc3339(s: unknown): s is string {
  return typeof s === 'string' && RFC3339.test(s) && !Number.isNaN(Date.parse(s))
}

/**
 * The `Payment-Receipt` header value.
 *
 * @example res.setHeader('Payment-Receipt', formatReceipt({ status: 'success', method: 'evm', timestamp, reference: txHash }))
 */
export function formatReceipt(receipt: MppReceipt): string {
  return base64urlEncode(JSON.stringify(receipt))
}

/** Parse a `Payment-Receipt` value; throws {@link MppParseError} when a core field is missing or wrong. */
export function parseReceipt(value: string): MppReceipt {
  const json = base64urlJsonObject(value)
  if (!json) throw new MppParseError('the receipt is not base64url of a JSON object')
  if (json['status'] !== 'success') throw new MppParseError('receipt status must be "success"')
  for (const k of ['method', 'reference'] as const) if (typeof json[k] !== 'string' || json[k] === '') throw new MppParseError(`receipt ${k} is missing`)
  if (!isRfc3339(json['timestamp'])) throw new MppParseError('receipt timestamp is not RFC 3339')
  return json as MppReceipt
}
