import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { verifyAuditChain } from '../events/audit.js'
import { createAssetRegistry } from '../money/assets.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { reconcileIntent, settleIntent } from './settleIntent.js'
import { submitIntent } from './submitIntent.js'
import { transitionIntent } from './transitionIntent.js'

let store: Store
beforeEach(async () => {
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-settle-')), 's.db') })
  await store.migrate()
})

async function authorizedIntent(): Promise<string> {
  const { intent } = await submitIntent(
    { store, assets: createAssetRegistry() },
    {
      merchantId: 'm1',
      actor: 'agent:a1',
      origin: { protocol: 'gateway', version: 'v1', ref: 'r1' },
      payer: { agent_id: 'a1' },
      amount: { value: '1999', asset: 'iso4217:CNY' },
      instrument: { type: 'alipay.agreement' },
      authorization: { type: 'gateway.api_key' },
    },
  )
  await transitionIntent({ store }, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
  return intent.id
}

async function chainOk(id: string): Promise<void> {
  const s = (await store.getIntent(id))!
  expect(verifyAuditChain(await store.listEvents(id), { head: s.auditHead, seq: s.auditSeq, status: s.intent.status })).toMatchObject({ valid: true })
}

describe('settleIntent / reconcileIntent', () => {
  it('succeeded: processing is committed first, then succeeded with the settlement and the attempt', async () => {
    const id = await authorizedIntent()
    const rail = createScriptedFakeRail({ settle: [{ status: 'succeeded', reference: 'T1', settledAt: '2026-11-21T00:00:00.000Z', endpoint: 'primary' }] })
    const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'succeeded', settlement: { rail: 'fake', reference: 'T1' }, route: { rail: 'fake', idempotency_key: `${id}:settle`, attempts: [{ outcome: 'succeeded', endpoint: 'primary' }] } })
    expect((await store.listEvents(id)).map((e) => e.type)).toEqual(['create', 'authorize', 'start_processing', 'succeed'])
    await chainOk(id)
  })

  it('a decline fails the intent with the rail code and is not retried', async () => {
    const id = await authorizedIntent()
    const rail = createScriptedFakeRail({ settle: [{ status: 'declined', code: 'insufficient_funds' }] })
    const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'failed', status_reason: 'insufficient_funds' })
    await expect(settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })).rejects.toMatchObject({ code: 'GW_INVALID_TRANSITION' })
    expect(rail.calls).toHaveLength(1)
  })

  it('an unknown outcome stays processing with the reference; reconciliation finishes it from the rail, never re-sending', async () => {
    const id = await authorizedIntent()
    const rail = createScriptedFakeRail({
      settle: [{ status: 'unknown', code: 'receipt_timeout', reference: '0xabc' }],
      query: [{ status: 'unknown', code: 'still_pending', reference: '0xabc' }, { status: 'succeeded', reference: '0xabc', settledAt: '2026-11-21T00:00:01.000Z' }],
    })
    const first = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(first.intent).toMatchObject({ status: 'processing', route: { reference: '0xabc' } })
    const second = await reconcileIntent({ store }, { intentId: id, rail, actor: 'system:reconciler' })
    expect(second.intent.status).toBe('processing')
    const third = await reconcileIntent({ store }, { intentId: id, rail, actor: 'system:reconciler' })
    expect(third.intent).toMatchObject({ status: 'succeeded', settlement: { reference: '0xabc' } })
    expect(rail.calls.map((c) => c.op)).toEqual(['settle', 'query', 'query'])
    expect(rail.calls.every((c) => c.idempotencyKey === `${id}:settle`)).toBe(true)
    expect(rail.calls[1]!.reference).toBe('0xabc')
    expect(third.intent.route!.attempts.map((a) => a.outcome)).toEqual(['unknown', 'unknown', 'succeeded'])
    await chainOk(id)
  })

  it('a thrown rail error is an unknown outcome; settling again queries first and re-sends with the same key only when nothing moved', async () => {
    const id = await authorizedIntent()
    const rail = createScriptedFakeRail({
      settle: [new Error('socket hang up'), { status: 'succeeded', reference: 'T9', settledAt: '2026-11-21T00:00:02.000Z' }],
      query: [{ status: 'not_found' }],
    })
    const a = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(a.intent.status).toBe('processing')
    expect(a.outcome).toMatchObject({ status: 'unknown', code: 'rail_error' })
    const b = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(b.intent.status).toBe('succeeded')
    expect(rail.calls.map((c) => c.op)).toEqual(['settle', 'query', 'settle'])
    expect(new Set(rail.calls.map((c) => c.idempotencyKey))).toEqual(new Set([`${id}:settle`]))
    await chainOk(id)
  })

  it('refuses to settle an intent that is not authorized', async () => {
    const { intent } = await submitIntent(
      { store, assets: createAssetRegistry() },
      { merchantId: 'm1', actor: 'agent:a1', origin: { protocol: 'gateway', version: 'v1', ref: 'r2' }, payer: { agent_id: 'a1' }, amount: { value: '1', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' }, authorization: { type: 'gateway.api_key' } },
    )
    const rail = createScriptedFakeRail({})
    await expect(settleIntent({ store }, { intentId: intent.id, rail, credential: {}, actor: 'x' })).rejects.toMatchObject({ code: 'GW_INVALID_TRANSITION' })
    expect(rail.calls).toHaveLength(0)
  })
})

describe('an outcome recorded by another path first', () => {
  it('a notification that finished the intent during the rail call stands; settle returns it without error', async () => {
    const id = await authorizedIntent()
    const rail = createScriptedFakeRail({ settle: [{ status: 'succeeded', reference: 'T7', settledAt: '2026-11-21T00:00:03.000Z' }] })
    const settle = rail.settle.bind(rail)
    rail.settle = async (p) => {
      // The rail's async notification arrives (and is recorded) before its synchronous answer.
      await transitionIntent({ store }, { intentId: id, event: 'succeed', actor: 'system:notify', patch: () => ({ settlement: { rail: 'fake', reference: 'T7', settled_at: '2026-11-21T00:00:02.000Z' } }) })
      return settle(p)
    }
    const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: {}, actor: 'system:test' })
    expect(intent).toMatchObject({ status: 'succeeded', settlement: { reference: 'T7', settled_at: '2026-11-21T00:00:02.000Z' } })
    expect((await store.listEvents(id)).filter((e) => e.type === 'succeed')).toHaveLength(1)
    await chainOk(id)
  })
})
