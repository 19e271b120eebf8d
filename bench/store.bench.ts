/**
 * Durable intent submissions per second through the core (`submitIntent`: validation, ids, audit
 * event hashing, one outbox row, one transaction) against the raw engine limit (a plain
 * single-row INSERT, one commit each), at concurrency 1 and 16, on SQLite (WAL,
 * synchronous=FULL) and PostgreSQL. Goal: core ≥ 0.7 × raw.
 *
 * `npm run bench -- store [--seconds N] [--pg URL]`
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import pg from 'pg'
import { createAssetRegistry } from '../core/money/assets.js'
import { submitIntent, type SubmitIntentDeps } from '../core/pipeline/submitIntent.js'
import { openPostgresStore } from '../core/store/postgres/postgresStore.js'
import { openSqliteStore } from '../core/store/sqlite/sqliteStore.js'
import type { Store } from '../core/store/port.js'
import { createTestSchema } from '../core/testing/pg.js'

type Op = (i: number) => Promise<unknown>

/** One side of a measurement: operations done and wall time spent. */
interface Tally {
  count: number
  ms: number
}

/** Run `op` from `concurrency` loops until `until`; adds to `tally`. */
async function slice(op: Op, concurrency: number, until: number, tally: Tally, next: () => number): Promise<void> {
  const start = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await op(next())
        tally.count++
      }
    }),
  )
  tally.ms += performance.now() - start
}

/**
 * Operations per second of `raw` and `core`, each run from `concurrency` loops for `seconds` in
 * total, in alternating slices of {@link SLICE_MS}: the machine is shared, so a burst of load
 * from another process hits both sides alike instead of skewing their ratio.
 */
async function measurePair(raw: Op, core: Op, concurrency: number, seconds: number): Promise<{ raw: number; core: number }> {
  // Warm-up: prepared statements, JIT, connection pool.
  let n = 0
  const next = (): number => n++
  for (let i = 0; i < 50; i++) {
    await raw(next())
    await core(next())
  }
  const r: Tally = { count: 0, ms: 0 }
  const c: Tally = { count: 0, ms: 0 }
  const slices = Math.max(1, Math.round((seconds * 1000) / SLICE_MS))
  for (let i = 0; i < slices; i++) {
    // Alternate which side goes first, so neither always follows the other's checkpoint.
    const [first, firstTally, second, secondTally] = i % 2 === 0 ? [raw, r, core, c] : [core, c, raw, r]
    await slice(first, concurrency, performance.now() + SLICE_MS, firstTally, next)
    await slice(second, concurrency, performance.now() + SLICE_MS, secondTally, next)
  }
  return { raw: r.count / (r.ms / 1000), core: c.count / (c.ms / 1000) }
}

const SLICE_MS = 250

function coreOp(store: Store): Op {
  const deps: SubmitIntentDeps = { store, assets: createAssetRegistry(), destinationsFor: () => ['merchant:bench'] }
  return (i) =>
    submitIntent(deps, {
      merchantId: 'bench',
      actor: 'agent:bench',
      origin: { protocol: 'gateway', version: 'v1', ref: `bench-${i}` },
      payer: { agent_id: 'bench' },
      amount: { value: '1999', asset: 'iso4217:USD' },
      instrument: { type: 'alipay.agreement', ref: 'agr_bench' },
      authorization: { type: 'gateway.api_key' },
    })
}

const fmt = (x: number): string => x.toFixed(0).padStart(7)

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const seconds = Number(args[args.indexOf('--seconds') + 1] || 3) || 3
  const pgUrl = args.includes('--pg') ? args[args.indexOf('--pg') + 1]! : (process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test')
  const results: Record<string, Record<string, { raw: number; core: number; ratio: number }>> = {}
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-bench-'))
  console.log(`store bench: ${seconds} s per measurement`)
  console.log('engine      conc   raw/s    core/s   core/raw')

  // --- SQLite
  {
    const rawDb = new Database(join(dir, 'raw.db'))
    rawDb.pragma('journal_mode = WAL')
    rawDb.pragma('synchronous = FULL')
    rawDb.exec('CREATE TABLE raw (id TEXT PRIMARY KEY, v TEXT NOT NULL)')
    const ins = rawDb.prepare('INSERT INTO raw (id, v) VALUES (?, ?)')
    let seq = 0
    const rawOp: Op = async () => ins.run(`r${seq++}`, 'x')
    const store = openSqliteStore({ path: join(dir, 'core.db') })
    await store.migrate()
    results['sqlite'] = {}
    for (const c of [1, 16]) {
      const { raw, core } = await measurePair(rawOp, coreOp(store), c, seconds)
      results['sqlite'][`c${c}`] = { raw: Math.round(raw), core: Math.round(core), ratio: Number((core / raw).toFixed(3)) }
      console.log(`sqlite      ${String(c).padStart(4)} ${fmt(raw)}  ${fmt(core)}   ${(core / raw).toFixed(2)}`)
    }
    rawDb.close()
    await store.close()
  }

  // --- PostgreSQL
  let reachable = true
  try {
    const probe = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2000 })
    await probe.connect()
    await probe.end()
  } catch {
    reachable = false
    console.log(`postgres: ${pgUrl.replace(/\/\/[^@]*@/, '//***@')} unreachable — skipped`)
  }
  if (reachable) {
    const schema = await createTestSchema(pgUrl, 'bench')
    results['postgres'] = {}
    try {
      for (const c of [1, 16]) {
        const pool = new pg.Pool({ connectionString: pgUrl, max: c, options: `-c search_path=${schema.schema}` })
        await pool.query('CREATE TABLE IF NOT EXISTS raw (id TEXT PRIMARY KEY, v TEXT NOT NULL)')
        let seq = 0
        const rawOp: Op = () => pool.query({ name: 'raw_ins', text: 'INSERT INTO raw (id, v) VALUES ($1, $2)', values: [`r${c}-${seq++}`, 'x'] })
        const store = openPostgresStore({ url: pgUrl, schema: schema.schema, poolSize: c })
        await store.migrate()
        const { raw, core } = await measurePair(rawOp, coreOp(store), c, seconds)
        await pool.end()
        await store.close()
        results['postgres'][`c${c}`] = { raw: Math.round(raw), core: Math.round(core), ratio: Number((core / raw).toFixed(3)) }
        console.log(`postgres    ${String(c).padStart(4)} ${fmt(raw)}  ${fmt(core)}   ${(core / raw).toFixed(2)}`)
      }
    } finally {
      await schema.drop()
    }
  }
  rmSync(dir, { recursive: true, force: true })
  const ratios = Object.values(results).flatMap((e) => Object.values(e).map((r) => r.ratio))
  return { bench: 'store', seconds, ...results, minRatio: Math.min(...ratios), goal: 0.7, met: Math.min(...ratios) >= 0.7 }
}
