import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { fromRoot } from '../../core/util/paths.js'
import type { DevJson } from './dev.js'

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('agentswitch dev (what npm start runs)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentswitch-dev-'))
  const out: string[] = []
  const child = spawn(process.execPath, [fromRoot('bin', 'agentswitch.js'), 'dev'], {
    cwd: fromRoot(),
    env: { ...process.env, PORT: '0', AGENTSWITCH_DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.on('data', (b: Buffer) => out.push(b.toString()))
  child.stderr.on('data', (b: Buffer) => out.push(b.toString()))
  const started = Date.now()
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dataDir, { recursive: true, force: true })
  })

  let dev: DevJson
  it('answers GET /healthz 200 within 15 s and writes dev.json', async () => {
    dev = await until('dev.json', () => (existsSync(join(dataDir, 'dev.json')) ? (JSON.parse(readFileSync(join(dataDir, 'dev.json'), 'utf8')) as DevJson) : undefined), 15_000)
    const health = await until(
      '/healthz',
      async () => {
        try {
          const r = await request(dev.urls['healthz']!)
          await r.body.text()
          return r.statusCode === 200 ? r.statusCode : undefined
        } catch {
          return undefined
        }
      },
      15_000,
    )
    expect(health).toBe(200)
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(dev.gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(dev.apiKeys.agent).toMatch(/^ask_dev_agent_/)
    expect(dev.merchants[0]).toMatchObject({ id: 'demo' })
    expect(dev.store).toMatchObject({ driver: 'sqlite', path: join(dataDir, 'agentswitch.db') })
    expect(existsSync(join(dataDir, 'agentswitch.db'))).toBe(true)
  }, 20_000)

  it('runs the local chain with our token and registers the EVM rail', async () => {
    const evm = dev.rails['evm'] as { rpcUrl: string; chainId: number; token: { address: string }; wallets: Array<{ address: string }> }
    expect(evm.wallets.length).toBeGreaterThan(0)
    const rpc = await request(evm.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) })
    expect(Number(((await rpc.body.json()) as { result: string }).result)).toBe(evm.chainId)
    const code = await request(evm.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'eth_getCode', params: [evm.token.address, 'latest'] }) })
    expect(((await code.body.json()) as { result: string }).result.length).toBeGreaterThan(100)
    const rails = await request(`${dev.gateway.url}/v1/rails`, { headers: { authorization: `Bearer ${dev.apiKeys.admin}` } })
    const body = (await rails.body.json()) as { data: Array<{ rail: string; endpoints: Array<{ state: string }> }> }
    expect(body.data.find((r) => r.rail === 'evm')).toMatchObject({ endpoints: [{ state: 'closed' }] })
    expect(body.data.find((r) => r.rail === 'alipay')).toMatchObject({ endpoints: [{ endpoint: 'primary', state: 'closed' }, { endpoint: 'secondary', state: 'closed' }] })
    expect(body.data.find((r) => r.rail === 'antom')).toBeDefined()
    const alipay = dev.rails['alipay'] as { adminUrl: string }
    const ledger = await request(`${alipay.adminUrl}/ledger`)
    expect(ledger.statusCode).toBe(200)
    await ledger.body.text()
  })

  it('prints the URLs, keys and a copy-paste request that works; the demo merchant receives the signed webhook', async () => {
    const text = await until('printed summary', () => (out.join('').includes('Try it:') ? out.join('') : undefined), 5000)
    expect(text).toContain(dev.gateway.url)
    expect(text).toContain(dev.apiKeys.agent)
    const r = await request(`${dev.gateway.url}/v1/intents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dev.apiKeys.agent}`, 'idempotency-key': 'dev-test-1', 'content-type': 'application/json' },
      body: JSON.stringify({ amount: { value: '1999', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' }, reference: 'dev-order-1' }),
    })
    const intent = (await r.body.json()) as { id: string }
    expect(r.statusCode).toBe(201)
    const got = await until(
      'webhook at the sink',
      async () => {
        const s = await request(dev.urls['webhookSink']!)
        const body = (await s.body.json()) as { data: Array<{ valid: boolean; type: string; body: { data: { object: { id: string } } } }> }
        return body.data.find((d) => d.body?.data?.object?.id === intent.id)
      },
      10_000,
    )
    expect(got).toMatchObject({ valid: true, type: 'payment_intent.created' })
  }, 20_000)

  it('stops cleanly on SIGTERM', async () => {
    child.kill('SIGTERM')
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
    expect(code).toBe(0)
  }, 10_000)
})
