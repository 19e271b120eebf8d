import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { openStore, type StoreConfig } from '../open.js'
import { raceIdempotencyKey } from '../testing/idempotencyRace.js'
import { expectOneExecution } from '../testing/raceAssertions.js'

// Acceptance: exactly-once across OS processes sharing one SQLite file (WAL, BEGIN IMMEDIATE).
describe('idempotency race across processes (sqlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-race-'))
  const config: StoreConfig = { driver: 'sqlite', sqlite: { path: join(dir, 'race.db') } }

  beforeAll(async () => {
    const store = openStore(config)
    await store.migrate()
    await store.close()
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('two processes, 220 concurrent attempts on one key: one execution, everyone else replays or waits', async () => {
    const results = await raceIdempotencyKey({ store: config, processes: 2, attemptsPerProcess: 110 })
    const store = openStore(config)
    const intentIds = (await store.listIntents({ limit: 10 })).items.map((i) => i.id)
    await store.close()
    await expectOneExecution(results, intentIds, config)
  }, 60_000)
})
