import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import { isGatewayError } from '../../../../core/errors/gatewayError.js'
import type { Store } from '../../../../core/store/port.js'
import { rawBody } from '../../../http/context.js'
import { toGatewayError } from '../../../http/errors.js'
import { findRoute } from './routes.js'
import type { HttpAnswer, OfferChallenge, OfferProvider, PricedCall, PricedRoute } from './types.js'
import type { UpstreamClient } from './upstream.js'

/** Replay-lock namespace of deliveries: one paid call is answered with the resource once. */
export const DELIVERY_NAMESPACE = 'priced_route_delivery'

/** Headers a browser client must be allowed to read on priced routes (digest §2). */
const EXPOSE = 'PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE, WWW-Authenticate, Payment-Receipt'

export interface PricedRoutesDeps {
  routes: readonly PricedRoute[]
  /** In order: each adds its part to the 402; the first that detects its credential handles a paid call. */
  providers: readonly OfferProvider[]
  store: Store
  logger: Logger
  upstream: UpstreamClient
  /** `server.publicUrl`: the origin offers name; default the request's own. */
  publicUrl?: string | undefined
  /** Largest request body sent upstream (`server.bodyLimitBytes`). */
  bodyLimitBytes: number
}

/**
 * The priced-route surface as express middleware: an unpaid call gets one 402 with every
 * provider's offer; a call carrying a provider's credential goes to that provider; anything else
 * falls through (`next()`). Answers are values ({@link HttpAnswer}) written in one place; an
 * unexpected failure is answered in the payment protocols' format (no offer, so no client signs
 * again), never as an HTML 500.
 */
export function pricedRoutes(deps: PricedRoutesDeps): { handler: RequestHandler; errorHandler: ErrorRequestHandler } {
  const challengeOf = (call: PricedCall, options: Parameters<PricedCall['challenge']>[0] = {}): HttpAnswer => {
    const headers: Record<string, string> = { 'cache-control': 'no-store' }
    const bodies: NonNullable<OfferChallenge['body']>[] = []
    for (const p of deps.providers) {
      const part = p.challenge(call, options.from === p.id ? options.error : undefined)
      for (const [k, v] of Object.entries(part.headers)) {
        const key = k.toLowerCase()
        // Several `WWW-Authenticate` challenges are one comma-joined header (RFC 9110 §11.6.1).
        headers[key] = headers[key] && key === 'www-authenticate' ? `${headers[key]}, ${v}` : v
      }
      if (part.body) bodies.push(part.body)
    }
    for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v
    const body = mergeBodies(bodies)
    const bytes = body?.bytes ?? Buffer.from('{}')
    headers['content-type'] = body?.contentType ?? 'application/json'
    return { status: options.status ?? 402, headers, body: bytes }
  }

  const makeCall = (req: Request, route: PricedRoute, body: Buffer | undefined): PricedCall => {
    const origin = deps.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host') ?? 'localhost'}`
    const call: PricedCall = {
      req,
      route,
      resourceUrl: route.resourceUrl ?? `${origin}${req.originalUrl}`,
      body,
      callUpstream: (extra) => deps.upstream.call(route, req, body, extra),
      challenge: (options) => challengeOf(call, options),
      async claimDelivery(paymentKey, until) {
        const now = new Date()
        const expiresAt = until.getTime() > now.getTime() ? until : new Date(now.getTime() + 60_000)
        return deps.store.acquireReplayLock({ namespace: DELIVERY_NAMESPACE, key: paymentKey, holder: paymentKey, expiresAt, now })
      },
      async releaseDelivery(paymentKey) {
        await deps.store.releaseReplayLock({ namespace: DELIVERY_NAMESPACE, key: paymentKey, holder: paymentKey }).catch((err: unknown) => {
          deps.logger.warn({ err: (err as Error)?.message, paymentKey }, 'could not give a delivery back')
        })
      },
    }
    return call
  }

  const write = (res: Response, answer: HttpAnswer): void => {
    res.status(answer.status)
    for (const [k, v] of Object.entries(answer.headers)) res.setHeader(k, v)
    res.setHeader('access-control-expose-headers', EXPOSE)
    res.setHeader('content-length', String(answer.body.length))
    res.end(answer.body)
  }

  const handler: RequestHandler = async (req, res, next) => {
    const route = findRoute(deps.routes, req.method, req.path)
    if (!route) return next()
    const body = await readBody(req, deps.bodyLimitBytes)
    if (body === 'too_large') {
      write(res, jsonAnswer(413, { error: 'request_body_too_large', message: `the body exceeds ${deps.bodyLimitBytes} bytes` }))
      return
    }
    const call = makeCall(req, route, body)
    const provider = deps.providers.find((p) => p.detect(req))
    let answer: HttpAnswer
    try {
      answer = provider ? await provider.handle(call) : call.challenge()
    } catch (err) {
      const ge = toGatewayError(err)
      if (ge.httpStatus >= 500) deps.logger.error({ err: ge.cause ?? ge, code: ge.code, route: route.id }, 'priced route failed')
      answer = failureAnswer(err)
    }
    write(res, answer)
  }

  /** Errors before our handler (a body the JSON parser refused) on a priced path, in our format. */
  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (res.headersSent || !findRoute(deps.routes, req.method, req.path)) return next(err)
    write(res, failureAnswer(err))
  }

  return { handler, errorHandler }
}

/** An error as x402 peers read one: a JSON body with a reason, and no offer (no client signs again). */
function failureAnswer(err: unknown): HttpAnswer {
  const ge = toGatewayError(err)
  const status = ge.httpStatus
  const reason = status >= 500 ? 'unexpected_settle_error' : ge.code === 'GW_BODY_TOO_LARGE' ? 'request_body_too_large' : 'invalid_request'
  return jsonAnswer(status, { error: reason, message: status >= 500 && !isGatewayError(err) ? 'internal error' : ge.message }, ge.retryable ? { 'retry-after': '1' } : {})
}

/** A JSON answer. */
export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }, body: Buffer.from(JSON.stringify(body)) }
}

/** The request body: what the JSON parser kept, else the stream read up to `limit`. */
async function readBody(req: Request, limit: number): Promise<Buffer | undefined | 'too_large'> {
  const kept = rawBody(req)
  if (kept) return kept
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined
  if (!hasBody || req.readableEnded) return undefined
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) return 'too_large'
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * The one body of a 402 several providers answer at once. JSON object bodies are merged into one
 * object (the earlier provider's members win a clash): an RFC 9457 problem (MPP) may carry
 * extension members, so x402 v1's `{x402Version, accepts, error}` and MPP's `{type, title, status,
 * detail}` live in one `application/problem+json` document that clients of both parse. A body
 * that is not a JSON object is used alone (the first provider's).
 */
function mergeBodies(bodies: readonly NonNullable<OfferChallenge['body']>[]): OfferChallenge['body'] {
  if (bodies.length <= 1) return bodies[0]
  const objects: Record<string, unknown>[] = []
  for (const b of bodies) {
    if (!/json/i.test(b.contentType)) return bodies[0]
    try {
      const v: unknown = JSON.parse(b.bytes.toString('utf8'))
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bodies[0]
      objects.push(v as Record<string, unknown>)
    } catch {
      return bodies[0]
    }
  }
  const merged: Record<string, unknown> = {}
  for (const o of objects.reverse()) Object.assign(merged, o)
  const problem = bodies.find((b) => /problem\+json/i.test(b.contentType))
  return { contentType: problem?.contentType ?? bodies[0]!.contentType, bytes: Buffer.from(JSON.stringify(merged)) }
}
