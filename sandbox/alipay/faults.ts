import { mulberry32 } from './units.js'

/**
 * What a fault does.
 *
 * Request phase (the first rule that fires decides; `latency` rules add up on top):
 * - `latency`: wait `latencyMs` before handling (the request is then handled normally).
 * - `http_5xx`: answer HTTP `status` (default 502) with a non-Alipay body; nothing happens unless `applied`.
 * - `system_error`: v2 `20000` / `ACQ.SYSTEM_ERROR` (v3: HTTP 500 `ACQ.SYSTEM_ERROR`; Antom: `U`
 *   `UNKNOWN_EXCEPTION`); nothing happens unless `applied`.
 * - `unknown_result`: Antom `resultStatus: U` (`PAYMENT_IN_PROCESS`), Alipay as `system_error`; the
 *   operation is applied unless `applied: false` (an in-process payment that did go through).
 * - `timeout`: hold the request `holdMs` (default 30 s) and then drop the connection without an
 *   answer; nothing happens unless `applied`.
 * - `success_then_unknown`: apply the operation, then lose the answer: `mode` `http_5xx` (default),
 *   `drop` (reset the connection), `hang` (hold `holdMs` then drop) or `system_error`.
 * - `tamper`: apply, sign the answer, then change a byte of the signed part (the signature no longer
 *   matches: a client that verifies must reject it).
 *
 * Notifications (decided once per notification):
 * - `drop_notification`: never deliver it (the merchant must query).
 * - `duplicate_notification`: deliver it twice, concurrently, with the same `notify_id`.
 */
export type FaultKind =
  | 'latency'
  | 'http_5xx'
  | 'system_error'
  | 'unknown_result'
  | 'timeout'
  | 'success_then_unknown'
  | 'tamper'
  | 'drop_notification'
  | 'duplicate_notification'

export const FAULT_KINDS: readonly FaultKind[] = [
  'latency',
  'http_5xx',
  'system_error',
  'unknown_result',
  'timeout',
  'success_then_unknown',
  'tamper',
  'drop_notification',
  'duplicate_notification',
]

/** One fault rule. */
export interface FaultRule {
  kind: FaultKind
  /**
   * Which calls: `*` (default), a v2 method (`alipay.trade.pay`, also matching the same v3 call),
   * an Antom call (`antom.payments.pay`, `antom.payments.inquiryPayment`, …), a prefix ending in
   * `*` (`alipay.trade.*`), or for notification faults `notify.alipay` / `notify.antom`.
   */
  target?: string | undefined
  /** Only on this edge (listener) of the sandbox. */
  edge?: string | undefined
  /** Probability in [0, 1] (default 1). */
  probability?: number | undefined
  /** Fire at most this many times, then never again. */
  times?: number | undefined
  latencyMs?: number | undefined
  status?: number | undefined
  holdMs?: number | undefined
  mode?: 'http_5xx' | 'drop' | 'hang' | 'system_error' | undefined
  /** Whether the business operation still happens before the faulty answer (see {@link FaultKind}). */
  applied?: boolean | undefined
}

export interface FaultConfig {
  /** PRNG seed: the same seed and the same call order give the same decisions. */
  seed?: number | undefined
  rules: FaultRule[]
}

export interface RequestFaultDecision {
  latencyMs: number
  action?: FaultRule | undefined
}

export interface FaultStats {
  /** Calls seen per target (requests only). */
  calls: Record<string, number>
  /** Calls on which a non-latency request fault fired. */
  faultedCalls: number
  totalCalls: number
  /** Firings per kind (requests and notifications). */
  fired: Partial<Record<FaultKind, number>>
}

const REQUEST_KINDS = new Set<FaultKind>(['http_5xx', 'system_error', 'unknown_result', 'timeout', 'success_then_unknown', 'tamper'])

function matches(pattern: string | undefined, target: string): boolean {
  if (pattern === undefined || pattern === '*') return true
  if (pattern.endsWith('*')) return target.startsWith(pattern.slice(0, -1))
  return pattern === target
}

/** Throws a readable error for a malformed rule (admin input). */
export function validateFaultConfig(input: unknown): FaultConfig {
  if (typeof input !== 'object' || input === null) throw new Error('fault config must be an object')
  const c = input as { seed?: unknown; rules?: unknown }
  if (c.seed !== undefined && (typeof c.seed !== 'number' || !Number.isInteger(c.seed))) throw new Error('seed must be an integer')
  if (!Array.isArray(c.rules)) throw new Error('rules must be an array')
  const rules = c.rules.map((r: unknown, i) => {
    if (typeof r !== 'object' || r === null) throw new Error(`rules[${i}] must be an object`)
    const rule = r as FaultRule
    if (!FAULT_KINDS.includes(rule.kind)) throw new Error(`rules[${i}].kind must be one of ${FAULT_KINDS.join(', ')}`)
    if (rule.probability !== undefined && (typeof rule.probability !== 'number' || rule.probability < 0 || rule.probability > 1))
      throw new Error(`rules[${i}].probability must be in [0, 1]`)
    for (const k of ['latencyMs', 'holdMs', 'status', 'times'] as const) {
      const v = rule[k]
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) throw new Error(`rules[${i}].${k} must be a non-negative integer`)
    }
    if (rule.mode !== undefined && !['http_5xx', 'drop', 'hang', 'system_error'].includes(rule.mode)) throw new Error(`rules[${i}].mode is invalid`)
    return { ...rule }
  })
  return { ...(c.seed === undefined ? {} : { seed: c.seed as number }), rules }
}

/** Seeded, per-target fault decisions, changeable at run time through the admin API. */
export class FaultInjector {
  #rules: Array<FaultRule & { fired: number }> = []
  #rand: () => number
  #seed: number
  #stats: FaultStats = { calls: {}, faultedCalls: 0, totalCalls: 0, fired: {} }

  constructor(seed = 1) {
    this.#seed = seed
    this.#rand = mulberry32(seed)
  }

  /** Replace the rules (and reseed when a seed is given). Stats are kept; see {@link resetStats}. */
  set(config: FaultConfig): void {
    const c = validateFaultConfig(config)
    this.#rules = c.rules.map((r) => ({ ...r, fired: 0 }))
    if (c.seed !== undefined) {
      this.#seed = c.seed
      this.#rand = mulberry32(c.seed)
    }
  }

  clear(): void {
    this.#rules = []
  }

  get config(): FaultConfig {
    return { seed: this.#seed, rules: this.#rules.map(({ fired: _f, ...r }) => r) }
  }

  stats(): FaultStats {
    return structuredClone(this.#stats)
  }

  resetStats(): void {
    this.#stats = { calls: {}, faultedCalls: 0, totalCalls: 0, fired: {} }
  }

  #fires(rule: FaultRule & { fired: number }): boolean {
    if (rule.times !== undefined && rule.fired >= rule.times) return false
    const p = rule.probability ?? 1
    // Always draw, so one rule's probability does not shift the others' sequence.
    const hit = this.#rand() < p
    if (hit) {
      rule.fired++
      this.#stats.fired[rule.kind] = (this.#stats.fired[rule.kind] ?? 0) + 1
    }
    return hit
  }

  /** The faults for one request to `target` on `edge`. */
  decideRequest(target: string, edge: string): RequestFaultDecision {
    this.#stats.calls[target] = (this.#stats.calls[target] ?? 0) + 1
    this.#stats.totalCalls++
    let latencyMs = 0
    let action: FaultRule | undefined
    for (const rule of this.#rules) {
      if (rule.kind !== 'latency' && !REQUEST_KINDS.has(rule.kind)) continue
      if (!matches(rule.target, target) || (rule.edge !== undefined && rule.edge !== edge)) continue
      if (rule.kind === 'latency') {
        if (this.#fires(rule)) latencyMs += rule.latencyMs ?? 100
      } else if (!action && this.#fires(rule)) {
        action = rule
      }
    }
    if (action) this.#stats.faultedCalls++
    return { latencyMs, action }
  }

  /** Whether to drop or duplicate one notification for `target` (`notify.alipay`, `notify.antom`). */
  decideNotification(target: string): { drop: boolean; duplicate: boolean } {
    let drop = false
    let duplicate = false
    for (const rule of this.#rules) {
      if (rule.kind !== 'drop_notification' && rule.kind !== 'duplicate_notification') continue
      if (!matches(rule.target, target)) continue
      if (rule.kind === 'drop_notification' && !drop && this.#fires(rule)) drop = true
      if (rule.kind === 'duplicate_notification' && !duplicate && this.#fires(rule)) duplicate = true
    }
    return { drop, duplicate: duplicate && !drop }
  }
}
