import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

function findRoot(start: string): string {
  let dir = start
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schemas'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error(`agentswitch package root not found above ${start}`)
    dir = up
  }
}

/**
 * The package root (holds `schemas/`), from sources or from `dist/`. The conformance tool keeps
 * its own copy of this lookup: it imports nothing from the gateway it tests.
 */
export const packageRoot: string = findRoot(dirname(fileURLToPath(import.meta.url)))

/** Absolute path of a file under the package root. */
export function fromRoot(...parts: string[]): string {
  return join(packageRoot, ...parts)
}
