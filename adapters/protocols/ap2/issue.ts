import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { b64u, hashB64u, isObject, jwkThumbprint, signCompactJws, type Es256PublicJwk, type SdHashAlg } from './jose.js'

/**
 * Issuing AP2 v0.2 mandates: what a Trusted Surface (root), a shopping agent (closed hops) and a
 * merchant (`checkout_jwt`) do. The gateway never signs mandates itself; this is for the
 * conformance counterparts, tests, demos and SDK users. The encoding follows the doc tokens: the
 * mandate is an array-element disclosure of `delegate_payload`, nested `sd()` values become
 * further disclosures.
 */

/** An ES256 key pair. */
export interface Es256KeyPair {
  privateKey: KeyObject
  publicJwk: Es256PublicJwk & { kid: string }
  kid: string
}

/** A fresh P-256 key pair (`kid` = RFC 7638 thumbprint unless given). */
export function generateEs256KeyPair(kid?: string): Es256KeyPair {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  return keyPairOf(privateKey, kid)
}

/** A key pair from a private JWK (`d` present), e.g. a seeded conformance key. */
export function es256KeyPairFromJwk(jwk: { x: string; y: string; d: string; kid?: string | undefined }, kid?: string): Es256KeyPair {
  return keyPairOf(createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, format: 'jwk' }), kid ?? jwk.kid)
}

function keyPairOf(privateKey: KeyObject, kid?: string): Es256KeyPair {
  const j = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string; y: string }
  const base = { kty: 'EC' as const, crv: 'P-256' as const, x: j.x, y: j.y }
  const k = kid ?? jwkThumbprint(base)
  return { privateKey, publicJwk: { ...base, kid: k }, kid: k }
}

/** Marks a value as selectively disclosable (an `_sd` claim in an object, a `...` element in an array). */
export interface SdValue {
  readonly __sd: true
  readonly value: unknown
  /** Include the disclosure in the presentation (default true); `false` redacts it (a decoy-like digest only). */
  readonly disclose: boolean
}

/** Make `value` selectively disclosable. */
export function sd(value: unknown, options: { disclose?: boolean } = {}): SdValue {
  return { __sd: true, value, disclose: options.disclose ?? true }
}

function isSd(v: unknown): v is SdValue {
  return isObject(v) && v['__sd'] === true
}

function salt(): string {
  return b64u(randomBytes(16))
}

/** Encode `sd()` markers into digests; returns the payload and the disclosures to present. */
export function encodeSd(value: unknown, alg: SdHashAlg = 'sha-256'): { encoded: unknown; disclosures: string[] } {
  const disclosures: string[] = []
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      return v.map((el) => {
        if (!isSd(el)) return walk(el)
        const d = b64u(JSON.stringify([salt(), walk(el.value)]))
        if (el.disclose) disclosures.push(d)
        return { '...': hashB64u(alg, d) }
      })
    }
    if (isObject(v)) {
      const out: Record<string, unknown> = {}
      const digests: string[] = []
      for (const [k, val] of Object.entries(v)) {
        if (isSd(val)) {
          const d = b64u(JSON.stringify([salt(), k, walk(val.value)]))
          if (val.disclose) disclosures.push(d)
          digests.push(hashB64u(alg, d))
        } else out[k] = walk(val)
      }
      if (digests.length) out['_sd'] = digests.sort()
      return out
    }
    return v
  }
  const encoded = walk(value)
  return { encoded, disclosures }
}

export interface IssueRootParameters {
  signer: Es256KeyPair
  /** The mandate object (open, or closed for human present); `sd()` marks disclosable parts. */
  mandate: Record<string, unknown>
  /** Header `typ` (default `example+sd-jwt`, as the doc tokens). */
  typ?: string | undefined
  /** Header `kid` (default the signer's). `null` omits it. */
  kid?: string | null | undefined
  alg?: SdHashAlg | undefined
  /** Extra root payload claims (`iss`, `iat`, …). */
  claims?: Record<string, unknown> | undefined
}

/** The root SD-JWT of a chain, signed by the user's / agent provider's key: `jwt~disc~…~`. */
export function issueRootMandate(p: IssueRootParameters): string {
  const alg = p.alg ?? 'sha-256'
  const { encoded: mandate, disclosures } = encodeSd(p.mandate, alg)
  const inner = b64u(JSON.stringify([salt(), mandate]))
  const payload = { ...p.claims, delegate_payload: [{ '...': hashB64u(alg, inner) }], _sd_alg: alg }
  const header: Record<string, unknown> = { typ: p.typ ?? 'example+sd-jwt' }
  if (p.kid !== null) header['kid'] = p.kid ?? p.signer.kid
  const jwt = signCompactJws(p.signer.privateKey, header, payload)
  return `${jwt}~${[...disclosures, inner].join('~')}~`
}

export interface IssueHopParameters {
  /** The agent key named by the previous layer's `cnf`. */
  signer: Es256KeyPair
  /** The previous segment exactly as it will be presented (with its trailing `~`). */
  previous: string
  mandate: Record<string, unknown>
  aud: string
  nonce: string
  /** Unix seconds (default now). */
  iat?: number | undefined
  /** `sd_hash` (default: freezes the previous disclosures) or `issuer_jwt_hash`. */
  binding?: 'sd_hash' | 'issuer_jwt_hash' | undefined
  /** Default `kb+sd-jwt` (terminal); `kb+sd-jwt+kb` for an intermediate hop. */
  typ?: string | undefined
  alg?: SdHashAlg | undefined
  claims?: Record<string, unknown> | undefined
}

/** A key-binding hop over `previous` (with its trailing `~`): `jwt~disc~…~`. */
export function issueHop(p: IssueHopParameters): string {
  const alg = p.alg ?? 'sha-256'
  const { encoded: mandate, disclosures } = encodeSd(p.mandate, alg)
  const inner = b64u(JSON.stringify([salt(), mandate]))
  const prevJwt = p.previous.split('~')[0]!
  const binding = (p.binding ?? 'sd_hash') === 'sd_hash' ? { sd_hash: hashB64u(alg, p.previous) } : { issuer_jwt_hash: hashB64u(alg, prevJwt) }
  const payload = {
    delegate_payload: [{ '...': hashB64u(alg, inner) }],
    iat: p.iat ?? Math.floor(Date.now() / 1000),
    aud: p.aud,
    nonce: p.nonce,
    ...binding,
    _sd_alg: alg,
    ...p.claims,
  }
  const jwt = signCompactJws(p.signer.privateKey, { typ: p.typ ?? 'kb+sd-jwt' }, payload)
  return `${jwt}~${[...disclosures, inner].join('~')}~`
}

/** Join segments into a compact chain (`root~…~` + `~` + `hop~…~`). */
export function joinChain(...segments: string[]): string {
  return segments.join('~')
}

/** A merchant-signed `checkout_jwt` (ES256, `typ: JWT`). */
export function signCheckoutJwt(merchant: Es256KeyPair, checkout: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return signCompactJws(merchant.privateKey, { typ: 'JWT', kid: merchant.kid, ...header }, checkout)
}

/** `checkout_hash` / `transaction_id` of a `checkout_jwt`. */
export function checkoutHashOf(checkoutJwt: string, alg: SdHashAlg = 'sha-256'): string {
  return hashB64u(alg, checkoutJwt)
}

/** The `sd_hash`-style digest of an open checkout segment: the `payment.reference` value. */
export function segmentHashOf(segment: string, alg: SdHashAlg = 'sha-256'): string {
  return hashB64u(alg, segment)
}
