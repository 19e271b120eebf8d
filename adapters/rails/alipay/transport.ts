import { Agent, request, type Dispatcher } from 'undici'
import { classifyTransportCode, shouldFailover } from '../../../core/routing/rules.js'
import { BreakerOpenError, type BreakerOptions, type BreakerRegistry, type EndpointBreaker } from '../shared/breakers.js'

/**
 * Why a call's outcome is unknown. Every kind counts as a failure of the endpoint's breaker; a
 * business answer (a decline) is never one of these.
 *
 * - `timeout`, `network`: no (complete) answer.
 * - `http_status`: HTTP 5xx (or any status the protocol does not define).
 * - `system_error`: Alipay `20000` / `ACQ.SYSTEM_ERROR`, Antom `U`.
 * - `bad_signature`: the answer's signature does not verify (tampered or wrong key): rejected.
 * - `unsigned`: an answer without a signature: not believed.
 * - `bad_response`: unparsable, no envelope.
 */
export type RailCallErrorKind = 'timeout' | 'network' | 'http_status' | 'system_error' | 'bad_signature' | 'unsigned' | 'bad_response'

/** The outcome of one rail call is unknown. Carries no upstream body (it may be large or hostile). */
export class RailCallError extends Error {
  override readonly name = 'RailCallError'
  constructor(
    readonly kind: RailCallErrorKind,
    /** A short code for the intent's attempt log: `timeout`, `http_503`, `20000:ACQ.SYSTEM_ERROR`, `U:UNKNOWN_EXCEPTION`… */
    readonly code: string,
    readonly endpoint: string,
    message?: string,
  ) {
    super(message ?? `${endpoint}: ${code}`)
  }
}

/** Every endpoint's breaker is open: nothing was sent. */
export class RailUnavailableError extends Error {
  override readonly name = 'RailUnavailableError'
  readonly code = 'GW_RAIL_UNAVAILABLE'
  constructor(rail: string) {
    super(`every ${rail} endpoint's circuit breaker is open`)
  }
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One keep-alive connection pool per rail (the rail's own timeouts apply per call). */
export function createRailDispatcher(connections = 64): Dispatcher {
  return new Agent({ connections, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 30_000, pipelining: 1 })
}

/**
 * POST once. A timeout or a network error is a {@link RailCallError} (outcome unknown): the
 * request may have been processed. Never retried here.
 */
export async function httpPost(
  dispatcher: Dispatcher,
  endpoint: string,
  url: string,
  opts: { headers: Record<string, string>; body: string; timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout
  try {
    const res = await request(url, { method: 'POST', headers: opts.headers, body: opts.body, dispatcher, signal })
    const body = await res.body.text()
    return { status: res.statusCode, headers: res.headers, body }
  } catch (err) {
    if (timeout.aborted) throw new RailCallError('timeout', 'timeout', endpoint, `${endpoint}: no answer within ${opts.timeoutMs} ms`)
    if (opts.signal?.aborted) throw new RailCallError('network', 'aborted', endpoint, `${endpoint}: aborted by the caller`)
    const code = (err as { code?: string })?.code ?? 'network_error'
    throw new RailCallError('network', code, endpoint, `${endpoint}: ${code}`)
  }
}

export function header(h: HttpAnswer['headers'], name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v[0] : v
}

/** One configured endpoint of a rail and its breaker. */
export interface RailEndpoint {
  name: string
  /** Origin or base URL (no trailing slash). */
  url: string
  breaker: EndpointBreaker
}

/**
 * - `open_only`: only skip endpoints whose breaker is open or that refused the connection (nothing
 *   was sent there: `shouldFailover` of core/routing). A mutating call whose outcome is unknown is
 *   never re-sent elsewhere here: the caller queries first.
 * - `any_error`: also try the next endpoint after an unknown outcome (read-only calls).
 */
export type FailoverMode = 'open_only' | 'any_error'

/**
 * A rail's endpoints in preference order, each behind its own breaker. The first endpoint whose
 * breaker lets the call through gets it; an open breaker fails over to the next one at once.
 */
export class EndpointSet {
  readonly endpoints: readonly RailEndpoint[]

  constructor(
    readonly rail: string,
    configs: ReadonlyArray<{ name: string; url: string }>,
    breakers: BreakerRegistry,
    options: BreakerOptions = {},
  ) {
    if (configs.length === 0) throw new Error(`${rail}: at least one endpoint is required`)
    this.endpoints = configs.map((c) => ({
      name: c.name,
      url: c.url.replace(/\/+$/, ''),
      // Only unknown outcomes (timeouts, 5xx, 20000, U, bad signatures) count against an endpoint;
      // declines are values and never reach the breaker as errors.
      breaker: breakers.create(rail, c.name, options, (err) => err instanceof RailCallError),
    }))
  }

  /**
   * Run `fn` on the best endpoint. `avoid` moves an endpoint to the end of the list (the one that
   * just failed). `only` (routing's endpoint list for a send) restricts and orders the endpoints.
   * Throws {@link RailUnavailableError} when every breaker is open (nothing sent), or the last
   * {@link RailCallError}.
   */
  async run<T>(
    fn: (ep: RailEndpoint) => Promise<T>,
    opts: { failover: FailoverMode; avoid?: string | undefined; only?: readonly string[] | undefined },
  ): Promise<{ value: T; endpoint: RailEndpoint }> {
    const base = opts.only && opts.only.length > 0 ? opts.only.flatMap((n) => this.endpoints.filter((e) => e.name === n)) : this.endpoints
    const order = opts.avoid ? [...base.filter((e) => e.name !== opts.avoid), ...base.filter((e) => e.name === opts.avoid)] : base
    let last: unknown
    for (const ep of order) {
      if (ep.breaker.state === 'open') continue
      try {
        return { value: await ep.breaker.fire(() => fn(ep)), endpoint: ep }
      } catch (err) {
        if (err instanceof BreakerOpenError) continue
        last = err
        if (!(err instanceof RailCallError)) throw err
        // A refused connection sent nothing: the next endpoint may take even a mutating call.
        if (opts.failover === 'open_only' && !shouldFailover(classifyTransportCode(err.code), 'endpoint')) throw err
      }
    }
    if (last) throw last
    throw new RailUnavailableError(this.rail)
  }
}
