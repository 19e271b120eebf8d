import { createECDH, createHash, createHmac, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'

/** A P-256 public key as a JWK, with its RFC 7638 thumbprint as `kid`. */
export interface Es256PublicJwk {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
  kid: string
  alg: 'ES256'
  use: 'sig'
}

/** The same key with its private scalar. Never put this in a report (the runner redacts `d`). */
export interface Es256PrivateJwk extends Es256PublicJwk {
  d: string
}

/** An ES256 key pair derived from the run's seed and a label: the same seed and label give the same key. */
export interface SigningKey {
  readonly label: string
  /** RFC 7638 JWK thumbprint (base64url SHA-256). */
  readonly kid: string
  readonly publicJwk: Es256PublicJwk
  readonly privateJwk: Es256PrivateJwk
  /** ES256 signature (raw `r‖s`, 64 bytes) over `data`. */
  sign(data: string | Uint8Array): Buffer
  /** A compact JWS (`alg: ES256`, `kid`, plus `header`) over `payload` serialised as JSON. */
  signJwt(payload: unknown, header?: Record<string, unknown>): string
}

// The order of the P-256 group.
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n

const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url')

/**
 * Derive an ES256 key pair for mandates, receipts and profiles: the private scalar is
 * HMAC-SHA256(`agentswitch-conformance/es256`, `<seed>/<label>/<counter>`), taking the first
 * counter whose value is a valid scalar (1 ≤ d < n).
 *
 * @example
 * const user = deriveSigningKey('agentswitch-conformance', 'ap2/user')
 * const jws = user.signJwt({ vct: 'mandate.payment.1', iat: 1700000000 })
 */
export function deriveSigningKey(seed: string, label: string): SigningKey {
  let d: Buffer | undefined
  for (let counter = 0; !d; counter++) {
    const candidate = createHmac('sha256', 'agentswitch-conformance/es256').update(`${seed}/${label}/${counter}`).digest()
    const n = BigInt(`0x${candidate.toString('hex')}`)
    if (n > 0n && n < N) d = candidate
  }
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(d)
  const pub = ecdh.getPublicKey() // 0x04 ‖ x ‖ y
  const x = b64u(pub.subarray(1, 33))
  const y = b64u(pub.subarray(33, 65))
  const kid = jwkThumbprint({ crv: 'P-256', kty: 'EC', x, y })
  const publicJwk: Es256PublicJwk = { kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' }
  const privateJwk: Es256PrivateJwk = { ...publicJwk, d: b64u(d) }
  const key: KeyObject = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x, y, d: privateJwk.d }, format: 'jwk' })
  const signRaw = (data: string | Uint8Array): Buffer => sign('sha256', Buffer.from(data), { key, dsaEncoding: 'ieee-p1363' })
  return {
    label,
    kid,
    publicJwk,
    privateJwk,
    sign: signRaw,
    signJwt(payload, header = {}) {
      const h = b64u(JSON.stringify({ alg: 'ES256', kid, ...header }))
      const p = b64u(JSON.stringify(payload))
      return `${h}.${p}.${b64u(signRaw(`${h}.${p}`))}`
    },
  }
}

/** RFC 7638 thumbprint of an EC public key. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  // Required members only, in lexicographic order, no whitespace.
  return createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url')
}

/** The result of {@link verifyEs256Jws}: a value, never an exception, for a bad token. */
export type VerifyJwsResult =
  | { ok: true; header: Record<string, unknown>; payload: unknown }
  | { ok: false; reason: 'malformed' | 'wrong_alg' | 'bad_signature' }

/** Verify a compact ES256 JWS (a receipt a target signed) with a P-256 public JWK. */
export function verifyEs256Jws(jws: string, jwk: { kty: string; crv: string; x: string; y: string }): VerifyJwsResult {
  const parts = jws.split('.')
  if (parts.length !== 3) return { ok: false, reason: 'malformed' }
  const [h, p, s] = parts as [string, string, string]
  let header: Record<string, unknown>
  let payload: unknown
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>
    payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'))
  } catch {
    return { ok: false, reason: 'malformed' }
  }
  if (header['alg'] !== 'ES256') return { ok: false, reason: 'wrong_alg' }
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' })
  const sig = Buffer.from(s, 'base64url')
  const valid = sig.length === 64 && verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, sig)
  return valid ? { ok: true, header, payload } : { ok: false, reason: 'bad_signature' }
}
