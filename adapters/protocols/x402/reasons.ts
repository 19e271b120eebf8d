import { Eip3009Reason } from '../../rails/evm/reasons.js'

/**
 * The reason strings x402 peers pattern-match on (digest §5.5): the exact-EVM strings of the SDK
 * (`@x402/evm` 2.27, shared with the EVM rail) and the generic ones of the v2 spec §9. Our own
 * additions are marked; everything else is character for character the SDK's.
 */
export const X402Reason = {
  // exact EVM (EIP-3009), from the rail
  invalidScheme: 'invalid_exact_evm_scheme',
  networkMismatch: Eip3009Reason.networkMismatch,
  missingEip712Domain: Eip3009Reason.missingEip712Domain,
  recipientMismatch: Eip3009Reason.recipientMismatch,
  invalidSignature: Eip3009Reason.invalidSignature,
  validBefore: Eip3009Reason.validBefore,
  validAfter: Eip3009Reason.validAfter,
  valueMismatch: Eip3009Reason.valueMismatch,
  /** The v1 handler's string for the same check. */
  valueV1: Eip3009Reason.valueV1,
  nonceAlreadyUsed: Eip3009Reason.nonceAlreadyUsed,
  tokenNameMismatch: Eip3009Reason.tokenNameMismatch,
  tokenVersionMismatch: Eip3009Reason.tokenVersionMismatch,
  insufficientBalance: Eip3009Reason.insufficientBalance,
  simulationFailed: Eip3009Reason.simulationFailed,
  transactionFailed: Eip3009Reason.transactionFailed,
  unsupportedPayloadType: 'unsupported_payload_type',
  settlementPending: Eip3009Reason.settlementPending,
  // generic (v2 spec §9)
  invalidPayload: 'invalid_payload',
  invalidNetwork: 'invalid_network',
  unsupportedScheme: 'unsupported_scheme',
  invalidX402Version: 'invalid_x402_version',
  invalidPaymentRequirements: 'invalid_payment_requirements',
  unexpectedVerifyError: 'unexpected_verify_error',
  unexpectedSettleError: 'unexpected_settle_error',
  /** [2.27] the client changed the `info` of a declared extension. */
  extensionEchoMismatch: 'extension_echo_mismatch',
  // ours (no SDK string exists)
  /** `payment-identifier` declared `required: true` and the payload carries no id (answered 400). */
  paymentIdentifierRequired: 'payment_identifier_required',
  /** The same `payment-identifier` id with a different payload (answered 409). */
  paymentIdentifierConflict: 'payment_identifier_conflict',
  /** The same `payment-identifier` id while its first request is still running (409, Retry-After). */
  paymentIdentifierInFlight: 'payment_identifier_in_flight',
  /** Policy parked the payment for a person's approval: x402 has no way to wait for it. */
  requiresApproval: 'payment_requires_approval',
  /** The upstream of a priced route did not answer (nothing was charged in the settle-after flow). */
  upstreamUnavailable: 'upstream_unavailable',
} as const

export type X402ReasonCode = (typeof X402Reason)[keyof typeof X402Reason]

/** The SDK's text for an unpaid request (`PaymentRequired.error`). */
export const PAYMENT_REQUIRED_TEXT = 'Payment required'

/**
 * The x402 reason for a rail or pipeline code: SDK strings pass unchanged; the rail's own codes
 * for outcomes the SDK has no string for are mapped to the nearest generic reason, so clients
 * only ever see strings they can match.
 */
export function toX402Reason(code: string, context: 'verify' | 'settle'): string {
  switch (code) {
    case Eip3009Reason.unsupportedAsset:
      return X402Reason.invalidPaymentRequirements
    case Eip3009Reason.feeCapExceeded:
    case Eip3009Reason.rpcUnavailable:
    case Eip3009Reason.broadcastRejected:
    case Eip3009Reason.missingFacts:
    case 'rail_error':
    case 'GW_RAIL_UNAVAILABLE':
      return context === 'verify' ? X402Reason.unexpectedVerifyError : X402Reason.unexpectedSettleError
    case Eip3009Reason.authorizationExpired:
      return X402Reason.validBefore
    case Eip3009Reason.authorizationCanceled:
    case Eip3009Reason.usedByUnknownTransaction:
      return X402Reason.nonceAlreadyUsed
    default:
      return code
  }
}
