import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhookSignature } from '../../../core/events/webhookSignature.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { crossedThresholds } from '../../../core/wallets/walletPolicy.js'
import { loadApiSchemas } from '../apiSchemas.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'

/**
 * Wallets and `POST /v1/payments` end to end over real HTTP: a real gateway (SQLite file), the
 * Alipay rail against the Alipay-compatible sandbox, and a real webhook receiver for the wallet
 * threshold notifications.
 */

const RICH = '20215000000000000001'
const POOR = '20215000000000000002' // the sandbox buyer with 1.00 CNY
const NOTIFY_SECRET = 'whsec_wallet_notifications_test_0001'

let harness: RailHarness
let gw: TestGateway
let receiver: Server
const received: Array<{ id: string; type: string; data: { object: Record<string, unknown> } }> = []
let badSignatures = 0
let n = 0

type Json = Record<string, unknown>
async function call(method: 'GET' | 'POST' | 'PATCH', path: string, key: string, body?: unknown, idem: string | null = `k-${++n}`): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (idem !== null && method !== 'GET') headers['idempotency-key'] = idem
  const r = await request(`${gw.url}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) })
  return { status: r.statusCode, body: (await r.body.json()) as Json }
}
const pay = (body: Json, key: string = TEST_KEYS.agent, idem?: string) => call('POST', '/v1/payments', key, { merchant_id: 'm1', ...body }, idem)
const cny = (value: string) => ({ value, asset: 'iso4217:CNY' })
const alipay = (ref = RICH) => ({ type: 'alipay.agreement', ref })
const intentOf = (r: { body: Json }) => r.body as unknown as PaymentIntent

beforeAll(async () => {
  harness = await startRailHarness()
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const check = verifyWebhookSignature({ secret: NOTIFY_SECRET, header: req.headers['agentswitch-signature'] as string | undefined, body: raw })
      if (!check.ok) badSignatures++
      else received.push(JSON.parse(raw.toString('utf8')) as (typeof received)[number])
      res.statusCode = 200
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  const port = (receiver.address() as AddressInfo).port
  gw = await startTestGateway({
    configPatch: {
      outbox: { enabled: true, pollIntervalMs: 50 },
      merchants: [
        { id: 'm1', name: 'Merchant One' },
        { id: 'm2', name: 'Merchant Two', category: 'gambling' },
      ],
      wallets: { notifications: { url: `http://127.0.0.1:${port}/hooks`, secret: NOTIFY_SECRET } },
      tokens: { signingKeys: [{ id: 'k1', secret: 'tok_test_signing_key_0123456789abcdef0123' }] },
    },
    gatewayOptions: { rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)] },
  })
}, 60_000)

afterAll(async () => {
  await gw?.close()
  await harness?.close()
  await new Promise((r) => receiver?.close(r))
})

describe('wallet routes', () => {
  it('admin creates a wallet; the owning agent reads it with spend and remaining; others cannot', async () => {
    const created = await call('POST', '/v1/wallets', TEST_KEYS.admin, {
      id: 'wal_read', user_id: 'user_1', agent_id: 'agent_2', asset: 'iso4217:CNY',
      limits: { per_transaction: '5000', daily: '10000' }, blocked_categories: ['gambling'],
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({
      id: 'wal_read', user_id: 'user_1', agent_id: 'agent_2', asset: 'iso4217:CNY', consent: 'granted', version: 1,
      limits: { per_transaction: '5000', daily: '10000' }, notify_thresholds_pct: [50, 80, 100],
      spent: { day: '0', month: '0' }, remaining: { per_transaction: '5000', day: '10000' },
    })
    expect((await call('GET', '/v1/wallets/wal_read', TEST_KEYS.otherAgent)).body).toMatchObject({ id: 'wal_read', spent: { day: '0' } })
    // The answer is what the OpenAPI spec says a Wallet is.
    expect(() => loadApiSchemas().assert('Wallet', created.body)).not.toThrow()
    expect((await call('GET', '/v1/wallets/wal_read', TEST_KEYS.agent)).status).toBe(404)
    expect((await call('GET', '/v1/wallets/wal_read', TEST_KEYS.merchant)).status).toBe(403)
    expect((await call('POST', '/v1/wallets', TEST_KEYS.agent, { user_id: 'u', agent_id: 'agent_1', asset: 'iso4217:CNY' })).status).toBe(403)
    const dup = await call('POST', '/v1/wallets', TEST_KEYS.admin, { id: 'wal_read', user_id: 'u', agent_id: 'agent_2', asset: 'iso4217:CNY' })
    expect(dup.status).toBe(409)
    expect((dup.body['error'] as Json)['code']).toBe('GW_WALLET_EXISTS')
  })

  it('refuses bad input with the precise reason, in the gateway error shape', async () => {
    const float = await call('POST', '/v1/wallets', TEST_KEYS.admin, { user_id: 'u', agent_id: 'a', asset: 'iso4217:CNY', limits: { daily: '10.5' } })
    expect(float.status).toBe(400)
    expect(float.body['error']).toMatchObject({ code: 'GW_SCHEMA_INVALID' })
    expect(JSON.stringify(float.body)).toContain('limits.daily')
    const asset = await call('POST', '/v1/wallets', TEST_KEYS.admin, { user_id: 'u', agent_id: 'a', asset: 'iso4217:XXQ' })
    expect(asset.status).toBe(400)
    expect((asset.body['error'] as Json)['code']).toBe('GW_ASSET_UNKNOWN')
    const pct = await call('PATCH', '/v1/wallets/wal_read', TEST_KEYS.admin, { notify_thresholds_pct: [0] })
    expect(pct.status).toBe(400)
    expect((await call('PATCH', '/v1/wallets/wal_none', TEST_KEYS.admin, { limits: { daily: '1' } })).status).toBe(404)
    const noKey = await call('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: cny('100'), instrument: alipay() }, null)
    expect((noKey.body['error'] as Json)['code']).toBe('GW_IDEMPOTENCY_KEY_REQUIRED')
    const noInstrument = await pay({ amount: cny('100') })
    expect(noInstrument.status).toBe(400)
    expect((noInstrument.body['error'] as Json)['message']).toContain('instrument is required')
    const badAmount = await pay({ amount: { value: '1.5', asset: 'iso4217:CNY' }, instrument: alipay() })
    expect(badAmount.status).toBe(400)
    const unknownMerchant = await pay({ merchant_id: 'm9', amount: cny('100'), instrument: alipay() })
    expect(unknownMerchant.status).toBe(404)
  })
})

describe('POST /v1/payments with an agent wallet', () => {
  beforeAll(async () => {
    const r = await call('POST', '/v1/wallets', TEST_KEYS.admin, {
      id: 'wal_a1', user_id: 'user_1', agent_id: 'agent_1', asset: 'iso4217:CNY',
      limits: { per_transaction: '3000', daily: '5000', monthly: '100000' }, merchant_allow_list: ['m1', 'm2'],
      blocked_categories: ['gambling'], approval_threshold: '2500', notify_thresholds_pct: [50, 80, 100],
    })
    expect(r.status).toBe(201)
  })

  it('pays on the real rail, counts the spend, and never pays one reference twice', async () => {
    const first = await pay({ amount: cny('2000'), instrument: alipay(), reference: 'order-1' })
    expect(first.status).toBe(201)
    expect(intentOf(first)).toMatchObject({ status: 'succeeded', payer: { agent_id: 'agent_1' }, authorization: { constraints: { wallet_id: 'wal_a1' } } })
    expect(JSON.stringify(first.body)).not.toContain('agreementNo')
    const again = await pay({ amount: cny('2000'), instrument: alipay(), reference: 'order-1' })
    expect(again.status).toBe(200)
    expect(again.body['id']).toBe(first.body['id'])
    const w = await call('GET', '/v1/wallets/wal_a1', TEST_KEYS.agent)
    expect(w.body).toMatchObject({ spent: { day: '2000', month: '2000' }, remaining: { day: '3000', month: '98000' } })
    expect(harness.sandbox.ledger.totals()['alipay:CNY']).toMatchObject({ payments: '2000', paymentCount: 1 })
  })

  it('declines over the per-transaction cap, outside the allow-list, in a blocked category, in another asset', async () => {
    const over = await pay({ amount: cny('3001'), instrument: alipay() })
    expect(intentOf(over)).toMatchObject({ status: 'failed', status_reason: 'per_transaction_limit_exceeded' })
    const blockedByMerchant = await pay({ merchant_id: 'm2', amount: cny('100'), instrument: alipay() })
    expect(intentOf(blockedByMerchant)).toMatchObject({ status: 'failed', status_reason: 'category_blocked' })
    const blockedByMetadata = await pay({ amount: cny('100'), instrument: alipay(), metadata: { category: 'gambling' } })
    expect(intentOf(blockedByMetadata)).toMatchObject({ status: 'failed', status_reason: 'category_blocked' })
    const usd = await pay({ amount: { value: '100', asset: 'iso4217:USD' }, instrument: alipay() })
    expect(intentOf(usd)).toMatchObject({ status: 'failed', status_reason: 'wallet_asset_mismatch' })
    await call('PATCH', '/v1/wallets/wal_a1', TEST_KEYS.admin, { merchant_allow_list: ['m2'] })
    const notAllowed = await pay({ amount: cny('100'), instrument: alipay() })
    expect(intentOf(notAllowed)).toMatchObject({ status: 'failed', status_reason: 'merchant_not_allowed' })
    await call('PATCH', '/v1/wallets/wal_a1', TEST_KEYS.admin, { merchant_allow_list: [] })
    expect((await call('GET', '/v1/wallets/wal_a1', TEST_KEYS.admin)).body['spent']).toEqual({ day: '2000', month: '2000' })
  })

  it('parks an amount above the approval threshold without holding budget', async () => {
    const big = await pay({ amount: cny('2600'), instrument: alipay() })
    expect(intentOf(big)).toMatchObject({ status: 'requires_approval' })
    expect((await call('GET', '/v1/wallets/wal_a1', TEST_KEYS.admin)).body['spent']).toEqual({ day: '2000', month: '2000' })
  })

  it('gives the budget back when the rail declines (poor buyer), then stops exactly at the daily cap', async () => {
    const declined = await pay({ amount: cny('2400'), instrument: alipay(POOR) })
    expect(intentOf(declined).status).toBe('failed')
    expect((await call('GET', '/v1/wallets/wal_a1', TEST_KEYS.admin)).body['spent']).toEqual({ day: '2000', month: '2000' })
    const fill = await pay({ amount: cny('2400'), instrument: alipay() })
    expect(intentOf(fill).status).toBe('succeeded')
    const over = await pay({ amount: cny('601'), instrument: alipay() })
    expect(intentOf(over)).toMatchObject({ status: 'failed', status_reason: 'daily_limit_exceeded' })
    const exact = await pay({ amount: cny('600'), instrument: alipay() })
    expect(intentOf(exact).status).toBe('succeeded')
    expect((await call('GET', '/v1/wallets/wal_a1', TEST_KEYS.admin)).body).toMatchObject({ spent: { day: '5000' }, remaining: { day: '0' } })
  })

  it('sends one signed notification per crossed threshold of the daily cap', async () => {
    // 2000 → 4400 crossed 50 % and 80 % of 5000; 5000 crossed 100 %. Monthly (100000): none.
    await expect.poll(() => received.filter((e) => e.type === 'wallet.threshold_reached').length, { timeout: 10_000 }).toBe(3)
    const events = received.map((e) => e.data.object)
    expect(events.map((e) => [e['period'], e['threshold_pct']])).toEqual([['day', 50], ['day', 80], ['day', 100]])
    expect(events[2]).toMatchObject({ wallet_id: 'wal_a1', user_id: 'user_1', agent_id: 'agent_1', cap: cny('5000'), spent: cny('5000') })
    expect(badSignatures).toBe(0)
    expect(crossedThresholds('5000', [50, 80, 100], '2000', '4400')).toEqual([50, 80])
    expect(crossedThresholds('5000', [50], '2500', '2600')).toEqual([])
  })

  it('revoking consent stops every payment at once; granting it again restores them', async () => {
    await call('PATCH', '/v1/wallets/wal_a1', TEST_KEYS.admin, { limits: { daily: null } })
    const revoked = await call('POST', '/v1/wallets/wal_a1/revoke-consent', TEST_KEYS.admin)
    expect(revoked.body).toMatchObject({ consent: 'revoked' })
    expect(revoked.body['consent_revoked_at']).toEqual(expect.any(String))
    const refused = await pay({ amount: cny('100'), instrument: alipay() })
    expect(intentOf(refused)).toMatchObject({ status: 'failed', status_reason: 'wallet_consent_revoked' })
    const granted = await call('PATCH', '/v1/wallets/wal_a1', TEST_KEYS.admin, { consent: 'granted' })
    expect(granted.body).toMatchObject({ consent: 'granted', limits: { per_transaction: '3000', monthly: '100000' } })
    expect(granted.body['limits']).not.toHaveProperty('daily')
    const ok = await pay({ amount: cny('100'), instrument: alipay() })
    expect(intentOf(ok).status).toBe('succeeded')
  })

  it('an agent without a wallet pays as before (no_wallet); a named wallet of another agent is refused', async () => {
    const other = await pay({ amount: cny('100'), instrument: alipay() }, TEST_KEYS.otherAgent)
    // agent_2 owns wal_read (per-transaction 5000, daily 10000, blocks gambling): its default wallet.
    expect(intentOf(other)).toMatchObject({ status: 'succeeded', authorization: { constraints: { wallet_id: 'wal_read' } } })
    const foreign = await pay({ amount: cny('100'), instrument: alipay(), wallet_id: 'wal_a1' }, TEST_KEYS.otherAgent)
    expect(intentOf(foreign)).toMatchObject({ status: 'failed', status_reason: 'wallet_agent_mismatch' })
    const missing = await pay({ amount: cny('100'), instrument: alipay(), wallet_id: 'wal_nope' }, TEST_KEYS.otherAgent)
    expect(intentOf(missing)).toMatchObject({ status: 'failed', status_reason: 'wallet_not_found' })
    expect(harness.sandbox.ledger.paidTwice()).toEqual([])
  })
})

describe('POST /v1/payments with a scoped token', () => {
  beforeAll(async () => {
    const r = await call('POST', '/v1/wallets', TEST_KEYS.admin, {
      id: 'wal_tok', user_id: 'user_1', agent_id: 'agent_1', asset: 'iso4217:CNY', limits: { daily: '100000' },
      funding: { instrument: { type: 'alipay.agreement', ref: RICH } },
    })
    expect(r.status).toBe(201)
  })
  const issue = async () => {
    const t = await call('POST', '/v1/tokens', TEST_KEYS.agent, { wallet_id: 'wal_tok', merchant_id: 'm1', max_amount: cny('1000'), expires_in_seconds: 600 })
    expect(t.status).toBe(201)
    return t.body['token'] as string
  }

  it('pays once with the token (its wallet and funding instrument); a second presentation is refused', async () => {
    const token = await issue()
    const before = harness.sandbox.ledger.totals()['alipay:CNY']?.paymentCount ?? 0
    const first = await pay({ amount: cny('700'), token, reference: 'tok-1' })
    expect(intentOf(first)).toMatchObject({ status: 'succeeded', authorization: { type: 'gateway.token' }, payer: { agent_id: 'agent_1', wallet_id: 'wal_tok' } })
    expect(JSON.stringify(first.body)).not.toContain(token)
    const second = await pay({ amount: cny('700'), token, reference: 'tok-2' })
    expect(second.status).toBe(409)
    expect((second.body['error'] as Json)['code']).toBe('GW_TOKEN_USED')
    // The same reference again is the same payment (never charged twice).
    const again = await pay({ amount: cny('700'), token, reference: 'tok-1' })
    expect(again.body['id']).toBe(first.body['id'])
    expect(harness.sandbox.ledger.totals()['alipay:CNY']?.paymentCount).toBe(before + 1)
    expect((await call('GET', '/v1/wallets/wal_tok', TEST_KEYS.agent)).body['spent']).toEqual({ day: '700', month: '700' })
  })

  it('revoking the wallet consent stops its tokens at once', async () => {
    const token = await issue()
    await call('POST', '/v1/wallets/wal_tok/revoke-consent', TEST_KEYS.admin)
    const refused = await pay({ amount: cny('100'), token })
    expect(refused.status).toBe(403)
    expect((refused.body['error'] as Json)['code']).toBe('GW_TOKEN_REVOKED')
  })
})
