import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyWebhookSignature } from '../../../core/events/webhookSignature.js'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import type { WebhookReceiver } from '../../../conformance/framework/counterparts/webhookReceiver.js'
import type { TestGateway } from '../../testing/testGateway.js'
import { buildAlipayRail } from '../../rails/alipay/index.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { acpClient, officialSchemas, SHIPPING_ADDRESS, startAcpGateway, TEST_KEYS, type AcpClient } from './testing.js'

/** Refunds (issue 10, D) reach the ACP agent as `order_update` with refund adjustments and `amount_refunded`. */

const SECRET = 'whsec_acp_refunds_test_0123456789abcdef'
const CAPS = { interventions: { supported: [] } }
let harness: RailHarness
let gw: TestGateway
let acp: AcpClient
let counterparts: Counterparts
let receiver: WebhookReceiver
const schemas = officialSchemas()

beforeAll(async () => {
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'acp-refunds' })
  receiver = await counterparts.webhookReceiver()
  gw = await startAcpGateway({
    gatewayOptions: { rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)] },
    mount: { handlers: { alipayAgreement: {} }, vault: undefined },
    configPatch: {
      outbox: { enabled: true, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400, timeoutMs: 2000 },
      merchants: [
        { id: 'm1', name: 'Merchant One', webhook: { url: receiver.urlFor('/agentic_checkout/webhooks/order_events'), secret: SECRET } },
        { id: 'm2', name: 'Merchant Two' },
      ],
    },
  })
  acp = acpClient(gw.url)
}, 60_000)
afterAll(async () => {
  await gw?.close()
  await harness?.close()
  await counterparts?.close()
})

async function refund(intentId: string, body: unknown, key: string) {
  const res = await request(`${gw.url}/v1/intents/${intentId}/refunds`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEYS.merchant}`, 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify(body),
  })
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> }
}

describe('ACP order webhooks for refunds', () => {
  it('a partial then a full refund each send a signed order_update (Order schema) with refund adjustments and amount_refunded', async () => {
    const c = await acp.post('/acp/checkout_sessions', { currency: 'cny', line_items: [{ id: 'item_456' }], capabilities: CAPS })
    const sessionId = c.json['id'] as string
    await acp.post(`/acp/checkout_sessions/${sessionId}`, {
      fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
      selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
    })
    const done = await acp.post(`/acp/checkout_sessions/${sessionId}/complete`, {
      payment_data: { handler_id: 'alipay_agreement', instrument: { type: 'alipay_agreement', credential: { type: 'agreement', token: '20215000000000000001' } } },
    })
    expect(done.json['status'], done.text).toBe('completed')
    const orderId = (done.json['order'] as { id: string }).id
    const intent = (await gw.gateway.store.listIntents({ limit: 5, protocol: 'acp' })).items.find((i) => i.origin.ref === sessionId)!
    const total = Number(intent.amount.value)

    const r1 = await refund(intent.id, { amount: { value: '1000', asset: 'iso4217:CNY' }, reason: 'damaged item' }, `acp-rf-${sessionId}-1`)
    expect(r1.body, JSON.stringify(r1.body)).toMatchObject({ status: 'succeeded' })
    const updates = (n: number) =>
      receiver.waitFor(
        (d) => {
          const j = d.json as { type?: string; data?: { id?: string; adjustments?: unknown[] } } | undefined
          return j?.type === 'order_update' && j.data?.id === orderId && (j.data.adjustments?.length ?? 0) >= n
        },
        { timeoutMs: 10_000 },
      )
    const first = await updates(1)
    expect(verifyWebhookSignature({ header: first.headers['agentswitch-signature'], body: first.body, secret: SECRET })).toMatchObject({ ok: true })
    const d1 = (first.json as { data: Record<string, unknown> }).data
    expect(schemas.problems('Order', d1)).toEqual([])
    expect(d1['adjustments']).toEqual([{ id: r1.body['id'], type: 'refund', status: 'completed', occurred_at: expect.any(String), amount: 1000, currency: 'cny', description: 'damaged item' }])
    expect((d1['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'amount_refunded')?.amount).toBe(1000)

    const r2 = await refund(intent.id, {}, `acp-rf-${sessionId}-2`)
    expect(r2.body).toMatchObject({ status: 'succeeded', amount: { value: String(total - 1000) } })
    const second = await updates(2)
    const d2 = (second.json as { data: Record<string, unknown> }).data
    expect(schemas.problems('Order', d2)).toEqual([])
    expect((d2['adjustments'] as Array<{ id: string; amount: number }>).map((a) => [a.id, a.amount])).toEqual([
      [r1.body['id'], 1000],
      [r2.body['id'], total - 1000],
    ])
    expect((d2['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'amount_refunded')?.amount).toBe(total)
    expect(harness.sandbox.ledger.entries({ ref: intent.id, kind: 'refund' }).map((e) => Number(e.amount))).toEqual([1000, total - 1000])
  })
})
