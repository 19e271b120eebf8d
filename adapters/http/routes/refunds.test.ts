import Database from 'better-sqlite3'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockFxQuote } from '../../../core/fx/lockFxQuote.js'
import { createFxQuoter } from '../../../core/fx/quoter.js'
import { createTableFxSource } from '../../../core/fx/tableSource.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { createAssetRegistry } from '../../../core/money/assets.js'
import { reconcileRefund, REFUND_DRIVER_NAMESPACE, refundIntent, refundTotals } from '../../../core/pipeline/refundIntent.js'
import { createRefundSweeper } from '../../../core/pipeline/refundSweeper.js'
import { RailRegistry } from '../../../core/rails/port.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { newId } from '../../../core/util/ids.js'
import type { Store } from '../../../core/store/port.js'
import { authorizedIntent, startRailHarness, waitFor, type RailHarness } from '../../rails/alipay/testing.js'
import type { EvmRail } from '../../rails/evm/evmRail.js'
import { startRailFixture, type RailFixture } from '../../rails/evm/testFixture.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'

/**
 * Issue 10 acceptance #6: a full and a partial refund on each rail (Alipay sandbox, Antom sandbox
 * card, EVM on anvil) through `POST /v1/intents/{id}/refunds`, each idempotent under a repeated
 * request: the same key answers the same refund and moves no money a second time (sandbox ledger,
 * token balances on chain).
 */

let h: RailHarness
let fx: RailFixture
let evm: EvmRail
let gw: TestGateway

/** The Alipay sandbox loses the next refund's answer and then fails `queries` refund queries: the outcome stays unknown. */
const loseRefundAnswers = (queries: number): void =>
  h.sandbox.faults.set({
    rules: [
      { kind: 'system_error', target: 'alipay.trade.refund', times: 1 },
      { kind: 'system_error', target: 'alipay.trade.fastpay.refund.query', times: queries },
    ],
  })
let store: Store
let shop: { address: `0x${string}`; privateKey: `0x${string}` }

beforeAll(async () => {
  h = await startRailHarness()
  fx = await startRailFixture({ wallets: 2 })
  store = await fx.openStore('gw.db')
  shop = fx.chain.wallets[0]!
  evm = fx.makeRail(store, { payoutWallets: { m1: shop.privateKey } }).rail
  gw = await startTestGateway({
    store,
    configPatch: {
      merchants: [
        { id: 'm1', name: 'Merchant One', webhook: { url: 'http://127.0.0.1:9/hooks', secret: 'whsec_test_m1_0000000000' } },
        { id: 'm2', name: 'Merchant Two' },
      ],
    },
    gatewayOptions: { rails: [() => h.alipay, () => h.antom, () => evm] },
  })
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await h?.close()
  await fx?.close()
})

async function post(path: string, body: unknown, idem: string, as: string = TEST_KEYS.merchant) {
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json', 'idempotency-key': idem },
    body: JSON.stringify(body),
  })
  return { status: res.statusCode, replayed: res.headers['idempotent-replayed'], body: (await res.body.json()) as Record<string, unknown> & { error?: { code: string } } }
}

async function get(path: string, as: string = TEST_KEYS.merchant) {
  const res = await request(`${gw.url}${path}`, { headers: { authorization: `Bearer ${as}` } })
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> & { error?: { code: string } } }
}

const intentOf = async (id: string): Promise<PaymentIntent> => (await store.getIntent(id))!.intent
const uniq = () => Math.random().toString(36).slice(2)

/** Outbox rows written for an intent (the worker is off in tests: they stay pending). */
function outboxTypes(intentId: string): string[] {
  const db = new Database(join(fx.dir, 'gw.db'), { readonly: true })
  try {
    return (db.prepare('SELECT type FROM outbox WHERE aggregate_id = ? ORDER BY created_at, id').all(intentId) as Array<{ type: string }>).map((r) => r.type)
  } finally {
    db.close()
  }
}

/**
 * The shared scenario: partial refund (repeated), over-refund refused, full refund of the rest
 * (repeated), nothing left. `moved()` reads what the rail's ledger or chain says was refunded.
 */
async function partialThenFull(o: { intentId: string; rail: string; asset: string; total: bigint; partial: bigint; moved: () => Promise<bigint[]> }) {
  const k1 = `rf-${uniq()}`
  const first = await post(`/v1/intents/${o.intentId}/refunds`, { amount: { value: o.partial.toString(), asset: o.asset }, reason: 'one item returned' }, k1)
  expect(first.status, JSON.stringify(first.body)).toBe(201)
  expect(first.body).toMatchObject({ object: 'refund', intent_id: o.intentId, status: 'succeeded', amount: { value: o.partial.toString(), asset: o.asset } })
  expect(first.body['rail_ref']).toEqual(expect.any(String))
  expect((await intentOf(o.intentId)).status).toBe('partially_refunded')
  expect(await o.moved()).toEqual([o.partial])

  // The same request again: the stored answer, no second money movement.
  const again = await post(`/v1/intents/${o.intentId}/refunds`, { amount: { value: o.partial.toString(), asset: o.asset }, reason: 'one item returned' }, k1)
  expect(again.status).toBe(201)
  expect(again.replayed).toBe('true')
  expect(again.body).toEqual(first.body)
  // Past the stored answer (the refund dedupe key in the pipeline): the same refund, still once.
  const direct = await refundIntent({ store, rails: gw.gateway.rails }, { intentId: o.intentId, amount: { value: o.partial.toString(), asset: o.asset }, dedupeKey: `merchant:m1:${k1}`, actor: 'merchant:m1' })
  expect(direct).toMatchObject({ created: false, refund: { id: first.body['id'], status: 'succeeded' } })
  expect(await o.moved()).toEqual([o.partial])

  // More than remains is refused with the precise reason; nothing moves.
  const over = await post(`/v1/intents/${o.intentId}/refunds`, { amount: { value: (o.total - o.partial + 1n).toString(), asset: o.asset } }, `rf-${uniq()}`)
  expect(over.status).toBe(409)
  expect(over.body.error).toMatchObject({ code: 'GW_REFUND_EXCEEDS_CAPTURED', details: { remaining: (o.total - o.partial).toString() } })

  // Full refund of the rest (no amount), repeated.
  const k2 = `rf-${uniq()}`
  const full = await post(`/v1/intents/${o.intentId}/refunds`, {}, k2)
  expect(full.status, JSON.stringify(full.body)).toBe(201)
  expect(full.body).toMatchObject({ status: 'succeeded', amount: { value: (o.total - o.partial).toString(), asset: o.asset } })
  const fullAgain = await post(`/v1/intents/${o.intentId}/refunds`, {}, k2)
  expect(fullAgain.body).toEqual(full.body)
  expect(await o.moved()).toEqual([o.partial, o.total - o.partial])

  const intent = await intentOf(o.intentId)
  expect(intent.status).toBe('refunded')
  expect(intent.refunds?.map((r) => [r.id, r.status, r.amount.value])).toEqual([
    [first.body['id'], 'succeeded', o.partial.toString()],
    [full.body['id'], 'succeeded', (o.total - o.partial).toString()],
  ])
  const listed = await get(`/v1/intents/${o.intentId}/refunds`)
  expect((listed.body['data'] as unknown[]).map((r) => (r as { id: string }).id)).toEqual([first.body['id'], full.body['id']])
  expect((await get(`/v1/refunds/${String(full.body['id'])}`)).body).toEqual(full.body)

  // A refunded intent refunds nothing more.
  const after = await post(`/v1/intents/${o.intentId}/refunds`, { amount: { value: '1', asset: o.asset } }, `rf-${uniq()}`)
  expect(after.status).toBe(409)
  expect(after.body.error?.code).toBe('GW_INVALID_TRANSITION')

  // Audit chain and webhooks: both refunds recorded, and announced through the outbox.
  const events = await get(`/v1/intents/${o.intentId}/events`)
  expect(events.body['chain']).toEqual({ valid: true })
  expect((events.body['data'] as Array<{ type: string }>).map((e) => e.type).filter((t) => t.startsWith('refund'))).toEqual(['refund_partial', 'refund_full'])
  expect(outboxTypes(o.intentId).filter((t) => t.includes('refund'))).toEqual(['payment_intent.partially_refunded', 'refund.succeeded', 'payment_intent.refunded', 'refund.succeeded'])

  // The rail's refund query (reconciliation of an unknown refund) by refund key: both found, an unused key is not.
  const rail = gw.gateway.rails.get(o.rail)!
  for (const r of await store.listRefunds(o.intentId)) {
    expect(await rail.queryRefund!({ intent, refundKey: r.id, reference: r.reference })).toMatchObject({ status: 'succeeded', reference: r.reference })
  }
  expect(await rail.queryRefund!({ intent, refundKey: newId('re') })).toEqual({ status: 'not_found' })
}

describe('refunds on each rail (issue 10 acceptance #6)', () => {
  it('Alipay (alipay.trade.refund, out_request_no = refund id): partial then full, each idempotent', async () => {
    const id = await authorizedIntent(store, { value: '1000', asset: 'iso4217:CNY' })
    const paid = await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    expect(paid.intent.status).toBe('succeeded')
    await partialThenFull({
      intentId: id,
      rail: 'alipay',
      asset: 'iso4217:CNY',
      total: 1000n,
      partial: 300n,
      moved: async () => h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => BigInt(e.amount)),
    })
    // Each refund's out_request_no is derived from its refund id: one ledger entry per refund.
    const refunds = await store.listRefunds(id)
    expect(refunds.map((r) => r.reference?.split(':')[1])).toEqual(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.requestNo))
  })

  it('Antom card (payments/refund, refundRequestId = refund id): partial then full, each idempotent', async () => {
    const id = await authorizedIntent(store, { value: '2500', asset: 'iso4217:USD', instrument: { type: 'card.vault_token', ref: 'card_tok_visa_4242' } })
    const paid = await settleIntent({ store }, { intentId: id, rail: h.antom, credential: undefined, actor: 'system:test' })
    expect(paid.intent.status).toBe('succeeded')
    await partialThenFull({
      intentId: id,
      rail: 'antom',
      asset: 'iso4217:USD',
      total: 2500n,
      partial: 999n,
      moved: async () => h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => BigInt(e.amount)),
    })
  })

  it('EVM (ERC-20 transfer from the payout wallet to the payer): partial then full, each idempotent on chain', async () => {
    const [payer] = await fx.newPayers(1, 50_000n)
    const s = await fx.sign(payer!, 12_000n, { to: shop.address })
    const id = await fx.authorizedIntent(store, s)
    const paid = await settleIntent({ store }, { intentId: id, rail: evm, credential: fx.credential(s, shop.address), actor: 'system:test' })
    expect(paid.intent.status).toBe('succeeded')
    const start = await fx.balance(payer!.address)
    expect(start).toBe(38_000n)
    const seen: bigint[] = []
    let last = start
    await partialThenFull({
      intentId: id,
      rail: 'evm',
      asset: fx.chain.token.assetId,
      total: 12_000n,
      partial: 4_500n,
      // What reached the payer on chain, refund by refund.
      moved: async () => {
        const now = await fx.balance(payer!.address)
        if (now !== last) seen.push(now - last)
        last = now
        return [...seen]
      },
    })
    expect(await fx.balance(payer!.address)).toBe(50_000n)
    const refunds = await store.listRefunds(id)
    expect(refunds.every((r) => /^0x[0-9a-f]{64}$/.test(r.reference ?? ''))).toBe(true)
  })
})

describe('refund safety', () => {
  it('concurrent refunds of one intent never add up to more than was captured', async () => {
    const id = await authorizedIntent(store, { value: '1000', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    const answers = await Promise.all(Array.from({ length: 6 }, () => post(`/v1/intents/${id}/refunds`, { amount: { value: '400', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)))
    const ok = answers.filter((a) => a.status === 201)
    expect(ok).toHaveLength(2)
    expect(answers.filter((a) => a.status !== 201).every((a) => a.body.error?.code === 'GW_REFUND_EXCEEDS_CAPTURED' || a.body.error?.code === 'GW_INTENT_CONFLICT')).toBe(true)
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['400', '400'])
    const intent = await intentOf(id)
    expect(intent.status).toBe('partially_refunded')
    expect(intent.refunds?.filter((r) => r.status === 'succeeded')).toHaveLength(2)
  })

  it('an unknown refund outcome is queried first, then the same out_request_no is sent again: one refund', async () => {
    const id = await authorizedIntent(store, { value: '500', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    h.sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'alipay.trade.refund', times: 1 }] })
    // system_error is an unknown outcome: the rail queries, finds nothing, and sends the same out_request_no again.
    const r = await post(`/v1/intents/${id}/refunds`, { amount: { value: '200', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)
    h.sandbox.faults.clear()
    expect(r.body).toMatchObject({ status: 'succeeded' })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['200'])
  })

  it('a pending refund row not yet reserved is left alone while its creator may still reserve it; only after the grace period is it given up', async () => {
    const id = await authorizedIntent(store, { value: '500', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    const created = new Date()
    const refundId = newId('re')
    await store.insertRefund({ id: refundId, intentId: id, merchantId: 'm1', status: 'pending', amount: { value: '100', asset: 'iso4217:CNY' }, railAmount: { value: '100', asset: 'iso4217:CNY' }, rail: 'alipay', actor: 'merchant:m1', createdAt: created, updatedAt: created })
    const rails = new RailRegistry().register(h.alipay)
    // Another driver (a retry, a GET) right away: the row stays pending and nothing is sent.
    const early = await reconcileRefund({ store, rails, clock: () => new Date(created.getTime() + 1_000) }, { refundId })
    expect(early.refund.status).toBe('pending')
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toEqual([])
    // Its creator never reserved it (it died): after the grace period it is closed, still without money moving.
    const late = await reconcileRefund({ store, rails, clock: () => new Date(created.getTime() + 61_000) }, { refundId })
    expect(late.refund).toMatchObject({ status: 'failed', code: 'refund_not_reserved' })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toEqual([])
  })

  it('a creator that stalls past the grace period while its row is given up: the reservation it then commits is released, never held', async () => {
    const id = await authorizedIntent(store, { value: '500', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let stalled = false
    const stalling = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'updateIntent')
          return async (p: Parameters<Store['updateIntent']>[0]) => {
            if (!stalled && p.intent.id === id && p.intent.refunds?.some((r) => r.status === 'pending')) {
              stalled = true
              await gate // the reservation waits here, as a creator stuck on a saturated store would
            }
            return target.updateIntent(p)
          }
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const rails = new RailRegistry().register(h.alipay)
    const creating = refundIntent({ store: stalling, rails }, { intentId: id, amount: { value: '200', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
    await waitFor(async () => (stalled ? true : undefined), 5_000, 'the reservation to stall')
    const [row] = await store.listRefunds(id)
    // Another driver, past the grace period, gives the unreserved row up…
    expect((await reconcileRefund({ store, rails, clock: () => new Date(Date.now() + 61_000) }, { refundId: row!.id })).refund).toMatchObject({ status: 'failed', code: 'refund_not_reserved' })
    // …and then the creator's reservation commits: the intent takes the row's outcome.
    release()
    const created = await creating
    expect(created.refund).toMatchObject({ status: 'failed', code: 'refund_not_reserved' })
    const intent = await intentOf(id)
    expect(intent.refunds?.map((r) => r.status)).toEqual(['failed'])
    expect(refundTotals(intent)).toEqual({ captured: 500n, succeeded: 0n, pending: 0n })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toEqual([])
    // The whole amount is still refundable.
    expect((await refundIntent({ store, rails }, { intentId: id, actor: 'merchant:m1' })).refund).toMatchObject({ status: 'succeeded', amount: { value: '500' } })
  })

  it('a refund the rail keeps not answering: each unknown is recorded once in the audit chain, not on every pass', async () => {
    const id = await authorizedIntent(store, { value: '600', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    loseRefundAnswers(20)
    try {
      const rails = new RailRegistry().register(h.alipay)
      const r = await refundIntent({ store, rails }, { intentId: id, amount: { value: '100', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
      expect(r.refund.status).toBe('pending')
      const annotations = async (): Promise<number> => (await store.listEvents(id)).filter((e) => e.type === 'annotate').length
      const before = await annotations()
      for (let i = 0; i < 3; i++) expect((await reconcileRefund({ store, rails }, { refundId: r.refund.id })).refund.status).toBe('pending')
      // The query fails the same way each time: the first says so (a new code), the repeats add nothing.
      expect((await annotations()) - before).toBeLessThanOrEqual(1)
    } finally {
      h.sandbox.faults.clear()
    }
  })

  it('an outcome that stays unknown leaves the refund pending; reading it later asks the rail and finishes it once', async () => {
    const id = await authorizedIntent(store, { value: '600', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    loseRefundAnswers(4)
    const key = `rf-${uniq()}`
    const r = await post(`/v1/intents/${id}/refunds`, { amount: { value: '250', asset: 'iso4217:CNY' } }, key)
    h.sandbox.faults.clear()
    expect(r.body).toMatchObject({ status: 'pending', amount: { value: '250' } })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toEqual([])
    // The pending amount stays reserved: only the rest can be refunded meanwhile.
    const over = await post(`/v1/intents/${id}/refunds`, { amount: { value: '351', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)
    expect(over.body.error?.code).toBe('GW_REFUND_EXCEEDS_CAPTURED')
    // The same request replays the stored (pending) answer and moves nothing.
    expect((await post(`/v1/intents/${id}/refunds`, { amount: { value: '250', asset: 'iso4217:CNY' } }, key)).body).toEqual(r.body)
    const read = await get(`/v1/refunds/${String(r.body['id'])}`)
    expect(read.body).toMatchObject({ id: r.body['id'], status: 'succeeded', rail_ref: expect.any(String) })
    expect((await get(`/v1/refunds/${String(r.body['id'])}`)).body).toEqual(read.body)
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['250'])
    expect((await intentOf(id)).status).toBe('partially_refunded')
  })

  it('refunds are refused before settlement, to other merchants, and with a wrong asset or amount', async () => {
    const id = await authorizedIntent(store, { value: '500', asset: 'iso4217:CNY' })
    const early = await post(`/v1/intents/${id}/refunds`, {}, `rf-${uniq()}`)
    expect([early.status, early.body.error?.code]).toEqual([409, 'GW_INVALID_TRANSITION'])
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    const other = await post(`/v1/intents/${id}/refunds`, {}, `rf-${uniq()}`, TEST_KEYS.otherMerchant)
    expect([other.status, other.body.error?.code]).toEqual([404, 'GW_NOT_FOUND'])
    const asset = await post(`/v1/intents/${id}/refunds`, { amount: { value: '100', asset: 'iso4217:USD' } }, `rf-${uniq()}`)
    expect([asset.status, asset.body.error?.code]).toEqual([400, 'GW_AMOUNT_INVALID'])
    const float = await post(`/v1/intents/${id}/refunds`, { amount: { value: '1.5', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)
    expect([float.status, float.body.error?.code]).toEqual([400, 'GW_SCHEMA_INVALID'])
    const zero = await post(`/v1/intents/${id}/refunds`, { amount: { value: '0', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)
    expect([zero.status, zero.body.error?.code]).toEqual([400, 'GW_AMOUNT_INVALID'])
    const otherAgent = await post(`/v1/intents/${id}/refunds`, {}, `rf-${uniq()}`, TEST_KEYS.otherAgent)
    expect([otherAgent.status, otherAgent.body.error?.code]).toEqual([404, 'GW_NOT_FOUND'])
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toEqual([])
    // The intent's own agent (scope refunds:write; test keys hold `*`) may refund it.
    const own = await post(`/v1/intents/${id}/refunds`, {}, `rf-${uniq()}`, TEST_KEYS.agent)
    expect([own.status, own.body['status']]).toEqual([201, 'succeeded'])
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['500'])
  })
})

describe('disputes', () => {
  it('opens a dispute whose evidence bundle holds the intent, a verified audit chain, authorisation and receipts', async () => {
    const id = await authorizedIntent(store, { value: '800', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    await post(`/v1/intents/${id}/refunds`, { amount: { value: '100', asset: 'iso4217:CNY' } }, `rf-${uniq()}`)
    const opened = await post(`/v1/intents/${id}/disputes`, { reason: 'product_not_received', note: 'the parcel never arrived' }, `dp-${uniq()}`)
    expect(opened.status, JSON.stringify(opened.body)).toBe(201)
    expect(opened.body).toMatchObject({ object: 'dispute', intent_id: id, status: 'open', reason: 'product_not_received', amount: { value: '800', asset: 'iso4217:CNY' } })
    const disputeId = String(opened.body['id'])
    expect((await get(`/v1/disputes/${disputeId}`)).body).toEqual(opened.body)
    const evidence = (await get(`/v1/disputes/${disputeId}/evidence`)).body as unknown as {
      intent: PaymentIntent
      audit: { chain: { valid: boolean }; length: number; events: Array<{ type: string; reason?: string }> }
      authorization: { type: string }
      receipts: { settlement: { rail: string; reference: string }; attempts: unknown[]; refunds: Array<{ status: string; rail_ref: string }> }
    }
    const intent = await intentOf(id)
    expect(evidence.intent.id).toBe(id)
    expect(evidence.audit.chain).toMatchObject({ valid: true })
    expect(evidence.audit.events.map((e) => e.type)).toEqual(['create', 'authorize', 'start_processing', 'succeed', 'annotate', 'refund_partial', 'annotate'])
    expect(evidence.audit.events.at(-1)?.reason).toBe('dispute_opened')
    expect(evidence.authorization.type).toBe('gateway.api_key')
    expect(evidence.receipts.settlement).toMatchObject({ rail: 'alipay', reference: intent.settlement!.reference })
    expect(evidence.receipts.refunds).toMatchObject([{ status: 'succeeded', rail_ref: expect.any(String) }])
    // Other merchants see nothing; a bad reason code is the schema's precise error.
    expect((await get(`/v1/disputes/${disputeId}`, TEST_KEYS.otherMerchant)).status).toBe(404)
    const bad = await post(`/v1/intents/${id}/disputes`, { reason: 'Not A Code' }, `dp-${uniq()}`)
    expect([bad.status, bad.body.error?.code]).toEqual([400, 'GW_SCHEMA_INVALID'])
  })
})

describe('the refund sweeper: pending refunds finish on their own', () => {
  const MIN_AGE = 60_000
  const later = () => new Date(Date.now() + MIN_AGE + 1_000)
  const ledger = (id: string) => h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)

  it('a refund left pending by an unknown rail outcome is asked about and finished once, after the grace period', async () => {
    const id = await authorizedIntent(store, { value: '600', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    // The refund call's answer is lost and the rail cannot be asked either: the outcome stays unknown.
    loseRefundAnswers(4)
    const first = await refundIntent({ store, rails: gw.gateway.rails }, { intentId: id, amount: { value: '250', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
    h.sandbox.faults.clear()
    expect(first.refund.status).toBe('pending')
    expect(ledger(id)).toEqual([])

    const sweeper = createRefundSweeper({ store, rails: gw.gateway.rails }, { intervalMs: 60_000, minAgeMs: MIN_AGE })
    // Within the grace period the request may still be driving it: left alone, nothing sent.
    await sweeper.runOnce(new Date())
    expect(await store.getRefund(first.refund.id)).toMatchObject({ status: 'pending' })
    expect(ledger(id)).toEqual([])

    expect(await sweeper.runOnce(later())).toBeGreaterThanOrEqual(1)
    const done = (await store.getRefund(first.refund.id))!
    expect(done).toMatchObject({ status: 'succeeded', reference: expect.any(String) })
    expect(ledger(id)).toEqual(['250'])
    const intent = await intentOf(id)
    expect(intent.status).toBe('partially_refunded')
    expect(intent.refunds?.map((r) => [r.id, r.status])).toEqual([[first.refund.id, 'succeeded']])
    expect(refundTotals(intent)).toEqual({ captured: 600n, succeeded: 250n, pending: 0n })
    // A finished refund is not in the work list any more: another pass moves nothing.
    expect((await store.listPendingRefunds({ updatedBefore: later(), limit: 1000 })).map((r) => r.id)).not.toContain(first.refund.id)
    await sweeper.runOnce(later())
    expect(ledger(id)).toEqual(['250'])
  })

  it('a second driver (a GET, the sweeper) arriving while the first rail call is under way leaves the refund alone: one rail call, one refund', async () => {
    const id = await authorizedIntent(store, { value: '500', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    // The rail's first refund call hangs until released; every call to the rail is counted.
    const calls: string[] = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const slow = new Proxy(h.alipay, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (prop === 'refund' || prop === 'queryRefund')
          return async (...args: unknown[]) => {
            calls.push(prop)
            if (prop === 'refund' && calls.filter((c) => c === 'refund').length === 1) await gate
            return (v as (...a: unknown[]) => unknown).apply(target, args)
          }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const rails = new RailRegistry().register(slow)
    const first = refundIntent({ store, rails }, { intentId: id, amount: { value: '200', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
    await waitFor(async () => (calls.includes('refund') ? true : undefined), 5_000, 'the first rail call to be under way')
    const [row] = await store.listRefunds(id)
    // Past the grace period and the sweeper's age gate: without a lease it would ask the rail, find
    // nothing yet, and send the same refund key a second time.
    const second = await reconcileRefund({ store, rails, clock: later }, { refundId: row!.id })
    expect(second.refund).toMatchObject({ id: row!.id, status: 'pending' })
    expect(calls).toEqual(['refund'])
    release()
    expect((await first).refund).toMatchObject({ id: row!.id, status: 'succeeded' })
    expect(calls).toEqual(['refund'])
    expect(ledger(id)).toEqual(['200'])
    // The lease is given back: a later driver reads the finished refund and calls nothing.
    expect((await reconcileRefund({ store, rails }, { refundId: row!.id })).refund.status).toBe('succeeded')
    expect(calls).toEqual(['refund'])
  })

  it('the request that creates a refund waits briefly for a lease another driver holds, then sends the refund itself', async () => {
    const id = await authorizedIntent(store, { value: '300', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    // Another driver (a concurrent repeat that only reads) holds the lease for the first few tries.
    let refused = 0
    const busy = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'acquireReplayLock')
          return async (p: Parameters<Store['acquireReplayLock']>[0]) => (p.namespace === REFUND_DRIVER_NAMESPACE && refused++ < 3 ? false : target.acquireReplayLock(p))
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const r = await refundIntent({ store: busy, rails: gw.gateway.rails }, { intentId: id, amount: { value: '120', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
    expect(refused).toBe(4)
    expect(r.refund.status).toBe('succeeded')
    expect(ledger(id)).toEqual(['120'])
  })

  it('a refund the rail made but whose intent update failed ends succeeded, with the intent refunded exactly once', async () => {
    const id = await authorizedIntent(store, { value: '900', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    // The store fails the intent update that records the refund's success (after the rail refunded).
    const failing = Object.create(store) as Store
    failing.updateIntent = async (p) => {
      if (p.event.type === 'refund_partial' || p.event.type === 'refund_full') throw new Error('store unavailable (test)')
      return store.updateIntent(p)
    }
    const destinationsFor = gw.gateway.deps.destinationsFor
    await expect(refundIntent({ store: failing, rails: gw.gateway.rails, destinationsFor }, { intentId: id, amount: { value: '400', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })).rejects.toThrow('store unavailable')
    expect(ledger(id)).toEqual(['400'])
    const [left] = await store.listRefunds(id)
    expect(left).toMatchObject({ status: 'pending', amount: { value: '400' } })
    expect(refundTotals(await intentOf(id))).toEqual({ captured: 900n, succeeded: 0n, pending: 400n })

    await createRefundSweeper({ store, rails: gw.gateway.rails, destinationsFor }, { intervalMs: 60_000, minAgeMs: MIN_AGE }).runOnce(later())
    expect(await store.getRefund(left!.id)).toMatchObject({ status: 'succeeded', reference: expect.any(String) })
    // The rail said it had refunded that key: nothing was sent again.
    expect(ledger(id)).toEqual(['400'])
    const intent = await intentOf(id)
    expect(intent.status).toBe('partially_refunded')
    expect(refundTotals(intent)).toEqual({ captured: 900n, succeeded: 400n, pending: 0n })
    // The rest is still refundable, and only the rest.
    const rest = await refundIntent({ store, rails: gw.gateway.rails, destinationsFor }, { intentId: id, actor: 'merchant:m1' })
    expect(rest.refund).toMatchObject({ status: 'succeeded', amount: { value: '500' } })
    expect(rest.intent.status).toBe('refunded')
    expect(ledger(id)).toEqual(['400', '500'])
    const events = (await store.listEvents(id)).map((e) => e.type).filter((t) => t.startsWith('refund'))
    expect(events).toEqual(['refund_partial', 'refund_full'])
    expect(outboxTypes(id).filter((t) => t.includes('refund'))).toEqual(['payment_intent.partially_refunded', 'refund.succeeded', 'payment_intent.refunded', 'refund.succeeded'])
  })

  it('a refund it cannot finish is logged, goes to the back of the queue, and the pass goes on; each pass takes at most `batch`, the longest unchanged first', async () => {
    const s = await fx.openStore('sweeper-batch.db')
    const id = await authorizedIntent(s, { value: '800', asset: 'iso4217:CNY' })
    await settleIntent({ store: s }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    // A row whose intent is gone (it cannot be driven), unchanged for longer than the real one.
    const stale = new Date(Date.now() - 10 * MIN_AGE)
    const brokenId = newId('re')
    await s.insertRefund({ id: brokenId, intentId: newId('pi'), merchantId: 'm1', status: 'pending', amount: { value: '1', asset: 'iso4217:CNY' }, railAmount: { value: '1', asset: 'iso4217:CNY' }, rail: 'alipay', actor: 'merchant:m1', createdAt: stale, updatedAt: stale })
    loseRefundAnswers(4)
    const pending = await refundIntent({ store: s, rails: gw.gateway.rails }, { intentId: id, amount: { value: '100', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
    h.sandbox.faults.clear()
    expect(pending.refund.status).toBe('pending')
    const warned: Array<{ refundId?: string }> = []
    const logger = { warn: (obj: object) => void warned.push(obj as { refundId?: string }) }

    // batch 1: only the longest unchanged one (the broken row): logged, nothing else touched.
    expect(await createRefundSweeper({ store: s, rails: gw.gateway.rails, logger }, { intervalMs: 60_000, minAgeMs: MIN_AGE, batch: 1 }).runOnce(later())).toBe(0)
    expect(warned.map((w) => w.refundId)).toEqual([brokenId])
    expect(await s.getRefund(pending.refund.id)).toMatchObject({ status: 'pending' })
    // batch 1 again: the failed row went to the back of the queue, so it cannot hold the head of
    // every pass: the other one is taken and finished now.
    expect(await createRefundSweeper({ store: s, rails: gw.gateway.rails, logger }, { intervalMs: 60_000, minAgeMs: MIN_AGE, batch: 1 }).runOnce(later())).toBe(1)
    expect(warned.map((w) => w.refundId)).toEqual([brokenId])
    expect(await s.getRefund(pending.refund.id)).toMatchObject({ status: 'succeeded' })
    expect(ledger(id)).toEqual(['100'])
    // batch 2: the broken row fails again (logged); nothing else is left.
    expect(await createRefundSweeper({ store: s, rails: gw.gateway.rails, logger }, { intervalMs: 60_000, minAgeMs: MIN_AGE, batch: 2 }).runOnce(later())).toBe(0)
    expect(warned.map((w) => w.refundId)).toEqual([brokenId, brokenId])
    expect(ledger(id)).toEqual(['100'])
  })

  it('a pass whose list query fails is logged and the next one runs: a background pass never takes the process down', async () => {
    let fail = true
    let listed = 0
    const flaky = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'listPendingRefunds')
          return async (p: { updatedBefore: Date; limit: number }) => {
            listed++
            if (fail) throw new Error('connection terminated unexpectedly')
            return target.listPendingRefunds(p)
          }
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const warned: string[] = []
    const sweeper = createRefundSweeper({ store: flaky, rails: gw.gateway.rails, logger: { warn: (_o: object, msg: string) => void warned.push(msg) } }, { intervalMs: 20, minAgeMs: MIN_AGE })
    sweeper.start()
    await waitFor(async () => (listed >= 2 ? true : undefined), 5_000, 'two failed passes')
    fail = false
    await waitFor(async () => (listed >= 4 ? true : undefined), 5_000, 'passes after the store came back')
    await sweeper.stop()
    expect(warned.filter((m) => m === 'refund sweep failed; the next one retries').length).toBeGreaterThanOrEqual(2)
  })

  it('stop() ends a pass between refunds and waits for the refund under way', async () => {
    const s = await fx.openStore('sweeper-stop.db')
    const stale = new Date(Date.now() - 10 * MIN_AGE)
    const ids = Array.from({ length: 5 }, () => newId('re'))
    for (const rid of ids)
      await s.insertRefund({ id: rid, intentId: newId('pi'), merchantId: 'm1', status: 'pending', amount: { value: '1', asset: 'iso4217:CNY' }, railAmount: { value: '1', asset: 'iso4217:CNY' }, rail: 'alipay', actor: 'merchant:m1', createdAt: stale, updatedAt: stale })
    let visited = 0
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const slow = new Proxy(s, {
      get(target, prop, receiver) {
        if (prop === 'getIntent')
          return async (intentId: string) => {
            visited++
            await gate // the first refund is "under way" until released
            return target.getIntent(intentId)
          }
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    const sweeper = createRefundSweeper({ store: slow, rails: gw.gateway.rails }, { intervalMs: 20, minAgeMs: MIN_AGE })
    sweeper.start()
    await waitFor(async () => (visited >= 1 ? true : undefined), 5_000, 'the first refund to be under way')
    const stopped = sweeper.stop()
    release()
    await stopped
    // The refund under way finished its turn; none of the other four was started.
    expect(visited).toBe(1)
  })

  it('the gateway runs it in the background (config refundSweeper) and stops it on close', async () => {
    const own = await startRailHarness()
    const tg = await startTestGateway({ configPatch: { refundSweeper: { intervalMs: 100, minAgeMs: 0 } }, gatewayOptions: { rails: [() => own.alipay] } })
    try {
      const s = tg.gateway.store
      const id = await authorizedIntent(s, { value: '700', asset: 'iso4217:CNY' })
      await settleIntent({ store: s }, { intentId: id, rail: own.alipay, credential: undefined, actor: 'system:test' })
      own.sandbox.faults.set({
        rules: [
          { kind: 'system_error', target: 'alipay.trade.refund', times: 1 },
          { kind: 'system_error', target: 'alipay.trade.fastpay.refund.query', times: 4 },
        ],
      })
      const r = await refundIntent({ store: s, rails: tg.gateway.rails }, { intentId: id, amount: { value: '300', asset: 'iso4217:CNY' }, actor: 'merchant:m1' })
      own.sandbox.faults.clear()
      // Pending after the request (unless the sweeper already finished it meanwhile); finished without anyone asking.
      expect(['pending', 'succeeded']).toContain(r.refund.status)
      await waitFor(async () => ((await s.getRefund(r.refund.id))?.status === 'succeeded' ? true : undefined), 10_000, 'the sweeper to finish the refund')
      expect(own.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['300'])
      expect((await s.getIntent(id))!.intent.status).toBe('partially_refunded')
    } finally {
      await tg.close()
      await own.close()
    }
  })
})

describe('the pro-rata rail amount after an FX conversion (USD priced, CNY settled)', () => {
  const assets = createAssetRegistry()
  const quoter = createFxQuoter({ source: createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.126' }]), assets })
  const usd = (value: string) => ({ value, asset: 'iso4217:USD' })
  const ledger = (id: string) => h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => BigInt(e.amount))
  const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n)
  const seller = () => h.sandbox.world.apps.get(h.keys.appId)!.balances

  /** 3.00 USD paid as 21.38 CNY (2138 fen: not a multiple of 3, so thirds round differently). */
  async function paidInCny(): Promise<{ id: string; settled: bigint }> {
    const id = await authorizedIntent(store, { value: '300', asset: 'iso4217:USD' })
    await lockFxQuote({ store }, { intent: await intentOf(id), to: 'iso4217:CNY', quoter, actor: 'system:test' })
    const paid = await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    expect(paid.intent.status).toBe('succeeded')
    expect(paid.intent.settlement_amount).toEqual({ value: '2138', asset: 'iso4217:CNY' })
    return { id, settled: 2138n }
  }

  /** A refund the rail declines: the merchant's balance cannot cover it (ACQ.SELLER_BALANCE_NOT_ENOUGH). */
  async function declined<T>(run: () => Promise<T>): Promise<T> {
    const saved = seller().get('CNY') ?? 0n
    seller().set('CNY', 0n)
    try {
      return await run()
    } finally {
      seller().set('CNY', (seller().get('CNY') ?? 0n) + saved)
    }
  }

  it('two concurrent partial refunds, a failed one, then the rest: the rail amounts add up to the settlement exactly', async () => {
    const { id, settled } = await paidInCny()
    const rails = gw.gateway.rails
    const both = await Promise.all([
      refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' }),
      refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' }),
    ])
    expect(both.map((r) => r.refund.status)).toEqual(['succeeded', 'succeeded'])
    // Each part is decided on the refunds its reservation is based on: 712, then 1425 − 712.
    expect(both.map((r) => BigInt(r.refund.railAmount.value)).sort()).toEqual([712n, 713n])
    const failed = await declined(() => refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' }))
    expect(failed.refund).toMatchObject({ status: 'failed', code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH' })
    const rest = await refundIntent({ store, rails }, { intentId: id, actor: 'merchant:m1' })
    expect(rest.refund).toMatchObject({ status: 'succeeded', amount: usd('100') })
    expect(rest.intent.status).toBe('refunded')
    expect(sum(ledger(id))).toBe(settled)
    expect(sum((await store.listRefunds(id)).filter((r) => r.status === 'succeeded').map((r) => BigInt(r.railAmount.value)))).toBe(settled)
  })

  it('a refund that fails after another was reserved beside it leaves no extra fen: the parts still add up exactly', async () => {
    const { id, settled } = await paidInCny()
    const rails = gw.gateway.rails
    // X: the answer is lost and the rail cannot be asked: pending, its 100 cents reserved.
    loseRefundAnswers(4)
    const x = await refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' })
    h.sandbox.faults.clear()
    expect(x.refund.status).toBe('pending')
    // Y is reserved while X is pending (its share counts X's).
    const y = await refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' })
    expect(y.refund.status).toBe('succeeded')
    // X is then declined by the rail: nothing of it moved.
    const xDone = await declined(() => reconcileRefund({ store, rails }, { refundId: x.refund.id }))
    expect(xDone.refund).toMatchObject({ status: 'failed', code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH' })
    // Z and the rest: every fen of the settlement refunded, not one more (the sandbox refuses more than the trade).
    const z = await refundIntent({ store, rails }, { intentId: id, amount: usd('100'), actor: 'merchant:m1' })
    const w = await refundIntent({ store, rails }, { intentId: id, actor: 'merchant:m1' })
    expect([z.refund.status, w.refund.status]).toEqual(['succeeded', 'succeeded'])
    expect(w.intent.status).toBe('refunded')
    expect(ledger(id)).toHaveLength(3)
    expect(sum(ledger(id))).toBe(settled)
    // The rail amount each refund recorded is the one the rail moved, and the audit chain says the same.
    const rows = (await store.listRefunds(id)).filter((r) => r.status === 'succeeded')
    expect(rows.map((r) => BigInt(r.railAmount.value))).toEqual(ledger(id))
    const requested = (await store.listEvents(id)).filter((e) => e.reason === 'refund_requested').map((e) => e.data as { refund_id: string; rail_amount: { value: string } })
    for (const r of rows) expect(requested.find((e) => e.refund_id === r.id)?.rail_amount.value).toBe(r.railAmount.value)
  })
})

describe('a refund part that rounds to zero in the settlement asset (CNY priced, JPY settled)', () => {
  const assets = createAssetRegistry()
  const quoter = createFxQuoter({ source: createTableFxSource([{ from: 'iso4217:CNY', to: 'iso4217:JPY', rate: '21.4' }]), assets })
  const cny = (value: string) => ({ value, asset: 'iso4217:CNY' })
  const ledger = (id: string) => h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => BigInt(e.amount))

  it('is done without a rail call (no rail takes a zero refund), and the later parts still add up to the settlement exactly', async () => {
    // 10.00 CNY paid by card as 214 JPY: one fen is 0.214 yen.
    const id = await authorizedIntent(store, { value: '1000', asset: 'iso4217:CNY', instrument: { type: 'card.vault_token', ref: 'card_tok_visa_4242' } })
    await lockFxQuote({ store }, { intent: await intentOf(id), to: 'iso4217:JPY', quoter, actor: 'system:test' })
    const paid = await settleIntent({ store }, { intentId: id, rail: h.antom, credential: undefined, actor: 'system:test' })
    expect(paid.intent.settlement_amount).toEqual({ value: '214', asset: 'iso4217:JPY' })
    const calls: string[] = []
    const counted = new Proxy(h.antom, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          if (prop === 'refund' || prop === 'queryRefund') calls.push(prop)
          return (v as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const rails = new RailRegistry().register(counted)

    const tiny = await refundIntent({ store, rails }, { intentId: id, amount: cny('1'), actor: 'merchant:m1' })
    expect(tiny.refund).toMatchObject({ status: 'succeeded', amount: cny('1'), railAmount: { value: '0', asset: 'iso4217:JPY' } })
    expect(tiny.refund.reference ?? '').toBe('')
    expect(calls).toEqual([])
    expect(ledger(id)).toEqual([])
    expect(refundTotals(tiny.intent)).toEqual({ captured: 1000n, succeeded: 1n, pending: 0n })
    // Four more fen: floor(214·5/1000) − 0 = 1 yen moves now.
    const next = await refundIntent({ store, rails }, { intentId: id, amount: cny('4'), actor: 'merchant:m1' })
    expect(next.refund).toMatchObject({ status: 'succeeded', railAmount: { value: '1', asset: 'iso4217:JPY' } })
    const rest = await refundIntent({ store, rails }, { intentId: id, actor: 'merchant:m1' })
    expect(rest.refund).toMatchObject({ status: 'succeeded', amount: cny('995'), railAmount: { value: '213', asset: 'iso4217:JPY' } })
    expect(rest.intent.status).toBe('refunded')
    expect(ledger(id)).toEqual([1n, 213n])
    expect(ledger(id).reduce((a, b) => a + b, 0n)).toBe(214n)
    expect(calls).toEqual(['refund', 'refund'])
  })
})
