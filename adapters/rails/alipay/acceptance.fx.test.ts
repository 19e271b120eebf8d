import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lockFxQuote } from '../../../core/fx/lockFxQuote.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { chooseRail, processPayment } from '../../../core/pipeline/processPayment.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { submitIntent } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import { routerOf } from '../../../core/routing/router.js'
import { startAlipaySandbox, type AlipaySandbox } from '../../../sandbox/alipay/server.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { createAlipayRail, type AlipayRail } from './alipayRail.js'
import type { AlipayRailOptions } from './config.js'
import { sleep, testKeys } from './testing.js'

/**
 * Acceptance 5 (issue 10): a USD-priced payment paid from a CNY Alipay agreement settles the
 * converted CNY amount on the sandbox (its ledger shows it) and the intent records the quote; an
 * expired quote is re-quoted (a new quote, an audit event), never silently reused. Two gateways:
 * one with the default rate-table source, one with the HTTP source against a real local server
 * whose rate moves.
 */

const keys = testKeys()
let sandbox: AlipaySandbox
let tableGw: TestGateway
let httpGw: TestGateway
let fxServer: Server
let liveRate = '7.2000'
const fxRequests: string[] = []

beforeAll(async () => {
  sandbox = await startAlipaySandbox({
    edges: [{ name: 'primary' }, { name: 'secondary' }],
    apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
    alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
  })
  fxServer = createServer((req, res) => {
    fxRequests.push(req.url ?? '')
    const u = new URL(req.url ?? '/', 'http://x')
    if (u.searchParams.get('from') === 'iso4217:USD' && u.searchParams.get('to') === 'iso4217:CNY') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ rate: liveRate }))
    res.writeHead(404).end()
  })
  fxServer.listen(0, '127.0.0.1')
  await once(fxServer, 'listening')
  const fxUrl = `http://127.0.0.1:${(fxServer.address() as AddressInfo).port}/v1/rate`
  const opts: AlipayRailOptions = {
    appId: keys.appId,
    privateKey: keys.appPrivateKeyPem,
    alipayPublicKey: sandbox.alipayPublicKeyPem,
    endpoints: [{ name: 'primary', url: sandbox.edges['primary']!.url }, { name: 'secondary', url: sandbox.edges['secondary']!.url }],
  }
  tableGw = await startTestGateway({
    configPatch: { fx: { source: 'table', rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }], spread_bps: 50, quote_ttl_seconds: 60 } },
    gatewayOptions: { rails: [createAlipayRail(opts)] },
  })
  httpGw = await startTestGateway({
    configPatch: { fx: { source: 'http', url: fxUrl, quote_ttl_seconds: 1 } },
    gatewayOptions: { rails: [createAlipayRail(opts)] },
  })
})
afterAll(async () => {
  await tableGw?.close()
  await httpGw?.close()
  await sandbox?.close()
  fxServer?.closeAllConnections()
  await new Promise((r) => fxServer?.close(r))
})

const depsOf = (tg: TestGateway) => ({ store: tg.gateway.store, assets: tg.gateway.assets, rails: tg.gateway.rails, policy: tg.gateway.deps.policy, destinationsFor: tg.gateway.deps.destinationsFor })
/** agent_1 pays `amount` for order `ref` from the sandbox's CNY agreement (deduplicated by the ref). */
const agreementPayment = (ref: string, amount: { value: string; asset: string }) => ({
  merchantId: 'm1',
  actor: 'agent:agent_1',
  origin: { protocol: 'gateway' as const, version: 'v1', ref },
  payer: { agent_id: 'agent_1' },
  amount,
  instrument: { type: 'alipay.agreement' as const, ref: '20215000000000000001' },
  authorization: { type: 'gateway.api_key' as const },
  dedupeKey: `test:${ref}`,
  credential: undefined,
})
const ledgerOf = (tg: TestGateway, intent: PaymentIntent) => sandbox.ledger.entries({ rail: 'alipay', kind: 'payment', ref: (tg.gateway.rails.get('alipay') as AlipayRail).outTradeNoOf(intent) })

describe('acceptance 5: cross-border payment with an FX quote', () => {
  it('a USD price paid from a CNY agreement settles the converted CNY amount; the intent records the quote', async () => {
    const r = await processPayment(depsOf(tableGw), agreementPayment('usd-order-1', { value: '1999', asset: 'iso4217:USD' }))
    // 19.99 USD × (7.1 × 1.005 = 7.1355) = 142.638645 → 142.64 CNY (half up)
    expect(r.intent).toMatchObject({
      status: 'succeeded',
      amount: { value: '1999', asset: 'iso4217:USD' },
      settlement_amount: { value: '14264', asset: 'iso4217:CNY' },
      fx_quote: { from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1355', source: 'table' },
    })
    expect(r.intent.fx_quote!.id).toMatch(/^fxq_/)
    // The sandbox ledger: one CNY payment of the converted amount.
    expect(ledgerOf(tableGw, r.intent)).toEqual([expect.objectContaining({ amount: '14264', currency: 'CNY' })])
    // The gateway API shows the same, and the audit chain has the quote before the rail call.
    const res = await request(`${tableGw.url}/v1/intents/${r.intent.id}`, { headers: { authorization: `Bearer ${TEST_KEYS.admin}` } })
    expect(res.statusCode).toBe(200)
    expect(await res.body.json()).toMatchObject({ settlement_amount: { value: '14264', asset: 'iso4217:CNY' }, fx_quote: { id: r.intent.fx_quote!.id, rate: '7.1355' } })
    const events = await tableGw.gateway.store.listEvents(r.intent.id)
    const types = events.map((e) => e.reason ?? e.type)
    expect(types.indexOf('fx_quoted')).toBeGreaterThan(-1)
    expect(types.indexOf('fx_quoted')).toBeLessThan(events.findIndex((e) => e.type === 'start_processing'))
  })

  it('a CNY price on the CNY agreement needs no quote', async () => {
    const r = await processPayment(depsOf(tableGw), agreementPayment('cny-order-1', { value: '888', asset: 'iso4217:CNY' }))
    expect(r.intent.status).toBe('succeeded')
    expect(r.intent.fx_quote).toBeUndefined()
    expect(ledgerOf(tableGw, r.intent)).toEqual([expect.objectContaining({ amount: '888', currency: 'CNY' })])
  })

  it('no rate for the pair: declined fx_unavailable, nothing reaches the rail', async () => {
    const r = await processPayment(depsOf(tableGw), agreementPayment('eur-order-1', { value: '1000', asset: 'iso4217:EUR' }))
    expect(r).toMatchObject({ kind: 'declined', intent: { status: 'failed', status_reason: 'fx_unavailable' } })
    expect(ledgerOf(tableGw, r.intent)).toEqual([])
    expect(sandbox.requestLog.filter((l) => l.ref === (tableGw.gateway.rails.get('alipay') as AlipayRail).outTradeNoOf(r.intent))).toEqual([])
  })

  it('an expired quote is re-quoted from the HTTP source (new id, the new rate settles, audit names the old quote)', async () => {
    const deps = depsOf(httpGw)
    const { intent: created } = await submitIntent(deps, {
      merchantId: 'm1',
      actor: 'agent:agent_1',
      origin: { protocol: 'gateway', version: 'v1', ref: 'usd-order-2' },
      payer: { agent_id: 'agent_1' },
      amount: { value: '10000', asset: 'iso4217:USD' },
      instrument: { type: 'alipay.agreement', ref: '20215000000000000001' },
      authorization: { type: 'gateway.api_key' },
    })
    // A price shown to the payer (or to an approver) locks a quote before the payment is sent.
    const router = routerOf(httpGw.gateway.rails)!
    liveRate = '7.2000'
    const shown = await lockFxQuote(deps, { intent: created, to: 'iso4217:CNY', quoter: router.fx, actor: 'system:checkout' })
    expect(shown).toMatchObject({ settlement_amount: { value: '72000', asset: 'iso4217:CNY' }, fx_quote: { rate: '7.2', source: expect.stringMatching(/^http:127\.0\.0\.1:/) } })
    const authorized = await transitionIntent(deps, { intentId: created.id, event: 'authorize', actor: 'admin:ops' })

    // The quote's 1 s life ends (an approval wait, a slow agent) and the market moves.
    await sleep(1_100)
    liveRate = '7.3100'
    const asked = fxRequests.length
    const { intent } = await settleIntent(deps, { intentId: created.id, rail: chooseRail(httpGw.gateway.rails, authorized), credential: undefined, actor: 'system:test' })
    expect(fxRequests.length).toBe(asked + 1)
    expect(intent).toMatchObject({ status: 'succeeded', settlement_amount: { value: '73100', asset: 'iso4217:CNY' }, fx_quote: { rate: '7.31' } })
    expect(intent.fx_quote!.id).not.toBe(shown.fx_quote!.id)
    expect(ledgerOf(httpGw, intent)).toEqual([expect.objectContaining({ amount: '73100', currency: 'CNY' })])
    const requoted = (await httpGw.gateway.store.listEvents(created.id)).filter((e) => e.reason === 'fx_requoted')
    expect(requoted).toHaveLength(1)
    expect(requoted[0]!.data).toMatchObject({ quote: { id: intent.fx_quote!.id }, replaces: { id: shown.fx_quote!.id, rate: '7.2', settlement_amount: { value: '72000' } } })
  })
})
