import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devAp2Options } from '../../adapters/protocols/ap2/dev.js'
import { ap2Mount } from '../../adapters/protocols/ap2/mount.js'
import { buildAlipayRail } from '../../adapters/rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../adapters/rails/alipay/testing.js'
import { startTestGateway, type TestGateway } from '../../adapters/testing/testGateway.js'
import { createCounterparts, type Counterparts } from '../framework/counterparts/counterparts.js'
import type { ConformanceReport } from '../framework/report.js'
import { runConformance } from '../framework/runner.js'
import { suite } from './suite.js'

/**
 * The AP2 suite against our gateway wired as dev mode wires it ({@link devAp2Options}: trusts the
 * runner's seeded keys) with the Alipay sandbox as the rail, over real HTTP. Every requirement
 * must pass; and against a gateway that does not trust the runner, the trust-gated ones skip
 * with discovery's reason while the others still pass.
 */
describe('AP2 conformance suite against the gateway', () => {
  let harness: RailHarness
  let counterparts: Counterparts
  const gateways: TestGateway[] = []

  const start = async (seed: string): Promise<{ gw: TestGateway; devJson: Record<string, unknown> }> => {
    // The issuer must be known before the port: reserve one.
    const { createServer } = await import('node:net')
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const dev = devAp2Options({ issuer: `http://127.0.0.1:${port}`, merchantId: 'm1', seed })
    const gw = await startTestGateway({
      configPatch: { server: { host: '127.0.0.1', port } },
      gatewayOptions: { rails: [(ctx) => buildAlipayRail({ ...harness.alipayOptions, outTradeNoPrefix: `c${gateways.length}` }, ctx)], mounts: [ap2Mount(dev.options)] },
    })
    gateways.push(gw)
    return { gw, devJson: { gateway: { url: gw.url }, ap2: dev.devJson } }
  }

  beforeAll(async () => {
    harness = await startRailHarness()
    counterparts = createCounterparts({ seed: 'ap2-conformance-test' })
  }, 60_000)

  afterAll(async () => {
    for (const g of gateways) await g.close()
    await counterparts?.close()
    await harness?.close()
  })

  it('passes every requirement against a gateway that trusts the runner and settles its instrument', async () => {
    const { gw, devJson } = await start('ap2-conformance-test')
    const report: ConformanceReport = await runConformance({ baseUrl: gw.url, suites: [suite], counterparts, devJson, toolVersion: 'test' })
    const results = report.suites[0]!.requirements
    const notPassed = results.filter((r) => r.status !== 'pass').map((r) => ({ id: r.id, status: r.status, reason: r.reason }))
    expect(notPassed, JSON.stringify(notPassed, null, 2)).toEqual([])
    expect(results.length).toBeGreaterThanOrEqual(30)
    // The paying requirements really paid on the sandbox.
    expect(harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' }).length).toBeGreaterThanOrEqual(3)
  }, 120_000)

  it('against a gateway that trusts other keys: trust-gated requirements skip with the reason, the rest pass', async () => {
    const { gw, devJson } = await start('some-other-seed')
    const report = await runConformance({ baseUrl: gw.url, suites: [suite], counterparts, devJson, toolVersion: 'test' })
    const results = report.suites[0]!.requirements
    const skipped = results.filter((r) => r.status === 'skip')
    expect(skipped.length).toBeGreaterThan(15)
    for (const r of skipped) expect(r.reason).toMatch(/^needs (trust|payments)/)
    expect(results.filter((r) => r.status === 'fail').map((r) => ({ id: r.id, reason: r.reason }))).toEqual([])
    expect(results.find((r) => r.id === 'AP2-CHAIN-002')!.status).toBe('pass')
    expect(results.find((r) => r.id === 'AP2-RCPT-001')!.status).toBe('pass')
  }, 120_000)
})
