import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'

/**
 * Issue 10 acceptance #4 with a wallet's approval threshold, over HTTP end to end: the agent pays
 * with `POST /v1/payments` above the threshold → `requires_approval` (nothing reserved, nothing
 * paid); approved through the API → the agent's retry (same reference) settles on the Alipay
 * sandbox and the wallet counts it; a denied one never settles and holds no budget.
 */
let harness: RailHarness
let gw: TestGateway

beforeAll(async () => {
  harness = await startRailHarness()
  gw = await startTestGateway({
    configPatch: { approvals: { ttlSeconds: 600, sweeper: false } },
    gatewayOptions: { rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)] },
  })
}, 120_000)
afterAll(async () => {
  await gw?.close()
  await harness?.close()
})

let seq = 0
async function api(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${gw.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json', 'idempotency-key': `k-${Date.now()}-${++seq}` }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

const pay = (reference: string, value: string): Promise<{ status: number; json: Record<string, unknown> }> =>
  api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value, asset: 'iso4217:CNY' }, instrument: { type: 'alipay.agreement', ref: '20215000000000000001' }, reference })
const payments = (): number => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length
const spentToday = async (): Promise<unknown> => ((await api('GET', '/v1/wallets/wal_appr', TEST_KEYS.admin)).json['spent'] as { day: unknown }).day

describe('approval above a wallet threshold (POST /v1/payments)', () => {
  it('creates the wallet', async () => {
    const w = await api('POST', '/v1/wallets', TEST_KEYS.admin, { id: 'wal_appr', user_id: 'u1', agent_id: 'agent_1', asset: 'iso4217:CNY', limits: { daily: '100000' }, approval_threshold: '5000' })
    expect(w.status).toBe(201)
  })

  it('below the threshold pays at once; above it waits; approved, the retry settles and counts', async () => {
    const small = await pay('small-1', '1000')
    expect(small.json).toMatchObject({ status: 'succeeded' })
    const before = payments()
    const big = await pay('big-1', '8000')
    expect(big.status).toBe(201)
    expect(big.json).toMatchObject({ status: 'requires_approval' })
    const id = big.json['id'] as string
    expect(await spentToday()).toBe('1000')
    const view = await api('GET', `/v1/approvals/${id}`, TEST_KEYS.merchant)
    expect((view.json['reasons'] as string[]).length).toBeGreaterThan(0)
    const again = await pay('big-1', '8000')
    expect(again.json).toMatchObject({ id, status: 'requires_approval' })
    expect(payments()).toBe(before)

    expect((await api('POST', `/v1/approvals/${id}/approve`, TEST_KEYS.merchant, { note: 'ok' })).json).toMatchObject({ status: 'approved', decided_by: 'merchant:m1' })
    // A different payment under the approved reference never borrows the approval.
    const other = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '100', asset: 'iso4217:CNY' }, instrument: { type: 'alipay.agreement', ref: '20215000000000000001' }, reference: 'big-1' })
    expect(other.json).toMatchObject({ id, status: 'authorized' })
    expect(payments()).toBe(before)
    const done = await pay('big-1', '8000')
    expect(done.json).toMatchObject({ id, status: 'succeeded' })
    expect(payments()).toBe(before + 1)
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).at(-1)).toMatchObject({ amount: '8000' })
    expect(await spentToday()).toBe('9000')
  })

  it('denied: canceled, never settles, holds no budget', async () => {
    const before = payments()
    const big = await pay('big-2', '7000')
    const id = big.json['id'] as string
    expect((await api('POST', `/v1/approvals/${id}/deny`, TEST_KEYS.admin, {})).json).toMatchObject({ status: 'denied', intent_status: 'canceled' })
    const retry = await pay('big-2', '7000')
    expect(retry.json).toMatchObject({ id, status: 'canceled', status_reason: 'approval_denied' })
    expect(payments()).toBe(before)
    expect(await spentToday()).toBe('9000')
  })
})
