/**
 * Acceptance 2 on the Alipay sandbox: a CNY checkout completed with the
 * `dev.agentswitch.alipay.agreement` handler settles through the Alipay rail (agreement pay), the
 * order is created, and nothing secret is echoed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { FLOWER_SHOP, staticCatalog } from './catalog.js'
import { ucpMount } from './mount.js'
import { loadOfficialValidators, type UcpOfficialValidators } from './officialSchemas.js'
import { CAP } from './options.js'
import { generateUcpKey, platformProfile, ucpClient } from './testing.js'

const AGREEMENT = '20215000000000000001'
let harness: RailHarness
let gw: TestGateway
let counterparts: Counterparts
let schemas: UcpOfficialValidators
let profileUrl: string

beforeAll(async () => {
  schemas = loadOfficialValidators()
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'ucp-alipay' })
  const profiles = await counterparts.profileServer()
  profileUrl = profiles.serve('/profiles/agent.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment] }))
  gw = await startTestGateway({
    gatewayOptions: {
      rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
      mounts: [
        ucpMount({
          merchantId: 'm1',
          publicBaseUrl: 'http://gateway.test',
          currency: 'CNY',
          signingKey: generateUcpKey('gw-ucp-cny'),
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

describe('UCP checkout on the Alipay sandbox', () => {
  it('settles a CNY checkout by agreement pay and creates the order', async () => {
    const call = ucpClient({ endpoint: `${gw.url}/ucp/v1`, profileUrl })
    const shipping = { methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }] }
    const c = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 2 }], fulfillment: shipping })
    expect(c.status).toBe(201)
    expectValid(c.body)
    expect(c.body['currency']).toBe('CNY')
    const total = (c.body['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount
    expect(total).toBe(3500)
    const before = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length
    const done = await call('POST', `/checkout-sessions/${c.body['id'] as string}/complete`, {
      payment: { instruments: [{ id: 'ali_1', handler_id: 'alipay_agreement', type: 'alipay.agreement', credential: { type: 'agreement', token: AGREEMENT } }] },
    })
    expect(done.status).toBe(200)
    expectValid(done.body)
    expect(done.body['status']).toBe('completed')
    expect(done.text).not.toContain(AGREEMENT)
    const trades = harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' })
    expect(trades.length).toBe(before + 1)
    expect(trades.at(-1)).toMatchObject({ amount: '3500', currency: 'CNY' })
    const order = await call('GET', `/orders/${(done.body['order'] as { id: string }).id}`)
    expect(order.status).toBe(200)
    expect(schemas.order(order.body), JSON.stringify(schemas.order.errors)).toBe(true)
    expect(order.body['currency']).toBe('CNY')
  })
})

function expectValid(body: unknown): void {
  const v = schemas.checkout([CAP.fulfillment])
  expect(v(body), JSON.stringify(v.errors)).toBe(true)
}
