import { readdirSync, readFileSync } from 'node:fs'
import type BetterSqlite3 from 'better-sqlite3'
import type pg from 'pg'
import { fromRoot } from '../util/paths.js'

/** One versioned SQL file: `NNNN_name.sql` under `core/store/migrations/<dialect>/`. */
export interface Migration {
  version: number
  name: string
  sql: string
}

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/

/** The migrations of a dialect, in version order (read from disk once per process). */
export function loadMigrations(dialect: 'sqlite' | 'postgres'): readonly Migration[] {
  const cached = cache.get(dialect)
  if (cached) return cached
  const dir = fromRoot('core', 'store', 'migrations', dialect)
  const out: Migration[] = []
  for (const file of readdirSync(dir).sort()) {
    const m = FILE.exec(file)
    if (!m) continue
    const version = Number(m[1])
    if (out.some((x) => x.version === version)) throw new Error(`duplicate migration version ${version} in ${dir}`)
    out.push({ version, name: m[2]!, sql: readFileSync(`${dir}/${file}`, 'utf8') })
  }
  if (out.length === 0) throw new Error(`no migrations found in ${dir}`)
  cache.set(dialect, out)
  return out
}
const cache = new Map<string, readonly Migration[]>()

const SCHEMA_MIGRATIONS_SQLITE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at TEXT    NOT NULL
)`

/**
 * Apply pending SQLite migrations in one `BEGIN IMMEDIATE` transaction: the write lock serialises
 * processes migrating the same file at once, and the second one finds everything applied.
 * Returns the versions applied now.
 */
export function migrateSqlite(db: BetterSqlite3.Database): number[] {
  const migrations = loadMigrations('sqlite')
  const applied: number[] = []
  db.exec('BEGIN IMMEDIATE')
  try {
    db.exec(SCHEMA_MIGRATIONS_SQLITE)
    const done = new Set(
      (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version),
    )
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
    for (const m of migrations) {
      if (done.has(m.version)) continue
      db.exec(m.sql)
      record.run(m.version, m.name, new Date().toISOString())
      applied.push(m.version)
    }
    db.exec('COMMIT')
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK')
    throw err
  }
  return applied
}

/**
 * Apply pending PostgreSQL migrations in one transaction holding `pg_advisory_xact_lock` (keyed by
 * the target schema), so several processes migrating at once run them exactly once; DDL is
 * transactional on PostgreSQL, so a failed migration leaves nothing behind.
 * `schema`, when given, is created if missing (the client's search_path must already point at it).
 */
export async function migratePostgres(client: pg.ClientBase, schema?: string): Promise<number[]> {
  const migrations = loadMigrations('postgres')
  const applied: number[] = []
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`agentswitch:migrate:${schema ?? ''}`])
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`)
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version    integer     NOT NULL PRIMARY KEY,
      name       text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`)
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations')
    const done = new Set(rows.map((r) => r.version))
    for (const m of migrations) {
      if (done.has(m.version)) continue
      await client.query(m.sql) // no parameters: the simple protocol runs every statement of the file
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name])
      applied.push(m.version)
    }
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  }
  return applied
}

/** A PostgreSQL identifier, double-quoted. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
