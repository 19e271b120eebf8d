/**
 * The UCP suite against our gateway alone (in process, real HTTP, SQLite), including order
 * webhooks: the gateway's outbox worker is off here and the UCP webhook worker delivers `ucp:`
 * rows, so UCP-ORD-002 runs too (the shared selftest lists it as an expected skip until
 * createGateway routes `ucp:` destinations).
 */
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ucpSelftestMount } from '../../adapters/protocols/ucp/selftestParts.js'
import { startTestGateway, type TestGateway } from '../../adapters/testing/testGateway.js'
import type { OutboxWorker } from '../../core/events/outboxWorker.js'
import { createUcpWebhookWorker } from '../../adapters/protocols/ucp/webhooks.js'
import { generateUcpKey } from '../../adapters/protocols/ucp/testing.js'
import { ucpMount } from '../../adapters/protocols/ucp/mount.js'
import { FLOWER_SHOP, staticCatalog } from '../../adapters/protocols/ucp/catalog.js'
import { createCounterparts, type Counterparts } from '../framework/counterparts/counterparts.js'
import { bearerCredentials } from '../framework/credentials.js'
import type { ConformanceReport } from '../framework/report.js'
import { runConformance } from '../framework/runner.js'
import { suite } from './suite.js'

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

describe('UCP suite against the gateway (webhooks delivered by the UCP worker)', () => {
  let gw: TestGateway
  let counterparts: Counterparts
  let report: ConformanceReport
  let worker: OutboxWorker

  beforeAll(async () => {
    counterparts = createCounterparts({ seed: 'ucp-suite' })
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const key = generateUcpKey('suite-ucp')
    gw = await startTestGateway({
      configPatch: { server: { host: '127.0.0.1', port } },
      gatewayOptions: {
        mounts: [
          ucpMount({
            merchantId: 'm1',
            publicBaseUrl: base,
            signingKey: key,
            catalog: staticCatalog(FLOWER_SHOP),
            handlers: [{ kind: 'mock', id: 'mock_payment_handler' }],
            negotiation: { allowInsecureLocalhost: true },
            simulationSecret: 'suite-secret',
            ap2: { enabled: true },
          }),
        ],
      },
    })
    worker = createUcpWebhookWorker({ store: gw.gateway.store, key, profileUrl: `${base}/.well-known/ucp`, options: { pollIntervalMs: 50 } })
    worker.start()
    const { credentials, secrets } = bearerCredentials({})
    report = await runConformance({ baseUrl: gw.url, suites: [suite], credentials, secrets, counterparts, options: { ucp: { webhookWaitMs: '5000' } }, toolVersion: 'ucp-suite-test' })
  }, 120_000)

  afterAll(async () => {
    await worker?.stop()
    await gw?.close()
    await counterparts?.close()
  })

  it('passes every UCP requirement, webhooks included', () => {
    const rows = report.suites.flatMap((s) => s.requirements.map((r) => ({ id: r.id, status: r.status, reason: r.reason })))
    expect(rows.length).toBe(suite.requirements.length)
    const wrong = rows.filter((r) => r.status !== 'pass')
    expect(wrong, JSON.stringify(wrong, null, 2)).toEqual([])
  })

  it('the selftest mount builds (used by conformance/selftest.test.ts)', () => {
    expect(typeof ucpSelftestMount('http://127.0.0.1:1')).toBe('function')
  })
})
