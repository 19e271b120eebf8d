import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sealAuditEvent, verifyAuditChain } from '../events/audit.js'
import type { IntentStatus, PaymentIntent } from '../intent/types.js'
import { buildCreateEvent, buildIntent, buildNextUpdate, type NextEventOptions } from '../testing/builders.js'
import { newId } from '../util/ids.js'
import type { ClaimIdempotencyParams, OutboxInsert, Store, StoredIntent, StoredResponse } from './port.js'
import { MIN_RETRY_AFTER_MS, StoreUsageError } from './shared.js'
import type { WalletRecord } from '../wallets/types.js'
import type { DisputeRecord, RefundRecord } from '../disputes/records.js'

export interface StoreFactoryResult {
  /** A store on an empty database, not yet migrated (the suite calls `migrate()`). */
  store: Store
  cleanup(): Promise<void>
}

/** A fixed clock origin: every time in the suite is explicit, nothing depends on the wall clock. */
const T0 = Date.parse('2030-01-01T00:00:00.000Z')
const at = (ms: number): Date => new Date(T0 + ms)

/**
 * The behavioural contract of the store port (DESIGN §5), run by every implementation on a real
 * database. Each test gets a fresh, migrated store from `factory`.
 *
 * Semantics pinned down here (and shared by both implementations):
 * - dates go in and out as `Date` (stored as ISO-8601 text on SQLite, timestamptz on PostgreSQL);
 * - a lease or lock holds while `now < until` and has expired at `until`;
 * - `getIntent` returns the intent with its chain head (`auditHead`, `auditSeq`);
 * - `listIntents` is newest first by id, `cursor` returns ids below it, `nextCursor` only when more exist;
 * - `updateIntent` also refuses (as `version_conflict`) an event that does not extend the stored
 *   chain head (`seq = auditSeq + 1`, `prev_hash = auditHead`);
 * - idempotency: another fingerprint is always a `conflict`; an in-flight key answers
 *   `retryAfterMs` = remaining lease, at least 1000; an expired lease is taken over by the same
 *   request; only the owner completes or releases; a 5xx completion releases the key;
 * - outbox: a worker that lost its lease cannot record an attempt (silently ignored).
 */
export function runStoreContract(name: string, factory: () => Promise<StoreFactoryResult>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store
    let cleanup: () => Promise<void>

    beforeEach(async () => {
      const made = await factory()
      store = made.store
      cleanup = made.cleanup
      await store.migrate()
    })

    afterEach(async () => {
      await cleanup()
    })

    /** Insert a built intent with its create event; returns what `getIntent` should return. */
    async function insert(
      overrides: Partial<PaymentIntent> = {},
      extra: { dedupeKey?: string; outbox?: OutboxInsert[] } = {},
    ): Promise<StoredIntent> {
      const intent = buildIntent(overrides)
      const event = buildCreateEvent(intent)
      const r = await store.insertIntent({ intent, event, ...extra })
      expect(r).toEqual({ ok: true })
      return { intent, auditHead: event.hash, auditSeq: 1 }
    }

    /** Apply one transition through `updateIntent`; returns the new stored state. */
    async function advance(stored: StoredIntent, options: NextEventOptions, outbox?: OutboxInsert[]): Promise<StoredIntent> {
      const u = buildNextUpdate(stored, options)
      expect(await store.updateIntent({ ...u, outbox })).toEqual({ ok: true })
      return { intent: u.intent, auditHead: u.event.hash, auditSeq: u.event.seq }
    }

    function outboxRow(overrides: Partial<OutboxInsert> = {}): OutboxInsert {
      const id = overrides.id ?? newId('evt')
      return {
        id,
        type: 'payment_intent.created',
        destination: 'merchant:m_test',
        payload: JSON.stringify({ id, note: 'exact bytes: caf\u00e9 "q" \\' }),
        createdAt: at(0),
        ...overrides,
      }
    }

    // --- migrations ---------------------------------------------------------------------------

    describe('migrations', () => {
      it('migrating again (also twice at once) is a no-op that keeps the data', async () => {
        const s = await insert()
        await store.migrate()
        await Promise.all([store.migrate(), store.migrate()])
        expect(await store.getIntent(s.intent.id)).toEqual(s)
        await expect(store.ping()).resolves.toBeUndefined()
        expect(['sqlite', 'postgres']).toContain(store.dialect)
      })
    })

    // --- intents ------------------------------------------------------------------------------

    describe('intents', () => {
      it('inserts and reads back the whole intent with its chain head', async () => {
        const s = await insert({ line_items: [{ id: 'li_1', quantity: 2, unit_amount: { value: '500', asset: 'iso4217:USD' } }] })
        expect(await store.getIntent(s.intent.id)).toEqual(s)
        expect(await store.getIntent(newId('pi'))).toBeUndefined()
        const events = await store.listEvents(s.intent.id)
        expect(events).toEqual([buildCreateEvent(s.intent)])
        expect(verifyAuditChain(events, { intentId: s.intent.id, head: s.auditHead, seq: 1, status: 'created' })).toMatchObject({ valid: true })
      })

      it('keeps money as an exact integer string, even beyond 2^53', async () => {
        const big = '123456789012345678901234567890'
        const s = await insert({ amount: { value: big, asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' } })
        expect((await store.getIntent(s.intent.id))!.intent.amount.value).toBe(big)
      })

      it('refuses (throws) a first event that does not open the chain, writing nothing', async () => {
        const intent = buildIntent()
        const event = sealAuditEvent({ ...buildCreateEvent(intent), seq: 2 })
        await expect(store.insertIntent({ intent, event })).rejects.toBeInstanceOf(StoreUsageError)
        const other = buildCreateEvent(buildIntent())
        await expect(store.insertIntent({ intent, event: other })).rejects.toBeInstanceOf(StoreUsageError)
        expect(await store.getIntent(intent.id)).toBeUndefined()
      })

      it('lists newest first with keyset pagination: nextCursor only while more exist', async () => {
        const ids: string[] = []
        for (let i = 0; i < 7; i++) ids.push((await insert()).intent.id)
        const newestFirst = [...ids].reverse()

        const seen: string[] = []
        let cursor: string | undefined
        const pageSizes: number[] = []
        do {
          const page = await store.listIntents({ limit: 3, cursor })
          pageSizes.push(page.items.length)
          seen.push(...page.items.map((i) => i.id))
          cursor = page.nextCursor
          if (cursor !== undefined) expect(cursor).toBe(page.items[page.items.length - 1]!.id)
        } while (cursor !== undefined)
        expect(pageSizes).toEqual([3, 3, 1])
        expect(seen).toEqual(newestFirst)

        const all = await store.listIntents({ limit: 7 })
        expect(all.items.map((i) => i.id)).toEqual(newestFirst)
        expect(all.nextCursor).toBeUndefined()
        expect((await store.listIntents({ limit: 6 })).nextCursor).toBe(newestFirst[5])
        expect((await store.listIntents({ limit: 10, cursor: newestFirst[1] })).items.map((i) => i.id)).toEqual(newestFirst.slice(2))
        expect((await store.listIntents({ limit: 10, cursor: ids[0] })).items).toEqual([])
        // Items are whole intents.
        expect(all.items[0]).toEqual((await store.getIntent(newestFirst[0]!))!.intent)
      })

      it('filters the list by merchant, status and protocol (combined with the cursor)', async () => {
        const a1 = await insert({ merchant_id: 'm_a', origin: { protocol: 'acp', version: '1', ref: 'r1' } })
        const a2 = await insert({ merchant_id: 'm_a', origin: { protocol: 'x402', version: '2', ref: 'r2' } })
        const b1 = await insert({ merchant_id: 'm_b', origin: { protocol: 'acp', version: '1', ref: 'r3' } })
        const a3 = await insert({ merchant_id: 'm_a', origin: { protocol: 'acp', version: '1', ref: 'r4' } })
        await advance(a1, { type: 'authorize', to_status: 'authorized' })
        await advance(a3, { type: 'authorize', to_status: 'authorized' })
        const ids = async (p: Parameters<Store['listIntents']>[0]): Promise<string[]> => (await store.listIntents(p)).items.map((i) => i.id)

        expect(await ids({ limit: 10, merchantId: 'm_a' })).toEqual([a3.intent.id, a2.intent.id, a1.intent.id])
        expect(await ids({ limit: 10, merchantId: 'm_b' })).toEqual([b1.intent.id])
        expect(await ids({ limit: 10, status: 'authorized' })).toEqual([a3.intent.id, a1.intent.id])
        expect(await ids({ limit: 10, protocol: 'acp' })).toEqual([a3.intent.id, b1.intent.id, a1.intent.id])
        expect(await ids({ limit: 10, merchantId: 'm_a', status: 'created' })).toEqual([a2.intent.id])
        expect(await ids({ limit: 10, merchantId: 'm_a', protocol: 'acp', status: 'authorized' })).toEqual([a3.intent.id, a1.intent.id])
        expect(await ids({ limit: 10, merchantId: 'm_a', cursor: a3.intent.id })).toEqual([a2.intent.id, a1.intent.id])
        const page = await store.listIntents({ limit: 1, merchantId: 'm_a', status: 'authorized' })
        expect(page.items.map((i) => i.id)).toEqual([a3.intent.id])
        expect(page.nextCursor).toBe(a3.intent.id)
        expect(await ids({ limit: 10, merchantId: 'm_none' })).toEqual([])
        // The listed intent is the updated one.
        expect((await store.listIntents({ limit: 1, merchantId: 'm_a' })).items[0]).toMatchObject({ status: 'authorized', version: 2 })
      })

      it('a second insert with the same dedupe key (same merchant) is a duplicate naming the first', async () => {
        const first = await insert({ merchant_id: 'm_d' }, { dedupeKey: 'acp:cs_1' })
        const intent = buildIntent({ merchant_id: 'm_d' })
        const ob = outboxRow({ aggregateId: intent.id })
        const r = await store.insertIntent({ intent, event: buildCreateEvent(intent), dedupeKey: 'acp:cs_1', outbox: [ob] })
        expect(r).toEqual({ ok: false, reason: 'duplicate', existingId: first.intent.id })
        // Nothing of the duplicate was written.
        expect(await store.getIntent(intent.id)).toBeUndefined()
        expect(await store.listEvents(intent.id)).toEqual([])
        expect(await store.getOutbox(ob.id)).toBeUndefined()
        // The key is per merchant; no key means no dedupe.
        await insert({ merchant_id: 'm_other' }, { dedupeKey: 'acp:cs_1' })
        await insert({ merchant_id: 'm_d' })
        await insert({ merchant_id: 'm_d' })
        expect((await store.listIntents({ limit: 10, merchantId: 'm_d' })).items).toHaveLength(3)
      })

      it('concurrent inserts with one dedupe key: exactly one wins, the others name it', async () => {
        const intents = Array.from({ length: 12 }, () => buildIntent({ merchant_id: 'm_race' }))
        const results = await Promise.all(
          intents.map((intent) => store.insertIntent({ intent, event: buildCreateEvent(intent), dedupeKey: 'same' })),
        )
        const winners = results.flatMap((r, i) => (r.ok ? [intents[i]!.id] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (!r.ok) expect(r).toEqual({ ok: false, reason: 'duplicate', existingId: winners[0] })
        expect((await store.listIntents({ limit: 20, merchantId: 'm_race' })).items.map((i) => i.id)).toEqual(winners)
      })

      it('counts intents by protocol and status', async () => {
        expect(await store.countIntents()).toEqual([])
        const x = await insert({ origin: { protocol: 'x402', version: '2', ref: 'a' } })
        await insert({ origin: { protocol: 'x402', version: '2', ref: 'b' } })
        await insert({ origin: { protocol: 'acp', version: '1', ref: 'c' } })
        await advance(x, { type: 'authorize', to_status: 'authorized' })
        const counts = (await store.countIntents()).sort((a, b) => `${a.protocol}/${a.status}`.localeCompare(`${b.protocol}/${b.status}`))
        expect(counts).toEqual([
          { protocol: 'acp', status: 'created', count: 1 },
          { protocol: 'x402', status: 'authorized', count: 1 },
          { protocol: 'x402', status: 'created', count: 1 },
        ])
      })
    })

    // --- updates and the audit chain --------------------------------------------------------

    describe('updateIntent', () => {
      it('replaces the intent, appends the event and moves the chain head', async () => {
        const s0 = await insert()
        const u = buildNextUpdate(s0, { type: 'authorize', to_status: 'authorized', reason: 'policy_allow' })
        expect(await store.updateIntent(u)).toEqual({ ok: true })
        expect(await store.getIntent(s0.intent.id)).toEqual({ intent: u.intent, auditHead: u.event.hash, auditSeq: 2 })
        expect(await store.listEvents(s0.intent.id)).toEqual([buildCreateEvent(s0.intent), u.event])
      })

      it('a stale expectedVersion is a version_conflict naming the current version, and changes nothing', async () => {
        const s0 = await insert()
        const s1 = await advance(s0, { type: 'authorize', to_status: 'authorized' })
        const stale = buildNextUpdate(s0, { type: 'cancel', to_status: 'canceled' })
        expect(await store.updateIntent(stale)).toEqual({ ok: false, reason: 'version_conflict', currentVersion: 2 })
        expect(await store.getIntent(s0.intent.id)).toEqual(s1)
        expect(await store.listEvents(s0.intent.id)).toHaveLength(2)
      })

      it('refuses an event that does not extend the stored chain head (bad seq or prev_hash)', async () => {
        const s0 = await insert()
        const s1 = await advance(s0, { type: 'authorize', to_status: 'authorized' })
        const good = buildNextUpdate(s1, { type: 'start_processing', to_status: 'processing' })
        const { hash: _h1, ...skip } = { ...good.event, seq: 4 }
        const badSeq = { ...good, event: sealAuditEvent(skip) }
        const { hash: _h2, ...forked } = { ...good.event, prev_hash: s0.auditHead }
        const badPrev = { ...good, event: sealAuditEvent(forked) }
        const { hash: _h3, ...again } = { ...good.event, seq: 2, prev_hash: s0.auditHead }
        const rewrite = { ...good, event: sealAuditEvent(again) }
        for (const bad of [badSeq, badPrev, rewrite]) {
          expect(await store.updateIntent(bad)).toEqual({ ok: false, reason: 'version_conflict', currentVersion: 2 })
        }
        expect(await store.getIntent(s0.intent.id)).toEqual(s1)
        expect(await store.updateIntent(good)).toEqual({ ok: true })
      })

      it('an unknown intent is not_found', async () => {
        const intent = buildIntent()
        const u = buildNextUpdate({ intent, auditHead: buildCreateEvent(intent).hash, auditSeq: 1 }, { type: 'cancel', to_status: 'canceled' })
        expect(await store.updateIntent(u)).toEqual({ ok: false, reason: 'not_found' })
      })

      it('refuses (throws) an intent whose version is not expectedVersion + 1', async () => {
        const s0 = await insert()
        const u = buildNextUpdate(s0, { type: 'authorize', to_status: 'authorized' })
        await expect(store.updateIntent({ ...u, intent: { ...u.intent, version: 3 } })).rejects.toBeInstanceOf(StoreUsageError)
        expect(await store.getIntent(s0.intent.id)).toEqual(s0)
      })

      it('keeps a verifiable audit chain over several updates', async () => {
        let s = await insert()
        const steps: Array<[NextEventOptions['type'], IntentStatus]> = [
          ['authorize', 'authorized'],
          ['start_processing', 'processing'],
          ['annotate', 'processing'],
          ['succeed', 'succeeded'],
          ['refund_partial', 'partially_refunded'],
        ]
        for (const [type, to_status] of steps) s = await advance(s, { type, to_status, data: { step: type } })
        const stored = (await store.getIntent(s.intent.id))!
        expect(stored).toEqual(s)
        expect(stored.auditSeq).toBe(6)
        const events = await store.listEvents(s.intent.id)
        expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6])
        expect(events.map((e) => e.type)).toEqual(['create', ...steps.map(([t]) => t)])
        expect(verifyAuditChain(events, { intentId: s.intent.id, head: stored.auditHead, seq: stored.auditSeq, status: stored.intent.status })).toEqual({
          valid: true,
          length: 6,
          head: stored.auditHead,
        })
      })

      it('concurrent updates from one version: exactly one succeeds', async () => {
        const s0 = await insert()
        const attempts = Array.from({ length: 10 }, (_, i) => buildNextUpdate(s0, { type: 'annotate', to_status: 'created', data: { i } }))
        const results = await Promise.all(attempts.map((u) => store.updateIntent(u)))
        expect(results.filter((r) => r.ok)).toHaveLength(1)
        for (const r of results) if (!r.ok) expect(r).toEqual({ ok: false, reason: 'version_conflict', currentVersion: 2 })
        const events = await store.listEvents(s0.intent.id)
        expect(events).toHaveLength(2)
        const stored = (await store.getIntent(s0.intent.id))!
        expect(verifyAuditChain(events, { head: stored.auditHead, seq: stored.auditSeq, status: stored.intent.status })).toMatchObject({ valid: true })
      })
    })

    // --- atomicity: intent + event + outbox ----------------------------------------------------

    describe('atomic writes', () => {
      it('inserts the intent, its event and its outbox rows together', async () => {
        const intent = buildIntent()
        const rows = [outboxRow({ aggregateId: intent.id }), outboxRow({ aggregateId: intent.id, destination: 'protocol:acp' })]
        expect(await store.insertIntent({ intent, event: buildCreateEvent(intent), outbox: rows })).toEqual({ ok: true })
        for (const o of rows) expect(await store.getOutbox(o.id)).toEqual({ ...o, state: 'pending', attempts: 0, nextAttemptAt: o.createdAt })
        const s1 = await advance({ intent, auditHead: buildCreateEvent(intent).hash, auditSeq: 1 }, { type: 'authorize', to_status: 'authorized' }, [
          outboxRow({ id: 'evt_update_1', type: 'payment_intent.authorized', aggregateId: intent.id }),
        ])
        expect(await store.getOutbox('evt_update_1')).toMatchObject({ type: 'payment_intent.authorized', aggregateId: intent.id, state: 'pending' })
        expect(s1.intent.status).toBe('authorized')
        expect(await store.countOutbox()).toEqual({ pending: 3, delivered: 0, dead: 0 })
      })

      it('an insert whose outbox row collides fails entirely: no intent, no event', async () => {
        await store.enqueueOutbox([outboxRow({ id: 'evt_taken' })])
        const intent = buildIntent()
        await expect(
          store.insertIntent({ intent, event: buildCreateEvent(intent), outbox: [outboxRow({ id: 'evt_fresh' }), outboxRow({ id: 'evt_taken' })] }),
        ).rejects.toThrow()
        expect(await store.getIntent(intent.id)).toBeUndefined()
        expect(await store.listEvents(intent.id)).toEqual([])
        expect(await store.getOutbox('evt_fresh')).toBeUndefined()
        expect(await store.countOutbox()).toEqual({ pending: 1, delivered: 0, dead: 0 })
      })

      it('an update whose outbox row collides fails entirely: intent and chain unchanged', async () => {
        await store.enqueueOutbox([outboxRow({ id: 'evt_taken' })])
        const s0 = await insert()
        const u = buildNextUpdate(s0, { type: 'authorize', to_status: 'authorized' })
        await expect(store.updateIntent({ ...u, outbox: [outboxRow({ id: 'evt_taken' })] })).rejects.toThrow()
        expect(await store.getIntent(s0.intent.id)).toEqual(s0)
        expect(await store.listEvents(s0.intent.id)).toHaveLength(1)
        expect(await store.updateIntent(u)).toEqual({ ok: true })
      })

      it('in a burst of concurrent writes, one failing write does not affect the others', async () => {
        await store.enqueueOutbox([outboxRow({ id: 'evt_taken' })])
        const intents = Array.from({ length: 6 }, () => buildIntent())
        const results = await Promise.allSettled(
          intents.map((intent, i) =>
            store.insertIntent({ intent, event: buildCreateEvent(intent), outbox: [outboxRow({ id: i === 3 ? 'evt_taken' : `evt_burst_${i}` })] }),
          ),
        )
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
        for (const [i, intent] of intents.entries()) {
          if (i === 3) expect(await store.getIntent(intent.id)).toBeUndefined()
          else expect((await store.getIntent(intent.id))?.intent).toEqual(intent)
        }
        expect(await store.countOutbox()).toEqual({ pending: 6, delivered: 0, dead: 0 })
      })
    })

    // --- idempotency ----------------------------------------------------------------------------

    describe('idempotency keys', () => {
      const response: StoredResponse = {
        status: 201,
        headers: { 'content-type': 'application/json; charset=utf-8', location: '/v1/intents/pi_1' },
        body: '{"id":"pi_1","note":"caf\u00e9 \u2713","n":1.50}\n',
      }
      const claim = (over: Partial<ClaimIdempotencyParams> = {}): ClaimIdempotencyParams => ({
        scope: 'agent:a1 POST /v1/intents',
        key: 'key-1',
        fingerprint: 'f'.repeat(64),
        owner: newId('own'),
        now: at(0),
        leaseMs: 5000,
        ...over,
      })

      it('claim, complete, then the same request replays the stored response byte for byte', async () => {
        const c = claim({ owner: 'o1' })
        expect(await store.claimIdempotencyKey(c)).toEqual({ kind: 'claimed' })
        await store.completeIdempotencyKey({ scope: c.scope, key: c.key, owner: 'o1', response, now: at(100) })
        const replay = await store.claimIdempotencyKey(claim({ owner: 'o2', now: at(200) }))
        expect(replay).toEqual({ kind: 'replay', response })
        // Long after the lease, still a replay.
        expect(await store.claimIdempotencyKey(claim({ now: at(86_400_000) }))).toEqual({ kind: 'replay', response })
      })

      it('another fingerprint is a conflict: done, in flight, or abandoned', async () => {
        expect(await store.claimIdempotencyKey(claim({ owner: 'o1' }))).toEqual({ kind: 'claimed' })
        expect(await store.claimIdempotencyKey(claim({ fingerprint: 'e'.repeat(64), now: at(10) }))).toEqual({ kind: 'conflict' })
        expect(await store.claimIdempotencyKey(claim({ fingerprint: 'e'.repeat(64), now: at(60_000) }))).toEqual({ kind: 'conflict' })
        await store.completeIdempotencyKey({ scope: claim().scope, key: 'key-1', owner: 'o1', response, now: at(100) })
        expect(await store.claimIdempotencyKey(claim({ fingerprint: 'e'.repeat(64), now: at(200) }))).toEqual({ kind: 'conflict' })
      })

      it('keys are scoped: the same key in another scope is independent', async () => {
        expect(await store.claimIdempotencyKey(claim())).toEqual({ kind: 'claimed' })
        expect(await store.claimIdempotencyKey(claim({ scope: 'agent:a2 POST /v1/intents', fingerprint: 'e'.repeat(64) }))).toEqual({ kind: 'claimed' })
      })

      it('the same request while in flight waits for the remaining lease (at least 1 s)', async () => {
        expect(await store.claimIdempotencyKey(claim({ owner: 'o1', leaseMs: 5000 }))).toEqual({ kind: 'claimed' })
        expect(await store.claimIdempotencyKey(claim({ now: at(2000) }))).toEqual({ kind: 'in_flight', retryAfterMs: 3000 })
        expect(await store.claimIdempotencyKey(claim({ now: at(4500) }))).toEqual({ kind: 'in_flight', retryAfterMs: MIN_RETRY_AFTER_MS })
        expect(await store.claimIdempotencyKey(claim({ now: at(4999) }))).toEqual({ kind: 'in_flight', retryAfterMs: MIN_RETRY_AFTER_MS })
      })

      it('an expired lease is taken over; the old owner can then neither complete nor release', async () => {
        const c1 = claim({ owner: 'o1', leaseMs: 5000 })
        expect(await store.claimIdempotencyKey(c1)).toEqual({ kind: 'claimed' })
        expect(await store.claimIdempotencyKey(claim({ owner: 'o2', now: at(5000), leaseMs: 5000 }))).toEqual({ kind: 'claimed' })
        // o1 wakes up: ignored.
        await store.completeIdempotencyKey({ scope: c1.scope, key: c1.key, owner: 'o1', response: { ...response, body: 'stale' }, now: at(5100) })
        await store.releaseIdempotencyKey({ scope: c1.scope, key: c1.key, owner: 'o1' })
        expect(await store.claimIdempotencyKey(claim({ owner: 'o3', now: at(6000) }))).toEqual({ kind: 'in_flight', retryAfterMs: 4000 })
        await store.completeIdempotencyKey({ scope: c1.scope, key: c1.key, owner: 'o2', response, now: at(6100) })
        expect(await store.claimIdempotencyKey(claim({ owner: 'o4', now: at(7000) }))).toEqual({ kind: 'replay', response })
      })

      it('only the owner completes', async () => {
        const c = claim({ owner: 'o1' })
        await store.claimIdempotencyKey(c)
        await store.completeIdempotencyKey({ scope: c.scope, key: c.key, owner: 'intruder', response, now: at(10) })
        expect(await store.claimIdempotencyKey(claim({ now: at(20) }))).toMatchObject({ kind: 'in_flight' })
        // A completed key cannot be completed again with another response.
        await store.completeIdempotencyKey({ scope: c.scope, key: c.key, owner: 'o1', response, now: at(30) })
        await store.completeIdempotencyKey({ scope: c.scope, key: c.key, owner: 'o1', response: { ...response, body: 'other' }, now: at(40) })
        expect(await store.claimIdempotencyKey(claim({ now: at(50) }))).toEqual({ kind: 'replay', response })
      })

      it('only the owner releases; a released key may be claimed again', async () => {
        const c = claim({ owner: 'o1' })
        await store.claimIdempotencyKey(c)
        await store.releaseIdempotencyKey({ scope: c.scope, key: c.key, owner: 'intruder' })
        expect(await store.claimIdempotencyKey(claim({ now: at(10) }))).toMatchObject({ kind: 'in_flight' })
        await store.releaseIdempotencyKey({ scope: c.scope, key: c.key, owner: 'o1' })
        expect(await store.claimIdempotencyKey(claim({ owner: 'o2', now: at(20), fingerprint: 'e'.repeat(64) }))).toEqual({ kind: 'claimed' })
      })

      it('a 5xx response is not stored: completing with one releases the key', async () => {
        const c = claim({ owner: 'o1' })
        await store.claimIdempotencyKey(c)
        await store.completeIdempotencyKey({ scope: c.scope, key: c.key, owner: 'o1', response: { status: 503, headers: {}, body: 'down' }, now: at(10) })
        expect(await store.claimIdempotencyKey(claim({ owner: 'o2', now: at(20) }))).toEqual({ kind: 'claimed' })
      })

      it('purge deletes completed keys older than `before`, nothing else', async () => {
        const done = async (key: string, completedAt: number): Promise<void> => {
          const c = claim({ key, owner: `o_${key}`, now: at(completedAt - 10) })
          expect(await store.claimIdempotencyKey(c)).toEqual({ kind: 'claimed' })
          await store.completeIdempotencyKey({ scope: c.scope, key, owner: c.owner, response, now: at(completedAt) })
        }
        await done('old-1', 1000)
        await done('old-2', 2000)
        await done('new', 10_000)
        await store.claimIdempotencyKey(claim({ key: 'in-flight', now: at(0), leaseMs: 1000 }))
        expect(await store.purgeIdempotencyKeys(at(5000))).toBe(2)
        expect(await store.purgeIdempotencyKeys(at(5000))).toBe(0)
        expect(await store.claimIdempotencyKey(claim({ key: 'old-1', now: at(20_000) }))).toEqual({ kind: 'claimed' })
        expect(await store.claimIdempotencyKey(claim({ key: 'new', now: at(20_000) }))).toEqual({ kind: 'replay', response })
        // The abandoned in-flight key was kept (and can be taken over).
        expect(await store.claimIdempotencyKey(claim({ key: 'in-flight', now: at(20_000) }))).toEqual({ kind: 'claimed' })
      })

      it('50 concurrent claims of one key: exactly one is claimed, the others are in flight', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.claimIdempotencyKey(claim({ key: 'hot', now: at(i) }))))
        expect(results.filter((r) => r.kind === 'claimed')).toHaveLength(1)
        expect(results.filter((r) => r.kind === 'in_flight')).toHaveLength(49)
      })
    })

    // --- outbox -----------------------------------------------------------------------------------

    describe('outbox', () => {
      it('enqueues rows as pending, due at their creation time', async () => {
        const o = outboxRow({ createdAt: at(5), aggregateId: 'pi_x' })
        const bare = outboxRow({ createdAt: at(6) })
        await store.enqueueOutbox([o, bare])
        await store.enqueueOutbox([])
        expect(await store.getOutbox(o.id)).toEqual({ ...o, state: 'pending', attempts: 0, nextAttemptAt: at(5) })
        const b = (await store.getOutbox(bare.id))!
        expect(b.aggregateId).toBeUndefined()
        expect(b.payload).toBe(bare.payload)
        expect(await store.getOutbox('evt_missing')).toBeUndefined()
        expect(await store.countOutbox()).toEqual({ pending: 2, delivered: 0, dead: 0 })
      })

      it('claims due rows in order under a lease; no second claim while the lease holds; again after it expired', async () => {
        const rows = [outboxRow({ createdAt: at(2) }), outboxRow({ createdAt: at(0) }), outboxRow({ createdAt: at(1) }), outboxRow({ createdAt: at(60_000) })]
        await store.enqueueOutbox(rows)
        const first = await store.claimOutbox({ workerId: 'w1', limit: 2, now: at(10_000), leaseMs: 30_000 })
        expect(first.map((r) => r.id)).toEqual([rows[1]!.id, rows[2]!.id])
        for (const r of first) expect(r).toMatchObject({ claimedBy: 'w1', claimedUntil: at(40_000), state: 'pending' })

        const second = await store.claimOutbox({ workerId: 'w2', limit: 10, now: at(10_000), leaseMs: 30_000 })
        expect(second.map((r) => r.id)).toEqual([rows[0]!.id]) // the future row is not due
        expect(await store.claimOutbox({ workerId: 'w3', limit: 10, now: at(39_999), leaseMs: 30_000 })).toEqual([])

        const third = await store.claimOutbox({ workerId: 'w3', limit: 10, now: at(40_000), leaseMs: 30_000 })
        expect(third.map((r) => r.id)).toEqual([rows[1]!.id, rows[2]!.id, rows[0]!.id])
        const fourth = await store.claimOutbox({ workerId: 'w4', limit: 10, now: at(70_000), leaseMs: 1_000 })
        // w3's lease ended at 70 000 (expired at `until`); the future row is due by now.
        expect(fourth.map((r) => r.id)).toEqual([rows[1]!.id, rows[2]!.id, rows[0]!.id, rows[3]!.id])
        expect(await store.getOutbox(rows[3]!.id)).toMatchObject({ claimedBy: 'w4', claimedUntil: at(71_000) })
      })

      it('two workers claiming at once never get the same row', async () => {
        const rows = Array.from({ length: 20 }, (_, i) => outboxRow({ createdAt: at(i) }))
        await store.enqueueOutbox(rows)
        const claims = await Promise.all(
          ['w1', 'w2', 'w1b', 'w2b'].map((workerId) => store.claimOutbox({ workerId, limit: 6, now: at(1000), leaseMs: 30_000 })),
        )
        const ids = claims.flat().map((r) => r.id)
        expect(ids).toHaveLength(20)
        expect(new Set(ids).size).toBe(20)
        expect(await store.claimOutbox({ workerId: 'w3', limit: 10, now: at(2000), leaseMs: 30_000 })).toEqual([])
      })

      it('records a delivered attempt: the row is delivered, unclaimed, never claimed again', async () => {
        const o = outboxRow()
        await store.enqueueOutbox([o])
        await store.claimOutbox({ workerId: 'w1', limit: 1, now: at(1000), leaseMs: 30_000 })
        await store.recordOutboxAttempt({ id: o.id, workerId: 'w1', attempt: 1, at: at(1500), durationMs: 42, statusCode: 200, result: { kind: 'delivered' } })
        const row = (await store.getOutbox(o.id))!
        expect(row).toEqual({ ...o, state: 'delivered', attempts: 1, nextAttemptAt: o.createdAt, deliveredAt: at(1500) })
        expect(await store.listOutboxAttempts(o.id)).toEqual([
          { outboxId: o.id, attempt: 1, workerId: 'w1', at: at(1500), durationMs: 42, statusCode: 200, result: 'delivered' },
        ])
        expect(await store.claimOutbox({ workerId: 'w2', limit: 10, now: at(999_999), leaseMs: 1000 })).toEqual([])
        expect(await store.countOutbox()).toEqual({ pending: 0, delivered: 1, dead: 0 })
      })

      it('records retries (due again at nextAttemptAt) and a final dead attempt', async () => {
        const o = outboxRow()
        await store.enqueueOutbox([o])
        await store.claimOutbox({ workerId: 'w1', limit: 1, now: at(1000), leaseMs: 30_000 })
        await store.recordOutboxAttempt({
          id: o.id,
          workerId: 'w1',
          attempt: 1,
          at: at(1100),
          durationMs: 10,
          statusCode: 503,
          error: 'HTTP 503',
          result: { kind: 'retry', nextAttemptAt: at(60_000) },
        })
        expect(await store.getOutbox(o.id)).toEqual({ ...o, state: 'pending', attempts: 1, nextAttemptAt: at(60_000) })
        expect(await store.claimOutbox({ workerId: 'w2', limit: 1, now: at(59_999), leaseMs: 30_000 })).toEqual([])
        expect((await store.claimOutbox({ workerId: 'w2', limit: 1, now: at(60_000), leaseMs: 30_000 })).map((r) => r.id)).toEqual([o.id])
        await store.recordOutboxAttempt({ id: o.id, workerId: 'w2', attempt: 2, at: at(60_100), durationMs: 5000, error: 'timeout', result: { kind: 'dead' } })
        expect(await store.getOutbox(o.id)).toMatchObject({ state: 'dead', attempts: 2 })
        expect(await store.listOutboxAttempts(o.id)).toEqual([
          { outboxId: o.id, attempt: 1, workerId: 'w1', at: at(1100), durationMs: 10, statusCode: 503, error: 'HTTP 503', result: 'retry' },
          { outboxId: o.id, attempt: 2, workerId: 'w2', at: at(60_100), durationMs: 5000, error: 'timeout', result: 'dead' },
        ])
        expect(await store.claimOutbox({ workerId: 'w3', limit: 1, now: at(999_999), leaseMs: 30_000 })).toEqual([])
        expect(await store.countOutbox()).toEqual({ pending: 0, delivered: 0, dead: 1 })
      })

      it('a worker that lost its lease cannot record an attempt (ignored)', async () => {
        const o = outboxRow()
        await store.enqueueOutbox([o])
        await store.claimOutbox({ workerId: 'w1', limit: 1, now: at(0), leaseMs: 1000 })
        await store.claimOutbox({ workerId: 'w2', limit: 1, now: at(2000), leaseMs: 30_000 })
        await store.recordOutboxAttempt({ id: o.id, workerId: 'w1', attempt: 1, at: at(2100), durationMs: 1, statusCode: 200, result: { kind: 'delivered' } })
        expect(await store.getOutbox(o.id)).toMatchObject({ state: 'pending', attempts: 0, claimedBy: 'w2' })
        expect(await store.listOutboxAttempts(o.id)).toEqual([])
        await store.recordOutboxAttempt({ id: o.id, workerId: 'w2', attempt: 1, at: at(2200), durationMs: 1, statusCode: 204, result: { kind: 'delivered' } })
        expect(await store.getOutbox(o.id)).toMatchObject({ state: 'delivered', attempts: 1 })
        // Unknown ids are ignored too.
        await store.recordOutboxAttempt({ id: 'evt_missing', workerId: 'w2', attempt: 1, at: at(1), durationMs: 1, result: { kind: 'dead' } })
        expect(await store.listOutboxAttempts('evt_missing')).toEqual([])
      })
    })

    // --- replay locks -----------------------------------------------------------------------------

    describe('replay locks', () => {
      const lock = (holder: string, now: number, expiresAt = now + 60_000) => ({
        namespace: 'eip3009:eip155:8453:0xasset',
        key: '0xpayer:0xnonce',
        holder,
        now: at(now),
        expiresAt: at(expiresAt),
      })

      it('is taken once; refused while held (even to the same holder); taken again once expired', async () => {
        expect(await store.acquireReplayLock(lock('h1', 0, 60_000))).toBe(true)
        expect(await store.acquireReplayLock(lock('h2', 1000))).toBe(false)
        expect(await store.acquireReplayLock(lock('h1', 1000))).toBe(false)
        expect(await store.acquireReplayLock(lock('h2', 59_999))).toBe(false)
        expect(await store.acquireReplayLock({ ...lock('h2', 0), namespace: 'mpp:challenge' })).toBe(true)
        expect(await store.acquireReplayLock(lock('h2', 60_000, 120_000))).toBe(true)
        expect(await store.acquireReplayLock(lock('h3', 60_001))).toBe(false)
      })

      it('is released by its holder only', async () => {
        expect(await store.acquireReplayLock(lock('h1', 0))).toBe(true)
        expect(await store.releaseReplayLock({ namespace: lock('h1', 0).namespace, key: lock('h1', 0).key, holder: 'h2' })).toBe(false)
        expect(await store.acquireReplayLock(lock('h2', 10))).toBe(false)
        expect(await store.releaseReplayLock({ namespace: lock('h1', 0).namespace, key: lock('h1', 0).key, holder: 'h1' })).toBe(true)
        expect(await store.releaseReplayLock({ namespace: lock('h1', 0).namespace, key: lock('h1', 0).key, holder: 'h1' })).toBe(false)
        expect(await store.acquireReplayLock(lock('h2', 20))).toBe(true)
      })

      it('50 concurrent acquires: exactly one wins', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.acquireReplayLock(lock(`h${i}`, 0))))
        expect(results.filter(Boolean)).toHaveLength(1)
      })

      it('purge deletes expired locks only', async () => {
        for (const [key, exp] of [['a', 10_000], ['b', 20_000], ['c', 30_000]] as const) {
          expect(await store.acquireReplayLock({ ...lock('h1', 0, exp), key })).toBe(true)
        }
        expect(await store.purgeReplayLocks(at(25_000))).toBe(2)
        expect(await store.purgeReplayLocks(at(25_000))).toBe(0)
        expect(await store.acquireReplayLock({ ...lock('h2', 25_000), key: 'c' })).toBe(false)
        expect(await store.acquireReplayLock({ ...lock('h2', 25_000), key: 'a' })).toBe(true)
      })
    })

    // --- checkout sessions and tokens -------------------------------------------------------------

    describe('checkout sessions', () => {
      const session = (version: number, status = 'not_ready_for_payment') => ({
        id: 'cs_contract_1',
        protocol: 'acp',
        merchantId: 'm_1',
        status,
        version,
        doc: { id: 'cs_contract_1', status, totals: [{ type: 'total', amount: 1999 }], note: null },
        createdAt: at(0),
        updatedAt: at(version * 1000),
      })

      it('inserts, reads back the document exactly, and updates with a version check', async () => {
        await store.insertCheckoutSession(session(1))
        expect(await store.getCheckoutSession('cs_contract_1')).toEqual(session(1))
        expect(await store.getCheckoutSession('cs_nope')).toBeUndefined()
        expect(await store.updateCheckoutSession(session(2, 'ready_for_payment'), 1)).toEqual({ ok: true })
        expect(await store.getCheckoutSession('cs_contract_1')).toEqual(session(2, 'ready_for_payment'))
        expect(await store.updateCheckoutSession(session(2, 'canceled'), 1)).toEqual({ ok: false, reason: 'version_conflict', currentVersion: 2 })
        expect(await store.updateCheckoutSession({ ...session(2), id: 'cs_nope' }, 1)).toEqual({ ok: false, reason: 'not_found' })
        await expect(store.insertCheckoutSession(session(1))).rejects.toThrow()
      })

      it('of 20 concurrent updates from the same version exactly one wins', async () => {
        await store.insertCheckoutSession(session(1))
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.updateCheckoutSession({ ...session(2), status: `s${i}` }, 1)))
        expect(results.filter((r) => r.ok)).toHaveLength(1)
      })
    })

    describe('tokens', () => {
      const token = { id: 'vt_contract_1', state: 'active', expiresAt: at(60_000), doc: { max_amount: '5000', enc: 'base64…' } }

      it('inserts, reads and moves state for exactly one caller', async () => {
        await store.insertToken(token)
        expect(await store.getToken(token.id)).toEqual(token)
        expect(await store.getToken('vt_nope')).toBeUndefined()
        const wins = await Promise.all(Array.from({ length: 20 }, () => store.transitionToken({ id: token.id, from: 'active', to: 'used' })))
        expect(wins.filter(Boolean)).toHaveLength(1)
        expect((await store.getToken(token.id))!.state).toBe('used')
        expect(await store.transitionToken({ id: token.id, from: 'active', to: 'revoked' })).toBe(false)
        expect(await store.transitionToken({ id: token.id, from: 'used', to: 'purged', doc: { purged: true } })).toBe(true)
        expect(await store.getToken(token.id)).toEqual({ ...token, state: 'purged', doc: { purged: true } })
      })

      it('compares the redemption key and the unbound redemption when asked (null: no redemption)', async () => {
        const id = 'gwt_contract_redemption'
        await store.insertToken({ id, state: 'active', expiresAt: at(60_000), doc: { kind: 'scoped' } })
        const k1 = { kind: 'scoped', redemption: { key: 'K1' } }
        expect(await store.transitionToken({ id, from: 'active', to: 'used', doc: k1, expectRedemptionKey: 'K1' })).toBe(false)
        expect(await store.transitionToken({ id, from: 'active', to: 'used', doc: k1, expectRedemptionKey: null })).toBe(true)
        // release A (holder K1) → redeem K2 → a stale release B for K1 must fail.
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1' })).toBe(true)
        const k2 = { kind: 'scoped', redemption: { key: 'K2' } }
        expect(await store.transitionToken({ id, from: 'active', to: 'used', doc: k2, expectRedemptionKey: null })).toBe(true)
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1' })).toBe(false)
        expect(await store.transitionToken({ id, from: 'used', to: 'used', doc: { kind: 'scoped', redemption: { key: 'K1', intent_id: 'pi_1' } }, expectRedemptionKey: 'K1' })).toBe(false)
        expect(await store.getToken(id)).toMatchObject({ state: 'used', doc: k2 })
        // Bind once: a second bind of the same redemption needs it still unbound.
        const bound = (intent_id: string) => ({ kind: 'scoped', redemption: { key: 'K2', intent_id } })
        expect(await store.transitionToken({ id, from: 'used', to: 'used', doc: bound('pi_A'), expectRedemptionKey: 'K2', expectUnboundRedemption: true })).toBe(true)
        expect(await store.transitionToken({ id, from: 'used', to: 'used', doc: bound('pi_B'), expectRedemptionKey: 'K2', expectUnboundRedemption: true })).toBe(false)
        expect(await store.getToken(id)).toMatchObject({ state: 'used', doc: bound('pi_A') })
        // Without the options it still compares the state only.
        expect(await store.transitionToken({ id, from: 'used', to: 'revoked' })).toBe(true)
      })

      it('compares the intent a redemption is bound to when asked (null: bound to none)', async () => {
        const id = 'gwt_contract_bound'
        const redeemed = (intent_id?: string) => ({ kind: 'scoped', redemption: { key: 'K1', ...(intent_id ? { intent_id } : {}) } })
        await store.insertToken({ id, state: 'used', expiresAt: at(60_000), doc: redeemed() })
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1', expectRedemptionIntentId: 'pi_A' })).toBe(false)
        expect(await store.transitionToken({ id, from: 'used', to: 'used', doc: redeemed('pi_A'), expectRedemptionKey: 'K1', expectRedemptionIntentId: null })).toBe(true)
        // The same key now bound to pi_A: a release for pi_B (or for the unbound redemption) fails.
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1', expectRedemptionIntentId: 'pi_B' })).toBe(false)
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1', expectRedemptionIntentId: null })).toBe(false)
        expect(await store.getToken(id)).toMatchObject({ state: 'used', doc: redeemed('pi_A') })
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1', expectRedemptionIntentId: 'pi_A' })).toBe(true)
        // Only once: the token is active now.
        expect(await store.transitionToken({ id, from: 'used', to: 'active', doc: { kind: 'scoped' }, expectRedemptionKey: 'K1', expectRedemptionIntentId: 'pi_A' })).toBe(false)
        expect(await store.getToken(id)).toMatchObject({ state: 'active', doc: { kind: 'scoped' } })
      })
    })

    // --- open-mandate spend (AP2) -------------------------------------------------------------------

    describe('mandate spend', () => {
      const spend = (spendId: string, amount: string, ms: number) => ({ mandateId: 'om_1', spendId, amount, currency: 'USD', at: at(ms) })

      it('records uses idempotently, lists them oldest first with exact amounts, and removes one', async () => {
        expect(await store.getMandateSpend('om_1')).toEqual([])
        expect(await store.addMandateSpend(spend('ref_b', '2500', 2000))).toBe(true)
        expect(await store.addMandateSpend(spend('ref_a', '123456789012345678901234567890', 1000))).toBe(true)
        expect(await store.addMandateSpend(spend('ref_a', '999', 5000))).toBe(false)
        expect(await store.addMandateSpend({ ...spend('ref_a', '1', 0), mandateId: 'om_2' })).toBe(true)
        expect(await store.getMandateSpend('om_1')).toEqual([
          { spendId: 'ref_a', amount: '123456789012345678901234567890', currency: 'USD', at: at(1000) },
          { spendId: 'ref_b', amount: '2500', currency: 'USD', at: at(2000) },
        ])
        expect(await store.removeMandateSpend({ mandateId: 'om_1', spendId: 'ref_a' })).toBe(true)
        expect(await store.removeMandateSpend({ mandateId: 'om_1', spendId: 'ref_a' })).toBe(false)
        expect((await store.getMandateSpend('om_1')).map((r) => r.spendId)).toEqual(['ref_b'])
        expect(await store.getMandateSpend('om_2')).toHaveLength(1)
      })

      it('of 20 concurrent adds of one use exactly one records it', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => store.addMandateSpend(spend('ref_same', '100', 0))))
        expect(results.filter(Boolean)).toHaveLength(1)
        expect(await store.getMandateSpend('om_1')).toHaveLength(1)
      })
    })

    // --- wallets and spend reservations (W) ---------------------------------------------------

    describe('wallets', () => {
      const wallet = (over: Partial<WalletRecord> = {}): WalletRecord => ({
        id: 'wal_1',
        userId: 'user_1',
        agentId: 'agent_w',
        asset: 'iso4217:USD',
        limits: { perTransaction: '5000', daily: '1000', monthly: '2500' },
        merchantAllowList: ['m_test'],
        blockedCategories: ['gambling'],
        approvalThreshold: '800',
        notifyThresholdsPct: [50, 80, 100],
        funding: { instrument: { type: 'alipay.agreement' } },
        consent: 'granted',
        version: 1,
        createdAt: at(0),
        updatedAt: at(0),
        ...over,
      })
      const reserve = (intentId: string, amount: string, ms: number, walletId = 'wal_1') =>
        store.reserveWalletSpend({ walletId, intentId, amount, asset: 'iso4217:USD', daily: '1000', monthly: '2500', now: at(ms) })

      it('inserts once, reads back by id and as the agent default (oldest), updates with a version check', async () => {
        expect(await store.insertWallet(wallet())).toBe(true)
        expect(await store.insertWallet(wallet({ userId: 'other' }))).toBe(false)
        expect(await store.insertWallet(wallet({ id: 'wal_2', createdAt: at(5000), updatedAt: at(5000), limits: {}, merchantAllowList: [], blockedCategories: [], approvalThreshold: undefined }))).toBe(true)
        const { approvalThreshold: _omit, ...rest } = wallet({ id: 'wal_2', createdAt: at(5000), updatedAt: at(5000), limits: {}, merchantAllowList: [], blockedCategories: [] })
        expect(await store.getWallet('wal_2')).toEqual(rest)
        expect(await store.getWallet('wal_1')).toEqual(wallet())
        expect(await store.getWallet('wal_none')).toBeUndefined()
        expect((await store.getWalletForAgent('agent_w'))?.id).toBe('wal_1')
        expect(await store.getWalletForAgent('agent_none')).toBeUndefined()
        const revoked = wallet({ consent: 'revoked', consentRevokedAt: at(9000), version: 2, updatedAt: at(9000) })
        expect(await store.updateWallet(revoked, 1)).toEqual({ ok: true })
        expect(await store.getWallet('wal_1')).toEqual(revoked)
        expect(await store.updateWallet({ ...revoked, version: 2 }, 1)).toEqual({ ok: false, reason: 'version_conflict', currentVersion: 2 })
        expect(await store.updateWallet(wallet({ id: 'wal_none', version: 2 }), 1)).toEqual({ ok: false, reason: 'not_found' })
        await expect(store.updateWallet(wallet({ version: 5 }), 2)).rejects.toBeInstanceOf(StoreUsageError)
      })

      it('reserves idempotently by intent, within the UTC day and month caps, and releases', async () => {
        await store.insertWallet(wallet())
        expect(await reserve('pi_w1', '600', 1000)).toEqual({ ok: true, existing: false, before: { day: '0', month: '0' }, after: { day: '600', month: '600' } })
        expect(await reserve('pi_w1', '600', 2000)).toEqual({ ok: true, existing: true, before: { day: '600', month: '600' }, after: { day: '600', month: '600' } })
        expect(await reserve('pi_w2', '401', 3000)).toEqual({ ok: false, reason: 'daily_limit_exceeded', spent: { day: '600', month: '600' } })
        expect(await reserve('pi_w2', '400', 3000)).toMatchObject({ ok: true, existing: false, after: { day: '1000', month: '1000' } })
        // The next UTC day starts at 0 again; the month keeps counting.
        const nextDay = 24 * 3_600_000
        expect(await store.getWalletSpend({ walletId: 'wal_1', now: at(nextDay) })).toEqual({ day: '0', month: '1000' })
        expect(await reserve('pi_w3', '1000', nextDay)).toMatchObject({ ok: true, after: { day: '1000', month: '2000' } })
        expect(await reserve('pi_w4', '600', 2 * nextDay)).toEqual({ ok: false, reason: 'monthly_limit_exceeded', spent: { day: '0', month: '2000' } })
        expect(await store.releaseWalletSpend({ intentId: 'pi_w3' })).toBe(true)
        expect(await store.releaseWalletSpend({ intentId: 'pi_w3' })).toBe(false)
        expect(await reserve('pi_w4', '600', 2 * nextDay)).toMatchObject({ ok: true, after: { day: '600', month: '1600' } })
        expect(await reserve('pi_x', '1', 0, 'wal_none')).toEqual({ ok: false, reason: 'wallet_not_found' })
        // A new UTC month starts at 0.
        expect(await store.getWalletSpend({ walletId: 'wal_1', now: new Date('2030-02-01T00:00:00.000Z') })).toEqual({ day: '0', month: '0' })
      })

      it('stops counting a reservation once its intent is failed or canceled', async () => {
        await store.insertWallet(wallet())
        const s = await insert({ payer: { agent_id: 'agent_w', wallet_id: 'wal_1' } })
        expect(await reserve(s.intent.id, '1000', 1000)).toMatchObject({ ok: true, existing: false })
        expect(await reserve('pi_other', '1', 1000)).toMatchObject({ ok: false, reason: 'daily_limit_exceeded' })
        await store.updateIntent(buildNextUpdate(s, { type: 'decline', to_status: 'failed', reason: 'declined' }))
        expect(await store.getWalletSpend({ walletId: 'wal_1', now: at(1000) })).toEqual({ day: '0', month: '0' })
        expect(await reserve('pi_other', '1000', 1000)).toMatchObject({ ok: true, existing: false })
      })

      it('of 50 concurrent reservations of 100 against a daily cap of 1000, exactly 10 win', async () => {
        await store.insertWallet(wallet())
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => reserve(`pi_c${i}`, '100', 1000)))
        expect(results.filter((r) => r.ok)).toHaveLength(10)
        expect(results.filter((r) => !r.ok && r.reason === 'daily_limit_exceeded')).toHaveLength(40)
        expect(await store.getWalletSpend({ walletId: 'wal_1', now: at(1000) })).toEqual({ day: '1000', month: '1000' })
        // The same intents again: all existing or refused, nothing new.
        const again = await Promise.all(Array.from({ length: 50 }, (_, i) => reserve(`pi_c${i}`, '100', 1000)))
        expect(again.filter((r) => r.ok && !r.existing)).toHaveLength(0)
      })
    })

    // --- refunds and disputes (D) --------------------------------------------------------------

    describe('refunds and disputes', () => {
      const refund = (o: Partial<RefundRecord> = {}): RefundRecord => ({
        id: newId('re'),
        intentId: 'pi_01JD0000000000000000000001',
        merchantId: 'm_1',
        status: 'pending',
        amount: { value: '300', asset: 'iso4217:USD' },
        railAmount: { value: '300', asset: 'iso4217:USD' },
        rail: 'antom',
        actor: 'merchant:m_1',
        createdAt: at(0),
        updatedAt: at(0),
        ...o,
      })

      it('a refund is exactly-once per (intent, dedupe key); without a key every refund is new', async () => {
        const first = refund({ dedupeKey: 'k1', reason: 'damaged' })
        expect(await store.insertRefund(first)).toEqual({ ok: true })
        expect(await store.insertRefund(refund({ dedupeKey: 'k1', amount: { value: '1', asset: 'iso4217:USD' } }))).toEqual({ ok: false, reason: 'duplicate', existing: first })
        // The same key on another intent, and refunds without a key, are other refunds.
        expect(await store.insertRefund(refund({ dedupeKey: 'k1', intentId: 'pi_01JD0000000000000000000002' }))).toEqual({ ok: true })
        const a = refund({ createdAt: at(1) })
        const b = refund({ createdAt: at(2) })
        expect(await store.insertRefund(a)).toEqual({ ok: true })
        expect(await store.insertRefund(b)).toEqual({ ok: true })
        expect(await store.getRefund(first.id)).toEqual(first)
        expect((await store.listRefunds(first.intentId)).map((r) => r.id)).toEqual([first.id, a.id, b.id])
        expect(await store.getRefund(newId('re'))).toBeUndefined()
      })

      it('concurrent inserts with one dedupe key: one wins, every other caller gets the winner', async () => {
        const tries = Array.from({ length: 8 }, (_, i) => refund({ dedupeKey: 'race', amount: { value: String(100 + i), asset: 'iso4217:USD' } }))
        const results = await Promise.all(tries.map((r) => store.insertRefund(r)))
        const winners = results.filter((r) => r.ok)
        expect(winners).toHaveLength(1)
        const winner = tries[results.findIndex((r) => r.ok)]!
        for (const r of results) if (!r.ok) expect(r.existing).toEqual(winner)
        expect(await store.listRefunds(winner.intentId)).toEqual([winner])
      })

      it('finishRefund changes a pending refund once; a finished one stays as it is', async () => {
        const r = refund({ dedupeKey: 'k2' })
        await store.insertRefund(r)
        const unknown = { ...r, code: 'refund_pending', updatedAt: at(5) }
        expect(await store.finishRefund(unknown)).toBe(true)
        expect(await store.getRefund(r.id)).toEqual(unknown)
        const done = { ...r, status: 'succeeded' as const, reference: '2026112122001:re', updatedAt: at(10) }
        expect(await store.finishRefund(done)).toBe(true)
        expect(await store.finishRefund({ ...r, status: 'failed', code: 'late', updatedAt: at(20) })).toBe(false)
        expect(await store.getRefund(r.id)).toEqual(done)
        expect(await store.finishRefund(refund())).toBe(false)
      })

      it('listPendingRefunds: pending refunds unchanged since before the cut-off, the longest unchanged first, bounded', async () => {
        const old = refund({ createdAt: at(0), updatedAt: at(10) })
        const older = refund({ createdAt: at(5), updatedAt: at(5) })
        const young = refund({ createdAt: at(0), updatedAt: at(100) })
        const done = refund({ createdAt: at(0), updatedAt: at(0) })
        for (const r of [old, older, young, done]) await store.insertRefund(r)
        await store.finishRefund({ ...done, status: 'succeeded', reference: 'ref-1', updatedAt: at(1) })
        expect(await store.listPendingRefunds({ updatedBefore: at(50), limit: 10 })).toEqual([older, old])
        expect(await store.listPendingRefunds({ updatedBefore: at(50), limit: 1 })).toEqual([older])
        // The cut-off is exclusive; a refund touched again (an unknown outcome recorded) moves back.
        expect((await store.listPendingRefunds({ updatedBefore: at(5), limit: 10 })).map((r) => r.id)).toEqual([])
        await store.finishRefund({ ...older, code: 'refund_pending', updatedAt: at(60) })
        expect((await store.listPendingRefunds({ updatedBefore: at(200), limit: 10 })).map((r) => r.id)).toEqual([old.id, older.id, young.id])
      })

      it('stores disputes with their evidence and lists them newest first by intent or merchant', async () => {
        const d = (o: Partial<DisputeRecord> = {}): DisputeRecord => ({
          id: newId('dp'),
          intentId: 'pi_01JD0000000000000000000001',
          merchantId: 'm_1',
          status: 'open',
          reason: 'product_not_received',
          amount: { value: '1000', asset: 'iso4217:USD' },
          actor: 'merchant:m_1',
          evidence: { audit: { chain: { valid: true }, events: [{ seq: 1 }] }, receipts: { settlement: { reference: '0xabc' } } },
          createdAt: at(0),
          updatedAt: at(0),
          ...o,
        })
        const one = d({ note: 'never arrived' })
        const two = d({ merchantId: 'm_2', intentId: 'pi_01JD0000000000000000000009' })
        const three = d()
        for (const x of [one, two, three]) await store.insertDispute(x)
        expect(await store.getDispute(one.id)).toEqual(one)
        expect(await store.getDispute(newId('dp'))).toBeUndefined()
        expect((await store.listDisputes({ intentId: one.intentId, limit: 10 })).map((x) => x.id)).toEqual([three.id, one.id])
        expect((await store.listDisputes({ merchantId: 'm_2', limit: 10 })).map((x) => x.id)).toEqual([two.id])
        expect(await store.listDisputes({ limit: 2 })).toHaveLength(2)
      })
    })

    // --- risk rules (A) ----------------------------------------------------------------------------

    describe('risk queries', () => {
      const iso = (ms: number): string => at(ms).toISOString()
      it('counts an agent\'s and a payer\'s intents since a time, leaving one out', async () => {
        const a1 = await insert({ payer: { agent_id: 'ag_r', user_id: 'u_r' }, created_at: iso(0), updated_at: iso(0) })
        await insert({ payer: { agent_id: 'ag_r', user_id: 'u_r' }, created_at: iso(10_000), updated_at: iso(10_000) })
        await insert({ payer: { agent_id: 'ag_r', address: '0xabc' }, created_at: iso(20_000), updated_at: iso(20_000) })
        await insert({ payer: { agent_id: 'ag_other', user_id: 'u_r' }, created_at: iso(20_000), updated_at: iso(20_000) })
        expect(await store.riskCountIntents({ by: 'agent', key: 'ag_r', since: at(0) })).toBe(3)
        expect(await store.riskCountIntents({ by: 'agent', key: 'ag_r', since: at(0), excludeId: a1.intent.id })).toBe(2)
        expect(await store.riskCountIntents({ by: 'agent', key: 'ag_r', since: at(10_001) })).toBe(1)
        expect(await store.riskCountIntents({ by: 'payer', key: 'u_r', since: at(0) })).toBe(3)
        expect(await store.riskCountIntents({ by: 'payer', key: '0xabc', since: at(0) })).toBe(1)
        expect(await store.riskCountIntents({ by: 'agent', key: 'nobody', since: at(0) })).toBe(0)
      })

      it('lists the newest paid amounts of an agent in one asset, and whether it paid a merchant', async () => {
        const paid = async (value: string, ms: number, status: IntentStatus, asset = 'iso4217:USD', merchant = 'm_a'): Promise<void> => {
          const s = await insert({ payer: { agent_id: 'ag_h' }, merchant_id: merchant, amount: { value, asset }, created_at: iso(ms), updated_at: iso(ms) })
          if (status !== 'created') await advance(s, { type: 'annotate', to_status: status })
        }
        await paid('100', 0, 'succeeded')
        await paid('200', 1000, 'refunded')
        await paid('99999', 2000, 'failed')
        await paid('300', 3000, 'partially_refunded')
        await paid('400', 4000, 'succeeded', 'iso4217:EUR')
        await paid('500', 5000, 'created', 'iso4217:USD', 'm_b')
        expect(await store.riskPaidAmounts({ agentId: 'ag_h', asset: 'iso4217:USD', limit: 10 })).toEqual(['300', '200', '100'])
        expect(await store.riskPaidAmounts({ agentId: 'ag_h', asset: 'iso4217:USD', limit: 2 })).toEqual(['300', '200'])
        expect(await store.riskPaidAmounts({ agentId: 'ag_h', asset: 'iso4217:EUR', limit: 10 })).toEqual(['400'])
        expect(await store.riskHasPaidMerchant({ agentId: 'ag_h', merchantId: 'm_a' })).toBe(true)
        expect(await store.riskHasPaidMerchant({ agentId: 'ag_h', merchantId: 'm_b' })).toBe(false)
        expect(await store.riskHasPaidMerchant({ agentId: 'ag_x', merchantId: 'm_a' })).toBe(false)
      })
    })

    // --- API keys -------------------------------------------------------------------------------

    describe('api keys', () => {
      it('puts, finds, replaces and marks revoked keys', async () => {
        const rec = { hash: 'a'.repeat(64), id: 'key_1', kind: 'merchant' as const, principalId: 'm_1', scopes: ['intents:read', 'intents:write'], createdAt: at(0) }
        await store.putApiKey(rec)
        expect(await store.findApiKey(rec.hash)).toEqual(rec)
        expect(await store.findApiKey('b'.repeat(64))).toBeUndefined()
        await store.putApiKey({ ...rec, scopes: [], revokedAt: at(1000) })
        expect(await store.findApiKey(rec.hash)).toEqual({ ...rec, scopes: [], revokedAt: at(1000) })
        const agent = { hash: 'c'.repeat(64), id: 'key_2', kind: 'agent' as const, principalId: 'agent_1', scopes: ['pay'], createdAt: at(5) }
        await store.putApiKey(agent)
        expect(await store.findApiKey(agent.hash)).toEqual(agent)
      })
    })
  })
}
