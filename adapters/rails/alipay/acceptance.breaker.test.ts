import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { startAlipaySandbox, type AlipaySandbox } from '../../../sandbox/alipay/server.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { createAlipayRail, type AlipayRail } from './alipayRail.js'
import type { AlipayRailOptions } from './config.js'
import { alipayNotifyMount } from './notifyMount.js'
import { authorizedIntent, sleep, testKeys, waitFor } from './testing.js'

/**
 * Acceptance 3 (issue 5): the primary endpoint's breaker opens after the configured failures,
 * payments fail over to the secondary endpoint, the breaker half-opens after its reset timeout and
 * closes again on a successful trial — all read from a real gateway's `/metrics`
 * (`agentswitch_breaker_state{rail,endpoint}`: 0 closed, 1 half-open, 2 open) and `/v1/rails`.
 */

const keys = testKeys()
let sandbox: AlipaySandbox
let tg: TestGateway
let rail: AlipayRail
const RESET_MS = 700

beforeAll(async () => {
  sandbox = await startAlipaySandbox({
    edges: [{ name: 'primary' }, { name: 'secondary' }],
    apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
    alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
  })
  const opts: AlipayRailOptions = {
    appId: keys.appId,
    privateKey: keys.appPrivateKeyPem,
    alipayPublicKey: sandbox.alipayPublicKeyPem,
    endpoints: [
      { name: 'primary', url: sandbox.edges['primary']!.url },
      { name: 'secondary', url: sandbox.edges['secondary']!.url },
    ],
    timeoutMs: 1000,
    breaker: { volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: RESET_MS, rollingCountTimeoutMs: 30_000 },
  }
  tg = await startTestGateway({ gatewayOptions: { rails: [createAlipayRail(opts)], mounts: [alipayNotifyMount({ alipay: opts })] } })
  rail = tg.gateway.rails.get('alipay') as AlipayRail
})
afterAll(async () => {
  await tg?.close()
  await rail?.shutdown()
  await sandbox?.close()
})

/** `agentswitch_breaker_state` per endpoint of the alipay rail, scraped from /metrics. */
async function breakerStates(): Promise<Record<string, number>> {
  const res = await request(`${tg.url}/metrics`)
  expect(res.statusCode).toBe(200)
  const text = await res.body.text()
  const out: Record<string, number> = {}
  for (const m of text.matchAll(/^agentswitch_breaker_state\{rail="alipay",endpoint="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2])
  return out
}

async function opens(endpoint: string): Promise<number> {
  const text = await (await request(`${tg.url}/metrics`)).body.text()
  return Number(new RegExp(`^agentswitch_breaker_opens\\{rail="alipay",endpoint="${endpoint}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN)
}

async function pay(value: string): Promise<{ status: string; endpoints: string[]; id: string }> {
  const id = await authorizedIntent(tg.gateway.store, { value })
  const { intent } = await settleIntent({ store: tg.gateway.store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })
  return { status: intent.status, endpoints: sandbox.requestLog.filter((r) => r.ref === id).map((r) => `${r.target.replace('alipay.trade.', '')}@${r.edge}`), id }
}

const primaryCalls = () => sandbox.requestLog.filter((r) => r.edge === 'primary').length

describe('acceptance 3: breaker opens, fails over, half-opens and closes (read from /metrics)', () => {
  it('walks closed → open (failover to secondary) → half-open → closed', async () => {
    // Closed, and the primary endpoint takes the traffic.
    expect(await pay('100')).toMatchObject({ status: 'succeeded', endpoints: ['pay@primary'] })
    expect(await breakerStates()).toEqual({ primary: 0, secondary: 0 })

    // The primary endpoint fails (HTTP 503 on everything): each payment fails over after a query.
    sandbox.faults.set({ rules: [{ kind: 'http_5xx', edge: 'primary', status: 503 }] })
    const during: Array<{ status: string; endpoints: string[] }> = []
    for (let i = 0; i < 10 && (await breakerStates())['primary'] !== 2; i++) during.push(await pay(String(200 + i)))
    // volumeThreshold 4 counts the earlier success: 1 success + 3 failures = 75 % ≥ 50 % → open.
    expect(during.length).toBe(3)
    expect(during.every((p) => p.status === 'succeeded')).toBe(true)
    expect(during[0]!.endpoints).toEqual(['pay@primary', 'query@secondary', 'pay@secondary'])
    expect(await breakerStates()).toEqual({ primary: 2, secondary: 0 })
    expect(await opens('primary')).toBe(1)

    // Open: payments go straight to the secondary endpoint; nothing reaches the primary one.
    const before = primaryCalls()
    expect(await pay('300')).toMatchObject({ status: 'succeeded', endpoints: ['pay@secondary'] })
    expect(primaryCalls()).toBe(before)
    const admin = await request(`${tg.url}/v1/rails`, { headers: { authorization: `Bearer ${TEST_KEYS.admin}` } })
    expect(await admin.body.json()).toMatchObject({
      data: [{ rail: 'alipay', instruments: ['alipay.agreement'], endpoints: [{ endpoint: 'primary', state: 'open' }, { endpoint: 'secondary', state: 'closed' }] }],
    })

    // The endpoint recovers; after the reset timeout the breaker half-opens by itself.
    sandbox.faults.clear()
    await sleep(RESET_MS)
    await waitFor(async () => ((await breakerStates())['primary'] === 1 ? true : undefined), 3000, 'half-open')
    expect(await breakerStates()).toEqual({ primary: 1, secondary: 0 })

    // The trial call goes to the primary endpoint, succeeds, and closes the breaker.
    expect(await pay('400')).toMatchObject({ status: 'succeeded', endpoints: ['pay@primary'] })
    expect(await breakerStates()).toEqual({ primary: 0, secondary: 0 })
    expect(await pay('500')).toMatchObject({ status: 'succeeded', endpoints: ['pay@primary'] })

    // Money moved exactly once per payment throughout.
    expect(sandbox.ledger.paidTwice()).toEqual([])
    expect(sandbox.ledger.entries({ rail: 'alipay', kind: 'payment' })).toHaveLength(during.length + 4)
  })


  it('declines (40004) never open a breaker', async () => {
    const id = await authorizedIntent(tg.gateway.store, { value: '100', instrument: { type: 'alipay.agreement', ref: '20215000000000000009' } })
    for (let i = 0; i < 8; i++) {
      const other = i === 0 ? id : await authorizedIntent(tg.gateway.store, { value: '100', instrument: { type: 'alipay.agreement', ref: '20215000000000000009' } })
      const { intent } = await settleIntent({ store: tg.gateway.store }, { intentId: other, rail, credential: undefined, actor: 'system:test' })
      expect(intent).toMatchObject({ status: 'failed', status_reason: 'ACQ.AGREEMENT_STATUS_NOT_NORMAL' })
    }
    expect(await breakerStates()).toEqual({ primary: 0, secondary: 0 })
    expect(tg.gateway.breakers.list().find((b) => b.endpoint === 'primary')).toMatchObject({ state: 'closed' })
  })
})
