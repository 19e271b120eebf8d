import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import type { RailAdapter } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import { startAlipaySandbox, type AlipaySandbox } from '../../../sandbox/alipay/server.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { createAlipayRail, type AlipayRail } from './alipayRail.js'
import { createAntomRail, type AntomRail } from './antomRail.js'
import type { AlipayRailOptions, AntomRailOptions } from './config.js'
import { loadPrivateKey } from './keys.js'
import { alipayNotifyMount } from './notifyMount.js'
import { rsa2Sign, v2SignContent } from './signing.js'
import { authorizedIntent, testKeys, waitFor } from './testing.js'

/**
 * The notification endpoints on a real gateway: signature checked, the result recorded through
 * reconcileIntent, and `success` answered only once the store has it.
 */

const keys = testKeys()
let sandbox: AlipaySandbox
let tg: TestGateway
let store: Store & { failUpdates: boolean }
let alipay: AlipayRail
let antom: AntomRail
let opts: AlipayRailOptions
let antomOpts: AntomRailOptions

function flaky(inner: Store): Store & { failUpdates: boolean } {
  const s = Object.create(inner) as Store & { failUpdates: boolean }
  s.failUpdates = false
  s.updateIntent = async (p) => {
    if (s.failUpdates) throw new Error('store unavailable (test)')
    return inner.updateIntent(p)
  }
  return s
}

beforeAll(async () => {
  sandbox = await startAlipaySandbox({
    edges: [{ name: 'primary' }, { name: 'secondary' }],
    apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
    alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
    // Delay the first notification so the settle call that caused it has finished: the tests
    // then see the notification (not the settle) record the result.
    notify: { timeScale: 1 / 20_000, firstDelayMs: 200 },
  })
  const endpoints = Object.entries(sandbox.edges).map(([name, e]) => ({ name, url: e.url }))
  // Breakers are not under test here (the faulted queries would open them): keep them closed.
  const breaker = { volumeThreshold: 10_000 }
  opts = { appId: keys.appId, privateKey: keys.appPrivateKeyPem, alipayPublicKey: sandbox.alipayPublicKeyPem, endpoints, timeoutMs: 1000, breaker }
  antomOpts = { clientId: keys.clientId, privateKey: keys.appPrivateKeyPem, antomPublicKey: sandbox.alipayPublicKeyPem, endpoints, timeoutMs: 1000, breaker }
  const inner = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-notify-')), 'gw.db') })
  store = flaky(inner)
  tg = await startTestGateway({
    store,
    gatewayOptions: { rails: [createAlipayRail(opts), createAntomRail(antomOpts)], mounts: [alipayNotifyMount({ alipay: opts, antom: antomOpts })] },
  })
  // The gateway's URL is known once it listens; the rails read notifyUrl per call.
  opts.notifyUrl = `${tg.url}/rails/alipay/notify`
  antomOpts.notifyUrl = `${tg.url}/rails/antom/notify`
  alipay = tg.gateway.rails.get('alipay') as AlipayRail
  antom = tg.gateway.rails.get('antom') as AntomRail
})
afterAll(async () => {
  await tg?.close()
  await alipay?.shutdown()
  await antom?.shutdown()
  await sandbox?.close()
  await store?.close()
})
beforeEach(() => {
  sandbox.faults.clear()
  store.failUpdates = false
})

/** Leave an intent `processing` although the sandbox has the money: the answer and every query are lost. */
async function paidButUnknown(value: string, rail: AlipayRail | AntomRail = alipay, asset = 'iso4217:CNY'): Promise<string> {
  const pay = rail === alipay ? 'alipay.trade.pay' : 'antom.payments.pay'
  const query = rail === alipay ? 'alipay.trade.query' : 'antom.payments.inquiryPayment'
  sandbox.faults.set({ rules: [{ kind: 'success_then_unknown', target: pay, times: 1 }, { kind: 'system_error', target: query }] })
  const instrument = rail === alipay ? { type: 'alipay.agreement' as const, ref: '20215000000000000001' } : { type: 'card.vault_token' as const, ref: 'card_tok_visa_4242' }
  const id = await authorizedIntent(store, { value, asset, instrument })
  const { intent } = await settleIntent({ store }, { intentId: id, rail: rail as unknown as RailAdapter, credential: undefined, actor: 'system:test' })
  expect(intent.status).toBe('processing')
  return id
}

const status = async (id: string) => (await store.getIntent(id))!.intent.status

async function postForm(fields: Record<string, string>): Promise<{ status: number; body: string }> {
  const res = await request(`${tg.url}/rails/alipay/notify`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams(fields).toString() })
  return { status: res.statusCode, body: await res.body.text() }
}

function signedNotification(fields: Record<string, string>): Record<string, string> {
  const f = { notify_type: 'trade_status_sync', notify_id: `n_${Math.random()}`, app_id: keys.appId, charset: 'utf-8', version: '1.0', sign_type: 'RSA2', ...fields }
  return { ...f, sign: rsa2Sign(v2SignContent(f, ['sign', 'sign_type']), loadPrivateKey(keys.alipayPrivateKeyPem)) }
}

describe('POST /rails/alipay/notify', () => {
  it('a signed TRADE_SUCCESS notification alone settles a processing intent, and is acknowledged with `success`', async () => {
    const id = await paidButUnknown('2500')
    await waitFor(async () => ((await status(id)) === 'succeeded' ? true : undefined), 5000, 'the notification to settle the intent')
    const events = await store.listEvents(id)
    expect(events.filter((e) => e.type === 'succeed')).toMatchObject([{ actor: 'rail:alipay:notify' }])
    const rec = await waitFor(() => sandbox.notifications.find((n) => n.ref === id && n.done))
    expect(rec.acked).toBe(true)
    expect((await store.getIntent(id))!.intent.settlement!.reference).toBe(sandbox.ledger.entries({ ref: id })[0]!.reference)
  })

  it('answers `fail` while the result cannot be stored, and `success` on the retry once it can', async () => {
    const id = await paidButUnknown('2600')
    store.failUpdates = true
    const rec = await waitFor(() => sandbox.notifications.find((n) => n.ref === id && n.attempts.length >= 2))
    expect(rec.attempts.every((a) => !a.acked && a.status === 500)).toBe(true)
    expect(await status(id)).toBe('processing')
    store.failUpdates = false
    await waitFor(() => (rec.acked ? true : undefined), 5000, 'an acknowledged retry')
    expect(await status(id)).toBe('succeeded')
  })

  it('duplicated notifications (same notify_id, concurrently) record the payment once', async () => {
    const id2 = await authorizedIntent(store, { value: '2800' })
    sandbox.faults.set({ rules: [{ kind: 'duplicate_notification' }, { kind: 'success_then_unknown', target: 'alipay.trade.pay', times: 1 }, { kind: 'system_error', target: 'alipay.trade.query' }] })
    await settleIntent({ store }, { intentId: id2, rail: alipay, credential: undefined, actor: 'system:test' })
    const rec = await waitFor(() => sandbox.notifications.find((n) => n.ref === id2 && n.done))
    expect(rec.duplicated).toBe(true)
    expect(rec.attempts.filter((a) => a.acked)).toHaveLength(2)
    expect((await store.listEvents(id2)).filter((e) => e.type === 'succeed')).toHaveLength(1)
  })

  it('refuses forged, mismatched and contradictory notifications; acknowledges ones about trades it does not know', async () => {
    const id = await paidButUnknown('2900')
    sandbox.faults.clear()
    await waitFor(async () => ((await status(id)) === 'succeeded' ? true : undefined))
    const base = { out_trade_no: id, trade_no: '2026112122001400000000009999', trade_status: 'TRADE_SUCCESS', total_amount: '29.00', gmt_payment: '2026-11-21 12:00:00' }
    // Signed with the wrong key (the app's own).
    const forged = { ...base, app_id: keys.appId, sign_type: 'RSA2', sign: rsa2Sign(v2SignContent(base), loadPrivateKey(keys.appPrivateKeyPem)) }
    expect(await postForm(forged)).toEqual({ status: 400, body: 'fail' })
    const other = await authorizedIntent(store, { value: '100' })
    await settleIntent({ store }, { intentId: other, rail: alipay, credential: { agreementNo: '20215000000000000009' }, actor: 'system:test' })
    expect(await status(other)).toBe('failed')
    const wrongAmount = signedNotification({ ...base, out_trade_no: other, total_amount: '99.00' })
    expect(await postForm(wrongAmount)).toEqual({ status: 409, body: 'fail' })
    const contradicts = signedNotification({ ...base, out_trade_no: other, total_amount: '1.00' })
    expect(await postForm(contradicts)).toEqual({ status: 409, body: 'fail' })
    expect(await status(other)).toBe('failed')
    expect(await postForm(signedNotification({ ...base, out_trade_no: 'SOMEONE_ELSES_ORDER' }))).toEqual({ status: 200, body: 'success' })
    expect(await postForm(signedNotification({ ...base, app_id: '2021999999999999' }))).toEqual({ status: 400, body: 'fail' })
    // A partial-refund notification is not a new payment.
    expect(await postForm(signedNotification({ ...base, out_biz_no: 'R1', refund_fee: '1.00' }))).toEqual({ status: 200, body: 'success' })
  })
})

describe('POST /rails/antom/notify', () => {
  it('a signed PAYMENT_RESULT settles a processing intent and is acknowledged with resultStatus S', async () => {
    const id = await paidButUnknown('1234', antom, 'iso4217:USD')
    await waitFor(async () => ((await status(id)) === 'succeeded' ? true : undefined), 5000, 'the Antom notification')
    expect((await store.listEvents(id)).filter((e) => e.type === 'succeed')).toMatchObject([{ actor: 'rail:antom:notify' }])
    const rec = await waitFor(() => sandbox.notifications.find((n) => n.ref === id && n.done))
    expect(rec).toMatchObject({ kind: 'antom', acked: true })
  })

  it('an unsigned Antom notification is refused', async () => {
    const res = await request(`${tg.url}/rails/antom/notify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'client-id': keys.clientId, 'request-time': new Date().toISOString() },
      body: JSON.stringify({ notifyType: 'PAYMENT_RESULT', result: { resultStatus: 'S', resultCode: 'SUCCESS' }, paymentRequestId: 'x' }),
    })
    expect(res.statusCode).toBe(400)
    expect(await res.body.json()).toMatchObject({ result: { resultStatus: 'F' } })
  })
})
