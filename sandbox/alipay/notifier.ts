import { Agent, request } from 'undici'
import type { FaultInjector } from './faults.js'

/**
 * Alipay's retry intervals after a failed notification (digest §2.4): 4m, 10m, 10m, 1h, 2h, 6h,
 * 15h — eight notifications in all. The sandbox runs them compressed by `timeScale`.
 */
export const ALIPAY_NOTIFY_INTERVALS_MS: readonly number[] = [4, 10, 10, 60, 120, 360, 900].map((m) => m * 60_000)

export interface NotifierOptions {
  /** Intervals between attempts (ms). Default: Alipay's schedule × `timeScale`. */
  scheduleMs?: readonly number[] | undefined
  /** Compression of Alipay's schedule (default 1/1000: 4 min → 240 ms). */
  timeScale?: number | undefined
  /** Per-attempt HTTP timeout (default 5 s). */
  timeoutMs?: number | undefined
  /** Delay before the first attempt (default 0; real Alipay notifies within seconds). */
  firstDelayMs?: number | undefined
}

export interface NotificationAttempt {
  at: string
  status?: number | undefined
  /** The merchant answered the expected acknowledgement. */
  acked: boolean
  error?: string | undefined
  /** Part of a duplicated delivery. */
  duplicate?: boolean | undefined
}

/** One notification and its delivery history (admin API: `GET /admin/notifications`). */
export interface NotificationRecord {
  id: string
  kind: 'alipay' | 'antom'
  /** What it is about (`out_trade_no` / `paymentRequestId`) and its status. */
  ref: string
  event: string
  url: string
  createdAt: string
  attempts: NotificationAttempt[]
  acked: boolean
  dropped: boolean
  duplicated: boolean
  /** No more attempts will be made. */
  done: boolean
}

export interface NotificationPayload {
  kind: 'alipay' | 'antom'
  ref: string
  event: string
  url: string
  /** Builds the request for an attempt (Antom re-signs with a fresh `Request-Time`). */
  build(): { headers: Record<string, string>; body: string }
}

/**
 * Delivers notifications with Alipay's retry discipline: retried until the merchant answers
 * exactly `success` (Antom: a JSON `result.resultStatus` of `S`), at most `1 + schedule.length`
 * times. Faults may drop or duplicate a notification.
 */
export class Notifier {
  readonly #schedule: readonly number[]
  readonly #timeoutMs: number
  readonly #firstDelayMs: number
  readonly #records: NotificationRecord[] = []
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #agent = new Agent({ keepAliveTimeout: 4_000, connections: 64 })
  readonly #inflight = new Set<Promise<void>>()
  #closed = false
  #seq = 0

  constructor(
    private readonly faults: FaultInjector,
    private readonly now: () => Date,
    options: NotifierOptions = {},
  ) {
    const scale = options.timeScale ?? 1 / 1000
    this.#schedule = options.scheduleMs ?? ALIPAY_NOTIFY_INTERVALS_MS.map((ms) => Math.max(1, Math.round(ms * scale)))
    this.#timeoutMs = options.timeoutMs ?? 5_000
    this.#firstDelayMs = options.firstDelayMs ?? 0
  }

  get records(): readonly NotificationRecord[] {
    return this.#records
  }

  /** Queue a notification; returns its record (delivery starts on the next tick). */
  send(payload: NotificationPayload): NotificationRecord {
    const decision = this.faults.decideNotification(`notify.${payload.kind}`)
    const rec: NotificationRecord = {
      id: `ntf_${++this.#seq}`,
      kind: payload.kind,
      ref: payload.ref,
      event: payload.event,
      url: payload.url,
      createdAt: this.now().toISOString(),
      attempts: [],
      acked: false,
      dropped: decision.drop,
      duplicated: decision.duplicate,
      done: decision.drop,
    }
    this.#records.push(rec)
    if (this.#records.length > 100_000) this.#records.splice(0, 10_000)
    if (!decision.drop) this.#schedule_(rec, payload, 0, this.#firstDelayMs)
    return rec
  }

  #schedule_(rec: NotificationRecord, payload: NotificationPayload, attempt: number, delayMs: number): void {
    if (this.#closed) return
    const t = setTimeout(() => {
      this.#timers.delete(t)
      const p = this.#deliver(rec, payload, attempt).finally(() => this.#inflight.delete(p))
      this.#inflight.add(p)
    }, delayMs)
    this.#timers.add(t)
  }

  async #deliver(rec: NotificationRecord, payload: NotificationPayload, attempt: number): Promise<void> {
    const copies = attempt === 0 && rec.duplicated ? 2 : 1
    const results = await Promise.all(Array.from({ length: copies }, (_, i) => this.#attempt(rec, payload, i > 0)))
    if (results.some(Boolean)) {
      rec.acked = true
      rec.done = true
      return
    }
    if (attempt >= this.#schedule.length || this.#closed) {
      rec.done = true
      return
    }
    this.#schedule_(rec, payload, attempt + 1, this.#schedule[attempt]!)
  }

  async #attempt(rec: NotificationRecord, payload: NotificationPayload, duplicate: boolean): Promise<boolean> {
    const { headers, body } = payload.build()
    const at = this.now().toISOString()
    try {
      const res = await request(payload.url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#agent,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      const text = await res.body.text()
      const acked = res.statusCode === 200 && isAck(payload.kind, text)
      rec.attempts.push({ at, status: res.statusCode, acked, ...(duplicate ? { duplicate } : {}) })
      return acked
    } catch (err) {
      rec.attempts.push({ at, acked: false, error: err instanceof Error ? err.message : String(err), ...(duplicate ? { duplicate } : {}) })
      return false
    }
  }

  /** Resolves when nothing is queued or in flight (tests), or after `timeoutMs`. */
  async idle(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs
    while (Date.now() < end) {
      if (this.#timers.size === 0 && this.#inflight.size === 0) return true
      await new Promise((r) => setTimeout(r, 10))
    }
    return false
  }

  async close(): Promise<void> {
    this.#closed = true
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    await Promise.allSettled([...this.#inflight])
    await this.#agent.close()
  }
}

function isAck(kind: 'alipay' | 'antom', text: string): boolean {
  // Alipay: exactly the seven bytes `success`; anything else (even `fail`, HTML, whitespace) is a failure.
  if (kind === 'alipay') return text === 'success'
  try {
    const j = JSON.parse(text) as { result?: { resultStatus?: string } }
    return j.result?.resultStatus === 'S'
  } catch {
    return false
  }
}
