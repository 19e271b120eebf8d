/**
 * Issue 10, acceptance 2: a scoped single-use token presented twice — sequentially, concurrently,
 * and concurrently through two protocols (ACP and UCP) — is charged exactly once. Real parts: a
 * gateway over HTTP on a SQLite file, the Alipay sandbox over HTTP (its ledger is the proof), the
 * ACP and UCP surfaces with their own clients, the wallet created through `POST /v1/wallets`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { acpClient, SHIPPING_ADDRESS, type AcpClient, officialSchemas } from '../../protocols/acp/testing.js'
import { acpMount } from '../../protocols/acp/mount.js'
import { FLOWER_SHOP, staticCatalog } from '../../protocols/ucp/catalog.js'
import { ucpMount } from '../../protocols/ucp/mount.js'
import { CAP } from '../../protocols/ucp/options.js'
import { generateUcpKey, platformProfile, ucpClient } from '../../protocols/ucp/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'

const AGREEMENT = '20215000000000000001'
const SIGNING_SECRET = 'acceptance-token-secret-0123456789abcdef'
let harness: RailHarness
let gw: TestGateway
let counterparts: Counterparts
let acp: AcpClient
let ucp: ReturnType<typeof ucpClient>
let walletId: string
let seq = 0

async function api(method: 'GET' | 'POST', path: string, key: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
  const res = await request(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(method === 'POST' ? { 'idempotency-key': `tok-acc-${++seq}-${Date.now()}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.body.text()
  return { status: res.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text }
}

async function issue(max = '100000'): Promise<{ id: string; token: string }> {
  const r = await api('POST', '/v1/tokens', TEST_KEYS.agent, { merchant_id: 'm1', max_amount: { value: max, asset: 'iso4217:CNY' }, expires_in_seconds: 600 })
  expect(r.status, r.text).toBe(201)
  return { id: r.json['id'] as string, token: r.json['token'] as string }
}

const payments = (): number => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length

async function intentsOf(tokenId: string): Promise<PaymentIntent[]> {
  const page = await gw.gateway.store.listIntents({ limit: 100, merchantId: 'm1' })
  return page.items.filter((i) => (i.authorization.constraints as { token_id?: unknown } | undefined)?.token_id === tokenId)
}

/** An ACP session in CNY ready for payment. */
async function acpReady(): Promise<string> {
  return acpReadyWith(acp)
}
async function acpReadyWith(acp: AcpClient): Promise<string> {
  const c = await acp.post('/acp/checkout_sessions', { currency: 'cny', line_items: [{ id: 'item_456' }], capabilities: { interventions: { supported: [] } } })
  expect(c.status, c.text).toBe(201)
  const id = c.json['id'] as string
  const u = await acp.post(`/acp/checkout_sessions/${id}`, {
    fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
    selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
  })
  expect(u.status, u.text).toBe(200)
  expect(u.json['status']).toBe('ready_for_payment')
  const handlers = ((u.json['capabilities'] as { payment: { handlers: Array<{ id: string; name: string }> } }).payment.handlers)
  expect(handlers.find((h) => h.id === 'gateway_token')?.name).toBe('com.agentswitch.gateway_token')
  return id
}
const acpPay = (sessionId: string, token: string, client: AcpClient = acp) =>
  client.post(`/acp/checkout_sessions/${sessionId}/complete`, { payment_data: { handler_id: 'gateway_token', instrument: { type: 'gateway_token', credential: { type: 'scoped_token', token } } } })

async function ucpReady(): Promise<string> {
  const shipping = { methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }] }
  const c = await ucp('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 2 }], fulfillment: shipping })
  expect(c.status, c.text).toBe(201)
  return c.body['id'] as string
}
const ucpPay = (id: string, token: string) =>
  ucp('POST', `/checkout-sessions/${id}/complete`, { payment: { instruments: [{ id: 'tok_1', handler_id: 'gateway_token', type: 'gateway_token', credential: { type: 'scoped_token', token } }] } })

function expectAcpUsed(r: { status: number; json: Record<string, unknown>; text: string }): void {
  expect(r.status, r.text).toBe(409)
  expect(r.json).toMatchObject({ type: 'invalid_request', code: 'token_already_used', param: '$.payment_data.instrument.credential.token' })
  expect(officialSchemas().problems('Error', r.json)).toEqual([])
}
function expectUcpUsed(r: { status: number; body: Record<string, unknown> }): void {
  expect(r.status).toBe(200)
  expect(r.body['status']).not.toBe('completed')
  expect(r.body['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'credential_already_used', path: '$.payment.instruments[0].credential.token' })])
}

beforeAll(async () => {
  harness = await startRailHarness()
  counterparts = createCounterparts({ seed: 'scoped-tokens' })
  const profiles = await counterparts.profileServer()
  const profileUrl = profiles.serve('/profiles/agent.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment] }))
  gw = await startTestGateway({
    configPatch: { tokens: { signingKeys: [{ id: 'k1', secret: SIGNING_SECRET }] } },
    gatewayOptions: {
      rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
      mounts: [
        acpMount({ merchantId: 'm1', handlers: { gatewayToken: {} } }),
        ucpMount({
          merchantId: 'm1',
          publicBaseUrl: 'http://gateway.test',
          currency: 'CNY',
          signingKey: generateUcpKey('gw-ucp-tokens'),
          catalog: staticCatalog(FLOWER_SHOP),
          handlers: [{ kind: 'gateway.token', id: 'gateway_token' }],
          negotiation: { allowInsecureLocalhost: true },
        }),
      ],
    },
  })
  acp = acpClient(gw.url)
  ucp = ucpClient({ endpoint: `${gw.url}/ucp/v1`, profileUrl })
  const w = await api('POST', '/v1/wallets', TEST_KEYS.admin, { user_id: 'user_1', agent_id: 'agent_1', asset: 'iso4217:CNY', limits: {}, funding: { instrument: { type: 'alipay.agreement', ref: AGREEMENT } } })
  expect(w.status, w.text).toBe(201)
  walletId = w.json['id'] as string
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await counterparts?.close()
  await harness?.close()
})

describe('a scoped token is charged exactly once', () => {
  it('presented twice in a row through POST /v1/payments: the second gets GW_TOKEN_USED', async () => {
    const { id, token } = await issue('5000')
    const before = payments()
    const first = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '1200', asset: 'iso4217:CNY' }, token })
    expect(first.status, first.text).toBe(201)
    expect(first.json).toMatchObject({ status: 'succeeded', instrument: { type: 'alipay.agreement' }, authorization: { type: 'gateway.token' }, payer: { agent_id: 'agent_1', wallet_id: walletId } })
    expect(first.text).not.toContain(token)
    const second = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '1200', asset: 'iso4217:CNY' }, token })
    expect(second.status, second.text).toBe(409)
    expect(second.json).toMatchObject({ error: { code: 'GW_TOKEN_USED', retryable: false } })
    expect(payments()).toBe(before + 1)
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).at(-1)).toMatchObject({ amount: '1200', currency: 'CNY' })
    expect(await intentsOf(id)).toHaveLength(1)
    // The composed policy checked that the intent holds its token (audit chain).
    const events = await gw.gateway.store.listEvents(first.json['id'] as string)
    expect(JSON.stringify(events.find((e) => e.type === 'authorize')?.data)).toContain('scoped_token_held')
    const view = await api('GET', `/v1/tokens/${id}`, TEST_KEYS.agent)
    expect(view.json).toMatchObject({ id, status: 'used', used_by_intent: first.json['id'] })
    expect(view.text).not.toContain(token.split('.')[2])
  })

  it('presented twice in a row through ACP: the second session gets ACP token_already_used', async () => {
    const { id, token } = await issue()
    const [a, b] = [await acpReady(), await acpReady()]
    const before = payments()
    const done = await acpPay(a, token)
    expect(done.status, done.text).toBe(200)
    expect(done.json['status']).toBe('completed')
    expectAcpUsed(await acpPay(b, token))
    expect(payments()).toBe(before + 1)
    expect(await intentsOf(id)).toHaveLength(1)
    // The refused session stays payable (ready_for_payment), nothing was charged for it.
    expect((await acp.call('GET', `/acp/checkout_sessions/${b}`)).json['status']).toBe('ready_for_payment')
  })

  it('presented concurrently through ACP (5 sessions at once): one charge, four ACP errors', async () => {
    const { id, token } = await issue()
    const sessions = await Promise.all(Array.from({ length: 5 }, () => acpReady()))
    const before = payments()
    const results = await Promise.all(sessions.map((s) => acpPay(s, token)))
    const won = results.filter((r) => r.status === 200 && r.json['status'] === 'completed')
    expect(won).toHaveLength(1)
    for (const r of results.filter((x) => !won.includes(x))) expectAcpUsed(r)
    expect(payments()).toBe(before + 1)
    expect(await intentsOf(id)).toHaveLength(1)
  })

  it('presented concurrently through ACP and UCP: one charge, the loser gets its own protocol error', async () => {
    for (let round = 0; round < 3; round++) {
      const { id, token } = await issue()
      const [a, u] = await Promise.all([acpReady(), ucpReady()])
      const before = payments()
      const [ra, ru] = await Promise.all([acpPay(a, token), ucpPay(u, token)])
      const acpWon = ra.status === 200 && ra.json['status'] === 'completed'
      const ucpWon = ru.status === 200 && ru.body['status'] === 'completed'
      expect([acpWon, ucpWon].filter(Boolean), `round ${round}: ${ra.text} | ${ru.text}`).toHaveLength(1)
      if (acpWon) expectUcpUsed(ru)
      else expectAcpUsed(ra)
      expect(payments()).toBe(before + 1)
      const intents = await intentsOf(id)
      expect(intents).toHaveLength(1)
      expect(intents[0]).toMatchObject({ status: 'succeeded', origin: { protocol: acpWon ? 'acp' : 'ucp' }, payer: { agent_id: 'agent_1', wallet_id: walletId } })
    }
  })
})

describe('revocation and scope over the protocols', () => {
  it('a payment the rail declined gives the token back; the same session then pays with it once', async () => {
    const acp2 = acpClient(gw.url, TEST_KEYS.otherAgent)
    const w = await api('POST', '/v1/wallets', TEST_KEYS.admin, { user_id: 'user_2', agent_id: 'agent_2', asset: 'iso4217:CNY', limits: {}, funding: { instrument: { type: 'alipay.agreement', ref: '20215000000000000009' } } })
    expect(w.status, w.text).toBe(201)
    const t = await api('POST', '/v1/tokens', TEST_KEYS.otherAgent, { merchant_id: 'm1', max_amount: { value: '100000', asset: 'iso4217:CNY' }, expires_in_seconds: 600 })
    expect(t.status, t.text).toBe(201)
    const c = await acp2.post('/acp/checkout_sessions', { currency: 'cny', line_items: [{ id: 'item_456' }], capabilities: { interventions: { supported: [] } } })
    const sid = c.json['id'] as string
    await acp2.post(`/acp/checkout_sessions/${sid}`, {
      fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
      selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
    })
    const pay = () => acp2.post(`/acp/checkout_sessions/${sid}/complete`, { payment_data: { handler_id: 'gateway_token', instrument: { type: 'gateway_token', credential: { type: 'scoped_token', token: t.json['token'] } } } })
    const before = payments()
    const declined = await pay()
    expect(declined.status, declined.text).toBe(200)
    expect(declined.json['status']).toBe('ready_for_payment')
    expect(declined.json['messages']).toEqual([expect.objectContaining({ code: 'payment_declined' })])
    expect((await api('GET', `/v1/tokens/${t.json['id'] as string}`, TEST_KEYS.otherAgent)).json['status']).toBe('active')
    expect(payments()).toBe(before)
    const fund = await request(`${gw.url}/v1/wallets/${w.json['id'] as string}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'content-type': 'application/json', 'idempotency-key': `fund-${Date.now()}` },
      body: JSON.stringify({ funding: { instrument: { type: 'alipay.agreement', ref: AGREEMENT } } }),
    })
    expect(fund.statusCode, await fund.body.text()).toBe(200)
    const paid = await pay()
    expect(paid.json['status'], paid.text).toBe('completed')
    expect(payments()).toBe(before + 1)
    const intents = await intentsOf(t.json['id'] as string)
    expect(intents.map((i) => i.status).sort()).toEqual(['failed', 'succeeded'])
    // Used now: another session is refused.
    expectAcpUsed(await acpPay(await acpReadyWith(acp2), t.json['token'] as string, acp2))
  })

  it('a revoked token and a wallet whose consent was revoked pay nothing', async () => {
    const { id, token } = await issue()
    const r = await api('POST', `/v1/tokens/${id}/revoke`, TEST_KEYS.agent)
    expect(r.status, r.text).toBe(200)
    expect(r.json['status']).toBe('revoked')
    const before = payments()
    const a = await acpPay(await acpReady(), token)
    expect(a.status, a.text).toBe(403)
    expect(a.json).toMatchObject({ type: 'invalid_request', code: 'credential_revoked' })

    const other = await issue()
    const third = await issue()
    const c = await api('POST', `/v1/wallets/${walletId}/revoke-consent`, TEST_KEYS.admin)
    expect(c.status, c.text).toBe(200)
    const u = await ucpPay(await ucpReady(), other.token)
    expect(u.body['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'credential_revoked' })])
    const p = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '100', asset: 'iso4217:CNY' }, token: third.token })
    expect(p.status, p.text).toBe(403)
    expect(p.json).toMatchObject({ error: { code: 'GW_TOKEN_REVOKED' } })
    expect(payments()).toBe(before)
    // Consent granted again: new tokens pay; the revoked one stays revoked.
    const g = await request(`${gw.url}/v1/wallets/${walletId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'content-type': 'application/json', 'idempotency-key': `grant-${Date.now()}` },
      body: JSON.stringify({ consent: 'granted' }),
    })
    expect(g.statusCode, await g.body.text()).toBe(200)
  })

  it('an amount over max_amount is refused in each protocol format without using the token', async () => {
    const { id, token } = await issue('100')
    const a = await acpPay(await acpReady(), token)
    expect(a.status, a.text).toBe(403)
    expect(a.json).toMatchObject({ type: 'invalid_request', code: 'credential_scope_mismatch', param: '$.payment_data.instrument.credential.token' })
    const u = await ucpPay(await ucpReady(), token)
    expect(u.body['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'credential_scope_mismatch' })])
    expect((await api('GET', `/v1/tokens/${id}`, TEST_KEYS.agent)).json['status']).toBe('active')
  })
})

describe('a token whose payment ends unpaid after the presentation is given back', () => {
  const patchWallet = async (body: Record<string, unknown>): Promise<void> => {
    const r = await request(`${gw.url}/v1/wallets/${walletId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'content-type': 'application/json', 'idempotency-key': `tok-back-${++seq}-${Date.now()}` },
      body: JSON.stringify(body),
    })
    expect(r.statusCode, await r.body.text()).toBe(200)
  }

  it('denied or canceled while waiting for approval: the same token then pays, once', async () => {
    await patchWallet({ approval_threshold: '5000' })
    try {
      const { id, token } = await issue()
      const before = payments()
      const tokenView = async () => (await api('GET', `/v1/tokens/${id}`, TEST_KEYS.agent)).json
      const parked = async () => {
        const r = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '6000', asset: 'iso4217:CNY' }, token })
        expect(r.status, r.text).toBe(201)
        expect(r.json['status']).toBe('requires_approval')
        expect(await tokenView()).toMatchObject({ status: 'used', used_by_intent: r.json['id'] })
        return r.json['id'] as string
      }
      // A person denies it.
      const first = await parked()
      const denied = await api('POST', `/v1/approvals/${first}/deny`, TEST_KEYS.admin, { note: 'not this one' })
      expect(denied.status, denied.text).toBe(200)
      expect((await tokenView())['status']).toBe('active')
      // The caller cancels it (POST /v1/intents/{id}/cancel).
      const second = await parked()
      const canceled = await api('POST', `/v1/intents/${second}/cancel`, TEST_KEYS.admin, { reason: 'changed_mind' })
      expect(canceled.status, canceled.text).toBe(200)
      expect(canceled.json['status']).toBe('canceled')
      expect((await tokenView())['status']).toBe('active')
      expect(payments()).toBe(before)
      // Usable again, once.
      const paid = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '1200', asset: 'iso4217:CNY' }, token })
      expect(paid.status, paid.text).toBe(201)
      expect(paid.json['status']).toBe('succeeded')
      expect(await tokenView()).toMatchObject({ status: 'used', used_by_intent: paid.json['id'] })
      const again = await api('POST', '/v1/payments', TEST_KEYS.agent, { merchant_id: 'm1', amount: { value: '1200', asset: 'iso4217:CNY' }, token })
      expect(again.status, again.text).toBe(409)
      expect(again.json).toMatchObject({ error: { code: 'GW_TOKEN_USED' } })
      expect(payments()).toBe(before + 1)
      expect((await intentsOf(id)).map((i) => i.status).sort()).toEqual(['canceled', 'canceled', 'succeeded'])
    } finally {
      await patchWallet({ approval_threshold: null })
    }
  })
})

describe('/v1/tokens', () => {
  it('validates the body and the caller', async () => {
    const bad = await api('POST', '/v1/tokens', TEST_KEYS.agent, { merchant_id: 'm1', max_amount: { value: '1.5', asset: 'iso4217:CNY' }, expires_in_seconds: 60 })
    expect(bad.status).toBe(400)
    expect(bad.json).toMatchObject({ error: { code: 'GW_SCHEMA_INVALID' } })
    const both = await api('POST', '/v1/tokens', TEST_KEYS.agent, { merchant_id: 'm1', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 60, expires_at: new Date(Date.now() + 60_000).toISOString() })
    expect(both.status).toBe(400)
    // An expiry past any representable date is a validation error, never a 500.
    const huge = await api('POST', '/v1/tokens', TEST_KEYS.agent, { merchant_id: 'm1', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 1e16 })
    expect(huge.status).toBe(400)
    expect(huge.json).toMatchObject({ error: { code: 'GW_SCHEMA_INVALID' } })
    const noMerchant = await api('POST', '/v1/tokens', TEST_KEYS.agent, { merchant_id: 'nope', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 60 })
    expect(noMerchant.status).toBe(404)
    // agent_2 cannot issue for agent_1's wallet nor see agent_1's tokens.
    expect((await api('POST', '/v1/tokens', TEST_KEYS.otherAgent, { wallet_id: walletId, merchant_id: 'm1', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 60 })).status).toBe(404)
    const { id } = await issue()
    expect((await api('GET', `/v1/tokens/${id}`, TEST_KEYS.otherAgent)).status).toBe(404)
    expect((await api('GET', `/v1/tokens/${id}`, TEST_KEYS.merchant)).status).toBe(403)
    expect((await api('GET', `/v1/tokens/${id}`, TEST_KEYS.admin)).json).toMatchObject({ id, status: 'active', agent_id: 'agent_1' })
    expect((await api('GET', '/v1/tokens/gwt_nope', TEST_KEYS.admin)).status).toBe(404)
    // Admins issue for a named wallet.
    const admin = await api('POST', '/v1/tokens', TEST_KEYS.admin, { wallet_id: walletId, merchant_id: 'm1', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 60 })
    expect(admin.status, admin.text).toBe(201)
    expect(admin.json).toMatchObject({ wallet_id: walletId, agent_id: 'agent_1' })
    // Issuing is idempotent without storing the answer: the same key and body give the same token.
    const headers = { authorization: `Bearer ${TEST_KEYS.agent}`, 'content-type': 'application/json', 'idempotency-key': `same-${Date.now()}` }
    const body = JSON.stringify({ merchant_id: 'm1', max_amount: { value: '100', asset: 'iso4217:CNY' }, expires_in_seconds: 60 })
    const once = await request(`${gw.url}/v1/tokens`, { method: 'POST', headers, body })
    const first = (await once.body.json()) as { token: string }
    const twice = await request(`${gw.url}/v1/tokens`, { method: 'POST', headers, body })
    expect(twice.headers['idempotent-replayed']).toBe('true')
    expect(((await twice.body.json()) as { token: string }).token).toBe(first.token)
    const other = await request(`${gw.url}/v1/tokens`, { method: 'POST', headers, body: body.replace('"100"', '"101"') })
    expect(other.statusCode).toBe(422)
    expect(((await other.body.json()) as { error: { code: string } }).error.code).toBe('GW_IDEMPOTENCY_CONFLICT')
    const missing = await api('GET', '/v1/tokens/x', TEST_KEYS.agent)
    expect(missing.status).toBe(404)
    const noKey = await request(`${gw.url}/v1/tokens`, { method: 'POST', headers: { authorization: headers.authorization, 'content-type': 'application/json' }, body })
    expect(noKey.statusCode).toBe(400)
    await noKey.body.text()
    // Nowhere in the database: not in the tokens table, not as a stored idempotent answer.
    const { readFileSync, readdirSync } = await import('node:fs')
    const dbText = readdirSync(gw.dir).filter((f) => f.startsWith('gw.db')).map((f) => readFileSync(`${gw.dir}/${f}`).toString('latin1')).join('')
    expect(dbText.includes(first.token.split('.')[0]!)).toBe(true) // the scan sees stored rows
    expect(dbText.includes(first.token.split('.')[2]!)).toBe(false)
    expect(dbText.includes((admin.json['token'] as string).split('.')[2]!)).toBe(false)
    // The token string is never logged.
    expect(gw.logs.join('\n')).not.toContain((admin.json['token'] as string).split('.')[2])
  })
})
