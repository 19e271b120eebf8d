import { performance } from 'node:perf_hooks'
import { request as undiciRequest, type Dispatcher } from 'undici'
import { CheckFailure, snippet } from './assert.js'
import type { Redactor } from './redact.js'
import type { Credentials } from './types.js'

/** Bodies longer than this are cut in evidence (the check still sees the whole body). */
export const EVIDENCE_BODY_LIMIT = 16_384

/** One side of an exchange, as kept in evidence (redacted). */
export interface ExchangeMessage {
  headers: Record<string, string>
  /** The body text (redacted; cut at {@link EVIDENCE_BODY_LIMIT} characters). */
  body?: string | undefined
  /** The body's real size in bytes. */
  bodyBytes: number
  bodyTruncated?: boolean | undefined
}

/** One HTTP exchange, as kept in evidence: every request a check sends, and every request a counterpart receives. */
export interface Exchange {
  /** `outbound`: the runner called the target. `inbound`: the target called a runner counterpart. */
  direction: 'outbound' | 'inbound'
  startedAt: string
  durationMs: number
  request: ExchangeMessage & { method: string; url: string }
  response?: (ExchangeMessage & { status: number }) | undefined
  /** Transport error (connection refused, timeout) when there is no response. */
  error?: string | undefined
}

/** Where a check's evidence goes. */
export interface EvidenceRecorder {
  add(exchange: Exchange): void
}

/** A request to the target. */
export interface HttpRequest {
  method?: string | undefined
  /** A path on the base URL (`/v1/intents`) or an absolute URL (a URL the target advertised). */
  path: string
  query?: Readonly<Record<string, string | number | boolean>> | undefined
  headers?: Readonly<Record<string, string>> | undefined
  /** Sent as JSON with `Content-Type: application/json` unless a content type is given. */
  json?: unknown
  /** Sent as is (the exact bytes matter: idempotency fingerprints, signatures). */
  body?: string | Uint8Array | undefined
  /** Send the credentials of this role (`agent`, `admin`, …). */
  as?: string | undefined
  /** Per-request timeout (default: the check's remaining budget). */
  timeoutMs?: number | undefined
}

/** A response, fully read. */
export interface HttpResponse {
  status: number
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Readonly<Record<string, string>>
  header(name: string): string | undefined
  /** The exact body bytes and their UTF-8 text. */
  bytes: Buffer
  text: string
  /** The body parsed as JSON; fails the check when it is not JSON. */
  json<T = unknown>(): T
  /** The path (and query) that was requested, for messages. */
  path: string
  durationMs: number
  /** The redacted record of this exchange (already in the check's evidence). */
  exchange: Exchange
}

/** HTTP to the target; every exchange lands in the current check's evidence. */
export interface HttpClient {
  request(req: HttpRequest): Promise<HttpResponse>
  get(path: string, init?: Omit<HttpRequest, 'path' | 'method'>): Promise<HttpResponse>
  post(path: string, init?: Omit<HttpRequest, 'path' | 'method'>): Promise<HttpResponse>
}

export interface HttpClientDeps {
  baseUrl: string
  dispatcher: Dispatcher
  credentials: Credentials
  redactor: Redactor
  recorder: EvidenceRecorder
  signal: AbortSignal
  /** Timeout of one request when none is given. */
  defaultTimeoutMs: number
}

/** Build the HTTP client a check or a discovery step uses. */
export function createHttpClient(deps: HttpClientDeps): HttpClient {
  const base = deps.baseUrl.replace(/\/+$/, '')
  const client: HttpClient = {
    async request(req) {
      const method = (req.method ?? 'GET').toUpperCase()
      const url = new URL(/^https?:\/\//i.test(req.path) ? req.path : `${base}${req.path.startsWith('/') ? '' : '/'}${req.path}`)
      for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, String(v))
      const headers: Record<string, string> = {}
      if (req.as !== undefined) {
        const creds = deps.credentials.headers(req.as)
        if (!creds) throw new CheckFailure(`no credentials for role ${req.as}: pass --auth ${req.as}=HEADER (or --dev-json)`)
        for (const [k, v] of Object.entries(creds)) headers[k.toLowerCase()] = v
      }
      let body: Buffer | undefined
      if (req.json !== undefined) {
        body = Buffer.from(JSON.stringify(req.json), 'utf8')
        headers['content-type'] = 'application/json'
      } else if (req.body !== undefined) {
        body = Buffer.from(req.body)
      }
      for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = v
      const timeoutMs = req.timeoutMs ?? deps.defaultTimeoutMs
      const startedAt = new Date()
      const t0 = performance.now()
      const requestRecord = {
        method,
        url: deps.redactor.url(url.toString()),
        ...message(deps.redactor, headers, body),
      }
      let res: Dispatcher.ResponseData
      let bytes: Buffer
      try {
        res = await undiciRequest(url, {
          method: method as Dispatcher.HttpMethod,
          headers,
          ...(body === undefined ? {} : { body }),
          dispatcher: deps.dispatcher,
          signal: AbortSignal.any([deps.signal, AbortSignal.timeout(timeoutMs)]),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        })
        bytes = Buffer.from(await res.body.arrayBuffer())
      } catch (err) {
        const durationMs = Math.round(performance.now() - t0)
        const error = deps.redactor.text(describeError(err, timeoutMs))
        deps.recorder.add({ direction: 'outbound', startedAt: startedAt.toISOString(), durationMs, request: requestRecord, error })
        throw new CheckFailure(`${method} ${url.pathname}${url.search}: ${error}`)
      }
      const durationMs = Math.round(performance.now() - t0)
      const resHeaders = flattenHeaders(res.headers)
      const exchange: Exchange = {
        direction: 'outbound',
        startedAt: startedAt.toISOString(),
        durationMs,
        request: requestRecord,
        response: { status: res.statusCode, ...message(deps.redactor, resHeaders, bytes) },
      }
      deps.recorder.add(exchange)
      const text = bytes.toString('utf8')
      const path = `${url.pathname}${url.search}`
      let parsed: { value: unknown } | undefined
      return {
        status: res.statusCode,
        headers: resHeaders,
        header: (name) => resHeaders[name.toLowerCase()],
        bytes,
        text,
        json<T>() {
          if (!parsed) {
            try {
              parsed = { value: JSON.parse(text) }
            } catch {
              throw new CheckFailure(`${method} ${path}: the body is not JSON (${text ? snippet(text) : 'empty'})`)
            }
          }
          return parsed.value as T
        },
        path,
        durationMs,
        exchange,
      }
    },
    get: (path, init) => client.request({ ...init, path, method: 'GET' }),
    post: (path, init) => client.request({ ...init, path, method: 'POST' }),
  }
  return client
}

/** Header map → lower-case names, one string each. */
export function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v
  }
  return out
}

/** The redacted evidence form of headers and a body. */
export function message(redactor: Redactor, headers: Readonly<Record<string, string>>, body: Buffer | undefined): ExchangeMessage {
  const out: ExchangeMessage = { headers: redactor.headers(headers), bodyBytes: body?.length ?? 0 }
  if (body && body.length > 0) {
    const text = redactor.body(body.toString('utf8'))
    if (text.length > EVIDENCE_BODY_LIMIT) {
      out.body = text.slice(0, EVIDENCE_BODY_LIMIT)
      out.bodyTruncated = true
    } else out.body = text
  }
  return out
}

function describeError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT') return `no answer within ${timeoutMs} ms`
  if (e?.name === 'AbortError') return 'aborted: the check ran out of time'
  const code = e?.code ?? e?.cause?.code
  const msg = e?.cause?.message ?? e?.message ?? String(err)
  return code ? `${code}: ${msg}` : msg
}
