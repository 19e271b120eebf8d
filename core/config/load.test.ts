import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfigFile, parseConfig } from './load.js'

function problems(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn()
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  throw new Error('expected a ConfigError')
}

describe('config', () => {
  it('applies defaults to an empty file', () => {
    const c = parseConfig({}, {})
    expect(c.server).toEqual({ host: '127.0.0.1', port: 8402, bodyLimitBytes: 1048576, trustProxy: false, requestTimeoutMs: 30000 })
    expect(c.store).toEqual({ driver: 'sqlite', sqlite: { path: './data/agentswitch.db' } })
    expect(c.idempotency).toEqual({ ttlHours: 24, leaseMs: 60000 })
    expect(c.outbox.enabled).toBe(true)
    expect(c.refundSweeper).toEqual({ enabled: true, intervalMs: 30000, minAgeMs: 300000, batch: 100 })
  })

  it('names the exact field that is wrong', () => {
    expect(problems(() => parseConfig({ server: { port: 'eighty' } }, {}))).toContainEqual({ path: 'server.port', message: 'must be integer' })
    expect(problems(() => parseConfig({ server: { prot: 1 } }, {}))).toContainEqual({ path: 'server.prot', message: 'is not a known field' })
    expect(problems(() => parseConfig({ store: { driver: 'mysql' } }, {}))).toContainEqual({ path: 'store.driver', message: 'must be one of "sqlite", "postgres"' })
    expect(problems(() => parseConfig({ store: { driver: 'postgres' } }, {}))).toContainEqual({ path: 'store.postgres', message: 'is required' })
    expect(problems(() => parseConfig({ idempotency: { ttlHours: 1 } }, {}))).toContainEqual({ path: 'idempotency.ttlHours', message: 'must be >= 24' })
    expect(problems(() => parseConfig({ merchants: [{ id: 'm', name: 'M', webhook: { url: 'not a url', secret: 'x' } }] }, {}))).toContainEqual({
      path: 'merchants[0].webhook.url',
      message: 'must match format "uri"',
    })
  })

  it('resolves secrets from the environment it is given, and says which variable is missing', () => {
    const raw = { store: { driver: 'postgres', postgres: { url: { env: 'DATABASE_URL' } } } }
    expect(problems(() => parseConfig(raw, {}))).toEqual([{ path: 'store.postgres.url', message: 'environment variable DATABASE_URL is not set' }])
    const c = parseConfig(raw, { DATABASE_URL: 'postgres://u@h/db' })
    expect(c.store).toMatchObject({ driver: 'postgres', postgres: { url: 'postgres://u@h/db', poolSize: 16 } })
  })

  it('resolves rail secrets wherever they sit, naming the exact field of a missing one', () => {
    const chain = (rpc: unknown) => ({ rails: { evm: { chains: [{ chainId: 8453, rpcUrls: ['http://127.0.0.1:1', rpc], tokens: [{ address: '0x' + '1'.repeat(40), name: 'USD Coin', version: '2', decimals: 6 }], relayerPrivateKey: { env: 'RELAYER' }, feeCaps: { maxFeePerGas: '1', maxPriorityFeePerGas: '1' } }] } } })
    expect(problems(() => parseConfig(chain({ env: 'RPC' }), { RELAYER: '0xabc' }))).toEqual([{ path: 'rails.evm.chains[0].rpcUrls[1]', message: 'environment variable RPC is not set' }])
    const c = parseConfig(chain({ env: 'RPC' }), { RELAYER: '0xabc', RPC: 'https://rpc.example/key' })
    expect(c.rails.evm!.chains[0]).toMatchObject({ rpcUrls: ['http://127.0.0.1:1', 'https://rpc.example/key'], relayerPrivateKey: '0xabc' })
    expect(problems(() => parseConfig({ rails: { evm: { chains: [{ ...chain('x').rails.evm.chains[0], network: 'eip155:1' }] } } }, { RELAYER: 'k' }))).toContainEqual({ path: 'rails.evm.chains[0].network', message: 'must be eip155:8453' })
    // A refund's rail call must end inside its driver's 5-minute lease: the EVM waits are bounded.
    const waits = (over: Record<string, number>) => () => parseConfig({ rails: { evm: { chains: [{ ...chain('x').rails.evm.chains[0], ...over }] } } }, { RELAYER: 'k' })
    expect(problems(waits({ receiptTimeoutMs: 600_000 })).map((p) => p.path)).toEqual(['rails.evm.chains[0].receiptTimeoutMs'])
    expect(problems(waits({ rpcTimeoutMs: 600_000 })).map((p) => p.path)).toEqual(['rails.evm.chains[0].rpcTimeoutMs'])
    expect(waits({ receiptTimeoutMs: 120_000, rpcTimeoutMs: 60_000 })).not.toThrow()
  })

  it('keeps only the hash of API keys, and checks merchants exist', () => {
    const c = parseConfig(
      {
        merchants: [{ id: 'm1', name: 'M' }],
        apiKeys: [{ id: 'k1', kind: 'merchant', principalId: 'm1', key: { env: 'K1' } }],
      },
      { K1: 'supersecretkey-1234567890' },
    )
    expect(c.apiKeys[0]).toEqual({ id: 'k1', kind: 'merchant', principalId: 'm1', scopes: ['*'], sha256: createHash('sha256').update('supersecretkey-1234567890').digest('hex') })
    expect(JSON.stringify(c)).not.toContain('supersecretkey')
    expect(problems(() => parseConfig({ apiKeys: [{ id: 'k1', kind: 'merchant', principalId: 'nobody', sha256: 'a'.repeat(64) }] }, {}))).toContainEqual({
      path: 'apiKeys[0].principalId',
      message: 'no merchant nobody in merchants[]',
    })
    expect(problems(() => parseConfig({ apiKeys: [{ id: 'k1', kind: 'admin', principalId: 'ops' }] }, {})).length).toBeGreaterThan(0)
  })

  it('loads JSON and YAML files and reports syntax errors with the file name', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentswitch-cfg-'))
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ server: { port: 9000 } }))
    writeFileSync(join(dir, 'b.yaml'), 'server:\n  port: 9001\nlog:\n  level: debug\n')
    writeFileSync(join(dir, 'c.json'), '{ "server": ')
    expect(loadConfigFile(join(dir, 'a.json'), {}).server.port).toBe(9000)
    expect(loadConfigFile(join(dir, 'b.yaml'), {}).log.level).toBe('debug')
    expect(() => loadConfigFile(join(dir, 'c.json'), {})).toThrow(/c\.json[\s\S]*not valid JSON/)
    expect(() => loadConfigFile(join(dir, 'missing.json'), {})).toThrow(/cannot read file/)
  })
})
