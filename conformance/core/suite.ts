import { defineSuite } from '../framework/defineSuite.js'
import { CORE_CAPABILITIES, discoverCore } from './discover.js'
import { authRequirements, errorRequirements, requestIdRequirements } from './errors.js'
import { healthRequirements } from './health.js'
import { CORE_SPEC_VERSION, type CoreDiscovery } from './helpers.js'
import { idempotencyRequirements } from './idempotency.js'
import { auditRequirements, intentRequirements, paginationRequirements } from './intents.js'
import { webhookRequirements } from './webhooks.js'

/**
 * The `core` suite: the gateway's own API and the behaviour every protocol surface shares —
 * health, the error shape, request ids, idempotency, pagination, the audit chain, signed
 * webhooks. Requirements cite `schemas/gateway.openapi.yaml`, the README and `docs/errors.md`.
 */
export const suite = defineSuite<CoreDiscovery>({
  protocol: 'core',
  title: 'agentswitch gateway API',
  idPrefix: 'CORE',
  specVersions: [CORE_SPEC_VERSION],
  sections: {
    HEALTH: { title: 'Health' },
    ERR: { title: 'Errors' },
    REQID: { title: 'Request ids' },
    AUTH: { title: 'Authorisation' },
    INT: { title: 'Intents' },
    IDEM: { title: 'Idempotency' },
    PAGE: { title: 'Pagination' },
    AUDIT: { title: 'Audit chain' },
    HOOK: { title: 'Webhooks' },
  },
  capabilities: CORE_CAPABILITIES,
  options: {
    merchantId: { description: 'merchant_id sent when creating intents (needed when the target has several merchants); default: the dev.json demo merchant, else none' },
    bodyLimitBytes: { description: "the target's server.bodyLimitBytes (CORE-ERR-005 sends more than this)", default: String(1024 * 1024) },
    webhookSecret: { description: "signing secret of the merchant whose webhooks go to the runner's receiver (enables CORE-HOOK-001/002)", secret: true },
    webhookWaitMs: { description: 'how long to wait for a webhook delivery, and for its retry', default: '15000' },
  },
  discover: discoverCore,
  requirements: [
    ...healthRequirements,
    ...errorRequirements,
    ...requestIdRequirements,
    ...authRequirements,
    ...intentRequirements,
    ...idempotencyRequirements,
    ...paginationRequirements,
    ...auditRequirements,
    ...webhookRequirements,
  ],
})
