import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { createAssetRegistry } from '../money/assets.js'
import { approveIntent, denyIntent } from '../pipeline/approveIntent.js'
import { processPayment, type ProcessPaymentParameters } from '../pipeline/processPayment.js'
import type { PolicyContext, PolicyEngine } from '../policy/port.js'
import { RailRegistry, type RailAdapter } from '../rails/port.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import type { Store } from '../store/port.js'
import { verifyAuditChain } from '../events/audit.js'
import { getApproval } from './approval.js'
import { approvalLinkPath, signApprovalLink, verifyApprovalLink } from './link.js'
import { createApprovalSweeper } from './sweeper.js'

/**
 * The approval flow on a real SQLite store through the real pipeline. The rail is a recording
 * stand-in (the real rails have their own suites; the protocol tests run the flow on the Alipay
 * sandbox): what matters here is WHICH credential reaches it and how often.
 */
function recordingRail(): RailAdapter & { credentials: unknown[] } {
  const credentials: unknown[] = []
  return {
    rail: 'rec',
    instruments: ['alipay.agreement'],
    credentials,
    async settle(p) {
      credentials.push(p.credential)
      return { status: 'succeeded', reference: `T${credentials.length}`, settledAt: new Date().toISOString() }
    },
    async query() {
      return { status: 'not_found' }
    },
  } as RailAdapter & { credentials: unknown[] }
}

/** Reviews everything until approved; `hardDeny` makes the approved re-evaluation deny; records releases. */
function reviewPolicy(opts: { hardDeny?: boolean } = {}): PolicyEngine & { released: string[]; contexts: Array<PolicyContext | undefined> } {
  const released: string[] = []
  const contexts: Array<PolicyContext | undefined> = []
  return {
    released,
    contexts,
    async evaluate(_intent, ctx) {
      contexts.push(ctx)
      if (ctx?.approved) return opts.hardDeny ? { decision: 'deny', reasons: ['daily_cap_exceeded'] } : { decision: 'allow', reasons: ['approved_ok'] }
      return { decision: 'review', reasons: ['over_approval_threshold'] }
    },
    async release(intent) {
      released.push(intent.id)
    },
  }
}

let store: Store
beforeEach(async () => {
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-appr-')), 'a.db') })
  await store.migrate()
})

const params = (ref: string, credential: unknown): ProcessPaymentParameters => ({
  merchantId: 'm1',
  actor: 'agent:a1',
  origin: { protocol: 'acp', version: '1', ref },
  payer: { agent_id: 'a1' },
  amount: { value: '50000', asset: 'iso4217:USD' },
  instrument: { type: 'alipay.agreement' },
  authorization: { type: 'acp.allowance' },
  dedupeKey: `acp:${ref}`,
  credential,
})

describe('approvals through the pipeline', () => {
  it('waits, answers requires_approval to a retry, is approved, and the retry settles with ITS credential once', async () => {
    const rail = recordingRail()
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const first = await processPayment(deps, params('s1', { agreement: 'first' }))
    expect(first).toMatchObject({ kind: 'requires_approval', reasons: ['over_approval_threshold'], intent: { status: 'requires_approval' } })
    const id = first.intent.id

    const again = await processPayment(deps, params('s1', { agreement: 'second' }))
    expect(again).toMatchObject({ kind: 'requires_approval', reasons: ['over_approval_threshold'], intent: { id } })
    expect(rail.credentials).toHaveLength(0)
    expect(await getApproval(store, id, 3600)).toMatchObject({ status: 'pending', reasons: ['over_approval_threshold'] })

    const approved = await approveIntent({ store, policy }, { intentId: id, actor: 'admin:ops', note: 'ok for work', ttlSeconds: 3600 })
    expect(approved).toMatchObject({ kind: 'approved', intent: { status: 'authorized' } })
    expect(policy.contexts.at(-1)).toEqual({ approved: true })

    const retry = await processPayment(deps, params('s1', { agreement: 'third' }))
    expect(retry).toMatchObject({ kind: 'settled', intent: { id, status: 'succeeded' } })
    expect(rail.credentials).toEqual([{ agreement: 'third' }])
    const late = await processPayment(deps, params('s1', { agreement: 'fourth' }))
    expect(late).toMatchObject({ kind: 'existing', intent: { status: 'succeeded' } })
    expect(rail.credentials).toHaveLength(1)

    const view = await getApproval(store, id, 3600)
    expect(view).toMatchObject({ status: 'approved', decided_by: 'admin:ops', reasons: ['over_approval_threshold'] })
    const events = await store.listEvents(id)
    const decision = events.find((e) => e.type === 'authorize')!
    expect(decision).toMatchObject({ actor: 'admin:ops', from_status: 'requires_approval', to_status: 'authorized', data: { approval: 'approved', note: 'ok for work' } })
    expect(Date.parse(decision.at)).not.toBeNaN()
    const stored = (await store.getIntent(id))!
    expect(verifyAuditChain(events, { intentId: id, head: stored.auditHead, seq: stored.auditSeq, status: stored.intent.status }).valid).toBe(true)
  })

  it('two retries of an approved intent at once settle it exactly once', async () => {
    const rail = recordingRail()
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const first = await processPayment(deps, params('s2', { n: 0 }))
    await approveIntent({ store, policy }, { intentId: first.intent.id, actor: 'merchant:m1' })
    const results = await Promise.all([1, 2, 3].map((n) => processPayment(deps, params('s2', { n }))))
    expect(rail.credentials).toHaveLength(1)
    expect(results.filter((r) => r.kind === 'settled')).toHaveLength(1)
    expect((await store.getIntent(first.intent.id))!.intent.status).toBe('succeeded')
  })

  it('a denied intent is canceled (approval_denied), gives back its reservation and never settles', async () => {
    const rail = recordingRail()
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const first = await processPayment(deps, params('s3', {}))
    const denied = await denyIntent({ store, policy }, { intentId: first.intent.id, actor: 'merchant:m1', note: 'no' })
    expect(denied).toMatchObject({ status: 'canceled', status_reason: 'approval_denied' })
    expect(policy.released).toEqual([first.intent.id])
    const retry = await processPayment(deps, params('s3', { fresh: true }))
    expect(retry).toMatchObject({ kind: 'existing', intent: { status: 'canceled' } })
    expect(rail.credentials).toHaveLength(0)
    await expect(approveIntent({ store, policy }, { intentId: first.intent.id, actor: 'admin:ops' })).rejects.toMatchObject({ code: 'GW_INVALID_TRANSITION' })
    expect(await getApproval(store, first.intent.id, 3600)).toMatchObject({ status: 'denied', decided_by: 'merchant:m1', decision_reason: 'approval_denied' })
  })

  it('the sweeper expires an approval past its TTL (approval_expired, system:approvals); it never settles', async () => {
    const rail = recordingRail()
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const old = await processPayment(deps, params('s4', {}))
    const sweeper = createApprovalSweeper({ store, policy }, { intervalMs: 1000, ttlSeconds: 60 })
    expect(await sweeper.runOnce(new Date())).toBe(0)
    expect(await sweeper.runOnce(new Date(Date.now() + 61_000))).toBe(1)
    const after = (await store.getIntent(old.intent.id))!.intent
    expect(after).toMatchObject({ status: 'canceled', status_reason: 'approval_expired' })
    expect(policy.released).toEqual([old.intent.id])
    const ev = (await store.listEvents(old.intent.id)).at(-1)!
    expect(ev).toMatchObject({ type: 'cancel', actor: 'system:approvals', reason: 'approval_expired', from_status: 'requires_approval' })
    expect(await processPayment(deps, params('s4', {}))).toMatchObject({ kind: 'existing', intent: { status: 'canceled' } })
    await expect(approveIntent({ store, policy }, { intentId: old.intent.id, actor: 'admin:ops' })).rejects.toMatchObject({ code: 'GW_INVALID_TRANSITION' })
    expect(await getApproval(store, old.intent.id, 60)).toMatchObject({ status: 'expired', decided_by: 'system:approvals' })
    expect(rail.credentials).toHaveLength(0)
  })

  it('an approved intent the agent never comes back to pay is canceled (approval_unused) and releases', async () => {
    const rail = recordingRail()
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(rail), policy }
    const first = await processPayment(deps, params('s8', {}))
    await approveIntent({ store, policy }, { intentId: first.intent.id, actor: 'admin:ops' })
    const sweeper = createApprovalSweeper({ store, policy }, { intervalMs: 1000, ttlSeconds: 60 })
    expect(await sweeper.runOnce(new Date(Date.now() + 30_000))).toBe(0)
    expect(await sweeper.runOnce(new Date(Date.now() + 61_000))).toBe(1)
    expect((await store.getIntent(first.intent.id))!.intent).toMatchObject({ status: 'canceled', status_reason: 'approval_unused' })
    expect(policy.released).toEqual([first.intent.id])
    expect(await processPayment(deps, params('s8', { late: true }))).toMatchObject({ kind: 'existing', intent: { status: 'canceled' } })
    expect(rail.credentials).toHaveLength(0)
  })

  it('an approval that arrives after the TTL expires the intent instead', async () => {
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(recordingRail()), policy }
    const first = await processPayment(deps, params('s5', {}))
    const r = await approveIntent({ store, policy, clock: () => new Date(Date.now() + 10_000) }, { intentId: first.intent.id, actor: 'admin:ops', ttlSeconds: 5 })
    expect(r).toMatchObject({ kind: 'expired', intent: { status: 'canceled', status_reason: 'approval_expired' } })
  })

  it('a hard limit still declines an approved intent (and releases)', async () => {
    const policy = reviewPolicy({ hardDeny: true })
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(recordingRail()), policy }
    const first = await processPayment(deps, params('s6', {}))
    const r = await approveIntent({ store, policy }, { intentId: first.intent.id, actor: 'admin:ops' })
    expect(r).toMatchObject({ kind: 'declined', reasons: ['daily_cap_exceeded'], intent: { status: 'failed', status_reason: 'daily_cap_exceeded' } })
    expect(policy.released).toEqual([first.intent.id])
  })

  it('approve and deny at once: exactly one decision wins', async () => {
    const policy = reviewPolicy()
    const deps = { store, assets: createAssetRegistry(), rails: new RailRegistry().register(recordingRail()), policy }
    const first = await processPayment(deps, params('s7', {}))
    const results = await Promise.allSettled([
      approveIntent({ store, policy }, { intentId: first.intent.id, actor: 'admin:a' }),
      denyIntent({ store, policy }, { intentId: first.intent.id, actor: 'admin:b' }),
    ])
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
    const events = await store.listEvents(first.intent.id)
    expect(events.filter((e) => e.from_status === 'requires_approval')).toHaveLength(1)
  })
})

describe('signed approval links', () => {
  const secret = 's'.repeat(32)
  it('verifies its own links and refuses tampered, foreign or expired ones', () => {
    const now = new Date('2030-01-01T00:00:00Z')
    const path = approvalLinkPath(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', 900, now)
    const u = new URL(path, 'http://x')
    const exp = u.searchParams.get('exp')!
    const sig = u.searchParams.get('sig')!
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', exp, sig, now)).toEqual({ ok: true })
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAW', exp, sig, now)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', String(Number(exp) + 1), sig, now)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(verifyApprovalLink('t'.repeat(32), 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', exp, sig, now)).toEqual({ ok: false, reason: 'bad_signature' })
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', exp, sig, new Date(now.getTime() + 901_000))).toEqual({ ok: false, reason: 'expired' })
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', exp, 'zz', now)).toEqual({ ok: false, reason: 'malformed' })
    expect(verifyApprovalLink(secret, 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', undefined, sig, now)).toEqual({ ok: false, reason: 'malformed' })
    expect(sig).toBe(signApprovalLink(secret, { intentId: 'pi_01ARZ3NDEKTSV4RRFFQ69G5FAV', exp: Number(exp) }))
  })
})
