import { assert, assertEqual, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import { balances, callRoute, decodeB64Json, expectReason, offerOf, paymentHeader, paymentIdExtension, PAYMENT_ID, signFor, type X402Discovery } from './helpers.js'

/** The payment-identifier extension on priced routes. */
export const idempotencyRequirements: Requirement<X402Discovery>[] = [
  {
    id: 'X402-IDEM-001',
    level: 'MUST',
    section: 'IDEM',
    title: 'The same payment-identifier id with the same payload gets the first answer again (same status and PAYMENT-RESPONSE); the money moves once',
    spec: PAYMENT_ID('Idempotency Behavior'),
    requires: ['x402.payment-identifier', 'x402.offer', 'payer.funded', 'runner.rpc'],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const s = await signFor(ctx, offer, chainId, { label: 'idem' })
      const header = paymentHeader(ctx, s, offer, paymentIdExtension(ctx))
      const before = await balances(ctx, offer)
      const first = await callRoute(ctx, { 'payment-signature': header })
      assert(first.status < 300, `the first payment answered ${first.status}`)
      const second = await callRoute(ctx, { 'payment-signature': header })
      assertEqual(second.status, first.status, 'status of the repeat')
      assertEqual(
        decodeB64Json(second.header('payment-response'), 'PAYMENT-RESPONSE of the repeat'),
        decodeB64Json(first.header('payment-response'), 'PAYMENT-RESPONSE'),
        'PAYMENT-RESPONSE of the repeat',
      )
      const after = await balances(ctx, offer)
      assertEqual(before.payer - after.payer, BigInt(offer.amount), 'payer balance change over both calls')
    },
  },
  {
    id: 'X402-IDEM-002',
    level: 'MUST',
    section: 'IDEM',
    title: 'The same payment-identifier id with a different payload is answered 409 Conflict',
    spec: PAYMENT_ID('Idempotency Behavior'),
    requires: ['x402.payment-identifier', 'x402.offer'],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const id = ctx.unique('pid').replace(/[^A-Za-z0-9_-]/g, '_')
      const a = await signFor(ctx, offer, chainId, { label: 'idem-a', validBefore: BigInt(Math.floor(Date.now() / 1000)) - 60n })
      const b = await signFor(ctx, offer, chainId, { label: 'idem-b', validBefore: BigInt(Math.floor(Date.now() / 1000)) - 60n })
      // Both expired: whatever the first answer, nothing can be paid with them.
      const first = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, a, offer, paymentIdExtension(ctx, id)) })
      assert(first.status !== 409, `the first use of the id answered 409`)
      const second = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, b, offer, paymentIdExtension(ctx, id)) })
      assertEqual(second.status, 409, `status for id ${id} reused with another payload (body: ${show(second.text)})`)
    },
  },
  {
    id: 'X402-IDEM-003',
    level: 'MUST',
    section: 'IDEM',
    title: 'When payment-identifier is declared required, a payment without an id is answered 400',
    spec: PAYMENT_ID('Idempotency Behavior: required: true, no id → 400'),
    requires: ['x402.payment-identifier.required', 'x402.offer'],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const s = await signFor(ctx, offer, chainId, { label: 'idem-none' })
      const res = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, s, offer, paymentIdExtension(ctx, null)) })
      assertEqual(res.status, 400, 'status without an id')
      const pr = res.header('payment-required')
      if (pr) expectReason(decodeB64Json<{ error?: string }>(pr, 'PAYMENT-REQUIRED').error, 'payment_identifier_required', 'no id')
    },
  },
]
