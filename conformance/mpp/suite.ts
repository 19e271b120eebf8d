import { defineSuite } from '../framework/defineSuite.js'
import { challengeRequirements } from './challenge.js'
import { discoverMpp, MPP_CAPABILITIES } from './discover.js'
import { errorRequirements } from './errors.js'
import { MPP_SPEC_VERSION, type MppDiscovery } from './helpers.js'
import { paymentRequirements } from './payment.js'

/**
 * The `mpp` suite: the HTTP "Payment" authentication scheme (draft-httpauth-payment-00) with the
 * `charge` intent and the `evm` method's EIP-3009 `authorization` credential. A priced route's
 * 402 and its challenges, the `request` encoding (base64url-nopad of JCS), paying it (money moved
 * once, the receipt), replay, and every refusal with its problem type. Black-box over HTTP; the
 * wire pieces (JCS, auth-params, credentials, challenge hash) are this folder's own (`wire.ts`);
 * the chain is read through `--rpc-url` to see that money moved exactly once.
 *
 * Requirement ids: `MPP-<SECTION>-<NNN>`; each cites the draft clause (section number) it checks.
 *
 * Expiry, black-box: a tester cannot mint an expired challenge (ids are bound by the server's
 * secret). MPP-ERR-008 moves `expires` into the past in the echo, which must be refused
 * (invalid-challenge, as the binding breaks, or payment-expired); MPP-ERR-006/007 wait a real
 * challenge out when the route's challenges live at most `maxExpiryWaitSeconds` (15 s), else they
 * skip with that reason (`--set mpp.expiringRoute=…` names a short-lived route).
 *
 * Problem types: where the drafts allow more than one (draft-00's table says invalid-challenge for
 * an expired or used challenge, its error list says payment-expired), the check accepts each and
 * notes which came; a SHOULD check pins the preferred one.
 */
export const suite = defineSuite<MppDiscovery>({
  protocol: 'mpp',
  title: 'MPP (the HTTP "Payment" authentication scheme: charge intent, evm method)',
  idPrefix: 'MPP',
  specVersions: [MPP_SPEC_VERSION],
  sections: {
    CHAL: { title: 'Challenge (WWW-Authenticate: Payment)' },
    REQ: { title: 'The request parameter' },
    PAY: { title: 'Paying a priced route' },
    RCPT: { title: 'Payment-Receipt' },
    RPL: { title: 'Replay and concurrency' },
    ERR: { title: 'Refusals and error handling' },
  },
  capabilities: MPP_CAPABILITIES,
  options: {
    route: { description: 'a priced route: a path on --base-url or a URL (default: the first route of dev.json mpp.routes)' },
    routeMethod: { description: 'its HTTP method (default GET, or the dev.json route method)' },
    expiringRoute: { description: 'a route whose challenges expire within maxExpiryWaitSeconds, to check expiry (default: the route itself)' },
    maxExpiryWaitSeconds: { description: 'the longest the suite waits for a challenge to expire', default: '15' },
    tokenName: { description: "the token's EIP-712 name (default: read from the chain)" },
    tokenVersion: { description: "the token's EIP-712 version (default: read from the chain)" },
    payerPrivateKey: { description: "a funded payer's private key (default: the seed's wallet 0, or the last dev.json wallet)", secret: true },
  },
  discover: discoverMpp,
  requirements: [...challengeRequirements, ...paymentRequirements, ...errorRequirements],
})
