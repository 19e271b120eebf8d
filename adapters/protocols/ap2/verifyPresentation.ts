import { checkoutTotal, verifyCheckoutJwt, type TrustedMerchant } from './checkout.js'
import { checkConstraints, type ConstraintResult } from './constraints.js'
import { fail, type Ap2Failure } from './errors.js'
import { hashB64u } from './jose.js'
import type { Checkout, OpenPaymentMandate } from './mandates.js'
import { splitChain } from './sdJwt.js'
import { verifyMandateChain, type TrustedKey, type VerifiedCheckoutChain, type VerifiedOpenLayer, type VerifiedPaymentChain } from './verifyMandateChain.js'

/** What a verifier trusts and who it is (configuration; nothing is fetched). */
export interface Ap2TrustConfig {
  /** Root signers: user credentials / Trusted Surfaces and agent providers. */
  trustedKeys: readonly TrustedKey[]
  /** Merchants whose signed checkouts are accepted. */
  merchants: readonly TrustedMerchant[]
  /** This verifier's `aud` values. */
  audiences: readonly string[]
  clockSkewSeconds?: number | undefined
  maxPresentationAgeSeconds?: number | undefined
}

export interface VerifyPresentationParameters extends Ap2TrustConfig {
  /** `ap2.mandates.CheckoutMandateSdJwt`: the checkout chain (open~~closed, or a closed root). */
  checkoutMandate: string
  /** `ap2.mandates.PaymentMandateSdJwt`: the payment chain. */
  paymentMandate: string
  /** Unix seconds. */
  now: number
}

/** A checkout + payment presentation that verified, with everything stateless checked. */
export interface VerifiedPresentation {
  checkout: VerifiedCheckoutChain
  payment: VerifiedPaymentChain
  /** The decoded, merchant-verified checkout. */
  checkoutObject: Checkout
  merchant: TrustedMerchant
  modality: 'human_present' | 'human_not_present'
  /** Every stateless constraint evaluated (stateful ones — budget, recurrence — come later). */
  constraintResults: ConstraintResult[]
  /** The open payment mandate (HNP): its `jwtHash` keys the budget / recurrence state. */
  openPayment?: VerifiedOpenLayer<OpenPaymentMandate> | undefined
  /** Distinct presentation nonces to check and consume (none for a bare human-present root). */
  nonces: string[]
}

export type VerifyPresentationReturnType = { ok: true; presentation: VerifiedPresentation } | (Ap2Failure & { results?: ConstraintResult[] | undefined })

/**
 * The merchant-payment-processor verification of one AP2 v0.2 payment (digest §7, MPP + merchant
 * + credential-provider checks, since the gateway plays them together): both chains
 * ({@link verifyMandateChain}), the merchant's `checkout_jwt`, and the bindings —
 * `checkout_hash` = H(`checkout_jwt`); `transaction_id` = H(`checkout_jwt`) (the cart↔payment
 * binding); `payment.reference` = the open checkout mandate presented; payee = the checkout's
 * merchant; `payment_amount` = the checkout total; both chains of the same modality — then every
 * stateless constraint ({@link checkConstraints} with `usage: 'deferred'`).
 *
 * Pure: the caller checks the nonces, takes the locks and evaluates the stateful constraints.
 */
export function verifyPresentation(params: VerifyPresentationParameters): VerifyPresentationReturnType {
  const common = { trustedKeys: params.trustedKeys, audiences: params.audiences, now: params.now, clockSkewSeconds: params.clockSkewSeconds, maxPresentationAgeSeconds: params.maxPresentationAgeSeconds }
  const payment = verifyMandateChain({ ...common, chain: params.paymentMandate, kind: 'payment' })
  if (!payment.ok) return withWhere(payment, 'payment mandate')
  const checkout = verifyMandateChain({ ...common, chain: params.checkoutMandate, kind: 'checkout' })
  if (!checkout.ok) return withWhere(checkout, 'checkout mandate')
  const pc = payment.chain
  const cc = checkout.chain

  const cj = verifyCheckoutJwt({ checkoutJwt: cc.closed.checkout_jwt, merchants: params.merchants, now: params.now, clockSkewSeconds: params.clockSkewSeconds })
  if (!cj.ok) return cj
  const checkoutHash = hashB64u(cc.closedAlg, cc.closed.checkout_jwt)
  if (cc.closed.checkout_hash !== checkoutHash) return fail('invalid_mandate', 'checkout_hash does not equal the hash of checkout_jwt (the checkout was changed after it was hashed)')
  if (pc.closed.transaction_id !== hashB64u(pc.closedAlg, cc.closed.checkout_jwt))
    return fail('invalid_mandate', 'transaction_id of the payment mandate is not the hash of the checkout presented with it (cart↔payment binding)')
  if (pc.modality !== cc.modality) return fail('invalid_mandate', `the payment mandate is ${pc.modality} but the checkout mandate is ${cc.modality}`)

  const merchant = cj.merchant
  if (pc.closed.payee.id !== merchant.payee.id) return fail('invalid_mandate', `the payee ${pc.closed.payee.id} is not the merchant ${merchant.payee.id} that signed the checkout`)
  const total = checkoutTotal(cj.checkout)
  if (pc.closed.payment_amount.currency !== cj.checkout.currency || pc.closed.payment_amount.amount !== total)
    return fail('invalid_mandate', `payment_amount ${pc.closed.payment_amount.amount} ${pc.closed.payment_amount.currency} is not the checkout total ${total} ${cj.checkout.currency}`)

  const results: ConstraintResult[] = []
  const merchantIdentity = cj.checkout.merchant ?? merchant.payee
  for (const layer of cc.open) {
    const r = checkConstraints({ kind: 'checkout', open: layer.mandate, closed: cc.closed, checkout: cj.checkout, merchant: merchantIdentity, now: params.now, usage: 'deferred' })
    results.push(...r.results)
    if (!r.ok) return { ...r, results }
  }
  const openCheckoutHashes = cc.open.map((l) => l.segmentHash)
  for (const layer of pc.open) {
    const r = checkConstraints({ kind: 'payment', open: layer.mandate, closed: pc.closed, openCheckoutHashes, now: params.now, usage: 'deferred' })
    results.push(...r.results)
    if (!r.ok) return { ...r, results }
  }
  const nonces = [...new Set([pc.presentation?.nonce, cc.presentation?.nonce].filter((n): n is string => n !== undefined))]
  if (pc.modality === 'human_not_present' && (!pc.presentation || !cc.presentation)) return fail('invalid_credential', 'a delegated (human-not-present) chain must end in a key-binding hop with aud and nonce')
  return {
    ok: true,
    presentation: {
      checkout: cc,
      payment: pc,
      checkoutObject: cj.checkout,
      merchant,
      modality: pc.modality,
      constraintResults: results,
      openPayment: pc.open[0],
      nonces,
    },
  }
}

function withWhere(f: Ap2Failure, where: string): Ap2Failure {
  return { ...f, description: `${where}: ${f.description}` }
}

/**
 * The receipt `reference` for a chain that may not verify: H(sha-256) over its final SD-JWT
 * segment as received (with disclosures), or over the whole string when it does not parse.
 */
export function receivedReference(chain: unknown): string {
  if (typeof chain !== 'string' || chain.length === 0) return hashB64u('sha-256', '')
  const segments = splitChain(chain)
  if (typeof segments === 'string') return hashB64u('sha-256', chain)
  const sd = segments.filter((s) => !s.plainJwt)
  const last = sd[sd.length - 1]
  return hashB64u('sha-256', last ? last.text : chain)
}
