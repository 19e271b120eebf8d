import type { ErrorRequestHandler, Request, Response } from 'express'
import type { Logger } from 'pino'
import { errorCatalog, type GatewayErrorBody } from '../../core/errors/catalog.js'
import { GatewayError, isGatewayError } from '../../core/errors/gatewayError.js'
import { locals } from './context.js'

/** Renders a {@link GatewayError} in one protocol's wire format. Each adapter provides its own. */
export type ErrorRenderer = (error: GatewayError, req: Request, res: Response) => void

/** The gateway's own wire shape (`/v1`, health): `{ error: { code, title, message, retryable, request_id, details } }`. */
export const renderGatewayError: ErrorRenderer = (error, _req, res) => {
  const entry = errorCatalog[error.code]
  const body: GatewayErrorBody = {
    error: {
      code: error.code,
      title: entry.title,
      message: error.message,
      retryable: entry.retryable,
      request_id: locals(res).requestId,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  }
  res.status(entry.httpStatus)
  if (error.headers) for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v)
  res.json(body)
}

/**
 * Map anything thrown into a {@link GatewayError}: body-parser errors become 400/413/415, and
 * anything unknown becomes GW_INTERNAL (its message is logged, never sent: it may hold upstream
 * bodies or URLs).
 */
export function toGatewayError(err: unknown): GatewayError {
  if (isGatewayError(err)) return err
  const e = err as { type?: string; status?: number; message?: string }
  switch (e?.type) {
    case 'entity.too.large':
      return new GatewayError('GW_BODY_TOO_LARGE', 'the request body exceeds the size limit', { cause: err })
    case 'entity.parse.failed':
      return new GatewayError('GW_BAD_REQUEST', 'the request body is not valid JSON', { cause: err })
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new GatewayError('GW_UNSUPPORTED_MEDIA_TYPE', 'unsupported body encoding or charset', { cause: err })
    case 'request.aborted':
      return new GatewayError('GW_BAD_REQUEST', 'the request was aborted', { cause: err })
  }
  return new GatewayError('GW_INTERNAL', 'internal error', { cause: err })
}

/**
 * The single error handler of a router: every error leaves through here, rendered by the router's
 * renderer. 5xx are logged with their cause; nothing is ever answered as a bare 500 page.
 */
export function errorHandler(logger: Logger, render: ErrorRenderer = renderGatewayError): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err)
    const ge = toGatewayError(err)
    if (ge.httpStatus >= 500) logger.error({ err: ge.cause ?? ge, code: ge.code, requestId: locals(res).requestId }, ge.message)
    render(ge, req, res)
  }
}
