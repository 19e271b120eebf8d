import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../events/audit.js'
import { createFxQuoter } from '../fx/quoter.js'
import { createTableFxSource } from '../fx/tableSource.js'
import type { Money } from '../intent/types.js'
import { createAssetRegistry } from '../money/assets.js'
import { RailRegistry, type RailAdapter, type RailOutcome } from '../rails/port.js'
import { attachRouter, createRouter } from '../routing/router.js'
import type { RoutingConfig } from '../routing/routingTable.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { chooseRail } from './processPayment.js'
import { settleIntent } from './settleIntent.js'
import { submitIntent } from './submitIntent.js'
import { transitionIntent } from './transitionIntent.js'

/**
 * settleIntent with routing (cross-rail failover by core/routing's rules) and FX (quote locked
 * before the send, an expired quote re-quoted). Real SQLite store; scripted rails stand in for the
 * rails, whose own failover is tested against the Alipay sandbox (adapters/rails/alipay/acceptance.failover.test.ts).
 */

let store: Store
const assets = createAssetRegistry()
beforeEach(async () => {
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-routing-')), 's.db') })
  await store.migrate()
})

type Recorded = RailAdapter & { sent: Array<{ amount: Money; endpoints?: readonly string[] | undefined; key: string }> }
function rail(id: string, settle: Array<RailOutcome | Error>): Recorded {
  const inner = createScriptedFakeRail({ settle })
  const sent: Recorded['sent'] = []
  return {
    ...inner,
    rail: id,
    instruments: ['alipay.agreement'],
    sent,
    async settle(p) {
      sent.push({ amount: p.amount, endpoints: p.endpoints, key: p.idempotencyKey })
      return inner.settle(p)
    },
  }
}

async function authorizedIntent(amount: Money): Promise<string> {
  const { intent } = await submitIntent(
    { store, assets },
    {
      merchantId: 'm1',
      actor: 'agent:a1',
      origin: { protocol: 'gateway', version: 'v1', ref: `r_${Math.random()}` },
      payer: { agent_id: 'a1' },
      amount,
      instrument: { type: 'alipay.agreement', ref: '20215000000000000001' },
      authorization: { type: 'gateway.api_key' },
    },
  )
  await transitionIntent({ store }, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
  return intent.id
}

async function events(id: string) {
  const s = (await store.getIntent(id))!
  const list = await store.listEvents(id)
  expect(verifyAuditChain(list, { head: s.auditHead, seq: s.auditSeq, status: s.intent.status })).toMatchObject({ valid: true })
  return list
}

const ok: RailOutcome = { status: 'succeeded', reference: 'T1', settledAt: '2026-11-21T00:00:00.000Z' }
const table: RoutingConfig = { table: [{ instrument: 'alipay.agreement', rails: [{ rail: 'main', endpoint: 'primary' }, { rail: 'main', endpoint: 'secondary' }, { rail: 'backup' }] }] }

function setup(mainScript: Array<RailOutcome | Error>, backupScript: Array<RailOutcome | Error>, fx?: ReturnType<typeof createFxQuoter>) {
  const main = rail('main', mainScript)
  const backup = rail('backup', backupScript)
  const rails = new RailRegistry().register(main).register(backup)
  const breakers = { list: () => [{ rail: 'main', endpoint: 'primary', state: 'closed' }, { rail: 'main', endpoint: 'secondary', state: 'closed' }] }
  attachRouter(rails, createRouter({ rails, config: table, breakers, fx }))
  return { main, backup, rails }
}

describe('settleIntent: failover between rails (shouldFailover scope rail)', () => {
  it('nothing sent on the first rail (every endpoint refused / breaker open): the next rail settles, with the same key', async () => {
    const { main, backup, rails } = setup([{ status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }], [ok])
    const id = await authorizedIntent({ value: '1999', asset: 'iso4217:CNY' })
    const first = chooseRail(rails, (await store.getIntent(id))!.intent)
    expect(first.rail).toBe('main')
    const { intent } = await settleIntent({ store }, { intentId: id, rail: first, credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'succeeded', settlement: { rail: 'backup' }, route: { rail: 'backup', attempts: [{ rail: 'main', outcome: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }, { rail: 'backup', outcome: 'succeeded' }] } })
    expect(main.sent).toEqual([{ amount: { value: '1999', asset: 'iso4217:CNY' }, endpoints: ['primary', 'secondary'], key: `${id}:settle` }])
    expect(backup.sent.map((s) => s.key)).toEqual([`${id}:settle`])
    expect((await events(id)).map((e) => e.reason ?? e.type)).toContain('rail_failover')
  })

  it('an unknown outcome after send does not fail over to another rail: it stays processing for reconciliation', async () => {
    const { backup, rails } = setup([{ status: 'unknown', code: 'timeout' }], [ok])
    const id = await authorizedIntent({ value: '1999', asset: 'iso4217:CNY' })
    const { intent } = await settleIntent({ store }, { intentId: id, rail: chooseRail(rails, (await store.getIntent(id))!.intent), credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'processing', route: { rail: 'main' } })
    expect(backup.sent).toEqual([])
  })

  it('a decline never fails over', async () => {
    const { backup, rails } = setup([{ status: 'declined', code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' }], [ok])
    const id = await authorizedIntent({ value: '1999', asset: 'iso4217:CNY' })
    const { intent } = await settleIntent({ store }, { intentId: id, rail: chooseRail(rails, (await store.getIntent(id))!.intent), credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })
    expect(backup.sent).toEqual([])
  })

  it('a refused re-send after an earlier possibly-sent attempt on the same rail does not fail over (double charge guard)', async () => {
    const { main, backup, rails } = setup([{ status: 'unknown', code: 'ECONNREFUSED' }], [ok])
    const id = await authorizedIntent({ value: '1999', asset: 'iso4217:CNY' })
    // An earlier send on `main` timed out after sending: it may still complete late on that account.
    await transitionIntent({ store }, { intentId: id, event: 'annotate', actor: 'system:test', reason: 'test', patch: () => ({ route: { rail: 'main', attempts: [{ rail: 'main', at: '2026-11-21T00:00:00.000Z', outcome: 'unknown', code: 'timeout' }] } }) })
    const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail: chooseRail(rails, (await store.getIntent(id))!.intent), credential: {}, actor: 'system:test' })
    expect(outcome).toMatchObject({ status: 'unknown', code: 'ECONNREFUSED' })
    expect(intent).toMatchObject({ status: 'processing', route: { rail: 'main', attempts: [{ rail: 'main', code: 'timeout' }, { rail: 'main', code: 'ECONNREFUSED' }] } })
    expect(main.sent).toHaveLength(1)
    expect(backup.sent).toEqual([])
  })
})

describe('settleIntent: FX quote locked into the intent', () => {
  const rates = createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }])

  it('a USD price on a CNY rail: the quote and settlement_amount are recorded before the send, and the rail settles the CNY amount', async () => {
    const fx = createFxQuoter({ source: rates, spreadBps: 50, quoteTtlSeconds: 60, assets })
    const { main, rails } = setup([ok], [], fx)
    const id = await authorizedIntent({ value: '1999', asset: 'iso4217:USD' })
    const { intent } = await settleIntent({ store }, { intentId: id, rail: chooseRail(rails, (await store.getIntent(id))!.intent), credential: {}, actor: 'system:test' })
    // 19.99 × 7.1355 = 142.638645 → 142.64 CNY
    expect(intent).toMatchObject({ status: 'succeeded', amount: { value: '1999', asset: 'iso4217:USD' }, settlement_amount: { value: '14264', asset: 'iso4217:CNY' }, fx_quote: { from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1355', source: 'table' } })
    expect(main.sent[0]!.amount).toEqual({ value: '14264', asset: 'iso4217:CNY' })
    const ev = await events(id)
    const quoted = ev.find((e) => e.reason === 'fx_quoted')!
    expect(ev.indexOf(quoted)).toBeLessThan(ev.findIndex((e) => e.type === 'start_processing'))
    expect(quoted.data).toMatchObject({ quote: { id: intent.fx_quote!.id, rate: '7.1355' }, settlement_amount: { value: '14264', asset: 'iso4217:CNY' } })
  })

  it('an expired quote is re-quoted (new id, new rate, audit fx_requoted naming the old one), never reused', async () => {
    let now = new Date('2026-11-21T12:00:00.000Z')
    const clock = () => now
    const table2 = [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }]
    const fx = createFxQuoter({ source: { name: 'table', rate: (p) => createTableFxSource(table2).rate(p) }, quoteTtlSeconds: 30, assets, clock })
    const { main, rails } = setup([ok], [], fx)
    const id = await authorizedIntent({ value: '1000', asset: 'iso4217:USD' })
    // A quote locked earlier (e.g. when the checkout was shown, before an approval wait).
    const before = (await store.getIntent(id))!.intent
    const q1 = await fx.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })
    await transitionIntent({ store }, { intentId: id, event: 'annotate', actor: 'system:test', reason: 'fx_quoted', patch: () => ({ fx_quote: q1, settlement_amount: fx.convert(before.amount, q1) }) })
    expect((await store.getIntent(id))!.intent.settlement_amount).toEqual({ value: '7100', asset: 'iso4217:CNY' })

    // Time passes beyond the quote's expiry and the market moves.
    now = new Date('2026-11-21T12:05:00.000Z')
    table2[0]!.rate = '7.2'
    const { intent } = await settleIntent({ store, clock }, { intentId: id, rail: chooseRail(rails, before), credential: {}, actor: 'system:test' })
    expect(intent.status).toBe('succeeded')
    expect(intent.fx_quote!.id).not.toBe(q1.id)
    expect(intent.fx_quote).toMatchObject({ rate: '7.2', expires_at: '2026-11-21T12:05:30.000Z' })
    expect(intent.settlement_amount).toEqual({ value: '7200', asset: 'iso4217:CNY' })
    expect(main.sent[0]!.amount).toEqual({ value: '7200', asset: 'iso4217:CNY' })
    const requoted = (await events(id)).find((e) => e.reason === 'fx_requoted')!
    expect(requoted.data).toMatchObject({ quote: { id: intent.fx_quote!.id, rate: '7.2' }, replaces: { id: q1.id, rate: '7.1', expires_at: '2026-11-21T12:00:30.000Z', settlement_amount: { value: '7100', asset: 'iso4217:CNY' } } })
  })

  it('a fresh quote is kept as is (the amount the payer was shown)', async () => {
    const fx = createFxQuoter({ source: rates, quoteTtlSeconds: 600, assets })
    const { main, rails } = setup([ok], [], fx)
    const id = await authorizedIntent({ value: '1000', asset: 'iso4217:USD' })
    const q1 = await fx.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })
    await transitionIntent({ store }, { intentId: id, event: 'annotate', actor: 'system:test', patch: () => ({ fx_quote: q1, settlement_amount: { value: '7100', asset: 'iso4217:CNY' } }) })
    const { intent } = await settleIntent({ store }, { intentId: id, rail: rails.get('main')!, credential: {}, actor: 'system:test' })
    expect(intent.fx_quote).toEqual(q1)
    expect(main.sent[0]!.amount).toEqual({ value: '7100', asset: 'iso4217:CNY' })
    expect((await events(id)).some((e) => e.reason === 'fx_requoted')).toBe(false)
  })

  it('no rate for the pair: the intent fails fx_unavailable and nothing is sent', async () => {
    const fx = createFxQuoter({ source: createTableFxSource([]), assets })
    const { main, rails } = setup([ok], [], fx)
    const id = await authorizedIntent({ value: '1000', asset: 'iso4217:EUR' })
    const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail: chooseRail(rails, (await store.getIntent(id))!.intent), credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'failed', status_reason: 'fx_unavailable' })
    expect(outcome).toMatchObject({ status: 'declined', code: 'fx_unavailable' })
    expect(main.sent).toEqual([])
  })
})
