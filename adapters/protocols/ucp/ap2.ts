import { createPublicKey, sign, verify } from 'node:crypto'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { importJwk, type EcPrivateJwk, type EcPublicJwk } from './httpSignatures.js'

/**
 * `ap2.merchant_authorization` (DIGEST §6.6): a detached JWS `<b64u header>..<b64u sig>` with
 * header `{alg: ES256, kid}` over `b64u(header) + "." + b64u(JCS(checkout without "ap2"))`.
 */
export function merchantAuthorization(checkout: Record<string, unknown>, key: EcPrivateJwk): string {
  const { ap2: _omit, ...rest } = checkout
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid: key.kid })).toString('base64url')
  const payload = Buffer.from(canonicalJson(rest), 'utf8').toString('base64url')
  const k = importJwk(key)
  if (typeof k === 'string') throw new Error(`merchant key: ${k}`)
  const sig = sign('sha256', Buffer.from(`${header}.${payload}`), { key: k, dsaEncoding: 'ieee-p1363' })
  return `${header}..${sig.toString('base64url')}`
}

/** Verify a merchant authorization over `checkout` (its `ap2` member is ignored) with `keys`. */
export function verifyMerchantAuthorization(checkout: Record<string, unknown>, jws: string, keys: readonly EcPublicJwk[]): { ok: true; kid: string } | { ok: false; reason: string } {
  const m = /^([A-Za-z0-9_-]+)\.\.([A-Za-z0-9_-]+)$/.exec(jws)
  if (!m?.[1] || !m[2]) return { ok: false, reason: 'not a detached JWS' }
  let header: { alg?: unknown; kid?: unknown }
  try {
    header = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown }
  } catch {
    return { ok: false, reason: 'header is not JSON' }
  }
  if (header.alg !== 'ES256') return { ok: false, reason: `alg ${String(header.alg)} is not supported` }
  const jwk = keys.find((k) => k.kid === header.kid)
  if (!jwk) return { ok: false, reason: 'unknown kid' }
  const { ap2: _omit, ...rest } = checkout
  const payload = Buffer.from(canonicalJson(rest), 'utf8').toString('base64url')
  const key = createPublicKey({ key: { kty: 'EC', crv: jwk.crv ?? 'P-256', x: jwk.x ?? '', y: jwk.y ?? '' }, format: 'jwk' })
  const ok = verify('sha256', Buffer.from(`${m[1]}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(m[2], 'base64url'))
  return ok ? { ok: true, kid: jwk.kid } : { ok: false, reason: 'signature does not verify' }
}
