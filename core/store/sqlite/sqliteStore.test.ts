import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { buildCreateEvent, buildIntent } from '../../testing/builders.js'
import { runStoreContract } from '../contract.js'
import { loadMigrations } from '../migrate.js'
import { openStore } from '../open.js'
import { openSqliteStore } from './sqliteStore.js'

const dir = mkdtempSync(join(tmpdir(), 'agentswitch-sqlite-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
runStoreContract('sqlite', async () => {
  const path = join(dir, `store-${++n}.db`)
  const store = openSqliteStore({ path })
  return {
    store,
    async cleanup() {
      await store.close()
      for (const f of [path, `${path}-wal`, `${path}-shm`]) rmSync(f, { force: true })
    },
  }
})

describe('sqlite store specifics', () => {
  it('group-commits concurrent writes: one transaction for a burst, one per call when sequential', async () => {
    const store = openSqliteStore({ path: join(dir, 'group.db') })
    await store.migrate()
    const intents = Array.from({ length: 32 }, () => buildIntent())
    const before = { ...store.groupCommitStats }
    const results = await Promise.all(intents.map((intent) => store.insertIntent({ intent, event: buildCreateEvent(intent) })))
    expect(results.every((r) => r.ok)).toBe(true)
    expect(store.groupCommitStats.jobs - before.jobs).toBe(32)
    expect(store.groupCommitStats.transactions - before.transactions).toBe(1)

    const mid = { ...store.groupCommitStats }
    for (const intent of Array.from({ length: 3 }, () => buildIntent())) await store.insertIntent({ intent, event: buildCreateEvent(intent) })
    expect(store.groupCommitStats.transactions - mid.transactions).toBe(3)
    await store.close()
  })

  it('acknowledged writes are durable: a new connection sees them; WAL and synchronous=FULL are on', async () => {
    const path = join(dir, 'durable.db')
    const store = openStore({ driver: 'sqlite', sqlite: { path: join(dir, 'nested', 'durable.db') } })
    await store.migrate()
    await store.close()
    const a = openSqliteStore({ path })
    await a.migrate()
    const intent = buildIntent()
    await a.insertIntent({ intent, event: buildCreateEvent(intent) })
    const b = openSqliteStore({ path })
    expect((await b.getIntent(intent.id))?.intent).toEqual(intent)
    await a.close()
    await b.close()
    const raw = new Database(path, { readonly: true })
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal')
    const tables = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((r) => r.name)
    expect(tables).toEqual(
      expect.arrayContaining(['intents', 'intent_events', 'idempotency_keys', 'outbox', 'outbox_attempts', 'replay_locks', 'api_keys', 'checkout_sessions', 'wallets', 'spend_counters', 'tokens', 'mandates', 'schema_migrations']),
    )
    expect(raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(loadMigrations('sqlite').map((m) => ({ version: m.version })))
    raw.close()
  })
})
