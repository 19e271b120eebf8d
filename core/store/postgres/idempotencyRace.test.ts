import { afterAll, beforeAll, describe, inject, it } from 'vitest'
import { createTestSchema, withClient } from '../../testing/pg.js'
import { openStore, type StoreConfig } from '../open.js'
import { raceIdempotencyKey } from '../testing/idempotencyRace.js'
import { expectOneExecution } from '../testing/raceAssertions.js'

const pgUrl = inject('pgUrl')

// Acceptance: exactly-once across OS processes on PostgreSQL. Skipped only when PostgreSQL is
// unreachable on this machine (globalSetup prints why; with CI=true it fails the run instead).
describe.skipIf(!pgUrl)('idempotency race across processes (postgres)', () => {
  let schema: { schema: string; drop(): Promise<void> }
  let config: StoreConfig

  beforeAll(async () => {
    schema = await createTestSchema(pgUrl, 'race')
    config = { driver: 'postgres', postgres: { url: pgUrl, schema: schema.schema, poolSize: 8 } }
    const store = openStore(config)
    await store.migrate()
    await store.close()
  })
  afterAll(async () => {
    await schema?.drop()
  })

  it('two processes, 220 concurrent attempts on one key: one execution, everyone else replays or waits', async () => {
    const results = await raceIdempotencyKey({ store: config, processes: 2, attemptsPerProcess: 110 })
    const intentIds = await withClient(pgUrl, async (c) =>
      (await c.query<{ id: string }>(`SELECT id FROM "${schema.schema}".intents`)).rows.map((r) => r.id),
    )
    await expectOneExecution(results, intentIds, config)
  }, 60_000)
})
