import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { conformanceCli } from './cli.js'
import { fromRoot } from './framework/paths.js'
import type { ConformanceReport } from './framework/report.js'

/** How the fake gets idempotency wrong. */
type Bug = 'none' | 'different-body' | 'no-replay-header' | 'no-location-on-replay'

const KEY = 'ask_fake_agent_key_000000000000000000'

const canonical = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map(canonical).join(',')}]`
    : v && typeof v === 'object'
      ? `{${Object.keys(v)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v)

/**
 * A small server that gets health and most of idempotency right (the error shape too), with one
 * deliberate bug: the conformance CLI must catch it and name the requirement.
 */
async function startFake(bug: Bug): Promise<{ url: string; server: Server }> {
  const stored = new Map<string, { fingerprint: string; status: number; body: string; location: string }>()
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body))
  }
  const error = (res: ServerResponse, requestId: string, status: number, code: string, title: string, message: string): void =>
    send(res, status, { error: { code, title, message, retryable: false, request_id: requestId } })
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const requestId = `req_${randomUUID()}`
    res.setHeader('request-id', requestId)
    const path = (req.url ?? '/').split('?')[0]
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { status: 'ok', version: 'fake' })
    if (req.method === 'POST' && path === '/v1/intents') {
      if (req.headers.authorization !== `Bearer ${KEY}`) return error(res, requestId, 401, 'GW_UNAUTHENTICATED', 'A valid API key is required', 'no key')
      const key = req.headers['idempotency-key']
      if (typeof key !== 'string') return error(res, requestId, 400, 'GW_IDEMPOTENCY_KEY_REQUIRED', 'This request needs an Idempotency-Key header', 'send one')
      let body: Record<string, unknown>
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      } catch {
        return error(res, requestId, 400, 'GW_BAD_REQUEST', 'The request is malformed', 'not JSON')
      }
      const fingerprint = canonical(body)
      const prior = stored.get(key)
      if (prior) {
        if (prior.fingerprint !== fingerprint) {
          return error(res, requestId, 422, 'GW_IDEMPOTENCY_CONFLICT', 'The Idempotency-Key was used with a different request', 'another body')
        }
        const replayed = bug === 'different-body' ? prior.body.replace(/"id":"[^"]+"/, `"id":"pi_${randomUUID()}"`) : prior.body
        return send(res, prior.status, replayed, {
          ...(bug === 'no-replay-header' ? {} : { 'idempotent-replayed': 'true' }),
          ...(bug === 'no-location-on-replay' ? {} : { location: prior.location }),
        })
      }
      const id = `pi_${randomUUID()}`
      const out = JSON.stringify({ id, status: 'created', amount: body['amount'], origin: { protocol: 'gateway', version: 'v1', ref: body['reference'] } })
      stored.set(key, { fingerprint, status: 201, body: out, location: `/v1/intents/${id}` })
      return send(res, 201, out, { location: `/v1/intents/${id}` })
    }
    send(res, 404, 'not found')
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

/** Run the real CLI as a child process. */
async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [fromRoot('bin', 'agentswitch.js'), 'conformance', 'run', ...args], {
    cwd: tmpdir(),
    env: { ...process.env, AGENTSWITCH_DATA_DIR: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (out += b.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, out }
}

/** The same command in this process (quicker; the MUST failures below use the real process). */
async function cliInProcess(args: string[]): Promise<{ code: number | null; out: string }> {
  let out = ''
  const write = (l: string): void => {
    out += `${l}\n`
  }
  const code = await conformanceCli(['run', ...args], { out: write, err: write, env: {}, cwd: tmpdir() })
  return { code, out }
}

const lastLine = (out: string): string => out.trimEnd().split('\n').pop() ?? ''
const statusOf = (out: string, id: string): string | undefined => new RegExp(`^\\s+(PASS|FAIL|SKIP)\\s+${id}\\s`, 'm').exec(out)?.[1]

describe('the CLI fails a target that breaks idempotency, naming the requirement', () => {
  const servers: Server[] = []
  const dir = mkdtempSync(join(tmpdir(), 'conformance-broken-'))
  const fake = async (bug: Bug): Promise<string> => {
    const f = await startFake(bug)
    servers.push(f.server)
    return f.url
  }
  afterAll(() => {
    for (const s of servers) s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  let correct: string
  beforeAll(async () => {
    correct = await fake('none')
  })

  it('a correct fake passes the idempotency requirements it implements, so the failures below are the bugs', async () => {
    const r = await cliInProcess(['--protocol', 'core', '--base-url', correct, '--auth', `agent=${KEY}`, '--only', 'CORE-IDEM-002,CORE-IDEM-003,CORE-IDEM-005,CORE-IDEM-010'])
    expect(r.out).not.toContain('FAIL ')
    expect(lastLine(r.out)).toBe('4 passed, 0 failed, 0 skipped')
    expect(r.code).toBe(0)
  }, 60_000)

  it('replaying a DIFFERENT body for a reused key: exit 1, CORE-IDEM-002 and CORE-IDEM-003 named (whole core suite)', async () => {
    const url = await fake('different-body')
    const json = join(dir, 'different-body.json')
    const r = await cli(['--protocol', 'core', '--base-url', url, '--auth', `Authorization: Bearer ${KEY}`, '--json', json])
    expect(r.code).toBe(1)
    expect(statusOf(r.out, 'CORE-IDEM-002')).toBe('FAIL')
    expect(statusOf(r.out, 'CORE-IDEM-003')).toBe('FAIL')
    expect(r.out).toMatch(/CORE-IDEM-002 .*the body differs from the first answer/)
    expect(r.out).toMatch(/^MUST requirements failed: .*CORE-IDEM-002, CORE-IDEM-003/m)
    expect(statusOf(r.out, 'CORE-IDEM-005')).toBe('PASS')
    expect(lastLine(r.out)).toMatch(/^\d+ passed, \d+ failed, \d+ skipped$/)
    const report = JSON.parse(readFileSync(json, 'utf8')) as ConformanceReport
    const idem = report.suites[0]!.requirements.find((x) => x.id === 'CORE-IDEM-002')!
    expect(idem.status).toBe('fail')
    expect(idem.evidence).toHaveLength(2)
    expect(JSON.stringify(report)).not.toContain(KEY)
  }, 60_000)

  it('a replay without Idempotent-Replayed: true: exit 1, CORE-IDEM-002 named with the header', async () => {
    const url = await fake('no-replay-header')
    const r = await cli(['--protocol', 'core', '--base-url', url, '--auth', `agent=${KEY}`, '--only', 'CORE-IDEM-002,CORE-IDEM-005'])
    expect(r.code).toBe(1)
    expect(r.out).toMatch(/^\s+FAIL\s+CORE-IDEM-002\s+MUST\s.*Idempotent-Replayed is undefined, expected "true"/m)
    expect(statusOf(r.out, 'CORE-IDEM-005')).toBe('PASS')
    expect(lastLine(r.out)).toBe('1 passed, 1 failed, 0 skipped')
  }, 60_000)

  it('only a SHOULD failing (no Location on replay) is reported but exits 0', async () => {
    const url = await fake('no-location-on-replay')
    const r = await cliInProcess(['--protocol', 'core', '--base-url', url, '--auth', `agent=${KEY}`, '--only', 'CORE-IDEM-002,CORE-IDEM-010'])
    expect(r.out).toMatch(/^\s+FAIL\s+CORE-IDEM-010\s+SHOULD\s/m)
    expect(lastLine(r.out)).toBe('1 passed, 1 failed, 0 skipped')
    expect(r.code).toBe(0)
  }, 60_000)
})
