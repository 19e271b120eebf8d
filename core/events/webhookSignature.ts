import { createHmac, timingSafeEqual } from 'node:crypto'

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256>` (one or more `v1=` during secret rotation). */
export const WEBHOOK_SIGNATURE_HEADER = 'Agentswitch-Signature'
/** Header carrying the stable event id (`evt_…`); receivers de-duplicate by it. */
export const WEBHOOK_ID_HEADER = 'Webhook-Id'
/** Header carrying the send time in unix seconds (the signed `t` is the authoritative copy). */
export const WEBHOOK_TIMESTAMP_HEADER = 'Webhook-Timestamp'

/** Default accepted clock difference between sender and receiver, in seconds. */
export const DEFAULT_WEBHOOK_TOLERANCE_SEC = 300

/** Parameters of {@link signWebhook}. */
export interface SignWebhookParameters {
  /** The destination's shared secret (never sent, never logged). */
  secret: string
  /** The exact bytes that are sent as the request body. */
  body: string | Uint8Array
  /** Send time: unix seconds (an integer) or a `Date` (truncated to the second). */
  timestamp: number | Date
}

/**
 * Sign a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
 *
 * The timestamp is inside the MAC so a captured request cannot be replayed later with a fresh
 * time; the body is MACed as raw bytes, so receivers must verify the bytes they received, before
 * any JSON parsing.
 *
 * @example signWebhook({ secret: 'whsec_test', body: '{"id":"evt_1"}', timestamp: 1700000000 })
 * // 't=1700000000,v1=…64 hex…'
 */
export function signWebhook({ secret, body, timestamp }: SignWebhookParameters): string {
  if (secret.length === 0) throw new TypeError('signWebhook: the secret is empty')
  const t = timestamp instanceof Date ? Math.floor(timestamp.getTime() / 1000) : timestamp
  if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`signWebhook: timestamp must be non-negative unix seconds, got ${String(t)}`)
  return `t=${t},v1=${mac(secret, t, body).toString('hex')}`
}

/** Parameters of {@link verifyWebhookSignature}: one secret, or all currently valid ones during a rotation. */
export type VerifyWebhookSignatureParameters = {
  /** The raw value of the `Agentswitch-Signature` header (`undefined` when it is missing). */
  header: string | string[] | undefined
  /** The raw request body, exactly as received (not re-serialized JSON). */
  body: string | Uint8Array
  /** Accepted `|now - t|` in seconds. Default 300. */
  toleranceSec?: number | undefined
  /** The receiver's current time. Default: the system clock. */
  now?: Date | undefined
} & (
  | { /** The destination's shared secret. */ secret: string; secrets?: undefined }
  | { secret?: undefined; /** Every secret currently accepted (old and new during a rotation). */ secrets: readonly string[] }
)

/** Why a signature was rejected. */
export type WebhookSignatureFailureReason = 'malformed_header' | 'timestamp_out_of_tolerance' | 'no_matching_signature'

/** Result of {@link verifyWebhookSignature}: a value, never an exception, for a bad request. */
export type VerifyWebhookSignatureResult =
  | { ok: true; /** The signed send time, unix seconds. */ timestamp: number }
  | { ok: false; reason: WebhookSignatureFailureReason }

/**
 * Verify an `Agentswitch-Signature` header against the raw body (receiver side).
 *
 * Accepts several `v1=` entries (the sender signs with each active secret during a rotation) and
 * several secrets (the receiver accepts old and new during a rotation); signatures are compared
 * in constant time. The MAC is checked before the timestamp, so a forged request always reads
 * `no_matching_signature` and `timestamp_out_of_tolerance` means an authentic but stale (or
 * replayed) request. Entries of other schemes (`v0=`, `v2=`) are ignored, but at least one `v1=`
 * is required.
 *
 * Recipe for a receiver:
 * 1. Read the body as raw bytes (no JSON body parser before this step).
 * 2. Verify the header with this function; answer 400 when it is not `ok`.
 * 3. De-duplicate by the `Webhook-Id` header (deliveries are at least once): if the id was already
 *    processed, answer 200 without processing again.
 * 4. Process, then answer 2xx quickly. Anything else (or no answer within the timeout) is retried
 *    with exponential backoff.
 *
 * Throws only on misconfiguration (no secret, an empty secret).
 *
 * A receiver that does not use this module computes the same thing itself: lowercase hex
 * HMAC-SHA256 with the secret as key over the ASCII `t`, a `.`, then the raw body bytes.
 *
 * @example
 * // An express receiver (the raw body parser keeps the exact bytes).
 * import express from 'express'
 * import { verifyWebhookSignature } from './webhookSignature.js'
 *
 * const app = express()
 * app.post('/webhooks/agentswitch', express.raw({ type: 'application/json' }), (req, res) => {
 *   const check = verifyWebhookSignature({
 *     secrets: [currentSecret, previousSecret], // or `secret: currentSecret` outside a rotation
 *     header: req.get('Agentswitch-Signature'),
 *     body: req.body, // a Buffer: the exact bytes received
 *   })
 *   if (!check.ok) return res.status(400).json({ error: check.reason })
 *   const eventId = req.get('Webhook-Id')!
 *   if (alreadyProcessed(eventId)) return res.sendStatus(200)
 *   handle(JSON.parse(req.body.toString('utf8')))
 *   markProcessed(eventId)
 *   res.sendStatus(200)
 * })
 */
export function verifyWebhookSignature(params: VerifyWebhookSignatureParameters): VerifyWebhookSignatureResult {
  const secrets = params.secrets ?? (params.secret === undefined ? [] : [params.secret])
  if (secrets.length === 0) throw new TypeError('verifyWebhookSignature: no secret given')
  if (secrets.some((s) => s.length === 0)) throw new TypeError('verifyWebhookSignature: a secret is empty')
  const toleranceSec = params.toleranceSec ?? DEFAULT_WEBHOOK_TOLERANCE_SEC

  const parsed = parseSignatureHeader(params.header)
  if (parsed === undefined) return { ok: false, reason: 'malformed_header' }

  let matched = false
  for (const secret of secrets) {
    const expected = mac(secret, parsed.timestamp, params.body)
    for (const candidate of parsed.signatures) {
      // No early exit: the work done does not depend on which entry matches.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true
    }
  }
  if (!matched) return { ok: false, reason: 'no_matching_signature' }

  const nowSec = Math.floor((params.now ?? new Date()).getTime() / 1000)
  if (Math.abs(nowSec - parsed.timestamp) > toleranceSec) return { ok: false, reason: 'timestamp_out_of_tolerance' }
  return { ok: true, timestamp: parsed.timestamp }
}

function mac(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest()
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/
const DIGITS = /^[0-9]{1,15}$/

/**
 * `t=…,v1=…[,v1=…]` with optional spaces around entries. Exactly one `t`; at least one `v1`.
 * A `v1` that is not 64 hex digits can never match, so it makes the header malformed rather than
 * being silently skipped.
 */
function parseSignatureHeader(header: string | string[] | undefined): { timestamp: number; signatures: Buffer[] } | undefined {
  // Node joins repeated headers with ", " for unknown names; a string[] means a duplicated header.
  const value = Array.isArray(header) ? header.join(',') : header
  if (value === undefined || value.length === 0 || value.length > 4096) return undefined
  let timestamp: number | undefined
  const signatures: Buffer[] = []
  for (const raw of value.split(',')) {
    const entry = raw.trim()
    const eq = entry.indexOf('=')
    if (eq <= 0) return undefined
    const key = entry.slice(0, eq)
    const val = entry.slice(eq + 1)
    if (key === 't') {
      if (timestamp !== undefined || !DIGITS.test(val)) return undefined
      timestamp = Number(val)
    } else if (key === 'v1') {
      if (!HEX_SHA256.test(val)) return undefined
      signatures.push(Buffer.from(val, 'hex'))
    }
  }
  if (timestamp === undefined || signatures.length === 0) return undefined
  return { timestamp, signatures }
}
