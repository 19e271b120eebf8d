import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhookSignature } from '../../../core/events/webhookSignature.js'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import type { WebhookReceiver } from '../../../conformance/framework/counterparts/webhookReceiver.js'
import type { TestGateway } from '../../testing/testGateway.js'
import { buildAlipayRail, buildAntomRail } from '../../rails/alipay/index.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { acpClient, delegateBody, officialSchemas, SHIPPING_ADDRESS, startAcpGateway, type AcpClient, type AcpResponse } from './testing.js'

const SECRET = 'whsec_acp_payments_test_0123456789abcdef'
const CAPS = { interventions: { supported: [] } }

let harness: RailHarness
let gw: TestGateway
let acp: AcpClient
let counterparts: Counterparts
let receiver: WebhookReceiver
const schemas = officialSchemas()

function expectValid(r: AcpResponse, def: string): void {
  expect(schemas.problems(def, r.json), `${def}: ${r.text}`).toEqual([])
}
function expectError(r: AcpResponse, status: number, body: Record<string, unknown>): void {
  expect(r.status, r.text).toBe(status)
  expect(r.json).toEqual(body)
  expectValid(r, 'Error')
}
const totalOf = (s: Record<string, unknown>): number => (s['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount

beforeAll(async () => {
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'acp-payments' })
  receiver = await counterparts.webhookReceiver()
  gw = await startAcpGateway({
    gatewayOptions: { rails: [(ctx) => buildAntomRail(harness.antomOptions, ctx), (ctx) => buildAlipayRail(harness.alipayOptions, ctx)] },
    mount: { handlers: { card: {}, alipayAgreement: {} } },
    configPatch: {
      outbox: { enabled: true, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400, timeoutMs: 2000 },
      merchants: [
        { id: 'm1', name: 'Merchant One', webhook: { url: receiver.urlFor('/agentic_checkout/webhooks/order_events'), secret: SECRET } },
        { id: 'm2', name: 'Merchant Two' },
      ],
    },
  })
  acp = acpClient(gw.url)
})
afterAll(async () => {
  await gw?.close()
  await harness?.close()
  await counterparts?.close()
})

/** create → update (address + shipping) → ready_for_payment. */
async function readySession(currency = 'usd'): Promise<Record<string, unknown>> {
  const c = await acp.post('/acp/checkout_sessions', { currency, line_items: [{ id: 'item_456' }], capabilities: CAPS })
  expect(c.status, c.text).toBe(201)
  const u = await acp.post(`/acp/checkout_sessions/${c.json['id'] as string}`, {
    fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
    selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
  })
  expect(u.status, u.text).toBe(200)
  expect(u.json['status']).toBe('ready_for_payment')
  return u.json
}

async function vaultToken(sessionId: string, max: number, o: Parameters<typeof delegateBody>[2] & { number?: string } = {}): Promise<string> {
  const body = delegateBody(sessionId, max, o)
  if (o.number) Object.assign(body['payment_method'] as object, { number: o.number, display_last4: o.number.slice(-4) })
  const r = await acp.post('/acp/agentic_commerce/delegate_payment', body)
  expect(r.status, r.text).toBe(201)
  return r.json['id'] as string
}

const cardPayment = (token: string): Record<string, unknown> => ({ payment_data: { handler_id: 'card_vault', instrument: { type: 'card', credential: { type: 'spt', token } } } })

describe('ACP full checkout with a delegated card on the Antom-style sandbox', () => {
  let sessionId: string
  let token: string
  let completed: AcpResponse
  let completeKey: string

  it('create → update → delegate_payment → complete reaches a completed order with settled money', async () => {
    const s = await readySession()
    sessionId = s['id'] as string
    // 1999 + 500 shipping + 10 % US tax on 1999 (200) = 2699
    expect(totalOf(s)).toBe(2699)
    token = await vaultToken(sessionId, 2699)
    const before = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'USD' }).length
    completeKey = `complete-${Date.now()}`
    completed = await acp.call('POST', `/acp/checkout_sessions/${sessionId}/complete`, cardPayment(token), { 'idempotency-key': completeKey })
    expect(completed.status, completed.text).toBe(200)
    expectValid(completed, 'CheckoutSessionWithOrder')
    expect(completed.json['status']).toBe('completed')
    const order = completed.json['order'] as Record<string, unknown>
    expect(order).toMatchObject({ type: 'order', checkout_session_id: sessionId, status: 'confirmed' })
    expect(String(order['permalink_url'])).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/acp\/orders\/ord_/)
    const entries = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'USD' })
    expect(entries.length).toBe(before + 1)
    expect(entries.at(-1)!.amount).toBe('2699')
    // The intent settled on the antom rail for exactly the session total.
    const intents = await gw.gateway.store.listIntents({ limit: 10, protocol: 'acp' })
    const intent = intents.items.find((i) => i.origin.ref === sessionId)!
    expect(intent).toMatchObject({ status: 'succeeded', amount: { value: '2699', asset: 'iso4217:USD' }, instrument: { type: 'card.vault_token' } })
    // The token is a bearer credential: neither the intent nor the logs carry it.
    expect(intent.instrument.ref).toMatch(/^vtfp_[0-9a-f]{32}$/)
    expect(JSON.stringify(intent)).not.toContain(token)
    expect(gw.logs.join('\n')).not.toContain(token)
    expect(intent.settlement?.rail).toBe('antom')
    // The card is deleted after use; the token is spent.
    const rec = await gw.gateway.store.getToken(token)
    expect(rec?.state).toBe('used')
    expect(JSON.stringify(rec?.doc)).not.toMatch(/"card"|"ct"/)
    expect(gw.logs.join('\n')).not.toContain('4242424242424242')
  })

  it('a replayed complete (same key, same body) returns the same answer and charges nothing more', async () => {
    const before = harness.sandbox.ledger.entries({ kind: 'payment' }).length
    const again = await acp.call('POST', `/acp/checkout_sessions/${sessionId}/complete`, cardPayment(token), { 'idempotency-key': completeKey })
    expect(again.status).toBe(200)
    expect(again.text).toBe(completed.text)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(harness.sandbox.ledger.entries({ kind: 'payment' }).length).toBe(before)
  })

  it('cancel after complete → 405; complete again → 405', async () => {
    expectError(await acp.post(`/acp/checkout_sessions/${sessionId}/cancel`), 405, {
      type: 'invalid_request',
      code: 'checkout_session_completed',
      message: 'the checkout session is completed; it cannot cancel',
    })
    expectError(await acp.post(`/acp/checkout_sessions/${sessionId}/complete`, cardPayment(token)), 405, {
      type: 'invalid_request',
      code: 'checkout_session_completed',
      message: 'the checkout session is completed; it cannot complete',
    })
  })

  it('order_create and order_update arrive at the webhook receiver, signed t=…,v1=… over the raw body, each a full Order', async () => {
    const orderId = (completed.json['order'] as { id: string }).id
    const create = await receiver.waitFor((d) => (d.json as { type?: string; data?: { id?: string } } | undefined)?.type === 'order_create' && (d.json as { data: { id: string } }).data.id === orderId, { timeoutMs: 10_000 })
    const update = await receiver.waitFor((d) => (d.json as { type?: string; data?: { id?: string } } | undefined)?.type === 'order_update' && (d.json as { data: { id: string } }).data.id === orderId, { timeoutMs: 10_000 })
    for (const d of [create, update]) {
      // The outbox signs with the foundation's header; the value is exactly ACP's Merchant-Signature
      // format (t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>).
      const header = d.headers['agentswitch-signature']!
      expect(header).toMatch(/^t=\d+,v1=[a-f0-9]{64}$/)
      expect(verifyWebhookSignature({ header, body: d.body, secret: SECRET })).toMatchObject({ ok: true })
      const data = (d.json as { data: Record<string, unknown> }).data
      expect(schemas.problems('Order', data)).toEqual([])
      expect(data).toMatchObject({ type: 'order', id: orderId, checkout_session_id: sessionId })
    }
    expect((create.json as { data: { status: string } }).data.status).toBe('created')
    expect((update.json as { data: { status: string } }).data.status).toBe('confirmed')
    expect(verifyWebhookSignature({ header: create.headers['agentswitch-signature'], body: create.body, secret: 'whsec_wrong_secret_000000000000' })).toMatchObject({ ok: false })
  })

  it('a vault token is single use: reusing it on another session → 409 token_already_used', async () => {
    const s = await readySession()
    expectError(await acp.post(`/acp/checkout_sessions/${s['id'] as string}/complete`, cardPayment(token)), 409, {
      type: 'invalid_request',
      code: 'token_already_used',
      message: 'this vault token was already used (tokens are single use)',
      param: '$.payment_data.instrument.credential.token',
    })
    const g = await acp.call('GET', `/acp/checkout_sessions/${s['id'] as string}`)
    expect(g.json['status']).toBe('ready_for_payment')
  })

  it('an amount above the allowance → 400 allowance_exceeded, nothing charged, token still usable', async () => {
    const s = await readySession()
    const id = s['id'] as string
    const small = await vaultToken(id, 2698)
    const before = harness.sandbox.ledger.entries({ kind: 'payment' }).length
    expectError(await acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(small)), 400, {
      type: 'invalid_request',
      code: 'allowance_exceeded',
      message: "the session total 2699 exceeds the token's allowance of 2698",
      param: '$.payment_data.instrument.credential.token',
    })
    expect(harness.sandbox.ledger.entries({ kind: 'payment' }).length).toBe(before)
    expect((await gw.gateway.store.getToken(small))?.state).toBe('active')
  })

  it('an expired allowance → 400 allowance_expired', async () => {
    const s = await readySession()
    const id = s['id'] as string
    const expiresAt = new Date(Date.now() - 1000).toISOString()
    const old = await vaultToken(id, 5000, { expiresAt })
    expectError(await acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(old)), 400, {
      type: 'invalid_request',
      code: 'allowance_expired',
      message: `the token's allowance expired at ${expiresAt}`,
      param: '$.payment_data.instrument.credential.token',
    })
  })

  it('a token for another session or merchant → 400 allowance_mismatch', async () => {
    const s = await readySession()
    const id = s['id'] as string
    const other = await vaultToken('cs_someone_else', 5000)
    expectError(await acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(other)), 400, {
      type: 'invalid_request',
      code: 'allowance_mismatch',
      message: "the token's allowance is for another checkout session",
      param: '$.payment_data.instrument.credential.token',
    })
    const foreign = await vaultToken(id, 5000, { merchantId: 'acme_store' })
    expectError(await acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(foreign)), 400, {
      type: 'invalid_request',
      code: 'allowance_mismatch',
      message: "the token's allowance is for another merchant",
      param: '$.payment_data.instrument.credential.token',
    })
  })

  it('a card the issuer declines → 200, session payable again with a payment_declined message', async () => {
    const s = await readySession()
    const id = s['id'] as string
    const risky = await vaultToken(id, 5000, { number: '4000000000000002' })
    const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(risky))
    expect(r.status, r.text).toBe(200)
    expectValid(r, 'CheckoutSession')
    expect(r.json['status']).toBe('ready_for_payment')
    expect(r.json['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'payment_declined', param: '$.payment_data' })])
    expect((await gw.gateway.store.getToken(risky))?.state).toBe('used')
  })
})

describe('ACP concurrent completes', () => {
  it('two completes of one session with different keys and tokens charge once: one completes, the other gets 409 or 405', async () => {
    const s = await readySession()
    const id = s['id'] as string
    const [t1, t2] = [await vaultToken(id, 5000), await vaultToken(id, 5000)]
    const before = harness.sandbox.ledger.entries({ kind: 'payment' }).length
    const rs = await Promise.all([acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(t1)), acp.post(`/acp/checkout_sessions/${id}/complete`, cardPayment(t2))])
    const statuses = rs.map((r) => r.status).sort()
    expect([[200, 405], [200, 409]]).toContainEqual(statuses)
    const loser = rs.find((r) => r.status !== 200)!
    expect(['conflict', 'complete_in_progress', 'checkout_session_completed']).toContain(loser.json['code'])
    expectValid(loser, 'Error')
    expect(harness.sandbox.ledger.entries({ kind: 'payment' }).length).toBe(before + 1)
    // The loser's token was never claimed: it is still usable.
    const states = await Promise.all([t1, t2].map(async (t) => (await gw.gateway.store.getToken(t))?.state))
    expect(states.sort()).toEqual(['active', 'used'])
  })
})

describe('ACP full checkout with an Alipay agreement on the Alipay sandbox', () => {
  it('a CNY session offers alipay_agreement and completes with settled money', async () => {
    const s = await readySession('cny')
    const handlers = ((s['capabilities'] as { payment: { handlers: Array<{ id: string }> } }).payment.handlers).map((h) => h.id)
    expect(handlers).toEqual(['card_vault', 'alipay_agreement'])
    // 13900 + 3500 shipping + 10 % US tax on 13900 (1390): the address is in the US
    expect(totalOf(s)).toBe(18790)
    const before = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length
    const r = await acp.post(`/acp/checkout_sessions/${s['id'] as string}/complete`, {
      payment_data: { handler_id: 'alipay_agreement', instrument: { type: 'alipay_agreement', credential: { type: 'agreement', token: '20215000000000000001' } } },
    })
    expect(r.status, r.text).toBe(200)
    expectValid(r, 'CheckoutSessionWithOrder')
    expect(r.json['status']).toBe('completed')
    const entries = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' })
    expect(entries.length).toBe(before + 1)
    expect(entries.at(-1)!.amount).toBe('18790')
  })

  it('a stopped agreement is declined inside a 2xx', async () => {
    const s = await readySession('cny')
    const r = await acp.post(`/acp/checkout_sessions/${s['id'] as string}/complete`, {
      payment_data: { handler_id: 'alipay_agreement', instrument: { type: 'alipay_agreement', credential: { type: 'agreement', token: '20215000000000000009' } } },
    })
    expect(r.status, r.text).toBe(200)
    expect(r.json['status']).toBe('ready_for_payment')
    expect(r.json['messages']).toEqual([expect.objectContaining({ code: 'payment_declined' })])
  })
})
