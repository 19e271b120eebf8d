// Our client formats Alipay timestamps in Beijing time explicitly: prove it from a far time zone
// (the sandbox rejects timestamps more than 15 minutes off Beijing time).
process.env.TZ = 'America/Los_Angeles'

import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrivateKey } from 'node:crypto'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { reconcileIntent, settleIntent } from '../../../core/pipeline/settleIntent.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import type { Store } from '../../../core/store/port.js'
import { buildAlipayRail } from './alipayRail.js'
import { authorizedIntent, silentLogger, startRailHarness, type RailHarness } from './testing.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { isAlipayOk } from './openApiClient.js'

let h: RailHarness
let store: Store

beforeAll(async () => {
  h = await startRailHarness({ alipay: { timeoutMs: 400 } })
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-alipay-')), 's.db') })
  await store.migrate()
})
afterAll(async () => {
  await h?.close()
  await store?.close()
})
beforeEach(() => {
  h.sandbox.faults.clear()
})

const settle = async (id: string, credential?: Parameters<typeof h.alipay.settle>[0]['credential']) =>
  settleIntent({ store }, { intentId: id, rail: h.alipay, credential, actor: 'system:test' })
const log = (ref: string) => h.sandbox.requestLog.filter((r) => r.ref === ref).map((r) => `${r.target.replace('alipay.trade.', '')}@${r.edge}${r.fault ? `!${r.fault}` : ''}:${r.outcome}`)
const failures = () => Object.fromEntries(h.breakers.list().filter((b) => b.rail === 'alipay').map((b) => [b.endpoint, b.failures]))

describe('alipay rail: settle through settleIntent against the sandbox', () => {
  it('agreement pay succeeds: out_trade_no is the intent id, the trade number is the reference, money moved once', async () => {
    const id = await authorizedIntent(store, { value: '8888' })
    const { intent, outcome } = await settle(id)
    expect(outcome).toMatchObject({ status: 'succeeded', endpoint: 'primary', payer: '2088000000000001' })
    expect(intent).toMatchObject({ status: 'succeeded', settlement: { rail: 'alipay' }, route: { idempotency_key: `${id}:settle` } })
    expect(intent.settlement!.reference).toMatch(/^\d{28}$/)
    expect(h.alipay.outTradeNoOf(intent)).toBe(id)
    expect(h.sandbox.ledger.entries({ ref: id })).toMatchObject([{ kind: 'payment', amount: '8888', currency: 'CNY', reference: intent.settlement!.reference }])
    expect(log(id)).toEqual(['pay@primary:10000'])
  })

  it('declines are definitive and never count as breaker failures (balance, stopped agreement)', async () => {
    const before = failures()
    const poor = await authorizedIntent(store, { value: '500', instrument: { type: 'alipay.agreement', ref: '20215000000000000002' } })
    expect((await settle(poor)).intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })
    const stopped = await authorizedIntent(store, { value: '100', instrument: { type: 'alipay.agreement', ref: '20215000000000000009' } })
    expect((await settle(stopped)).intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.AGREEMENT_STATUS_NOT_NORMAL' })
    expect(failures()).toEqual(before)
    expect(h.sandbox.ledger.entries({ ref: poor })).toEqual([])
  })

  it('delegation pay: prepay + agent.delegation.pay within the limits; beyond them a decline', async () => {
    const cred = { mode: 'delegation' as const, agreementNo: '20215000000000000001', delegationId: 'DLG_DEMO_001' }
    const ok = await authorizedIntent(store, { value: '5000' })
    expect((await settle(ok, cred)).intent).toMatchObject({ status: 'succeeded' })
    expect(log(ok)).toEqual(['order.prepay@primary:10000', 'agent.delegation.pay@primary:10000'])
    const big = await authorizedIntent(store, { value: '25000' })
    expect((await settle(big, cred)).intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.BEYOND_PAY_RESTRICTION' })
    const noDel = await authorizedIntent(store, { value: '100' })
    expect((await settle(noDel, { mode: 'delegation' })).intent).toMatchObject({ status: 'failed', status_reason: 'delegation_missing' })
  })

  it('20000 on pay: query first (on the other endpoint), TRADE_NOT_EXIST, then the SAME out_trade_no again', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'alipay.trade.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '123' })
    const { intent } = await settle(id)
    expect(intent.status).toBe('succeeded')
    expect(log(id)).toEqual(['pay@primary!system_error:-', 'query@secondary:40004:ACQ.TRADE_NOT_EXIST', 'pay@secondary:10000'])
    expect(h.sandbox.ledger.entries({ ref: id })).toHaveLength(1)
  })

  it('success-then-unknown (the answer is lost): the query finds the payment, nothing is sent twice', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'success_then_unknown', target: 'alipay.trade.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '777' })
    const { intent, outcome } = await settle(id)
    expect(outcome).toMatchObject({ status: 'succeeded', endpoint: 'secondary' })
    expect(intent.status).toBe('succeeded')
    expect(log(id)).toEqual(['pay@primary!success_then_unknown:10000', 'query@secondary:10000'])
    expect(h.sandbox.ledger.entries({ ref: id })).toHaveLength(1)
  })

  it('a tampered answer is rejected (unknown), never believed; the query settles it', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'tamper', target: 'alipay.trade.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '321' })
    const { intent } = await settle(id)
    expect(intent.status).toBe('succeeded')
    expect(intent.route!.attempts.map((a) => a.outcome)).toEqual(['succeeded'])
    expect(log(id)).toEqual(['pay@primary!tamper:10000', 'query@secondary:10000'])
  })

  it('a timeout (no answer) is unknown: query, then re-send with the same key', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'timeout', target: 'alipay.trade.pay', times: 1, holdMs: 1500 }] })
    const id = await authorizedIntent(store, { value: '654' })
    const t0 = Date.now()
    expect((await settle(id)).intent.status).toBe('succeeded')
    expect(Date.now() - t0).toBeLessThan(1500)
    expect(log(id)).toEqual(['pay@primary!timeout:-', 'query@secondary:40004:ACQ.TRADE_NOT_EXIST', 'pay@secondary:10000'])
  })

  it('when pay and query both fail the intent stays processing; reconcile and a later settle finish it exactly once', async () => {
    h.sandbox.faults.set({
      rules: [
        { kind: 'success_then_unknown', target: 'alipay.trade.pay', times: 1 },
        { kind: 'system_error', target: 'alipay.trade.query', times: 2 },
      ],
    })
    const id = await authorizedIntent(store, { value: '999' })
    const first = await settle(id)
    expect(first.intent.status).toBe('processing')
    expect(first.outcome).toMatchObject({ status: 'unknown', code: 'http_500' })
    const r = await reconcileIntent({ store }, { intentId: id, rail: h.alipay, actor: 'system:reconciler' })
    expect(r.intent.status).toBe('succeeded')
    expect(h.sandbox.ledger.entries({ ref: id })).toHaveLength(1)
    expect(log(id).filter((l) => l.startsWith('pay@'))).toHaveLength(1)
  })

  it('a processing intent whose trade never arrived is re-sent by settleIntent only after query says not found', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'http_5xx', target: 'alipay.trade.pay', times: 2 }, { kind: 'system_error', target: 'alipay.trade.query', times: 1 }] })
    const id = await authorizedIntent(store, { value: '111' })
    expect((await settle(id)).intent.status).toBe('processing')
    const again = await settle(id)
    expect(again.intent.status).toBe('succeeded')
    const l = log(id)
    // Every pay after the first is preceded by a query.
    l.forEach((line, i) => {
      if (i > 0 && line.startsWith('pay@')) expect(l.slice(0, i).some((x) => x.startsWith('query@'))).toBe(true)
    })
    expect(h.sandbox.ledger.entries({ ref: id })).toHaveLength(1)
  })

  it('settling an already-paid out_trade_no again (TRADE_HAS_SUCCESS) reports the existing payment', async () => {
    const id = await authorizedIntent(store, { value: '42' })
    const { intent } = await settle(id)
    const again = await h.alipay.settle({ intent, credential: undefined, amount: intent.amount, idempotencyKey: `${id}:settle` })
    expect(again).toMatchObject({ status: 'succeeded', reference: intent.settlement!.reference })
    expect(log(id)).toEqual(['pay@primary:10000', 'pay@primary:40004:ACQ.TRADE_HAS_SUCCESS', 'query@primary:10000'])
  })

  it('non-CNY amounts are declined before anything is sent (amounts come from core/money/railFormats)', async () => {
    const id = await authorizedIntent(store, { value: '100', asset: 'iso4217:USD' })
    expect((await settle(id)).intent).toMatchObject({ status: 'failed', status_reason: 'amount_not_supported' })
    expect(log(id)).toEqual([])
  })

  it('query of a key Alipay never saw is not_found', async () => {
    const id = await authorizedIntent(store, { value: '100' })
    const { intent } = (await store.getIntent(id))!
    expect(await h.alipay.query({ intent, idempotencyKey: `${id}:settle` })).toMatchObject({ status: 'not_found' })
  })
})

describe('alipay rail: refunds', () => {
  it('partial refunds by refund key, replays move nothing, over-refunds are declined', async () => {
    const id = await authorizedIntent(store, { value: '1000' })
    const { intent } = await settle(id)
    const r1 = await h.alipay.refund!({ intent, amount: { value: '300', asset: 'iso4217:CNY' }, refundKey: `${id}:refund:1` })
    expect(r1).toMatchObject({ status: 'succeeded' })
    const replay = await h.alipay.refund!({ intent, amount: { value: '300', asset: 'iso4217:CNY' }, refundKey: `${id}:refund:1` })
    expect(replay).toMatchObject({ status: 'succeeded' })
    expect(await h.alipay.refund!({ intent, amount: { value: '800', asset: 'iso4217:CNY' }, refundKey: `${id}:refund:2` })).toMatchObject({
      status: 'declined',
      code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
    })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['300'])
    expect(await h.alipay.refundStatus({ intent, refundKey: `${id}:refund:1` })).toMatchObject({ status: 'succeeded' })
  })

  it('an unknown refund outcome is queried before the same out_request_no is sent again', async () => {
    const id = await authorizedIntent(store, { value: '1000' })
    const { intent } = await settle(id)
    h.sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'alipay.trade.refund', times: 1 }] })
    expect(await h.alipay.refund!({ intent, amount: { value: '1000', asset: 'iso4217:CNY' }, refundKey: `${id}:refund:full` })).toMatchObject({ status: 'succeeded' })
    expect(log(id).slice(1)).toEqual(['refund@primary!system_error:-', 'fastpay.refund.query@secondary:10000', 'refund@secondary:10000'])
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' })).toHaveLength(1)
  })
})

describe('alipay rail: v3 dialect, key formats, close', () => {
  it('the v3 REST dialect settles, queries and refunds with verified response headers', async () => {
    const rail = buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_v3', protocol: 'v3' }, { breakers: new BreakerRegistry(), logger: silentLogger() })
    try {
      const id = await authorizedIntent(store, { value: '4321' })
      const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })
      expect(intent.status).toBe('succeeded')
      expect(h.sandbox.requestLog.filter((r) => r.ref === id).map((r) => r.protocol)).toEqual(['v3'])
      expect(await rail.query({ intent, idempotencyKey: `${id}:settle` })).toMatchObject({ status: 'succeeded', reference: intent.settlement!.reference })
      expect(await rail.refund!({ intent, amount: { value: '21', asset: 'iso4217:CNY' }, refundKey: 'v3_refund_1' })).toMatchObject({ status: 'succeeded' })
      h.sandbox.faults.set({ rules: [{ kind: 'tamper', target: 'alipay.trade.query' }] })
      expect(await rail.query({ intent, idempotencyKey: `${id}:settle` })).toMatchObject({ status: 'unknown', code: 'bad_signature' })
    } finally {
      await rail.shutdown()
    }
  })

  it('PKCS#8 bare base64 app keys and one-line PEM public keys are accepted', async () => {
    const pkcs8 = createPrivateKey(h.keys.appPrivateKeyPem).export({ type: 'pkcs8', format: 'der' }).toString('base64')
    const oneLine = h.sandbox.alipayPublicKeyPem.replace(/\n(?!-----END)/g, '').replace('-----END', '\n-----END')
    const rail = buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_p8', privateKey: pkcs8, privateKeyFormat: 'pkcs8', alipayPublicKey: oneLine }, { breakers: new BreakerRegistry(), logger: silentLogger() })
    try {
      const id = await authorizedIntent(store, { value: '1' })
      expect((await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })).intent.status).toBe('succeeded')
    } finally {
      await rail.shutdown()
    }
  })

  it('a wrong Alipay public key makes every answer unknown (bad signature), never a success', async () => {
    const rail = buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_wrongkey', alipayPublicKey: h.keys.appPublicKeyPem, maxPayAttempts: 1 }, { breakers: new BreakerRegistry(), logger: silentLogger() })
    try {
      const id = await authorizedIntent(store, { value: '2' })
      const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })
      expect(intent.status).toBe('processing')
      expect(outcome).toMatchObject({ status: 'unknown', code: 'bad_signature' })
      // The payment did happen at the sandbox: the right key later reconciles it.
      expect((await reconcileIntent({ store }, { intentId: id, rail: h.alipay, actor: 'system:reconciler' })).intent.status).toBe('succeeded')
    } finally {
      await rail.shutdown()
    }
  })

  it('close an unpaid trade; a paid one is ACQ.TRADE_STATUS_ERROR', async () => {
    const created = await h.alipay.client.call('alipay.trade.create', { out_trade_no: 'CLOSE_ME_1', total_amount: '1.00', subject: 's', buyer_id: '2088000000000001' }, { failover: 'open_only' })
    expect(isAlipayOk(created)).toBe(true)
    const closed = await h.alipay.client.close({ outTradeNo: 'CLOSE_ME_1' })
    expect(closed.code).toBe('10000')
    expect(h.sandbox.world.trades.get(`${h.keys.appId}|CLOSE_ME_1`)?.status).toBe('TRADE_CLOSED')
    const id = await authorizedIntent(store, { value: '3' })
    const { intent } = await settle(id)
    expect(await h.alipay.closeTrade(intent)).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_STATUS_ERROR' })
  })
})
