import { performance } from 'node:perf_hooks'
import { Agent, request } from 'undici'
import type { OutboxRow, RecordOutboxAttemptParams, Store } from '../store/port.js'
import { WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, signWebhook } from './webhookSignature.js'

/** Where one outbox destination (`merchant:<id>`) is delivered, resolved at every attempt. */
export interface OutboxDestination {
  /** `http:` or `https:` URL the event is POSTed to. */
  url: string
  /** Shared HMAC secret of this destination. */
  secret: string
  /** Deadline of one attempt (connect + headers + body). Default: the worker's `timeoutMs`. */
  timeoutMs?: number | undefined
  /**
   * The protocol's own signature scheme, when it is not ours (ACP `Merchant-Signature`, UCP RFC 9421
   * over the body): returns the headers to send in place of `Agentswitch-Signature`, given the
   * base headers and the exact body bytes. `secret` may then be empty.
   */
  sign?: ((req: { url: string; headers: Readonly<Record<string, string>>; body: Buffer; sentAt: Date }) => Record<string, string>) | undefined
}

/** A pino-compatible logger (a pino `Logger` fits). */
export interface OutboxWorkerLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** One HTTP delivery, as handed to a {@link WebhookTransport}. */
export interface WebhookRequest {
  url: string
  headers: Record<string, string>
  /** The exact bytes that were signed. */
  body: Buffer
  timeoutMs: number
}

/**
 * Sends one POST and resolves with the receiver's status, or rejects on a connection error or
 * timeout. The default uses one undici `Agent` per worker (keep-alive, per-origin pool).
 */
export type WebhookTransport = (req: WebhookRequest) => Promise<{ statusCode: number }>

/** Dependencies of {@link createOutboxWorker}. */
export interface OutboxWorkerDeps {
  /** Only the outbox methods are used. */
  store: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'>
  /** Destination name → URL and secret; `undefined` for an unknown name (the event goes dead). */
  resolveDestination(name: string): OutboxDestination | undefined
  /** Default: silent (every attempt is still recorded in the store). */
  logger?: OutboxWorkerLogger | undefined
  /** Time for leases, signatures and retry schedules. Default: the system clock. */
  clock?: (() => Date) | undefined
  /** Uniform in [0, 1), for backoff jitter. Default: `Math.random`. */
  random?: (() => number) | undefined
  /** Default: undici over a keep-alive `Agent` owned (and closed on `stop()`) by the worker. */
  transport?: WebhookTransport | undefined
}

/** Exponential backoff with full jitter (see {@link backoffDelay}). */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay. */
  baseMs: number
  /** Cap of the ceiling. */
  maxMs: number
  /** Smallest delay, so a `random()` near 0 never retries at once. Default `baseMs / 10` (at least 1 ms, at most 1 s). */
  minMs?: number | undefined
}

/** Options of {@link createOutboxWorker}. */
export interface OutboxWorkerOptions {
  /** Unique per worker (process + instance): the lease holder recorded with each attempt. */
  workerId: string
  /** Most rows claimed at once (and held, queued or in flight, by the loop). Default 20. */
  batchSize?: number | undefined
  /** Wait after a batch that was not full. Default 1000 ms. */
  pollIntervalMs?: number | undefined
  /** How long a claim holds. Must exceed `timeoutMs` (a delivery never starts unless it can end inside the lease). Default 60 000 ms. */
  leaseMs?: number | undefined
  /** Attempts before an event goes `dead`. Default 18 (about a day of retries on the default backoff). */
  maxAttempts?: number | undefined
  /** Default `{ baseMs: 10_000, maxMs: 6 h }`. */
  backoff?: BackoffOptions | undefined
  /** Deliveries in flight at once. Default 8. */
  concurrency?: number | undefined
  /** Attempt deadline for destinations without their own `timeoutMs`. Default 10 000 ms (at most half the lease). */
  timeoutMs?: number | undefined
}

/** A running (or runnable) outbox worker. */
export interface OutboxWorker {
  /** Start the polling loop (no-op when already running). */
  start(): void
  /**
   * Stop claiming, wait until every row already claimed is delivered (or failed) and recorded,
   * then close the worker's connection pool. Claimed rows are finished rather than abandoned, so
   * none of them waits for its lease to expire.
   */
  stop(): Promise<void>
  /** Claim one batch and deliver it; resolves with the number of attempts made and recorded. */
  runOnce(): Promise<number>
}

const DEFAULTS = {
  batchSize: 20,
  pollIntervalMs: 1_000,
  leaseMs: 60_000,
  maxAttempts: 18,
  backoff: { baseMs: 10_000, maxMs: 6 * 60 * 60 * 1000 },
  concurrency: 8,
  timeoutMs: 10_000,
} as const

/** Time kept free at the end of a lease for recording the attempt. */
const LEASE_MARGIN_MS = 1_000
/** A delivery whose (lease-clamped) deadline would be shorter than this is not started. */
const MIN_ATTEMPT_BUDGET_MS = 250
const USER_AGENT = 'agentswitch-webhooks/1'
const MAX_ERROR_LENGTH = 500
/** Bytes of a receiver's answer read (and dropped) to keep the connection reusable. */
const MAX_RESPONSE_DRAIN_BYTES = 64 * 1024

/**
 * Delay before retry number `attempt` (1 = the retry after the first failure): exponential
 * backoff with full jitter, capped — `random() * min(maxMs, baseMs * 2^(attempt-1))`, never less
 * than `minMs`. Full jitter spreads the retries of many events that failed together (a receiver
 * outage) instead of sending them back in waves.
 *
 * @example backoffDelay(3, { baseMs: 1000, maxMs: 60_000 }, () => 0.5) // 2000
 */
export function backoffDelay(attempt: number, backoff: BackoffOptions, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`backoffDelay: attempt must be an integer >= 1, got ${attempt}`)
  const { baseMs, maxMs } = backoff
  const minMs = backoff.minMs ?? defaultMinBackoff(baseMs)
  // 2^(attempt-1) overflows to Infinity for huge attempts; min() then yields maxMs, as intended.
  const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1))
  const r = random()
  const u = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0
  return Math.max(minMs, Math.floor(u * ceiling))
}

function defaultMinBackoff(baseMs: number): number {
  return Math.min(1_000, Math.max(1, Math.round(baseMs / 10)))
}

/**
 * The outbox delivery worker (DESIGN §4 step 6): claims due outbox rows with a lease, POSTs each
 * stored payload unchanged and signed (`Agentswitch-Signature`, see `webhookSignature.ts`) to its
 * destination, and records every attempt. 2xx is delivered; any other status, a timeout or a
 * connection error is retried with {@link backoffDelay} until `maxAttempts`, then the row is
 * `dead`. An unknown destination goes `dead` at once. Delivery is at least once: receivers
 * de-duplicate by `Webhook-Id`.
 *
 * The loop never throws: store or transport failures are logged and the loop carries on.
 *
 * @example
 * const worker = createOutboxWorker(
 *   { store, logger, resolveDestination: (name) => config.webhooks[name] },
 *   { workerId: `outbox:${hostname()}:${process.pid}` },
 * )
 * worker.start()
 * process.on('SIGTERM', () => void worker.stop())
 */
export function createOutboxWorker(deps: OutboxWorkerDeps, options: OutboxWorkerOptions): OutboxWorker {
  const cfg = resolveOptions(options)
  const clock = deps.clock ?? (() => new Date())
  const random = deps.random ?? Math.random
  const logger = deps.logger ?? silentLogger
  const { store } = deps

  let agent: Agent | undefined
  const transport: WebhookTransport =
    deps.transport ??
    ((req) => {
      agent ??= new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connections: cfg.concurrency,
        connect: { timeout: cfg.timeoutMs },
      })
      return undiciSend(agent, req)
    })

  // Claimed rows wait in `queue` until one of at most `concurrency` lanes takes them; `outstanding`
  // counts rows claimed and not yet finished (queued or in flight).
  const queue: QueuedRow[] = []
  let outstanding = 0
  let lanes = 0
  const laneDone = new Set<Promise<void>>()
  let progress: (() => void) | undefined

  let running = false
  let loop: Promise<void> | undefined
  let wake: (() => void) | undefined

  async function deliver(row: OutboxRow, leaseEnd: number): Promise<boolean> {
    const attempt = row.attempts + 1
    const log = { outboxId: row.id, type: row.type, destination: row.destination, attempt, workerId: cfg.workerId }

    let dest: OutboxDestination | undefined
    try {
      dest = deps.resolveDestination(row.destination)
    } catch (err) {
      logger.error({ ...log, err: errorText(err) }, 'outbox: resolveDestination threw')
      return record(row, attempt, { durationMs: 0, error: `destination lookup failed: ${errorText(err)}` }, 'retryable')
    }
    if (dest === undefined) {
      logger.error(log, 'outbox: unknown destination, event is dead')
      return record(row, attempt, { durationMs: 0, error: `unknown destination "${row.destination}"` }, 'fatal')
    }
    const problem = checkDestination(dest)
    if (problem !== undefined) {
      logger.error({ ...log, problem }, 'outbox: destination misconfigured, event is dead')
      return record(row, attempt, { durationMs: 0, error: `destination "${row.destination}": ${problem}` }, 'fatal')
    }

    // Never start what cannot finish (and be recorded) inside the lease: after the lease another
    // worker may claim the row and deliver it concurrently.
    const budget = leaseEnd - clock().getTime() - Math.min(LEASE_MARGIN_MS, cfg.leaseMs / 10)
    const wanted = dest.timeoutMs ?? cfg.timeoutMs
    if (budget < Math.min(wanted, MIN_ATTEMPT_BUDGET_MS)) {
      logger.warn({ ...log, budgetMs: budget }, 'outbox: lease nearly over, leaving the row for the next claim')
      return false
    }
    const timeoutMs = Math.min(wanted, budget)

    const body = Buffer.from(row.payload, 'utf8')
    const sentAt = clock()
    const base: Record<string, string> = {
      'Content-Type': 'application/json',
      'User-Agent': USER_AGENT,
      [WEBHOOK_ID_HEADER]: row.id,
      [WEBHOOK_TIMESTAMP_HEADER]: String(Math.floor(sentAt.getTime() / 1000)),
    }
    let headers: Record<string, string>
    try {
      headers = dest.sign
        ? { ...base, ...dest.sign({ url: dest.url, headers: base, body, sentAt }) }
        : { ...base, [WEBHOOK_SIGNATURE_HEADER]: signWebhook({ secret: dest.secret, body, timestamp: sentAt }) }
    } catch (err) {
      logger.error({ ...log, err: errorText(err) }, 'outbox: signing failed, event is dead')
      return record(row, attempt, { durationMs: 0, error: `signing failed: ${errorText(err)}` }, 'fatal')
    }
    const started = performance.now()
    try {
      const { statusCode } = await transport({ url: dest.url, headers, body, timeoutMs })
      const durationMs = Math.round(performance.now() - started)
      if (statusCode >= 200 && statusCode < 300) return record(row, attempt, { durationMs, statusCode }, 'delivered')
      return record(row, attempt, { durationMs, statusCode, error: `receiver answered HTTP ${statusCode}` }, 'retryable')
    } catch (err) {
      const durationMs = Math.round(performance.now() - started)
      return record(row, attempt, { durationMs, error: redact(errorText(err), dest) }, 'retryable')
    }
  }

  /** Record one attempt; resolves `true` when the store took it. Never throws. */
  async function record(
    row: OutboxRow,
    attempt: number,
    outcome: { durationMs: number; statusCode?: number; error?: string },
    kind: 'delivered' | 'retryable' | 'fatal',
  ): Promise<boolean> {
    const at = clock()
    let result: RecordOutboxAttemptParams['result']
    if (kind === 'delivered') result = { kind: 'delivered' }
    else if (kind === 'fatal' || attempt >= cfg.maxAttempts) result = { kind: 'dead' }
    else result = { kind: 'retry', nextAttemptAt: new Date(at.getTime() + backoffDelay(attempt, cfg.backoff, random)) }

    const params: RecordOutboxAttemptParams = { id: row.id, workerId: cfg.workerId, attempt, at, durationMs: outcome.durationMs, result }
    if (outcome.statusCode !== undefined) params.statusCode = outcome.statusCode
    if (outcome.error !== undefined) params.error = truncate(outcome.error)
    const log = {
      outboxId: row.id,
      destination: row.destination,
      attempt,
      workerId: cfg.workerId,
      result: result.kind,
      statusCode: outcome.statusCode,
      durationMs: outcome.durationMs,
      error: params.error,
    }
    try {
      await store.recordOutboxAttempt(params)
    } catch (err) {
      // The delivery may have happened; the row stays claimed until its lease expires and is then
      // delivered again (at least once), which `Webhook-Id` lets the receiver absorb.
      logger.error({ ...log, err: errorText(err) }, 'outbox: recording the attempt failed')
      return false
    }
    if (result.kind === 'dead') logger.error(log, 'outbox: event is dead')
    else if (result.kind === 'retry') logger.warn(log, 'outbox: delivery failed, will retry')
    else logger.info(log, 'outbox: delivered')
    return true
  }

  /** Claim up to `limit` rows and hand them to the lanes; resolves once claimed (not delivered). */
  async function claim(limit: number): Promise<Array<Promise<boolean>>> {
    const now = clock()
    const rows = await store.claimOutbox({ workerId: cfg.workerId, limit, now, leaseMs: cfg.leaseMs })
    const claimEnd = now.getTime() + cfg.leaseMs
    const done = rows.map(
      (row) =>
        new Promise<boolean>((resolve) => {
          queue.push({ row, leaseEnd: Math.min(claimEnd, row.claimedUntil?.getTime() ?? claimEnd), resolve })
        }),
    )
    outstanding += rows.length
    while (lanes < cfg.concurrency && queue.length > 0) startLane() // each lane takes its first row at once
    return done
  }

  function startLane(): void {
    lanes++
    const lane = (async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        let recorded = false
        try {
          recorded = await deliver(item.row, item.leaseEnd)
        } catch (err) {
          // A bug, not a delivery outcome: the row is retried once its lease expires.
          logger.error({ outboxId: item.row.id, workerId: cfg.workerId, err: errorText(err) }, 'outbox: delivery crashed')
        }
        outstanding--
        item.resolve(recorded)
        progress?.()
      }
    })().finally(() => {
      lanes--
      laneDone.delete(lane)
    })
    laneDone.add(lane)
  }

  /**
   * The loop keeps at most `batchSize` rows claimed and claims again once half of them are done,
   * so one slow receiver holds one lane, not the whole worker. A claim that returns fewer rows
   * than asked means nothing more is due: wait `pollIntervalMs`.
   */
  async function pollLoop(): Promise<void> {
    while (running) {
      if (outstanding > cfg.batchSize / 2) {
        await new Promise<void>((resolve) => (progress = resolve))
        progress = undefined
        continue
      }
      const limit = cfg.batchSize - outstanding
      let full = false
      try {
        full = (await claim(limit)).length >= limit
      } catch (err) {
        logger.error({ workerId: cfg.workerId, err: errorText(err) }, 'outbox: claiming failed')
      }
      if (running && !full) await sleep(cfg.pollIntervalMs)
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      wake = done
    })
  }

  return {
    start() {
      if (running) return
      running = true
      logger.info({ workerId: cfg.workerId }, 'outbox: worker started')
      const previous = loop ?? Promise.resolve()
      loop = previous.then(pollLoop).catch((err: unknown) => {
        logger.error({ workerId: cfg.workerId, err: errorText(err) }, 'outbox: loop crashed')
      })
    },
    async stop() {
      running = false
      wake?.()
      progress?.()
      await loop
      // Rows already claimed are delivered, not abandoned to wait out their lease.
      while (laneDone.size > 0) await Promise.allSettled([...laneDone])
      if (agent !== undefined) {
        const a = agent
        agent = undefined
        await a.close().catch(() => {})
      }
      logger.info({ workerId: cfg.workerId }, 'outbox: worker stopped')
    },
    async runOnce() {
      const results = await Promise.all(await claim(cfg.batchSize))
      return results.filter(Boolean).length
    },
  }
}

interface QueuedRow {
  row: OutboxRow
  /** End of the claim, ms since epoch. */
  leaseEnd: number
  resolve(recorded: boolean): void
}

interface ResolvedOptions {
  workerId: string
  batchSize: number
  pollIntervalMs: number
  leaseMs: number
  maxAttempts: number
  backoff: BackoffOptions
  concurrency: number
  timeoutMs: number
}

function resolveOptions(options: OutboxWorkerOptions): ResolvedOptions {
  const leaseMs = options.leaseMs ?? DEFAULTS.leaseMs
  const cfg: ResolvedOptions = {
    workerId: options.workerId,
    batchSize: options.batchSize ?? DEFAULTS.batchSize,
    pollIntervalMs: options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    leaseMs,
    maxAttempts: options.maxAttempts ?? DEFAULTS.maxAttempts,
    backoff: options.backoff ?? DEFAULTS.backoff,
    concurrency: options.concurrency ?? DEFAULTS.concurrency,
    // Unset, it fits a short lease rather than failing on an option nobody gave.
    timeoutMs: options.timeoutMs ?? Math.min(DEFAULTS.timeoutMs, Math.floor(leaseMs / 2)),
  }
  const problems: string[] = []
  if (cfg.workerId.length === 0) problems.push('workerId is empty')
  for (const key of ['batchSize', 'maxAttempts', 'concurrency'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) problems.push(`${key} must be an integer >= 1`)
  }
  for (const key of ['pollIntervalMs', 'leaseMs', 'timeoutMs'] as const) {
    if (!Number.isFinite(cfg[key]) || cfg[key] <= 0) problems.push(`${key} must be > 0`)
  }
  const { baseMs, maxMs, minMs } = cfg.backoff
  if (!(baseMs > 0) || !(maxMs >= baseMs) || !Number.isFinite(maxMs)) problems.push('backoff needs 0 < baseMs <= maxMs')
  if (minMs !== undefined && !(minMs >= 0 && minMs <= maxMs)) problems.push('backoff.minMs must be within [0, maxMs]')
  if (cfg.leaseMs < cfg.timeoutMs + Math.min(LEASE_MARGIN_MS, cfg.leaseMs / 10))
    problems.push(`leaseMs (${cfg.leaseMs}) must exceed timeoutMs (${cfg.timeoutMs}) plus a margin for recording the attempt`)
  if (problems.length > 0) throw new RangeError(`createOutboxWorker: ${problems.join('; ')}`)
  return cfg
}

async function undiciSend(agent: Agent, req: WebhookRequest): Promise<{ statusCode: number }> {
  const res = await request(req.url, {
    dispatcher: agent,
    method: 'POST',
    headers: req.headers,
    body: req.body,
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
    // One deadline for the whole attempt, connect included.
    signal: AbortSignal.timeout(req.timeoutMs),
  })
  // Read the (small) answer so the connection goes back to the pool; its content is not used.
  await res.body.dump({ limit: MAX_RESPONSE_DRAIN_BYTES }).catch(() => {})
  return { statusCode: res.statusCode }
}

/** What makes a destination undeliverable, or `undefined`. Never echoes the URL or the secret. */
function checkDestination(dest: OutboxDestination): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(dest.url)
  } catch {
    return 'URL is not valid'
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `URL scheme ${parsed.protocol} is not http(s)`
  if (dest.secret.length === 0 && !dest.sign) return 'secret is empty'
  if (dest.timeoutMs !== undefined && !(Number.isFinite(dest.timeoutMs) && dest.timeoutMs > 0)) return 'timeoutMs must be > 0'
  return undefined
}

/** `code: message` of an error and its causes, for attempt records and logs. */
function errorText(err: unknown): string {
  const parts: string[] = []
  let cur: unknown = err
  for (let depth = 0; depth < 3 && cur !== undefined && cur !== null; depth++) {
    if (cur instanceof Error) {
      const code = (cur as { code?: unknown }).code
      const label = typeof code === 'string' ? code : cur.name
      parts.push(cur.message.length > 0 ? `${label}: ${cur.message}` : label)
      cur = cur.cause
    } else {
      parts.push(String(cur))
      break
    }
  }
  return parts.join(' <- ')
}

/** Keep the secret and URL credentials or query (which may carry tokens) out of stored errors. */
function redact(text: string, dest: OutboxDestination): string {
  let out = text.split(dest.secret).join('[secret]')
  try {
    const url = new URL(dest.url)
    const safe = `${url.protocol}//${url.host}${url.pathname}`
    out = out.split(dest.url).join(safe)
    if (url.username !== '') out = out.split(url.username).join('[user]')
    if (url.password !== '') out = out.split(url.password).join('[password]')
    if (url.search !== '') out = out.split(url.search).join('?[redacted]')
  } catch {
    // An invalid URL never reaches the transport.
  }
  return out
}

function truncate(text: string): string {
  return text.length <= MAX_ERROR_LENGTH ? text : `${text.slice(0, MAX_ERROR_LENGTH - 1)}…`
}

const silentLogger: OutboxWorkerLogger = { info() {}, warn() {}, error() {} }
