/**
 * Issue 10, acceptance 2 across processes: two `agentswitch serve` processes share one PostgreSQL
 * schema; one scoped token is presented at the same moment through ACP on the first, UCP on the
 * second, and `POST /v1/payments` on both. The Alipay sandbox's ledger shows one charge.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import { openPostgresStore, type PostgresStore } from '../../../core/store/postgres/postgresStore.js'
import { createTestSchema } from '../../../core/testing/pg.js'
import { startAlipaySandbox, type AlipaySandbox } from '../../../sandbox/alipay/server.js'
import { acpClient, SHIPPING_ADDRESS } from '../../protocols/acp/testing.js'
import { CAP } from '../../protocols/ucp/options.js'
import { generateUcpKey, platformProfile, ucpClient } from '../../protocols/ucp/testing.js'
import { testKeys } from '../../rails/alipay/testing.js'
import { startServeProcess as startServe, writeSharedPostgresConfig } from '../../testing/serveProcess.js'

const pgUrl = inject('pgUrl')
const ADMIN_KEY = 'ask_tokproc_admin_000000000000000000000'
const AGENT_KEY = 'ask_tokproc_agent_000000000000000000000'
const AGREEMENT = '20215000000000000001'


// Skipped only when PostgreSQL is unreachable on this machine (globalSetup prints why; with CI=true
// an unreachable server fails the run instead).
describe.skipIf(!pgUrl)('one scoped token, two gateway processes, three presentations at once', () => {
  let schema: { schema: string; drop(): Promise<void> }
  let sandbox: AlipaySandbox
  let counterparts: Counterparts
  let profileUrl: string
  let store: PostgresStore
  let dir: string
  const gateways: Array<{ child: ChildProcess; url: string }> = []
  let seq = 0

  const api = async (url: string, method: 'GET' | 'POST', path: string, key: string, body?: unknown) => {
    const r = await request(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(method === 'POST' ? { 'idempotency-key': `tp-${++seq}-${Date.now()}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    const text = await r.body.text()
    return { status: r.statusCode, json: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text }
  }

  beforeAll(async () => {
    schema = await createTestSchema(pgUrl, 'tokp')
    const keys = testKeys()
    sandbox = await startAlipaySandbox({
      edges: [{ name: 'primary' }],
      apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
      alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
    })
    counterparts = createCounterparts({ seed: 'scoped-tokens-processes' })
    profileUrl = (await counterparts.profileServer()).serve('/profiles/agent.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment] }))
    dir = mkdtempSync(join(tmpdir(), 'agentswitch-tokp-'))
    const configPath = writeSharedPostgresConfig(dir, {
      pgUrl,
      schema: schema.schema,
      poolSize: 6,
      extra: {
        apiKeys: [
          { id: 'k_admin', kind: 'admin', principalId: 'ops', key: ADMIN_KEY },
          { id: 'k_agent', kind: 'agent', principalId: 'agent_1', key: AGENT_KEY },
        ],
        tokens: { signingKeys: [{ id: 'k1', secret: { env: 'TOKP_SIGNING_SECRET' } }] },
        rails: { alipay: { appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, endpoints: [{ name: 'primary', url: sandbox.url }], timeoutMs: 20_000 } },
        acp: { merchantId: 'm1', handlers: { gatewayToken: {} } },
        ucp: {
          merchantId: 'm1',
          publicBaseUrl: 'http://gateway.test',
          currency: 'CNY',
          signingKey: JSON.stringify(generateUcpKey('tokp-ucp')),
          catalog: { preset: 'flower_shop' },
          handlers: [{ kind: 'gateway.token', id: 'gateway_token' }],
          negotiation: { allowInsecureLocalhost: true },
        },
      },
    })
    process.env['TOKP_SIGNING_SECRET'] = 'processes-token-secret-0123456789abcdef'
    gateways.push(await startServe(configPath))
    gateways.push(await startServe(configPath))
    store = openPostgresStore({ url: pgUrl, schema: schema.schema, poolSize: 2 })
    const w = await api(gateways[0]!.url, 'POST', '/v1/wallets', ADMIN_KEY, { id: 'wal_tokp', user_id: 'user_1', agent_id: 'agent_1', asset: 'iso4217:CNY', limits: {}, funding: { instrument: { type: 'alipay.agreement', ref: AGREEMENT } } })
    expect(w.status, w.text).toBe(201)
  }, 90_000)

  afterAll(async () => {
    for (const g of gateways) g.child.kill('SIGTERM')
    await store?.close()
    await counterparts?.close()
    await sandbox?.close()
    await schema?.drop()
    if (dir) rmSync(dir, { recursive: true, force: true })
    delete process.env['TOKP_SIGNING_SECRET']
  })

  it('charges once; every other presentation gets its own protocol error', async () => {
    const [g0, g1] = [gateways[0]!.url, gateways[1]!.url]
    const acp = acpClient(g0, AGENT_KEY)
    const ucp = ucpClient({ endpoint: `${g1}/ucp/v1`, profileUrl })
    const winners: string[] = []
    for (let round = 0; round < 3; round++) {
      const t = await api(g1, 'POST', '/v1/tokens', AGENT_KEY, { merchant_id: 'm1', max_amount: { value: '100000', asset: 'iso4217:CNY' }, expires_in_seconds: 600 })
      expect(t.status, t.text).toBe(201)
      const token = t.json['token'] as string
      const c = await acp.post('/acp/checkout_sessions', { currency: 'cny', line_items: [{ id: 'item_456' }], capabilities: { interventions: { supported: [] } } })
      const sid = c.json['id'] as string
      const u = await acp.post(`/acp/checkout_sessions/${sid}`, {
        fulfillment_details: { name: 'Jane Doe', address: SHIPPING_ADDRESS },
        selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
      })
      expect(u.json['status'], u.text).toBe('ready_for_payment')
      const shipping = { methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }] }
      const uc = await ucp('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 2 }], fulfillment: shipping })
      expect(uc.status, uc.text).toBe(201)
      const before = sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length

      const [ra, ru, p0, p1] = await Promise.all([
        acp.post(`/acp/checkout_sessions/${sid}/complete`, { payment_data: { handler_id: 'gateway_token', instrument: { type: 'gateway_token', credential: { type: 'scoped_token', token } } } }),
        ucp('POST', `/checkout-sessions/${uc.body['id'] as string}/complete`, { payment: { instruments: [{ id: 'tok_1', handler_id: 'gateway_token', type: 'gateway_token', credential: { type: 'scoped_token', token } }] } }),
        api(g0, 'POST', '/v1/payments', AGENT_KEY, { merchant_id: 'm1', amount: { value: '1000', asset: 'iso4217:CNY' }, token }),
        api(g1, 'POST', '/v1/payments', AGENT_KEY, { merchant_id: 'm1', amount: { value: '1000', asset: 'iso4217:CNY' }, token }),
      ])
      const won = {
        acp: ra.status === 200 && ra.json['status'] === 'completed',
        ucp: ru.status === 200 && ru.body['status'] === 'completed',
        pay0: p0.status === 201 && p0.json['status'] === 'succeeded',
        pay1: p1.status === 201 && p1.json['status'] === 'succeeded',
      }
      const names = Object.entries(won).filter(([, v]) => v).map(([k]) => k)
      expect(names, `round ${round}: ${ra.text} | ${ru.text} | ${p0.text} | ${p1.text}`).toHaveLength(1)
      winners.push(names[0]!)
      if (!won.acp) expect(ra.json).toMatchObject({ type: 'invalid_request', code: 'token_already_used' })
      if (!won.ucp) expect(ru.body['messages']).toEqual([expect.objectContaining({ type: 'error', code: 'credential_already_used' })])
      if (!won.pay0) expect(p0.json).toMatchObject({ error: { code: 'GW_TOKEN_USED' } })
      if (!won.pay1) expect(p1.json).toMatchObject({ error: { code: 'GW_TOKEN_USED' } })
      expect(sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length).toBe(before + 1)
      const intents = (await store.listIntents({ limit: 100 })).items.filter((i) => (i.authorization.constraints as { token_id?: unknown } | undefined)?.token_id === (t.json['id'] as string))
      expect(intents.map((i) => i.status)).toEqual(['succeeded'])
    }
    expect(winners).toHaveLength(3)
  }, 60_000)
})
