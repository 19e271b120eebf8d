/** Scoped single-use tokens ("Token Pay"): issue, redeem once, revoke, release. */
export { issueScopedToken, type IssueScopedTokenDeps, type IssueScopedTokenErrorType, type IssueScopedTokenParameters, type IssueScopedTokenReturnType } from './issueScopedToken.js'
export {
  recordScopedTokenUse,
  redeemScopedToken,
  type RedeemScopedTokenErrorType,
  type RedeemScopedTokenParameters,
  type RedeemScopedTokenReturnType,
  type ScopedTokenPayment,
} from './redeemScopedToken.js'
export { intentMovedNoMoney, releaseScopedTokenIfUnpaid, releaseScopedTokenOfIntent, type ReleaseScopedTokenParameters } from './releaseScopedToken.js'
export { getScopedToken, revokeScopedToken, type RevokeScopedTokenParameters } from './revokeScopedToken.js'
export { isScopedTokenString, parseScopedToken, scopedTokenHash } from './signing.js'
export { createScopedTokenPolicy } from './scopedTokenPolicy.js'
export { scopedTokenIdOf } from './view.js'
export { scopedTokenSettings } from './settings.js'
export type { ScopedTokenClaims, ScopedTokenDeps, ScopedTokenDoc, ScopedTokenKeyring, ScopedTokenSettings, ScopedTokenStatus, ScopedTokenView } from './types.js'
export { isScopedTokenRecord, scopedTokenView } from './view.js'
