/**
 * Refunds (issue 10, D) on a UCP order: each succeeded refund is an `adjustments[]` entry of the
 * order (schema-valid), served by GET /orders/{id} and sent to the platform as a signed order
 * update through the outbox.
 */
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import type { WebhookReceiver } from '../../../conformance/framework/counterparts/webhookReceiver.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { FLOWER_SHOP, staticCatalog } from './catalog.js'
import { ucpMount } from './mount.js'
import { loadOfficialValidators, type UcpOfficialValidators } from './officialSchemas.js'
import { CAP } from './options.js'
import { generateUcpKey, platformProfile, ucpClient } from './testing.js'

let harness: RailHarness
let gw: TestGateway
let counterparts: Counterparts
let receiver: WebhookReceiver
let schemas: UcpOfficialValidators
let profileUrl: string

beforeAll(async () => {
  schemas = loadOfficialValidators()
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'ucp-refunds' })
  receiver = await counterparts.webhookReceiver()
  const profiles = await counterparts.profileServer()
  profileUrl = profiles.serve('/profiles/agent.json', platformProfile({ webhookUrl: receiver.urlFor('/ucp/orders'), capabilities: [CAP.checkout, CAP.order, CAP.fulfillment] }))
  gw = await startTestGateway({
    configPatch: { outbox: { enabled: true, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400, timeoutMs: 2000 } },
    gatewayOptions: {
      rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
      mounts: [
        ucpMount({
          merchantId: 'm1',
          publicBaseUrl: 'http://gateway.test',
          currency: 'CNY',
          signingKey: generateUcpKey('gw-ucp-refunds'),
          catalog: staticCatalog(FLOWER_SHOP),
          handlers: [{ kind: 'alipay.agreement', id: 'alipay_agreement' }],
          negotiation: { allowInsecureLocalhost: true },
        }),
      ],
    },
  })
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await counterparts?.close()
  await harness?.close()
})

describe('UCP order updates for refunds', () => {
  it('a partial refund becomes a refund adjustment of the order and an order update webhook', async () => {
    const call = ucpClient({ endpoint: `${gw.url}/ucp/v1`, profileUrl })
    const shipping = { methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }] }
    const c = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 2 }], fulfillment: shipping })
    const done = await call('POST', `/checkout-sessions/${c.body['id'] as string}/complete`, {
      payment: { instruments: [{ id: 'ali_1', handler_id: 'alipay_agreement', type: 'alipay.agreement', credential: { type: 'agreement', token: '20215000000000000001' } }] },
    })
    expect(done.body['status'], done.text).toBe('completed')
    const orderId = (done.body['order'] as { id: string }).id
    const intent = (await gw.gateway.store.listIntents({ limit: 5, protocol: 'ucp' })).items.find((i) => i.origin.ref === c.body['id'])!

    const res = await request(`${gw.url}/v1/intents/${intent.id}/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.merchant}`, 'content-type': 'application/json', 'idempotency-key': `ucp-rf-${intent.id}` },
      body: JSON.stringify({ amount: { value: '500', asset: 'iso4217:CNY' }, reason: 'one pot broken' }),
    })
    const refund = (await res.body.json()) as { id: string; status: string }
    expect(refund.status).toBe('succeeded')

    const order = await call('GET', `/orders/${orderId}`)
    expect(schemas.order(order.body), JSON.stringify(schemas.order.errors)).toBe(true)
    expect(order.body['adjustments']).toEqual([{ id: refund.id, type: 'refund', occurred_at: expect.any(String), status: 'completed', totals: [{ type: 'total', amount: -500 }], description: 'one pot broken' }])
    const hook = await receiver.waitFor(
      (d) => (d.json as { id?: string; adjustments?: unknown[] } | undefined)?.id === orderId && ((d.json as { adjustments?: unknown[] }).adjustments?.length ?? 0) === 1,
      { timeoutMs: 10_000, what: 'the UCP order update with the refund' },
    )
    expect(schemas.order(hook.json), JSON.stringify(schemas.order.errors)).toBe(true)
    expect(hook.headers['signature']).toEqual(expect.any(String))
    expect(harness.sandbox.ledger.entries({ ref: intent.id, kind: 'refund' }).map((e) => e.amount)).toEqual(['500'])
  })
})
