import { getAddress } from 'viem'
import { assert, assertEqual, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import type { Requirement } from '../framework/types.js'
import {
  balances,
  callRoute,
  CORE_V1,
  CORE_V2,
  decodeB64Json,
  encodeB64Json,
  EXACT_EVM,
  expectReason,
  expectRefusal,
  expectUnused,
  HTTP_V2,
  isTxHash,
  offerOf,
  paymentHeader,
  paymentIdExtension,
  sdk,
  signFor,
  type Requirements,
  type SignedPayment,
  type X402Context,
  type X402Discovery,
} from './helpers.js'
import { V1_NETWORKS } from './networks.js'

interface Paid {
  header: string
  s: SignedPayment
  res: HttpResponse
  before: { payer: bigint; payTo: bigint }
  after: { payer: bigint; payTo: bigint }
}

/** One correct payment of the route, shared by the checks that read its outcome. */
function paid(ctx: X402Context): Promise<Paid> {
  return ctx.once('paid-v2', async () => {
    const { offer, chainId } = offerOf(ctx)
    const s = await signFor(ctx, offer, chainId, { label: 'paid' })
    const header = paymentHeader(ctx, s, offer, paymentIdExtension(ctx))
    const before = await balances(ctx, offer)
    const res = await callRoute(ctx, { 'payment-signature': header })
    const after = await balances(ctx, offer)
    return { header, s, res, before, after }
  })
}

const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))

/**
 * A payment the route must refuse: 402 with the offer again and `reason` in `error`; its
 * authorization stays unused on chain.
 */
async function refused(
  ctx: X402Context,
  what: string,
  reason: string | undefined,
  make: (offer: Requirements, chainId: number) => Promise<{ s: SignedPayment; accepted: Requirements }>,
): Promise<void> {
  const { offer, chainId } = offerOf(ctx)
  const { s, accepted } = await make(offer, chainId)
  const res = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, s, accepted, paymentIdExtension(ctx)) })
  const pr = expectRefusal(res, what)
  if (reason) expectReason(pr.error, reason, what)
  else ctx.note(`the refusal's error is ${show(pr.error)}`)
  await expectUnused(ctx, offer, s, what)
}

const FUNDED = ['x402.offer', 'payer.funded', 'runner.rpc'] as const

/** Paying a priced route (v2 and v1), and what it must refuse. */
export const paymentRequirements: Requirement<X402Discovery>[] = [
  {
    id: 'X402-PAY-001',
    level: 'MUST',
    section: 'PAY',
    title: 'A correct PAYMENT-SIGNATURE (the offer echoed verbatim in accepted) is answered 2xx with PAYMENT-RESPONSE: standard base64 of {success: true, transaction, network = accepted.network, payer}',
    spec: HTTP_V2('Settlement Response Delivery'),
    requires: [...FUNDED],
    async check(ctx) {
      const { res, s } = await paid(ctx)
      assert(res.status >= 200 && res.status < 300, `the paid call answered ${res.status} (body: ${show(res.text)}; PAYMENT-REQUIRED.error: ${show(res.header('payment-required') ? decodeB64Json<{ error?: string }>(res.header('payment-required'), 'PAYMENT-REQUIRED').error : undefined)})`)
      const r = decodeB64Json<{ success: unknown; transaction: unknown; network: unknown; payer: unknown }>(res.header('payment-response'), 'PAYMENT-RESPONSE')
      assertEqual(r.success, true, 'PAYMENT-RESPONSE.success')
      assert(isTxHash(r.transaction), `PAYMENT-RESPONSE.transaction ${show(r.transaction)} is not a transaction hash`)
      assertEqual(r.network, offerOf(ctx).offer.network, 'PAYMENT-RESPONSE.network')
      assert(typeof r.payer === 'string' && getAddress(r.payer) === getAddress(s.authorization.from), `PAYMENT-RESPONSE.payer ${show(r.payer)} is not ${s.authorization.from}`)
    },
  },
  {
    id: 'X402-PAY-002',
    level: 'MUST',
    section: 'PAY',
    title: 'The paid call moved exactly the amount, once: the transaction succeeded, the authorization is used, payTo gained and the payer lost exactly `amount`',
    spec: EXACT_EVM('Settlement: transferWithAuthorization'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const { res, s, before, after } = await paid(ctx)
      const tx = decodeB64Json<{ transaction?: string }>(res.header('payment-response'), 'PAYMENT-RESPONSE').transaction
      assert(isTxHash(tx), `no transaction to look at (PAYMENT-RESPONSE.transaction ${show(tx)})`)
      const receipt = await ctx.discovery.chain!.waitForReceipt(tx as `0x${string}`, 15_000)
      assertEqual(receipt.status, 'success', `receipt of ${tx}`)
      assert(await ctx.discovery.chain!.authorizationUsed(getAddress(offer.asset), s.authorization.from, s.authorization.nonce), 'the authorization is not used on chain')
      assertEqual(after.payTo - before.payTo, BigInt(offer.amount), 'payTo balance change')
      assertEqual(before.payer - after.payer, BigInt(offer.amount), 'payer balance change')
    },
  },
  {
    id: 'X402-PAY-003',
    level: 'SHOULD',
    section: 'PAY',
    title: 'A paid answer is private to its payer: Cache-Control includes private',
    spec: sdk('withPrivateCacheControl on paid responses (2.27)'),
    requires: [...FUNDED],
    async check(ctx) {
      const { res } = await paid(ctx)
      assert(res.status >= 200 && res.status < 300, `the paid call answered ${res.status}`)
      assert(/\bprivate\b/i.test(res.header('cache-control') ?? ''), `Cache-Control is ${show(res.header('cache-control'))}`)
    },
  },
  {
    id: 'X402-REJ-001',
    level: 'MUST',
    section: 'REJ',
    title: 'An expired authorization (validBefore in the past) is refused: 402, the offer again, error invalid_exact_evm_payload_authorization_valid_before',
    spec: EXACT_EVM('Verification: validBefore'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'expired', 'invalid_exact_evm_payload_authorization_valid_before', async (o, c) => ({ s: await signFor(ctx, o, c, { validBefore: now() - 60n }), accepted: o })),
  },
  {
    id: 'X402-REJ-002',
    level: 'MUST',
    section: 'REJ',
    title: 'A not-yet-valid authorization (validAfter an hour ahead) is refused: 402, error invalid_exact_evm_payload_authorization_valid_after',
    spec: EXACT_EVM('Verification: validAfter'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'not yet valid', 'invalid_exact_evm_payload_authorization_valid_after', async (o, c) => ({ s: await signFor(ctx, o, c, { validAfter: now() + 3600n }), accepted: o })),
  },
  {
    id: 'X402-REJ-003',
    level: 'MUST',
    section: 'REJ',
    title: 'An underpaid authorization (value = amount − 1) is refused: 402, error invalid_exact_evm_payload_authorization_value_mismatch',
    spec: EXACT_EVM('Verification: value equals amount'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'underpaid', 'invalid_exact_evm_payload_authorization_value_mismatch', async (o, c) => ({ s: await signFor(ctx, o, c, { value: BigInt(o.amount) - 1n }), accepted: o })),
  },
  {
    id: 'X402-REJ-004',
    level: 'MUST',
    section: 'REJ',
    title: 'An authorization paying another address than payTo is refused: 402, error invalid_exact_evm_recipient_mismatch',
    spec: EXACT_EVM('Verification: recipient'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'wrong payTo', 'invalid_exact_evm_recipient_mismatch', async (o, c) => ({ s: await signFor(ctx, o, c, { to: ctx.counterparts.wallet(2).address }), accepted: o })),
  },
  {
    id: 'X402-REJ-005',
    level: 'MUST',
    section: 'REJ',
    title: 'An authorization signed by another key than `from` is refused: 402, error invalid_exact_evm_signature',
    spec: EXACT_EVM('Verification: signature'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'bad signature', 'invalid_exact_evm_signature', async (o, c) => ({ s: await signFor(ctx, o, c, { signer: ctx.counterparts.wallet(1) }), accepted: o })),
  },
  {
    id: 'X402-REJ-006',
    level: 'MUST',
    section: 'REJ',
    title: 'A settled PAYMENT-SIGNATURE presented again (as a new payment) is refused: not 2xx, and no second transfer',
    spec: CORE_V2('Security: replay (single-use nonce)'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const first = await paid(ctx)
      assert(first.res.status < 300, `the first payment was not accepted (${first.res.status}): nothing to replay`)
      const before = await balances(ctx, offer)
      // A new payment-identifier id (when declared): the same id would be an idempotent retry (X402-IDEM-001).
      const res = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, first.s, offer, paymentIdExtension(ctx)) })
      assert(res.status >= 400 && res.status < 500, `the replay answered ${res.status}, expected a refusal (402)`)
      assertEqual(await balances(ctx, offer), before, 'balances after the replay')
    },
  },
  {
    id: 'X402-REJ-007',
    level: 'SHOULD',
    section: 'REJ',
    title: 'The replay is refused with 402 and error invalid_exact_evm_nonce_already_used',
    spec: EXACT_EVM('Verification: nonce unused (authorizationState)'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const first = await paid(ctx)
      assert(first.res.status < 300, `the first payment was not accepted (${first.res.status}): nothing to replay`)
      const res = await callRoute(ctx, { 'payment-signature': paymentHeader(ctx, first.s, offer, paymentIdExtension(ctx)) })
      expectReason(expectRefusal(res, 'replay').error, 'invalid_exact_evm_nonce_already_used', 'replay')
    },
  },
  {
    id: 'X402-REJ-008',
    level: 'MUST',
    section: 'REJ',
    title: 'A payment for a network the route does not offer is refused: 402 with the offer again and an error; nothing moves',
    spec: CORE_V2('Verification: network'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'unknown network', undefined, async (o) => ({ s: await signFor(ctx, o, 999_999_999), accepted: { ...o, network: 'eip155:999999999' } })),
  },
  {
    id: 'X402-REJ-009',
    level: 'SHOULD',
    section: 'REJ',
    title: 'The unknown-network refusal names the generic reason invalid_network',
    spec: CORE_V2('9 Error Handling: invalid_network'),
    requires: ['x402.offer'],
    check: (ctx) => refused(ctx, 'unknown network', 'invalid_network', async (o) => ({ s: await signFor(ctx, o, 999_999_999), accepted: { ...o, network: 'eip155:999999999' } })),
  },
  {
    id: 'X402-V1-002',
    level: 'MUST',
    section: 'V1',
    title: 'An X-PAYMENT for the v1 offer is answered 200 with X-PAYMENT-RESPONSE (standard base64 of {success: true, transaction, network = the v1 name, payer}); the amount moves once',
    spec: CORE_V1('5.3 Settlement Response (X-PAYMENT-RESPONSE)'),
    requires: ['x402.v1', 'payer.funded', 'runner.rpc'],
    async check(ctx) {
      const v1 = ctx.discovery.offerV1!
      const chainId = V1_NETWORKS[v1.network]
      assert(chainId !== undefined, `${v1.network} is not a v1 network name`)
      const offer = { asset: v1.asset, payTo: v1.payTo, amount: v1.maxAmountRequired, maxTimeoutSeconds: v1.maxTimeoutSeconds, extra: v1.extra }
      const s = await signFor(ctx, offer, chainId, { label: 'v1' })
      const target = { ...offer, network: `eip155:${chainId}`, scheme: 'exact', extra: v1.extra ?? {} } as Requirements
      const before = await balances(ctx, target)
      const res = await callRoute(ctx, { 'x-payment': encodeB64Json({ x402Version: 1, scheme: 'exact', network: v1.network, payload: s }) })
      assert(res.status >= 200 && res.status < 300, `the v1 payment answered ${res.status} (body: ${show(res.text)})`)
      const r = decodeB64Json<{ success?: unknown; transaction?: unknown; network?: unknown; payer?: unknown }>(res.header('x-payment-response'), 'X-PAYMENT-RESPONSE')
      assertEqual(r.success, true, 'X-PAYMENT-RESPONSE.success')
      assert(isTxHash(r.transaction), `X-PAYMENT-RESPONSE.transaction ${show(r.transaction)}`)
      assertEqual(r.network, v1.network, 'X-PAYMENT-RESPONSE.network')
      assert(typeof r.payer === 'string' && getAddress(r.payer) === getAddress(s.authorization.from), `X-PAYMENT-RESPONSE.payer ${show(r.payer)}`)
      const after = await balances(ctx, target)
      assertEqual(before.payer - after.payer, BigInt(v1.maxAmountRequired), 'payer balance change')
      assertEqual(after.payTo - before.payTo, BigInt(v1.maxAmountRequired), 'payTo balance change')
    },
  },
]
