/**
 * The one error catalogue: every error the gateway can return, by stable code. Each protocol
 * adapter renders the same entry in its own wire format (ACP error object, UCP message, RFC 9457
 * problem, x402 reason); the gateway's own API uses {@link GatewayErrorBody}. `docs/errors.md` and
 * `schemas/canonical/error-code.json` are checked against this table in both directions by
 * `catalog.test.ts`.
 */
export const errorCatalog = {
  GW_BAD_REQUEST: { httpStatus: 400, retryable: false, title: 'The request is malformed' },
  GW_SCHEMA_INVALID: { httpStatus: 400, retryable: false, title: 'The request body does not match the schema' },
  GW_BODY_TOO_LARGE: { httpStatus: 413, retryable: false, title: 'The request body is too large' },
  GW_UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, retryable: false, title: 'The request body must be application/json' },
  GW_UNAUTHENTICATED: { httpStatus: 401, retryable: false, title: 'A valid API key is required' },
  GW_FORBIDDEN: { httpStatus: 403, retryable: false, title: 'The API key may not do this' },
  GW_NOT_FOUND: { httpStatus: 404, retryable: false, title: 'No such resource' },
  GW_METHOD_NOT_ALLOWED: { httpStatus: 405, retryable: false, title: 'The method is not allowed in the current state' },
  GW_IDEMPOTENCY_KEY_INVALID: { httpStatus: 400, retryable: false, title: 'The Idempotency-Key header is malformed' },
  GW_IDEMPOTENCY_KEY_REQUIRED: { httpStatus: 400, retryable: false, title: 'This request needs an Idempotency-Key header' },
  GW_IDEMPOTENCY_CONFLICT: { httpStatus: 422, retryable: false, title: 'The Idempotency-Key was used with a different request' },
  GW_IDEMPOTENCY_IN_FLIGHT: { httpStatus: 409, retryable: true, title: 'A request with this Idempotency-Key is still in progress' },
  GW_INTENT_CONFLICT: { httpStatus: 409, retryable: true, title: 'The intent was changed concurrently' },
  GW_INVALID_TRANSITION: { httpStatus: 409, retryable: false, title: 'The intent cannot make this transition in its current status' },
  GW_AMOUNT_INVALID: { httpStatus: 400, retryable: false, title: 'The amount is not a valid integer in minor units' },
  GW_ASSET_UNKNOWN: { httpStatus: 400, retryable: false, title: 'The asset is not in the asset registry' },
  GW_REPLAY: { httpStatus: 409, retryable: false, title: 'This authorisation was already used' },
  GW_RATE_LIMITED: { httpStatus: 429, retryable: true, title: 'Too many requests' },
  GW_STORE_UNAVAILABLE: { httpStatus: 503, retryable: true, title: 'The store is unavailable' },
  GW_RAIL_UNAVAILABLE: { httpStatus: 503, retryable: true, title: 'No rail can take the payment now' },
  GW_RAIL_TIMEOUT: { httpStatus: 504, retryable: true, title: 'The rail did not answer in time; the outcome is being reconciled' },
  GW_CONFIG_INVALID: { httpStatus: 500, retryable: false, title: 'The gateway configuration is invalid' },
  GW_INTERNAL: { httpStatus: 500, retryable: true, title: 'Internal error' },
  // --- routing and FX (issue 10, R) ---
  GW_FX_UNAVAILABLE: { httpStatus: 503, retryable: true, title: 'No FX quote can be made for the payment now' },
  // --- refunds and disputes (issue 10, D) ---
  GW_REFUND_EXCEEDS_CAPTURED: { httpStatus: 409, retryable: false, title: 'The refund would exceed the amount captured' },
  GW_REFUND_UNSUPPORTED: { httpStatus: 422, retryable: false, title: 'The payment cannot be refunded on its rail' },
  // --- scoped single-use tokens (issue 10, T) ---
  GW_TOKEN_INVALID: { httpStatus: 401, retryable: false, title: 'The scoped token is not valid' },
  GW_TOKEN_EXPIRED: { httpStatus: 401, retryable: false, title: 'The scoped token has expired' },
  GW_TOKEN_USED: { httpStatus: 409, retryable: false, title: 'The scoped token was already used' },
  GW_TOKEN_REVOKED: { httpStatus: 403, retryable: false, title: 'The scoped token or its wallet consent was revoked' },
  GW_TOKEN_SCOPE_MISMATCH: { httpStatus: 403, retryable: false, title: 'The payment is outside the scoped token' },
  GW_TOKEN_UNFUNDED: { httpStatus: 422, retryable: false, title: 'The wallet of the scoped token has no chargeable funding instrument' },
  // --- wallets and budgets (issue 10, W) ---
  GW_WALLET_EXISTS: { httpStatus: 409, retryable: false, title: 'A wallet with this id exists already' },
  GW_WALLET_CONFLICT: { httpStatus: 409, retryable: true, title: 'The wallet was changed concurrently' },
  // --- MCP server (issue 11) ---
  GW_PAYMENT_DECLINED: { httpStatus: 402, retryable: false, title: 'The payment was declined' },
  GW_GATEWAY_UNREACHABLE: { httpStatus: 502, retryable: true, title: 'The MCP server could not reach the gateway' },
} as const satisfies Record<string, ErrorCatalogEntry>

/** One catalogue row. */
export interface ErrorCatalogEntry {
  /** HTTP status the gateway's own API answers with. */
  readonly httpStatus: number
  /** Whether the same request may succeed if sent again later. */
  readonly retryable: boolean
  /** Short, stable, human title. */
  readonly title: string
}

/** A stable error code (`GW_SCREAMING`). */
export type ErrorCode = keyof typeof errorCatalog

/** Every code, in catalogue order. */
export const errorCodes = Object.keys(errorCatalog) as ErrorCode[]

/** Whether a string is a catalogued error code. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalog, code)
}

/** The wire shape of an error on the gateway's own API (`/v1/*`, health, admin). */
export interface GatewayErrorBody {
  error: {
    /** Stable code from the catalogue. */
    code: ErrorCode
    /** The catalogue title. */
    title: string
    /** What exactly was wrong, for a person or a model to act on. */
    message: string
    /** Whether retrying the same request later may succeed. */
    retryable: boolean
    /** Request id, to quote to support. */
    request_id?: string | undefined
    /** Field-level details (schema errors: `[{ path, message }]`). */
    details?: unknown
  }
}
