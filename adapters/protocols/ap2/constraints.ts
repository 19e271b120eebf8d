import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { fail, type Ap2Failure } from './errors.js'
import { isObject } from './jose.js'
import {
  CHECKOUT_CONSTRAINT_TYPES,
  PAYMENT_CONSTRAINT_TYPES,
  RECURRENCE_FREQUENCIES,
  type Checkout,
  type ClosedCheckoutMandate,
  type ClosedPaymentMandate,
  type LineItemRequirement,
  type Merchant,
  type OpenCheckoutMandate,
  type OpenPaymentMandate,
  type PaymentConstraint,
  type RawConstraint,
  type RecurrenceFrequency,
} from './mandates.js'

/** A prior use of an open payment mandate (verifier-side state, digest §3.4 budget / recurrence). */
export interface MandateUse {
  /** Integer minor units. */
  amount: bigint
  currency: string
  /** Unix seconds. */
  at: number
}

/** What the stateful constraints read: every earlier use of this open mandate still counted. */
export interface MandateUsage {
  uses: readonly MandateUse[]
}

/** The outcome of one constraint, recorded on the canonical intent (`authorization.constraints`). */
export interface ConstraintResult {
  type: string
  ok: boolean
  /** What was compared. Never holds a secret. */
  detail: string
}

interface CheckConstraintsBase {
  /** Unix seconds. */
  now: number
  /**
   * Prior uses of the open mandate, or `deferred` to skip the stateful constraints (budget,
   * recurrence, single use) now and evaluate them later, under the mandate's lock.
   */
  usage: MandateUsage | 'deferred'
}

export interface CheckCheckoutConstraintsParameters extends CheckConstraintsBase {
  kind: 'checkout'
  open: OpenCheckoutMandate
  closed: ClosedCheckoutMandate
  /** The decoded, merchant-verified checkout the closed mandate carries. */
  checkout: Checkout
  /** The merchant the checkout is from (its `merchant`, or the configured identity of its signer). */
  merchant: Merchant
}

export interface CheckPaymentConstraintsParameters extends CheckConstraintsBase {
  kind: 'payment'
  open: OpenPaymentMandate
  closed: ClosedPaymentMandate
  /** `sd_hash`-style digests of the open checkout mandates presented for this order (`payment.reference`). */
  openCheckoutHashes: readonly string[]
}

export type CheckConstraintsParameters = CheckCheckoutConstraintsParameters | CheckPaymentConstraintsParameters

export type CheckConstraintsReturnType = { ok: true; results: ConstraintResult[] } | (Ap2Failure & { results: ConstraintResult[] })

/** Claims of an open mandate that are structure, not pre-set values. */
const STRUCTURAL_CLAIMS = new Set(['vct', 'constraints', 'cnf', 'iat', 'exp', 'nbf'])

/**
 * Evaluate an open mandate's constraints against the closed mandate that claims to satisfy it
 * (digest §3.2, §3.4, §4.4 step 6). First every claim pre-set in the open mandate must appear
 * unchanged in the closed one (`invalid_mandate` otherwise); then every constraint, each with a
 * recorded result. An unknown constraint type fails with `unresolved_constraint`, as does any
 * known one that does not hold: the user may resolve it by approving in person.
 *
 * Decisions on the spec's ambiguities (README "AP2"):
 * - Amounts (`amount_range`, `budget.max`) are integer minor units like every v0.2 amount; a
 *   fractional `budget.max` is refused as `invalid_mandate` (Ambiguity 2; the SDK's "major units"
 *   reading would let an agent spend 100× what a minor-units reader allowed).
 * - `checkout.line_items` is the spec's exact fill: max-flow = Σ requirement quantities = Σ
 *   checkout quantities; a requirement with no revealed acceptable item can never be filled
 *   (Ambiguity 3; the SDK's smaller-cart and wildcard readings are not followed).
 * - `agent_recurrence` enforces both `max_occurrences` and the spacing of `frequency` (calendar
 *   months for MONTHLY / QUARTERLY / ANNUALLY) and does not require `amount_range` or `budget`
 *   (Ambiguity 4).
 * - An open payment mandate without `agent_recurrence` authorises one payment: after a success
 *   it is retired (the double-spend rule, digest §3.5); reuse is `invalid_mandate`.
 * - Allow-lists match by identifier: merchants and payees by `id`, instruments by (`type`, `id`),
 *   PISPs by `domain_name`; only revealed entries count, and none revealed fails.
 *
 * @example
 * const r = checkConstraints({ kind: 'payment', open, closed, openCheckoutHashes: [openCheckout.segmentHash], now, usage: { uses: [] } })
 * if (!r.ok) return errorReceipt(r.error, r.description)
 */
export function checkConstraints(params: CheckConstraintsParameters): CheckConstraintsReturnType {
  const preset = checkPresetClaims(params.open as unknown as Record<string, unknown>, params.closed as unknown as Record<string, unknown>)
  if (preset) return { ...preset, results: [] }
  const results: ConstraintResult[] = []
  const known: readonly string[] = params.kind === 'checkout' ? CHECKOUT_CONSTRAINT_TYPES : PAYMENT_CONSTRAINT_TYPES
  let firstFailure: Ap2Failure | undefined
  const record = (r: ConstraintResult, failure?: Ap2Failure): void => {
    results.push(r)
    if (!r.ok) firstFailure ??= failure ?? fail('unresolved_constraint', `${r.type}: ${r.detail}`)
  }
  for (const c of params.open.constraints) {
    if (!known.includes(c.type)) {
      record({ type: c.type, ok: false, detail: `unknown constraint type ${JSON.stringify(c.type)}: not evaluated, so the mandate cannot be honoured` })
      continue
    }
    const r = params.kind === 'checkout' ? checkCheckoutConstraint(c, params) : checkPaymentConstraint(c as PaymentConstraint, params)
    if (r === undefined) continue
    if ('error' in r) {
      record({ type: c.type, ok: false, detail: r.description }, r)
    } else record(r)
  }
  if (params.kind === 'payment' && params.usage !== 'deferred') {
    const reuse = checkReuse(params.open, params.usage)
    if (reuse) record(reuse.result, reuse.failure)
  }
  if (firstFailure) return { ...firstFailure, results }
  return { ok: true, results }
}

/**
 * Every claim pre-set in the open mandate must appear unchanged in the closed one (digest §3.4,
 * §4.4 step 6), compared as canonical JSON.
 */
export function checkPresetClaims(open: Record<string, unknown>, closed: Record<string, unknown>): Ap2Failure | undefined {
  for (const [k, v] of Object.entries(open)) {
    if (STRUCTURAL_CLAIMS.has(k)) continue
    if (!Object.hasOwn(closed, k)) return fail('invalid_mandate', `the open mandate pre-sets ${k} but the closed mandate omits it`)
    if (canonicalJson(v) !== canonicalJson(closed[k])) return fail('invalid_mandate', `the open mandate pre-sets ${k}; the closed mandate changes it`)
  }
  return undefined
}

function checkCheckoutConstraint(c: RawConstraint, p: CheckCheckoutConstraintsParameters): ConstraintResult | Ap2Failure | undefined {
  switch (c.type) {
    case 'checkout.allowed_merchants': {
      const allowed = (c['allowed'] as Merchant[] | undefined) ?? []
      const hit = allowed.some((m) => isObject(m) && m.id === p.merchant.id)
      return {
        type: c.type,
        ok: hit,
        detail: allowed.length === 0 ? 'no allowed merchant is revealed' : hit ? `merchant ${p.merchant.id} is allowed` : `merchant ${p.merchant.id} is not among the ${allowed.length} revealed allowed merchants`,
      }
    }
    case 'checkout.line_items':
      return checkLineItems(c['items'] as LineItemRequirement[], p.checkout)
  }
  return undefined
}

/**
 * `checkout.line_items` as the spec's max-flow (digest §3.2): source → requirement (capacity =
 * quantity), requirement → checkout item it accepts (∞), checkout item → sink (its quantity).
 * Passes iff max-flow = Σ requirement quantities = Σ checkout quantities.
 */
export function checkLineItems(requirements: readonly LineItemRequirement[], checkout: Pick<Checkout, 'line_items'>): ConstraintResult {
  const type = 'checkout.line_items'
  const skuQty = new Map<string, number>()
  for (const li of checkout.line_items) skuQty.set(li.item.id, (skuQty.get(li.item.id) ?? 0) + li.quantity)
  const skus = [...skuQty.keys()]
  const need = requirements.reduce((s, r) => s + r.quantity, 0)
  const have = [...skuQty.values()].reduce((s, q) => s + q, 0)
  for (const r of requirements) {
    if (r.acceptable_items.length === 0) return { type, ok: false, detail: `requirement ${r.id} reveals no acceptable item` }
  }
  // Nodes: 0 source, 1..R requirements, R+1..R+S skus, R+S+1 sink.
  const R = requirements.length
  const S = skus.length
  const n = R + S + 2
  const sink = n - 1
  const INF = Number.MAX_SAFE_INTEGER
  const cap: number[][] = Array.from({ length: n }, () => new Array<number>(n).fill(0))
  requirements.forEach((r, i) => {
    cap[0]![i + 1] = r.quantity
    const ok = new Set(r.acceptable_items.map((a) => a.id))
    skus.forEach((sku, j) => {
      if (ok.has(sku)) cap[i + 1]![R + 1 + j] = INF
    })
  })
  skus.forEach((sku, j) => (cap[R + 1 + j]![sink] = skuQty.get(sku)!))
  const unmatched = skus.filter((_, j) => requirements.every((_r, i) => cap[i + 1]![R + 1 + j] === 0))
  const flow = maxFlow(cap, 0, sink)
  const ok = flow === need && flow === have
  let detail: string
  if (ok) detail = `all ${need} required units matched exactly`
  else if (have > flow) {
    detail = unmatched.length ? `checkout items not acceptable to any requirement: ${unmatched.join(', ')}` : `the checkout has ${have} units, only ${flow} match the ${need} required`
  } else detail = `only ${flow} of ${need} required units are in the checkout`
  return { type, ok, detail }
}

/** Edmonds–Karp on a small dense graph (capacities are mutated into residuals). */
function maxFlow(cap: number[][], s: number, t: number): number {
  const n = cap.length
  let flow = 0
  for (;;) {
    const prev = new Array<number>(n).fill(-1)
    prev[s] = s
    const queue = [s]
    while (queue.length && prev[t] === -1) {
      const u = queue.shift()!
      for (let v = 0; v < n; v++) {
        if (prev[v] === -1 && cap[u]![v]! > 0) {
          prev[v] = u
          queue.push(v)
        }
      }
    }
    if (prev[t] === -1) return flow
    let push = Number.MAX_SAFE_INTEGER
    for (let v = t; v !== s; v = prev[v]!) push = Math.min(push, cap[prev[v]!]![v]!)
    for (let v = t; v !== s; v = prev[v]!) {
      cap[prev[v]!]![v]! -= push
      cap[v]![prev[v]!]! += push
    }
    flow += push
  }
}

function checkPaymentConstraint(c: PaymentConstraint, p: CheckPaymentConstraintsParameters): ConstraintResult | Ap2Failure | undefined {
  const { closed } = p
  const amount = closed.payment_amount
  switch (c.type) {
    case 'payment.reference': {
      const ok = p.openCheckoutHashes.includes(c.conditional_transaction_id)
      if (!ok) return fail('invalid_mandate', `payment.reference names open checkout mandate ${c.conditional_transaction_id}, not the one presented for this checkout`)
      return { type: c.type, ok, detail: `bound to open checkout mandate ${c.conditional_transaction_id}` }
    }
    case 'payment.amount_range': {
      if (c.currency !== amount.currency) return { type: c.type, ok: false, detail: `currency ${amount.currency} is not ${c.currency}` }
      const min = c.min ?? 0
      const ok = amount.amount >= min && amount.amount <= c.max
      return { type: c.type, ok, detail: `${amount.amount} ${amount.currency} ${ok ? 'within' : 'outside'} [${c.min ?? '-'}, ${c.max}]` }
    }
    case 'payment.allowed_payees': {
      const hit = c.allowed.some((m) => isObject(m) && m.id === closed.payee.id)
      return {
        type: c.type,
        ok: hit,
        detail: c.allowed.length === 0 ? 'no allowed payee is revealed' : hit ? `payee ${closed.payee.id} is allowed` : `payee ${closed.payee.id} is not among the ${c.allowed.length} revealed allowed payees`,
      }
    }
    case 'payment.allowed_payment_instruments': {
      const i = closed.payment_instrument
      const hit = c.allowed.some((a) => isObject(a) && a.type === i.type && a.id === i.id)
      return {
        type: c.type,
        ok: hit,
        detail: c.allowed.length === 0 ? 'no allowed instrument is revealed' : hit ? `instrument ${i.type}:${i.id} is allowed` : `instrument ${i.type}:${i.id} is not among the revealed allowed instruments`,
      }
    }
    case 'payment.allowed_pisps': {
      const pisp = closed.pisp
      if (!pisp) return { type: c.type, ok: false, detail: 'the closed mandate names no PISP' }
      const hit = c.allowed.some((a) => isObject(a) && a.domain_name === pisp.domain_name)
      return { type: c.type, ok: hit, detail: hit ? `PISP ${pisp.domain_name} is allowed` : `PISP ${pisp.domain_name} is not allowed` }
    }
    case 'payment.execution_date': {
      const at = closed.execution_date === undefined ? p.now * 1000 : Date.parse(closed.execution_date)
      if (Number.isNaN(at)) return fail('invalid_mandate', `execution_date ${JSON.stringify(closed.execution_date)} is not an ISO 8601 date`)
      const from = c.not_before === undefined ? -Infinity : parseBound(c.not_before, 'start')
      const to = c.not_after === undefined ? Infinity : parseBound(c.not_after, 'end')
      if (Number.isNaN(from) || Number.isNaN(to)) return fail('invalid_mandate', 'payment.execution_date bounds are not ISO 8601 dates')
      const ok = at >= from && at <= to
      return { type: c.type, ok, detail: `execution ${new Date(at).toISOString()} ${ok ? 'within' : 'outside'} [${c.not_before ?? '-'}, ${c.not_after ?? '-'}]` }
    }
    case 'payment.budget': {
      if (!Number.isSafeInteger(c.max) || c.max < 0) return fail('invalid_mandate', `payment.budget.max ${c.max} must be a non-negative integer in minor units`)
      if (c.currency !== amount.currency) return { type: c.type, ok: false, detail: `currency ${amount.currency} is not the budget's ${c.currency}` }
      if (p.usage === 'deferred') return undefined
      const spent = p.usage.uses.filter((u) => u.currency === c.currency).reduce((s, u) => s + u.amount, 0n)
      const after = spent + BigInt(amount.amount)
      const ok = after <= BigInt(c.max)
      return { type: c.type, ok, detail: `spent ${spent} + ${amount.amount} = ${after} ${c.currency} ${ok ? '≤' : '>'} budget ${c.max}` }
    }
    case 'payment.agent_recurrence': {
      if (!(RECURRENCE_FREQUENCIES as readonly string[]).includes(c.frequency)) return fail('invalid_mandate', `agent_recurrence.frequency ${JSON.stringify(c.frequency)} is unknown`)
      if (p.usage === 'deferred') return undefined
      const uses = p.usage.uses
      if (c.max_occurrences !== undefined && uses.length + 1 > c.max_occurrences)
        return { type: c.type, ok: false, detail: `occurrence ${uses.length + 1} exceeds max_occurrences ${c.max_occurrences}` }
      const last = uses.reduce((m, u) => Math.max(m, u.at), -Infinity)
      if (uses.length > 0) {
        const next = nextAllowed(last, c.frequency)
        if (p.now < next) return { type: c.type, ok: false, detail: `${c.frequency}: the next use is allowed from ${new Date(next * 1000).toISOString()}` }
      }
      return { type: c.type, ok: true, detail: `occurrence ${uses.length + 1}${c.max_occurrences === undefined ? '' : ` of ${c.max_occurrences}`}, ${c.frequency}` }
    }
  }
  return undefined
}

/** Without `agent_recurrence` an open payment mandate is single-use: retired after a payment. */
function checkReuse(open: OpenPaymentMandate, usage: MandateUsage): { result: ConstraintResult; failure: Ap2Failure } | undefined {
  if (open.constraints.some((c) => c.type === 'payment.agent_recurrence')) return undefined
  if (usage.uses.length === 0) return undefined
  const detail = 'this open mandate has no payment.agent_recurrence and was already used: it is retired after one payment'
  return { result: { type: 'single_use', ok: false, detail }, failure: fail('invalid_mandate', detail) }
}

/** A date-only bound covers its whole UTC day; a date-time is exact. */
function parseBound(s: string, edge: 'start' | 'end'): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) {
    const day = Date.parse(`${s}T00:00:00Z`)
    return edge === 'start' ? day : day + 86_400_000 - 1
  }
  return Date.parse(s)
}

/** Earliest next use after `last` (Unix seconds): fixed periods for days, calendar months otherwise. */
export function nextAllowed(last: number, frequency: RecurrenceFrequency): number {
  const day = 86_400
  switch (frequency) {
    case 'ON_DEMAND':
      return last
    case 'DAILY':
      return last + day
    case 'WEEKLY':
      return last + 7 * day
    case 'BIWEEKLY':
      return last + 14 * day
    case 'MONTHLY':
      return addMonths(last, 1)
    case 'QUARTERLY':
      return addMonths(last, 3)
    case 'ANNUALLY':
      return addMonths(last, 12)
  }
}

/** Add calendar months in UTC, clamping to the month's last day (Jan 31 + 1 month = Feb 28/29). */
function addMonths(unix: number, months: number): number {
  const d = new Date(unix * 1000)
  const y = d.getUTCFullYear()
  const m = d.getUTCMonth() + months
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate()
  const t = Date.UTC(y, m, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds())
  return Math.floor(t / 1000)
}
