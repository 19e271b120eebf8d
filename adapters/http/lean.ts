import type { IncomingMessage, ServerResponse } from 'node:http'
import { newId } from '../../core/util/ids.js'
import type { GatewayMetrics } from './metrics.js'

/** What a lean route answers: a status and a JSON body (plus headers, e.g. for an error). */
export interface LeanAnswer {
  status: number
  body: unknown
  headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A hot `POST` JSON route answered without express's request pipeline (router walk, body-parser,
 * `res.json`), for the requests that fit the plain case (see {@link leanDispatcher}); every other
 * request to the same path still goes through express, whose route must give the same answers
 * (the mount registers both, on one function).
 */
export interface LeanJsonRoute {
  /** The answer to a parsed JSON body; a throw goes to `error`. */
  handle(body: unknown): Promise<LeanAnswer>
  /**
   * The answer to an error, as the route's express error handler renders it: a `{ type:
   * 'entity.parse.failed' }` error for a body that is not strict JSON (what body-parser raises).
   */
  error(err: unknown, req: IncomingMessage, requestId: string): LeanAnswer
}

/** Lean routes by exact path (`POST` only), filled by the mounts through `HttpAppDeps.leanRoutes`. */
export type LeanRoutes = Map<string, LeanJsonRoute>

const REQUEST_ID = /^[\x21-\x7e]{1,200}$/

/** The request id of a request: the caller's `Request-Id` when it is sane, else a new one (the express app and the lean routes alike). */
export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : newId('req')
}

const JSON_TYPE = /^application\/json(?:\s*;\s*charset=utf-8)?$/i

/**
 * The server's first look at a request: a `POST` to a lean route's exact path (no query string)
 * with a plain JSON body — `application/json` (UTF-8), a `Content-Length` within the body limit, no
 * `Content-Encoding` or `Transfer-Encoding` — is answered here, with what the express app would do
 * around it: the `Request-Id`, the route's latency in `http_request_duration_seconds`, and the
 * access-log line pino-http would write (`logCompletion`). Anything else (another shape of body, a
 * query string) returns `false` and goes to express, untouched.
 *
 * @example const lean = leanDispatcher({ routes, metrics, bodyLimitBytes, logCompletion })
 * createServer((req, res) => lean(req, res) || app(req, res))
 */
export function leanDispatcher(o: {
  routes: LeanRoutes
  metrics: Pick<GatewayMetrics, 'httpDuration'>
  bodyLimitBytes: number
  /** Writes the access-log line of a finished request as pino-http does. */
  logCompletion(req: IncomingMessage, res: ServerResponse, startedMs: number): void
}): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (o.routes.size === 0 || req.method !== 'POST') return false
    const path = req.url ?? ''
    const route = o.routes.get(path)
    if (!route) return false
    const h = req.headers
    const length = h['content-length']
    if (
      h['transfer-encoding'] !== undefined ||
      (h['content-encoding'] !== undefined && h['content-encoding'].toLowerCase() !== 'identity') ||
      !JSON_TYPE.test(h['content-type'] ?? '') ||
      length === undefined ||
      !/^[0-9]{1,15}$/.test(length) ||
      Number(length) > o.bodyLimitBytes
    )
      return false

    const started = process.hrtime.bigint()
    const startedMs = Date.now()
    const requestId = requestIdOf(h['request-id'])
    ;(res as ServerResponse & { locals?: unknown }).locals = { requestId }
    const done = (): void => {
      res.removeListener('finish', done)
      res.removeListener('close', done)
      // Timed when an answer was sent, as the express metrics middleware times it (on 'finish').
      if (res.writableFinished) o.metrics.httpDuration.observe({ method: 'POST', route: path, status: String(res.statusCode) }, Number(process.hrtime.bigint() - started) / 1e9)
      o.logCompletion(req, res, startedMs)
    }
    res.on('finish', done)
    res.on('close', done)

    const send = (a: LeanAnswer): void => {
      if (res.headersSent) return
      const text = JSON.stringify(a.body)
      // One writeHead with every header: what express's res.json writes, without its per-header work.
      res.writeHead(a.status, {
        'Request-Id': requestId,
        ...a.headers,
        'cache-control': 'no-store',
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(text),
      })
      res.end(text)
    }
    const fail = (err: unknown): void => {
      try {
        send(route.error(err, req, requestId))
      } catch {
        if (!res.headersSent) res.writeHead(500, { 'Request-Id': requestId }).end()
      }
    }

    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', (err) => fail({ type: 'request.aborted', cause: err }))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      // body-parser's strict JSON: an object or an array, nothing else.
      let i = 0
      while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++
      const first = text[i]
      let body: unknown
      try {
        if (first !== '{' && first !== '[') throw new SyntaxError('not a JSON object or array')
        body = JSON.parse(text)
      } catch (err) {
        return fail(Object.assign(err as Error, { type: 'entity.parse.failed', status: 400 }))
      }
      route.handle(body).then(send).catch(fail)
    })
    return true
  }
}
