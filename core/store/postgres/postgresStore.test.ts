import { afterAll, describe, expect, inject, it } from 'vitest'
import { buildCreateEvent, buildIntent } from '../../testing/builders.js'
import { createTestSchema, emptySchema, withClient } from '../../testing/pg.js'
import { runStoreContract } from '../contract.js'
import { loadMigrations } from '../migrate.js'
import { openStore } from '../open.js'
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgresStore.js'

const pgUrl = inject('pgUrl')

// Skipped only when PostgreSQL is unreachable on this machine: globalSetup prints a loud warning
// then, and in CI (CI=true or REQUIRE_POSTGRES=1) it fails the run instead, so the scale-out
// store is proven on every landing.
describe.skipIf(!pgUrl)('postgres store', () => {
  // A fresh schema for this file (isolated from every other test file running at the same time),
  // emptied after each test; each test gets its own store (pool) on it.
  let shared: { schema: string; drop(): Promise<void> } | undefined
  afterAll(async () => {
    await shared?.drop()
  })
  runStoreContract('postgres', async () => {
    shared ??= await createTestSchema(pgUrl, 'store')
    const { schema } = shared
    const store = openPostgresStore({ url: pgUrl, schema, poolSize: 6 })
    return {
      store,
      async cleanup() {
        await store.close()
        await emptySchema(pgUrl, schema)
      },
    }
  })

  describe('postgres store specifics', () => {
    async function withStore(options: Partial<PostgresStoreOptions>, fn: (store: PostgresStore) => Promise<void>): Promise<void> {
      const { schema, drop } = await createTestSchema(pgUrl, 'pgs')
      const store = openPostgresStore({ url: pgUrl, schema, poolSize: 4, ...options })
      try {
        await store.migrate()
        await fn(store)
      } finally {
        await store.close()
        await drop()
      }
    }

    it('migrates once even when several stores migrate the same schema at once, and creates the schema', async () => {
      const { schema, drop } = await createTestSchema(pgUrl, 'mig')
      await withClient(pgUrl, (c) => c.query(`DROP SCHEMA "${schema}"`)) // migrate() must create it
      const stores = Array.from({ length: 4 }, () => openStore({ driver: 'postgres', postgres: { url: pgUrl, schema, poolSize: 2 } }))
      try {
        await Promise.all(stores.map((s) => s.migrate()))
        const versions = await withClient(pgUrl, (c) => c.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`))
        expect(versions.rows).toEqual(loadMigrations('postgres').map((m) => ({ version: m.version })))
        const intent = buildIntent()
        expect(await stores[0]!.insertIntent({ intent, event: buildCreateEvent(intent) })).toEqual({ ok: true })
        expect((await stores[3]!.getIntent(intent.id))?.intent).toEqual(intent)
        // The intent landed in the test schema, not in public.
        const where = await withClient(pgUrl, (c) => c.query(`SELECT count(*)::int AS n FROM "${schema}".intents`))
        expect(where.rows).toEqual([{ n: 1 }])
      } finally {
        await Promise.all(stores.map((s) => s.close()))
        await drop()
      }
    })

    it('stores money columns as NUMERIC and documents as jsonb (never float)', async () => {
      const { schema, drop } = await createTestSchema(pgUrl, 'types')
      const store = openPostgresStore({ url: pgUrl, schema, poolSize: 1 })
      try {
        await store.migrate()
        const types = await withClient(pgUrl, (c) =>
          c.query<{ table_name: string; column_name: string; data_type: string }>(
            `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1`,
            [schema],
          ),
        )
        const type = (t: string, col: string): string | undefined => types.rows.find((r) => r.table_name === t && r.column_name === col)?.data_type
        expect(type('spend_counters', 'spent')).toBe('numeric')
        expect(type('intents', 'doc')).toBe('jsonb')
        expect(type('intents', 'created_at')).toBe('timestamp with time zone')
        expect(types.rows.filter((r) => /real|double/.test(r.data_type))).toEqual([])
      } finally {
        await store.close()
        await drop()
      }
    })

    it('groups a burst of inserts into one statement, with per-item outcomes; sequential inserts go alone', async () => {
      await withStore({}, async (store) => {
        await store.enqueueOutbox([{ id: 'evt_taken', type: 't', destination: 'd', payload: '{}', createdAt: new Date() }])
        const first = buildIntent({ merchant_id: 'm_b' })
        expect(await store.insertIntent({ intent: first, event: buildCreateEvent(first), dedupeKey: 'k0' })).toEqual({ ok: true })
        const before = { ...store.insertStats }

        const intents = Array.from({ length: 20 }, () => buildIntent({ merchant_id: 'm_b' }))
        const results = await Promise.all(
          intents.map((intent, i) =>
            store.insertIntent({
              intent,
              event: buildCreateEvent(intent),
              // Two keys taken within the burst, one taken before it.
              ...(i % 5 === 0 ? { dedupeKey: i < 10 ? 'k1' : 'k0' } : {}),
              ...(i % 3 === 0 ? { outbox: [{ id: `evt_b${i}`, type: 't', destination: 'd', payload: `{"i":${i}}`, aggregateId: intent.id, createdAt: new Date() }] } : {}),
            }),
          ),
        )
        const used = store.insertStats.statements - before.statements
        expect(used).toBeLessThanOrEqual(2) // the first call goes at once, the rest as one batch
        expect(results[0]).toEqual({ ok: true })
        expect(results[5]).toEqual({ ok: false, reason: 'duplicate', existingId: intents[0]!.id })
        expect(results[10]).toEqual({ ok: false, reason: 'duplicate', existingId: first.id })
        expect(results[15]).toEqual({ ok: false, reason: 'duplicate', existingId: first.id })
        for (const [i, intent] of intents.entries()) {
          const stored = await store.getIntent(intent.id)
          if (i === 5 || i === 10 || i === 15) {
            expect(stored).toBeUndefined()
            expect(await store.listEvents(intent.id)).toEqual([])
            if (i % 3 === 0) expect(await store.getOutbox(`evt_b${i}`)).toBeUndefined()
          } else {
            expect(results[i]).toEqual({ ok: true })
            expect(stored).toEqual({ intent, auditHead: buildCreateEvent(intent).hash, auditSeq: 1 })
            expect(await store.listEvents(intent.id)).toEqual([buildCreateEvent(intent)])
            if (i % 3 === 0) expect(await store.getOutbox(`evt_b${i}`)).toMatchObject({ aggregateId: intent.id, payload: `{"i":${i}}` })
          }
        }

        // One bad item aborts the batch statement; the others are retried alone and succeed.
        const more = Array.from({ length: 5 }, () => buildIntent())
        const settled = await Promise.allSettled(
          more.map((intent, i) =>
            store.insertIntent({
              intent,
              event: buildCreateEvent(intent),
              outbox: [{ id: i === 2 ? 'evt_taken' : `evt_m${i}`, type: 't', destination: 'd', payload: '{}', createdAt: new Date() }],
            }),
          ),
        )
        expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
        expect(await store.getIntent(more[2]!.id)).toBeUndefined()
        expect((await store.getIntent(more[4]!.id))?.intent).toEqual(more[4])

        const mid = { ...store.insertStats }
        for (let i = 0; i < 3; i++) {
          const intent = buildIntent()
          await store.insertIntent({ intent, event: buildCreateEvent(intent) })
        }
        expect(store.insertStats.statements - mid.statements).toBe(3)
      })
    })

    it('without batching, every insert is its own statement with the same outcomes', async () => {
      await withStore({ batchInserts: false }, async (store) => {
        const intents = Array.from({ length: 8 }, () => buildIntent({ merchant_id: 'm_nb' }))
        const results = await Promise.all(intents.map((intent) => store.insertIntent({ intent, event: buildCreateEvent(intent), dedupeKey: 'same' })))
        expect(store.insertStats.statements).toBe(8)
        const winners = results.flatMap((r, i) => (r.ok ? [intents[i]!.id] : []))
        expect(winners).toHaveLength(1)
        for (const r of results) if (!r.ok) expect(r.existingId).toBe(winners[0])
      })
    })

    it('close() finishes the inserts it already accepted', async () => {
      const { schema, drop } = await createTestSchema(pgUrl, 'close')
      try {
        const store = openPostgresStore({ url: pgUrl, schema, poolSize: 2 })
        await store.migrate()
        const intents = Array.from({ length: 6 }, () => buildIntent())
        const pending = intents.map((intent) => store.insertIntent({ intent, event: buildCreateEvent(intent) }))
        await store.close()
        expect(await Promise.all(pending)).toEqual(intents.map(() => ({ ok: true })))
        const reopened = openPostgresStore({ url: pgUrl, schema, poolSize: 1 })
        for (const intent of intents) expect((await reopened.getIntent(intent.id))?.intent).toEqual(intent)
        await reopened.close()
      } finally {
        await drop()
      }
    })

    it('refuses a schema name that is not a plain lower-case identifier', () => {
      expect(() => openPostgresStore({ url: pgUrl, schema: 'Bad"; DROP' })).toThrow(/schema/)
    })
  })
})
