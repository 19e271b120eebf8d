import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { parseConfig, type GatewayConfig } from '../../core/config/load.js'
import type { Store } from '../../core/store/port.js'
import { createGateway, type CreateGatewayOptions, type Gateway } from '../gateway/createGateway.js'
import { createLogger } from '../http/logger.js'

/** Test API keys (fixed: tests are deterministic). */
export const TEST_KEYS = {
  admin: 'ask_test_admin_0000000000000000000000',
  merchant: 'ask_test_merchant_00000000000000000000',
  otherMerchant: 'ask_test_merchant2_0000000000000000000',
  agent: 'ask_test_agent_0000000000000000000000',
  otherAgent: 'ask_test_agent2_000000000000000000000',
} as const

export interface TestGateway {
  gateway: Gateway
  url: string
  /** Every log line the gateway wrote (JSON strings), to check redaction. */
  logs: string[]
  dir: string
  close(): Promise<void>
}

/**
 * A real gateway over real HTTP on 127.0.0.1 (port 0) with a real SQLite file in a temp dir (or a
 * given store), two merchants and two agents. `configPatch` is merged into the raw config.
 */
export async function startTestGateway(
  options: { configPatch?: Record<string, unknown>; store?: Store; gatewayOptions?: CreateGatewayOptions } = {},
): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-test-'))
  const raw = {
    server: { host: '127.0.0.1', port: 0 },
    store: { driver: 'sqlite', sqlite: { path: join(dir, 'gw.db') } },
    log: { level: 'info' },
    outbox: { enabled: false },
    apiKeys: [
      { id: 'k_admin', kind: 'admin', principalId: 'ops', key: TEST_KEYS.admin },
      { id: 'k_merchant', kind: 'merchant', principalId: 'm1', key: TEST_KEYS.merchant },
      { id: 'k_merchant2', kind: 'merchant', principalId: 'm2', key: TEST_KEYS.otherMerchant },
      { id: 'k_agent', kind: 'agent', principalId: 'agent_1', key: TEST_KEYS.agent },
      { id: 'k_agent2', kind: 'agent', principalId: 'agent_2', key: TEST_KEYS.otherAgent },
    ],
    merchants: [
      { id: 'm1', name: 'Merchant One' },
      { id: 'm2', name: 'Merchant Two' },
    ],
    agents: [{ id: 'agent_1' }, { id: 'agent_2' }],
    ...options.configPatch,
  }
  const config: GatewayConfig = parseConfig(raw, {}, 'test')
  const logs: string[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
      cb()
    },
  })
  // The configured level (info unless `configPatch` says otherwise: a benchmark asks for warn).
  const logger = createLogger({ level: config.log.level, destination: sink })
  const gateway = await createGateway(config, { logger, defaultMetrics: false, ...(options.store ? { store: options.store } : {}), ...options.gatewayOptions })
  const url = await gateway.listen()
  return {
    gateway,
    url,
    logs,
    dir,
    async close() {
      await gateway.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
