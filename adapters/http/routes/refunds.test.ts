import Database from 'better-sqlite3'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { reconcileRefund, refundIntent } from '../../../core/pipeline/refundIntent.js'
import { RailRegistry } from '../../../core/rails/port.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { newId } from '../../../core/util/ids.js'
import type { Store } from '../../../core/store/port.js'
import { authorizedIntent, startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
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

  it('an outcome that stays unknown leaves the refund pending; reading it later asks the rail and finishes it once', async () => {
    const id = await authorizedIntent(store, { value: '600', asset: 'iso4217:CNY' })
    await settleIntent({ store }, { intentId: id, rail: h.alipay, credential: undefined, actor: 'system:test' })
    h.sandbox.faults.set({
      rules: [
        { kind: 'system_error', target: 'alipay.trade.refund', times: 1 },
        { kind: 'system_error', target: 'alipay.trade.fastpay.refund.query', times: 4 },
      ],
    })
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
