import { Pool } from 'undici'
import { createPublicClient, http, HttpRequestError, RpcRequestError, TimeoutError, type Hex, type PublicClient } from 'viem'
import { BreakerOpenError, type BreakerOptions, type BreakerRegistry, type EndpointBreaker } from '../shared/breakers.js'

/** One RPC endpoint of a chain: its own viem client and its own breaker. */
export interface RpcEndpoint {
  /** Safe to log and show: network, index and host only (RPC URLs often carry API keys in the path). */
  readonly label: string
  readonly client: PublicClient
  /**
   * Raw JSON-RPC on a keep-alive pool, batched per event-loop turn (the hot path: verify, settle,
   * receipts); broadcasts go on their own request, never in a batch.
   */
  readonly json: JsonRpcClient
  readonly breaker: EndpointBreaker
}

interface Queued {
  body: { jsonrpc: '2.0'; id: number; method: string; params: unknown[] }
  resolve(value: unknown): void
  reject(err: unknown): void
}

/**
 * A small JSON-RPC client for one endpoint: undici keep-alive connections, and the calls made in
 * one event-loop turn sent as ONE batch at `setImmediate` (viem's batch waits for a timer, at
 * least 1 ms, and goes through `fetch`'s streams: several times the cost of a local node's answer).
 * Errors take viem's shapes, so the pool's failure classification applies unchanged:
 * `HttpRequestError` (cause: undici's error with its `code`) when the request failed,
 * `TimeoutError` when no answer came in time, `RpcRequestError` (with the node's `code`, message
 * and revert reason) when the node answered with an error.
 */
export class JsonRpcClient {
  readonly #pool: Pool
  readonly #path: string
  readonly #headers: Record<string, string>
  #queue: Queued[] = []
  #id = 0

  constructor(
    private readonly url: string,
    timeoutMs: number,
  ) {
    const u = new URL(url)
    this.#path = `${u.pathname}${u.search}`
    this.#headers = { 'content-type': 'application/json' }
    if (u.username || u.password) this.#headers['authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
    this.#pool = new Pool(u.origin, { connections: 32, keepAliveTimeout: 30_000, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, connectTimeout: Math.min(timeoutMs, 10_000) })
  }

  /** One call; `batch: false` sends it at once on its own request (broadcasts). */
  request<T>(method: string, params: unknown[], options: { batch?: boolean } = {}): Promise<T> {
    const body = { jsonrpc: '2.0' as const, id: ++this.#id, method, params }
    if (options.batch === false) return this.#send([body]).then((r) => unwrap(r[0], body, this.url)) as Promise<T>
    return new Promise<T>((resolve, reject) => {
      if (this.#queue.length === 0) setImmediate(() => this.#flush())
      this.#queue.push({ body, resolve: resolve as (v: unknown) => void, reject })
    })
  }

  close(): Promise<void> {
    return this.#pool.close()
  }

  #flush(): void {
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return
    this.#send(batch.map((q) => q.body)).then(
      (answers) => {
        for (const q of batch) {
          try {
            q.resolve(unwrap(answers.find((a) => a.id === q.body.id), q.body, this.url))
          } catch (err) {
            q.reject(err)
          }
        }
      },
      (err: unknown) => {
        for (const q of batch) q.reject(err)
      },
    )
  }

  async #send(bodies: Array<Queued['body']>): Promise<JsonRpcAnswer[]> {
    const payload = bodies.length === 1 ? bodies[0]! : bodies
    const text = JSON.stringify(payload)
    let status: number
    let raw: string
    try {
      const res = await this.#pool.request({ path: this.#path, method: 'POST', headers: this.#headers, body: text })
      status = res.statusCode
      raw = await res.body.text()
    } catch (err) {
      const code = (err as { code?: unknown })?.code
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new TimeoutError({ body: payload as never, url: this.url })
      throw new HttpRequestError({ body: payload as never, cause: err as Error, url: this.url })
    }
    if (status < 200 || status > 299) throw new HttpRequestError({ body: payload as never, details: raw.slice(0, 200), status, url: this.url })
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch (err) {
      throw new HttpRequestError({ body: payload as never, cause: err as Error, details: 'the answer is not JSON', status, url: this.url })
    }
    const answers = (Array.isArray(parsed) ? parsed : [parsed]) as JsonRpcAnswer[]
    return answers
  }
}

interface JsonRpcAnswer {
  id?: number
  result?: unknown
  error?: { code: number; message: string; data?: unknown }
}

const ERROR_STRING_SELECTOR = '0x08c379a0'

/** The result of one answer, or the node's error as viem's `RpcRequestError` (revert reason appended). */
function unwrap(answer: JsonRpcAnswer | undefined, body: Queued['body'], url: string): unknown {
  if (!answer) throw new HttpRequestError({ body: body as never, details: `no answer for request ${body.id} in the batch`, url })
  if (answer.error) {
    const e = answer.error
    const reason = typeof e.data === 'string' ? revertReason(e.data) : undefined
    const message = reason && !String(e.message).includes(reason) ? `${e.message}: ${reason}` : String(e.message)
    throw new RpcRequestError({ body: body as never, error: { ...e, message }, url })
  }
  return answer.result
}

/** `Error(string)` revert data → its text. */
function revertReason(data: string): string | undefined {
  if (!data.startsWith(ERROR_STRING_SELECTOR) || data.length < 10 + 128) return undefined
  try {
    const len = Number(BigInt(`0x${data.slice(74, 138)}`))
    if (len > 1024) return undefined
    return Buffer.from(data.slice(138, 138 + len * 2), 'hex').toString('utf8')
  } catch {
    return undefined
  }
}

/** Every endpoint failed (or had its breaker open): nothing answered. */
export class RpcUnavailableError extends Error {
  override readonly name = 'RpcUnavailableError'
  constructor(
    readonly operation: string,
    readonly attempts: ReadonlyArray<{ endpoint: string; error: string }>,
    options?: { cause?: unknown },
  ) {
    super(`no RPC endpoint answered ${operation}: ${attempts.map((a) => `${a.endpoint} (${a.error})`).join('; ')}`, options)
  }
}

/** The result of broadcasting a signed transaction. */
export type BroadcastResult =
  /** A node accepted it (or already had it). */
  | { kind: 'accepted'; endpoint: string }
  /** A node answered with a definitive rejection: the transaction is not in its pool. */
  | { kind: 'rejected'; endpoint: string; message: string; nonceTooLow: boolean; underpriced: boolean }
  /** Provably never reached any node (connection refused, DNS failure, every breaker open). */
  | { kind: 'not_sent'; message: string }
  /** It may have reached a node (timeout, connection reset after sending): never re-broadcast blind. */
  | { kind: 'ambiguous'; endpoint: string; message: string }

export interface RpcPoolOptions {
  network: string
  urls: readonly string[]
  breakers: BreakerRegistry
  breakerOptions?: BreakerOptions | undefined
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number | undefined
  pollingIntervalMs: number
}

/**
 * The RPC endpoints of one chain, in priority order, each behind its own breaker from the
 * gateway's {@link BreakerRegistry}. Reads fail over to the next endpoint on transport failures;
 * a node that answers (even with a revert) ends the read. Broadcasts fail over only when the
 * previous attempt provably did not reach its node.
 */
export class RpcPool {
  readonly endpoints: readonly RpcEndpoint[]

  constructor(options: RpcPoolOptions) {
    if (options.urls.length === 0) throw new Error(`chain ${options.network} needs at least one RPC URL`)
    this.endpoints = options.urls.map((url, i) => {
      const label = `${options.network}/${i}:${safeHost(url)}`
      const client = createPublicClient({
        // Failover and retry are ours: viem must not retry behind our breakers.
        transport: http(url, { retryCount: 0, timeout: options.timeoutMs ?? 10_000, batch: { wait: 0, batchSize: 200 } }),
        pollingInterval: options.pollingIntervalMs,
        cacheTime: 0,
      })
      const breaker = options.breakers.create('evm', label, options.breakerOptions, isEndpointFailure)
      const json = new JsonRpcClient(url, options.timeoutMs ?? 10_000)
      return { label, client, json, breaker }
    })
  }

  /** The primary endpoint's label (for outcomes that name no specific endpoint). */
  get primary(): string {
    return this.endpoints[0]!.label
  }

  /**
   * Run a read on the first endpoint that answers. Transport failures (and open breakers) move
   * to the next endpoint; any answer from a node, including a JSON-RPC error or a revert, is
   * returned or thrown as is. Throws {@link RpcUnavailableError} when no endpoint answered.
   */
  async read<T>(operation: string, fn: (client: PublicClient) => Promise<T>): Promise<T> {
    const attempts: Array<{ endpoint: string; error: string }> = []
    let last: unknown
    for (const ep of this.endpoints) {
      try {
        return await ep.breaker.fire(() => fn(ep.client))
      } catch (err) {
        if (!(err instanceof BreakerOpenError) && !isEndpointFailure(err)) throw err
        attempts.push({ endpoint: ep.label, error: shortError(err) })
        last = err
      }
    }
    throw new RpcUnavailableError(operation, attempts, { cause: last })
  }

  /**
   * A raw JSON-RPC read with failover, on the endpoints' lean batched clients (the hot path:
   * balance, nonce state, simulations, receipts, fees). Same failover and breaker rules as
   * {@link read}.
   */
  async request<T>(method: string, params: unknown[]): Promise<T> {
    const attempts: Array<{ endpoint: string; error: string }> = []
    let last: unknown
    for (const ep of this.endpoints) {
      try {
        return await ep.breaker.fire(() => ep.json.request<T>(method, params))
      } catch (err) {
        if (!(err instanceof BreakerOpenError) && !isEndpointFailure(err)) throw err
        attempts.push({ endpoint: ep.label, error: shortError(err) })
        last = err
      }
    }
    throw new RpcUnavailableError(method, attempts, { cause: last })
  }

  /** Close the endpoints' keep-alive connections. */
  async close(): Promise<void> {
    await Promise.all(this.endpoints.map((ep) => ep.json.close().catch(() => undefined)))
  }

  /**
   * `eth_sendRawTransaction` on the first endpoint whose attempt may have reached a node. Moves
   * to the next endpoint only when the attempt provably never left (refused connection, DNS
   * failure, open breaker): a signed transaction is never sent blind twice after an ambiguous
   * failure (even though the same signed bytes could not be mined twice).
   */
  async broadcast(raw: Hex): Promise<BroadcastResult> {
    const notSent: string[] = []
    for (const ep of this.endpoints) {
      try {
        // Sent at once on its own request: in a batch it would wait for every call batched with it.
        await ep.breaker.fire(() => ep.json.request('eth_sendRawTransaction', [raw], { batch: false }))
        return { kind: 'accepted', endpoint: ep.label }
      } catch (err) {
        if (err instanceof BreakerOpenError || provablyNotSent(err)) {
          notSent.push(`${ep.label}: ${shortError(err)}`)
          continue
        }
        if (isEndpointFailure(err)) return { kind: 'ambiguous', endpoint: ep.label, message: shortError(err) }
        const message = errorText(err)
        // The node has exactly these bytes already: as good as accepted.
        if (/already known|known transaction|already imported|AlreadyKnown/i.test(message)) return { kind: 'accepted', endpoint: ep.label }
        return {
          kind: 'rejected',
          endpoint: ep.label,
          message: shortError(err),
          nonceTooLow: /nonce too low|nonce has already been used|NonceTooLow|invalid nonce/i.test(message),
          underpriced: /replacement transaction underpriced|underpriced/i.test(message),
        }
      }
    }
    return { kind: 'not_sent', message: notSent.join('; ') }
  }
}

/** Host (and port) of a URL, never its path, query or credentials. */
function safeHost(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return 'invalid-url'
  }
}

function* causes(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>()
  const stack: unknown[] = [err]
  while (stack.length > 0) {
    const e = stack.pop()
    if (e === undefined || e === null || seen.has(e)) continue
    seen.add(e)
    yield e
    if (typeof e === 'object') {
      const o = e as { cause?: unknown; errors?: unknown }
      if (o.cause !== undefined) stack.push(o.cause)
      if (Array.isArray(o.errors)) stack.push(...(o.errors as unknown[]))
    }
  }
}

/**
 * Whether an error means the endpoint failed (counts against its breaker, triggers failover):
 * the HTTP request failed or timed out, or the node said it is overloaded. A JSON-RPC answer
 * (a revert, "nonce too low", an invalid argument) is the node working correctly.
 */
export function isEndpointFailure(err: unknown): boolean {
  for (const e of causes(err)) {
    const name = (e as { name?: unknown }).name
    if (name === 'HttpRequestError' || name === 'TimeoutError' || name === 'SocketClosedError') return true
    // -32005 limit exceeded: the node refuses work for now; another endpoint may take it.
    if (name === 'LimitExceededRpcError' || (e as { code?: unknown }).code === -32005) return true
    const status = (e as { status?: unknown }).status
    if (name === 'RpcRequestError' && typeof status === 'number' && (status === 429 || status >= 500)) return true
  }
  return false
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Whether a failed request provably never reached a node: the connection was never made (refused,
 * unreachable, name not resolved, connect timeout) or the endpoint rate-limited it (429).
 */
export function provablyNotSent(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof BreakerOpenError) return true
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NOT_SENT_CODES.has(code)) return true
    if ((e as { name?: unknown }).name === 'HttpRequestError' && (e as { status?: unknown }).status === 429) return true
  }
  return false
}

const REVERT_ERRORS = new Set(['ContractFunctionRevertedError', 'ContractFunctionZeroDataError', 'ExecutionRevertedError', 'RawContractError'])

/**
 * Whether the node answered that the call reverts (a verdict about the call, not a node
 * problem): viem's revert error classes, JSON-RPC error 3, or the "execution reverted" text.
 */
export function isRevert(err: unknown): boolean {
  for (const e of causes(err)) {
    const o = e as { name?: unknown; code?: unknown; message?: unknown; details?: unknown }
    if (typeof o.name === 'string' && REVERT_ERRORS.has(o.name)) return true
    if (o.code === 3) return true
    const text = `${typeof o.message === 'string' ? o.message : ''} ${typeof o.details === 'string' ? o.details : ''}`
    if (/execution reverted|reverted with|\brevert(ed)?\b/i.test(text)) return true
  }
  return false
}

/** Every message in the cause chain (for matching node error texts and revert strings). */
export function errorText(err: unknown): string {
  const parts: string[] = []
  for (const e of causes(err)) {
    if (e instanceof Error) {
      parts.push(e.message)
      const d = (e as { details?: unknown; reason?: unknown; shortMessage?: unknown })
      if (typeof d.details === 'string') parts.push(d.details)
      if (typeof d.reason === 'string') parts.push(d.reason)
    } else if (typeof e === 'string') parts.push(e)
  }
  return parts.join(' | ')
}

/** A one-line description without URLs (viem messages name the RPC URL, which may hold a key). */
export function shortError(err: unknown): string {
  const e = err as { shortMessage?: unknown; message?: unknown; name?: unknown }
  const text = typeof e?.shortMessage === 'string' ? e.shortMessage : typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err)
  return text.replace(/https?:\/\/\S+/g, '<rpc-url>').slice(0, 300)
}
