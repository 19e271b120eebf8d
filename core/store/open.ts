import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Store } from './port.js'
import { openPostgresStore } from './postgres/postgresStore.js'
import { openSqliteStore } from './sqlite/sqliteStore.js'

export type StoreConfig =
  | { driver: 'sqlite'; sqlite: { path: string; busyTimeoutMs?: number } }
  | { driver: 'postgres'; postgres: { url: string; poolSize?: number; schema?: string } }

/**
 * Open the configured store (not yet migrated: call `store.migrate()`). For SQLite the file's
 * directory is created if missing.
 */
export function openStore(config: StoreConfig): Store {
  if (config.driver === 'postgres') return openPostgresStore(config.postgres)
  const { path } = config.sqlite
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true })
  return openSqliteStore(config.sqlite)
}
