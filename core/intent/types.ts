/**
 * The canonical intent types, generated from `schemas/canonical/*.json` (the source of truth).
 * Named re-exports only.
 */
export type {
  AssetId,
  AuditEvent,
  ErrorCode as ErrorCodeFromSchema,
  FxQuote,
  IntentAuthorization,
  IntentEventType,
  IntentInstrument,
  IntentLineItem,
  IntentOrigin,
  IntentPayer,
  IntentRefund,
  IntentRoute,
  IntentSettlement,
  IntentStatus,
  IntentTotal,
  Money,
  PaymentIntent,
  RailAttempt,
} from '../../schemas/generated/canonical.js'
