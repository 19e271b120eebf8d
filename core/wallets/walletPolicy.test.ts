import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PaymentIntent } from '../intent/types.js'
import { createAssetRegistry } from '../money/assets.js'
import { createFxQuoter } from '../fx/quoter.js'
import { createTableFxSource } from '../fx/tableSource.js'
import { composePolicies } from '../policy/compose.js'
import type { PolicyEngine } from '../policy/port.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { buildCreateEvent, buildIntent } from '../testing/builders.js'
import { createWallet, revokeWalletConsent, updateWallet, walletView } from './manageWallets.js'
import { createWalletPolicy, crossedThresholds } from './walletPolicy.js'

/** The wallets engine on a real SQLite store (the PostgreSQL half of reservations is in the store contract suite). */

const NOW = new Date('2030-03-15T10:00:00.000Z')
let dir: string
let store: Store
const assets = createAssetRegistry()

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'agentswitch-wallets-'))
  store = openSqliteStore({ path: join(dir, 'w.db') })
  await store.migrate()
  await createWallet({ store, assets, clock: () => NOW }, {
    id: 'wal_1', user_id: 'u1', agent_id: 'agent_1', asset: 'iso4217:USD',
    limits: { per_transaction: '1000', daily: '1500' }, approval_threshold: '800', blocked_categories: ['gambling'],
  })
})
afterEach(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

async function stored(over: Partial<PaymentIntent>): Promise<PaymentIntent> {
  const intent = buildIntent({ merchant_id: 'm1', payer: { agent_id: 'agent_1' }, metadata: {}, ...over })
  expect(await store.insertIntent({ intent, event: buildCreateEvent(intent) })).toEqual({ ok: true })
  return intent
}
const usd = (value: string) => ({ value, asset: 'iso4217:USD' })

describe('wallets policy engine', () => {
  it('reviews above the threshold without reserving, then reserves once approved; hard limits still deny', async () => {
    const policy = createWalletPolicy({ store, clock: () => NOW })
    const big = await stored({ amount: usd('900') })
    expect(await policy.evaluate(big)).toEqual({ decision: 'review', reasons: ['wallet_approval_required'] })
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '0', month: '0' })
    expect(await policy.evaluate(big, { approved: true })).toEqual({ decision: 'allow', reasons: ['wallet_reserved'], constraints: { wallet_id: 'wal_1' } })
    // Idempotent per intent: evaluating again reserves nothing more.
    await policy.evaluate(big, { approved: true })
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '900', month: '900' })
    // Above the per-transaction cap: denied even when approved.
    expect(await policy.evaluate(await stored({ amount: usd('1001') }), { approved: true })).toEqual({ decision: 'deny', reasons: ['per_transaction_limit_exceeded'] })
    // Above the threshold but over the daily cap: denied at once, nobody is asked.
    expect(await policy.evaluate(await stored({ amount: usd('801') }))).toEqual({ decision: 'deny', reasons: ['daily_limit_exceeded'] })
  })

  it('release gives the reservation back; a later engine of a composition that refuses releases it too', async () => {
    const wallets = createWalletPolicy({ store, clock: () => NOW })
    const a = await stored({ amount: usd('700') })
    await wallets.evaluate(a)
    await wallets.release?.(a)
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '0', month: '0' })
    const risk: PolicyEngine = { evaluate: async () => ({ decision: 'review', reasons: ['risk_first_purchase'] }) }
    const b = await stored({ amount: usd('700') })
    expect(await composePolicies([wallets, risk]).evaluate(b)).toEqual({ decision: 'review', reasons: ['risk_first_purchase', 'wallet_reserved'] })
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '0', month: '0' })
  })

  it('uses the FX settlement amount in the wallet asset; another asset without one is refused', async () => {
    const policy = createWalletPolicy({ store, clock: () => NOW })
    const cny = await stored({ amount: { value: '5000', asset: 'iso4217:CNY' }, settlement_amount: usd('700') })
    expect((await policy.evaluate(cny)).decision).toBe('allow')
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '700', month: '700' })
    expect(await policy.evaluate(await stored({ amount: { value: '100', asset: 'iso4217:CNY' } }))).toEqual({ decision: 'deny', reasons: ['wallet_asset_mismatch'] })
  })

  it('without a settlement amount yet, counts a foreign-priced payment at an FX quote made now', async () => {
    const fx = createFxQuoter({ source: createTableFxSource([{ from: 'iso4217:CNY', to: 'iso4217:USD', rate: '0.14' }]), assets, clock: () => NOW })
    const policy = createWalletPolicy({ store, clock: () => NOW, fx })
    const d = await policy.evaluate(await stored({ amount: { value: '5000', asset: 'iso4217:CNY' } }))
    expect(d).toEqual({ decision: 'allow', reasons: ['wallet_reserved', 'wallet_fx_estimate'], constraints: { wallet_id: 'wal_1', wallet_spend: usd('700') } })
    expect(await store.getWalletSpend({ walletId: 'wal_1', now: NOW })).toEqual({ day: '700', month: '700' })
    // A pair the source does not know: refused with its own reason, never a crash.
    expect(await policy.evaluate(await stored({ amount: { value: '100', asset: 'iso4217:JPY' } }))).toEqual({ decision: 'deny', reasons: ['wallet_fx_unavailable'] })
  })

  it('applies categories from metadata, the merchant config and line items; consent; and agents without a wallet', async () => {
    const policy = createWalletPolicy({ store, clock: () => NOW, merchantCategory: (id) => (id === 'casino' ? 'gambling' : undefined) })
    expect(await policy.evaluate(await stored({ merchant_id: 'casino', amount: usd('1') }))).toEqual({ decision: 'deny', reasons: ['category_blocked', 'category:gambling'] })
    // metadata.category adds to the merchant's configured category, never replaces it: an agent
    // cannot name its way past a blocked category.
    expect(await policy.evaluate(await stored({ merchant_id: 'casino', amount: usd('1'), metadata: { category: 'books' } }))).toEqual({ decision: 'deny', reasons: ['category_blocked', 'category:gambling'] })
    expect((await policy.evaluate(await stored({ merchant_id: 'bookshop', amount: usd('1'), metadata: { category: 'gambling' } }))).decision).toBe('deny')
    expect((await policy.evaluate(await stored({ merchant_id: 'bookshop', amount: usd('1'), metadata: { category: 'books' } }))).decision).toBe('allow')
    const li = await stored({ amount: usd('1'), line_items: [{ id: 'l1', quantity: 1, unit_amount: usd('1'), category: 'gambling' }] })
    expect((await policy.evaluate(li)).decision).toBe('deny')
    expect(await policy.evaluate(await stored({ payer: { agent_id: 'agent_x' }, amount: usd('1') }))).toEqual({ decision: 'allow', reasons: ['no_wallet'] })
    await revokeWalletConsent({ store, assets }, 'wal_1')
    expect(await policy.evaluate(await stored({ amount: usd('1') }))).toEqual({ decision: 'deny', reasons: ['wallet_consent_revoked'] })
  })

  it('queues one notification per crossed threshold, once per period, and the view shows spend and room', async () => {
    await updateWallet({ store, assets }, 'wal_1', { approval_threshold: null, notify_thresholds_pct: [50, 100] })
    const policy = createWalletPolicy({ store, clock: () => NOW, notifyDestination: 'wallets' })
    await policy.evaluate(await stored({ amount: usd('750') })) // 50 % of 1500
    const second = await stored({ amount: usd('750') }) // 100 %
    await policy.evaluate(second)
    await policy.release?.(second)
    await policy.evaluate(await stored({ amount: usd('750') })) // 100 % again: already notified this day
    expect(await store.countOutbox()).toMatchObject({ pending: 2 })
    const view = await walletView({ store, clock: () => NOW }, (await store.getWallet('wal_1'))!)
    expect(view).toMatchObject({ spent: { day: '1500', month: '1500' }, remaining: { per_transaction: '1000', day: '0' }, notify_thresholds_pct: [50, 100] })
    expect(view).not.toHaveProperty('approval_threshold')
    expect(crossedThresholds('3', [50], '1', '2')).toEqual([50])
    expect(crossedThresholds('0', [50], '0', '5')).toEqual([])
  })
})
