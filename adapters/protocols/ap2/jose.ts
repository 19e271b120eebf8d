import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'

/**
 * The small JOSE subset AP2 v0.2 needs, on node:crypto only (digest §4.1): base64url without
 * padding, the three SD-JWT hash algorithms, compact JWS parsing, and ES256 over P-256 — the only
 * algorithm the v0.2 JWK schema allows (`kty=EC`, `crv=P-256`, `alg=ES256`). Everything here is
 * pure and never throws on hostile input: parse functions return `undefined` or a reason.
 */

/** A P-256 public key as a JWK (RFC 7517). Extra members (`kid`, `use`, `alg`) are allowed. */
export interface Es256PublicJwk {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
  kid?: string | undefined
  alg?: string | undefined
  use?: string | undefined
}

/** `_sd_alg` values accepted (RFC 9901 uses IANA hash names; the AP2 SDK accepts these three). */
export const SD_HASH_ALGS = ['sha-256', 'sha-384', 'sha-512'] as const
export type SdHashAlg = (typeof SD_HASH_ALGS)[number]

const NODE_HASH: Record<SdHashAlg, string> = { 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512' }
const B64U = /^[A-Za-z0-9_-]*$/
const COORD = /^[A-Za-z0-9_-]{43}$/

export function isSdHashAlg(v: unknown): v is SdHashAlg {
  return typeof v === 'string' && (SD_HASH_ALGS as readonly string[]).includes(v)
}

/** base64url without padding. */
export function b64u(data: Uint8Array | string): string {
  return Buffer.from(data).toString('base64url')
}

/** Strict base64url decode: only the URL alphabet, no padding, no whitespace; `undefined` otherwise. */
export function b64uDecode(s: string): Buffer | undefined {
  if (typeof s !== 'string' || !B64U.test(s) || s.length % 4 === 1) return undefined
  return Buffer.from(s, 'base64url')
}

/** Decode base64url JSON; `undefined` when it is not base64url or not JSON. */
export function b64uJson(s: string): unknown {
  const buf = b64uDecode(s)
  if (!buf) return undefined
  try {
    return JSON.parse(buf.toString('utf8')) as unknown
  } catch {
    return undefined
  }
}

/** `base64url(H(ascii))`: every AP2 hash (digests, `sd_hash`, `checkout_hash`, receipt `reference`). */
export function hashB64u(alg: SdHashAlg, input: string): string {
  return createHash(NODE_HASH[alg]).update(input, 'utf8').digest('base64url')
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A parsed compact JWS (`header.payload.signature`). */
export interface CompactJws {
  header: Record<string, unknown>
  payload: Record<string, unknown>
  /** `header.payload` as presented: what the signature covers. */
  signingInput: string
  signature: string
  /** The JWS exactly as presented. */
  compact: string
}

/** Parse a compact JWS with JSON-object header and payload; a reason string when malformed. */
export function parseCompactJws(compact: string): CompactJws | string {
  if (typeof compact !== 'string' || compact.length === 0) return 'empty JWT'
  const parts = compact.split('.')
  if (parts.length !== 3) return `a compact JWS has 3 parts, got ${parts.length}`
  const [h, p, s] = parts as [string, string, string]
  const header = b64uJson(h)
  if (!isObject(header)) return 'the JWS header is not base64url JSON object'
  const payload = b64uJson(p)
  if (!isObject(payload)) return 'the JWS payload is not a base64url JSON object'
  if (!B64U.test(s) || s.length === 0) return 'the JWS signature is not base64url'
  return { header, payload, signingInput: `${h}.${p}`, signature: s, compact }
}

/** Why a JWK is not an acceptable ES256 public key, or `undefined` when it is. */
export function es256JwkProblem(jwk: unknown): string | undefined {
  if (!isObject(jwk)) return 'the key is not a JWK object'
  if (jwk['kty'] !== 'EC') return `kty must be EC, got ${JSON.stringify(jwk['kty'])}`
  if (jwk['crv'] !== 'P-256') return `crv must be P-256, got ${JSON.stringify(jwk['crv'])}`
  if (typeof jwk['x'] !== 'string' || !COORD.test(jwk['x'])) return 'x must be 43 base64url characters'
  if (typeof jwk['y'] !== 'string' || !COORD.test(jwk['y'])) return 'y must be 43 base64url characters'
  if (jwk['alg'] !== undefined && jwk['alg'] !== 'ES256') return `alg must be ES256, got ${JSON.stringify(jwk['alg'])}`
  if (jwk['d'] !== undefined) return 'a public key must not carry the private member d'
  return undefined
}

const keyCache = new Map<string, KeyObject>()

/** Import an ES256 public JWK (P-256 point checked by OpenSSL); `undefined` when it is not one. */
export function importEs256PublicKey(jwk: unknown): KeyObject | undefined {
  if (es256JwkProblem(jwk) !== undefined) return undefined
  const j = jwk as Es256PublicJwk
  const id = `${j.x}.${j.y}`
  const cached = keyCache.get(id)
  if (cached) return cached
  try {
    const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: j.x, y: j.y }, format: 'jwk' })
    if (keyCache.size > 1000) keyCache.clear()
    keyCache.set(id, key)
    return key
  } catch {
    return undefined // not a point on the curve
  }
}

/** Verify an ES256 signature (raw `r‖s`, 64 bytes, base64url) over `signingInput`. */
export function es256Verify(key: KeyObject, signingInput: string, signatureB64u: string): boolean {
  const sig = b64uDecode(signatureB64u)
  if (!sig || sig.length !== 64) return false
  try {
    return verify('sha256', Buffer.from(signingInput, 'ascii'), { key, dsaEncoding: 'ieee-p1363' }, sig)
  } catch {
    return false
  }
}

/** Sign `signingInput` with ES256 (randomised ECDSA, raw `r‖s`), base64url. */
export function es256Sign(privateKey: KeyObject, signingInput: string): string {
  return b64u(sign('sha256', Buffer.from(signingInput, 'ascii'), { key: privateKey, dsaEncoding: 'ieee-p1363' }))
}

/** A compact JWS over `payload` (JSON) with `header` (`alg: ES256` is forced). */
export function signCompactJws(privateKey: KeyObject, header: Record<string, unknown>, payload: unknown): string {
  const h = b64u(JSON.stringify({ ...header, alg: 'ES256' }))
  const p = b64u(JSON.stringify(payload))
  return `${h}.${p}.${es256Sign(privateKey, `${h}.${p}`)}`
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of an EC public key. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
}

/** The public members of an EC JWK (drops `d` and anything else). */
export function publicJwkOf(jwk: { crv: string; kty: string; x: string; y: string; kid?: string | undefined }): Es256PublicJwk {
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ...(jwk.kid ? { kid: jwk.kid } : {}) }
}
