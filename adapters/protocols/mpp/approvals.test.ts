import { Mppx, evm } from 'mppx/client'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expireApproval } from '../../../core/pipeline/approveIntent.js'
import { TEST_KEYS } from '../../testing/testGateway.js'
import { parseReceipt } from './receipt.js'
import { startMppFixture, type MppFixture } from './testing.js'

/**
 * Issue 10 acceptance #4 on MPP (DESIGN §4.3): a payment that policy sends to review is answered
 * 402 `payment-action-required` naming the intent, and nothing moves; once a person approves it
 * through the API, the SAME credential sent again settles it (on a settle-before and on a
 * settle-after route), exactly once. A denied and an expired one never settle.
 */
let fx: MppFixture
let payer: { address: Address; privateKey: Hex }

beforeAll(async () => {
  // Every payment is reviewed (no payment in the window is allowed without a person).
  fx = await startMppFixture({}, { configPatch: { risk: { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 3600, max: 0, action: 'review' }] } } })
  ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]
}, 60_000)
afterAll(async () => {
  await fx?.close()
})

const url = (path: string): string => `${fx.gw.url}${path}`
const mppx = () =>
  Mppx.create({
    polyfill: false,
    methods: [evm.charge({ account: privateKeyToAccount(payer.privateKey), authorization: { name: fx.chain.token.name, version: fx.chain.token.version }, networks: [31337], maxAtomicAmount: '100000' })],
  })

async function credentialFor(path: string): Promise<string> {
  return mppx().createCredential(await fetch(url(path)))
}

async function send(path: string, credential: string): Promise<{ status: number; problem?: Record<string, unknown>; receipt?: string | null }> {
  const res = await fetch(url(path), { headers: { authorization: credential } })
  const text = await res.text()
  if (res.status === 402) {
    expect(res.headers.get('content-type')).toMatch(/problem\+json/)
    expect(res.headers.get('www-authenticate')).toMatch(/^Payment /)
    return { status: res.status, problem: JSON.parse(text) as Record<string, unknown> }
  }
  return { status: res.status, receipt: res.headers.get('payment-receipt') }
}

async function decide(intentId: string, decision: 'approve' | 'deny'): Promise<number> {
  const res = await fetch(url(`/v1/approvals/${intentId}/${decision}`), {
    method: 'POST',
    headers: { authorization: `Bearer ${TEST_KEYS.admin}`, 'content-type': 'application/json', 'idempotency-key': `${decision}-${intentId}` },
    body: JSON.stringify({ note: `test ${decision}` }),
  })
  await res.arrayBuffer()
  return res.status
}

describe('MPP escalation: payment-action-required, then approve / deny / expire', () => {
  for (const path of ['/paid/upfront', '/paid/weather']) {
    it(`${path}: waits (402 payment-action-required), is approved through the API, then the same credential settles once`, async () => {
      const credential = await credentialFor(path)
      const before = await fx.balance(payer.address)
      const first = await send(path, credential)
      expect(first.status).toBe(402)
      expect(first.problem).toMatchObject({ type: 'https://paymentauth.org/problems/payment-action-required', status: 402 })
      const intentId = first.problem!['intent_id'] as string
      expect((await fx.gw.gateway.store.getIntent(intentId))?.intent.status).toBe('requires_approval')
      // Still waiting: the retry is told the same, and nothing moved.
      expect((await send(path, credential)).problem).toMatchObject({ type: 'https://paymentauth.org/problems/payment-action-required', intent_id: intentId })
      expect(await fx.balance(payer.address)).toBe(before)

      expect(await decide(intentId, 'approve')).toBe(200)
      const paid = await send(path, credential)
      expect(paid.status).toBe(200)
      expect(parseReceipt(paid.receipt!)).toMatchObject({ status: 'success', method: 'evm' })
      expect(await fx.balance(payer.address)).toBe(before - 10_000n)
      const intent = (await fx.gw.gateway.store.getIntent(intentId))!.intent
      expect(intent.status).toBe('succeeded')
      const events = await fx.gw.gateway.store.listEvents(intentId)
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['require_approval', 'authorize']))
      expect(events.find((e) => e.type === 'authorize' && e.actor.startsWith('admin:'))).toBeDefined()
      // A replay after settlement is refused like any other.
      expect((await send(path, credential)).problem).toMatchObject({ type: 'https://paymentauth.org/problems/invalid-challenge' })
      expect(await fx.balance(payer.address)).toBe(before - 10_000n)
    })
  }

  it('settle-after: two concurrent retries of the approved credential settle it once; the approval is never canceled under them', async () => {
    // /paid/slow: the upstream answers after 3 s, so the second retry arrives while the first holds the authorization.
    const credential = await credentialFor('/paid/slow')
    const before = await fx.balance(payer.address)
    const intentId = (await send('/paid/slow', credential)).problem!['intent_id'] as string
    expect(await decide(intentId, 'approve')).toBe(200)
    const first = send('/paid/slow', credential)
    await new Promise((r) => setTimeout(r, 300))
    const answers = await Promise.all([first, send('/paid/slow', credential)])
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1)
    for (const a of answers.filter((x) => x.status !== 200)) expect(a.status).toBeLessThan(500)
    expect((await fx.gw.gateway.store.getIntent(intentId))?.intent.status).toBe('succeeded')
    expect(await fx.balance(payer.address)).toBe(before - 10_000n)
  })

  it('a crafted payload type (an object) is a 402 problem, never a 500', async () => {
    const credential = await credentialFor('/paid/upfront')
    const json = JSON.parse(Buffer.from(credential.replace(/^Payment /, ''), 'base64url').toString('utf8')) as { payload: Record<string, unknown> }
    json.payload['type'] = { toString: 1 }
    const crafted = `Payment ${Buffer.from(JSON.stringify(json)).toString('base64url')}`
    const r = await send('/paid/upfront', crafted)
    expect(r.status).toBe(402)
    expect(r.problem).toMatchObject({ type: 'https://paymentauth.org/problems/verification-failed' })
  })

  it('a denied payment never settles', async () => {
    const credential = await credentialFor('/paid/upfront')
    const before = await fx.balance(payer.address)
    const first = await send('/paid/upfront', credential)
    const intentId = first.problem!['intent_id'] as string
    expect(await decide(intentId, 'deny')).toBe(200)
    const retry = await send('/paid/upfront', credential)
    expect(retry.status).toBe(402)
    expect(retry.problem!['type']).not.toBe('https://paymentauth.org/problems/payment-action-required')
    expect((await fx.gw.gateway.store.getIntent(intentId))?.intent).toMatchObject({ status: 'canceled', status_reason: 'approval_denied' })
    expect(await fx.balance(payer.address)).toBe(before)
  })

  it('an expired approval never settles, and a late approve is refused', async () => {
    const credential = await credentialFor('/paid/weather')
    const before = await fx.balance(payer.address)
    const intentId = (await send('/paid/weather', credential)).problem!['intent_id'] as string
    const g = fx.gw.gateway
    await expireApproval({ store: g.store, destinationsFor: () => [] }, { intentId })
    expect(await decide(intentId, 'approve')).toBeGreaterThanOrEqual(400)
    expect((await send('/paid/weather', credential)).status).toBe(402)
    expect((await g.store.getIntent(intentId))?.intent).toMatchObject({ status: 'canceled', status_reason: 'approval_expired' })
    expect(await fx.balance(payer.address)).toBe(before)
  })
})
