import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { packageRoot } from '../../util/paths.js'
import type { StoreConfig } from '../open.js'

export type RaceAttemptResult =
  | { kind: 'claimed'; intentId: string }
  | { kind: 'replay'; status: number; intentId: string }
  | { kind: 'in_flight'; retryAfterMs: number }
  | { kind: 'conflict' }
  | { kind: 'error'; message: string }

export interface RaceOptions {
  /** The (already migrated) store every process opens. */
  store: StoreConfig
  processes: number
  attemptsPerProcess: number
  scope?: string
  key?: string
  leaseMs?: number
}

const WORKER = fileURLToPath(new URL('./idempotencyRaceWorker.ts', import.meta.url))

/**
 * Race one idempotency key from several OS processes: each child opens its own store, reports
 * `ready`, and on a common `go` fires all its attempts at once. Returns every attempt's outcome,
 * per process.
 */
export async function raceIdempotencyKey(options: RaceOptions): Promise<RaceAttemptResult[][]> {
  const config = {
    store: options.store,
    scope: options.scope ?? 'agent:race POST /v1/intents',
    key: options.key ?? 'race-key',
    fingerprint: 'a'.repeat(64),
    attempts: options.attemptsPerProcess,
    leaseMs: options.leaseMs ?? 30_000,
  }
  const children: ChildProcess[] = []
  try {
    const runs = Array.from({ length: options.processes }, () => {
      // `node --import tsx` registers tsx's ESM and CJS loaders: the worker runs from its .ts source.
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
        cwd: packageRoot,
        env: { ...process.env, RACE_CONFIG: JSON.stringify(config) },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      children.push(child)
      return watch(child)
    })
    await Promise.all(runs.map((r) => r.ready))
    for (const child of children) child.stdin!.write('go\n')
    return await Promise.all(runs.map((r) => r.result))
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

function watch(child: ChildProcess): { ready: Promise<void>; result: Promise<RaceAttemptResult[]> } {
  let out = ''
  let err = ''
  let onReady!: () => void
  const ready = new Promise<void>((resolve) => (onReady = resolve))
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    if (out.includes('ready\n')) onReady()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const result = new Promise<RaceAttemptResult[]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '))
      if (code === 0 && line) resolve(JSON.parse(line.slice('RESULT '.length)) as RaceAttemptResult[])
      else reject(new Error(`race worker exited with ${code}\nstdout: ${out}\nstderr: ${err}`))
    })
  })
  // A child that dies before `ready` must not leave the race waiting forever.
  const readyOrDeath = Promise.race([ready, result.then(() => undefined)])
  return { ready: readyOrDeath, result }
}
