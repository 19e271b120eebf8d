/**
 * x402 v2 on the wire (digest §4): `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE`, `PAYMENT-RESPONSE`,
 * CAIP-2 networks, `amount`, the chosen requirement echoed whole in `accepted`.
 */
import { decodeHeaderJson, encodeHeaderJson } from '../encoding.js'
import { shapeProblems } from '../schemas.js'

export const PAYMENT_REQUIRED_HEADER = 'PAYMENT-REQUIRED'
export const PAYMENT_SIGNATURE_HEADER = 'PAYMENT-SIGNATURE'
export const PAYMENT_RESPONSE_HEADER = 'PAYMENT-RESPONSE'

/** One entry of `accepts`: exactly these seven fields (digest §4.1). */
export interface PaymentRequirementsV2 {
  scheme: string
  /** CAIP-2 (`eip155:8453`). */
  network: string
  /** Atomic units, decimal string. */
  amount: string
  asset: string
  payTo: string
  maxTimeoutSeconds: number
  /** For exact/EVM: the token's EIP-712 domain `{ name, version }`. */
  extra: Record<string, unknown>
}

/** `PaymentRequired.resource`. */
export interface ResourceInfo {
  url: string
  description?: string | undefined
  mimeType?: string | undefined
}

/** A declared extension (`{ info, schema }`, digest §9). */
export interface ExtensionDeclaration {
  info: Record<string, unknown>
  schema?: unknown
}

/** The 402 of v2, in the `PAYMENT-REQUIRED` header. */
export interface PaymentRequiredV2 {
  x402Version: 2
  error?: string | undefined
  resource: ResourceInfo
  accepts: PaymentRequirementsV2[]
  extensions?: Record<string, ExtensionDeclaration> | undefined
}

/** `PAYMENT-SIGNATURE`: the client's payload. */
export interface PaymentPayloadV2 {
  x402Version: 2
  resource?: ResourceInfo | undefined
  accepted: PaymentRequirementsV2
  payload: Record<string, unknown>
  extensions?: Record<string, unknown> | undefined
}

/** `PAYMENT-RESPONSE` and the facilitator's `/settle` body (digest §4.3, §5.2). */
export interface SettleResponse {
  success: boolean
  errorReason?: string | undefined
  errorMessage?: string | undefined
  payer?: string | undefined
  /** The tx hash; `""` on failure. */
  transaction: string
  network: string
  amount?: string | undefined
  extensions?: Record<string, unknown> | undefined
}

/** The facilitator's `/verify` body (digest §5.1). */
export interface VerifyResponse {
  isValid: boolean
  invalidReason?: string | undefined
  invalidMessage?: string | undefined
  payer?: string | undefined
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string; message: string }

/** Decode and shape-check a `PAYMENT-SIGNATURE` value. */
export function parsePaymentSignatureHeader(header: string): ParseResult<PaymentPayloadV2> {
  const d = decodeHeaderJson(header)
  if (!d.ok) return { ok: false, reason: 'invalid_payload', message: `PAYMENT-SIGNATURE: ${d.message}` }
  return parsePaymentPayloadV2(d.value)
}

/** Shape-check a decoded v2 payload. */
export function parsePaymentPayloadV2(value: unknown): ParseResult<PaymentPayloadV2> {
  if ((value as { x402Version?: unknown })?.x402Version !== 2) return { ok: false, reason: 'invalid_x402_version', message: 'x402Version must be 2 here' }
  const problems = shapeProblems('payloadV2', value)
  if (problems) return { ok: false, reason: 'invalid_payload', message: problems }
  const p = value as PaymentPayloadV2
  if (p.accepted.extra === undefined) p.accepted = { ...p.accepted, extra: {} }
  return { ok: true, value: p }
}

/** `PAYMENT-REQUIRED` value. */
export function encodePaymentRequired(pr: PaymentRequiredV2): string {
  return encodeHeaderJson(pr)
}

/** `PAYMENT-RESPONSE` value (undefined members dropped, as the SDK does). */
export function encodeSettleResponse(r: SettleResponse): string {
  return encodeHeaderJson(r)
}

/**
 * Whether a client's `accepted` is one of our requirements, as the SDK server decides it
 * (`paymentRequirementsMatchAccepted`): every field but `extra` deep-equal (key order ignored),
 * and our `extra` contained in theirs.
 */
export function acceptedMatches(ours: PaymentRequirementsV2, accepted: PaymentRequirementsV2): boolean {
  const { extra: oursExtra, ...oursCore } = ours
  const { extra: theirsExtra, ...theirsCore } = accepted
  if (!deepEqual(oursCore, theirsCore)) return false
  return contains(oursExtra, theirsExtra)
}

/** `expected` ⊆ `actual` for objects (recursively); deep equality for everything else. */
function contains(expected: unknown, actual: unknown): boolean {
  if (expected === null || typeof expected !== 'object' || Array.isArray(expected)) return deepEqual(expected, actual)
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false
  const a = actual as Record<string, unknown>
  return Object.entries(expected as Record<string, unknown>).every(([k, v]) => Object.hasOwn(a, k) && contains(v, a[k]))
}

/** Structural equality of JSON values, object key order ignored. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]))
  }
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined)
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined)
  return ak.length === bk.length && ak.every((k) => Object.hasOwn(bo, k) && deepEqual(ao[k], bo[k]))
}
