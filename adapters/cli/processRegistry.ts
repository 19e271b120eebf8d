import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

/** How to start one child process and know it is ready. */
export interface ChildSpec {
  name: string
  command: string
  args: readonly string[]
  env?: Record<string, string> | undefined
  cwd?: string | undefined
  /** Ready when a stdout/stderr line matches (its match groups are returned). */
  readyLine: RegExp
  readyTimeoutMs?: number | undefined
}

export interface RunningChild {
  name: string
  pid: number
  /** The match of `readyLine`. */
  ready: RegExpExecArray
  process: ChildProcess
}

/**
 * The child processes of dev mode (sandbox rails, local chain): started in order, each awaited
 * until ready, all stopped together (SIGTERM, then SIGKILL after a grace period) when the gateway
 * stops or when one of them dies unexpectedly.
 */
export class ProcessRegistry {
  readonly #children: RunningChild[] = []
  #stopping = false

  constructor(private readonly onUnexpectedExit: (name: string, code: number | null) => void) {}

  get children(): readonly RunningChild[] {
    return this.#children
  }

  start(spec: ChildSpec): Promise<RunningChild> {
    return new Promise((resolve, reject) => {
      const child = spawn(spec.command, [...spec.args], {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        reject(new Error(`${spec.name} was not ready within ${spec.readyTimeoutMs ?? 15_000} ms`))
      }, spec.readyTimeoutMs ?? 15_000)
      let ready = false
      const onLine = (line: string): void => {
        if (ready) return
        const m = spec.readyLine.exec(line)
        if (m) {
          ready = true
          clearTimeout(timer)
          const running: RunningChild = { name: spec.name, pid: child.pid!, ready: m, process: child }
          this.#children.push(running)
          resolve(running)
        }
      }
      createInterface({ input: child.stdout! }).on('line', onLine)
      createInterface({ input: child.stderr! }).on('line', onLine)
      child.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        if (!ready) reject(new Error(`${spec.name} exited with ${code} before it was ready`))
        else if (!this.#stopping) this.onUnexpectedExit(spec.name, code)
      })
    })
  }

  async stopAll(graceMs = 3000): Promise<void> {
    this.#stopping = true
    await Promise.all(
      this.#children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.process.exitCode !== null || c.process.signalCode !== null) return resolve()
            const kill = setTimeout(() => c.process.kill('SIGKILL'), graceMs)
            c.process.once('exit', () => {
              clearTimeout(kill)
              resolve()
            })
            c.process.kill('SIGTERM')
          }),
      ),
    )
  }
}
