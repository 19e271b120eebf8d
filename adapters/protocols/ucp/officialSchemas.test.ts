import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../../core/util/paths.js'
import { officialSpecDir } from './officialSchemas.js'

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith('.json') ? [join(dir, n)] : []))
}

const reference = fromRoot('..', 'shared', 'specs', 'ucp', '2026-04-08', 'source')

describe('vendored official UCP schemas', () => {
  it('are the default schema folder and hold the discovery and shopping schemas', () => {
    expect(officialSpecDir()).toBe(fromRoot('schemas', 'vendor', 'ucp', '2026-04-08'))
    expect(existsSync(join(officialSpecDir(), 'discovery', 'profile_schema.json'))).toBe(true)
    expect(existsSync(join(officialSpecDir(), 'schemas', 'shopping', 'checkout.json'))).toBe(true)
  })

  // The reference copy is a development folder beside the repository (present here and in CI);
  // a clone without it has only the vendored copy, which is then what is checked above.
  it.skipIf(!existsSync(reference))('equal the reference copy byte for byte', () => {
    const ours = files(officialSpecDir()).map((f) => relative(officialSpecDir(), f)).sort()
    const theirs = files(reference)
      .map((f) => relative(reference, f))
      .filter((f) => f.startsWith('schemas/') || f.startsWith('discovery/'))
      .sort()
    expect(ours).toEqual(theirs)
    for (const f of ours) expect(readFileSync(join(officialSpecDir(), f), 'utf8'), f).toBe(readFileSync(join(reference, f), 'utf8'))
  })
})
