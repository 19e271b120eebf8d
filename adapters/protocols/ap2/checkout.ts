import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { fail, type Ap2Failure } from './errors.js'
import { b64u, es256Verify, importEs256PublicKey, isObject, jwkThumbprint, parseCompactJws, type Es256PublicJwk } from './jose.js'
import type { Checkout, Merchant } from './mandates.js'
import { AP2_SCHEMA, ap2Schemas } from './schemas.js'

/** A merchant whose signed checkouts the verifier accepts (configuration; never fetched). */
export interface TrustedMerchant {
  /** The merchant's AP2 identity: `payee.id` / `checkout.merchant.id` / `allowed_*` entries. */
  payee: Merchant
  /** Keys the merchant signs `checkout_jwt` with (ES256, selected by `kid` or tried in turn). */
  keys: ReadonlyArray<{ kid?: string | undefined; jwk: Es256PublicJwk }>
}

export interface VerifyCheckoutJwtParameters {
  checkoutJwt: string
  merchants: readonly TrustedMerchant[]
  /** Unix seconds. */
  now: number
  clockSkewSeconds?: number | undefined
}

export type VerifyCheckoutJwtReturnType = { ok: true; checkout: Checkout; merchant: TrustedMerchant; kid: string } | Ap2Failure

/** Checkout statuses that can no longer be paid. */
const CLOSED_STATUSES = new Set(['canceled', 'completed'])

/**
 * Verify a merchant-signed `checkout_jwt` (digest §3.6, §7 "Merchant"): ES256 only — the spec
 * requires a randomised signature so the public `checkout_hash` cannot be brute-forced back to the
 * cart, and Ed25519 without a salt is refused with everything else that is not ES256; a configured
 * merchant key; the UCP Checkout schema; `exp` / `iat` / `expires_at` with skew; a status that can
 * still be paid; `merchant.id`, when present, equal to the signer's configured identity; exactly
 * one `total`. Integer minor units throughout.
 *
 * "Latest checkout of the session" is the merchant's own check (we hold no sessions); one payment
 * per `checkout_hash` is enforced when the payment is submitted.
 */
export function verifyCheckoutJwt(params: VerifyCheckoutJwtParameters): VerifyCheckoutJwtReturnType {
  const skew = params.clockSkewSeconds ?? 300
  const jws = parseCompactJws(params.checkoutJwt)
  if (typeof jws === 'string') return fail('invalid_credential', `checkout_jwt: ${jws}`)
  const { header, payload } = jws
  if (header['alg'] !== 'ES256')
    return fail('invalid_credential', `checkout_jwt: alg must be ES256 (a randomised signature), got ${JSON.stringify(header['alg'])}`)
  if (header['crit'] !== undefined) return fail('invalid_credential', 'checkout_jwt: critical header parameters are not supported')
  const signer = findMerchantKey(params.merchants, header['kid'], (key) => es256Verify(key, jws.signingInput, jws.signature))
  if (typeof signer === 'string') return fail('invalid_credential', `checkout_jwt: ${signer}`)
  const checked = checkCheckoutPayload(payload, signer.merchant, params.now, skew)
  if (!checked.ok) return checked
  return { ok: true, checkout: checked.checkout, merchant: signer.merchant, kid: signer.kid }
}

/**
 * Verify UCP's detached merchant signature (`ap2.merchant_authorization`, digest Ambiguity 17):
 * `<header>..<signature>` over the JCS-canonical checkout body without its `ap2` member. The same
 * trust list and payload checks as {@link verifyCheckoutJwt}; exported for the UCP adapter.
 */
export function verifyDetachedCheckoutSignature(params: {
  detachedJws: string
  checkout: Record<string, unknown>
  merchants: readonly TrustedMerchant[]
  now: number
  clockSkewSeconds?: number | undefined
}): VerifyCheckoutJwtReturnType {
  const parts = typeof params.detachedJws === 'string' ? params.detachedJws.split('.') : []
  if (parts.length !== 3 || parts[1] !== '') return fail('invalid_credential', 'merchant_authorization is not a detached JWS (<header>..<signature>)')
  const { ap2: _ap2, ...body } = params.checkout
  const payloadB64 = b64u(canonicalJson(body))
  const jws = parseCompactJws(`${parts[0]}.${payloadB64}.${parts[2]}`)
  if (typeof jws === 'string') return fail('invalid_credential', `merchant_authorization: ${jws}`)
  if (jws.header['alg'] !== 'ES256') return fail('invalid_credential', `merchant_authorization: alg must be ES256, got ${JSON.stringify(jws.header['alg'])}`)
  const signer = findMerchantKey(params.merchants, jws.header['kid'], (key) => es256Verify(key, jws.signingInput, jws.signature))
  if (typeof signer === 'string') return fail('invalid_credential', `merchant_authorization: ${signer}`)
  const checked = checkCheckoutPayload(body, signer.merchant, params.now, params.clockSkewSeconds ?? 300)
  if (!checked.ok) return checked
  return { ok: true, checkout: checked.checkout, merchant: signer.merchant, kid: signer.kid }
}

function findMerchantKey(
  merchants: readonly TrustedMerchant[],
  kid: unknown,
  verifies: (key: NonNullable<ReturnType<typeof importEs256PublicKey>>) => boolean,
): { merchant: TrustedMerchant; kid: string } | string {
  if (kid !== undefined && typeof kid !== 'string') return 'kid is not a string'
  let candidates = 0
  for (const merchant of merchants) {
    for (const k of merchant.keys) {
      const thumbprint = jwkThumbprint(k.jwk)
      if (kid !== undefined && k.kid !== kid && k.jwk.kid !== kid && thumbprint !== kid) continue
      candidates++
      const key = importEs256PublicKey(k.jwk)
      if (key && verifies(key)) return { merchant, kid: k.kid ?? k.jwk.kid ?? thumbprint }
    }
  }
  if (candidates === 0) return `signed by an unknown merchant key (kid ${JSON.stringify(kid)})`
  return 'the merchant signature does not verify (tampered checkout or wrong key)'
}

function checkCheckoutPayload(payload: Record<string, unknown>, merchant: TrustedMerchant, now: number, skew: number): { ok: true; checkout: Checkout } | Ap2Failure {
  const problems = ap2Schemas().problems(AP2_SCHEMA.checkout, payload)
  if (problems) return fail('invalid_mandate', `the checkout does not match the UCP Checkout schema: ${problems}`)
  const checkout = payload as unknown as Checkout
  for (const name of ['iat', 'exp'] as const) {
    const v = payload[name]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return fail('invalid_credential', `checkout_jwt: ${name} is not a number`)
  }
  if (checkout.exp !== undefined && checkout.exp < now - skew) return fail('invalid_credential', `the checkout expired at ${new Date(checkout.exp * 1000).toISOString()}`)
  if (checkout.iat !== undefined && checkout.iat > now + skew) return fail('invalid_credential', 'the checkout is issued in the future')
  if (checkout.expires_at !== undefined) {
    const t = Date.parse(checkout.expires_at)
    if (Number.isNaN(t) || t < (now - skew) * 1000) return fail('invalid_mandate', `the checkout expired at ${checkout.expires_at}`)
  }
  if (CLOSED_STATUSES.has(checkout.status)) return fail('invalid_mandate', `the checkout is ${checkout.status} and cannot be paid`)
  if (!/^[A-Z]{3}$/.test(checkout.currency)) return fail('invalid_mandate', `checkout currency ${JSON.stringify(checkout.currency)} is not ISO 4217 alpha-3`)
  if (checkout.merchant !== undefined && (!isObject(checkout.merchant) || checkout.merchant.id !== merchant.payee.id))
    return fail('invalid_mandate', `the checkout names merchant ${JSON.stringify(checkout.merchant?.id)} but is signed by ${merchant.payee.id}`)
  const totals = checkout.totals.filter((t) => t.type === 'total')
  if (totals.length !== 1) return fail('invalid_mandate', `the checkout must have exactly one total, found ${totals.length}`)
  const amounts = [...checkout.totals.map((t) => t.amount), ...checkout.line_items.map((l) => l.item.price), ...checkout.line_items.map((l) => l.quantity)]
  if (amounts.some((a) => !Number.isSafeInteger(a))) return fail('invalid_mandate', 'checkout amounts and quantities must be integers (minor units)')
  if (totals[0]!.amount < 0) return fail('invalid_mandate', 'the checkout total is negative')
  return { ok: true, checkout }
}

/** The checkout's `total` in minor units. */
export function checkoutTotal(checkout: Checkout): number {
  return checkout.totals.find((t) => t.type === 'total')!.amount
}
