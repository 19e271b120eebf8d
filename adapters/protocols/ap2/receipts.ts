import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { Ap2ErrorCode } from './errors.js'
import { es256JwkProblem, es256Sign, es256Verify, importEs256PublicKey, isObject, jwkThumbprint, parseCompactJws, signCompactJws, type Es256PublicJwk } from './jose.js'
import { AP2_SCHEMA, ap2Schemas } from './schemas.js'

/**
 * Verifier-signed AP2 receipts (digest §3.5): plain JWS, ES256, with the gateway's key, which is
 * published as a JWK Set (`/.well-known/ap2/jwks.json`). `status` is `Success` | `Error` as the
 * schemas say (agent_authorization.md's `result: success|error` is not used — Ambiguity 1).
 */

/** The private half of the receipt key as a JWK (`d` present). */
export interface Es256PrivateJwk extends Es256PublicJwk {
  d: string
}

/** Signs receipts; holds the private key and never exposes it. */
export interface ReceiptSigner {
  /** `iss` of every receipt (the gateway's public URL). */
  readonly issuer: string
  readonly kid: string
  /** The public key, as published. */
  readonly publicJwk: Es256PublicJwk & { kid: string; alg: 'ES256'; use: 'sig' }
  /** The JWK Set to serve. */
  jwks(): { keys: Array<ReceiptSigner['publicJwk']> }
  sign(payload: Record<string, unknown>): string
}

/**
 * A receipt signer from a private P-256 JWK (`kid` defaults to the RFC 7638 thumbprint).
 * Throws on a key that is not ES256 — a configuration error, at start-up.
 */
export function createReceiptSigner(params: { privateJwk: Es256PrivateJwk; issuer: string; kid?: string | undefined }): ReceiptSigner {
  const { d, ...pub } = params.privateJwk
  const problem = es256JwkProblem({ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y })
  if (problem || typeof d !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(d)) throw new Error(`ap2 receipt key: ${problem ?? 'd must be 43 base64url characters'}`)
  let key: KeyObject
  try {
    key = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, d }, format: 'jwk' })
    // The published half must match the private scalar (OpenSSL keeps a given x/y unchecked).
    const publicKey = importEs256PublicKey({ kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y })
    if (!publicKey || !es256Verify(publicKey, 'ap2-receipt-key-check', es256Sign(key, 'ap2-receipt-key-check'))) throw new Error('x/y do not match d')
  } catch (e) {
    throw new Error(`ap2 receipt key: ${e instanceof Error ? e.message : String(e)}`)
  }
  const kid = params.kid ?? pub.kid ?? jwkThumbprint(pub)
  const publicJwk = { kty: 'EC' as const, crv: 'P-256' as const, x: pub.x, y: pub.y, kid, alg: 'ES256' as const, use: 'sig' as const }
  return {
    issuer: params.issuer,
    kid,
    publicJwk,
    jwks: () => ({ keys: [publicJwk] }),
    sign: (payload) => signCompactJws(key, { typ: 'JWT', kid }, payload),
  }
}

/** A fresh receipt key (tests; dev mode when none is configured). */
export function generateReceiptKey(): Es256PrivateJwk {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; y: string; d: string }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }
}

/** What a Payment Receipt says, before signing. */
export type PaymentReceiptContent =
  | { status: 'Success'; reference: string; payment_id: string; psp_confirmation_id: string; network_confirmation_id: string }
  | { status: 'Error'; reference: string; payment_id: string; error: Ap2ErrorCode; error_description: string }

export type CheckoutReceiptContent =
  | { status: 'Success'; reference: string; order_id: string }
  | { status: 'Error'; reference: string; error: Ap2ErrorCode; error_description: string }

/**
 * Sign a Payment Receipt (schema `payment_receipt.json`): `iss`, `iat` and the content, plus
 * `receipt: "payment"` and, when known, `reference_jwt` (the SDK's reference style: sha-256 of the
 * closed JWT only) so SDK-based clients can match it too.
 */
export function signPaymentReceipt(signer: ReceiptSigner, content: PaymentReceiptContent, extra: { now: number; referenceJwt?: string | undefined }): string {
  return signer.sign({ receipt: 'payment', iss: signer.issuer, iat: Math.floor(extra.now), ...content, ...(extra.referenceJwt ? { reference_jwt: extra.referenceJwt } : {}) })
}

/** Sign a Checkout Receipt (schema `checkout_receipt.json`). */
export function signCheckoutReceipt(signer: ReceiptSigner, content: CheckoutReceiptContent, extra: { now: number; referenceJwt?: string | undefined }): string {
  return signer.sign({ receipt: 'checkout', iss: signer.issuer, iat: Math.floor(extra.now), ...content, ...(extra.referenceJwt ? { reference_jwt: extra.referenceJwt } : {}) })
}

export type VerifyReceiptReturnType = { ok: true; header: Record<string, unknown>; payload: Record<string, unknown> } | { ok: false; reason: string }

/**
 * Verify a receipt against a published JWK Set and its schema (payment or checkout, by the
 * `receipt` claim). What an agent, a credential provider or a test does with our receipts.
 *
 * @example
 * const jwks = await (await fetch(`${gateway}/.well-known/ap2/jwks.json`)).json()
 * const r = verifyReceipt(jwt, jwks)
 */
export function verifyReceipt(jwt: string, jwks: unknown): VerifyReceiptReturnType {
  const jws = parseCompactJws(jwt)
  if (typeof jws === 'string') return { ok: false, reason: jws }
  if (jws.header['alg'] !== 'ES256') return { ok: false, reason: 'alg is not ES256' }
  const keys = isObject(jwks) && Array.isArray(jwks['keys']) ? (jwks['keys'] as unknown[]) : []
  const kid = jws.header['kid']
  const candidates = keys.filter((k) => isObject(k) && (kid === undefined || k['kid'] === kid))
  const key = candidates.map((k) => importEs256PublicKey({ kty: (k as Es256PublicJwk).kty, crv: (k as Es256PublicJwk).crv, x: (k as Es256PublicJwk).x, y: (k as Es256PublicJwk).y })).find((k) => k && es256Verify(k, jws.signingInput, jws.signature))
  if (!key) return { ok: false, reason: `no key in the JWK Set verifies the receipt (kid ${JSON.stringify(kid)})` }
  const schema = jws.payload['receipt'] === 'checkout' ? AP2_SCHEMA.checkoutReceipt : AP2_SCHEMA.paymentReceipt
  const problems = ap2Schemas().problems(schema, jws.payload)
  if (problems) return { ok: false, reason: `the receipt does not match ${schema}: ${problems}` }
  return { ok: true, header: jws.header, payload: jws.payload }
}
