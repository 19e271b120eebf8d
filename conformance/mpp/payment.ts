import { assert, assertEqual, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import type { Requirement } from '../framework/types.js'
import {
  balances,
  callRoute,
  CHARGE,
  CORE,
  EVM,
  expectRefusal,
  freshOffer,
  isTxHash,
  signCredential,
  type EvmOffer,
  type MppContext,
  type MppDiscovery,
  type SignedCredential,
} from './helpers.js'
import { decodeB64urlJson, RFC3339 } from './wire.js'

interface Paid {
  offer: EvmOffer
  s: SignedCredential
  res: HttpResponse
  before: { payer: bigint; recipient: bigint }
  after: { payer: bigint; recipient: bigint }
}

/** One correct payment of the route (a fresh challenge, signed as the draft says), shared by the checks that read it. */
function paid(ctx: MppContext): Promise<Paid> {
  return ctx.once('paid', async () => {
    const offer = await freshOffer(ctx)
    const s = await signCredential(ctx, offer)
    const before = await balances(ctx, offer)
    const res = await callRoute(ctx, s.header)
    const after = await balances(ctx, offer)
    return { offer, s, res, before, after }
  })
}

async function paidOk(ctx: MppContext): Promise<Paid> {
  const p = await paid(ctx)
  assert(p.res.status >= 200 && p.res.status < 300, `the paid call answered ${p.res.status} (body: ${show(p.res.text)})`)
  return p
}

/** The decoded receipt of the paid call. */
async function receiptOf(ctx: MppContext): Promise<Record<string, unknown>> {
  const { res } = await paidOk(ctx)
  const raw = res.header('payment-receipt')
  assert(raw !== undefined, 'the paid answer has no Payment-Receipt header')
  try {
    return decodeB64urlJson(raw).value
  } catch (e) {
    return assert(false, `Payment-Receipt ${show(raw.slice(0, 40))} ${(e as Error).message}`) as never
  }
}

const FUNDED = ['mpp.evm-charge', 'runner.rpc', 'token.domain', 'payer.funded'] as const

/** Paying the route (charge §7, evm §5.3, §7), the receipt (core §5.3) and single use (core §11.3, §11.5). */
export const paymentRequirements: Requirement<MppDiscovery>[] = [
  {
    id: 'MPP-PAY-001',
    level: 'MUST',
    section: 'PAY',
    title: 'A correct evm/charge authorization credential (the challenge echoed unchanged, nonce = keccak256(id ‖ realm), to = recipient, value = amount) is answered 2xx',
    spec: CHARGE('§7.1 Server Responsibilities'),
    requires: [...FUNDED],
    async check(ctx) {
      const { res } = await paidOk(ctx)
      ctx.note(`the paid call answered ${res.status}`)
    },
  },
  {
    id: 'MPP-PAY-002',
    level: 'MUST',
    section: 'PAY',
    title: 'The paid call moved exactly the amount, once: the authorization is used on chain, the recipient gained and the payer lost exactly amount',
    spec: EVM('§5.3 Authorization Payload; §7.5 Confirmation Requirements'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer, s, before, after } = await paidOk(ctx)
      assert(await ctx.discovery.chain!.authorizationUsed(offer.currency, s.from, s.nonce), 'the authorization is not used on chain (the server answered 2xx without settling)')
      assertEqual(after.recipient - before.recipient, offer.amount, 'recipient balance change')
      assertEqual(before.payer - after.payer, offer.amount, 'payer balance change')
    },
  },
  {
    id: 'MPP-PAY-003',
    level: 'MUST',
    section: 'PAY',
    title: 'A response carrying Payment-Receipt has Cache-Control: private',
    spec: CORE('§11.10 Caching'),
    requires: [...FUNDED],
    async check(ctx) {
      const { res } = await paidOk(ctx)
      if (res.header('payment-receipt') === undefined) ctx.skip('the paid answer has no Payment-Receipt (MPP-RCPT-001 reports that)')
      const cc = res.header('cache-control') ?? ''
      assert(cc.split(',').some((d) => d.trim().toLowerCase() === 'private'), `Cache-Control is ${show(cc || undefined)}, expected private`)
    },
  },
  {
    id: 'MPP-RCPT-001',
    level: 'MUST',
    section: 'RCPT',
    title: 'The paid answer carries Payment-Receipt: base64url-nopad JSON with status "success", method = the challenge method, timestamp (RFC 3339) and reference',
    spec: EVM('§7.6 Receipt Generation (MUST return a Payment-Receipt); core §5.3 Payment-Receipt Header'),
    requires: [...FUNDED],
    async check(ctx) {
      const { res } = await paidOk(ctx)
      assert(!/=/.test(res.header('payment-receipt') ?? ''), 'Payment-Receipt has "=" padding')
      const r = await receiptOf(ctx)
      assertEqual(r['status'], 'success', 'receipt.status')
      assertEqual(r['method'], 'evm', 'receipt.method')
      assert(typeof r['timestamp'] === 'string' && RFC3339.test(r['timestamp']), `receipt.timestamp ${show(r['timestamp'])} is not RFC 3339`)
      assert(typeof r['reference'] === 'string' && r['reference'] !== '', `receipt.reference ${show(r['reference'])}`)
    },
  },
  {
    id: 'MPP-RCPT-002',
    level: 'MUST',
    section: 'RCPT',
    title: 'The evm receipt reference is the hash of a successful transaction that settled the payment',
    spec: EVM('§7.6 Receipt Generation (reference: transaction hash); §7.5 Confirmation Requirements'),
    requires: [...FUNDED],
    async check(ctx) {
      const r = await receiptOf(ctx)
      assert(isTxHash(r['reference']), `receipt.reference ${show(r['reference'])} is not a 0x transaction hash`)
      const receipt = await ctx.discovery.chain!.waitForReceipt(r['reference'], 15_000)
      assertEqual(receipt.status, 'success', `the receipt of ${r['reference']}`)
    },
  },
  {
    id: 'MPP-RCPT-003',
    level: 'SHOULD',
    section: 'RCPT',
    title: 'The evm receipt also carries challengeId (the paid challenge id) and chainId',
    spec: EVM('§7.6 Receipt Generation (receipt payload table)'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = await paidOk(ctx)
      const r = await receiptOf(ctx)
      assertEqual(r['challengeId'], offer.challenge.params['id'], 'receipt.challengeId')
      assertEqual(r['chainId'], offer.chainId, 'receipt.chainId')
    },
  },
  {
    id: 'MPP-RPL-001',
    level: 'MUST',
    section: 'RPL',
    title: 'Replaying a credential that was already paid is refused: 402, a fresh challenge, problem invalid-challenge or verification-failed, no receipt, and no second transfer',
    spec: CHARGE('§6.2 Single-Use; core §11.3 Replay Protection; evm §8 Replay Protection'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer, s } = await paidOk(ctx)
      const before = await balances(ctx, offer)
      const expires = offer.challenge.params['expires']
      if (expires && new Date(expires).getTime() <= Date.now())
        ctx.skip(`the paid challenge expired (${expires}) before the replay could be sent: a refusal now would be for expiry, not replay (challenge lifetime too short for this check)`)
      const res = await callRoute(ctx, s.header)
      const p = expectRefusal(res, ['invalid-challenge', 'verification-failed'], 'the replayed credential')
      ctx.note(`refused as ${String(p.type)}`)
      const after = await balances(ctx, offer)
      assertEqual(before.payer - after.payer, 0n, 'payer balance change on replay')
    },
  },
  {
    id: 'MPP-RPL-002',
    level: 'MUST',
    section: 'RPL',
    title: 'The same fresh credential sent twice concurrently is paid and delivered exactly once: one 2xx, the other refused as a replay (never 5xx), the payer charged amount once',
    spec: CORE('§11.5 Concurrent Request Handling'),
    requires: [...FUNDED],
    async check(ctx) {
      const offer = await freshOffer(ctx)
      const s = await signCredential(ctx, offer)
      const before = await balances(ctx, offer)
      const [a, b] = await Promise.all([callRoute(ctx, s.header), callRoute(ctx, s.header)])
      const after = await balances(ctx, offer)
      const ok = [a, b].filter((r) => r.status >= 200 && r.status < 300)
      for (const r of [a, b]) assert(r.status < 500, `a concurrent call answered ${r.status} (body: ${show(r.text)})`)
      assert(ok.length <= 1, `both concurrent calls answered 2xx (${a.status}, ${b.status}): delivered twice`)
      assert(ok.length === 1, `neither concurrent call was paid (${a.status}, ${b.status}; bodies ${show(a.text)} / ${show(b.text)})`)
      for (const r of [a, b].filter((x) => x.status >= 300)) expectRefusal(r, ['invalid-challenge', 'verification-failed'], 'the losing concurrent call')
      assertEqual(before.payer - after.payer, offer.amount, 'payer balance change')
      ctx.note(`statuses ${a.status}, ${b.status}`)
    },
  },
]
