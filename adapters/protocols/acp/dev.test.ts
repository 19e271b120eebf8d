import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildAlipayRail, buildAntomRail } from '../../rails/alipay/index.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { acpDevFlowLines, devAcpMountOptions } from './dev.js'
import { acpMount } from './mount.js'

const SINK_SECRET = 'whsec_acp_dev_flow_0123456789abcdef'
let harness: RailHarness
let gw: TestGateway

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

beforeAll(async () => {
  harness = await startRailHarness()
  const port = await freePort()
  gw = await startTestGateway({
    configPatch: {
      server: { host: '127.0.0.1', port },
      outbox: { enabled: true, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400, timeoutMs: 2000 },
      merchants: [{ id: 'm1', name: 'Demo', webhook: { url: `http://127.0.0.1:${port}/dev/webhook-sink`, secret: SINK_SECRET } }, { id: 'm2', name: 'Other' }],
    },
    gatewayOptions: {
      webhookSinkSecret: SINK_SECRET,
      rails: [(ctx) => buildAntomRail(harness.antomOptions, ctx), (ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
      mounts: [acpMount(devAcpMountOptions({ merchantId: 'm1', secretSeed: 'dev-test', alipay: true }))],
    },
  })
})
afterAll(async () => {
  await gw?.close()
  await harness?.close()
})

describe('the copy-paste ACP flow dev mode prints', () => {
  it('runs as printed in bash and reaches a completed order with signed order webhooks', async () => {
    const devJson = join(gw.dir, 'dev.json')
    writeFileSync(devJson, JSON.stringify({ apiKeys: { agent: TEST_KEYS.agent } }))
    const script = acpDevFlowLines({ url: gw.url, devJsonPath: devJson, merchantId: 'm1' }).join('\n')
    const { stdout } = await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', script], { cwd: gw.dir, timeout: 30_000 })
    expect(stdout).toContain('ready_for_payment total 2699')
    expect(stdout).toMatch(/completed ord_[0-9A-Z]{26}/)
    expect(stdout).toContain('order_create signature valid: true')
    expect(stdout).toContain('order_update signature valid: true')
  })
})
