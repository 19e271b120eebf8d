import { defineSuite } from '../framework/defineSuite.js'
import { ACP_CAPABILITIES, ACP_SPEC_VERSION, discoverAcp, type AcpDiscovery } from './helpers.js'
import { acpRequirements } from './requirements.js'

/**
 * The `acp` suite: a seller's ACP face (API-Version 2026-04-17) black-box over HTTP — DIGEST §13's
 * list: idempotency, versions, auth, the session object and status machine, complete, cancel,
 * the delegate-payment allowance, order webhooks and discovery. Bodies are validated against the
 * official, unmodified JSON Schema bundles kept in `conformance/acp/schemas/2026-04-17/`.
 */
export const suite = defineSuite<AcpDiscovery>({
  protocol: 'acp',
  title: 'ACP (Agentic Commerce Protocol)',
  idPrefix: 'ACP',
  specVersions: [ACP_SPEC_VERSION],
  sections: {
    IDEM: { title: 'Idempotency' },
    VER: { title: 'API versions' },
    AUTH: { title: 'Authorisation' },
    CS: { title: 'Checkout sessions' },
    COMP: { title: 'Complete' },
    CANCEL: { title: 'Cancel' },
    DP: { title: 'Delegate payment' },
    HOOK: { title: 'Order webhooks' },
    DISC: { title: 'Discovery' },
  },
  capabilities: ACP_CAPABILITIES,
  options: {
    apiBase: { description: 'path of the checkout API on the base URL when the target serves no discovery document (default /acp)' },
    itemId: { description: 'a purchasable item id of the target catalog (the agentswitch demo catalog has item_123)' },
    testCardNumber: { description: "a card number the target's vault and card rail accept (default the Visa test card 4242424242424242)", secret: true },
    webhookSecret: { description: 'the shared secret of the order webhooks sent to the runner (enables ACP-HOOK-001)', secret: true },
  },
  discover: discoverAcp,
  requirements: acpRequirements,
})
