/**
 * @module adapters/protocols/ap2 — AP2 v0.2 (SD-JWT mandates; v0.1 read) for agentswitch (issue 8).
 * Entry point: named re-exports only. Importing it registers nothing; the composition root adds
 * {@link ap2Mount} to `createGateway(config, { mounts })`.
 *
 * The pure verifier (`verifyMandateChain`, `checkConstraints`, `verifyPresentation`,
 * `verifyCheckoutJwt`, `verifyDetachedCheckoutSignature`) has no I/O and is shared with the UCP
 * adapter's AP2 extension. Dev-mode wiring lives in `./dev.js`; test builders in `./testing.js`.
 */
export { AP2_ERROR_CODES, AP2_HTTP_STATUS, type Ap2ErrorCode, type Ap2Failure } from './errors.js'
export {
  VCT,
  CHECKOUT_CONSTRAINT_TYPES,
  PAYMENT_CONSTRAINT_TYPES,
  RECURRENCE_FREQUENCIES,
  type Amount,
  type Checkout,
  type CheckoutConstraint,
  type ClosedCheckoutMandate,
  type ClosedPaymentMandate,
  type Item,
  type LineItemRequirement,
  type MandateKind,
  type Merchant,
  type OpenCheckoutMandate,
  type OpenPaymentMandate,
  type PaymentConstraint,
  type PaymentInstrument,
  type Pisp,
  type RawConstraint,
} from './mandates.js'
export {
  verifyChainHops,
  verifyMandateChain,
  type Presentation,
  type TrustedKey,
  type VerifiedCheckoutChain,
  type VerifiedMandateChain,
  type VerifiedOpenLayer,
  type VerifiedPaymentChain,
  type VerifyMandateChainParameters,
  type VerifyMandateChainReturnType,
} from './verifyMandateChain.js'
export {
  checkConstraints,
  checkLineItems,
  checkPresetClaims,
  nextAllowed,
  type CheckCheckoutConstraintsParameters,
  type CheckConstraintsParameters,
  type CheckConstraintsReturnType,
  type CheckPaymentConstraintsParameters,
  type ConstraintResult,
  type MandateUsage,
  type MandateUse,
} from './constraints.js'
export { checkoutTotal, verifyCheckoutJwt, verifyDetachedCheckoutSignature, type TrustedMerchant, type VerifyCheckoutJwtParameters, type VerifyCheckoutJwtReturnType } from './checkout.js'
export { receivedReference, verifyPresentation, type Ap2TrustConfig, type VerifiedPresentation, type VerifyPresentationParameters, type VerifyPresentationReturnType } from './verifyPresentation.js'
export {
  createReceiptSigner,
  generateReceiptKey,
  signCheckoutReceipt,
  signPaymentReceipt,
  verifyReceipt,
  type CheckoutReceiptContent,
  type Es256PrivateJwk,
  type PaymentReceiptContent,
  type ReceiptSigner,
  type VerifyReceiptReturnType,
} from './receipts.js'
export { hashB64u, jwkThumbprint, type Es256PublicJwk, type SdHashAlg } from './jose.js'
export {
  checkoutHashOf,
  encodeSd,
  es256KeyPairFromJwk,
  generateEs256KeyPair,
  issueHop,
  issueRootMandate,
  joinChain,
  sd,
  segmentHashOf,
  signCheckoutJwt,
  type Es256KeyPair,
  type IssueHopParameters,
  type IssueRootParameters,
  type SdValue,
} from './issue.js'
export { fixedCodeOtp, memoryMandateLedger, storeMandateLedger, type MandateLedger, type MandateSpendEntry, type OtpProvider } from './state.js'
export { processAp2Payment, type Ap2PaymentInput, type Ap2PaymentOutcome, type Ap2ServiceDeps } from './processAp2Payment.js'
export { processV01Payment, parseV01PaymentMandate, V01_KEYS, type V01Outcome, type V01Payment, type V01Receipt } from './v01.js'
export { AP2_EXTENSION_URI, AP2_EXTENSION_URIS, DATA_KEYS } from './a2a.js'
export { mandateNonce, parseX402Payload, X402_EXTENSION_URI, X402_META, type X402Requirement } from './x402.js'
export { agentCard, AGENT_CARD_PATH, AP2_JWKS_PATH, ap2Mount, renderAp2Error, type Ap2ErrorBody } from './mount.js'
export { parseAp2Config } from './config.js'
export { trustedMerchants, type Ap2MerchantOptions, type Ap2MountOptions, type JwkEntry } from './options.js'
