import { once } from 'node:events'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { processPayment, type ProcessPaymentDeps } from '../../../core/pipeline/processPayment.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { submitIntent } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import { routerOf } from '../../../core/routing/router.js'
import type { FaultRule } from '../../../sandbox/alipay/faults.js'
import { startAlipaySandbox, type AlipaySandbox } from '../../../sandbox/alipay/server.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { createAlipayRail, type AlipayRail } from './alipayRail.js'
import type { AlipayRailOptions } from './config.js'
import { testKeys } from './testing.js'

/**
 * Acceptance 3 (issue 10): one Alipay merchant account reachable at two endpoints (two sandbox
 * listeners, each on its own port, sharing one ledger). With the primary endpoint failing —
 * connection refused, HTTP 5xx, 20000, a timeout, each with and without the payment having gone
 * through before the answer was lost — payments settle via the secondary endpoint, chosen by the
 * gateway's routing table; no out_trade_no is ever paid twice (asserted on the sandbox ledger);
 * a decline (insufficient balance) does not fail over.
 *
 * Payments go through the gateway's own pipeline (processPayment: submit, policy, routing, rail)
 * with the gateway composed from config (routing table) as in production.
 */

const keys = testKeys()
const TIMEOUT_MS = 1_000
let sandbox: AlipaySandbox
let tg: TestGateway
let deadUrl: string
let deps: ProcessPaymentDeps

/** A URL on which nothing listens: connecting is refused. */
async function refusedUrl(): Promise<string> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return `http://127.0.0.1:${port}`
}

beforeAll(async () => {
  sandbox = await startAlipaySandbox({
    edges: [{ name: 'primary' }, { name: 'secondary' }],
    apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
    alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
  })
  deadUrl = await refusedUrl()
  const base = { appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, timeoutMs: TIMEOUT_MS, breaker: { volumeThreshold: 10_000 } }
  // Two rails on the SAME merchant account: `alipay` (primary edge + secondary edge) and
  // `alipay_dr` (a primary that refuses connections + the same secondary edge).
  const alipay: AlipayRailOptions = { ...base, endpoints: [{ name: 'primary', url: sandbox.edges['primary']!.url }, { name: 'secondary', url: sandbox.edges['secondary']!.url }] }
  const alipayDr: AlipayRailOptions = { ...base, rail: 'alipay_dr', endpoints: [{ name: 'primary', url: deadUrl }, { name: 'secondary', url: sandbox.edges['secondary']!.url }] }
  tg = await startTestGateway({
    configPatch: {
      routing: {
        table: [
          { instrument: 'alipay.agreement', merchant_id: 'm2', rails: [{ rail: 'alipay_dr', endpoint: 'primary' }, { rail: 'alipay_dr', endpoint: 'secondary' }] },
          { instrument: 'alipay.agreement', rails: [{ rail: 'alipay', endpoint: 'primary' }, { rail: 'alipay', endpoint: 'secondary' }] },
        ],
      },
    },
    gatewayOptions: { rails: [createAlipayRail(alipay), createAlipayRail(alipayDr)] },
  })
  const g = tg.gateway
  deps = { store: g.store, assets: g.assets, rails: g.rails, policy: g.deps.policy, destinationsFor: g.deps.destinationsFor }
})
afterAll(async () => {
  await tg?.close()
  await sandbox?.close()
})

let n = 0
async function pay(o: { value: string; merchantId?: string; agreement?: string }): Promise<{ intent: PaymentIntent; calls: string[]; outTradeNo: string }> {
  const ref = `order-${++n}-${Date.now()}`
  const r = await processPayment(deps, {
    merchantId: o.merchantId ?? 'm1',
    actor: 'agent:agent_1',
    origin: { protocol: 'gateway', version: 'v1', ref },
    payer: { agent_id: 'agent_1' },
    amount: { value: o.value, asset: 'iso4217:CNY' },
    instrument: { type: 'alipay.agreement', ref: o.agreement ?? '20215000000000000001' },
    authorization: { type: 'gateway.api_key' },
    dedupeKey: `test:${ref}`,
    credential: undefined,
  })
  const rail = tg.gateway.rails.get(r.intent.route?.rail ?? 'alipay') as AlipayRail
  const outTradeNo = rail.outTradeNoOf(r.intent)
  const calls = sandbox.requestLog.filter((l) => l.ref === outTradeNo).map((l) => `${l.target.replace('alipay.trade.', '')}@${l.edge}`)
  return { intent: r.intent, calls, outTradeNo }
}

const paymentsOf = (outTradeNo: string) => sandbox.ledger.entries({ rail: 'alipay', kind: 'payment', ref: outTradeNo })

describe('acceptance 3: the primary Alipay endpoint fails, payments fail over to the secondary, nothing is paid twice', () => {
  it('the routing table chose the rail and its endpoint order', () => {
    const plan = routerOf(tg.gateway.rails)!.plan({ ...({} as PaymentIntent), merchant_id: 'm2', amount: { value: '1', asset: 'iso4217:CNY' }, instrument: { type: 'alipay.agreement' } })
    expect(plan.candidates.map((c) => [c.rail.rail, c.endpoints])).toEqual([['alipay_dr', ['primary', 'secondary']]])
  })

  it('connection refused on the primary: sent straight to the secondary, no query needed (nothing was sent)', async () => {
    const p = await pay({ value: '1001', merchantId: 'm2' })
    expect(p.intent).toMatchObject({ status: 'succeeded', route: { rail: 'alipay_dr', attempts: [{ outcome: 'succeeded', endpoint: 'secondary' }] } })
    expect(p.calls).toEqual(['pay@secondary'])
    expect(paymentsOf(p.outTradeNo)).toHaveLength(1)
  })

  const variants: Array<{ name: string; rule: FaultRule; applied: boolean }> = [
    { name: 'HTTP 503, nothing processed', rule: { kind: 'http_5xx', edge: 'primary', status: 503, times: 1 }, applied: false },
    { name: '20000 system error, nothing processed', rule: { kind: 'system_error', edge: 'primary', target: 'alipay.trade.pay', times: 1 }, applied: false },
    { name: 'timeout, nothing processed', rule: { kind: 'timeout', edge: 'primary', holdMs: TIMEOUT_MS * 3, times: 1 }, applied: false },
    { name: 'paid, then the answer lost as HTTP 502', rule: { kind: 'success_then_unknown', edge: 'primary', target: 'alipay.trade.pay', mode: 'http_5xx', times: 1 }, applied: true },
    { name: 'paid, then the connection hangs past the timeout', rule: { kind: 'success_then_unknown', edge: 'primary', target: 'alipay.trade.pay', mode: 'hang', holdMs: TIMEOUT_MS * 3, times: 1 }, applied: true },
    { name: 'paid, then the connection reset', rule: { kind: 'success_then_unknown', edge: 'primary', target: 'alipay.trade.pay', mode: 'drop', times: 1 }, applied: true },
  ]
  for (const v of variants) {
    it(`${v.name}: queried on the secondary first, then ${v.applied ? 'NOT sent again' : 'sent there with the same out_trade_no'}`, async () => {
      sandbox.faults.set({ rules: [v.rule] })
      try {
        const p = await pay({ value: String(2000 + n) })
        expect(p.intent.status).toBe('succeeded')
        expect(p.calls).toEqual(v.applied ? ['pay@primary', 'query@secondary'] : ['pay@primary', 'query@secondary', 'pay@secondary'])
        expect(p.intent.route?.attempts.at(-1)).toMatchObject({ outcome: 'succeeded', endpoint: 'secondary' })
        expect(paymentsOf(p.outTradeNo)).toHaveLength(1)
        expect(paymentsOf(p.outTradeNo)[0]).toMatchObject({ amount: p.intent.amount.value, currency: 'CNY', reference: p.intent.settlement?.reference })
      } finally {
        sandbox.faults.clear()
      }
    })
  }

  it('an endpoint list from routing restricts the send: pinned to the secondary, the primary is never called', async () => {
    const { intent } = await submitIntent(deps, {
      merchantId: 'm1',
      actor: 'agent:agent_1',
      origin: { protocol: 'gateway', version: 'v1', ref: 'pinned-1' },
      payer: { agent_id: 'agent_1' },
      amount: { value: '777', asset: 'iso4217:CNY' },
      instrument: { type: 'alipay.agreement', ref: '20215000000000000001' },
      authorization: { type: 'gateway.api_key' },
    })
    await transitionIntent(deps, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
    const rail = tg.gateway.rails.get('alipay') as AlipayRail
    const done = await settleIntent(deps, { intentId: intent.id, rail, credential: undefined, actor: 'system:test', route: { endpoints: ['secondary'] } })
    expect(done.intent).toMatchObject({ status: 'succeeded', route: { attempts: [{ endpoint: 'secondary' }] } })
    expect(sandbox.requestLog.filter((l) => l.ref === rail.outTradeNoOf(done.intent)).map((l) => `${l.target}@${l.edge}`)).toEqual(['alipay.trade.pay@secondary'])
  })

  it('a decline (insufficient balance) does not fail over: one call, on the primary', async () => {
    const p = await pay({ value: '50000', agreement: '20215000000000000002' })
    expect(p.intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })
    expect(p.calls).toEqual(['pay@primary'])
    expect(paymentsOf(p.outTradeNo)).toHaveLength(0)
  })

  it('a decline on the secondary after a refused primary is final too', async () => {
    const p = await pay({ value: '50000', merchantId: 'm2', agreement: '20215000000000000002' })
    expect(p.intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })
    expect(p.calls).toEqual(['pay@secondary'])
  })

  it('under random primary failures, 30 concurrent payments each settle exactly once and the ledger matches the gateway', async () => {
    sandbox.faults.set({
      seed: 10,
      rules: [
        { kind: 'http_5xx', edge: 'primary', probability: 0.25 },
        { kind: 'success_then_unknown', edge: 'primary', target: 'alipay.trade.pay', mode: 'http_5xx', probability: 0.2 },
        { kind: 'timeout', edge: 'primary', target: 'alipay.trade.pay', holdMs: TIMEOUT_MS * 2, probability: 0.15, applied: false },
      ],
    })
    try {
      const first = await Promise.all(Array.from({ length: 30 }, (_, i) => pay({ value: String(300 + i) })))
      const failedOver = first.filter((r) => r.calls.some((c) => c.endsWith('@secondary')))
      expect(failedOver.length).toBeGreaterThan(0)
      // On a loaded machine a query may time out too: such a payment stays `processing` (never
      // re-sent blind); reconciliation finishes it (query first, a re-send only on "not found").
      sandbox.faults.clear()
      const results = await Promise.all(
        first.map(async (r) => {
          if (r.intent.status !== 'processing') return r
          const rail = tg.gateway.rails.get(r.intent.route!.rail)!
          const { intent } = await settleIntent({ store: tg.gateway.store }, { intentId: r.intent.id, rail, credential: undefined, actor: 'system:reconciler' })
          return { ...r, intent }
        }),
      )
      for (const r of results) {
        expect(r.intent.status, `${r.calls.join(' ')} ${JSON.stringify(r.intent.route)}`).toBe('succeeded')
        expect(paymentsOf(r.outTradeNo)).toHaveLength(1)
        expect(paymentsOf(r.outTradeNo)[0]!.amount).toBe(r.intent.amount.value)
      }
    } finally {
      sandbox.faults.clear()
    }
    expect(sandbox.ledger.paidTwice()).toEqual([])
    // Every succeeded intent of the gateway is exactly one ledger payment, and vice versa.
    const ledger = sandbox.ledger.entries({ rail: 'alipay', kind: 'payment' })
    const page = await tg.gateway.store.listIntents({ limit: 200 })
    const succeeded = page.items.filter((i) => i.status === 'succeeded')
    expect(ledger).toHaveLength(succeeded.length)
    expect(ledger.reduce((s, e) => s + BigInt(e.amount), 0n)).toBe(succeeded.reduce((s, i) => s + BigInt(i.amount.value), 0n))
  })
})
