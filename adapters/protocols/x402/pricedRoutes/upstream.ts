import { performance } from 'node:perf_hooks'
import type { Request } from 'express'
import { Agent, request, type Dispatcher } from 'undici'
import type { PricedRoute, UpstreamResult } from './types.js'

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ours, never forwarded in either direction. */
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'host',
  'content-length',
])
/** Payment credentials stay at the gateway: the upstream is paid for, it is not a party. */
const CREDENTIALS = new Set(['payment-signature', 'x-payment', 'authorization', 'cookie', 'sign-in-with-x'])

/**
 * The upstream caller of priced routes: one undici agent (keep-alive, bounded connections),
 * headers and body timeouts per route, the answer buffered up to the route's size cap (settle
 * after the call needs the whole answer before releasing it).
 */
export class UpstreamClient {
  readonly #agent: Dispatcher

  constructor(options: { connections?: number | undefined } = {}) {
    this.#agent = new Agent({ connections: options.connections ?? 64, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 10_000 })
  }

  /** The URL a call to `req` on `route` goes to: the upstream URL, the wildcard's rest, the query. */
  static target(route: PricedRoute, req: Request): URL {
    const target = new URL(route.upstream.url)
    if (route.wildcard) {
      const rest = route.regex.exec(req.path)?.[1]
      if (rest) target.pathname = `${target.pathname.replace(/\/+$/, '')}${rest}`
    }
    const q = req.originalUrl.indexOf('?')
    if (q >= 0) {
      const incoming = new URLSearchParams(req.originalUrl.slice(q + 1))
      for (const [k, v] of incoming) target.searchParams.append(k, v)
    }
    return target
  }

  async call(route: PricedRoute, req: Request, body: Buffer | undefined, extraHeaders: Readonly<Record<string, string>> = {}): Promise<UpstreamResult> {
    const started = performance.now()
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) {
      const name = k.toLowerCase()
      if (v === undefined || HOP.has(name) || CREDENTIALS.has(name) || name.startsWith('x-agentswitch-')) continue
      headers[name] = Array.isArray(v) ? v.join(', ') : v
    }
    const forwardedFor = req.socket.remoteAddress
    if (forwardedFor) headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${forwardedFor}` : forwardedFor
    headers['x-forwarded-proto'] = req.protocol
    if (req.headers.host) headers['x-forwarded-host'] = req.headers.host
    for (const [k, v] of Object.entries(route.upstream.headers)) headers[k.toLowerCase()] = v
    for (const [k, v] of Object.entries(extraHeaders)) headers[k.toLowerCase()] = v
    const method = req.method === 'HEAD' ? 'HEAD' : (req.method as Dispatcher.HttpMethod)
    try {
      const res = await request(UpstreamClient.target(route, req), {
        method,
        headers,
        ...(body && body.length > 0 && method !== 'GET' && method !== 'HEAD' ? { body } : {}),
        dispatcher: this.#agent,
        headersTimeout: route.upstream.timeoutMs,
        bodyTimeout: route.upstream.timeoutMs,
        signal: AbortSignal.timeout(route.upstream.timeoutMs + 1_000),
      })
      const chunks: Buffer[] = []
      let size = 0
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > route.upstream.maxResponseBytes) {
          res.body.destroy()
          return { ok: false, reason: 'too_large', message: `the upstream answer exceeds ${route.upstream.maxResponseBytes} bytes`, durationMs: performance.now() - started }
        }
        chunks.push(chunk as Buffer)
      }
      const out: Record<string, string> = {}
      for (const [k, v] of Object.entries(res.headers)) {
        const name = k.toLowerCase()
        if (v === undefined || HOP.has(name) || name === 'set-cookie') continue
        out[name] = Array.isArray(v) ? v.join(', ') : v
      }
      return { ok: true, status: res.statusCode, headers: out, body: Buffer.concat(chunks), durationMs: performance.now() - started }
    } catch (err) {
      const e = err as { name?: string; code?: string; message?: string }
      const timeout = e?.name === 'TimeoutError' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT' || e?.name === 'AbortError'
      // The message names no URL: upstream URLs may carry credentials.
      return { ok: false, reason: timeout ? 'timeout' : 'unreachable', message: timeout ? `no answer within ${route.upstream.timeoutMs} ms` : (e?.code ?? 'connection failed'), durationMs: performance.now() - started }
    }
  }

  close(): Promise<void> {
    return this.#agent.close()
  }
}
