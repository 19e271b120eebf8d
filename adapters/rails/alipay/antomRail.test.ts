import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import type { Store } from '../../../core/store/port.js'
import { BreakerRegistry } from '../shared/breakers.js'
import type { AntomPaymentCredential } from './antomRail.js'
import { buildAntomRail } from './antomRail.js'
import { authorizedIntent, silentLogger, startRailHarness, type RailHarness } from './testing.js'

let h: RailHarness
let store: Store

beforeAll(async () => {
  h = await startRailHarness({ antom: { timeoutMs: 400 } })
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-antom-')), 's.db') })
  await store.migrate()
})
afterAll(async () => {
  await h?.close()
  await store?.close()
})
beforeEach(() => h.sandbox.faults.clear())

const card = (token = 'card_tok_visa_4242') => ({ type: 'card.vault_token' as const, ref: token })
const settle = async (id: string, credential?: AntomPaymentCredential) => settleIntent({ store }, { intentId: id, rail: h.antom, credential, actor: 'system:test' })
const log = (ref: string) => h.sandbox.requestLog.filter((r) => r.ref === ref).map((r) => `${r.target.replace('antom.payments.', '')}@${r.edge}${r.fault ? `!${r.fault}` : ''}:${r.outcome}`)
const failures = () => Object.fromEntries(h.breakers.list().filter((b) => b.rail === 'antom').map((b) => [b.endpoint, b.failures]))

describe('antom rail: cards and wallets, multi-currency', () => {
  it.each([
    ['USD', '1999', 'iso4217:USD'],
    ['JPY (no minor unit)', '500', 'iso4217:JPY'],
    ['EUR', '250', 'iso4217:EUR'],
    ['KRW', '15000', 'iso4217:KRW'],
  ])('a vault-token card payment in %s succeeds with the amount in minor units', async (_n, value, asset) => {
    const id = await authorizedIntent(store, { value, asset, instrument: card() })
    const { intent, outcome } = await settle(id)
    expect(outcome).toMatchObject({ status: 'succeeded', endpoint: 'primary' })
    expect(intent.status).toBe('succeeded')
    expect(h.sandbox.ledger.entries({ ref: id })).toMatchObject([{ rail: 'antom', amount: value, currency: asset.slice(8), payer: 'CARD:card_tok_visa_4242' }])
  })

  it('a wallet (ALIPAY_CN token) pays too', async () => {
    const id = await authorizedIntent(store, { value: '3000', asset: 'iso4217:CNY', instrument: { type: 'card.vault_token' } })
    expect((await settle(id, { paymentMethodType: 'ALIPAY_CN', paymentMethodId: 'wallet_tok_alipaycn_demo' })).intent.status).toBe('succeeded')
  })

  it('a raw card number is passed through (never stored): the sandbox matches it to its card', async () => {
    const id = await authorizedIntent(store, { value: '100', asset: 'iso4217:USD', instrument: { type: 'card.vault_token' } })
    expect((await settle(id, { card: { number: '4242424242424242', expiryMonth: '12', expiryYear: '30', cvv: '123' } })).intent.status).toBe('succeeded')
    const stored = JSON.stringify((await store.getIntent(id))!.intent) + JSON.stringify(await store.listEvents(id))
    expect(stored).not.toContain('4242424242424242')
  })

  it('F results are definitive declines and never breaker failures (risk, balance)', async () => {
    const before = failures()
    const risk = await authorizedIntent(store, { value: '100', asset: 'iso4217:USD', instrument: card('card_tok_risk_0002') })
    expect((await settle(risk)).intent).toMatchObject({ status: 'failed', status_reason: 'RISK_REJECT' })
    const poor = await authorizedIntent(store, { value: '10000', asset: 'iso4217:USD', instrument: card('card_tok_poor_9995') })
    expect((await settle(poor)).intent).toMatchObject({ status: 'failed', status_reason: 'USER_BALANCE_NOT_ENOUGH' })
    expect(failures()).toEqual(before)
  })

  it('U (in process, applied): inquiry finds the payment; nothing is sent twice', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'unknown_result', target: 'antom.payments.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '4200', asset: 'iso4217:USD', instrument: card() })
    expect((await settle(id)).intent.status).toBe('succeeded')
    expect(log(id)).toEqual(['pay@primary!unknown_result:S:SUCCESS', 'inquiryPayment@secondary:S:SUCCESS'])
  })

  it('U (not applied): inquiry says ORDER_NOT_EXIST, then the same paymentRequestId again', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'antom.payments.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '4300', asset: 'iso4217:USD', instrument: card() })
    expect((await settle(id)).intent.status).toBe('succeeded')
    expect(log(id)).toEqual(['pay@primary!system_error:-', 'inquiryPayment@secondary:F:ORDER_NOT_EXIST', 'pay@secondary:S:SUCCESS'])
    expect(h.sandbox.ledger.entries({ ref: id })).toHaveLength(1)
  })

  it('a tampered answer is rejected and the inquiry settles it', async () => {
    h.sandbox.faults.set({ rules: [{ kind: 'tamper', target: 'antom.payments.pay', times: 1 }] })
    const id = await authorizedIntent(store, { value: '4400', asset: 'iso4217:USD', instrument: card() })
    expect((await settle(id)).intent.status).toBe('succeeded')
    expect(log(id)).toEqual(['pay@primary!tamper:S:SUCCESS', 'inquiryPayment@secondary:S:SUCCESS'])
  })

  it('the same paymentRequestId with another amount is REPEAT_REQ_INCONSISTENT: the stored payment decides (amount mismatch → unknown, never success)', async () => {
    const id = await authorizedIntent(store, { value: '100', asset: 'iso4217:USD', instrument: card() })
    const { intent } = await settle(id)
    const other = await h.antom.settle({ intent, credential: undefined, amount: { value: '101', asset: 'iso4217:USD' }, idempotencyKey: `${id}:settle` })
    expect(other).toMatchObject({ status: 'unknown', code: 'amount_mismatch' })
  })

  it('refunds: partial, replayed, exceeded; an unknown refund is inquired first', async () => {
    const id = await authorizedIntent(store, { value: '1000', asset: 'iso4217:USD', instrument: card() })
    const { intent } = await settle(id)
    const amount = (value: string) => ({ value, asset: 'iso4217:USD' })
    expect(await h.antom.refund!({ intent, amount: amount('400'), refundKey: 'AR1' })).toMatchObject({ status: 'succeeded' })
    expect(await h.antom.refund!({ intent, amount: amount('400'), refundKey: 'AR1' })).toMatchObject({ status: 'succeeded' })
    expect(await h.antom.refund!({ intent, amount: amount('700'), refundKey: 'AR2' })).toMatchObject({ status: 'declined', code: 'REFUND_AMOUNT_EXCEED' })
    h.sandbox.faults.set({ rules: [{ kind: 'system_error', target: 'antom.payments.refund', times: 1 }] })
    expect(await h.antom.refund!({ intent, amount: amount('600'), refundKey: 'AR3' })).toMatchObject({ status: 'succeeded' })
    expect(h.sandbox.ledger.entries({ ref: id, kind: 'refund' }).map((e) => e.amount)).toEqual(['400', '600'])
  })

  it('the /ams/sandbox/api path prefix (test-mode client ids) works', async () => {
    const rail = buildAntomRail({ ...h.antomOptions, rail: 'antom_sbx', pathPrefix: '/ams/sandbox/api' }, { breakers: new BreakerRegistry(), logger: silentLogger() })
    try {
      const id = await authorizedIntent(store, { value: '100', asset: 'iso4217:SGD', instrument: card() })
      expect((await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })).intent.status).toBe('succeeded')
    } finally {
      await rail.shutdown()
    }
  })

  it('token amounts are not Antom amounts: declined before anything is sent', async () => {
    const id = await authorizedIntent(store, { value: '1', asset: 'iso4217:USD', instrument: card() })
    const { intent } = (await store.getIntent(id))!
    const usdc = { value: '1000000', asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' }
    expect(await h.antom.settle({ intent, credential: undefined, amount: usdc, idempotencyKey: `${id}:settle` })).toMatchObject({ status: 'declined', code: 'amount_not_supported' })
    expect(log(id)).toEqual([])
  })
})
