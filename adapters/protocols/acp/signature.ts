import { createHmac, timingSafeEqual } from 'node:crypto'
import type { RequestHandler } from 'express'
import { locals, rawBody } from '../../http/context.js'
import { acpError } from './errors.js'

/**
 * Request signing (DIGEST §2 `Signature`/`Timestamp`, §12.7): the spec leaves the algorithm,
 * canonical form and keys to an out-of-band agreement. Ours, for agents the merchant configures
 * with a shared secret: `Timestamp` is RFC 3339, `Signature` is
 * base64url(HMAC-SHA256(secret, Timestamp + "." + raw body bytes)) — the raw bytes, not a
 * re-serialisation, so no canonicalisation question arises. Skew window: 300 s by default (the
 * spec's webhook number). Agents without a configured secret are not asked to sign.
 */
export function signRequest(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('base64url')
}

export function verifySignature(options: { secrets: Readonly<Record<string, string>>; toleranceSec?: number | undefined; clock: () => Date }): RequestHandler {
  const tolerance = (options.toleranceSec ?? 300) * 1000
  return (req, res, next) => {
    const agent = locals(res).principal?.id
    const secret = agent ? options.secrets[agent] : undefined
    if (!secret) return next()
    const sig = req.get('signature')
    const ts = req.get('timestamp')
    if (!sig || !ts) throw acpError('GW_UNAUTHENTICATED', 'invalid_signature', 'this agent must sign its requests: send Signature and Timestamp')
    const t = Date.parse(ts)
    if (!/^\d{4}-\d{2}-\d{2}T/.test(ts) || Number.isNaN(t)) throw acpError('GW_UNAUTHENTICATED', 'invalid_signature', 'Timestamp must be an RFC 3339 date-time')
    if (Math.abs(options.clock().getTime() - t) > tolerance) throw acpError('GW_UNAUTHENTICATED', 'invalid_signature', 'Timestamp is outside the accepted clock skew')
    const expected = Buffer.from(signRequest(secret, ts, rawBody(req) ?? Buffer.alloc(0)))
    const given = Buffer.from(sig)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw acpError('GW_UNAUTHENTICATED', 'invalid_signature', 'the Signature does not match the request')
    next()
  }
}
