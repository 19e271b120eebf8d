import { request } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ProcessRegistry } from '../../adapters/cli/processRegistry.js'
import { alipaySandboxChildSpec, parseAlipaySandboxReady } from './childProcess.js'
import { antomSignContent, antomSignatureHeader, generateRsaKeyPair, parseAntomSignatureHeader, privateKeyFrom, publicKeyFrom, rsa2Sign, rsa2Verify, v2SignContent } from './crypto.js'
import { validateFaultConfig } from './faults.js'
import { startAlipaySandbox, type AlipaySandbox } from './server.js'
import { beijingTime, formatYuan, parseYuan } from './units.js'

/**
 * The sandbox's own behaviour (the official SDK's view is in sdk.test.ts): parameter checks,
 * the trade state machine over time, the buyer's steps, Antom signatures, faults, admin API and
 * the child-process entry.
 */

const APP = '9021000000000002'
const app = generateRsaKeyPair()
const appKey = privateKeyFrom(app.privateKeyPem)
let now = new Date('2026-11-21T04:00:00.000Z')
let sb: AlipaySandbox
let aliPub: ReturnType<typeof publicKeyFrom>

beforeAll(async () => {
  sb = await startAlipaySandbox({ apps: [{ appId: APP, publicKeyPem: app.publicKeyPem }], clock: () => now, notify: { timeScale: 1 / 20_000 } })
  aliPub = publicKeyFrom(sb.alipayPublicKeyPem)
})
afterAll(async () => sb?.close())
beforeEach(() => sb.faults.clear())

/** A raw v2 call signed here (independently of both clients). */
async function v2(method: string, biz: Record<string, unknown>, patch: Record<string, string | undefined> = {}): Promise<{ body: Record<string, unknown>; raw: string }> {
  const params: Record<string, string> = { app_id: APP, method, charset: 'utf-8', sign_type: 'RSA2', timestamp: beijingTime(now), version: '1.0', biz_content: JSON.stringify(biz) }
  for (const [k, v] of Object.entries(patch)) if (v === undefined) delete params[k]
  else params[k] = v
  if (!('sign' in patch)) params['sign'] = rsa2Sign(v2SignContent(params), appKey)
  const res = await request(sb.gatewayUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString() })
  const raw = await res.body.text()
  const key = `${method.replaceAll('.', '_')}_response`
  const outer = JSON.parse(raw) as Record<string, Record<string, unknown>>
  return { body: (outer[key] ?? outer['error_response'])!, raw }
}

async function antom(api: string, body: Record<string, unknown>, o: { clientId?: string; sign?: boolean } = {}): Promise<{ status: number; headers: Record<string, unknown>; json: Record<string, unknown>; text: string }> {
  const path = `/ams/api/v1/${api}`
  const text = JSON.stringify(body)
  const time = new Date().toISOString()
  const clientId = o.clientId ?? APP
  const headers: Record<string, string> = { 'content-type': 'application/json', 'client-id': clientId, 'request-time': time }
  if (o.sign !== false) headers['signature'] = antomSignatureHeader(rsa2Sign(antomSignContent('POST', path, clientId, time, text), appKey))
  const res = await request(`${sb.url}${path}`, { method: 'POST', headers, body: text })
  const t = await res.body.text()
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(t) as Record<string, unknown>, text: t }
}

const pay = (no: string, amount = '1.00', agreement = '20215000000000000001', extra: Record<string, unknown> = {}) =>
  v2('alipay.trade.pay', { out_trade_no: no, total_amount: amount, subject: 's', product_code: 'GENERAL_WITHHOLDING', agreement_params: { agreement_no: agreement }, ...extra })

describe('v2 gateway.do: system parameters', () => {
  it.each([
    ['app_id', '40001', 'isv.missing-app-id'],
    ['method', '40001', 'isv.missing-method'],
    ['sign_type', '40001', 'isv.missing-signature-type'],
    ['timestamp', '40001', 'isv.missing-timestamp'],
    ['version', '40001', 'isv.missing-version'],
  ])('missing %s → %s %s', async (param, code, sub) => {
    expect((await v2('alipay.trade.query', { out_trade_no: 'x' }, { [param]: undefined })).body).toMatchObject({ code, sub_code: sub })
  })

  it('missing sign, unknown app, RSA (SHA1), a skewed or malformed timestamp, an unknown method', async () => {
    expect((await v2('alipay.trade.query', {}, { sign: undefined })).body).toMatchObject({ code: '40001', sub_code: 'isv.missing-signature' })
    expect((await v2('alipay.trade.query', {}, { app_id: '2021000000000000' })).body).toMatchObject({ code: '40002', sub_code: 'isv.invalid-app-id' })
    expect((await v2('alipay.trade.query', {}, { sign_type: 'RSA' })).body).toMatchObject({ code: '40002', sub_code: 'isv.invalid-signature-type' })
    expect((await v2('alipay.trade.query', {}, { timestamp: beijingTime(new Date(now.getTime() - 3_600_000)) })).body).toMatchObject({ sub_code: 'isv.invalid-timestamp' })
    expect((await v2('alipay.trade.query', {}, { timestamp: '2026/11/21 12:00' })).body).toMatchObject({ sub_code: 'isv.invalid-timestamp' })
    expect((await v2('alipay.trade.nonsense', {})).body).toMatchObject({ code: '40002', sub_code: 'isv.invalid-method' })
  })

  it('every envelope is signed over its raw text, `/` escaped as `\\/`', async () => {
    await pay('ESC_1')
    const { raw } = await v2('alipay.trade.precreate', { out_trade_no: 'QR_ESC_1', total_amount: '1.00', subject: 's' })
    expect(raw).toContain('"qr_code":"https:\\/\\/qr.alipay.com\\/')
    const m = /^\{"alipay_trade_precreate_response":(\{.*\}),"sign":"([^"]+)"\}$/.exec(raw)!
    expect(rsa2Verify(m[1]!, m[2]!, aliPub)).toBe(true)
  })

  it('a parameter sent both in the URL and the form counts once (the URL wins), and both are signed', async () => {
    const params: Record<string, string> = { app_id: APP, method: 'alipay.trade.query', charset: 'utf-8', sign_type: 'RSA2', timestamp: beijingTime(now), version: '1.0' }
    const biz = JSON.stringify({ out_trade_no: 'NOPE' })
    params['sign'] = rsa2Sign(v2SignContent({ ...params, biz_content: biz }), appKey)
    const res = await request(`${sb.gatewayUrl}?${new URLSearchParams(params)}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ biz_content: biz, app_id: 'ignored' }).toString() })
    expect(JSON.parse(await res.body.text())).toMatchObject({ alipay_trade_query_response: { code: '40004', sub_code: 'ACQ.TRADE_NOT_EXIST' } })
  })
})

describe('trades over time and the buyer\'s steps', () => {
  it('timeout_express closes an unpaid trade (TRADE_CLOSED) and it can no longer be paid', async () => {
    await v2('alipay.trade.create', { out_trade_no: 'EXP_1', total_amount: '3.00', subject: 's', buyer_id: '2088000000000001', timeout_express: '5m' })
    now = new Date(now.getTime() + 6 * 60_000)
    expect((await v2('alipay.trade.query', { out_trade_no: 'EXP_1' })).body).toMatchObject({ trade_status: 'TRADE_CLOSED' })
    const r = await request(`${sb.adminUrl}/trades/EXP_1/pay`, { method: 'POST', body: '{}' })
    expect(r.statusCode).toBe(409)
  })

  it('precreate: no trade until the buyer scans (admin), then TRADE_SUCCESS', async () => {
    expect((await v2('alipay.trade.precreate', { out_trade_no: 'QR_1', total_amount: '2.50', subject: 's' })).body).toMatchObject({ code: '10000', out_trade_no: 'QR_1' })
    expect((await v2('alipay.trade.query', { out_trade_no: 'QR_1' })).body).toMatchObject({ sub_code: 'ACQ.TRADE_NOT_EXIST' })
    const r = await request(`${sb.adminUrl}/trades/QR_1/pay`, { method: 'POST', body: JSON.stringify({ buyer_id: '2088000000000001' }) })
    expect(r.statusCode).toBe(200)
    expect((await v2('alipay.trade.query', { out_trade_no: 'QR_1' })).body).toMatchObject({ trade_status: 'TRADE_SUCCESS', total_amount: '2.50' })
  })

  it('barcode pay needing confirmation answers 10003 (WAIT_BUYER_PAY) until the buyer confirms; cancel reverses a paid one', async () => {
    const { authCode } = (await (await request(`${sb.adminUrl}/auth-codes`, { method: 'POST', body: JSON.stringify({ buyerId: '2088000000000001', requiresConfirmation: true }) })).body.json()) as { authCode: string }
    const r = await v2('alipay.trade.pay', { out_trade_no: 'BAR_1', total_amount: '4.00', subject: 's', scene: 'bar_code', auth_code: authCode })
    expect(r.body).toMatchObject({ code: '10003' })
    expect((await v2('alipay.trade.query', { out_trade_no: 'BAR_1' })).body).toMatchObject({ trade_status: 'WAIT_BUYER_PAY' })
    await request(`${sb.adminUrl}/trades/BAR_1/pay`, { method: 'POST', body: '{}' })
    expect((await v2('alipay.trade.query', { out_trade_no: 'BAR_1' })).body).toMatchObject({ trade_status: 'TRADE_SUCCESS' })
    expect((await v2('alipay.trade.cancel', { out_trade_no: 'BAR_1' })).body).toMatchObject({ code: '10000', action: 'refund', retry_flag: 'N' })
    expect(sb.ledger.entries({ ref: 'BAR_1' }).map((e) => e.kind)).toEqual(['payment', 'refund'])
  })

  it('TRADE_FINISHED (refund window over) refuses refunds with ACQ.TRADE_HAS_FINISHED', async () => {
    await pay('FIN_1', '5.00')
    expect((await request(`${sb.adminUrl}/trades/FIN_1/finish`, { method: 'POST', body: '{}' })).statusCode).toBe(200)
    expect((await v2('alipay.trade.query', { out_trade_no: 'FIN_1' })).body).toMatchObject({ trade_status: 'TRADE_FINISHED' })
    expect((await v2('alipay.trade.refund', { out_trade_no: 'FIN_1', refund_amount: '1.00', out_request_no: 'R1' })).body).toMatchObject({ sub_code: 'ACQ.TRADE_HAS_FINISHED' })
    expect((await pay('FIN_1', '5.00')).body).toMatchObject({ sub_code: 'ACQ.TRADE_HAS_SUCCESS' })
  })

  it('refunds move money back to the buyer; a refund the merchant cannot cover is ACQ.SELLER_BALANCE_NOT_ENOUGH', async () => {
    const buyer = () => BigInt(sb.world.buyers.get('2088000000000001')!.balances.get('CNY')!)
    const before = buyer()
    await pay('RF_1', '9.99')
    expect(before - buyer()).toBe(999n)
    await v2('alipay.trade.refund', { out_trade_no: 'RF_1', refund_amount: '9.99', out_request_no: 'A' })
    expect(buyer()).toBe(before)
    await pay('RF_2', '1.00')
    sb.world.apps.get(APP)!.balances.set('CNY', 0n)
    expect((await v2('alipay.trade.refund', { out_trade_no: 'RF_2', refund_amount: '1.00', out_request_no: 'B' })).body).toMatchObject({ sub_code: 'ACQ.SELLER_BALANCE_NOT_ENOUGH' })
  })

  it('rejects malformed amounts and out_trade_no values', async () => {
    for (const amount of ['0.00', '1.234', '-1', '1e3', '100000000.01', 'abc']) expect((await pay(`BAD_${Math.random().toString(36).slice(2, 8)}`, amount)).body).toMatchObject({ sub_code: 'ACQ.INVALID_PARAMETER' })
    expect((await pay('has-dash', '1.00')).body).toMatchObject({ sub_code: 'ACQ.INVALID_PARAMETER' })
    expect((await pay('AGR_NONE', '1.00', '999')).body).toMatchObject({ sub_code: 'ACQ.AGREEMENT_NOT_EXIST' })
  })
})

describe('Antom-style API', () => {
  it('pays in minor units with a signed answer; replays are idempotent; another amount is REPEAT_REQ_INCONSISTENT', async () => {
    const body = { productCode: 'AGREEMENT_PAYMENT', paymentRequestId: 'AP_1', paymentAmount: { currency: 'JPY', value: '500' }, paymentMethod: { paymentMethodType: 'CARD', paymentMethodId: 'card_tok_visa_4242' } }
    const r = await antom('payments/pay', body)
    expect(r.json).toMatchObject({ result: { resultStatus: 'S', resultCode: 'SUCCESS' }, paymentAmount: { currency: 'JPY', value: '500' } })
    const sig = parseAntomSignatureHeader(String(r.headers['signature']))!
    expect(rsa2Verify(antomSignContent('POST', '/ams/api/v1/payments/pay', APP, String(r.headers['response-time']), r.text), sig.signature, aliPub)).toBe(true)
    expect((await antom('payments/pay', body)).json).toMatchObject({ result: { resultStatus: 'S' }, paymentId: r.json['paymentId'] })
    expect((await antom('payments/pay', { ...body, paymentAmount: { currency: 'JPY', value: '501' } })).json).toMatchObject({ result: { resultStatus: 'F', resultCode: 'REPEAT_REQ_INCONSISTENT' } })
    expect(sb.ledger.entries({ rail: 'antom', ref: 'AP_1' })).toHaveLength(1)
    expect((await antom('payments/inquiryPayment', { paymentRequestId: 'AP_1' })).json).toMatchObject({ paymentStatus: 'SUCCESS' })
    expect((await antom('payments/inquiryPayment', { paymentRequestId: 'NOPE' })).json).toMatchObject({ result: { resultStatus: 'F', resultCode: 'ORDER_NOT_EXIST' } })
  })

  it('refuses unsigned calls, unknown clients, decimals in amounts and unsupported currencies', async () => {
    expect((await antom('payments/inquiryPayment', { paymentRequestId: 'x' }, { sign: false })).json).toMatchObject({ result: { resultCode: 'INVALID_SIGNATURE', resultStatus: 'F' } })
    expect((await antom('payments/inquiryPayment', { paymentRequestId: 'x' }, { clientId: 'NOBODY' })).json).toMatchObject({ result: { resultCode: 'CLIENT_INVALID' } })
    const base = { paymentRequestId: 'AP_BAD', paymentMethod: { paymentMethodType: 'CARD', paymentMethodId: 'card_tok_visa_4242' } }
    expect((await antom('payments/pay', { ...base, paymentAmount: { currency: 'USD', value: '1.50' } })).json).toMatchObject({ result: { resultCode: 'PARAM_ILLEGAL' } })
    expect((await antom('payments/pay', { ...base, paymentAmount: { currency: 'XXX', value: '150' } })).json).toMatchObject({ result: { resultCode: 'CURRENCY_NOT_SUPPORT' } })
  })

  it('refund and inquiryRefund by refundRequestId', async () => {
    const p = await antom('payments/pay', { paymentRequestId: 'AP_RF', paymentAmount: { currency: 'USD', value: '1000' }, paymentMethod: { paymentMethodType: 'CARD', paymentMethodId: 'card_tok_visa_4242' } })
    const refund = { refundRequestId: 'ARF_1', paymentId: p.json['paymentId'], refundAmount: { currency: 'USD', value: '250' } }
    expect((await antom('payments/refund', refund)).json).toMatchObject({ result: { resultStatus: 'S' }, refundAmount: { value: '250' } })
    expect((await antom('payments/refund', refund)).json).toMatchObject({ result: { resultStatus: 'S' } })
    expect((await antom('payments/inquiryRefund', { refundRequestId: 'ARF_1' })).json).toMatchObject({ refundStatus: 'SUCCESS' })
    expect((await antom('payments/refund', { ...refund, refundRequestId: 'ARF_2', refundAmount: { currency: 'USD', value: '800' } })).json).toMatchObject({ result: { resultCode: 'REFUND_AMOUNT_EXCEED' } })
    expect(sb.ledger.entries({ rail: 'antom', ref: 'AP_RF', kind: 'refund' })).toHaveLength(1)
  })
})

describe('faults, admin API, ledger', () => {
  it('fault rules are validated, seeded and counted; `times` limits firings; edges can be targeted', async () => {
    expect(() => validateFaultConfig({ rules: [{ kind: 'explode' }] })).toThrow(/kind/)
    expect(() => validateFaultConfig({ rules: [{ kind: 'timeout', probability: 2 }] })).toThrow(/probability/)
    const put = await request(`${sb.adminUrl}/faults`, { method: 'PUT', body: JSON.stringify({ seed: 3, rules: [{ kind: 'system_error', target: 'alipay.trade.query', times: 2 }, { kind: 'http_5xx', edge: 'nowhere' }] }) })
    expect(put.statusCode).toBe(200)
    await request(`${sb.adminUrl}/faults/stats`, { method: 'DELETE' })
    const codes = []
    for (let i = 0; i < 4; i++) codes.push((await v2('alipay.trade.query', { out_trade_no: 'F_1' })).body['code'])
    expect(codes).toEqual(['20000', '20000', '40004', '40004'])
    const stats = (await (await request(`${sb.adminUrl}/faults/stats`)).body.json()) as { fired: Record<string, number>; faultedCalls: number; totalCalls: number }
    expect(stats).toMatchObject({ fired: { system_error: 2 }, faultedCalls: 2, totalCalls: 4 })
    expect((await request(`${sb.adminUrl}/faults`, { method: 'PUT', body: JSON.stringify({ rules: [{ kind: 'nope' }] }) })).statusCode).toBe(400)
  })

  it('the same seed gives the same fault decisions', async () => {
    const run = async () => {
      sb.faults.set({ seed: 99, rules: [{ kind: 'system_error', target: 'alipay.trade.query', probability: 0.5 }] })
      const out: unknown[] = []
      for (let i = 0; i < 12; i++) out.push((await v2('alipay.trade.query', { out_trade_no: 'SEED' })).body['code'])
      return out
    }
    const a = await run()
    expect(await run()).toEqual(a)
    expect(new Set(a).size).toBe(2)
  })

  it('the ledger is queryable: entries, totals per rail:currency, refs paid twice (none)', async () => {
    await pay('LED_1', '12.34')
    const body = (await (await request(`${sb.adminUrl}/ledger?ref=LED_1`)).body.json()) as { entries: unknown[]; totals: Record<string, { payments: string }>; paidTwice: string[] }
    expect(body.entries).toMatchObject([{ rail: 'alipay', kind: 'payment', ref: 'LED_1', amount: '1234', currency: 'CNY' }])
    expect(BigInt(body.totals['alipay:CNY']!.payments)).toBeGreaterThanOrEqual(1234n)
    expect(body.paidTwice).toEqual([])
    const reqs = (await (await request(`${sb.adminUrl}/requests?ref=LED_1`)).body.json()) as { requests: Array<{ target: string; outcome: string }> }
    expect(reqs.requests).toMatchObject([{ target: 'alipay.trade.pay', outcome: '10000' }])
  })

  it('units: yuan strings ↔ fen without floats', () => {
    expect(parseYuan('88.8')).toBe(8880n)
    expect(parseYuan(0.1)).toBe(10n)
    expect(parseYuan('012')).toBeUndefined()
    expect(formatYuan(5n)).toBe('0.05')
    expect(formatYuan(10_000_000_000n)).toBe('100000000.00')
  })
})

describe('child process entry (dev mode)', () => {
  it('prints one ALIPAY_SANDBOX_READY line, serves, and stops on SIGTERM', async () => {
    const registry = new ProcessRegistry(() => {})
    try {
      const child = await registry.start(alipaySandboxChildSpec({ apps: [{ appId: APP, publicKeyPem: app.publicKeyPem }], edges: [{ name: 'primary' }, { name: 'secondary' }] }))
      const ready = parseAlipaySandboxReady(child.ready)
      expect(ready).toMatchObject({ apps: [APP], gatewayUrl: `${ready.url}/gateway.do`, adminUrl: `${ready.url}/admin` })
      expect(Object.keys(ready.edges)).toEqual(['primary', 'secondary'])
      expect(ready.alipayPublicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/)
      const health = await request(`${ready.edges['secondary']!.url}/healthz`)
      expect(await health.body.json()).toMatchObject({ ok: true })
    } finally {
      await registry.stopAll()
    }
    expect(registry.children.every((c) => c.process.exitCode === 0 || c.process.signalCode !== null)).toBe(true)
  })
})
