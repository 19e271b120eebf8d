import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../../core/util/paths.js'
import { b64u, hashB64u, jwkThumbprint, signCompactJws } from './jose.js'
import { generateEs256KeyPair, issueHop, issueRootMandate, joinChain, sd } from './issue.js'
import { buildCheckout, closeMandates, createParties, humanPresentMandates, issueOpenMandates } from './testing.js'
import { verifyChainHops, verifyMandateChain, type TrustedKey } from './verifyMandateChain.js'

interface Vector {
  name: string
  compact: string
  derived: { segments: Array<{ sd_hash_of_this_segment: string; issuer_jwt_hash_of_this_segment: string; payload: Record<string, unknown> }>; recomputed_checkout_hash?: string }
}
const vectors = JSON.parse(readFileSync(fromRoot('adapters', 'protocols', 'ap2', 'testdata', 'v0.2_doc_test_vectors.json'), 'utf8')) as { vectors: Vector[] }
const vector = (name: string): Vector => vectors.vectors.find((v) => v.name === name)!
/** A moment inside every doc token's validity (iat 1777342376, exp 1777345957). */
const DOC_NOW = 1777342400

describe('official AP2 v0.2 doc vectors (agent-signed hops and hash bindings)', () => {
  it('the open~~closed checkout chain: the agent hop verifies with the open cnf key and sd_hash binds it', () => {
    const v = vector('open_plus_closed_checkout_chain')
    const r = verifyChainHops({ chain: v.compact, kind: 'checkout', audiences: ['merchant'], now: DOC_NOW })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const c = r.chain
    expect(c.modality).toBe('human_not_present')
    expect(c.presentation).toEqual({ aud: 'merchant', nonce: 'b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4', iat: 1777342376 })
    // The published derived values: sd_hash of the open segment, and of the closed one (= our receipt reference).
    expect(c.open[0]!.segmentHash).toBe(v.derived.segments[0]!.sd_hash_of_this_segment)
    expect(c.open[0]!.segmentHash).toBe('FzLoxbbtgQGYZxoSM2NJYJtkFTSsdfUBoVEQ12k7JN8')
    expect(c.reference).toBe(v.derived.segments[1]!.sd_hash_of_this_segment)
    expect(c.referenceJwt).toBe(v.derived.segments[1]!.issuer_jwt_hash_of_this_segment)
    // checkout_hash = b64u(sha256(checkout_jwt)).
    expect(c.closed.checkout_hash).toBe(hashB64u('sha-256', c.closed.checkout_jwt))
    expect(c.closed.checkout_hash).toBe(v.derived.recomputed_checkout_hash)
    // The revealed constraint values.
    const [lineItems, merchants] = c.open[0]!.mandate.constraints
    expect((lineItems as unknown as { items: Array<{ acceptable_items: unknown[] }> }).items[0]!.acceptable_items).toEqual([{ id: 'supershoe_limited_edition_gold_sneaker_womens_9_0', title: 'SuperShoe Limited Edition Gold' }])
    expect((merchants as unknown as { allowed: unknown[] }).allowed).toEqual([{ id: 'merchant_1', name: 'Demo Merchant', website: 'https://demo-merchant.example' }])
  })

  it('the open~~closed payment chain verifies; transaction_id = checkout_hash; payment.reference = the open checkout digest', () => {
    const r = verifyChainHops({ chain: vector('open_plus_closed_payment_chain').compact, kind: 'payment', audiences: ['credential-provider'], now: DOC_NOW })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    const checkout = verifyChainHops({ chain: vector('open_plus_closed_checkout_chain').compact, kind: 'checkout', audiences: ['merchant'], now: DOC_NOW })
    if (!checkout.ok) throw new Error(checkout.description)
    expect(r.chain.closed.transaction_id).toBe(checkout.chain.closed.checkout_hash)
    const ref = r.chain.open[0]!.mandate.constraints.find((c) => c.type === 'payment.reference')!
    expect(ref['conditional_transaction_id']).toBe(checkout.chain.open[0]!.segmentHash)
    expect(r.chain.closed.payment_amount).toEqual({ amount: 19900, currency: 'USD' })
    expect(r.chain.reference).toBe('O_nUGStNvVsjejIJCNWEN2ERGQ_ha0BTvWtaZ8mycDw')
  })

  it('the doc root is refused by the trusting verifier: agent-provider-key-1 is not in our trust list', () => {
    const r = verifyMandateChain({ chain: vector('open_plus_closed_payment_chain').compact, kind: 'payment', trustedKeys: [{ role: 'agent_provider', jwk: generateEs256KeyPair().publicJwk }], audiences: ['credential-provider'], now: DOC_NOW })
    expect(r).toMatchObject({ ok: false, error: 'invalid_credential' })
    expect(!r.ok && r.description).toMatch(/untrusted key/)
  })

  it('a tampered doc chain fails: swapped open disclosure, edited closed disclosure, wrong audience, expired', () => {
    const v = vector('open_plus_closed_checkout_chain').compact
    const [open, closed] = v.split('~~') as [string, string]
    const openParts = open.split('~')
    // Drop the merchant disclosure of the open mandate: the closed hop's sd_hash no longer matches.
    const redacted = [openParts[0], openParts[1], openParts[3]].join('~') + '~~' + closed
    expect(verifyChainHops({ chain: redacted, kind: 'checkout', audiences: ['merchant'], now: DOC_NOW })).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/sd_hash/) })
    // Edit the closed mandate's disclosure: its digest is no longer in the signed hop.
    const closedParts = closed.split('~')
    const edited = JSON.parse(Buffer.from(closedParts[1]!, 'base64url').toString()) as [string, Record<string, unknown>]
    edited[1]['checkout_hash'] = 'x'.repeat(43)
    closedParts[1] = b64u(JSON.stringify(edited))
    expect(verifyChainHops({ chain: `${open}~~${closedParts.join('~')}`, kind: 'checkout', audiences: ['merchant'], now: DOC_NOW })).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/not referenced/) })
    expect(verifyChainHops({ chain: v, kind: 'checkout', audiences: ['credential-provider'], now: DOC_NOW })).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/aud/) })
    expect(verifyChainHops({ chain: v, kind: 'checkout', audiences: ['merchant'], now: 1777345957 + 301 })).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/expired/) })
    // The closed checkout token alone is a key-binding hop: it cannot start a chain.
    expect(verifyChainHops({ chain: vector('closed_checkout_mandate').compact, kind: 'checkout', audiences: ['merchant'], now: DOC_NOW })).toMatchObject({ ok: false, description: expect.stringMatching(/cannot start a chain/) })
  })
})

describe('verifyMandateChain: our own chains', () => {
  const parties = createParties()
  const trusted: TrustedKey[] = [{ role: 'user', jwk: parties.user.publicJwk }]
  const AUD = 'https://gateway.test'
  const now = Math.floor(Date.now() / 1000)
  const open = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'sku-1', title: 'One' }], quantity: 1 }], amountRange: { currency: 'USD', max: 5000 } })
  const checkout = buildCheckout(parties.payee, [{ sku: 'sku-1', title: 'One', price: 1999, quantity: 1 }])
  const closed = closeMandates(parties, open, { checkout, instrument: { id: 'agr-1', type: 'alipay.agreement' }, aud: AUD, nonce: 'nonce-0123456789abcdef' })
  const verify = (chain: string, kind: 'checkout' | 'payment' = 'payment', extra: Partial<Parameters<typeof verifyMandateChain>[0]> = {}) =>
    verifyMandateChain({ chain, kind, trustedKeys: trusted, audiences: [AUD], now, ...extra })

  it('human not present: open (user) ~~ closed (agent) verifies for both mandate kinds', () => {
    const p = verify(closed.paymentMandate)
    expect(p).toMatchObject({ ok: true, chain: { modality: 'human_not_present', kind: 'payment', presentation: { aud: AUD, nonce: 'nonce-0123456789abcdef' } } })
    if (!p.ok) return
    expect(p.chain.root).toEqual({ role: 'user', kid: parties.user.kid, thumbprint: jwkThumbprint(parties.user.publicJwk) })
    expect(p.chain.signerThumbprint).toBe(jwkThumbprint(parties.agent.publicJwk))
    expect(verify(closed.checkoutMandate, 'checkout')).toMatchObject({ ok: true, chain: { modality: 'human_not_present' } })
  })

  it('human present: a bare user-signed closed mandate verifies (no aud / nonce)', () => {
    const hp = humanPresentMandates(parties, { checkout, instrument: { id: 'agr-1', type: 'alipay.agreement' } })
    expect(verify(hp.paymentMandate)).toMatchObject({ ok: true, chain: { modality: 'human_present', open: [], presentation: undefined } })
  })

  it('issuer_jwt_hash binding lets the agent redact open disclosures; sd_hash freezes them', () => {
    const c = closeMandates(parties, open, { checkout, instrument: { id: 'agr-1', type: 'alipay.agreement' }, aud: AUD, nonce: 'nonce-0123456789abcdef', binding: 'issuer_jwt_hash' })
    const [o, h] = c.paymentMandate.split('~~') as [string, string]
    const parts = o.split('~')
    const redacted = [parts[0], ...parts.slice(2)].join('~') // drop the allowed payee disclosure
    expect(verify(`${redacted}~~${h}`)).toMatchObject({ ok: true })
    const [o2, h2] = closed.paymentMandate.split('~~') as [string, string]
    const p2 = o2.split('~')
    expect(verify(`${[p2[0], ...p2.slice(2)].join('~')}~~${h2}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/sd_hash/) })
  })

  it('rejects alg none, HS256 and non-ES256 headers', () => {
    const [root, rest] = closed.paymentMandate.split('~~') as [string, string]
    const jwt = root.split('~')[0]!
    const [, payload] = jwt.split('.')
    for (const alg of ['none', 'HS256', 'ES384', 'EdDSA']) {
      const forged = `${b64u(JSON.stringify({ alg, typ: 'example+sd-jwt', kid: parties.user.kid }))}.${payload}.${alg === 'none' ? '' : 'AAAA'}`
      const r = verify(`${root.replace(jwt, forged)}~${rest}`)
      expect(r).toMatchObject({ ok: false, error: 'invalid_credential' })
    }
  })

  it('rejects a tampered payload or signature, a duplicated disclosure and a disclosure the payload does not reference', () => {
    const [root, hop] = closed.paymentMandate.split('~~') as [string, string]
    const [h, p, s] = root.split('~')[0]!.split('.') as [string, string, string]
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
    payload['iss'] = 'https://attacker.example'
    const tamperedPayload = root.replace(`${h}.${p}.${s}`, `${h}.${b64u(JSON.stringify(payload))}.${s}`)
    expect(verify(`${tamperedPayload}~${hop}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/does not verify/) })
    const badSig = root.replace(s, s.slice(0, -4) + (s.endsWith('AAAA') ? 'BBBB' : 'AAAA'))
    expect(verify(`${badSig}~${hop}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/does not verify/) })
    const parts = root.split('~')
    const dup = [...parts.slice(0, -1), parts[1], ''].join('~')
    expect(verify(`${dup}~${hop}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/duplicated/) })
    const stray = b64u(JSON.stringify(['salt', 'extra', 1]))
    expect(verify(`${parts.slice(0, -1).join('~')}~${stray}~~${hop}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/not referenced/) })
  })

  it('rejects a root by an untrusted key and a closed hop by another agent key', () => {
    const stranger = createParties()
    const o2 = issueOpenMandates(stranger, { requirements: [{ acceptable: [{ id: 'sku-1', title: 'One' }], quantity: 1 }] })
    expect(verify(closeMandates(stranger, o2, { checkout, instrument: { id: 'a', type: 'x402' }, aud: AUD, nonce: 'n-0123456789abcdef' }).paymentMandate)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/untrusted/) })
    const wrongAgent = closeMandates(parties, open, { checkout, instrument: { id: 'a', type: 'x402' }, aud: AUD, nonce: 'n-0123456789abcdef', signer: generateEs256KeyPair() })
    expect(verify(wrongAgent.paymentMandate)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/previous layer's cnf key/) })
  })

  it('rejects an issuer_jwt_hash over another JWT and a KB-JWT whose sd_hash is not the SD-JWT it follows', () => {
    const other = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'sku-9', title: 'Nine' }], quantity: 1 }] })
    const hop = issueHop({ signer: parties.agent, previous: other.openPayment, binding: 'issuer_jwt_hash', mandate: { vct: 'mandate.payment.1', transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' } }, aud: AUD, nonce: 'n' })
    expect(verify(joinChain(open.openPayment, hop))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/issuer_jwt_hash/) })
    const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: parties.agent.publicJwk.x, y: parties.agent.publicJwk.y } }
    const root = issueRootMandate({ signer: parties.user, mandate: { vct: 'mandate.payment.1', transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' }, cnf } })
    const kb = signCompactJws(parties.agent.privateKey, { typ: 'kb+jwt' }, { iat: now, aud: AUD, nonce: 'kb-nonce-0123456789', sd_hash: hashB64u('sha-256', other.openPayment) })
    expect(verify(`${root}~${kb}`)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/sd_hash/) })
  })

  it('rejects a grafted closed mandate (sd_hash of another user open mandate)', () => {
    const other = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'sku-9', title: 'Nine' }], quantity: 1 }] })
    const hop = closed.paymentMandate.split('~~')[1]!
    expect(verify(joinChain(other.openPayment, hop))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/grafted|sd_hash/) })
  })

  it('rejects wrong aud, missing iat, a stale presentation, an expired open mandate, a future iat', () => {
    expect(verify(closed.paymentMandate, 'payment', { audiences: ['https://other.example'] })).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/aud/) })
    const noIat = issueHop({ signer: parties.agent, previous: open.openPayment, mandate: { vct: 'mandate.payment.1' }, aud: AUD, nonce: 'n', claims: { iat: undefined } })
    expect(verify(joinChain(open.openPayment, noIat))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/iat/) })
    expect(verify(closed.paymentMandate, 'payment', { now: now + 3600 })).toMatchObject({ ok: false, error: 'invalid_credential' })
    const expiredOpen = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'sku-1', title: 'One' }], quantity: 1 }], iat: now - 7200, exp: now - 3600 })
    const c = closeMandates(parties, expiredOpen, { checkout, instrument: { id: 'a', type: 'x402' }, aud: AUD, nonce: 'n-0123456789abcdef' })
    expect(verify(c.paymentMandate)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/expired/) })
    const future = closeMandates(parties, open, { checkout, instrument: { id: 'a', type: 'x402' }, aud: AUD, nonce: 'n-0123456789abcdef', iat: now + 3600 })
    expect(verify(future.paymentMandate)).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/future/) })
  })

  it('vct is exact: unsuffixed or wrong versions fail, an open mandate where a closed one is required fails', () => {
    for (const vct of ['mandate.payment', 'mandate.payment.2', 'mandate.checkout.1']) {
      const hop = issueHop({ signer: parties.agent, previous: open.openPayment, mandate: { vct, transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' } }, aud: AUD, nonce: 'n' })
      expect(verify(joinChain(open.openPayment, hop))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/vct/) })
    }
    expect(verify(open.openPayment)).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/open mandate .* where a closed/) })
  })

  it('structural rules of open mandates: cnf, payment.reference, checkout.line_items; no cnf in a closed mandate', () => {
    const root = (mandate: Record<string, unknown>) => issueRootMandate({ signer: parties.user, mandate })
    const hopOver = (prev: string, mandate: Record<string, unknown>) => joinChain(prev, issueHop({ signer: parties.agent, previous: prev, mandate, aud: AUD, nonce: 'n' }))
    const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: parties.agent.publicJwk.x, y: parties.agent.publicJwk.y } }
    const closedPay = { vct: 'mandate.payment.1', transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' } }
    const noCnf = root({ vct: 'mandate.payment.open.1', constraints: [{ type: 'payment.reference', conditional_transaction_id: 'x' }] })
    expect(verify(hopOver(noCnf, closedPay))).toMatchObject({ ok: false, error: 'invalid_mandate' })
    const noRef = root({ vct: 'mandate.payment.open.1', cnf, constraints: [{ type: 'payment.amount_range', currency: 'USD', max: 10 }] })
    expect(verify(hopOver(noRef, closedPay))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payment.reference/) })
    const noLines = root({ vct: 'mandate.checkout.open.1', cnf, constraints: [{ type: 'checkout.allowed_merchants', allowed: [] }] })
    expect(verify(hopOver(noLines, { vct: 'mandate.checkout.1', checkout_jwt: 'a.b.c', checkout_hash: 'x' }), 'checkout')).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/line_items/) })
    const withRef = root({ vct: 'mandate.payment.open.1', cnf, constraints: [{ type: 'payment.reference', conditional_transaction_id: 'x' }] })
    expect(verify(hopOver(withRef, { ...closedPay, cnf }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/must not carry cnf/) })
    // An unknown constraint type is not a structural error: checkConstraints decides (unresolved_constraint).
    const unknown = root({ vct: 'mandate.payment.open.1', cnf, constraints: [{ type: 'payment.reference', conditional_transaction_id: 'x' }, { type: 'payment.loyalty_points', min: 3 }] })
    expect(verify(hopOver(unknown, closedPay))).toMatchObject({ ok: true })
  })

  it('a trailing KB-JWT (the DPC shape) binds a closed mandate that carries cnf', () => {
    const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: parties.agent.publicJwk.x, y: parties.agent.publicJwk.y } }
    const root = issueRootMandate({ signer: parties.user, mandate: { vct: 'mandate.payment.1', transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' }, cnf } })
    const kb = signCompactJws(parties.agent.privateKey, { typ: 'kb+jwt' }, { iat: now, aud: AUD, nonce: 'kb-nonce-0123456789', sd_hash: hashB64u('sha-256', root) })
    expect(verify(`${root}~${kb}`)).toMatchObject({ ok: true, chain: { modality: 'human_present', presentation: { nonce: 'kb-nonce-0123456789' } } })
    const wrong = signCompactJws(generateEs256KeyPair().privateKey, { typ: 'kb+jwt' }, { iat: now, aud: AUD, nonce: 'n', sd_hash: hashB64u('sha-256', root) })
    expect(verify(`${root}~${wrong}`)).toMatchObject({ ok: false, error: 'invalid_credential' })
  })

  it('re-delegation: an intermediate kb+sd-jwt+kb hop hands over to a second agent key', () => {
    const sub = generateEs256KeyPair()
    const cnf2 = { jwk: { kty: 'EC', crv: 'P-256', x: sub.publicJwk.x, y: sub.publicJwk.y } }
    const mid = issueHop({ signer: parties.agent, previous: open.openPayment, typ: 'kb+sd-jwt+kb', aud: 'sub-agent', nonce: 'n', mandate: { vct: 'mandate.payment.open.1', cnf: cnf2, constraints: [{ type: 'payment.reference', conditional_transaction_id: open.openCheckoutHash }] } })
    const prefix = joinChain(open.openPayment, mid)
    const closedPay = { vct: 'mandate.payment.1', transaction_id: 'x', payee: parties.payee, payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' } }
    const last = issueHop({ signer: sub, previous: mid, mandate: closedPay, aud: AUD, nonce: 'nonce-sub-0123456789' })
    const r = verify(joinChain(prefix, last))
    expect(r).toMatchObject({ ok: true, chain: { modality: 'human_not_present', segments: 3, presentation: { nonce: 'nonce-sub-0123456789' } } })
    if (r.ok) expect(r.chain.open).toHaveLength(2)
    // The first agent cannot sign the terminal hop once it delegated; the intermediate typ is enforced.
    expect(verify(joinChain(prefix, issueHop({ signer: parties.agent, previous: mid, mandate: closedPay, aud: AUD, nonce: 'n' })))).toMatchObject({ ok: false, error: 'invalid_credential' })
    const wrongTyp = issueHop({ signer: parties.agent, previous: open.openPayment, aud: 'sub-agent', nonce: 'n', mandate: { vct: 'mandate.payment.open.1', cnf: cnf2, constraints: [{ type: 'payment.reference', conditional_transaction_id: 'x' }] } })
    expect(verify(joinChain(open.openPayment, wrongTyp, issueHop({ signer: sub, previous: wrongTyp, mandate: closedPay, aud: AUD, nonce: 'n' })))).toMatchObject({ ok: false, error: 'invalid_credential', description: expect.stringMatching(/typ must be kb\+sd-jwt\+kb/) })
  })

  it('selectively disclosed nested claims resolve; a disclosure referenced from the wrong place fails', () => {
    const root = issueRootMandate({ signer: parties.user, mandate: { vct: 'mandate.payment.1', transaction_id: 'x', payee: sd(parties.payee), payment_amount: { amount: 1, currency: 'USD' }, payment_instrument: { id: 'a', type: 'x402' } } })
    const r = verify(root)
    expect(r).toMatchObject({ ok: true, chain: { closed: { payee: parties.payee } } })
  })
})
