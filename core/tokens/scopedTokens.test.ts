import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ConfigError, parseConfig } from '../config/load.js'
import { isGatewayError } from '../errors/gatewayError.js'
import { createApprovalSweeper } from '../approvals/sweeper.js'
import type { PaymentIntent } from '../intent/types.js'
import { createAssetRegistry } from '../money/assets.js'
import { denyIntent } from '../pipeline/approveIntent.js'
import { processPayment } from '../pipeline/processPayment.js'
import { createReconciler } from '../pipeline/reconciler.js'
import { reconcileIntent } from '../pipeline/settleIntent.js'
import { transitionIntent } from '../pipeline/transitionIntent.js'
import { composePolicies } from '../policy/compose.js'
import type { PolicyEngine } from '../policy/port.js'
import { RailRegistry, type RailAdapter, type RailOutcome } from '../rails/port.js'
import { openPostgresStore } from '../store/postgres/postgresStore.js'
import type { Store } from '../store/port.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { createTestSchema } from '../testing/pg.js'
import { revokeWalletConsent, updateWallet } from '../wallets/manageWallets.js'
import { createWalletPolicy } from '../wallets/walletPolicy.js'
import type { WalletRecord } from '../wallets/types.js'
import {
  createScopedTokenPolicy,
  getScopedToken,
  intentMovedNoMoney,
  issueScopedToken,
  recordScopedTokenUse,
  redeemScopedToken,
  releaseScopedTokenIfUnpaid,
  releaseScopedTokenOfIntent,
  revokeScopedToken,
  scopedTokenSettings,
  type RedeemScopedTokenReturnType,
  type ScopedTokenDoc,
  type ScopedTokenSettings,
} from './index.js'

const pgUrl = inject('pgUrl')
const SETTINGS: ScopedTokenSettings = { keys: [{ id: 'k1', secret: 'test-secret-k1-0123456789abcdef0123456789' }], maxTtlSeconds: 86_400 }
const assets = createAssetRegistry()
const CNY = (value: string) => ({ value, asset: 'iso4217:CNY' })

function wallet(id: string, agentId: string, extra: Partial<WalletRecord> = {}): WalletRecord {
  const now = new Date()
  return {
    id,
    userId: 'user_1',
    agentId,
    asset: 'iso4217:CNY',
    limits: {},
    merchantAllowList: [],
    blockedCategories: [],
    notifyThresholdsPct: [50, 80, 100],
    funding: { instrument: { type: 'alipay.agreement', ref: '20215000000000000001' } },
    consent: 'granted',
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...extra,
  }
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (e) {
    if (isGatewayError(e)) return e.code
    throw e
  }
}

function suite(name: string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`scoped tokens (${name})`, () => {
    let store: Store
    let close: () => Promise<void>
    let clockAt = Date.now()
    const clock = () => new Date(clockAt)
    const deps = () => ({ store, assets, settings: SETTINGS, clock })
    const pay = (amount = '3500', extra: { merchant_id?: string; agent?: string | undefined; category?: string } = {}) => ({
      merchant_id: extra.merchant_id ?? 'm1',
      amount: CNY(amount),
      ...(extra.agent !== undefined ? { payer: { agent_id: extra.agent } } : {}),
      ...(extra.category ? { metadata: { category: extra.category } } : {}),
    })

    beforeAll(async () => {
      ;({ store, close } = await open())
      await store.migrate()
      await store.insertWallet(wallet('wal_a1', 'agent_1'))
      await store.insertWallet(wallet('wal_a2', 'agent_2'))
      await store.insertWallet(wallet('wal_nofund', 'agent_3', { funding: undefined }))
      await store.insertWallet(wallet('wal_regrant', 'agent_4'))
    })
    afterAll(async () => close?.())

    const issue = (o: Partial<Parameters<typeof issueScopedToken>[1]> = {}) =>
      issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_1' }, merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 600, ...o })

    it('issues a signed token, stores only its hash, and redeems it exactly once', async () => {
      const { token, view } = await issue({ category: 'flowers' })
      expect(token).toMatch(/^gwt_[0-9A-Z]{26}\.k1\.[A-Za-z0-9_-]{43}$/)
      expect(view).toMatchObject({ status: 'active', wallet_id: 'wal_a1', agent_id: 'agent_1', merchant_id: 'm1', max_amount: CNY('5000'), category: 'flowers' })
      const rec = await store.getToken(view.id)
      expect(JSON.stringify(rec)).not.toContain(token.split('.')[2])
      const r = await redeemScopedToken(deps(), { token, intent: pay('3500', { agent: 'agent_1', category: 'flowers' }), via: 'gateway', redemptionKey: 'k-1' })
      expect(r).toMatchObject({ tokenId: view.id, resumed: false, generation: 0, instrument: { type: 'alipay.agreement', ref: '20215000000000000001' }, payer: { agent_id: 'agent_1', user_id: 'user_1', wallet_id: 'wal_a1' } })
      expect(r.authorization).toMatchObject({ type: 'gateway.token', constraints: { token_id: view.id, max_amount: CNY('5000'), merchant_id: 'm1', category: 'flowers' } })
      // The same presentation may resume; any other is refused.
      expect((await redeemScopedToken(deps(), { token, intent: pay('3500', { category: 'flowers' }), redemptionKey: 'k-1' })).resumed).toBe(true)
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('3500', { category: 'flowers' }), redemptionKey: 'k-2' }))).toBe('GW_TOKEN_USED')
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('3500', { category: 'flowers' }) }))).toBe('GW_TOKEN_USED')
      expect(await recordScopedTokenUse(deps(), { tokenId: view.id, redemptionKey: 'k-1', intentId: 'pi_X' })).toBe(true)
      expect(await getScopedToken(deps(), { tokenId: view.id })).toMatchObject({ status: 'used', used_by_intent: 'pi_X' })
    })

    it('issues exactly once per request key: a retry returns the same token, another body conflicts', async () => {
      const rk = { scope: 'agent:agent_1 POST /v1/tokens', key: `idem-${name}`, fingerprint: 'f1' }
      const all = await Promise.all(Array.from({ length: 5 }, () => issue({ requestKey: rk })))
      expect(new Set(all.map((r) => r.token)).size).toBe(1)
      expect(all.filter((r) => !r.replayed)).toHaveLength(1)
      expect(await code(issue({ requestKey: { ...rk, fingerprint: 'f2' } }))).toBe('GW_IDEMPOTENCY_CONFLICT')
      expect(await code(redeemScopedToken(deps(), { token: all[0]!.token, intent: pay() }))).toBe('ok')
    })

    it('of 20 concurrent presentations exactly one wins', async () => {
      const { token } = await issue()
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: `race-${i}` }))))
      expect(results.filter((r) => r === 'ok')).toHaveLength(1)
      expect(results.filter((r) => r === 'GW_TOKEN_USED')).toHaveLength(19)
    })

    it('refuses forged, tampered and foreign tokens with GW_TOKEN_INVALID', async () => {
      const { token, view } = await issue()
      const [id, kid, sig] = token.split('.') as [string, string, string]
      const flipped = sig.slice(0, 10) + (sig[10] === 'A' ? 'B' : 'A') + sig.slice(11)
      expect(await code(redeemScopedToken(deps(), { token: `${id}.${kid}.${flipped}`, intent: pay() }))).toBe('GW_TOKEN_INVALID')
      expect(await code(redeemScopedToken(deps(), { token: `${id}.k9.${sig}`, intent: pay() }))).toBe('GW_TOKEN_INVALID')
      expect(await code(redeemScopedToken(deps(), { token: 'gwt_nope', intent: pay() }))).toBe('GW_TOKEN_INVALID')
      expect(await code(redeemScopedToken(deps(), { token: `gwt_01JD3Q8Z8X3M4V7N2B6C9D0E1F.${kid}.${sig}`, intent: pay() }))).toBe('GW_TOKEN_INVALID')
      // Another gateway's key (or a rotated-out key) does not verify.
      const other = { ...deps(), settings: { keys: [{ id: 'k1', secret: 'another-secret-0123456789abcdef01234567' }], maxTtlSeconds: 60 } }
      expect(await code(redeemScopedToken(other, { token, intent: pay() }))).toBe('GW_TOKEN_INVALID')
      // A scope changed in the database no longer verifies.
      const rec = (await store.getToken(view.id))!
      const doc = rec.doc as { claims: { max_amount: { value: string } } }
      doc.claims.max_amount.value = '999999'
      await store.transitionToken({ id: view.id, from: 'active', to: 'active', doc })
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('900000') }))).toBe('GW_TOKEN_INVALID')
    })

    it('rotates keys: old tokens verify while their key is listed, new ones use the active key', async () => {
      const { token: old } = await issue()
      const rotated = { ...deps(), settings: { keys: [...SETTINGS.keys, { id: 'k2', secret: 'second-secret-0123456789abcdef012345678' }], activeKeyId: 'k2', maxTtlSeconds: 600 } }
      const { token: fresh } = await issueScopedToken(rotated, { issuer: { kind: 'agent', id: 'agent_1' }, merchantId: 'm1', maxAmount: CNY('100'), expiresInSeconds: 60 })
      expect(fresh.split('.')[1]).toBe('k2')
      expect(await code(redeemScopedToken(rotated, { token: old, intent: pay() }))).toBe('ok')
      expect(await code(redeemScopedToken(deps(), { token: fresh, intent: pay('100') }))).toBe('GW_TOKEN_INVALID')
    })

    it('checks merchant, agent, asset, amount and category (GW_TOKEN_SCOPE_MISMATCH) without consuming the token', async () => {
      const { token } = await issue({ category: 'flowers' })
      for (const bad of [
        pay('3500', { merchant_id: 'm2', category: 'flowers' }),
        pay('3500', { agent: 'agent_2', category: 'flowers' }),
        pay('5001', { category: 'flowers' }),
        { ...pay('3500', { category: 'flowers' }), amount: { value: '3500', asset: 'iso4217:USD' } },
        pay('3500', { category: 'books' }),
        pay('3500'),
      ]) {
        expect(await code(redeemScopedToken(deps(), { token, intent: bad }))).toBe('GW_TOKEN_SCOPE_MISMATCH')
      }
      // The merchant's configured category counts when the payment states none.
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('5000'), merchantCategory: 'flowers' }))).toBe('ok')
    })

    it('refuses expired, revoked, consent-revoked and unfunded', async () => {
      const { token: t1 } = await issue({ expiresInSeconds: 5 })
      clockAt += 6_000
      expect(await code(redeemScopedToken(deps(), { token: t1, intent: pay() }))).toBe('GW_TOKEN_EXPIRED')
      const { token: t2, view: v2 } = await issue()
      expect((await revokeScopedToken(deps(), { tokenId: v2.id, actor: 'agent:agent_1', agentId: 'agent_1' })).status).toBe('revoked')
      expect((await revokeScopedToken(deps(), { tokenId: v2.id, actor: 'agent:agent_1' })).status).toBe('revoked')
      expect(await code(redeemScopedToken(deps(), { token: t2, intent: pay() }))).toBe('GW_TOKEN_REVOKED')
      expect(await code(revokeScopedToken(deps(), { tokenId: v2.id, actor: 'agent:agent_2', agentId: 'agent_2' }))).toBe('GW_NOT_FOUND')

      const { token: t3 } = await issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_2' }, merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 60 })
      const { token: t4 } = await issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_2' }, merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 60 })
      const w = (await store.getWallet('wal_a2'))!
      expect((await store.updateWallet({ ...w, consent: 'revoked', consentRevokedAt: new Date(), version: w.version + 1 }, w.version)).ok).toBe(true)
      expect(await code(redeemScopedToken(deps(), { token: t3, intent: pay() }))).toBe('GW_TOKEN_REVOKED')
      expect(await code(redeemScopedToken(deps(), { token: t4, intent: pay() }))).toBe('GW_TOKEN_REVOKED')
      expect(await code(issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_2' }, merchantId: 'm1', maxAmount: CNY('1'), expiresInSeconds: 60 }))).toBe('GW_TOKEN_REVOKED')

      const { token: t5 } = await issueScopedToken(deps(), { issuer: { kind: 'admin', id: 'ops' }, walletId: 'wal_nofund', merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 60 })
      expect(await code(redeemScopedToken(deps(), { token: t5, intent: pay() }))).toBe('GW_TOKEN_UNFUNDED')
    })

    it('validates issuing: amounts, assets, expiry bounds, wallet ownership', async () => {
      expect(await code(issue({ maxAmount: CNY('0') }))).toBe('GW_AMOUNT_INVALID')
      expect(await code(issue({ maxAmount: CNY('12.5') }))).toBe('GW_AMOUNT_INVALID')
      expect(await code(issue({ maxAmount: { value: '1', asset: 'iso4217:ZZZ' } }))).toBe('GW_ASSET_UNKNOWN')
      expect(await code(issue({ expiresInSeconds: 86_401 }))).toBe('GW_SCHEMA_INVALID')
      expect(await code(issue({ expiresInSeconds: undefined, expiresAt: new Date(clockAt - 1000).toISOString() }))).toBe('GW_SCHEMA_INVALID')
      expect(await code(issue({ expiresAt: new Date(clockAt + 1000).toISOString() }))).toBe('GW_SCHEMA_INVALID')
      expect(await code(issue({ walletId: 'wal_a2' }))).toBe('GW_NOT_FOUND')
      expect(await code(issueScopedToken(deps(), { issuer: { kind: 'admin', id: 'ops' }, merchantId: 'm1', maxAmount: CNY('1'), expiresInSeconds: 60 }))).toBe('GW_SCHEMA_INVALID')
    })

    it('policy: a gateway.token intent must hold its token; a denied or expired one gives it back', async () => {
      const policy = createScopedTokenPolicy(deps())
      const { token, view } = await issue()
      const r = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'pol-1' })
      const intent = (id: string, status = 'created') => ({ id, status, authorization: r.authorization }) as unknown as PaymentIntent
      expect(await policy.evaluate({ id: 'pi_other', authorization: { type: 'gateway.api_key' } } as unknown as PaymentIntent)).toEqual({ decision: 'allow' })
      expect((await policy.evaluate(intent('pi_A'))).decision).toBe('allow')
      expect((await policy.evaluate(intent('pi_A'))).decision).toBe('allow')
      expect(await policy.evaluate(intent('pi_B'))).toEqual({ decision: 'deny', reasons: ['scoped_token_bound_to_other_intent'] })
      expect((await getScopedToken(deps(), { tokenId: view.id })).used_by_intent).toBe('pi_A')
      // Another intent's end gives nothing back; a parked one neither; the holder's cancel does.
      await policy.release!(intent('pi_B', 'canceled'))
      await policy.release!(intent('pi_A', 'requires_approval'))
      expect((await getScopedToken(deps(), { tokenId: view.id })).status).toBe('used')
      await policy.release!(intent('pi_A', 'canceled'))
      expect((await getScopedToken(deps(), { tokenId: view.id })).status).toBe('active')
      // An intent claiming a token nobody redeemed is denied.
      expect(await policy.evaluate(intent('pi_C'))).toEqual({ decision: 'deny', reasons: ['scoped_token_not_redeemed'] })
    })

    it('gives the token back only when its payment provably moved no money', async () => {
      const { token, view } = await issue()
      await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'rel-1' })
      const base = { id: 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F', status: 'failed', route: { rail: 'alipay', attempts: [{ rail: 'alipay', at: new Date().toISOString(), outcome: 'unknown' }] } } as unknown as PaymentIntent
      expect(intentMovedNoMoney(base)).toBe(false)
      expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'rel-1', intent: base })).toBe(false)
      const declined = { ...base, route: { rail: 'alipay', attempts: [{ rail: 'alipay', at: new Date().toISOString(), outcome: 'declined' }] } } as PaymentIntent
      expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'other', intent: declined })).toBe(false)
      expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'rel-1', intent: declined })).toBe(true)
      expect((await getScopedToken(deps(), { tokenId: view.id })).status).toBe('active')
      const again = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'rel-2' })
      expect(again.generation).toBe(1)
      expect(intentMovedNoMoney({ ...base, status: 'succeeded' } as PaymentIntent)).toBe(false)
    })

    // --- review fixes: stale read-then-write, consent re-grant, TTL overflow, category precedence ---

    it('a stale release cannot re-activate a token another presentation redeemed since (redeem K1 → release A → redeem K2 → stale release B)', async () => {
      const { token, view } = await issue()
      await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'K1' })
      const staleK1 = (await store.getToken(view.id))!
      const declined = { id: 'pi_stale', status: 'failed', route: { rail: 'alipay', attempts: [{ rail: 'alipay', at: new Date().toISOString(), outcome: 'declined' }] } } as unknown as PaymentIntent
      expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'K1', intent: declined })).toBe(true)
      await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'K2' })
      // B read the token while K1 held it, and writes only now.
      const staleStore = { ...deps(), store: Object.assign(Object.create(store) as Store, { getToken: async () => staleK1 }) }
      expect(await releaseScopedTokenIfUnpaid(staleStore, { tokenId: view.id, redemptionKey: 'K1', intent: declined })).toBe(false)
      expect(await recordScopedTokenUse(staleStore, { tokenId: view.id, redemptionKey: 'K1', intentId: 'pi_stale' })).toBe(false)
      const after = (await store.getToken(view.id))!
      expect(after.state).toBe('used')
      expect((after.doc as { redemption?: { key: string; intent_id?: string } }).redemption).toMatchObject({ key: 'K2' })
      expect((after.doc as { redemption?: { intent_id?: string } }).redemption?.intent_id).toBeUndefined()
      expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'K3' }))).toBe('GW_TOKEN_USED')
    })

    it('policy bind: a stale read never binds a newer redemption, nor rebinds one bound to another intent', async () => {
      const { token, view } = await issue()
      const r = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'bind-1' })
      const stale = (await store.getToken(view.id))!
      const intent = (id: string) => ({ id, status: 'created', authorization: r.authorization }) as unknown as PaymentIntent
      // The first getToken answers the stale (unbound) read; later ones the real store.
      const staleOnce = () => {
        let first = true
        const s = Object.assign(Object.create(store) as Store, { getToken: async (id: string) => (first ? ((first = false), stale) : store.getToken(id)) })
        return createScopedTokenPolicy({ ...deps(), store: s })
      }
      expect((await createScopedTokenPolicy(deps()).evaluate(intent('pi_X'))).decision).toBe('allow')
      expect(await staleOnce().evaluate(intent('pi_Y'))).toEqual({ decision: 'deny', reasons: ['scoped_token_bound_to_other_intent'] })
      expect((await getScopedToken(deps(), { tokenId: view.id })).used_by_intent).toBe('pi_X')
    })

    it('re-granting wallet consent does not revive tokens issued before the revocation', async () => {
      const wdeps = { store, assets, clock }
      const issue4 = () => issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_4' }, merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 600 })
      const { token: before } = await issue4()
      await revokeWalletConsent(wdeps, 'wal_regrant')
      clockAt += 1000
      const regranted = await updateWallet(wdeps, 'wal_regrant', { consent: 'granted' })
      expect(regranted.consent).toBe('granted')
      expect(regranted.consentRevokedAt).toBeInstanceOf(Date)
      expect(await code(redeemScopedToken(deps(), { token: before, intent: pay() }))).toBe('GW_TOKEN_REVOKED')
      const { token: fresh } = await issue4()
      expect(await code(redeemScopedToken(deps(), { token: fresh, intent: pay() }))).toBe('ok')
    })

    it('refuses an expiry past any representable date with GW_SCHEMA_INVALID, never a crash', async () => {
      expect(await code(issue({ expiresInSeconds: 1e16 }))).toBe('GW_SCHEMA_INVALID')
      expect(await code(issue({ expiresInSeconds: Number.MAX_SAFE_INTEGER }))).toBe('GW_SCHEMA_INVALID')
      const huge = { ...deps(), settings: { ...SETTINGS, maxTtlSeconds: 1e16 } }
      expect(await code(issueScopedToken(huge, { issuer: { kind: 'agent', id: 'agent_1' }, merchantId: 'm1', maxAmount: CNY('1'), expiresInSeconds: 1e15 }))).toBe('GW_SCHEMA_INVALID')
    })

    // --- a token is given back whenever its payment ends without charging, by whichever path ---

    describe('given back when its payment ends unpaid, by whichever path', () => {
      const tokenPolicy = () => createScopedTokenPolicy(deps())
      const walletsThenTokens = () => composePolicies([createWalletPolicy({ store }), tokenPolicy()])
      const status = async (tokenId: string) => (await getScopedToken(deps(), { tokenId })).status
      const released = async (tokenId: string) => ((await store.getToken(tokenId))!.doc as ScopedTokenDoc).released ?? []
      const succeeds = (): RailOutcome => ({ status: 'succeeded', reference: `T-${Math.random().toString(36).slice(2, 10)}`, settledAt: new Date().toISOString() })
      /** The rail call times out (outcome unknown); the rail's answer for the key, queried later, is a decline. */
      const unknownThenDeclined = () => createScriptedFakeRail({ settle: [{ status: 'unknown', code: 'ETIMEDOUT' }], query: [{ status: 'declined', code: 'TRADE_CLOSED' }] })
      // What the adapters do: one intent per presentation and generation of the token (ACP's dedupe key).
      const payWith = (r: RedeemScopedTokenReturnType, rail: RailAdapter, policy: PolicyEngine, amount = '3500') =>
        processPayment(
          { store, assets, rails: new RailRegistry().register(rail), policy },
          {
            merchantId: 'm1',
            actor: `agent:${r.payer.agent_id}`,
            origin: { protocol: 'gateway', version: 'v1', ref: `${r.redemptionKey}#${r.generation}` },
            payer: r.payer,
            amount: CNY(amount),
            instrument: r.instrument,
            authorization: r.authorization,
            dedupeKey: `${r.redemptionKey}#${r.generation}`,
            credential: r.credential,
          },
        )
      const reconcile = async (intentId: string, rail: RailAdapter) => (await reconcileIntent({ store }, { intentId, rail, actor: 'system:reconciler' })).intent

      beforeAll(async () => {
        await store.insertWallet(wallet('wal_appr', 'agent_5', { approvalThreshold: '1000' }))
      })

      it('a payment left processing (unknown rail outcome) and failed by the reconciler gives its token back, exactly once; the next payment settles', async () => {
        const { token, view } = await issue()
        const r1 = await redeemScopedToken(deps(), { token, intent: pay(), via: 'gateway', redemptionKey: 'recon-1' })
        const rail = unknownThenDeclined()
        const first = await payWith(r1, rail, tokenPolicy())
        expect(first).toMatchObject({ kind: 'processing', intent: { status: 'processing' } })
        // What the adapter does right after: nothing is given back while the outcome is unknown.
        expect(await recordScopedTokenUse(deps(), { tokenId: view.id, redemptionKey: 'recon-1', intentId: first.intent.id })).toBe(true)
        expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'recon-1', intent: first.intent })).toBe(false)
        expect(await status(view.id)).toBe('used')
        expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'recon-early' }))).toBe('GW_TOKEN_USED')

        const reconciler = createReconciler({ store, rails: new RailRegistry().register(rail) }, { intervalMs: 60_000, minAgeMs: 0 })
        expect(await reconciler.runOnce()).toBe(1)
        const failed = (await store.getIntent(first.intent.id))!.intent
        expect(failed).toMatchObject({ status: 'failed', status_reason: 'TRADE_CLOSED' })
        expect(failed.route!.attempts.map((a) => a.outcome)).toEqual(['unknown', 'declined'])
        expect(rail.calls.map((c) => c.op)).toEqual(['settle', 'query'])
        expect(await status(view.id)).toBe('active')
        // Exactly once: the same end gives nothing back a second time.
        expect(await releaseScopedTokenOfIntent(deps(), failed)).toBe(false)
        await tokenPolicy().release!(failed)
        expect(await released(view.id)).toEqual([expect.objectContaining({ intent_id: failed.id, reason: 'TRADE_CLOSED' })])

        // Usable again, once: of two presentations at the same moment one wins, and its payment settles.
        const keys = ['recon-2', 'recon-3']
        const results = await Promise.all(keys.map((k) => code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: k }))))
        expect([...results].sort()).toEqual(['GW_TOKEN_USED', 'ok'])
        const r2 = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: keys[results.indexOf('ok')] })
        expect(r2).toMatchObject({ resumed: true, generation: 1 })
        const ok = createScriptedFakeRail({ settle: [succeeds()] })
        const second = await payWith(r2, ok, tokenPolicy())
        expect(second).toMatchObject({ kind: 'settled', intent: { status: 'succeeded' } })
        expect(second.intent.id).not.toBe(failed.id)
        expect(await getScopedToken(deps(), { tokenId: view.id })).toMatchObject({ status: 'used', used_by_intent: second.intent.id })
        // The first payment's end can no longer give it back.
        expect(await releaseScopedTokenOfIntent(deps(), failed)).toBe(false)
        expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'recon-1', intent: failed })).toBe(false)
        expect(await status(view.id)).toBe('used')
        expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'recon-4' }))).toBe('GW_TOKEN_USED')
      })

      it('a payment that ended unpaid while its token was not given back (the process died in between) frees the token at its next presentation', async () => {
        const { token, view } = await issue()
        const r1 = await redeemScopedToken(deps(), { token, intent: pay(), via: 'gateway', redemptionKey: 'crash-1' })
        const rail = unknownThenDeclined()
        const first = await payWith(r1, rail, tokenPolicy())
        expect(await recordScopedTokenUse(deps(), { tokenId: view.id, redemptionKey: 'crash-1', intentId: first.intent.id })).toBe(true)
        // The reconciler fails the intent, and the process dies before the token is given back.
        const dying = new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'transitionToken') return async () => Promise.reject(new Error('the process died (test)'))
            const v = Reflect.get(target, prop, receiver) as unknown
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
          },
        })
        await reconcileIntent({ store: dying }, { intentId: first.intent.id, rail, actor: 'system:reconciler' }).catch(() => undefined)
        expect((await store.getIntent(first.intent.id))!.intent).toMatchObject({ status: 'failed', status_reason: 'TRADE_CLOSED' })
        expect(await status(view.id)).toBe('used')
        // The next presentation finds the payment ended without moving money, gives the token back, and takes it.
        const r2 = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'crash-2' })
        expect(r2).toMatchObject({ resumed: false, generation: 1 })
        expect(await released(view.id)).toEqual([expect.objectContaining({ intent_id: first.intent.id, reason: 'TRADE_CLOSED' })])
        const second = await payWith(r2, createScriptedFakeRail({ settle: [succeeds()] }), tokenPolicy())
        expect(second).toMatchObject({ kind: 'settled', intent: { status: 'succeeded' } })
        expect(await recordScopedTokenUse(deps(), { tokenId: view.id, redemptionKey: 'crash-2', intentId: second.intent.id })).toBe(true)
        // Held for a payment that moved money, it is never freed that way.
        expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'crash-3' }))).toBe('GW_TOKEN_USED')
        expect(await released(view.id)).toHaveLength(1)
      })

      it('a payment waiting for approval gives its token back when the approval expires (sweeper), is denied, or is canceled', async () => {
        const issue5 = () => issueScopedToken(deps(), { issuer: { kind: 'agent', id: 'agent_5' }, merchantId: 'm1', maxAmount: CNY('5000'), expiresInSeconds: 600 })
        const untouched = createScriptedFakeRail({})
        const parkedWith = async (token: string, key: string) => {
          const r = await redeemScopedToken(deps(), { token, intent: pay('3500'), redemptionKey: key })
          const parked = await payWith(r, untouched, walletsThenTokens())
          expect(parked).toMatchObject({ kind: 'requires_approval', intent: { status: 'requires_approval' } })
          return parked.intent
        }
        const a = await issue5()
        const pa = await parkedWith(a.token, 'appr-1')
        expect(await getScopedToken(deps(), { tokenId: a.view.id })).toMatchObject({ status: 'used', used_by_intent: pa.id })
        // Expired by the sweeper, as the gateway runs it.
        const sweeper = createApprovalSweeper({ store, policy: walletsThenTokens() }, { intervalMs: 60_000, ttlSeconds: 60 })
        expect(await sweeper.runOnce(new Date(Date.now() + 61_000))).toBe(1)
        expect((await store.getIntent(pa.id))!.intent).toMatchObject({ status: 'canceled', status_reason: 'approval_expired' })
        expect(await status(a.view.id)).toBe('active')

        // Denied by a person, on a path that runs no policy release at all.
        const b = await issue5()
        const pb = await parkedWith(b.token, 'appr-2')
        expect((await denyIntent({ store }, { intentId: pb.id, actor: 'admin:ops' })).status_reason).toBe('approval_denied')
        expect(await status(b.view.id)).toBe('active')

        // Canceled by the caller (what POST /v1/intents/{id}/cancel does).
        const c = await issue5()
        const pc = await parkedWith(c.token, 'appr-3')
        await transitionIntent({ store }, { intentId: pc.id, event: 'cancel', actor: 'agent:agent_5', reason: 'requested_by_caller' })
        expect(await status(c.view.id)).toBe('active')

        // Each is usable again: a payment under the threshold settles with it.
        for (const [t, key] of [[a, 'appr-1b'], [b, 'appr-2b'], [c, 'appr-3b']] as const) {
          const r = await redeemScopedToken(deps(), { token: t.token, intent: pay('900'), redemptionKey: key })
          expect(r.generation).toBe(1)
          expect(await payWith(r, createScriptedFakeRail({ settle: [succeeds()] }), walletsThenTokens(), '900')).toMatchObject({ kind: 'settled', intent: { status: 'succeeded' } })
          expect(await status(t.view.id)).toBe('used')
        }
        expect(untouched.calls).toHaveLength(0)
      })

      it('a release acts only on the redemption it read: never over a newer one (same key, other intent), never reviving a revoked or expired token', async () => {
        const { token, view } = await issue()
        const r1 = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'st-1' })
        const rail1 = unknownThenDeclined()
        const p1 = await payWith(r1, rail1, tokenPolicy())
        const staleBoundToP1 = (await store.getToken(view.id))!
        expect((staleBoundToP1.doc as ScopedTokenDoc).redemption).toMatchObject({ key: 'st-1', intent_id: p1.intent.id })
        const failed = await reconcile(p1.intent.id, rail1)
        expect(failed.status).toBe('failed')
        expect(await status(view.id)).toBe('active')
        // The SAME presentation key redeems it again for a new payment, still in flight.
        const r2 = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'st-1' })
        expect(r2).toMatchObject({ resumed: false, generation: 1 })
        const p2 = await payWith(r2, createScriptedFakeRail({ settle: [{ status: 'unknown', code: 'ETIMEDOUT' }] }), tokenPolicy())
        expect(p2.intent.status).toBe('processing')
        // A stale release for the first payment (read while it held the token, written now) fails.
        const stale = { ...deps(), store: Object.assign(Object.create(store) as Store, { getToken: async () => staleBoundToP1 }) }
        expect(await releaseScopedTokenOfIntent(stale, failed)).toBe(false)
        expect(await releaseScopedTokenIfUnpaid(stale, { tokenId: view.id, redemptionKey: 'st-1', intent: failed })).toBe(false)
        expect(await releaseScopedTokenOfIntent(deps(), failed)).toBe(false)
        expect(await getScopedToken(deps(), { tokenId: view.id })).toMatchObject({ status: 'used', used_by_intent: p2.intent.id })
        expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'st-2' }))).toBe('GW_TOKEN_USED')
        expect(await released(view.id)).toHaveLength(1)

        // Given back, then revoked: a late (stale) release of the old redemption cannot revive it.
        const t2 = await issue()
        const rv = await redeemScopedToken(deps(), { token: t2.token, intent: pay(), redemptionKey: 'rv-1' })
        const rail2 = unknownThenDeclined()
        const pv = await payWith(rv, rail2, tokenPolicy())
        const staleRv = (await store.getToken(t2.view.id))!
        const failedRv = await reconcile(pv.intent.id, rail2)
        expect(await status(t2.view.id)).toBe('active')
        expect((await revokeScopedToken(deps(), { tokenId: t2.view.id, actor: 'agent:agent_1' })).status).toBe('revoked')
        const staleRvDeps = { ...deps(), store: Object.assign(Object.create(store) as Store, { getToken: async () => staleRv }) }
        expect(await releaseScopedTokenOfIntent(staleRvDeps, failedRv)).toBe(false)
        expect(await status(t2.view.id)).toBe('revoked')
        expect(await code(redeemScopedToken(deps(), { token: t2.token, intent: pay(), redemptionKey: 'rv-2' }))).toBe('GW_TOKEN_REVOKED')

        // An expired token given back still never pays.
        const t3 = await issue({ expiresInSeconds: 5 })
        const rx = await redeemScopedToken(deps(), { token: t3.token, intent: pay(), redemptionKey: 'ex-1' })
        const rail3 = unknownThenDeclined()
        const px = await payWith(rx, rail3, tokenPolicy())
        clockAt += 6_000
        expect((await reconcile(px.intent.id, rail3)).status).toBe('failed')
        expect(await status(t3.view.id)).toBe('expired')
        expect(await code(redeemScopedToken(deps(), { token: t3.token, intent: pay(), redemptionKey: 'ex-2' }))).toBe('GW_TOKEN_EXPIRED')
      })

      it("a succeeded payment's token stays used, also when the reconciler settled it after an unknown outcome", async () => {
        const { token, view } = await issue()
        const r = await redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'ok-1' })
        const rail = createScriptedFakeRail({ settle: [{ status: 'unknown', code: 'ETIMEDOUT' }], query: [succeeds()] })
        const p = await payWith(r, rail, tokenPolicy())
        const done = await reconcile(p.intent.id, rail)
        expect(done.status).toBe('succeeded')
        expect(await releaseScopedTokenOfIntent(deps(), done)).toBe(false)
        expect(await releaseScopedTokenIfUnpaid(deps(), { tokenId: view.id, redemptionKey: 'ok-1', intent: done })).toBe(false)
        await tokenPolicy().release!(done)
        expect(await getScopedToken(deps(), { tokenId: view.id })).toMatchObject({ status: 'used', used_by_intent: p.intent.id })
        expect(await released(view.id)).toEqual([])
        expect(await code(redeemScopedToken(deps(), { token, intent: pay(), redemptionKey: 'ok-2' }))).toBe('GW_TOKEN_USED')
      })

      it('counts an unknown attempt as unpaid only once the same rail declined the key later, or when it provably never left', () => {
        const at = new Date().toISOString()
        const ended = (attempts: Array<Record<string, string>>, status = 'failed') => ({ id: 'pi_x', status, route: { rail: 'alipay', attempts: attempts.map((a) => ({ at, ...a })) } }) as unknown as PaymentIntent
        expect(intentMovedNoMoney(ended([]))).toBe(true)
        expect(intentMovedNoMoney(ended([], 'canceled'))).toBe(true)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'unknown', code: 'ETIMEDOUT' }, { rail: 'alipay', outcome: 'declined', code: 'TRADE_CLOSED' }]))).toBe(true)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'declined' }, { rail: 'alipay', outcome: 'unknown', code: 'ETIMEDOUT' }]))).toBe(false)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'unknown', code: 'ETIMEDOUT' }, { rail: 'antom', outcome: 'declined' }]))).toBe(false)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'unknown', code: 'ECONNREFUSED' }, { rail: 'antom', outcome: 'declined' }]))).toBe(true)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'error' }, { rail: 'antom', outcome: 'declined' }]))).toBe(false)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'succeeded' }, { rail: 'alipay', outcome: 'declined' }]))).toBe(false)
        expect(intentMovedNoMoney(ended([{ rail: 'alipay', outcome: 'declined' }], 'processing'))).toBe(false)
      })
    })

    it('a token scoped to a category never pays a merchant configured with another one, whatever the payment states', async () => {
      const { token } = await issue({ category: 'flowers' })
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('100', { category: 'flowers' }), merchantCategory: 'gambling' }))).toBe('GW_TOKEN_SCOPE_MISMATCH')
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('100', { category: 'books' }), merchantCategory: 'flowers' }))).toBe('GW_TOKEN_SCOPE_MISMATCH')
      expect(await code(redeemScopedToken(deps(), { token, intent: pay('100', { category: 'flowers' }), merchantCategory: 'flowers' }))).toBe('ok')
    })
  })
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-tokens-'))
  const store = openSqliteStore({ path: join(dir, 't.db') })
  return {
    store,
    async close() {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
})

// PostgreSQL answers on this machine; globalSetup warns loudly (and fails in CI) when it does not.
describe.skipIf(!pgUrl)('postgres', () => {
  suite('postgres', async () => {
    const s = await createTestSchema(pgUrl, 'tok')
    const store = openPostgresStore({ url: pgUrl, schema: s.schema, poolSize: 8 })
    return {
      store,
      async close() {
        await store.close()
        await s.drop()
      },
    }
  })
})

describe('tokens config section', () => {
  const base = { store: { driver: 'sqlite', sqlite: { path: ':memory:' } } }
  it('resolves secrets from env, applies defaults, and is off when absent', () => {
    const cfg = parseConfig({ ...base, tokens: { signingKeys: [{ id: 'a', secret: { env: 'TOK_A' } }, { id: 'b', secret: 'literal-dev-secret-0123456789abcdef0123' }], activeKeyId: 'a' } }, { TOK_A: 'from-env-secret-0123456789abcdef01234567' })
    expect(scopedTokenSettings(cfg)).toEqual({ keys: [{ id: 'a', secret: 'from-env-secret-0123456789abcdef01234567' }, { id: 'b', secret: 'literal-dev-secret-0123456789abcdef0123' }], activeKeyId: 'a', maxTtlSeconds: 2_592_000 })
    expect(scopedTokenSettings(parseConfig(base, {}))).toBeUndefined()
  })
  it('names every wrong field, never the secret', () => {
    let err: unknown
    try {
      parseConfig({ ...base, tokens: { signingKeys: [{ id: 'a', secret: 'short' }, { id: 'a', secret: { env: 'MISSING' } }], activeKeyId: 'zz' } }, {})
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    expect((err as ConfigError).problems.map((p) => p.path).sort()).toEqual(['tokens.activeKeyId', 'tokens.signingKeys[0].secret', 'tokens.signingKeys[1].id', 'tokens.signingKeys[1].secret'])
    expect((err as ConfigError).message).not.toContain('short')
  })
})
