import { defineSuite } from '../framework/defineSuite.js'
import { challengeRequirements } from './challenge.js'
import { discoverX402, X402_CAPABILITIES } from './discover.js'
import { facilitatorRequirements } from './facilitator.js'
import { X402_SPEC_VERSION, type X402Discovery } from './helpers.js'
import { idempotencyRequirements } from './idempotency.js'
import { paymentRequirements } from './payment.js'

/**
 * The `x402` suite: a priced route's 402 (v2 header, v1 body), the header encodings, paying it
 * (exact on EVM, EIP-3009) and every refusal reason, the facilitator's /supported, /verify and
 * /settle, and the payment-identifier extension. Black-box over HTTP; the chain is read through
 * `--rpc-url` to see that money moved exactly once. Reasons are the SDK's strings (x402 2.27).
 */
export const suite = defineSuite<X402Discovery>({
  protocol: 'x402',
  title: 'x402 (HTTP 402 payments, v2 and v1)',
  idPrefix: 'X402',
  specVersions: [X402_SPEC_VERSION],
  sections: {
    REQ: { title: 'Payment required (v2)' },
    ENC: { title: 'Header encoding' },
    V1: { title: 'Version 1' },
    PAY: { title: 'Paying a priced route' },
    REJ: { title: 'Refusals' },
    FAC: { title: 'Facilitator' },
    IDEM: { title: 'payment-identifier' },
  },
  capabilities: X402_CAPABILITIES,
  options: {
    route: { description: 'a priced route: a path on --base-url or a URL (default: the first x402 route of dev.json)' },
    routeMethod: { description: 'its HTTP method (default GET, or the dev.json route method)' },
    facilitatorUrl: { description: 'the facilitator base URL (default <base-url>/x402/facilitator, or dev.json x402.facilitator)' },
    payerPrivateKey: { description: "a funded payer's private key (default: the seed's wallet 0, or the last dev.json wallet)", secret: true },
  },
  discover: discoverX402,
  requirements: [...challengeRequirements, ...paymentRequirements, ...facilitatorRequirements, ...idempotencyRequirements],
})
