import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fromRoot } from '../core/util/paths.js'
import { generateAll } from './genLib.js'

for (const [path, content] of Object.entries(await generateAll())) {
  const abs = fromRoot(path)
  mkdirSync(dirname(abs), { recursive: true })
  writeFileSync(abs, content)
  console.log(`wrote ${path}`)
}
