import CircuitBreaker from 'opossum'

/** Breaker tuning for one endpoint (opossum options, named for what they mean here). */
export interface BreakerOptions {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage?: number | undefined
  /** Calls needed in the window before the percentage counts. */
  volumeThreshold?: number | undefined
  /** How long an open breaker waits before letting one trial call through (half-open). */
  resetTimeoutMs?: number | undefined
  /** The rolling statistics window. */
  rollingCountTimeoutMs?: number | undefined
}

export type BreakerState = 'closed' | 'half_open' | 'open'

/** One endpoint's breaker. */
export interface EndpointBreaker {
  readonly name: string
  readonly rail: string
  readonly endpoint: string
  readonly state: BreakerState
  /**
   * Run `fn` through the breaker. Rejects at once with {@link BreakerOpenError} while open. An
   * error for which `isFailure` returns false (a decline, a 4xx the caller caused) does not count
   * against the endpoint.
   */
  fire<T>(fn: () => Promise<T>): Promise<T>
}

/** Thrown without calling the endpoint: its breaker is open. Nothing was sent. */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError'
  constructor(readonly breaker: string) {
    super(`circuit breaker ${breaker} is open`)
  }
}

export interface BreakerSnapshot {
  name: string
  rail: string
  endpoint: string
  state: BreakerState
  failures: number
  successes: number
  rejects: number
  opens: number
}

/**
 * All breakers of a gateway (one per rail endpoint), so `/metrics` and the admin API can show
 * their state. Created by the composition root and handed to each rail; no global state.
 */
export class BreakerRegistry {
  readonly #breakers = new Map<string, { b: CircuitBreaker<[() => Promise<unknown>], unknown>; rail: string; endpoint: string; opens: number }>()

  /**
   * A breaker for `rail` / `endpoint`. `isFailure(err)` decides which errors count (default: all).
   */
  create(rail: string, endpoint: string, options: BreakerOptions = {}, isFailure: (err: unknown) => boolean = () => true): EndpointBreaker {
    const name = `${rail}:${endpoint}`
    if (this.#breakers.has(name)) throw new Error(`breaker ${name} already exists`)
    const b = new CircuitBreaker<[() => Promise<unknown>], unknown>((fn) => fn(), {
      name,
      // Timeouts belong to the rail (they turn into unknown outcomes it must reconcile), not here.
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      resetTimeout: options.resetTimeoutMs ?? 10_000,
      rollingCountTimeout: options.rollingCountTimeoutMs ?? 10_000,
      errorFilter: (err: unknown) => !isFailure(err),
      // Nothing reads latency percentiles, and with them on every `stats` read (each failure, each
      // `list()` by routing, twice per settlement) concatenates and sorts 10 s of latencies.
      rollingPercentilesEnabled: false,
    })
    const entry = { b, rail, endpoint, opens: 0 }
    b.on('open', () => entry.opens++)
    this.#breakers.set(name, entry)
    return {
      name,
      rail,
      endpoint,
      get state(): BreakerState {
        return b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed'
      },
      async fire<T>(fn: () => Promise<T>): Promise<T> {
        try {
          return (await b.fire(fn)) as T
        } catch (err) {
          if ((err as { code?: string })?.code === 'EOPENBREAKER') throw new BreakerOpenError(name)
          throw err
        }
      },
    }
  }

  list(): BreakerSnapshot[] {
    return [...this.#breakers.entries()].map(([name, { b, rail, endpoint, opens }]) => {
      const stats = b.stats // one pass over the rolling window, not one per counter
      return {
        name,
        rail,
        endpoint,
        state: b.opened ? 'open' : b.halfOpen ? 'half_open' : 'closed',
        failures: stats.failures,
        successes: stats.successes,
        rejects: stats.rejects,
        opens,
      }
    })
  }

  /** Stop the breakers' timers (gateway shutdown). */
  shutdown(): void {
    for (const { b } of this.#breakers.values()) b.shutdown()
  }
}
