/**
 * @module adapters/protocols/mpp — the MPP `Payment` HTTP authentication scheme (issue 9):
 * wire codec (base64url, JCS, challenge/credential/receipt), HMAC challenge ids, the `evm`
 * `charge` method with EIP-3009 `authorization` credentials, and the offer provider that puts an
 * MPP challenge into the priced routes' 402 beside x402's. Named re-exports only.
 */
export { base64urlDecode, base64urlEncode } from './base64url.js'
export { canonicalize } from './jcs.js'
export {
  challengeBindingInput,
  computeChallengeId,
  encodeRequest,
  formatChallenge,
  MppFormatError,
  MppParseError,
  parseWwwAuthenticate,
  verifyChallengeId,
  type MppChallenge,
} from './challenge.js'
export { formatAuthorization, parseAuthorization, type MppCredential } from './credential.js'
export { formatReceipt, parseReceipt, type MppReceipt } from './receipt.js'
export { MppProblems, problemBody, PROBLEM_BASE, type MppProblemBody, type MppProblemType } from './problems.js'
export { challengeHash, challengeOpaque, didPkh, opaqueRoute, routeOffer, verifyMppCredential, type MppEvmPayment, type MppRouteOffer, type VerifyMppCredentialParameters } from './evmCharge.js'
export { checkMppOptions, intentInputOf, MIN_SECRET_BYTES, MPP_CHALLENGE_NAMESPACE, mppOfferProvider, type MppOptions, type MppProvider } from './provider.js'
export { mppOptionsFromConfig, type MppConfig } from './config.js'
