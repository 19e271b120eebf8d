import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createApprovalSweeper } from '../../../core/approvals/sweeper.js'
import { TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { buildAlipayRail, buildAntomRail } from '../../rails/alipay/index.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { acpClient, officialSchemas, SHIPPING_ADDRESS, startAcpGateway, type AcpClient } from './testing.js'

/**
 * Issue 10 acceptance #4 on ACP (DESIGN §4.3): a payment that risk sends to review waits
 * (`pending_approval`), is approved through the approvals API, and the agent's retry of
 * `complete` settles it on the Alipay sandbox; a denied one and an expired one never settle.
 */
let harness: RailHarness
let gw: TestGateway
let acp: AcpClient
const schemas = officialSchemas()
const CAPS = { interventions: { supported: [] } }
const AGREEMENT = { payment_data: { handler_id: 'alipay_agreement', instrument: { type: 'alipay_agreement', credential: { type: 'agreement', token: '20215000000000000001' } } } }

beforeAll(async () => {
  harness = await startRailHarness()
  gw = await startAcpGateway({
    gatewayOptions: { rails: [(ctx) => buildAntomRail(harness.antomOptions, ctx), (ctx) => buildAlipayRail(harness.alipayOptions, ctx)] },
    mount: { handlers: { card: {}, alipayAgreement: {} } },
    // Every payment of an agent is reviewed (velocity max 0): the approval path is the only way to pay.
    configPatch: { risk: { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 3600, max: 0, action: 'review' }] }, approvals: { ttlSeconds: 600, sweeper: false } },
  })
  acp = acpClient(gw.url)
})
afterAll(async () => {
  await gw?.close()
  await harness?.close()
})

async function api(method: string, path: string, key: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${gw.url}${path}`, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

async function pendingSession(): Promise<{ id: string; intentId: string }> {
  const c = await acp.post('/acp/checkout_sessions', { currency: 'cny', line_items: [{ id: 'item_456' }], capabilities: CAPS })
  expect(c.status, c.text).toBe(201)
  const id = c.json['id'] as string
  const u = await acp.post(`/acp/checkout_sessions/${id}`, {
    fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
    selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
  })
  expect(u.json['status']).toBe('ready_for_payment')
  const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
  expect(r.status, r.text).toBe(200)
  expect(schemas.problems('CheckoutSession', r.json)).toEqual([])
  expect(r.json['status']).toBe('pending_approval')
  const intent = (await gw.gateway.store.listIntents({ limit: 50, protocol: 'acp' })).items.find((i) => i.origin.ref === id)!
  expect(intent.status).toBe('requires_approval')
  return { id, intentId: intent.id }
}

const payments = (): number => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length

describe('ACP escalation: pending_approval until a person decides', () => {
  it('waits, a retry still waits, approved through the API, then the retry settles once', async () => {
    const before = payments()
    const { id, intentId } = await pendingSession()
    const retry = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
    expect(retry.json['status']).toBe('pending_approval')
    expect(payments()).toBe(before)

    // The approval as the merchant sees it: the review reasons and a signed link.
    const seen = await api('GET', `/v1/approvals/${intentId}`, TEST_KEYS.merchant)
    expect(seen.status).toBe(200)
    expect(seen.json).toMatchObject({ intent_id: intentId, status: 'pending', intent_status: 'requires_approval' })
    // The deciding reason first (the wallet engine's allow reasons follow it).
    expect((seen.json['reasons'] as string[])[0]).toBe('velocity_agent_exceeded')
    expect(String(seen.json['approve_url'])).toMatch(/\/v1\/approvals\/pi_\w+\/decide\?exp=\d+&sig=[0-9a-f]{64}$/)
    const list = await api('GET', '/v1/approvals?status=pending', TEST_KEYS.admin)
    expect((list.json['data'] as Array<{ intent_id: string }>).map((a) => a.intent_id)).toContain(intentId)
    // The agent may read it (approvals:read) but without the link; another merchant cannot see it; nobody decides without a key.
    const agentView = await api('GET', `/v1/approvals/${intentId}`, TEST_KEYS.agent)
    expect(agentView.status).toBe(200)
    expect(agentView.json['approve_url']).toBeUndefined()
    expect((await api('GET', `/v1/approvals/${intentId}`, TEST_KEYS.otherMerchant)).status).toBe(404)
    expect((await api('POST', `/v1/approvals/${intentId}/approve`, TEST_KEYS.agent, {}, { 'idempotency-key': 'x1' })).status).toBe(403)
    expect((await api('POST', `/v1/approvals/${intentId}/approve`, TEST_KEYS.admin, {})).json).toMatchObject({ error: { code: 'GW_IDEMPOTENCY_KEY_REQUIRED' } })

    // Bad input gets the gateway's error object with the exact field.
    const bad = await api('POST', `/v1/approvals/${intentId}/approve`, TEST_KEYS.admin, { note: 'x'.repeat(257), extra: true }, { 'idempotency-key': `bad-${intentId}` })
    expect(bad.status).toBe(400)
    expect(bad.json).toMatchObject({ error: { code: 'GW_SCHEMA_INVALID' } })
    expect((await api('GET', '/v1/approvals?status=approved', TEST_KEYS.admin)).json).toMatchObject({ error: { code: 'GW_BAD_REQUEST' } })
    expect((await api('GET', '/v1/approvals/pi_nope', TEST_KEYS.admin)).status).toBe(404)
    const approved = await api('POST', `/v1/approvals/${intentId}/approve`, TEST_KEYS.admin, { note: 'team lunch' }, { 'idempotency-key': `approve-${intentId}` })
    expect(approved.status).toBe(200)
    expect(approved.json).toMatchObject({ status: 'approved', decided_by: 'admin:ops', intent_status: 'authorized' })

    const done = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
    expect(done.status, done.text).toBe(200)
    expect(schemas.problems('CheckoutSessionWithOrder', done.json)).toEqual([])
    expect(done.json['status']).toBe('completed')
    expect(payments()).toBe(before + 1)
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).at(-1)!.amount).toBe('18790')

    const events = await api('GET', `/v1/intents/${intentId}/events`, TEST_KEYS.admin)
    const chain = events.json['data'] as Array<{ type: string; actor: string; at: string; from_status: string | null }>
    expect(events.json['chain']).toEqual({ valid: true })
    expect(chain.map((e) => e.type)).toEqual(['create', 'require_approval', 'authorize', 'start_processing', 'succeed'])
    expect(chain[2]).toMatchObject({ actor: 'admin:ops', from_status: 'requires_approval' })
  })

  it('denied through the API: canceled, and the retry is declined without touching the rail', async () => {
    const before = payments()
    const { id, intentId } = await pendingSession()
    const denied = await api('POST', `/v1/approvals/${intentId}/deny`, TEST_KEYS.merchant, { note: 'not needed' }, { 'idempotency-key': `deny-${intentId}` })
    expect(denied.json).toMatchObject({ status: 'denied', decided_by: 'merchant:m1', decision_reason: 'approval_denied', intent_status: 'canceled' })
    const retry = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
    expect(retry.json['status']).toBe('ready_for_payment')
    expect(retry.json['messages']).toEqual([expect.objectContaining({ code: 'payment_declined', content: expect.stringContaining('approval_denied') })])
    expect(payments()).toBe(before)
    const again = await api('POST', `/v1/approvals/${intentId}/approve`, TEST_KEYS.admin, {}, { 'idempotency-key': `late-${intentId}` })
    expect(again.json).toMatchObject({ error: { code: 'GW_INVALID_TRANSITION' } })
  })

  it('expired by the sweeper: canceled (approval_expired), and the retry never settles', async () => {
    const before = payments()
    const { id, intentId } = await pendingSession()
    const sweeper = createApprovalSweeper({ store: gw.gateway.store, policy: gw.gateway.deps.policy }, { intervalMs: 1000, ttlSeconds: 600 })
    expect(await sweeper.runOnce(new Date(Date.now() + 601_000))).toBeGreaterThanOrEqual(1)
    const view = await api('GET', `/v1/approvals/${intentId}`, TEST_KEYS.admin)
    expect(view.json).toMatchObject({ status: 'expired', decided_by: 'system:approvals', intent_status: 'canceled' })
    const retry = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
    expect(retry.json['status']).toBe('ready_for_payment')
    expect(retry.json['messages']).toEqual([expect.objectContaining({ code: 'payment_declined', content: expect.stringContaining('approval_expired') })])
    expect(payments()).toBe(before)
  })

  it('the signed link decides without an API key; a tampered link is refused', async () => {
    const before = payments()
    const { id, intentId } = await pendingSession()
    const link = String((await api('GET', `/v1/approvals/${intentId}`, TEST_KEYS.admin)).json['approve_url'])
    const tampered = link.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`)
    const bad = await request(tampered, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }) })
    expect(bad.statusCode).toBe(403)
    await bad.body.text()
    const page = await request(link, { headers: { accept: 'text/html' } })
    expect(page.statusCode).toBe(200)
    const html = await page.body.text()
    expect(html).toContain('velocity_agent_exceeded')
    expect(html).toContain('decision=approve')
    const ok = await request(link, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }) })
    expect(ok.statusCode).toBe(200)
    expect(await ok.body.json()).toMatchObject({ status: 'approved', decided_by: 'approver:link' })
    const done = await acp.post(`/acp/checkout_sessions/${id}/complete`, AGREEMENT)
    expect(done.json['status']).toBe('completed')
    expect(payments()).toBe(before + 1)
  })
})
