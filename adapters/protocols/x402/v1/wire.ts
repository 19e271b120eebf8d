/**
 * x402 v1 on the wire (digest §3): the 402 JSON body, `X-PAYMENT`, `X-PAYMENT-RESPONSE`, v1
 * network names, `maxAmountRequired`; the payload names the chosen requirement by scheme and
 * network only.
 */
import { decodeHeaderJson, encodeHeaderJson } from '../encoding.js'
import { shapeProblems } from '../schemas.js'
import type { ParseResult, SettleResponse } from '../v2/wire.js'

export const X_PAYMENT_HEADER = 'X-PAYMENT'
export const X_PAYMENT_RESPONSE_HEADER = 'X-PAYMENT-RESPONSE'

/** One v1 requirement. `outputSchema` is left out: the legacy 1.2 client refuses `null` there. */
export interface PaymentRequirementsV1 {
  scheme: string
  /** A v1 name (`base-sepolia`). */
  network: string
  maxAmountRequired: string
  resource: string
  description: string
  mimeType: string
  payTo: string
  maxTimeoutSeconds: number
  asset: string
  extra?: Record<string, unknown> | undefined
}

/** The v1 402 body. */
export interface PaymentRequiredV1 {
  x402Version: 1
  error: string
  accepts: PaymentRequirementsV1[]
}

/** `X-PAYMENT`. */
export interface PaymentPayloadV1 {
  x402Version: 1
  scheme: string
  network: string
  payload: Record<string, unknown>
}

/** Decode and shape-check an `X-PAYMENT` value. */
export function parseXPaymentHeader(header: string): ParseResult<PaymentPayloadV1> {
  const d = decodeHeaderJson(header)
  if (!d.ok) return { ok: false, reason: 'invalid_payload', message: `X-PAYMENT: ${d.message}` }
  return parsePaymentPayloadV1(d.value)
}

/** Shape-check a decoded v1 payload. */
export function parsePaymentPayloadV1(value: unknown): ParseResult<PaymentPayloadV1> {
  if ((value as { x402Version?: unknown })?.x402Version !== 1) return { ok: false, reason: 'invalid_x402_version', message: 'x402Version must be 1 here' }
  const problems = shapeProblems('payloadV1', value)
  if (problems) return { ok: false, reason: 'invalid_payload', message: problems }
  return { ok: true, value: value as PaymentPayloadV1 }
}

/** `X-PAYMENT-RESPONSE` value: `{ success, errorReason?, transaction, network, payer }` with the v1 network name. */
export function encodeXPaymentResponse(r: SettleResponse): string {
  return encodeHeaderJson({
    success: r.success,
    ...(r.errorReason ? { errorReason: r.errorReason } : {}),
    transaction: r.transaction,
    network: r.network,
    ...(r.payer ? { payer: r.payer } : {}),
  })
}
