/**
 * Helpers for UCP tests and the conformance suite: keys, a platform profile, and a platform
 * client that signs requests (RFC 9421) the way a UCP platform does. Not imported by the adapter.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { request } from 'undici'
import { signRequest, type EcPrivateJwk, type EcPublicJwk, publicJwk } from './httpSignatures.js'
import { CAP, UCP_VERSION } from './options.js'

/** A fresh ES256 private JWK with `kid`. */
export function generateUcpKey(kid: string): EcPrivateJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = privateKey.export({ format: 'jwk' }) as { crv: string; x: string; y: string; d: string }
  return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d, kid }
}

/** A 2026-04-08 platform profile declaring checkout (+ extensions), order with `webhook_url`, and keys. */
export function platformProfile(p: { webhookUrl?: string | undefined; keys?: readonly EcPublicJwk[] | undefined; version?: string | undefined; capabilities?: readonly string[] | undefined }): Record<string, unknown> {
  const version = p.version ?? UCP_VERSION
  const names = p.capabilities ?? [CAP.checkout, CAP.order, CAP.fulfillment, CAP.discount, CAP.buyerConsent]
  const doc = (n: string): string => n.split('.').pop() ?? n
  return {
    ucp: {
      version,
      services: { 'dev.ucp.shopping': [{ version, spec: 'https://ucp.dev/2026-04-08/specification/overview', transport: 'rest', schema: 'https://ucp.dev/2026-04-08/services/shopping/rest.openapi.json' }] },
      capabilities: Object.fromEntries(
        names.map((n) => [
          n,
          [
            {
              version,
              spec: `https://ucp.dev/2026-04-08/specification/${doc(n)}`,
              schema: `https://ucp.dev/2026-04-08/schemas/shopping/${doc(n)}.json`,
              ...(n === CAP.order && p.webhookUrl ? { config: { webhook_url: p.webhookUrl } } : {}),
              ...(n !== CAP.checkout && n !== CAP.order ? { extends: CAP.checkout } : {}),
            },
          ],
        ]),
      ),
      payment_handlers: {},
    },
    ...(p.keys ? { signing_keys: p.keys } : {}),
  }
}

export interface UcpResponse {
  status: number
  headers: Record<string, string>
  text: string
  body: Record<string, unknown>
}

export interface UcpCallOptions {
  idempotencyKey?: string | undefined
  /** Sign with this key (default: the client's key, if any). `false`: do not sign. */
  sign?: EcPrivateJwk | false | undefined
  /** Change the headers after signing (to test tampering). */
  tamper?: ((headers: Record<string, string>) => Record<string, string>) | undefined
  /** Send these exact body bytes (default `JSON.stringify(body)`). */
  rawBody?: string | undefined
  headers?: Record<string, string> | undefined
}

/** A platform client: `UCP-Agent`, `Request-Id`, `Idempotency-Key` on POST/PUT, optional RFC 9421 signing. */
export function ucpClient(c: { endpoint: string; profileUrl: string | undefined; key?: EcPrivateJwk | undefined }) {
  return async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, opts: UcpCallOptions = {}): Promise<UcpResponse> => {
    const url = path.startsWith('http') ? path : `${c.endpoint}${path}`
    const text = opts.rawBody ?? (body === undefined ? '' : JSON.stringify(body))
    let headers: Record<string, string> = {
      'Request-Id': randomUUID(),
      ...(c.profileUrl ? { 'UCP-Agent': `profile="${c.profileUrl}"` } : {}),
      ...(text ? { 'Content-Type': 'application/json' } : {}),
      ...(method !== 'GET' ? { 'Idempotency-Key': opts.idempotencyKey ?? randomUUID() } : {}),
      ...opts.headers,
    }
    const key = opts.sign === false ? undefined : (opts.sign ?? c.key)
    if (key) headers = signRequest({ method, url, headers, body: Buffer.from(text, 'utf8'), key })
    if (opts.tamper) headers = opts.tamper(headers)
    const res = await request(url, { method, headers, ...(text ? { body: text } : {}) })
    const out = await res.body.text()
    let parsed: Record<string, unknown> = {}
    try {
      parsed = JSON.parse(out) as Record<string, unknown>
    } catch {
      parsed = {}
    }
    const h: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h[k] = v
    return { status: res.statusCode, headers: h, text: out, body: parsed }
  }
}

export { publicJwk }
