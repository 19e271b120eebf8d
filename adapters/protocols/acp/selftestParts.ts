/**
 * What `conformance/selftest.test.ts` adds to its in-process gateway so the ACP suite runs against
 * the real thing: the ACP mount for merchant `m2` (its webhooks go to the gateway's own dev sink,
 * away from the core suite's receiver) and the Antom-style card rail on a local Alipay sandbox.
 * Test support only (not a test file).
 */
import type { Mount } from '../../http/app.js'
import type { CreateGatewayOptions } from '../../gateway/createGateway.js'
import { buildAlipayRail, buildAntomRail } from '../../rails/alipay/index.js'
import { startRailHarness } from '../../rails/alipay/testing.js'
import { acpMount } from './mount.js'
import { TEST_VAULT_KEY } from './testing.js'

export interface AcpSelftestParts {
  mounts: Mount[]
  rails: NonNullable<CreateGatewayOptions['rails']>
  close(): Promise<void>
}

/** ACP requirements our gateway cannot show black-box, with the reason. */
export const ACP_EXPECTED_SKIPS: Record<string, string> = {
  'ACP-IDEM-005': 'needs fault-injection: no way to make the gateway answer 5xx on demand',
  'ACP-COMP-003': 'the gateway never asks for 3-D Secure, so authentication_required cannot be reached black-box',
}

export async function acpSelftestParts(o: { agentWebhooks?: Record<string, { url: string; secret: string }> } = {}): Promise<AcpSelftestParts> {
  const harness = await startRailHarness()
  return {
    mounts: [acpMount({ merchantId: 'm2', vault: { encryptionKey: TEST_VAULT_KEY }, handlers: { card: {} }, ...(o.agentWebhooks ? { agentWebhooks: o.agentWebhooks } : {}) })],
    // The sandbox's Alipay rail too: the AP2 suite pays by agreement in the same selftest gateway.
    rails: [(ctx) => buildAntomRail(harness.antomOptions, ctx), (ctx) => buildAlipayRail(harness.alipayOptions, ctx)],
    close: () => harness.close(),
  }
}
