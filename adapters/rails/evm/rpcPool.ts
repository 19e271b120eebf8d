import { createPublicClient, http, type Hex, type PublicClient } from 'viem'
import { BreakerOpenError, type BreakerOptions, type BreakerRegistry, type EndpointBreaker } from '../shared/breakers.js'

/** One RPC endpoint of a chain: its own viem client and its own breaker. */
export interface RpcEndpoint {
  /** Safe to log and show: network, index and host only (RPC URLs often carry API keys in the path). */
  readonly label: string
  readonly client: PublicClient
  /**
   * The same endpoint without JSON-RPC batching, for `eth_sendRawTransaction`: a broadcast sits in
   * the relayer's serialised nonce section, and in a batch it would wait for every call batched
   * with it (simulations, gas estimates of other settlements).
   */
  readonly unbatched: PublicClient
  readonly breaker: EndpointBreaker
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
      const unbatched = createPublicClient({
        transport: http(url, { retryCount: 0, timeout: options.timeoutMs ?? 10_000 }),
        pollingInterval: options.pollingIntervalMs,
        cacheTime: 0,
      })
      const breaker = options.breakers.create('evm', label, options.breakerOptions, isEndpointFailure)
      return { label, client, unbatched, breaker }
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

  /** A raw JSON-RPC read with failover (methods viem has no action for). */
  request<T>(method: string, params: unknown[]): Promise<T> {
    return this.read(method, (c) => c.request({ method: method as never, params: params as never }) as Promise<T>)
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
        await ep.breaker.fire(() => ep.unbatched.request({ method: 'eth_sendRawTransaction', params: [raw] }))
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
