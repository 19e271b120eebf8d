import type { ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { openPostgresStore } from '../../core/store/postgres/postgresStore.js'
import { createTestSchema } from '../../core/testing/pg.js'
import { startServeProcess as startServe, writeSharedPostgresConfig } from '../testing/serveProcess.js'

const pgUrl = inject('pgUrl')
const AGENT_KEY = 'ask_race_agent_000000000000000000000'


// Skipped only when PostgreSQL is unreachable on this machine (globalSetup prints why; with CI=true
// an unreachable server fails the run instead).
describe.skipIf(!pgUrl)('two gateway processes on one PostgreSQL race one Idempotency-Key', () => {
  let schema: { schema: string; drop(): Promise<void> }
  const gateways: Array<{ child: ChildProcess; url: string }> = []
  beforeAll(async () => {
    schema = await createTestSchema(pgUrl)
    const dir = mkdtempSync(join(tmpdir(), 'agentswitch-race-'))
    const configPath = writeSharedPostgresConfig(dir, {
      pgUrl,
      schema: schema.schema,
      poolSize: 16,
      extra: { reconciler: {}, apiKeys: [{ id: 'k_agent', kind: 'agent', principalId: 'agent_race', key: AGENT_KEY }] },
    })
    // Start one first so migrations are not part of the race, then the second.
    gateways.push(await startServe(configPath))
    gateways.push(await startServe(configPath))
  }, 60_000)
  afterAll(async () => {
    for (const g of gateways) g.child.kill('SIGTERM')
    await schema?.drop()
  })

  it('≥ 200 concurrent attempts execute the operation exactly once; every other caller gets the replay or 409', async () => {
    const dispatcher = new Agent({ connections: 128 })
    const body = JSON.stringify({ merchant_id: 'm1', amount: { value: '4200', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' } })
    const N = 240
    const results = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const r = await request(`${gateways[i % 2]!.url}/v1/intents`, {
          method: 'POST',
          dispatcher,
          headers: { authorization: `Bearer ${AGENT_KEY}`, 'idempotency-key': 'the-one-key', 'content-type': 'application/json' },
          body,
        })
        const text = await r.body.text()
        return { status: r.statusCode, replayed: r.headers['idempotent-replayed'] === 'true', body: JSON.parse(text) as { id?: string; error?: { code: string } } }
      }),
    )
    await dispatcher.close()
    const executed = results.filter((r) => r.status === 201 && !r.replayed)
    const replays = results.filter((r) => r.status === 201 && r.replayed)
    const inFlight = results.filter((r) => r.status === 409)
    expect(executed).toHaveLength(1)
    expect(replays.length + inFlight.length).toBe(N - 1)
    for (const r of replays) expect(r.body.id).toBe(executed[0]!.body.id)
    for (const r of inFlight) expect(r.body.error?.code).toBe('GW_IDEMPOTENCY_IN_FLIGHT')

    const store = openPostgresStore({ url: pgUrl, schema: schema.schema, poolSize: 2 })
    try {
      const all = await store.listIntents({ limit: 100 })
      expect(all.items).toHaveLength(1)
      expect(all.items[0]!.id).toBe(executed[0]!.body.id)
    } finally {
      await store.close()
    }
  }, 60_000)
})
