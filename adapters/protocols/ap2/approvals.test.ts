import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApprovalSweeper } from '../../../core/approvals/sweeper.js'
import { createAssetRegistry } from '../../../core/money/assets.js'
import { approveIntent, denyIntent } from '../../../core/pipeline/approveIntent.js'
import { RailRegistry } from '../../../core/rails/port.js'
import { riskPolicy } from '../../../core/risk/riskPolicy.js'
import type { Store } from '../../../core/store/port.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { processAp2Payment, type Ap2ServiceDeps } from './processAp2Payment.js'
import { createReceiptSigner, generateReceiptKey, verifyReceipt } from './receipts.js'
import { createChallengeIds, createNonceService, storeMandateLedger } from './state.js'
import { buildCheckout, closeMandates, createParties, issueOpenMandates } from './testing.js'

/**
 * Issue 10 acceptance #4 on AP2 (DESIGN §4.3): a payment that risk sends to review is answered
 * with an error receipt `unresolved_constraint` (the intent waits in `requires_approval`); once a
 * person approves it, the shopping agent's retry of the same presentation settles on the Alipay
 * sandbox and gets a Success receipt. A denied and an expired one never settle.
 */
const AUD = 'https://gw.test'
const parties = createParties()
const instrument = { id: '20215000000000000001', type: 'alipay.agreement' }
let dir: string
let store: Store
let harness: RailHarness
let deps: Ap2ServiceDeps

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ap2-approvals-'))
  store = openSqliteStore({ path: join(dir, 's.db') })
  await store.migrate()
  harness = await startRailHarness()
  deps = {
    store,
    assets: createAssetRegistry(),
    rails: new RailRegistry().register(harness.alipay),
    // Every payment is reviewed: the approval path is the only way to pay.
    policy: riskPolicy({ store, config: { rules: [{ type: 'velocity', scope: 'agent', windowSeconds: 3600, max: 0, action: 'review' }] } }),
    destinationsFor: () => [],
    logger: pino({ level: 'silent' }),
    trust: { trustedKeys: [{ role: 'user', jwk: parties.user.publicJwk }], merchants: [{ payee: parties.payee, keys: [{ jwk: parties.merchant.publicJwk }] }], audiences: [AUD] },
    merchants: [{ merchantId: 'm1', payee: parties.payee, checkoutKeys: [{ jwk: parties.merchant.publicJwk }] }],
    signer: createReceiptSigner({ privateJwk: generateReceiptKey(), issuer: AUD }),
    nonces: createNonceService({ mode: 'unique', secret: Buffer.alloc(32), ttlSeconds: 300 }),
    challenges: createChallengeIds(Buffer.alloc(32), 600),
    ledger: storeMandateLedger(store)!,
    instruments: { alipayAgreement: { enabled: true }, x402: { enabled: false, tokens: [] } },
    resourceUrl: `${AUD}/ap2/a2a`,
    clock: () => new Date(),
  }
}, 120_000)
afterAll(async () => {
  await harness?.close()
  await store?.close()
  rmSync(dir, { recursive: true, force: true })
})

function mandates(price: number): { checkoutMandate: string; paymentMandate: string } {
  const open = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'sku', title: 'Sku' }], quantity: 1 }], budget: { currency: 'CNY', max: 100_000 }, recurrence: { frequency: 'ON_DEMAND' } })
  const m = closeMandates(parties, open, { checkout: buildCheckout(parties.payee, [{ sku: 'sku', title: 'Sku', price, quantity: 1 }], { currency: 'CNY' }), instrument, aud: AUD, nonce: `nonce-${Math.random().toString(36).slice(2)}-0123456789` })
  return { checkoutMandate: m.checkoutMandate, paymentMandate: m.paymentMandate }
}

const payments = (): number => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length

async function waiting(price: number): Promise<{ input: { checkoutMandate: string; paymentMandate: string }; intentId: string }> {
  const input = mandates(price)
  const r = await processAp2Payment(deps, input)
  expect(r).toMatchObject({ kind: 'error', error: 'unresolved_constraint', description: expect.stringContaining('velocity_agent_exceeded'), intent: { status: 'requires_approval' } })
  if (r.kind !== 'error') throw new Error('unreachable')
  expect(verifyReceipt(r.paymentReceipt, deps.signer.jwks())).toMatchObject({ ok: true, payload: { status: 'Error', error: 'unresolved_constraint' } })
  return { input, intentId: r.intent!.id }
}

describe('AP2 escalation: unresolved_constraint until a person decides', () => {
  it('waits, a retry still waits, approved, then the retry settles with a Success receipt', async () => {
    const before = payments()
    const { input, intentId } = await waiting(4_200)
    expect(await processAp2Payment(deps, input)).toMatchObject({ kind: 'error', error: 'unresolved_constraint' })
    expect(payments()).toBe(before)
    expect(await approveIntent({ store, policy: deps.policy }, { intentId, actor: 'admin:ops' })).toMatchObject({ kind: 'approved' })
    const r = await processAp2Payment(deps, input)
    expect(r).toMatchObject({ kind: 'success', intent: { id: intentId, status: 'succeeded' } })
    if (r.kind !== 'success') return
    expect(verifyReceipt(r.paymentReceipt, deps.signer.jwks())).toMatchObject({ ok: true, payload: { status: 'Success', payment_id: intentId } })
    expect(payments()).toBe(before + 1)
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).at(-1)).toMatchObject({ amount: '4200' })
    // A replay afterwards is the same success, never a second charge.
    expect(await processAp2Payment(deps, input)).toMatchObject({ kind: 'success' })
    expect(payments()).toBe(before + 1)
  })

  it('denied: the retry gets payment_declined (approval_denied) and nothing is paid', async () => {
    const before = payments()
    const { input, intentId } = await waiting(4_300)
    await denyIntent({ store, policy: deps.policy }, { intentId, actor: 'merchant:m1' })
    expect(await processAp2Payment(deps, input)).toMatchObject({ kind: 'error', error: 'payment_declined', description: expect.stringContaining('approval_denied') })
    expect(payments()).toBe(before)
  })

  it('expired: the retry gets payment_declined (approval_expired) and nothing is paid', async () => {
    const before = payments()
    const { input, intentId } = await waiting(4_400)
    const sweeper = createApprovalSweeper({ store, policy: deps.policy }, { intervalMs: 1000, ttlSeconds: 60 })
    expect(await sweeper.runOnce(new Date(Date.now() + 61_000))).toBeGreaterThanOrEqual(1)
    expect((await store.getIntent(intentId))!.intent.status_reason).toBe('approval_expired')
    expect(await processAp2Payment(deps, input)).toMatchObject({ kind: 'error', error: 'payment_declined', description: expect.stringContaining('approval_expired') })
    expect(payments()).toBe(before)
  })
})
