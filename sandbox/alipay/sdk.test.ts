// alipay-sdk writes v2 timestamps in the process's local time (digest §3.4): be in Beijing, as
// merchants' servers are. The sandbox checks the window in Beijing time explicitly.
process.env.TZ = 'Asia/Shanghai'

import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AlipayRequestError, AlipaySdk } from 'alipay-sdk'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { generateRsaKeyPair, privateKeyFrom } from './crypto.js'
import { startAlipaySandbox, type AlipaySandbox } from './server.js'

/**
 * Acceptance 1 (issue 5): the OFFICIAL alipay-sdk 4.14.0 drives the sandbox over real HTTP and
 * cannot tell it from Alipay: `exec` with `validateSign: true`, v3 `curl` (which always verifies),
 * `checkNotifySignV2` on the sandbox's notifications; a tampered answer fails the SDK's checks.
 */

const APP_ID = '9021000000000001'
const app = generateRsaKeyPair()
let sandbox: AlipaySandbox
let sdk: AlipaySdk
let receiver: Server
let notifyUrl: string
const received: Array<Record<string, string>> = []
/** What the merchant answers to the next notifications (default `success`). */
let answers: string[] = []

const agreement = '20215000000000000001'
let seq = 0
const outNo = (): string => `SDK_${Date.now()}_${++seq}`

beforeAll(async () => {
  sandbox = await startAlipaySandbox({ apps: [{ appId: APP_ID, publicKeyPem: app.publicKeyPem }], notify: { timeScale: 1 / 20_000 } })
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push(Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))))
      res.end(answers.shift() ?? 'success')
    })
  })
  receiver.listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  notifyUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alipay/notify`
  sdk = new AlipaySdk({ appId: APP_ID, privateKey: app.privateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, gateway: sandbox.gatewayUrl, endpoint: sandbox.url, timeout: 5000 })
})

afterAll(async () => {
  await sandbox?.close()
  receiver?.close()
})

beforeEach(() => {
  sandbox.faults.clear()
  answers = []
})

async function waitFor<T>(fn: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('alipay-sdk v2 exec({ validateSign: true }) against the sandbox', () => {
  it('agreement pay succeeds with a verified envelope, then query shows TRADE_SUCCESS and the ledger moved 88.88 once', async () => {
    const no = outNo()
    const paid = await sdk.exec(
      'alipay.trade.pay',
      { notifyUrl, bizContent: { outTradeNo: no, totalAmount: '88.88', subject: 'sdk test', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } } },
      { validateSign: true },
    )
    expect(paid).toMatchObject({ code: '10000', msg: 'Success', outTradeNo: no, totalAmount: '88.88' })
    expect(paid['tradeNo']).toMatch(/^\d{28}$/)
    const q = await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: no } }, { validateSign: true })
    expect(q).toMatchObject({ code: '10000', tradeStatus: 'TRADE_SUCCESS', tradeNo: paid['tradeNo'], totalAmount: '88.88' })
    expect(sandbox.ledger.entries({ ref: no })).toMatchObject([{ kind: 'payment', amount: '8888', currency: 'CNY' }])
  })

  it('business errors come back signed (40004 ACQ.*): TRADE_HAS_SUCCESS, CONTEXT_INCONSISTENT, TRADE_NOT_EXIST, BUYER_BALANCE_NOT_ENOUGH', async () => {
    const no = outNo()
    const biz = { outTradeNo: no, totalAmount: '1.00', subject: 's', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } }
    expect(await sdk.exec('alipay.trade.pay', { bizContent: biz }, { validateSign: true })).toMatchObject({ code: '10000' })
    expect(await sdk.exec('alipay.trade.pay', { bizContent: biz }, { validateSign: true })).toMatchObject({ code: '40004', msg: 'Business Failed', subCode: 'ACQ.TRADE_HAS_SUCCESS' })
    expect(await sdk.exec('alipay.trade.pay', { bizContent: { ...biz, totalAmount: '2.00' } }, { validateSign: true })).toMatchObject({
      code: '40004',
      subCode: 'ACQ.CONTEXT_INCONSISTENT',
    })
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: 'NOPE_1' } }, { validateSign: true })).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' })
    const poor = { ...biz, outTradeNo: outNo(), totalAmount: '5.00', agreementParams: { agreementNo: '20215000000000000002' } }
    expect(await sdk.exec('alipay.trade.pay', { bizContent: poor }, { validateSign: true })).toMatchObject({ code: '40004', subCode: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' })
    expect(sandbox.ledger.entries({ ref: no })).toHaveLength(1)
    expect(sandbox.ledger.entries({ ref: poor.outTradeNo })).toHaveLength(0)
  })

  it('partial refunds with out_request_no are idempotent (fund_change N on replay), and refund query reports REFUND_SUCCESS', async () => {
    const no = outNo()
    await sdk.exec('alipay.trade.pay', { bizContent: { outTradeNo: no, totalAmount: '10.00', subject: 's', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } } })
    const r1 = await sdk.exec('alipay.trade.refund', { bizContent: { outTradeNo: no, refundAmount: '3.00', outRequestNo: 'R1' } }, { validateSign: true })
    expect(r1).toMatchObject({ code: '10000', fundChange: 'Y', refundFee: '3.00' })
    const again = await sdk.exec('alipay.trade.refund', { bizContent: { outTradeNo: no, refundAmount: '3.00', outRequestNo: 'R1' } }, { validateSign: true })
    expect(again).toMatchObject({ code: '10000', fundChange: 'N', refundFee: '3.00' })
    expect(await sdk.exec('alipay.trade.refund', { bizContent: { outTradeNo: no, refundAmount: '8.00', outRequestNo: 'R2' } }, { validateSign: true })).toMatchObject({
      code: '40004',
      subCode: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL',
    })
    expect(await sdk.exec('alipay.trade.fastpay.refund.query', { bizContent: { outTradeNo: no, outRequestNo: 'R1' } }, { validateSign: true })).toMatchObject({
      code: '10000',
      refundStatus: 'REFUND_SUCCESS',
      refundAmount: '3.00',
    })
    const r3 = await sdk.exec('alipay.trade.refund', { bizContent: { outTradeNo: no, refundAmount: '7.00', outRequestNo: 'R3' } }, { validateSign: true })
    expect(r3).toMatchObject({ code: '10000', fundChange: 'Y', refundFee: '10.00' })
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: no } }, { validateSign: true })).toMatchObject({ tradeStatus: 'TRADE_CLOSED' })
    expect(sandbox.ledger.entries({ ref: no, kind: 'refund' }).map((e) => e.amount)).toEqual(['300', '700'])
  })

  it('create → close (TRADE_CLOSED), and closing a paid trade is ACQ.TRADE_STATUS_ERROR', async () => {
    const no = outNo()
    expect(await sdk.exec('alipay.trade.create', { bizContent: { outTradeNo: no, totalAmount: '2.00', subject: 's', buyerId: '2088000000000001' } }, { validateSign: true })).toMatchObject({
      code: '10000',
    })
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: no } }, { validateSign: true })).toMatchObject({ tradeStatus: 'WAIT_BUYER_PAY' })
    expect(await sdk.exec('alipay.trade.close', { bizContent: { outTradeNo: no } }, { validateSign: true })).toMatchObject({ code: '10000' })
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: no } }, { validateSign: true })).toMatchObject({ tradeStatus: 'TRADE_CLOSED' })
    expect(await sdk.exec('alipay.trade.create', { bizContent: { outTradeNo: no, totalAmount: '2.00', subject: 's', buyerId: '2088000000000001' } }, { validateSign: true })).toMatchObject({
      subCode: 'ACQ.TRADE_HAS_CLOSE',
    })
    const paid = outNo()
    await sdk.exec('alipay.trade.pay', { bizContent: { outTradeNo: paid, totalAmount: '1.00', subject: 's', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } } })
    expect(await sdk.exec('alipay.trade.close', { bizContent: { outTradeNo: paid } }, { validateSign: true })).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_STATUS_ERROR' })
  })

  it('delegation pay: prepay + agent.delegation.pay within the limits, ACQ.BEYOND_PAY_RESTRICTION beyond them', async () => {
    const no = outNo()
    const pre = await sdk.exec('alipay.trade.order.prepay', { bizContent: { outTradeNo: no, totalAmount: '150.00', subject: 'agent task' } }, { validateSign: true })
    expect(pre).toMatchObject({ code: '10000', outTradeNo: no })
    const paid = await sdk.exec(
      'alipay.trade.agent.delegation.pay',
      { bizContent: { prepayId: pre['prepayId'], agreementNo: agreement, delegationId: 'DLG_DEMO_001' } },
      { validateSign: true },
    )
    expect(paid).toMatchObject({ code: '10000', outTradeNo: no, totalAmount: '150.00' })
    const big = await sdk.exec('alipay.trade.order.prepay', { bizContent: { outTradeNo: outNo(), totalAmount: '250.00', subject: 'too big' } })
    expect(
      await sdk.exec('alipay.trade.agent.delegation.pay', { bizContent: { prepayId: big['prepayId'], agreementNo: agreement, delegationId: 'DLG_DEMO_001' } }, { validateSign: true }),
    ).toMatchObject({ code: '40004', subCode: 'ACQ.BEYOND_PAY_RESTRICTION' })
  })

  it('a wrong app key gets 40002 isv.invalid-signature echoing exactly the string that should have been signed', async () => {
    const other = generateRsaKeyPair()
    const bad = new AlipaySdk({ appId: APP_ID, privateKey: other.privateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, gateway: sandbox.gatewayUrl })
    const r = await bad.exec('alipay.trade.query', { bizContent: { outTradeNo: 'T-1' } }, { validateSign: true })
    expect(r).toMatchObject({ code: '40002', subCode: 'isv.invalid-signature' })
    expect(r['subMsg']).toMatch(/app_id=9021000000000001&biz_content=\{"out_trade_no":"T-1"\}&charset=utf-8&method=alipay\.trade\.query&sign_type=RSA2&timestamp=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d&version=1\.0$/)
  })

  it('PKCS#8 bare base64 keys (keyType PKCS8) work too', async () => {
    const pkcs8 = privateKeyFrom(app.privateKeyPem).export({ type: 'pkcs8', format: 'der' }).toString('base64')
    const s8 = new AlipaySdk({ appId: APP_ID, privateKey: pkcs8, keyType: 'PKCS8', alipayPublicKey: sandbox.alipayPublicKeyPem, gateway: sandbox.gatewayUrl })
    expect(await s8.exec('alipay.trade.query', { bizContent: { outTradeNo: 'NOPE_2' } }, { validateSign: true })).toMatchObject({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' })
  })

  it('20000 ACQ.SYSTEM_ERROR from fault injection is a signed envelope too', async () => {
    sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'alipay.trade.query' }] })
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: 'X_1' } }, { validateSign: true })).toMatchObject({ code: '20000', subCode: 'ACQ.SYSTEM_ERROR' })
  })

  it('a tampered answer (fault mode) fails validateSign — and is silently accepted without it', async () => {
    sandbox.faults.set({ rules: [{ kind: 'tamper', target: 'alipay.trade.query' }] })
    const err = await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: 'X_2' } }, { validateSign: true }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AlipayRequestError)
    expect((err as Error).message).toMatch(/验签失败/)
    // The SDK's default (validateSign off) accepts the forged field: why our rail client always verifies.
    expect(await sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: 'X_2' } })).toMatchObject({ tampered: true })
  })

  it('HTTP 5xx from the gateway is an AlipayRequestError (outcome unknown)', async () => {
    sandbox.faults.set({ rules: [{ kind: 'http_5xx', target: 'alipay.trade.query', status: 503 }] })
    await expect(sdk.exec('alipay.trade.query', { bizContent: { outTradeNo: 'X_3' } })).rejects.toThrow(/status: 503/)
  })
})

describe('alipay-sdk v3 curl against the sandbox (always verifies the signed response headers)', () => {
  it('POST /v3/alipay/trade/pay and /v3/alipay/trade/query', async () => {
    const no = outNo()
    const paid = await sdk.curl('POST', '/v3/alipay/trade/pay', {
      body: { out_trade_no: no, total_amount: '12.34', subject: 'v3', product_code: 'GENERAL_WITHHOLDING', agreement_params: { agreement_no: agreement } },
    })
    expect(paid.responseHttpStatus).toBe(200)
    expect(paid.data).toMatchObject({ out_trade_no: no, total_amount: '12.34' })
    const q = await sdk.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: no } })
    expect(q.data).toMatchObject({ trade_status: 'TRADE_SUCCESS', trade_no: paid.data.trade_no })
    const refund = await sdk.curl('POST', '/v3/alipay/trade/refund', { body: { out_trade_no: no, refund_amount: '2.34', out_request_no: 'V3R1' } })
    expect(refund.data).toMatchObject({ fund_change: 'Y', refund_fee: '2.34' })
  })

  it('business errors are HTTP 4xx {code, message, links}', async () => {
    const err = await sdk.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: 'NOPE_V3' } }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AlipayRequestError)
    expect(err).toMatchObject({ code: 'ACQ.TRADE_NOT_EXIST', responseHttpStatus: 400 })
    expect((err as AlipayRequestError).links?.[0]?.link).toMatch(/^https:\/\//)
  })

  it('a wrong app key is HTTP 401 invalid-signature', async () => {
    const bad = new AlipaySdk({ appId: APP_ID, privateKey: generateRsaKeyPair().privateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, endpoint: sandbox.url })
    await expect(bad.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: 'X' } })).rejects.toMatchObject({ code: 'invalid-signature', responseHttpStatus: 401 })
  })

  it('a tampered v3 answer fails the SDK signature check', async () => {
    const no = outNo()
    await sdk.curl('POST', '/v3/alipay/trade/pay', { body: { out_trade_no: no, total_amount: '1.00', subject: 'v3', agreement_params: { agreement_no: agreement } } })
    sandbox.faults.set({ rules: [{ kind: 'tamper', target: 'alipay.trade.query' }] })
    await expect(sdk.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: no } })).rejects.toMatchObject({ code: 'response-signature-verify-error' })
    sandbox.faults.clear()
    expect((await sdk.curl('POST', '/v3/alipay/trade/query', { body: { out_trade_no: no } })).data).toMatchObject({ trade_status: 'TRADE_SUCCESS' })
  })
})

describe('alipay-sdk checkNotifySignV2 on the sandbox notifications', () => {
  it('accepts the TRADE_SUCCESS notification; rejects it once a field is changed', async () => {
    const no = outNo()
    await sdk.exec('alipay.trade.pay', {
      notifyUrl,
      bizContent: { outTradeNo: no, totalAmount: '0.01', subject: '100% off – 特价', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement }, passbackParams: 'a=b&c=d' },
    })
    const n = await waitFor(() => received.find((r) => r['out_trade_no'] === no))
    expect(n).toMatchObject({ notify_type: 'trade_status_sync', trade_status: 'TRADE_SUCCESS', total_amount: '0.01', app_id: APP_ID, subject: '100% off – 特价', passback_params: 'a=b&c=d' })
    expect(sdk.checkNotifySignV2(n)).toBe(true)
    expect(sdk.checkNotifySignV2({ ...n, total_amount: '100.00' })).toBe(false)
  })

  it('partial refund notifications keep TRADE_SUCCESS with out_biz_no and refund_fee, and verify', async () => {
    const no = outNo()
    await sdk.exec('alipay.trade.pay', { notifyUrl, bizContent: { outTradeNo: no, totalAmount: '5.00', subject: 's', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } } })
    await sdk.exec('alipay.trade.refund', { bizContent: { outTradeNo: no, refundAmount: '1.00', outRequestNo: 'PR1' } })
    const n = await waitFor(() => received.find((r) => r['out_trade_no'] === no && r['out_biz_no'] === 'PR1'))
    expect(n).toMatchObject({ trade_status: 'TRADE_SUCCESS', refund_fee: '1.00' })
    expect(sdk.checkNotifySignV2(n)).toBe(true)
  })

  it('retries on the compressed schedule until the merchant answers exactly `success`', async () => {
    answers = ['fail', 'success ', 'success']
    const no = outNo()
    await sdk.exec('alipay.trade.pay', { notifyUrl, bizContent: { outTradeNo: no, totalAmount: '0.02', subject: 's', productCode: 'GENERAL_WITHHOLDING', agreementParams: { agreementNo: agreement } } })
    const rec = await waitFor(() => sandbox.notifications.find((r) => r.ref === no && r.done))
    expect(rec.acked).toBe(true)
    expect(rec.attempts.map((a) => a.acked)).toEqual([false, false, true])
    const all = received.filter((r) => r['out_trade_no'] === no)
    expect(new Set(all.map((r) => r['notify_id'])).size).toBe(1)
    expect(all.every((r) => sdk.checkNotifySignV2(r))).toBe(true)
  })
})
