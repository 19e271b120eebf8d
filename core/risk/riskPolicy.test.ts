import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import type { PaymentIntent } from '../intent/types.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { buildCreateEvent, buildIntent } from '../testing/builders.js'
import { riskPolicy } from './riskPolicy.js'
import { createAssetRegistry } from '../money/assets.js'
import { processPayment } from '../pipeline/processPayment.js'
import { RailRegistry, type RailAdapter } from '../rails/port.js'
import { medianOf, type RiskConfig } from './rules.js'

let store: Store
beforeEach(async () => {
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-risk-')), 'r.db') })
  await store.migrate()
})

/** Store an intent as the pipeline would have (the risk reads go to the intents table itself). */
async function put(overrides: Partial<PaymentIntent>): Promise<PaymentIntent> {
  const intent = buildIntent({ merchant_id: 'm1', ...overrides })
  expect(await store.insertIntent({ intent, event: buildCreateEvent(intent) })).toEqual({ ok: true })
  return intent
}

const ago = (s: number): string => new Date(Date.now() - s * 1000).toISOString()

describe('risk rules', () => {
  it('velocity per agent: the (max+1)-th intent in the window is reviewed; older ones do not count', async () => {
    const config: RiskConfig = { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 60, max: 2, action: 'review' }] }
    const policy = riskPolicy({ store, config })
    await put({ payer: { agent_id: 'a1' }, created_at: ago(600) })
    await put({ payer: { agent_id: 'a1' }, created_at: ago(30) })
    const second = await put({ payer: { agent_id: 'a1' }, created_at: ago(1) })
    expect(await policy.evaluate(second)).toMatchObject({ decision: 'allow', reasons: ['risk_passed'] })
    const third = await put({ payer: { agent_id: 'a1' } })
    expect(await policy.evaluate(third)).toEqual({ decision: 'review', reasons: ['velocity_agent_exceeded'] })
    const other = await put({ payer: { agent_id: 'a2' } })
    expect((await policy.evaluate(other)).decision).toBe('allow')
  })

  it('velocity per payer counts across agents of one user, and can deny', async () => {
    const policy = riskPolicy({ store, config: { rules: [{ type: 'velocity', scope: 'payer', windowSeconds: 3600, max: 1, action: 'deny' }] } })
    await put({ payer: { agent_id: 'a1', user_id: 'u1' } })
    const next = await put({ payer: { agent_id: 'a2', user_id: 'u1' } })
    expect(await policy.evaluate(next)).toEqual({ decision: 'deny', reasons: ['velocity_payer_exceeded'] })
    const anonymous = await put({ payer: { agent_id: 'a3' } })
    expect((await policy.evaluate(anonymous)).decision).toBe('allow')
  })

  it('amount anomaly: above multiplier x median of the agent\'s paid history (same asset) is reviewed', async () => {
    const policy = riskPolicy({ store, config: { rules: [{ type: 'amount_anomaly', multiplier: 3, history: 10, minHistory: 3, action: 'review' }] } })
    const first = await put({ payer: { agent_id: 'a1' }, amount: { value: '100000', asset: 'iso4217:USD' } })
    expect(await policy.evaluate(first)).toMatchObject({ decision: 'allow' }) // no history yet
    for (const v of ['1000', '1200', '900']) await put({ payer: { agent_id: 'a1' }, amount: { value: v, asset: 'iso4217:USD' }, status: 'succeeded' })
    await put({ payer: { agent_id: 'a1' }, amount: { value: '1', asset: 'iso4217:USD' }, status: 'failed' })
    const usual = await put({ payer: { agent_id: 'a1' }, amount: { value: '3000', asset: 'iso4217:USD' } })
    const d = await policy.evaluate(usual)
    expect(d).toMatchObject({ decision: 'allow', constraints: { risk: [{ rule: 'amount_anomaly', outcome: 'pass', facts: { median: '1000' } }] } })
    const big = await put({ payer: { agent_id: 'a1' }, amount: { value: '3001', asset: 'iso4217:USD' } })
    expect(await policy.evaluate(big)).toEqual({ decision: 'review', reasons: ['amount_anomaly'] })
    const otherAsset = await put({ payer: { agent_id: 'a1' }, amount: { value: '999999', asset: 'iso4217:EUR' } })
    expect((await policy.evaluate(otherAsset)).decision).toBe('allow')
  })

  it('first purchase from a merchant is reviewed (from minAmount on), a known merchant is not', async () => {
    const policy = riskPolicy({ store, config: { rules: [{ type: 'first_merchant', minAmount: '500', action: 'review' }] } })
    const small = await put({ payer: { agent_id: 'a1' }, merchant_id: 'm2', amount: { value: '499', asset: 'iso4217:USD' } })
    expect((await policy.evaluate(small)).decision).toBe('allow')
    const firstBig = await put({ payer: { agent_id: 'a1' }, merchant_id: 'm2', amount: { value: '500', asset: 'iso4217:USD' } })
    expect(await policy.evaluate(firstBig)).toEqual({ decision: 'review', reasons: ['first_purchase_from_merchant'] })
    await put({ payer: { agent_id: 'a1' }, merchant_id: 'm2', status: 'succeeded' })
    expect((await policy.evaluate(firstBig)).decision).toBe('allow')
  })

  it('region and currency mismatch (the operator config beats the agent metadata), unknown sides pass', async () => {
    const config: RiskConfig = {
      rules: [
        { type: 'region_mismatch', action: 'review' },
        { type: 'currency_mismatch', action: 'deny' },
      ],
      merchants: { m1: { region: 'CN', currency: 'CNY' } },
      payers: { a1: { region: 'cn', currency: 'CNY' }, a2: { region: 'US', currency: 'USD' } },
    }
    const policy = riskPolicy({ store, config })
    expect((await policy.evaluate(await put({ payer: { agent_id: 'a1' } }))).decision).toBe('allow')
    expect(await policy.evaluate(await put({ payer: { agent_id: 'a2' } }))).toEqual({ decision: 'deny', reasons: ['currency_mismatch'] })
    // An agent without configured sides is judged on what it declares...
    expect(await policy.evaluate(await put({ payer: { agent_id: 'a4' }, metadata: { payer_region: 'DE' } }))).toEqual({ decision: 'review', reasons: ['region_mismatch'] })
    // ...but cannot talk its way past the operator's configuration, nor blank it out.
    expect(await policy.evaluate(await put({ payer: { agent_id: 'a2' }, metadata: { payer_currency: 'CNY', payer_region: 'CN' } }))).toEqual({ decision: 'deny', reasons: ['currency_mismatch'] })
    expect(await policy.evaluate(await put({ payer: { agent_id: 'a2' }, metadata: { payer_currency: '' } }))).toEqual({ decision: 'deny', reasons: ['currency_mismatch'] })
    expect((await policy.evaluate(await put({ payer: { agent_id: 'a3' }, merchant_id: 'm9', amount: { value: '1', asset: 'eip155:1/erc20:0x0000000000000000000000000000000000000001' } }))).decision).toBe('allow')
  })

  it('with { approved: true } review findings stand down (recorded as such) and deny findings still deny', async () => {
    const config: RiskConfig = { rules: [{ type: 'first_merchant', action: 'review' }] }
    const policy = riskPolicy({ store, config })
    const i = await put({ payer: { agent_id: 'a1' } })
    expect(await policy.evaluate(i, { approved: true })).toMatchObject({ decision: 'allow', reasons: ['risk_review_approved', 'first_purchase_from_merchant'] })
    const strict = riskPolicy({ store, config: { rules: [{ type: 'first_merchant', action: 'deny' }] } })
    expect(await strict.evaluate(i, { approved: true })).toEqual({ decision: 'deny', reasons: ['first_purchase_from_merchant'] })
  })

  it('every decision, allow included, is in the audit chain through the pipeline', async () => {
    const rail = {
      rail: 'rec',
      instruments: ['alipay.agreement'],
      settle: async () => ({ status: 'succeeded', reference: 'T1', settledAt: new Date().toISOString() }),
      query: async () => ({ status: 'not_found' }),
    } as unknown as RailAdapter
    const policy = riskPolicy({ store, config: { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 3600, max: 1, action: 'deny' }] } })
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const base = { merchantId: 'm1', actor: 'agent:a9', payer: { agent_id: 'a9' }, amount: { value: '100', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' as const }, authorization: { type: 'gateway.api_key' as const }, credential: {} }
    const ok = await processPayment(deps, { ...base, origin: { protocol: 'gateway', version: 'v1', ref: 'r1' }, dedupeKey: 'r1' })
    expect(ok.kind).toBe('settled')
    const allow = (await store.listEvents(ok.intent.id)).find((e) => e.type === 'authorize')!
    expect(allow.data['reasons']).toEqual(['risk_passed'])
    expect(ok.intent.authorization.constraints).toMatchObject({ risk: [{ rule: 'velocity', outcome: 'pass', reason: 'velocity_agent_ok', facts: { count: 1, max: 1 } }] })
    const no = await processPayment(deps, { ...base, origin: { protocol: 'gateway', version: 'v1', ref: 'r2' }, dedupeKey: 'r2' })
    expect(no).toMatchObject({ kind: 'declined', intent: { status: 'failed', status_reason: 'velocity_agent_exceeded' } })
    const deny = (await store.listEvents(no.intent.id)).find((e) => e.type === 'decline')!
    expect(deny).toMatchObject({ actor: 'system:policy', reason: 'velocity_agent_exceeded', data: { reasons: ['velocity_agent_exceeded'] } })
  })

  it('median is exact on bigints', () => {
    expect(medianOf([])).toBeUndefined()
    expect(medianOf([5n, 1n, 3n])).toBe(3n)
    expect(medianOf([4n, 1n, 3n, 2n])).toBe(2n)
    expect(medianOf([10n ** 30n, 1n, 10n ** 31n])).toBe(10n ** 30n)
  })
})
