import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fromRoot } from '../../core/util/paths.js'

/** A gateway started as its own process (`agentswitch serve`), for tests that race several of them. */
export interface ServeProcess {
  child: ChildProcess
  url: string
}

/**
 * Start `agentswitch serve --config <configPath>` and resolve once it logs `agentswitch listening`
 * (its URL); reject when it exits first (with its stderr) or does not listen within `timeoutMs`.
 */
export function startServeProcess(configPath: string, timeoutMs = 30_000): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fromRoot('bin', 'agentswitch.js'), 'serve', '--config', configPath], { cwd: fromRoot(), stdio: ['ignore', 'pipe', 'pipe'] })
    const timer = setTimeout(() => reject(new Error(`gateway did not start in ${timeoutMs / 1000} s`)), timeoutMs)
    let err = ''
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()))
    child.once('exit', (code) => reject(new Error(`gateway exited ${code}: ${err}`)))
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as { msg?: string; url?: string }
        if (j.msg === 'agentswitch listening' && j.url) {
          clearTimeout(timer)
          resolve({ child, url: j.url })
        }
      } catch {
        // not a log line
      }
    })
  })
}

/**
 * Write the config of gateways that share one PostgreSQL schema (several `serve` processes) to
 * `<dir>/gateway.json` and return its path: loopback on a free port, info logs, no outbox worker,
 * no reconciler, merchant `m1`; `extra` adds or replaces sections (API keys, rails, protocols).
 */
export function writeSharedPostgresConfig(dir: string, p: { pgUrl: string; schema: string; poolSize: number; extra: Record<string, unknown> }): string {
  const configPath = join(dir, 'gateway.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      store: { driver: 'postgres', postgres: { url: p.pgUrl, schema: p.schema, poolSize: p.poolSize } },
      log: { level: 'info' },
      outbox: { enabled: false },
      reconciler: { enabled: false },
      merchants: [{ id: 'm1', name: 'M1' }],
      ...p.extra,
    }),
  )
  return configPath
}
