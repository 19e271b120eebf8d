#!/usr/bin/env node
// From a clone (the TypeScript sources are here) the CLI runs the sources through tsx, a runtime
// dependency, so a stale dist/ can never shadow what you edit; an install without sources (the
// Docker image) runs the compiled dist/ from `npm run build`.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const source = join(root, 'adapters', 'cli', 'main.ts')
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api')
  register()
  await import(pathToFileURL(source).href)
} else {
  await import(pathToFileURL(join(root, 'dist', 'adapters', 'cli', 'main.js')).href)
}
