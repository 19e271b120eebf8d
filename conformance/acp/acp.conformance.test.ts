import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ACP_EXPECTED_SKIPS, acpSelftestParts, type AcpSelftestParts } from '../../adapters/protocols/acp/selftestParts.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../adapters/testing/testGateway.js'
import { createCounterparts, type Counterparts } from '../framework/counterparts/counterparts.js'
import { bearerCredentials } from '../framework/credentials.js'
import type { ConformanceReport } from '../framework/report.js'
import { runConformance } from '../framework/runner.js'
import { suite } from './suite.js'

/** The ACP suite alone against our gateway (the full registry runs in conformance/selftest.test.ts). */
describe('ACP conformance suite against the gateway (real HTTP, Antom-style sandbox)', () => {
  let gw: TestGateway
  let counterparts: Counterparts
  let parts: AcpSelftestParts
  let report: ConformanceReport

  beforeAll(async () => {
    counterparts = createCounterparts({ seed: 'acp-selftest' })
    // The runner's receiver is the agent's order-webhook URL: ACP-HOOK-001 checks Merchant-Signature.
    const receiver = await counterparts.webhookReceiver()
    const webhookSecret = 'whsec_acp_selftest_0123456789abcdef01'
    parts = await acpSelftestParts({ agentWebhooks: { agent_1: { url: receiver.urlFor('/hooks/acp'), secret: webhookSecret } } })
    gw = await startTestGateway({
      configPatch: { outbox: { enabled: true, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400, timeoutMs: 2000 } },
      gatewayOptions: { mounts: parts.mounts, rails: parts.rails },
    })
    const { credentials, secrets } = bearerCredentials({ agent: TEST_KEYS.agent })
    report = await runConformance({ baseUrl: gw.url, suites: [suite], credentials, secrets, counterparts, options: { acp: { itemId: 'item_123', webhookSecret } }, toolVersion: 'acp-selftest' })
  }, 120_000)

  afterAll(async () => {
    await gw?.close()
    await counterparts?.close()
    await parts?.close()
  })

  it('covers DIGEST §13 with ids and spec references', () => {
    expect(suite.requirements.length).toBeGreaterThanOrEqual(28)
    for (const r of suite.requirements) {
      expect(r.id).toMatch(/^ACP-[A-Z]+-\d{3}$/)
      expect(r.spec.url).toMatch(/^https:\/\//)
    }
  })

  it('every requirement passes except the listed, reasoned skips', () => {
    const rows = report.suites[0]!.requirements.map((r) => ({ id: r.id, status: r.status, reason: r.reason }))
    const wrong = rows.filter((r) => (ACP_EXPECTED_SKIPS[r.id] ? r.status !== 'skip' : r.status !== 'pass'))
    expect(wrong, JSON.stringify(wrong, null, 2)).toEqual([])
    expect(report.suites[0]!.discovery.error).toBeUndefined()
  })

  it('redacts the API key and the card number from the evidence', () => {
    const text = JSON.stringify(report)
    expect(text).not.toContain(TEST_KEYS.agent)
    expect(text).not.toContain('4242424242424242')
  })
})
