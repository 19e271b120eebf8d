/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.bench.ts. Each benchmark prints what it
 * measures as it goes and, as its LAST line, one JSON object with its figures.
 */
import { existsSync, readdirSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { fromRoot } from '../core/util/paths.js'

const [name, ...args] = process.argv.slice(2)
const available = readdirSync(fromRoot('bench'))
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.replace(/\.bench\.ts$/, ''))
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(', ')}`)
  process.exit(2)
}
const file = fromRoot('bench', `${name}.bench.ts`)
if (!existsSync(file)) process.exit(2)
const mod = (await import(pathToFileURL(file).href)) as { run(args: string[]): Promise<Record<string, unknown>> }
const figures = await mod.run(args)
console.log(JSON.stringify(figures))
process.exit(0)
