import { defineSuite } from '../framework/defineSuite.js'
import { AP2_CAPABILITIES, discoverAp2 } from './discover.js'
import { AP2_SPEC_VERSION, type Ap2Discovery } from './helpers.js'
import { bindingRequirements, chainRequirements, constraintRequirements, discoveryRequirements, stateRequirements, structureRequirements } from './requirements.js'

/**
 * The AP2 suite (issue 8): a verifier of AP2 v0.2 mandates reached over the A2A binding. The
 * runner signs as user (`ap2/user`), agent (`ap2/agent`) and merchant (`ap2/merchant`) with keys
 * derived from the run's seed; the target must trust the user and merchant keys for the
 * requirements marked `trust` (discovery proves it with a probe that moves no money), and name an
 * instrument for those marked `payments`. The checks follow the AP2 v0.2 docs and the standards
 * tester's list in the AP2 digest (§11, checks 1–20).
 */
export const suite = defineSuite<Ap2Discovery>({
  protocol: 'ap2',
  title: 'AP2 (Agent Payments Protocol) v0.2 mandate verification',
  idPrefix: 'AP2',
  specVersions: [AP2_SPEC_VERSION],
  sections: {
    DISC: { title: 'Discovery: agent card and receipt key' },
    A2A: { title: 'A2A binding' },
    CHAIN: { title: 'Mandate chains: signatures, disclosures, delegation, audience, nonce' },
    TIME: { title: 'Expiry and issue times' },
    VCT: { title: 'Mandate types and structure' },
    BIND: { title: 'Checkout ↔ payment bindings' },
    CONS: { title: 'Constraints' },
    RCPT: { title: 'Receipts' },
    STATE: { title: 'Replay, budget and the double-spend rule' },
    V01: { title: 'AP2 v0.1 mandates' },
  },
  capabilities: AP2_CAPABILITIES,
  options: {
    payeeId: { description: "the merchant id whose checkout key the target trusts as the runner's ap2/merchant key (default: dev.json ap2.payee.id, else conformance_merchant)" },
    payeeName: { description: 'that merchant’s name (default: dev.json ap2.payee.name)' },
    instrument: { description: 'JSON of a payment_instrument the target settles for that merchant, e.g. {"id":"20215000000000000001","type":"alipay.agreement"} (default: dev.json ap2.instrument)' },
    currency: { description: 'currency of the checkouts the runner builds (default: dev.json ap2.currency, else CNY)' },
    amount: { description: 'amount of one paying checkout in minor units, below any step-up threshold (default 100)', default: '100' },
  },
  discover: discoverAp2,
  requirements: [...discoveryRequirements, ...chainRequirements, ...structureRequirements, ...bindingRequirements, ...constraintRequirements, ...stateRequirements],
})
