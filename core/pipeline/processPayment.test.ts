import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { createAssetRegistry } from '../money/assets.js'
import type { PolicyEngine } from '../policy/port.js'
import { RailRegistry } from '../rails/port.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { processPayment, type ProcessPaymentParameters } from './processPayment.js'
import { createReconciler } from './reconciler.js'

let store: Store
beforeEach(async () => {
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-pp-')), 'p.db') })
  await store.migrate()
})

const params = (ref: string): ProcessPaymentParameters => ({
  merchantId: 'm1',
  actor: 'agent:a1',
  origin: { protocol: 'x402', version: '2', ref },
  payer: { agent_id: 'a1' },
  amount: { value: '1000', asset: 'iso4217:USD' },
  instrument: { type: 'alipay.agreement' },
  authorization: { type: 'x402.signature' },
  dedupeKey: `x402:${ref}`,
  credential: { secret: 'never-stored' },
})

const deny: PolicyEngine = { evaluate: async () => ({ decision: 'deny', reasons: ['over_budget'] }) }
const review: PolicyEngine = { evaluate: async () => ({ decision: 'review', reasons: ['amount_above_threshold'] }) }

describe('processPayment', () => {
  it('submits, authorises, settles; a second call with the same dedupe key never settles again', async () => {
    const rail = createScriptedFakeRail({ settle: [{ status: 'succeeded', reference: 'T1', settledAt: new Date().toISOString() }] })
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail) }
    const a = await processPayment(deps, params('p1'))
    expect(a.kind).toBe('settled')
    expect(a.intent).toMatchObject({ status: 'succeeded', settlement: { reference: 'T1' } })
    expect(JSON.stringify(await store.listEvents(a.intent.id))).not.toContain('never-stored')
    const b = await processPayment(deps, params('p1'))
    expect(b).toMatchObject({ kind: 'existing', intent: { id: a.intent.id, status: 'succeeded' } })
    expect(rail.calls).toHaveLength(1)
  })

  it('a policy denial declines without touching the rail; a review parks the intent', async () => {
    const rail = createScriptedFakeRail({})
    const denied = await processPayment({ store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy: deny }, params('p2'))
    expect(denied).toMatchObject({ kind: 'declined', reasons: ['over_budget'], intent: { status: 'failed', status_reason: 'over_budget' } })
    const parked = await processPayment({ store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy: review }, params('p3'))
    expect(parked).toMatchObject({ kind: 'requires_approval', intent: { status: 'requires_approval' } })
    expect(rail.calls).toHaveLength(0)
  })

  it('refuses an instrument no rail settles, before writing anything to a rail', async () => {
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry() }
    await expect(processPayment(deps, params('p4'))).rejects.toMatchObject({ code: 'GW_RAIL_UNAVAILABLE' })
  })

  it('an unknown outcome is left processing and the reconciler finishes it by querying', async () => {
    const rail = createScriptedFakeRail({
      settle: [{ status: 'unknown', code: 'timeout', reference: 'R9' }],
      query: [{ status: 'succeeded', reference: 'R9', settledAt: new Date().toISOString() }],
    })
    const rails = new RailRegistry().register(rail)
    const r = await processPayment({ store, assets: createAssetRegistry(), rails }, params('p5'))
    expect(r).toMatchObject({ kind: 'processing', intent: { status: 'processing', route: { reference: 'R9' } } })
    const reconciler = createReconciler({ store, rails }, { intervalMs: 1000, minAgeMs: 0 })
    expect(await reconciler.runOnce()).toBe(1)
    expect((await store.getIntent(r.intent.id))!.intent).toMatchObject({ status: 'succeeded', settlement: { reference: 'R9' } })
    expect(rail.calls.map((c) => c.op)).toEqual(['settle', 'query'])
    expect(await reconciler.runOnce()).toBe(0)
  })

  it('the reconciler leaves young intents alone (the settling request may still be finishing them)', async () => {
    const rail = createScriptedFakeRail({ settle: [{ status: 'unknown', code: 'timeout' }] })
    const rails = new RailRegistry().register(rail)
    await processPayment({ store, assets: createAssetRegistry(), rails }, params('p6'))
    expect(await createReconciler({ store, rails }, { intervalMs: 1000, minAgeMs: 60_000 }).runOnce()).toBe(0)
    expect(rail.calls.map((c) => c.op)).toEqual(['settle'])
  })
})
