import pg from 'pg'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL URL when the server answered, else '' (the PostgreSQL half is then skipped). */
    pgUrl: string
  }
}

/**
 * Decides once per run whether the PostgreSQL half of the suite runs. In CI (`CI=true`) an
 * unreachable server fails the run: the scale-out store must be proven on every landing.
 */
export default async function setup(project: TestProject): Promise<void> {
  const url = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('select 1')
    project.provide('pgUrl', url)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    if (process.env['CI'] === 'true' || process.env['REQUIRE_POSTGRES'] === '1') {
      throw new Error(`PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//***@')} is unreachable (${why}); CI requires it`)
    }
    console.warn(
      `\n*** PostgreSQL unreachable (${why}): the PostgreSQL half of the store suite is SKIPPED on this machine. ` +
        `Start it (see README) or set DATABASE_URL; CI=true makes this a failure. ***\n`,
    )
    project.provide('pgUrl', '')
  } finally {
    await client.end().catch(() => {})
  }
}
