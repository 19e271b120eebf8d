import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * A fresh, empty PostgreSQL schema for one test file (or one test): isolation without a database
 * per test. Open the store with `{ url, schema }`; `drop()` removes the schema and everything in it.
 */
export async function createTestSchema(url: string, prefix = 't'): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase()
  await withClient(url, (c) => c.query(`CREATE SCHEMA "${schema}"`))
  return {
    schema,
    async drop() {
      await withClient(url, (c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
    },
  }
}

/** Run `fn` on a short-lived client (not a pool: nothing lingers after the test). */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}
