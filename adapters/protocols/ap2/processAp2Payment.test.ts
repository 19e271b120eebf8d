import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAssetRegistry } from '../../../core/money/assets.js'
import { reconcileIntent } from '../../../core/pipeline/settleIntent.js'
import type { PolicyEngine } from '../../../core/policy/port.js'
import { RailRegistry } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import { createScriptedFakeRail } from '../../../core/testing/fakeRail.js'
import { processAp2Payment, type Ap2ServiceDeps } from './processAp2Payment.js'
import { createReceiptSigner, generateReceiptKey, verifyReceipt } from './receipts.js'
import { releaseIfFailed } from './receiptsForIntent.js'
import { createChallengeIds, createNonceService, storeMandateLedger } from './state.js'
import { buildCheckout, closeMandates, createParties, issueOpenMandates } from './testing.js'

/**
 * The payment service's decisions with a scripted FAKE rail (the real rails are exercised over
 * HTTP in ap2.e2e.test.ts): what happens to the budget reservation when the rail declines, when
 * its outcome is unknown and later fails, and when policy wants a person to decide.
 */
const AUD = 'https://gw.test'
const parties = createParties()
const instrument = { id: '20215000000000000001', type: 'alipay.agreement' }
let dir: string
let store: Store

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ap2-service-'))
  store = openSqliteStore({ path: join(dir, 's.db') })
  await store.migrate()
})
afterAll(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

function deps(rail: ReturnType<typeof createScriptedFakeRail>, policy?: PolicyEngine): Ap2ServiceDeps {
  const signer = createReceiptSigner({ privateJwk: generateReceiptKey(), issuer: AUD })
  return {
    store,
    assets: createAssetRegistry(),
    rails: new RailRegistry().register(rail),
    policy: policy ?? { evaluate: async () => ({ decision: 'allow' }) },
    destinationsFor: () => [],
    logger: pino({ level: 'silent' }),
    trust: { trustedKeys: [{ role: 'user', jwk: parties.user.publicJwk }], merchants: [{ payee: parties.payee, keys: [{ jwk: parties.merchant.publicJwk }] }], audiences: [AUD] },
    merchants: [{ merchantId: 'm1', payee: parties.payee, checkoutKeys: [{ jwk: parties.merchant.publicJwk }] }],
    signer,
    nonces: createNonceService({ mode: 'unique', secret: Buffer.alloc(32), ttlSeconds: 300 }),
    challenges: createChallengeIds(Buffer.alloc(32), 600),
    ledger: storeMandateLedger(store)!,
    instruments: { alipayAgreement: { enabled: true }, x402: { enabled: false, tokens: [] } },
    resourceUrl: `${AUD}/ap2/a2a`,
    clock: () => new Date(),
  }
}

function presentation(price: number) {
  const open = issueOpenMandates(parties, {
    requirements: [{ acceptable: [{ id: 'sku', title: 'Sku' }], quantity: 1 }],
    budget: { currency: 'CNY', max: 10_000 },
    recurrence: { frequency: 'ON_DEMAND' },
  })
  const pay = (p: number) => closeMandates(parties, open, { checkout: buildCheckout(parties.payee, [{ sku: 'sku', title: 'Sku', price: p, quantity: 1 }], { currency: 'CNY' }), instrument, aud: AUD, nonce: `nonce-${Math.random().toString(36).slice(2)}-0123456789` })
  return { open, first: pay(price), next: pay }
}

/** The budget ledger of an open payment mandate (keyed by sha-256 of its issuer-signed JWT). */
const spent = async (openPayment: string): Promise<string[]> =>
  (await store.getMandateSpend(createHash('sha256').update(openPayment.split('~')[0]!).digest('base64url'))).map((r) => r.amount)

describe('processAp2Payment: budget reservations follow the rail and policy outcome', () => {
  it('a rail decline returns a payment_declined receipt and gives the budget back', async () => {
    const rail = createScriptedFakeRail({ settle: [{ status: 'declined', code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' }] })
    const d = deps(rail)
    const p = presentation(6_000)
    const r = await processAp2Payment(d, { checkoutMandate: p.first.checkoutMandate, paymentMandate: p.first.paymentMandate })
    expect(r).toMatchObject({ kind: 'error', error: 'payment_declined', description: expect.stringMatching(/ACQ.BUYER_BALANCE_NOT_ENOUGH/) })
    if (r.kind !== 'error') return
    expect(verifyReceipt(r.paymentReceipt, d.signer.jwks())).toMatchObject({ ok: true, payload: { status: 'Error', error: 'payment_declined', payment_id: r.intent!.id } })
    expect(await spent(p.open.openPayment)).toEqual([])
  })

  it('an unknown rail outcome answers pending and keeps the reservation until the intent is known to have failed', async () => {
    const rail = createScriptedFakeRail({ settle: [new Error('socket hang up')], query: [{ status: 'declined', code: 'TRADE_CLOSED' }] })
    const d = deps(rail)
    const p = presentation(6_000)
    const r = await processAp2Payment(d, { checkoutMandate: p.first.checkoutMandate, paymentMandate: p.first.paymentMandate })
    expect(r).toMatchObject({ kind: 'pending', intent: { status: 'processing' } })
    if (r.kind !== 'pending') return
    expect(await spent(p.open.openPayment)).toEqual(['6000'])
    // While reserved, a second ¥60 would exceed the ¥100 budget.
    const m2 = p.next(6_000)
    const second = await processAp2Payment(d, { checkoutMandate: m2.checkoutMandate, paymentMandate: m2.paymentMandate })
    expect(second).toMatchObject({ kind: 'error', error: 'unresolved_constraint', description: expect.stringMatching(/spent 6000 \+ 6000/) })
    const { intent } = await reconcileIntent({ store }, { intentId: r.intent.id, rail, actor: 'system:test' })
    expect(intent.status).toBe('failed')
    await releaseIfFailed(d, intent)
    expect(await spent(p.open.openPayment)).toEqual([])
  })

  it('policy review becomes unresolved_constraint (escalate to a human-present flow) and gives the budget back', async () => {
    const rail = createScriptedFakeRail({})
    const d = deps(rail, { evaluate: async () => ({ decision: 'review', reasons: ['new_merchant'] }) })
    const p = presentation(1_000)
    const r = await processAp2Payment(d, { checkoutMandate: p.first.checkoutMandate, paymentMandate: p.first.paymentMandate })
    expect(r).toMatchObject({ kind: 'error', error: 'unresolved_constraint', description: expect.stringMatching(/new_merchant/), intent: { status: 'requires_approval' } })
    expect(rail.calls).toEqual([])
    expect(await spent(p.open.openPayment)).toEqual([])
  })
})
