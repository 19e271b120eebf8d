/**
 * Issue 10 acceptance #4 on UCP (DESIGN §4.3): a payment that risk sends to review answers
 * `requires_escalation` with an error of severity `requires_buyer_review` and a `continue_url` (the
 * signed approval link). The buyer approves there; the platform's next `complete` settles it on the
 * Alipay sandbox. A denied and an expired one never settle.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createApprovalSweeper } from '../../../core/approvals/sweeper.js'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { FLOWER_SHOP, staticCatalog } from './catalog.js'
import { ucpMount } from './mount.js'
import { loadOfficialValidators, type UcpOfficialValidators } from './officialSchemas.js'
import { CAP } from './options.js'
import { generateUcpKey, platformProfile, ucpClient } from './testing.js'

const PUBLIC = 'http://gateway.test'
const PAY = { payment: { instruments: [{ id: 'ali_1', handler_id: 'alipay_agreement', type: 'alipay.agreement', credential: { type: 'agreement', token: '20215000000000000001' } }] } }
const SHIPPING = { methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }] }
let harness: RailHarness
let gw: TestGateway
let counterparts: Counterparts
let schemas: UcpOfficialValidators
let call: ReturnType<typeof ucpClient>

beforeAll(async () => {
  schemas = loadOfficialValidators()
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'ucp-approvals' })
  const profiles = await counterparts.profileServer()
  const profileUrl = profiles.serve('/profiles/agent.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment] }))
  gw = await startTestGateway({
    configPatch: { risk: { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 3600, max: 0, action: 'review' }] }, approvals: { ttlSeconds: 600, sweeper: false } },
    gatewayOptions: {
      rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
      mounts: [
        ucpMount({
          merchantId: 'm1',
          publicBaseUrl: PUBLIC,
          currency: 'CNY',
          signingKey: generateUcpKey('gw-ucp-approvals'),
          catalog: staticCatalog(FLOWER_SHOP),
          handlers: [{ kind: 'alipay.agreement', id: 'alipay_agreement' }],
          negotiation: { allowInsecureLocalhost: true },
        }),
      ],
    },
  })
  call = ucpClient({ endpoint: `${gw.url}/ucp/v1`, profileUrl })
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await counterparts?.close()
  await harness?.close()
})

function expectValid(body: unknown): void {
  const v = schemas.checkout([CAP.fulfillment])
  expect(v(body), JSON.stringify(v.errors)).toBe(true)
}

const payments = (): number => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length

async function escalated(purpose: 'status' | 'decide' = 'status'): Promise<{ id: string; continueUrl: string; intentId: string }> {
  const c = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 2 }], fulfillment: SHIPPING })
  expect(c.status).toBe(201)
  const id = c.body['id'] as string
  const r = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
  expect(r.status).toBe(200)
  expectValid(r.body)
  expect(r.body['status']).toBe('requires_escalation')
  expect(r.body['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'approval_required', severity: 'requires_buyer_review' })])
  const continueUrl = String(r.body['continue_url'])
  expect(continueUrl).toMatch(new RegExp(`^http://gateway\\.test/v1/approvals/pi_\\w+/${purpose}\\?exp=\\d+&sig=[0-9a-f]{64}$`))
  const intentId = /approvals\/(pi_\w+)\//.exec(continueUrl)![1]!
  return { id, continueUrl: continueUrl.replace(PUBLIC, gw.url), intentId }
}

describe('UCP escalation: requires_escalation + continue_url', () => {
  it('by default continue_url only shows the status: the platform (the agent side) cannot approve with it; the approver decides through the API', async () => {
    const before = payments()
    const { id, continueUrl, intentId } = await escalated('status')
    const shown = await request(continueUrl, { headers: { accept: 'application/json' } })
    expect(shown.statusCode).toBe(200)
    expect(await shown.body.json()).toMatchObject({ intent_id: intentId, status: 'pending' })
    // The same signature on the decide path is refused: a status link never decides.
    const forged = await request(continueUrl.replace('/status?', '/decide?'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }) })
    expect(forged.statusCode).toBe(403)
    await forged.body.dump()
    expect((await gw.gateway.store.getIntent(intentId))!.intent.status).toBe('requires_approval')
    const approved = await request(`${gw.url}/v1/approvals/${intentId}/approve`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'idempotency-key': `approve-${intentId}` } })
    expect(approved.statusCode).toBe(200)
    await approved.body.dump()
    const done = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
    expect(done.body['status']).toBe('completed')
    expect(payments()).toBe(before + 1)
  })

  it('with approvals.buyerDecidesByLink: escalates, still escalates on a retry, the buyer approves at continue_url, and the next complete settles', async () => {
    // The operator trusts its platforms to hand continue_url to the human buyer only.
    const approvals = gw.gateway.deps.config.approvals as { buyerDecidesByLink?: boolean }
    approvals.buyerDecidesByLink = true
    const before = payments()
    const { id, continueUrl } = await escalated('decide').finally(() => (approvals.buyerDecidesByLink = false))
    const again = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
    expect(again.body['status']).toBe('requires_escalation')
    expect(payments()).toBe(before)
    const got = await call('GET', `/checkout-sessions/${id}`)
    expect(got.body['status']).toBe('requires_escalation')

    const decided = await request(continueUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'approve' }) })
    expect(decided.statusCode).toBe(200)
    expect(await decided.body.json()).toMatchObject({ status: 'approved', decided_by: 'approver:link' })

    const done = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
    expect(done.status).toBe(200)
    expectValid(done.body)
    expect(done.body['status']).toBe('completed')
    expect(done.body['continue_url']).toBeUndefined()
    expect(payments()).toBe(before + 1)
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).at(-1)).toMatchObject({ amount: '3500' })
  })

  it('denied: the next complete answers the decline and nothing is paid', async () => {
    const before = payments()
    const { id, intentId } = await escalated()
    const res = await request(`${gw.url}/v1/approvals/${intentId}/deny`, { method: 'POST', headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'idempotency-key': `deny-${intentId}` } })
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toMatchObject({ status: 'denied', decided_by: 'admin:ops' })
    const r = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
    expectValid(r.body)
    expect(r.body['status']).toBe('ready_for_complete')
    expect(r.body['continue_url']).toBeUndefined()
    expect(r.body['messages']).toEqual([expect.objectContaining({ code: 'payment_failed', content: expect.stringContaining('approval_denied') })])
    expect(payments()).toBe(before)
  })

  it('expired: canceled by the sweeper, and the next complete never settles', async () => {
    const before = payments()
    const { id, intentId } = await escalated()
    const sweeper = createApprovalSweeper({ store: gw.gateway.store, policy: gw.gateway.deps.policy }, { intervalMs: 1000, ttlSeconds: 600 })
    expect(await sweeper.runOnce(new Date(Date.now() + 601_000))).toBeGreaterThanOrEqual(1)
    expect((await gw.gateway.store.getIntent(intentId))!.intent).toMatchObject({ status: 'canceled', status_reason: 'approval_expired' })
    const r = await call('POST', `/checkout-sessions/${id}/complete`, PAY)
    expect(r.body['messages']).toEqual([expect.objectContaining({ content: expect.stringContaining('approval_expired') })])
    expect(payments()).toBe(before)
  })
})
