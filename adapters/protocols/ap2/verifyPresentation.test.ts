import { generateKeyPairSync, sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { verifyDetachedCheckoutSignature } from './checkout.js'
import { b64u, hashB64u } from './jose.js'
import { generateEs256KeyPair, signCheckoutJwt } from './issue.js'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { buildCheckout, closeMandates, createParties, humanPresentMandates, issueOpenMandates, type Ap2Parties } from './testing.js'
import { receivedReference, verifyPresentation } from './verifyPresentation.js'

const AUD = 'https://gateway.test'
const NONCE = 'nonce-presentation-0001'
const parties = createParties()
const trust = {
  trustedKeys: [{ role: 'user' as const, jwk: parties.user.publicJwk }],
  merchants: [{ payee: parties.payee, keys: [{ jwk: parties.merchant.publicJwk }] }],
  audiences: [AUD],
}
const instrument = { id: '20215000000000000001', type: 'alipay.agreement' }
const now = () => Math.floor(Date.now() / 1000)
const cart = () => buildCheckout(parties.payee, [{ sku: 'gold', title: 'Gold', price: 19_900, quantity: 1 }])
const open = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'gold', title: 'Gold' }, { id: 'silver', title: 'Silver' }], quantity: 1 }], amountRange: { currency: 'USD', max: 20_000 } })
const verify = (m: { checkoutMandate: string; paymentMandate: string }, t = trust) => verifyPresentation({ ...t, checkoutMandate: m.checkoutMandate, paymentMandate: m.paymentMandate, now: now() })

describe('verifyPresentation: bindings between the checkout and the payment', () => {
  it('a consistent HNP presentation verifies, with constraint results and the nonce to consume', () => {
    const m = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE })
    const r = verify(m)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.presentation.modality).toBe('human_not_present')
    expect(r.presentation.nonces).toEqual([NONCE])
    expect(r.presentation.constraintResults.map((c) => `${c.type}:${c.ok}`)).toEqual([
      'checkout.line_items:true',
      'checkout.allowed_merchants:true',
      'payment.amount_range:true',
      'payment.allowed_payees:true',
      'payment.reference:true',
    ])
  })

  it('a human-present presentation verifies', () => {
    expect(verify(humanPresentMandates(parties, { checkout: cart(), instrument }))).toMatchObject({ ok: true, presentation: { modality: 'human_present', nonces: [] } })
  })

  it('wrong checkout_hash → invalid_mandate', () => {
    const m = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE, checkoutClaims: { checkout_hash: hashB64u('sha-256', 'another checkout') } })
    expect(verify(m)).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/checkout_hash/) })
  })

  it('transaction_id not the hash of the presented checkout → invalid_mandate', () => {
    const other = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE })
    const m = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE })
    expect(verify({ checkoutMandate: m.checkoutMandate, paymentMandate: other.paymentMandate })).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/transaction_id/) })
  })

  it('payment.reference naming another open checkout mandate → invalid_mandate', () => {
    const o2 = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'gold', title: 'Gold' }], quantity: 1 }], reference: hashB64u('sha-256', 'not the open checkout') })
    expect(verify(closeMandates(parties, o2, { checkout: cart(), instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payment.reference/) })
  })

  it('payee other than the checkout merchant, and an amount other than the checkout total → invalid_mandate', () => {
    expect(verify(closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE, payment: { payee: { id: 'merchant_2', name: 'Other' } } }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payee/) })
    expect(verify(closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE, payment: { payment_amount: { amount: 100, currency: 'USD' } } }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/checkout total/) })
  })

  it('a payee not allowed by the open mandate → unresolved_constraint', () => {
    const o2 = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'gold', title: 'Gold' }], quantity: 1 }], allowedPayees: [{ id: 'someone_else', name: 'Else' }] })
    expect(verify(closeMandates(parties, o2, { checkout: cart(), instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/allowed_payees/) })
  })

  it('amount out of range → unresolved_constraint; an unknown constraint type → unresolved_constraint', () => {
    const big = buildCheckout(parties.payee, [{ sku: 'gold', title: 'Gold', price: 20_001, quantity: 1 }])
    expect(verify(closeMandates(parties, open, { checkout: big, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/amount_range/) })
    const o2 = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'gold', title: 'Gold' }], quantity: 1 }], extraPaymentConstraints: [{ type: 'payment.carbon_offset', percent: 2 }] })
    expect(verify(closeMandates(parties, o2, { checkout: cart(), instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/unknown constraint type/) })
  })

  it('checkout_jwt signed by an unknown merchant key, tampered, or not ES256 → invalid_credential', () => {
    const stranger: Ap2Parties = { ...parties, merchant: generateEs256KeyPair() }
    expect(verify(closeMandates(stranger, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/checkout_jwt/) })
    // Ed25519 (deterministic) checkout signatures are refused.
    const { privateKey } = generateKeyPairSync('ed25519')
    const h = b64u(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: parties.merchant.kid }))
    const p = b64u(JSON.stringify(cart()))
    const ed = `${h}.${p}.${b64u(sign(null, Buffer.from(`${h}.${p}`), privateKey))}`
    expect(verify(closeMandates(parties, open, { checkout: ed, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/ES256/) })
    // An amount edited inside checkout_jwt breaks the merchant signature.
    const jwt = signCheckoutJwt(parties.merchant, cart())
    const [hh, pp, ss] = jwt.split('.') as [string, string, string]
    const edited = JSON.parse(Buffer.from(pp, 'base64url').toString()) as { totals: Array<{ amount: number }> }
    edited.totals[1]!.amount = 1
    expect(verify(closeMandates(parties, open, { checkout: `${hh}.${b64u(JSON.stringify(edited))}.${ss}`, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_credential' })
  })

  it('an expired checkout, a canceled checkout, or one naming another merchant are refused', () => {
    const expired = buildCheckout(parties.payee, [{ sku: 'gold', title: 'Gold', price: 19_900, quantity: 1 }], { exp: now() - 3600 })
    expect(verify(closeMandates(parties, open, { checkout: expired, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/expired/) })
    const canceled = buildCheckout(parties.payee, [{ sku: 'gold', title: 'Gold', price: 19_900, quantity: 1 }], { status: 'canceled' })
    expect(verify(closeMandates(parties, open, { checkout: canceled, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/canceled/) })
    const foreign = buildCheckout({ id: 'merchant_9', name: 'Nine' }, [{ sku: 'gold', title: 'Gold', price: 19_900, quantity: 1 }])
    expect(verify(closeMandates(parties, open, { checkout: foreign, instrument, aud: AUD, nonce: NONCE }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/names merchant/) })
  })

  it('mixing a human-present checkout with a delegated payment → invalid_mandate', () => {
    const hnp = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE })
    const hp = humanPresentMandates(parties, { checkout: hnp.checkoutJwt, instrument })
    expect(verify({ checkoutMandate: hnp.checkoutMandate, paymentMandate: hp.paymentMandate })).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/human_present but the checkout mandate is human_not_present/) })
  })

  it('receivedReference hashes the final segment as received (for error receipts)', () => {
    const m = closeMandates(parties, open, { checkout: cart(), instrument, aud: AUD, nonce: NONCE })
    const r = verify(m)
    if (!r.ok) throw new Error(r.description)
    expect(receivedReference(m.paymentMandate)).toBe(r.presentation.payment.reference)
    expect(receivedReference('garbage')).toBe(hashB64u('sha-256', 'garbage'))
  })
})

describe("UCP's detached merchant signature (Ambiguity 17)", () => {
  it('verifies <header>..<signature> over the JCS checkout without ap2, and fails when the body changes', () => {
    const checkout = cart()
    const h = b64u(JSON.stringify({ alg: 'ES256', kid: parties.merchant.kid }))
    const payload = b64u(canonicalJson(checkout))
    const sig = b64u(sign('sha256', Buffer.from(`${h}.${payload}`), { key: parties.merchant.privateKey, dsaEncoding: 'ieee-p1363' }))
    const merchants = trust.merchants
    expect(verifyDetachedCheckoutSignature({ detachedJws: `${h}..${sig}`, checkout: { ...checkout, ap2: { merchant_authorization: 'x' } }, merchants, now: now() })).toMatchObject({ ok: true })
    expect(verifyDetachedCheckoutSignature({ detachedJws: `${h}..${sig}`, checkout: { ...checkout, currency: 'EUR' }, merchants, now: now() })).toMatchObject({ ok: false, error: 'invalid_credential' })
  })
})
