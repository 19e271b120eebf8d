import { generateKeyPairSync, sign } from 'node:crypto'
import { b64url, bindingHop, chainOf, merchantCheckoutJwt, newSigningParty, openPair, rootMandate, sha256b64url } from './issuer.js'
import { assert, assertEqual, expectStatus, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import {
  a2aExtensionDoc,
  a2aSend,
  ap2Doc,
  ap2Schema,
  checkout,
  close,
  decodeJwtPayload,
  expectAccepted,
  expectRefused,
  expectSignedReceipt,
  freshNonce,
  openMandates,
  partiesOf,
  present,
  PROBE_INSTRUMENT,
  type Ap2Discovery,
} from './helpers.js'

type R = Requirement<Ap2Discovery>
const T = ['a2a', 'trust'] as const

/** Replace the JWT of the first segment of a chain. */
function withRootJwt(chain: string, jwt: string): string {
  const first = chain.split('~')[0]!
  return jwt + chain.slice(first.length)
}

/** Discovery and the A2A binding (digest checks 20). */
export const discoveryRequirements: R[] = [
  {
    id: 'AP2-DISC-001',
    level: 'MUST',
    section: 'DISC',
    title: 'The agent card lists the AP2 extension with required: true and a JSON-RPC url',
    spec: a2aExtensionDoc('AgentCard Extension Object', 'agentcard-extension-object'),
    requires: ['a2a'],
    async check(ctx) {
      const exts = ((ctx.discovery.card!['capabilities'] as { extensions?: Array<{ uri?: string; required?: unknown; params?: { roles?: unknown } }> }).extensions ?? []).filter((e) => e.uri?.includes('ap2') || e.uri?.includes('payments'))
      assert(exts.length > 0, 'no AP2 extension on the agent card')
      assert(exts[0]!.required === true, `the AP2 extension has required ${show(exts[0]!.required)}: a merchant or payment processor requires it`)
      const roles = exts[0]!.params?.roles
      assert(Array.isArray(roles) && roles.length > 0 && roles.every((r) => ['merchant', 'shopper', 'credentials-provider', 'payment-processor'].includes(r as string)), `params.roles must be a non-empty list of AP2 roles, got ${show(roles)}`)
    },
  },
  {
    id: 'AP2-DISC-002',
    level: 'MUST',
    section: 'DISC',
    title: "The verifier's receipt key is published as a JWK Set of public EC P-256 keys",
    spec: ap2Doc('agent_authorization', 'Receipts', 'receipts'),
    async check(ctx) {
      const r = await ctx.http.get(ctx.discovery.jwksUrl)
      expectStatus(r, 200)
      const keys = (r.json() as { keys?: Array<Record<string, unknown>> }).keys
      assert(Array.isArray(keys) && keys.length > 0, `${ctx.discovery.jwksUrl} has no keys`)
      for (const k of keys) {
        assert(k['kty'] === 'EC' && k['crv'] === 'P-256', `a key is not EC P-256: ${show(k)}`)
        assert(k['d'] === undefined, 'the JWK Set publishes a private key (d)')
      }
    },
  },
  {
    id: 'AP2-A2A-001',
    level: 'MUST',
    section: 'A2A',
    title: 'A message without the AP2 extension activated in X-A2A-Extensions is refused',
    spec: a2aExtensionDoc('Extension activation', 'extension-activation'),
    requires: ['a2a'],
    async check(ctx) {
      const r = await a2aSend(ctx, ctx.discovery.a2aUrl!, [{ kind: 'text', text: 'pay' }], { headers: {} })
      assert(r.body['error'] !== undefined, `expected a JSON-RPC error, got ${show(r.body['result'])}`)
    },
  },
  {
    id: 'AP2-A2A-002',
    level: 'SHOULD',
    section: 'A2A',
    title: 'Malformed JSON-RPC and unknown methods get JSON-RPC errors (-32600, -32601), never an HTTP 5xx',
    spec: a2aExtensionDoc('A2A binding', 'a2a-extension'),
    requires: ['a2a'],
    async check(ctx) {
      const bad = await ctx.http.post(ctx.discovery.a2aUrl!, { headers: { 'X-A2A-Extensions': 'https://github.com/google-agentic-commerce/ap2/v1' }, json: { jsonrpc: '1.0', method: 1 } })
      assert(bad.status < 500, `HTTP ${bad.status}`)
      assertEqual((bad.json() as { error?: { code?: unknown } }).error?.code, -32600, 'malformed request error code')
      const unknown = await ctx.http.post(ctx.discovery.a2aUrl!, { headers: { 'X-A2A-Extensions': 'https://github.com/google-agentic-commerce/ap2/v1' }, json: { jsonrpc: '2.0', id: 1, method: 'conformance/unknown', params: {} } })
      assertEqual((unknown.json() as { error?: { code?: unknown } }).error?.code, -32601, 'unknown method error code')
    },
  },
]

/** Chain verification (digest checks 4–9). */
export const chainRequirements: R[] = [
  {
    id: 'AP2-CHAIN-001',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A root with alg none or HS256 is refused with invalid_credential',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: ['a2a'],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const jwt = m.paymentMandate.split('~')[0]!
      const payload = jwt.split('.')[1]!
      for (const alg of ['none', 'HS256']) {
        const forged = `${b64url(JSON.stringify({ alg, typ: 'example+sd-jwt', kid: parties.user.kid }))}.${payload}.${alg === 'none' ? '' : b64url('forged-mac-forged-mac-forged-mac')}`
        expectRefused(await present(ctx, { ...m, paymentMandate: withRootJwt(m.paymentMandate, forged) }), `root alg ${alg}`, ['invalid_credential'])
      }
    },
  },
  {
    id: 'AP2-CHAIN-002',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A root signed by a key outside the trust list is refused with invalid_credential',
    spec: ap2Doc('agent_authorization', 'Trusted Agent Provider', 'trusted-agent-provider'),
    requires: ['a2a'],
    async check(ctx) {
      const stranger = { ...partiesOf(ctx, ctx.discovery.payee), user: newSigningParty() }
      const open = openPair(stranger, { requirements: [{ acceptable: [{ id: 'conf-sku-a', title: 'a' }], quantity: 1 }], allowedInstruments: [PROBE_INSTRUMENT] })
      expectRefused(await present(ctx, await close(ctx, stranger, open)), 'untrusted root', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-003',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A tampered root payload or signature is refused with invalid_credential',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const [h, p, s] = m.paymentMandate.split('~')[0]!.split('.') as [string, string, string]
      const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
      const tampered = `${h}.${b64url(JSON.stringify({ ...payload, iss: 'https://attacker.example' }))}.${s}`
      expectRefused(await present(ctx, { ...m, paymentMandate: withRootJwt(m.paymentMandate, tampered) }), 'tampered payload', ['invalid_credential'])
      const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`
      expectRefused(await present(ctx, { ...m, paymentMandate: withRootJwt(m.paymentMandate, flipped) }), 'tampered signature', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-004',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A disclosure whose digest is not in the payload, or a duplicated disclosure, is refused with invalid_credential',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const [root, hop] = m.paymentMandate.split('~~') as [string, string]
      const parts = root.split('~')
      const stray = b64url(JSON.stringify([b64url('salt-salt-salt'), 'extra_claim', 'x']))
      expectRefused(await present(ctx, { ...m, paymentMandate: `${parts.slice(0, -1).join('~')}~${stray}~~${hop}` }), 'unreferenced disclosure', ['invalid_credential'])
      expectRefused(await present(ctx, { ...m, paymentMandate: `${[...parts.slice(0, -1), parts[1]].join('~')}~~${hop}` }), 'duplicated disclosure', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-005',
    level: 'MUST',
    section: 'CHAIN',
    title: "A closed hop not signed by the open mandate's cnf key (wrong agent key) is refused",
    spec: ap2Doc('agent_authorization', 'Delegation', 'delegation'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      expectRefused(await present(ctx, await close(ctx, parties, open, { signer: newSigningParty() })), 'wrong agent key', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-006',
    level: 'MUST',
    section: 'CHAIN',
    title: "A closed hop whose sd_hash does not match the presented open mandate (a disclosure removed, or grafted onto another open mandate) is refused",
    spec: ap2Doc('agent_authorization', 'Delegation', 'delegation'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const [root, hop] = m.paymentMandate.split('~~') as [string, string]
      const parts = root.split('~')
      expectRefused(await present(ctx, { ...m, paymentMandate: `${[parts[0], ...parts.slice(2)].join('~')}~${hop}` }), 'open disclosure removed', ['invalid_credential'])
      const other = openMandates(ctx).open
      expectRefused(await present(ctx, { ...m, paymentMandate: chainOf(other.openPayment, hop) }), 'grafted closed mandate', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-007',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A presenting hop with another audience, or without iat, is refused',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      expectRefused(await present(ctx, await close(ctx, parties, open, { aud: 'https://another-verifier.example' })), 'wrong aud', ['invalid_credential'])
      const m = await close(ctx, parties, open)
      const noIat = bindingHop({ signer: parties.agent, previous: open.openPayment, mandate: JSON.parse(Buffer.from(m.paymentMandate.split('~~')[1]!.split('~').at(-2)!, 'base64url').toString())[1], aud: ctx.discovery.audience ?? ctx.target.baseUrl, nonce: await freshNonce(ctx), claims: { iat: undefined } })
      expectRefused(await present(ctx, { ...m, paymentMandate: chainOf(open.openPayment, noIat) }), 'missing iat', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-CHAIN-008',
    level: 'MUST',
    section: 'CHAIN',
    title: 'A nonce the verifier did not issue is refused',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: [...T, 'nonces.issued'],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      expectRefused(await present(ctx, await close(ctx, parties, open, { nonce: 'b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4' })), 'foreign nonce', ['invalid_credential'])
    },
  },
  {
    id: 'AP2-TIME-001',
    level: 'MUST',
    section: 'TIME',
    title: 'An expired open mandate, a closed hop issued in the future, and an expired checkout_jwt are refused',
    spec: ap2Doc('agent_authorization', 'Verification and Processing Rules', 'verification-and-processing-rules'),
    requires: [...T],
    async check(ctx) {
      const now = Math.floor(Date.now() / 1000)
      const expired = openMandates(ctx, { iat: now - 7200, exp: now - 3600 })
      expectRefused(await present(ctx, await close(ctx, expired.parties, expired.open)), 'expired open mandate')
      const { parties, open } = openMandates(ctx)
      expectRefused(await present(ctx, await close(ctx, parties, open, { iat: now + 3600 })), 'future iat')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { exp: now - 3600 }) })), 'expired checkout_jwt')
    },
  },
]

/** vct and structure (digest checks 10, 11). */
export const structureRequirements: R[] = [
  {
    id: 'AP2-VCT-001',
    level: 'MUST',
    section: 'VCT',
    title: 'vct is compared exactly: mandate.payment and mandate.payment.2 are refused',
    spec: ap2Schema('payment_mandate.json'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const closedMandate = JSON.parse(Buffer.from(m.paymentMandate.split('~~')[1]!.split('~').at(-2)!, 'base64url').toString())[1] as Record<string, unknown>
      for (const vct of ['mandate.payment', 'mandate.payment.2']) {
        const hop = bindingHop({ signer: parties.agent, previous: open.openPayment, mandate: { ...closedMandate, vct }, aud: ctx.discovery.audience ?? ctx.target.baseUrl, nonce: await freshNonce(ctx) })
        expectRefused(await present(ctx, { ...m, paymentMandate: chainOf(open.openPayment, hop) }), `vct ${vct}`)
      }
    },
  },
  {
    id: 'AP2-VCT-002',
    level: 'MUST',
    section: 'VCT',
    title: 'An open mandate presented where a closed one is required is refused',
    spec: ap2Doc('payment_mandate', 'Open Payment Mandate', 'open-payment-mandate'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      expectRefused(await present(ctx, { ...m, paymentMandate: open.openPayment }), 'open payment mandate alone', ['invalid_mandate'])
    },
  },
  {
    id: 'AP2-VCT-003',
    level: 'MUST',
    section: 'VCT',
    title: 'An open payment mandate without cnf or without payment.reference is refused',
    spec: ap2Schema('open_payment_mandate.json'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open)
      const closedMandate = JSON.parse(Buffer.from(m.paymentMandate.split('~~')[1]!.split('~').at(-2)!, 'base64url').toString())[1] as Record<string, unknown>
      const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: parties.agent.publicJwk.x, y: parties.agent.publicJwk.y } }
      const variants: Array<[string, Record<string, unknown>]> = [
        ['no cnf', { vct: 'mandate.payment.open.1', constraints: [{ type: 'payment.reference', conditional_transaction_id: open.openCheckoutHash }] }],
        ['no payment.reference', { vct: 'mandate.payment.open.1', cnf, constraints: [{ type: 'payment.amount_range', currency: ctx.discovery.currency, max: 1_000_000 }] }],
      ]
      for (const [what, mandate] of variants) {
        const root = rootMandate({ signer: parties.user, mandate })
        const hop = bindingHop({ signer: parties.agent, previous: root, mandate: closedMandate, aud: ctx.discovery.audience ?? ctx.target.baseUrl, nonce: await freshNonce(ctx) })
        expectRefused(await present(ctx, { ...m, paymentMandate: chainOf(root, hop) }), what, ['invalid_mandate'])
      }
    },
  },
]

/** Hash bindings between checkout and payment (digest checks 1–3, 17). */
export const bindingRequirements: R[] = [
  {
    id: 'AP2-BIND-001',
    level: 'MUST',
    section: 'BIND',
    title: "A closed payment mandate whose transaction_id is not the hash of the presented checkout_jwt is refused with invalid_mandate",
    spec: ap2Doc('payment_mandate', 'Closed Payment Mandate', 'closed-payment-mandate'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open, { payment: { transaction_id: sha256b64url('another checkout') } })
      expectRefused(await present(ctx, m), 'wrong transaction_id', ['invalid_mandate'])
    },
  },
  {
    id: 'AP2-BIND-002',
    level: 'MUST',
    section: 'BIND',
    title: 'A closed checkout mandate whose checkout_hash is not H(checkout_jwt) is refused',
    spec: ap2Doc('checkout_mandate', 'Closed Checkout Mandate', 'closed-checkout-mandate'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const wrong = sha256b64url('another checkout')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkoutClaims: { checkout_hash: wrong }, payment: { transaction_id: wrong } })), 'wrong checkout_hash')
    },
  },
  {
    id: 'AP2-BIND-003',
    level: 'MUST',
    section: 'BIND',
    title: "A checkout_jwt not signed by the merchant's key, edited after signing, or signed with Ed25519 is refused",
    spec: ap2Doc('checkout_mandate', 'Checkout JWT', 'closed-checkout-mandate'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const cart = checkout(ctx)
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: merchantCheckoutJwt(newSigningParty(), cart) })), 'unknown merchant key')
      const jwt = merchantCheckoutJwt(parties.merchant, cart)
      const [h, p, s] = jwt.split('.') as [string, string, string]
      const edited = JSON.parse(Buffer.from(p, 'base64url').toString()) as { totals: Array<{ amount: number }> }
      edited.totals.forEach((t) => (t.amount = 1))
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: `${h}.${b64url(JSON.stringify(edited))}.${s}` })), 'edited checkout')
      const { privateKey } = generateKeyPairSync('ed25519')
      const eh = b64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: parties.merchant.kid }))
      const ed = `${eh}.${p}.${b64url(sign(null, Buffer.from(`${eh}.${p}`), privateKey))}`
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: ed })), 'Ed25519 checkout')
    },
  },
  {
    id: 'AP2-BIND-004',
    level: 'MUST',
    section: 'BIND',
    title: 'payment.reference naming another open checkout mandate than the one presented is refused',
    spec: ap2Doc('payment_mandate', 'Reference', 'reference'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx, { reference: sha256b64url('another open checkout mandate') })
      expectRefused(await present(ctx, await close(ctx, parties, open)), 'payment.reference mismatch', ['invalid_mandate'])
    },
  },
]

/** Constraints (digest checks 12–16). */
export const constraintRequirements: R[] = [
  {
    id: 'AP2-CONS-001',
    level: 'MUST',
    section: 'CONS',
    title: 'An unknown constraint type is refused with unresolved_constraint, not ignored',
    spec: ap2Doc('payment_mandate', 'Constraints', 'constraints'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx, { extraPaymentConstraints: [{ type: 'payment.conformance_unknown', value: 1 }] })
      expectRefused(await present(ctx, await close(ctx, parties, open)), 'unknown constraint', ['unresolved_constraint'])
    },
  },
  {
    id: 'AP2-CONS-002',
    level: 'MUST',
    section: 'CONS',
    title: 'payment_amount above amount_range.max, below min, or in another currency is refused; = min and = max are accepted',
    spec: ap2Doc('payment_mandate', 'Amount Range', 'amount-range'),
    requires: [...T],
    async check(ctx) {
      const a = ctx.discovery.amount
      const cur = ctx.discovery.currency
      const { parties, open } = openMandates(ctx, { amountRange: { currency: cur, min: a, max: a + 10 } })
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { price: a + 11 }) })), 'above max')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { price: a - 1 }) })), 'below min')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { currency: cur === 'USD' ? 'EUR' : 'USD' }) })), 'other currency')
      expectAccepted(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { price: a }) })), '= min')
      expectAccepted(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { price: a + 10 }) })), '= max')
    },
  },
  {
    id: 'AP2-CONS-003',
    level: 'MUST',
    section: 'CONS',
    title: 'A payee not among the revealed allowed_payees (or none revealed) is refused; so is a merchant outside allowed_merchants',
    spec: ap2Doc('payment_mandate', 'Allowed Payees', 'allowed-payees'),
    requires: [...T],
    async check(ctx) {
      const notUs = [{ id: 'conformance_other_merchant', name: 'Other' }]
      const a = openMandates(ctx, { allowedPayees: notUs })
      expectRefused(await present(ctx, await close(ctx, a.parties, a.open)), 'payee not allowed')
      const b = openMandates(ctx, { allowedPayees: [] })
      expectRefused(await present(ctx, await close(ctx, b.parties, b.open)), 'no revealed payee')
      const c = openMandates(ctx, { allowedMerchants: notUs })
      expectRefused(await present(ctx, await close(ctx, c.parties, c.open)), 'merchant not allowed')
    },
  },
  {
    id: 'AP2-CONS-004',
    level: 'MUST',
    section: 'CONS',
    title: 'line_items: an extra SKU, a SKU not acceptable, or another quantity is refused; a substitution among revealed alternatives is accepted',
    spec: ap2Doc('checkout_mandate', 'Line Items', 'line-items'),
    requires: [...T],
    async check(ctx) {
      const { parties, open } = openMandates(ctx, { skus: ['conf-sku-a', 'conf-sku-b'] })
      expectAccepted(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { sku: 'conf-sku-b' }) })), 'substitution')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { sku: 'conf-sku-z' }) })), 'SKU not acceptable')
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { quantity: 2 }) })), 'quantity above')
      const cart = checkout(ctx) as { line_items: Array<Record<string, unknown>>; totals: Array<{ amount: number }> }
      const extra = { ...cart, line_items: [...cart.line_items, { ...cart.line_items[0]!, id: 'li_extra', item: { id: 'conf-sku-extra', title: 'extra', price: 1 } }] }
      extra.totals = cart.totals.map((t) => ({ ...t, amount: t.amount + 1 }))
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: extra })), 'extra SKU')
    },
  },
  {
    id: 'AP2-CONS-005',
    level: 'MUST',
    section: 'CONS',
    title: 'A payee, payment_amount or payment_instrument pre-set in the open mandate and changed in the closed one is refused',
    spec: ap2Doc('payment_mandate', 'Open Payment Mandate', 'open-payment-mandate'),
    requires: [...T],
    async check(ctx) {
      const d = ctx.discovery
      const { parties, open } = openMandates(ctx, { preset: { payment_instrument: PROBE_INSTRUMENT, payment_amount: { amount: d.amount, currency: d.currency } } })
      expectAccepted(await present(ctx, await close(ctx, parties, open)), 'unchanged pre-set claims')
      expectRefused(await present(ctx, await close(ctx, parties, open, { instrument: { ...PROBE_INSTRUMENT, id: 'conformance-probe-2' } })), 'instrument changed', ['invalid_mandate'])
      expectRefused(await present(ctx, await close(ctx, parties, open, { checkout: checkout(ctx, { price: d.amount + 1 }) })), 'amount changed', ['invalid_mandate'])
    },
  },
]

/** Stateful rules and receipts (digest checks 8, 18, 19). */
export const stateRequirements: R[] = [
  {
    id: 'AP2-RCPT-001',
    level: 'MUST',
    section: 'RCPT',
    title: 'A refusal carries an Error receipt signed by the verifier: status, iss, iat, reference = hash of the received closed mandate, error, error_description',
    spec: ap2Schema('payment_receipt.json'),
    requires: ['a2a'],
    async check(ctx) {
      const { parties, open } = openMandates(ctx)
      const m = await close(ctx, parties, open, { signer: newSigningParty() })
      const o = await present(ctx, m)
      expectRefused(o, 'wrong agent key')
      const p = await expectSignedReceipt(ctx, o.paymentReceipt, { status: 'Error' }, 'error receipt')
      const hop = m.paymentMandate.split('~~')[1]!
      assertEqual(p['reference'], sha256b64url(hop), 'reference (hash of the closed mandate as received, disclosures included)')
      for (const k of ['iss', 'iat', 'error', 'error_description', 'payment_id']) assert(p[k] !== undefined, `the receipt has no ${k}`)
    },
  },
  {
    id: 'AP2-RCPT-002',
    level: 'MUST',
    section: 'RCPT',
    title: 'A payment yields a Success receipt signed by the verifier with reference, payment_id and confirmation ids',
    spec: ap2Schema('payment_receipt.json'),
    requires: [...T, 'payments'],
    async check(ctx) {
      const r = await ctx.once('paid', () => payOnce(ctx))
      const p = await expectSignedReceipt(ctx, r.outcome.paymentReceipt, { status: 'Success' }, 'success receipt')
      assertEqual(p['reference'], sha256b64url(r.mandates.paymentMandate.split('~~')[1]!), 'reference')
      for (const k of ['payment_id', 'psp_confirmation_id', 'network_confirmation_id']) assert(typeof p[k] === 'string' && (p[k] as string).length > 0, `the receipt has no ${k}`)
    },
  },
  {
    id: 'AP2-STATE-001',
    level: 'MUST',
    section: 'STATE',
    title: 'Resubmitting the identical presentation after success is refused or replays the same receipt, never a second charge',
    spec: ap2Doc('agent_authorization', 'Double spend', 'receipts'),
    requires: [...T, 'payments'],
    async check(ctx) {
      const r = await ctx.once('paid', () => payOnce(ctx))
      const again = await present(ctx, r.mandates)
      if (again.state === 'completed') {
        assertEqual(again.paymentId, r.outcome.paymentId, 'payment id of the replayed receipt')
      } else expectRefused(again, 'resubmission')
    },
  },
  {
    id: 'AP2-STATE-002',
    level: 'MUST',
    section: 'STATE',
    title: 'A closed mandate that pushes the spend under an open mandate over payment.budget is refused with unresolved_constraint',
    spec: ap2Doc('payment_mandate', 'Budget', 'budget'),
    requires: [...T, 'payments'],
    async check(ctx) {
      const d = ctx.discovery
      const { parties, open } = openMandates(ctx, { budget: { currency: d.currency, max: d.amount + Math.floor(d.amount / 2) }, recurrence: { frequency: 'ON_DEMAND' } })
      const first = await present(ctx, await close(ctx, parties, open, { instrument: d.instrument! }))
      assert(first.state === 'completed', `the first payment within budget did not complete: ${first.state} ${first.error ?? ''} ${first.description ?? ''}`)
      const second = await present(ctx, await close(ctx, parties, open, { instrument: d.instrument!, checkout: checkout(ctx, { sku: 'conf-sku-b' }) }))
      expectRefused(second, 'over budget', ['unresolved_constraint'])
      await expectSignedReceipt(ctx, second.paymentReceipt, { status: 'Error', error: 'unresolved_constraint' }, 'over-budget receipt')
    },
  },
  {
    id: 'AP2-STATE-003',
    level: 'MUST',
    section: 'STATE',
    title: 'Of two concurrent closed mandates from one open mandate with room for one, at most one is paid',
    spec: ap2Doc('agent_authorization', 'Double spend', 'receipts'),
    requires: [...T, 'payments'],
    async check(ctx) {
      const d = ctx.discovery
      const { parties, open } = openMandates(ctx, { budget: { currency: d.currency, max: d.amount }, recurrence: { frequency: 'ON_DEMAND' } })
      const a = await close(ctx, parties, open, { instrument: d.instrument! })
      const b = await close(ctx, parties, open, { instrument: d.instrument!, checkout: checkout(ctx, { sku: 'conf-sku-b' }) })
      const outcomes = await Promise.all([present(ctx, a), present(ctx, b)])
      const paid = outcomes.filter((o) => o.state === 'completed')
      assert(paid.length <= 1, `${paid.length} of two concurrent closed mandates were paid`)
    },
  },
  {
    id: 'AP2-V01-001',
    level: 'MUST',
    section: 'V01',
    title: 'A v0.1 PaymentMandate with a non-verifiable user_authorization is never paid as user-signed',
    spec: a2aExtensionDoc('PaymentMandate Message', 'paymentmandate-message'),
    requires: ['a2a'],
    async check(ctx) {
      const d = ctx.discovery
      const r = await a2aSend(ctx, d.a2aUrl!, [
        {
          kind: 'data',
          data: {
            'ap2.mandates.PaymentMandate': {
              payment_mandate_contents: {
                payment_mandate_id: ctx.unique('pm'),
                payment_details_id: 'order_conf',
                payment_details_total: { label: 'Total', amount: { currency: d.currency, value: 1.0 } },
                payment_response: { request_id: 'order_conf', method_name: d.instrument?.type ?? 'CARD', details: { agreement_no: d.instrument?.id ?? 'x', token: 'xyz789' } },
                merchant_agent: d.payee.id,
                timestamp: new Date().toISOString(),
              },
              user_authorization: 'eyJhbGciOiJFUzI1NksiLCJraWQiOiJkaWQ6ZXhhbXBsZ...',
            },
          },
        },
      ])
      if (r.body['error']) return
      const task = r.body['result'] as { status?: { state?: string } }
      assert(task?.status?.state !== 'completed', 'the v0.1 mandate with a placeholder user_authorization was paid')
    },
  },
]

/** One real payment, shared by the checks that need one. */
async function payOnce(ctx: Parameters<R['check']>[0]) {
  const d = ctx.discovery
  const { parties, open } = openMandates(ctx)
  const mandates = await close(ctx, parties, open, { instrument: d.instrument! })
  const outcome = await present(ctx, mandates)
  assert(outcome.state === 'completed', `the payment did not complete: ${outcome.state} ${outcome.error ?? ''} ${outcome.description ?? ''}${outcome.paymentReceipt ? ` ${show(decodeJwtPayload(outcome.paymentReceipt))}` : ''}`)
  return { mandates, outcome }
}
