/**
 * Reason codes of the EVM rail. Verification and settlement reasons are the official x402 SDK's
 * strings, character for character (`@x402/evm` 2.27 `src/exact/facilitator/errors.ts`), so the
 * x402 facilitator can return them unchanged and clients that pattern-match on them keep working.
 * The rest are the rail's own `snake_case` codes for outcomes the SDK has no string for.
 */
export const Eip3009Reason = {
  // --- x402 SDK strings (exact EVM scheme) ---
  assetNotDeployed: 'asset_not_deployed_contract',
  networkMismatch: 'invalid_exact_evm_network_mismatch',
  missingEip712Domain: 'invalid_exact_evm_missing_eip712_domain',
  recipientMismatch: 'invalid_exact_evm_recipient_mismatch',
  invalidSignature: 'invalid_exact_evm_signature',
  validBefore: 'invalid_exact_evm_payload_authorization_valid_before',
  validAfter: 'invalid_exact_evm_payload_authorization_valid_after',
  /** v2: value must equal the required amount. */
  valueMismatch: 'invalid_exact_evm_payload_authorization_value_mismatch',
  /** The v1 facilitator's string for the same check. */
  valueV1: 'invalid_exact_evm_authorization_value',
  transactionFailed: 'invalid_exact_evm_transaction_failed',
  transferEventMismatch: 'invalid_exact_evm_transfer_event_mismatch',
  tokenNameMismatch: 'invalid_exact_evm_token_name_mismatch',
  tokenVersionMismatch: 'invalid_exact_evm_token_version_mismatch',
  eip3009NotSupported: 'invalid_exact_evm_eip3009_not_supported',
  nonceAlreadyUsed: 'invalid_exact_evm_nonce_already_used',
  insufficientBalance: 'invalid_exact_evm_insufficient_balance',
  simulationFailed: 'invalid_exact_evm_transaction_simulation_failed',
  failedToParseSignature: 'invalid_exact_evm_failed_to_parse_signature',
  settlementPending: 'settlement_pending',
  /** Generic x402 reason for a malformed payload. */
  invalidPayload: 'invalid_payload',
  // --- the rail's own codes ---
  /** The asset of the intent is not a token this rail is configured for. */
  unsupportedAsset: 'unsupported_asset',
  /** Current fees are above the configured caps: nothing was sent. */
  feeCapExceeded: 'fee_cap_exceeded',
  /** Reconciliation: the authorisation's validBefore passed on chain without it being used. */
  authorizationExpired: 'authorization_expired',
  /** Reconciliation: the payer canceled the authorisation (`cancelAuthorization`). */
  authorizationCanceled: 'authorization_canceled',
  /** Unknown outcomes. */
  receiptTimeout: 'receipt_timeout',
  broadcastUnknown: 'broadcast_unknown',
  broadcastRejected: 'broadcast_rejected',
  rpcUnavailable: 'rpc_unavailable',
  pending: 'transaction_pending',
  txNotFound: 'transaction_not_found',
  usedByUnknownTransaction: 'authorization_used_by_unknown_transaction',
  missingFacts: 'reconciliation_facts_missing',
} as const

export type Eip3009ReasonCode = (typeof Eip3009Reason)[keyof typeof Eip3009Reason]

/**
 * Map a revert message of `transferWithAuthorization` to a reason, with the SDK's own patterns
 * (`parseEip3009TransferError`), so FiatTokenV2 and our token's revert strings map alike.
 */
export function reasonFromRevert(message: string): Eip3009ReasonCode | undefined {
  if (/authorization.*(expired|valid before)/i.test(message) || /AuthorizationExpired/i.test(message)) return Eip3009Reason.validBefore
  if (/authorization.*not.*valid|AuthorizationNotYetValid/i.test(message)) return Eip3009Reason.validAfter
  if (/authorization.*used|AuthorizationAlreadyUsed|AuthorizationUsedOrCanceled/i.test(message)) return Eip3009Reason.nonceAlreadyUsed
  if (/transfer.*exceeds.*balance|insufficient.*balance|ERC20InsufficientBalance/i.test(message)) return Eip3009Reason.insufficientBalance
  if (/invalid.*signature|SignerMismatch|InvalidSignatureV|InvalidSignatureS/i.test(message)) return Eip3009Reason.invalidSignature
  return undefined
}
