import { createHash, randomUUID } from 'node:crypto'
import type { Request, RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import { GatewayError } from '../../core/errors/gatewayError.js'
import type { Store, StoredResponse } from '../../core/store/port.js'
import { canonicalJson } from '../../core/util/canonicalJson.js'
import { locals } from './context.js'

export interface IdempotencyOptions {
  store: Store
  logger: Logger
  /** How long an in-flight key blocks a retry before its owner is presumed dead. Keep it above the request timeout. */
  leaseMs: number
  /** Refuse POSTs without a key (money-moving endpoints). */
  required?: boolean | undefined
  clock?: (() => Date) | undefined
}

/** 1–255 printable ASCII characters, as ACP and UCP allow. */
const KEY = /^[\x20-\x7e]{1,255}$/

/** Response headers never stored for replay (hop-by-hop, per-response, or re-computed). */
const NOT_REPLAYED = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'request-id', 'x-request-id', 'set-cookie', 'etag'])

/**
 * The request fingerprint: SHA-256 over method, path, query and the canonical JSON of the body,
 * so JSON key order is ignored while an explicit `null` still differs from an absent member.
 */
export function requestFingerprint(req: Request): string {
  const body = req.body === undefined ? '' : canonicalJson(req.body)
  return createHash('sha256').update(`${req.method} ${req.originalUrl}\n`).update(body).digest('hex')
}

/**
 * Idempotency with ACP's exact semantics (UCP's are compatible), for every POST it guards:
 *
 * - same key + equivalent body → the stored status, headers and body, with `Idempotent-Replayed: true`;
 * - same key + another body → 422 `GW_IDEMPOTENCY_CONFLICT`;
 * - the key still in flight → 409 `GW_IDEMPOTENCY_IN_FLIGHT` with `Retry-After`;
 * - 5xx answers are never stored (the key is released, so a retry runs again);
 * - keys are scoped to the caller + method + path, and kept ≥ 24 h (purged by the gateway).
 *
 * The response is stored **before** it is sent, so a caller that saw an answer always gets the
 * same answer on retry. Exactly-once holds across processes because the claim is a unique insert
 * in the shared store.
 */
export function idempotency(options: IdempotencyOptions): RequestHandler {
  const clock = options.clock ?? (() => new Date())
  return async (req, res, next) => {
    const key = req.get('idempotency-key')
    if (key === undefined) {
      if (options.required) throw new GatewayError('GW_IDEMPOTENCY_KEY_REQUIRED', 'send an Idempotency-Key header with this request')
      return next()
    }
    if (!KEY.test(key)) throw new GatewayError('GW_IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 1–255 printable ASCII characters')
    const p = locals(res).principal
    const scope = `${p ? `${p.kind}:${p.id}` : 'anonymous'} ${req.method} ${req.baseUrl}${req.path}`
    const owner = randomUUID()
    const fingerprint = requestFingerprint(req)
    const claim = await options.store.claimIdempotencyKey({ scope, key, fingerprint, owner, now: clock(), leaseMs: options.leaseMs })
    switch (claim.kind) {
      case 'replay':
        return replay(res, claim.response)
      case 'conflict':
        throw new GatewayError('GW_IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was already used with a different request body')
      case 'in_flight':
        throw new GatewayError('GW_IDEMPOTENCY_IN_FLIGHT', 'a request with this Idempotency-Key is still being processed; retry later', {
          headers: { 'Retry-After': String(Math.max(1, Math.ceil(claim.retryAfterMs / 1000))) },
        })
      case 'claimed':
        captureAndStore(res, { ...options, scope, key, owner, clock })
        return next()
    }
  }
}

function replay(res: Response, stored: StoredResponse): void {
  for (const [k, v] of Object.entries(stored.headers)) res.setHeader(k, v)
  res.setHeader('Idempotent-Replayed', 'true')
  res.status(stored.status).end(stored.body)
}

type Chunk = string | Buffer | Uint8Array
type Callback = (err?: Error | null) => void

function toBuffer(chunk: Chunk, encoding?: BufferEncoding): Buffer {
  return typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : Buffer.from(chunk)
}

/** Buffer the response, store it (or release the key on 5xx), then send it. */
function captureAndStore(
  res: Response,
  ctx: IdempotencyOptions & { scope: string; key: string; owner: string; clock: () => Date },
): void {
  const chunks: Buffer[] = []
  const origWrite = res.write.bind(res) as (...a: unknown[]) => boolean
  const origEnd = res.end.bind(res) as (...a: unknown[]) => Response
  res.write = ((chunk: Chunk, enc?: BufferEncoding | Callback, cb?: Callback) => {
    if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, typeof enc === 'string' ? enc : undefined))
    const done = typeof enc === 'function' ? enc : cb
    if (done) queueMicrotask(() => done(null))
    return true
  }) as Response['write']
  res.end = ((chunk?: Chunk | Callback, enc?: BufferEncoding | Callback, cb?: Callback) => {
    if (typeof chunk === 'function') {
      cb = chunk
      chunk = undefined
    } else if (typeof enc === 'function') {
      cb = enc
      enc = undefined
    }
    if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, enc as BufferEncoding | undefined))
    const body = Buffer.concat(chunks)
    const status = res.statusCode
    const finish = (): void => {
      res.write = origWrite as Response['write']
      res.end = origEnd as Response['end']
      origEnd(body, cb)
    }
    const persist =
      status >= 500
        ? ctx.store.releaseIdempotencyKey({ scope: ctx.scope, key: ctx.key, owner: ctx.owner })
        : ctx.store.completeIdempotencyKey({
            scope: ctx.scope,
            key: ctx.key,
            owner: ctx.owner,
            now: ctx.clock(),
            response: { status, headers: replayableHeaders(res), body: body.toString('utf8') },
          })
    persist.then(finish, (err: unknown) => {
      // The operation ran; its answer is still sent. The key stays in flight until its lease
      // expires, and the operation's own dedupe key protects a later retry.
      ctx.logger.error({ err, scope: ctx.scope }, 'could not store the idempotent response')
      finish()
    })
    return res
  }) as Response['end']
}

function replayableHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(res.getHeaders())) {
    if (v === undefined || NOT_REPLAYED.has(k)) continue
    out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  }
  return out
}
