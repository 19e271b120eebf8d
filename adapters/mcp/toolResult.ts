import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { errorCatalog, isErrorCode, type ErrorCode } from '../../core/errors/catalog.js'
import type { GatewayCallReturnType } from './gatewayClient.js'

/** The gateway's error object, as `/v1` answers it. */
interface GatewayErrorShape {
  code: string
  message: string
  retryable?: boolean | undefined
  request_id?: string | undefined
  details?: unknown
}

/** A successful tool result: the gateway's JSON, as text (and as structured content for clients that read it). */
export function toolOk(body: unknown, note?: string): CallToolResult {
  const text = JSON.stringify(body, null, 2)
  return {
    content: [{ type: 'text', text: note ? `${note}\n${text}` : text }],
    ...(body !== null && typeof body === 'object' && !Array.isArray(body) ? { structuredContent: body as Record<string, unknown> } : {}),
  }
}

/**
 * A tool error (`isError: true`): the first line is `GW_CODE: message`, then what to do next, so a
 * model can act on it. `extra` (e.g. a failed intent) follows as JSON; nothing secret is ever in it.
 */
export function toolError(code: ErrorCode, message: string, options: { hint?: string | undefined; extra?: unknown; retryable?: boolean | undefined; requestId?: string | undefined } = {}): CallToolResult {
  const retryable = options.retryable ?? errorCatalog[code].retryable
  const lines = [`${code}: ${message}`]
  const hint = options.hint ?? HINTS[code]
  if (hint) lines.push(hint)
  lines.push(retryable ? 'Retryable: yes (send the same call again later, with the same idempotency_key).' : 'Retryable: no.')
  if (options.requestId) lines.push(`request_id: ${options.requestId}`)
  if (options.extra !== undefined) lines.push(JSON.stringify(options.extra, null, 2))
  return {
    isError: true,
    content: [{ type: 'text', text: lines.join('\n') }],
    structuredContent: { error: { code, message, retryable, ...(options.requestId ? { request_id: options.requestId } : {}) }, ...(options.extra !== undefined ? { data: options.extra } : {}) },
  }
}

/** What a model should do next, per code (the catalogue's title is the generic fallback). */
const HINTS: Partial<Record<ErrorCode, string>> = {
  GW_UNAUTHENTICATED:
    'No valid API key reached the gateway. Configure this MCP server with the agent\'s key: AGENTSWITCH_API_KEY for `agentswitch mcp` (stdio), or an `Authorization: Bearer <key>` header on the HTTP connection to /mcp.',
  GW_FORBIDDEN: 'This key may not do this. Do not retry with the same key: ask the operator for a key with the scope named above, or act only on your own resources.',
  GW_NOT_FOUND: 'Check the id (payments are pi_…, refunds re_…); resources of other agents or merchants are not visible to this key.',
  GW_IDEMPOTENCY_CONFLICT:
    'This idempotency_key was already used for a call with different arguments. To repeat that earlier call, send exactly its arguments; for a new operation, choose a new idempotency_key.',
  GW_IDEMPOTENCY_IN_FLIGHT: 'An earlier call with this idempotency_key is still running. Call again later with the same arguments and key to get its result; do not change the key.',
  GW_IDEMPOTENCY_KEY_INVALID: 'idempotency_key must be 1–255 printable ASCII characters, e.g. a UUID.',
  GW_IDEMPOTENCY_KEY_REQUIRED: 'Pass an idempotency_key: one unique value per logical payment, reused only to retry that same payment.',
  GW_SCHEMA_INVALID: 'Fix each field listed in details and call again with a new idempotency_key.',
  GW_AMOUNT_INVALID: 'Amounts are integer minor units as a decimal string: "1999" is 19.99 USD; no decimal point, sign or leading zeros.',
  GW_ASSET_UNKNOWN: 'Call list_capabilities for the asset ids this gateway knows (iso4217:USD for fiat, eip155:<chain>/erc20:<address> for tokens).',
  GW_RAIL_UNAVAILABLE: 'No rail can take this payment now; no money moved. Retry later with the same idempotency_key, or use another instrument (see list_capabilities).',
  GW_RAIL_TIMEOUT: 'The outcome is not known yet: do not pay again. Poll get_payment with the payment id, or retry with the same idempotency_key.',
  GW_PAYMENT_DECLINED: 'Do not retry unchanged. Read the reason: pay less, ask the user to raise the wallet limit or approve, or use another instrument, with a new idempotency_key.',
  GW_GATEWAY_UNREACHABLE: 'Check --base-url / AGENTSWITCH_URL and that the gateway is running; retrying with the same idempotency_key never pays twice.',
}

/**
 * Maps a gateway answer that is not a 2xx to a tool error with the gateway's own code and message.
 * 401 → GW_UNAUTHENTICATED, 403 → GW_FORBIDDEN, and so on: the code is the gateway's, never guessed.
 */
export function toolErrorFromResponse(res: GatewayCallReturnType): CallToolResult {
  const err = (res.body as { error?: GatewayErrorShape } | undefined)?.error
  if (err && typeof err.code === 'string' && isErrorCode(err.code)) {
    const details = err.details === undefined ? '' : ` details: ${JSON.stringify(err.details)}`
    const wait = res.retryAfter ? ` (Retry-After: ${res.retryAfter} s)` : ''
    return toolError(err.code, `${err.message}${details}${wait}`, { retryable: err.retryable, requestId: err.request_id })
  }
  if (res.status === 401) return toolError('GW_UNAUTHENTICATED', 'the gateway refused the call without a valid API key')
  if (res.status === 403) return toolError('GW_FORBIDDEN', 'the gateway refused the call for this key')
  if (res.status === 404) return toolError('GW_NOT_FOUND', 'the gateway has no such resource or route')
  return toolError('GW_GATEWAY_UNREACHABLE', `the gateway answered HTTP ${res.status} without an error object`)
}
