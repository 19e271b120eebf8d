import type { Request, Response } from 'express'
import type { ErrorCode } from '../../../core/errors/catalog.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { ErrorRenderer } from '../../http/errors.js'

/** ACP's flat protocol error (DIGEST §8): no `{error:{…}}` envelope. */
export interface AcpErrorBody {
  type: 'invalid_request' | 'processing_error' | 'service_unavailable' | 'rate_limit_exceeded'
  code: string
  message: string
  param?: string
  supported_versions?: string[]
}

/** What an ACP call site adds to a catalogued error: ACP's own `code`, the JSONPath `param`. */
interface AcpDetails {
  acp: { code: string; param?: string | undefined; supported_versions?: string[] | undefined }
}

/**
 * Throw a catalogued gateway error carrying ACP's `code` (and `param`). The HTTP status comes from
 * the one catalogue; only the wire shape is ACP's.
 *
 * @example throw acpError('GW_NOT_FOUND', 'not_found', 'no checkout session cs_…')
 */
export function acpError(
  gw: ErrorCode,
  code: string,
  message: string,
  extra: { param?: string | undefined; supportedVersions?: string[] | undefined; headers?: Record<string, string> } = {},
): GatewayError {
  const details: AcpDetails = { acp: { code, ...(extra.param ? { param: extra.param } : {}), ...(extra.supportedVersions ? { supported_versions: extra.supportedVersions } : {}) } }
  return new GatewayError(gw, message, { details, ...(extra.headers ? { headers: extra.headers } : {}) })
}

function acpDetails(e: GatewayError): AcpDetails['acp'] | undefined {
  const d = e.details as Partial<AcpDetails> | undefined
  return d && typeof d === 'object' && d.acp && typeof d.acp.code === 'string' ? d.acp : undefined
}

/** The default ACP `code` of each catalogued error (when the call site gave none). */
const DEFAULT_CODE: Record<ErrorCode, string> = {
  GW_BAD_REQUEST: 'invalid',
  GW_SCHEMA_INVALID: 'invalid',
  GW_BODY_TOO_LARGE: 'request_too_large',
  GW_UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  GW_UNAUTHENTICATED: 'unauthorized',
  GW_FORBIDDEN: 'forbidden',
  GW_NOT_FOUND: 'not_found',
  GW_METHOD_NOT_ALLOWED: 'method_not_allowed',
  GW_IDEMPOTENCY_KEY_INVALID: 'invalid_idempotency_key',
  GW_IDEMPOTENCY_KEY_REQUIRED: 'idempotency_key_required',
  GW_IDEMPOTENCY_CONFLICT: 'idempotency_conflict',
  GW_IDEMPOTENCY_IN_FLIGHT: 'idempotency_in_flight',
  GW_INTENT_CONFLICT: 'conflict',
  GW_INVALID_TRANSITION: 'invalid_state',
  GW_AMOUNT_INVALID: 'invalid_amount',
  GW_ASSET_UNKNOWN: 'unsupported_currency',
  GW_REPLAY: 'token_already_used',
  GW_RATE_LIMITED: 'rate_limited',
  GW_STORE_UNAVAILABLE: 'service_unavailable',
  GW_RAIL_UNAVAILABLE: 'service_unavailable',
  GW_RAIL_TIMEOUT: 'processing_timeout',
  GW_CONFIG_INVALID: 'processing_error',
  GW_INTERNAL: 'processing_error',
  // routing and FX (R)
  GW_FX_UNAVAILABLE: 'service_unavailable',
  // refunds and disputes (D)
  GW_REFUND_EXCEEDS_CAPTURED: 'refund_exceeds_captured',
  GW_REFUND_UNSUPPORTED: 'refund_unsupported',
  // wallets and budgets (W)
  GW_WALLET_EXISTS: 'conflict',
  GW_WALLET_CONFLICT: 'conflict',
  // MCP server (issue 11)
  GW_PAYMENT_DECLINED: 'payment_declined',
  GW_GATEWAY_UNREACHABLE: 'service_unavailable',
  // scoped single-use tokens (T)
  GW_TOKEN_INVALID: 'invalid_credential',
  GW_TOKEN_EXPIRED: 'credential_expired',
  GW_TOKEN_USED: 'token_already_used',
  GW_TOKEN_REVOKED: 'credential_revoked',
  GW_TOKEN_SCOPE_MISMATCH: 'credential_scope_mismatch',
  GW_TOKEN_UNFUNDED: 'payment_method_unavailable',
}

/**
 * The checkout `Error.type` enum has no value for 401/403/429 (DIGEST §12.6): those are rendered
 * `invalid_request` (a client-side problem), 503s `service_unavailable`, other 5xx `processing_error`.
 */
function typeOf(e: GatewayError): AcpErrorBody['type'] {
  if (e.code === 'GW_STORE_UNAVAILABLE' || e.code === 'GW_RAIL_UNAVAILABLE') return 'service_unavailable'
  if (e.httpStatus >= 500) return 'processing_error'
  return 'invalid_request'
}

/** Build the flat ACP error body of a gateway error (5xx messages are generic: causes are logged, never sent). */
export function acpErrorBody(e: GatewayError): AcpErrorBody {
  const d = acpDetails(e)
  const body: AcpErrorBody = {
    type: typeOf(e),
    code: d?.code ?? DEFAULT_CODE[e.code],
    message: e.httpStatus >= 500 && e.code === 'GW_INTERNAL' ? 'internal error' : e.message,
  }
  const param = d?.param ?? schemaParam(e)
  if (param) body.param = param
  if (d?.supported_versions) body.supported_versions = d.supported_versions
  return body
}

function schemaParam(e: GatewayError): string | undefined {
  const details = e.details as Array<{ path?: unknown }> | undefined
  if (Array.isArray(details) && typeof details[0]?.path === 'string') return details[0].path
  return undefined
}

function send(e: GatewayError, res: Response, body: object): void {
  res.status(e.httpStatus)
  if (e.headers) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v)
  res.json(body)
}

/** The checkout API's renderer (plugged into `errorHandler(logger, renderAcpError)`). */
export const renderAcpError: ErrorRenderer = (error, _req: Request, res) => send(error, res, acpErrorBody(error))

/**
 * The delegate-payment API's closed `code` enum (DIGEST §6): `invalid_card | duplicate_request |
 * idempotency_conflict | too_many_requests | idempotency_key_required | idempotency_in_flight`.
 * Validation problems map to `invalid_card` (with the JSONPath in `param`), rate limits to
 * `rate_limit_exceeded`/`too_many_requests`. The enum has no code for version, auth or server
 * errors (DIGEST §12.6, upstream #161/#72): those keep the checkout API's codes.
 */
export const renderDelegateError: ErrorRenderer = (error, _req, res) => {
  const body = acpErrorBody(error)
  const closed = new Set(['invalid_card', 'duplicate_request', 'idempotency_conflict', 'too_many_requests', 'idempotency_key_required', 'idempotency_in_flight'])
  if (error.code === 'GW_RATE_LIMITED') {
    body.type = 'rate_limit_exceeded'
    body.code = 'too_many_requests'
  } else if (!closed.has(body.code) && !body.supported_versions && (error.code === 'GW_SCHEMA_INVALID' || error.code === 'GW_BAD_REQUEST')) {
    body.code = 'invalid_card'
  }
  send(error, res, body)
}
