import { errorCatalog, type ErrorCode, type ErrorCatalogEntry } from './catalog.js'

/** Options of a {@link GatewayError}. */
export interface GatewayErrorOptions {
  /** Field-level details that are safe to show to the caller (never secrets, never upstream bodies). */
  details?: unknown
  /** The underlying error, kept for logs; never rendered to the caller. */
  cause?: unknown
  /** Extra response headers (`Retry-After`, …). */
  headers?: Record<string, string>
}

/**
 * The one error class of the gateway: a catalogued `code` plus a precise `message`. The HTTP
 * status, retryability and title come from the catalogue, so they cannot disagree between call
 * sites. Business outcomes (a decline, a bad signature) are values, not exceptions; this is thrown
 * for bad requests, conflicts and outages.
 *
 * @example throw new GatewayError('GW_NOT_FOUND', 'no intent pi_01J…')
 */
export class GatewayError extends Error {
  override readonly name = 'GatewayError'
  readonly code: ErrorCode
  readonly details: unknown
  readonly headers: Record<string, string> | undefined

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details
    this.headers = options.headers
  }

  /** The catalogue row of this error. */
  get entry(): ErrorCatalogEntry {
    return errorCatalog[this.code]
  }

  get httpStatus(): number {
    return errorCatalog[this.code].httpStatus
  }

  get retryable(): boolean {
    return errorCatalog[this.code].retryable
  }
}

/** Whether a value is a {@link GatewayError} (works across module copies by checking the name). */
export function isGatewayError(e: unknown): e is GatewayError {
  return e instanceof GatewayError || (e instanceof Error && e.name === 'GatewayError' && 'code' in e)
}
