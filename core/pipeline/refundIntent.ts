import type { RefundRecord } from '../disputes/records.js'
import { GatewayError } from '../errors/gatewayError.js'
import { sealAuditEvent } from '../events/audit.js'
import type { IntentRefund, Money, PaymentIntent } from '../intent/types.js'
import { transition } from '../intent/transition.js'
import { parseMinorUnits } from '../money/amount.js'
import type { RailAdapter, RailRefundOutcome, RailRefundQueryOutcome, RailRegistry } from '../rails/port.js'
import type { OutboxInsert, Store } from '../store/port.js'
import { newId } from '../util/ids.js'
import { intentOutboxRows, type DestinationsFor } from './webhookEvent.js'

/**
 * A protocol's order webhooks for a refund (ACP `order_update` with a refund adjustment, UCP order
 * update): given the intent as it will be stored and the refund, the outbox rows to commit in the
 * same transaction as the intent change. Returns `[]` for intents of other protocols.
 */
export type RefundWebhookSource = (params: { intent: PaymentIntent; refund: RefundRecord; at: Date }) => Promise<OutboxInsert[]>

export interface RefundIntentDeps {
  store: Store
  rails: RailRegistry
  destinationsFor?: DestinationsFor | undefined
  /** Protocol order webhooks (registered by the protocol mounts). */
  refundWebhooks?: readonly RefundWebhookSource[] | undefined
  clock?: (() => Date) | undefined
}

export interface RefundIntentParameters {
  intentId: string
  /** In the intent's asset; default: everything not yet refunded or being refunded. */
  amount?: Money | undefined
  reason?: string | undefined
  /**
   * Makes the refund exactly-once per intent (across processes): a repeated request with the same
   * key finishes and returns the first refund instead of making another.
   */
  dedupeKey?: string | undefined
  /** `merchant:<id>`, `admin:<id>`, `agent:<id>`: recorded in the audit chain. */
  actor: string
  signal?: AbortSignal | undefined
}

export interface RefundIntentReturnType {
  refund: RefundRecord
  intent: PaymentIntent
  /** False when the dedupe key found an earlier refund. */
  created: boolean
}

const REFUNDABLE = new Set(['succeeded', 'partially_refunded'])
const MAX_CAS_RETRIES = 8

/** The rail of a settled intent (the one that settled it), if it can refund. */
export function refundRailOf(rails: RailRegistry, intent: PaymentIntent): RailAdapter {
  const name = intent.settlement?.rail ?? intent.route?.rail
  const rail = name ? rails.get(name) : undefined
  if (!rail?.refund) throw new GatewayError('GW_REFUND_UNSUPPORTED', `the intent's rail ${name ?? '(none)'} cannot refund in this gateway`)
  return rail
}

/** Minor units captured, refunded (succeeded) and held by refunds in progress, in the intent's asset. */
export function refundTotals(intent: PaymentIntent): { captured: bigint; succeeded: bigint; pending: bigint } {
  let succeeded = 0n
  let pending = 0n
  for (const r of intent.refunds ?? []) {
    if (r.status === 'succeeded') succeeded += BigInt(r.amount.value)
    else if (r.status === 'pending') pending += BigInt(r.amount.value)
  }
  return { captured: BigInt(intent.amount.value), succeeded, pending }
}

/** Whether the rail refunds another asset than the intent's (an FX conversion at settlement). */
function convertsOnRefund(intent: PaymentIntent): boolean {
  return intent.settlement_amount !== undefined && intent.settlement_amount.asset !== intent.amount.asset
}

/**
 * What the rail moves for a refund of `value` (intent asset) when `already` (intent asset) was
 * refunded or reserved before it: the same asset when no FX conversion happened; otherwise the
 * settlement amount pro rata, computed on the running total so that the parts of a fully refunded
 * intent add up to the settlement amount exactly (never a minor unit more).
 *
 * `alreadyRail` is what the rail moved or will move for those earlier refunds (their rail amounts);
 * by default the running total's pro-rata share. Given the real sum, the running total absorbs
 * whatever earlier parts were rounded to (a failed refund leaves a gap that no formula on the intent
 * amounts alone could close): the refund that completes the capture gets exactly the rest of the
 * settlement amount, and no part is ever negative.
 */
export function railAmountFor(intent: PaymentIntent, value: bigint, already: bigint, alreadyRail?: bigint): Money {
  const s = intent.settlement_amount
  if (!s || !convertsOnRefund(intent)) return { value: value.toString(), asset: intent.amount.asset }
  const total = BigInt(intent.amount.value)
  const settled = BigInt(s.value)
  const part = (settled * (already + value)) / total - (alreadyRail ?? (settled * already) / total)
  return { value: (part > 0n ? part : 0n).toString(), asset: s.asset }
}

/**
 * The rail amounts of an intent's refunds that succeeded or are in progress, from their refund rows
 * (`rows`, read AFTER `intent`): each row got its final rail amount before its reservation
 * committed, so every refund of `intent.refunds[]` has it.
 */
function reservedRailAmount(intent: PaymentIntent, rows: readonly RefundRecord[]): bigint {
  const byId = new Map(rows.map((r) => [r.id, r]))
  let sum = 0n
  for (const r of intent.refunds ?? []) {
    if (r.status !== 'succeeded' && r.status !== 'pending') continue
    const row = byId.get(r.id)
    // Never without its row (the row is written first); if it were, count its pro-rata share.
    sum += row ? BigInt(row.railAmount.value) : BigInt(railAmountFor(intent, BigInt(r.amount.value), 0n).value)
  }
  return sum
}

/**
 * Refund (part of) a settled intent (DESIGN §2: `succeeded` → `partially_refunded` | `refunded`):
 *
 * 1. the refund is recorded `pending` (exactly once per `dedupeKey`) with its id — also the rail's
 *    refund key (`out_request_no`, `refundRequestId`, the EVM calldata tag) — fixed before any attempt;
 * 2. its amount is reserved in the intent's `refunds[]` by a version-checked update: refunds that
 *    succeeded or are in progress can never add up to more than was captured, whatever races;
 * 3. the rail refunds once; an unknown outcome leaves the refund `pending` and a repeated request
 *    asks the rail (`queryRefund`) before it sends the same key again;
 * 4. the outcome commits with its audit event and outbox rows (`refund.succeeded` | `refund.failed`,
 *    `payment_intent.partially_refunded` | `payment_intent.refunded`, protocol order webhooks).
 *
 * @example await refundIntent({ store, rails }, { intentId, amount: { value: '500', asset: 'iso4217:USD' }, dedupeKey: 'rf-1', actor: 'merchant:shop' })
 */
export async function refundIntent(deps: RefundIntentDeps, params: RefundIntentParameters): Promise<RefundIntentReturnType> {
  const clock = deps.clock ?? (() => new Date())
  const stored = await deps.store.getIntent(params.intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
  let intent = stored.intent

  // The intent's refund rows, read after the intent: a repeated request finds its refund among them,
  // and after an FX conversion they hold the rail amounts already refunded or reserved.
  const rows = params.dedupeKey !== undefined || convertsOnRefund(intent) ? await deps.store.listRefunds(intent.id) : []
  // A repeated request finds its refund first, whatever the intent's status is now.
  if (params.dedupeKey !== undefined) {
    const existing = rows.find((r) => r.dedupeKey === params.dedupeKey)
    if (existing) return { ...(await drive(deps, existing, params.signal)), created: false }
  }
  if (!REFUNDABLE.has(intent.status)) {
    throw new GatewayError('GW_INVALID_TRANSITION', `cannot refund an intent that is ${intent.status}`, { details: { status: intent.status } })
  }
  const rail = refundRailOf(deps.rails, intent)
  const totals = refundTotals(intent)
  let value: bigint
  if (params.amount) {
    if (params.amount.asset !== intent.amount.asset) {
      throw new GatewayError('GW_AMOUNT_INVALID', `refund asset ${params.amount.asset} is not the intent's asset ${intent.amount.asset}`)
    }
    value = parseMinorUnits(params.amount.value)
    if (value === 0n) throw new GatewayError('GW_AMOUNT_INVALID', 'a refund amount must be more than 0')
  } else {
    value = totals.captured - totals.succeeded - totals.pending
  }
  if (value <= 0n || totals.succeeded + totals.pending + value > totals.captured) {
    throw exceeds(intent, value)
  }
  const now = clock()
  const record: RefundRecord = {
    id: newId('re'),
    intentId: intent.id,
    merchantId: intent.merchant_id,
    ...(params.dedupeKey !== undefined ? { dedupeKey: params.dedupeKey } : {}),
    status: 'pending',
    amount: { value: value.toString(), asset: intent.amount.asset },
    // Provisional: the reservation below decides it on the intent it commits against.
    railAmount: railAmountFor(intent, value, totals.succeeded + totals.pending, reservedRailAmount(intent, rows)),
    rail: rail.rail,
    ...(params.reason ? { reason: params.reason } : {}),
    actor: params.actor,
    createdAt: now,
    updatedAt: now,
  }
  const ins = await deps.store.insertRefund(record)
  if (!ins.ok) return { ...(await drive(deps, ins.existing, params.signal)), created: false }

  // Reserve the amount in the intent (version-checked): concurrent refunds cannot exceed the capture.
  try {
    // Another driver may have given this row up meanwhile (only after UNRESERVED_GRACE_MS): never reserve then.
    const fresh = await deps.store.getRefund(record.id)
    if (fresh && fresh.status !== 'pending') throw closedBeforeReserved(record.id)
    const first = intent
    let railAmount = record.railAmount
    intent = await commit(deps, intent.id, clock, async (current) => {
      if (current.refunds?.some((r) => r.id === record.id)) return undefined
      if (!REFUNDABLE.has(current.status)) throw new GatewayError('GW_INVALID_TRANSITION', `cannot refund an intent that is ${current.status}`)
      const t = refundTotals(current)
      if (t.succeeded + t.pending + value > t.captured) throw exceeds(current, value)
      if (convertsOnRefund(current)) {
        // The rail amount is decided here, on the very refunds this compare-and-set is based on, so
        // a concurrent or failed refund cannot skew it; it goes on the refund row BEFORE the
        // reservation can commit (whoever counts this refund later, or sends it, reads it there).
        const decided = railAmountFor(current, value, t.succeeded + t.pending, reservedRailAmount(current, current.version === first.version ? rows : await deps.store.listRefunds(current.id)))
        if (decided.value !== railAmount.value) {
          if (!(await deps.store.finishRefund({ ...record, railAmount: decided, updatedAt: clock() }))) throw closedBeforeReserved(record.id)
          railAmount = decided
        }
      }
      const entry: IntentRefund = { id: record.id, amount: record.amount, status: 'pending', created_at: now.toISOString(), ...(record.reason ? { reason: record.reason } : {}) }
      return {
        event: 'annotate',
        actor: params.actor,
        reason: 'refund_requested',
        data: { refund_id: record.id, amount: record.amount, rail_amount: railAmount, rail: record.rail },
        patch: { refunds: [...(current.refunds ?? []), entry] },
      }
    })
  } catch (err) {
    // Nothing was reserved and nothing moved: the refund ends failed, so its dedupe key answers the same.
    await deps.store.finishRefund({ ...record, status: 'failed', code: err instanceof GatewayError ? err.code : 'refund_not_reserved', updatedAt: clock() })
    throw err
  }
  return { ...(await drive(deps, record, params.signal, CREATOR_LEASE_WAIT_MS)), created: true }
}

/**
 * How long a refund row may stay `pending` without its amount reserved in the intent before another
 * driver gives it up (`refund_not_reserved`): its creator reserves it within milliseconds, so only
 * a creator that died in between leaves such a row.
 */
const UNRESERVED_GRACE_MS = 60_000

/**
 * Finish a `pending` refund (its rail outcome was unknown, or a crash came before the rail call):
 * ask the rail what happened to its refund key, and send the same key again only when the rail
 * has no record of it. A finished refund is returned as it is.
 *
 * @example const { refund } = await reconcileRefund({ store, rails }, { refundId: 're_…' })
 */
export async function reconcileRefund(deps: RefundIntentDeps, params: { refundId: string; signal?: AbortSignal | undefined }): Promise<{ refund: RefundRecord; intent: PaymentIntent }> {
  const record = await deps.store.getRefund(params.refundId)
  if (!record) throw new GatewayError('GW_NOT_FOUND', `no refund ${params.refundId}`)
  return drive(deps, record, params.signal)
}

function closedBeforeReserved(refundId: string): GatewayError {
  return new GatewayError('GW_INTENT_CONFLICT', `refund ${refundId} was closed before its amount was reserved; request it again`)
}

function exceeds(intent: PaymentIntent, value: bigint): GatewayError {
  const t = refundTotals(intent)
  const remaining = t.captured - t.succeeded - t.pending
  return new GatewayError('GW_REFUND_EXCEEDS_CAPTURED', `a refund of ${value.toString()} exceeds what remains refundable (${remaining.toString()} of ${t.captured.toString()} ${intent.amount.asset})`, {
    details: { captured: t.captured.toString(), refunded: t.succeeded.toString(), pending: t.pending.toString(), remaining: remaining.toString() },
  })
}

/** Replay-lock namespace of the lease a refund's driver holds while it asks the rail and records the outcome. */
export const REFUND_DRIVER_NAMESPACE = 'refund_driver'

/**
 * How long a driver's lease on a refund lasts: longer than any rail call (the slowest, an EVM
 * refund waiting for its receipt, gives up after 30 s by default and 2 min at most, as the
 * configuration schema allows), so a driver never loses it while its call is under way; a driver
 * that died frees it when it expires.
 */
export const REFUND_DRIVER_LEASE_MS = 5 * 60_000

/**
 * How long the request that created a refund waits for the lease when another driver holds it
 * (a concurrent repeat of the same request that only reads): such a holder lets go within
 * milliseconds, and the creator then sends the refund itself instead of leaving it to the sweeper.
 */
const CREATOR_LEASE_WAIT_MS = 2_000

/**
 * Finish a refund, one driver at a time: the request that created it, a `GET` that re-drives it
 * and the sweeper each take a lease on the refund (a replay lock, across gateway instances) before
 * they read it and ask the rail. Without it, a second driver arriving while the first one's rail
 * call is still under way would find nothing at the rail yet and send the refund key again; a rail
 * that refuses a refund already in progress would then have it recorded as failed while the
 * first call moves the money. A driver that cannot take the lease returns the refund as stored.
 */
async function drive(deps: RefundIntentDeps, given: RefundRecord, signal?: AbortSignal, leaseWaitMs = 0): Promise<{ refund: RefundRecord; intent: PaymentIntent }> {
  const lease = { namespace: REFUND_DRIVER_NAMESPACE, key: given.id, holder: newId('drv') }
  const acquire = (): Promise<boolean> => {
    const now = (deps.clock ?? (() => new Date()))()
    return deps.store.acquireReplayLock({ ...lease, expiresAt: new Date(now.getTime() + REFUND_DRIVER_LEASE_MS), now })
  }
  let leased = await acquire()
  for (const until = Date.now() + leaseWaitMs; !leased && Date.now() < until && !signal?.aborted; ) {
    await new Promise((r) => setTimeout(r, 25))
    leased = await acquire()
  }
  if (!leased) {
    const stored = await deps.store.getIntent(given.intentId)
    if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${given.intentId}`)
    return { refund: (await deps.store.getRefund(given.id)) ?? given, intent: stored.intent }
  }
  try {
    return await driveLeased(deps, given, signal)
  } finally {
    await deps.store.releaseReplayLock(lease).catch(() => undefined)
  }
}

/**
 * {@link drive} under its lease: a `pending` refund asks the rail (query first when it was
 * attempted before, then the same refund key again when the rail has no record of it); a finished
 * one is only reflected in the intent if a crash left that undone.
 */
async function driveLeased(deps: RefundIntentDeps, given: RefundRecord, signal?: AbortSignal): Promise<{ refund: RefundRecord; intent: PaymentIntent }> {
  const stored = await deps.store.getIntent(given.intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${given.intentId}`)
  // The row as it is now, read after the intent: a refund reserved in this intent has its final rail amount on it.
  const record = (await deps.store.getRefund(given.id)) ?? given
  const entry = stored.intent.refunds?.find((r) => r.id === record.id)
  if (record.status !== 'pending' && entry?.status === 'pending') {
    // The row was closed while its reservation was still being committed (a creator that stalled
    // past the grace period, its row given up as unreserved): the intent takes the row's outcome,
    // so the reserved amount is never held for a refund that will not be sent.
    return finish(
      deps,
      { ...record, status: 'pending' },
      record.status === 'succeeded' ? { status: 'succeeded', reference: record.reference ?? '', refundedAt: record.updatedAt.toISOString() } : { status: 'declined', code: record.code ?? 'refund_failed' },
    )
  }
  if (record.status !== 'pending' || !entry) {
    // Failed before it was reserved, or already finished: nothing to send.
    if (record.status === 'pending' && !entry) {
      // Its creator may still be reserving it right now: give a young row up only after the grace period.
      const now = (deps.clock ?? (() => new Date()))()
      if (now.getTime() - record.createdAt.getTime() < UNRESERVED_GRACE_MS) return { refund: record, intent: stored.intent }
      const failed: RefundRecord = { ...record, status: 'failed', code: 'refund_not_reserved', updatedAt: (deps.clock ?? (() => new Date()))() }
      await deps.store.finishRefund(failed)
      return { refund: (await deps.store.getRefund(record.id)) ?? failed, intent: stored.intent }
    }
    return { refund: record, intent: stored.intent }
  }
  if (entry.status !== 'pending') {
    // The intent already has the outcome (a crash came before the refund row was updated).
    return finish(deps, record, entry.status === 'succeeded' ? { status: 'succeeded', reference: entry.reference ?? '', refundedAt: stored.intent.updated_at } : { status: 'declined', code: 'refund_failed' })
  }
  if (BigInt(record.railAmount.value) === 0n) {
    // This part rounds to zero minor units of the settlement asset (an FX settlement in an asset
    // with coarser units: pro rata on the running total, a later part carries the remainder, and a
    // full refund still adds up to the settlement exactly). No rail takes a refund of zero: nothing
    // is sent, and the refund is done as recorded (rail_amount 0, no rail reference).
    return finish(deps, record, { status: 'succeeded', reference: '', refundedAt: (deps.clock ?? (() => new Date()))().toISOString() })
  }
  const rail = deps.rails.get(record.rail)
  if (!rail?.refund) throw new GatewayError('GW_REFUND_UNSUPPORTED', `rail ${record.rail} cannot refund in this gateway`)
  let outcome: RailRefundOutcome | RailRefundQueryOutcome
  const attempted = record.code !== undefined || record.reference !== undefined
  outcome = { status: 'not_found' }
  if (attempted && rail.queryRefund) {
    try {
      outcome = await rail.queryRefund({ intent: stored.intent, refundKey: record.id, reference: record.reference, signal })
    } catch (err) {
      outcome = { status: 'unknown', code: err instanceof GatewayError ? err.code : 'rail_query_error' }
    }
  }
  if (outcome.status === 'not_found') {
    // Mark the attempt BEFORE the rail call: any other driver of this refund (a retry, a GET) now
    // asks the rail first instead of sending the refund a second time.
    if (!attempted) await deps.store.finishRefund({ ...record, status: 'pending', code: 'rail_attempt_in_flight', updatedAt: (deps.clock ?? (() => new Date()))() })
    try {
      outcome = await rail.refund({ intent: stored.intent, amount: record.railAmount, refundKey: record.id, reason: record.reason, signal })
    } catch (err) {
      // An exception means we do not know whether money moved: stay pending, ask the rail next time.
      outcome = { status: 'unknown', code: err instanceof GatewayError ? err.code : 'rail_error' }
    }
  }
  return finish(deps, record, outcome)
}

/** Record a rail outcome on the intent (audit + outbox) and then on the refund row. */
async function finish(deps: RefundIntentDeps, record: RefundRecord, outcome: RailRefundOutcome): Promise<{ refund: RefundRecord; intent: PaymentIntent }> {
  const clock = deps.clock ?? (() => new Date())
  if (outcome.status === 'unknown') {
    const pending: RefundRecord = { ...record, code: outcome.code, ...(outcome.reference ? { reference: outcome.reference } : {}), updatedAt: clock() }
    await deps.store.finishRefund({ ...pending, status: 'pending' })
    if (record.code === pending.code && record.reference === pending.reference) {
      // The same unknown as last time (a refund the rail keeps not answering): the row says when it
      // was asked; the audit chain gets no new event each pass.
      const stored = await deps.store.getIntent(record.intentId)
      if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${record.intentId}`)
      return { refund: pending, intent: stored.intent }
    }
    const intent = await commit(deps, record.intentId, clock, () => ({
      event: 'annotate',
      actor: 'system:refunds',
      reason: outcome.code,
      data: { refund_id: record.id, outcome: 'unknown', ...(outcome.reference ? { reference: outcome.reference } : {}) },
      patch: {},
    }))
    return { refund: pending, intent }
  }
  const { code: _lastUnknown, ...base } = record
  const done: RefundRecord =
    outcome.status === 'succeeded'
      ? { ...base, status: 'succeeded', reference: outcome.reference, updatedAt: clock() }
      : { ...base, status: 'failed', code: outcome.code, updatedAt: clock() }
  const intent = await commit(deps, record.intentId, clock, (current, at) => {
    const entry = current.refunds?.find((r) => r.id === record.id)
    if (!entry || entry.status !== 'pending') return undefined
    const refunds = (current.refunds ?? []).map((r) =>
      r.id === record.id ? { ...r, status: done.status, ...(done.status === 'succeeded' && done.reference ? { reference: done.reference } : {}) } : r,
    )
    if (done.status === 'failed') {
      return {
        event: 'annotate',
        actor: 'system:refunds',
        reason: done.code ?? 'refund_declined',
        data: { refund_id: record.id, outcome: 'declined', code: done.code ?? 'refund_declined' },
        patch: { refunds },
        outbox: (next) => refundOutboxRows(deps, next, done, 'refund.failed', at),
      }
    }
    const t = refundTotals({ ...current, refunds })
    const event = t.succeeded === t.captured ? 'refund_full' : 'refund_partial'
    return {
      event,
      actor: 'system:refunds',
      reason: 'refund_succeeded',
      data: { refund_id: record.id, amount: record.amount, rail_amount: record.railAmount, reference: done.reference ?? '' },
      patch: { refunds },
      outbox: async (next) => [
        ...intentOutboxRows(next, `payment_intent.${next.status}`, deps.destinationsFor?.(next) ?? [], at),
        ...(await refundOutboxRows(deps, next, done, 'refund.succeeded', at)),
      ],
    }
  })
  await deps.store.finishRefund(done)
  return { refund: (await deps.store.getRefund(record.id)) ?? done, intent }
}

/** The refund as the gateway API shows it (`GET /v1/refunds/{id}`) and as webhooks carry it. */
export function refundView(r: RefundRecord): Record<string, unknown> {
  return {
    id: r.id,
    object: 'refund',
    intent_id: r.intentId,
    merchant_id: r.merchantId,
    amount: r.amount,
    rail_amount: r.railAmount,
    rail: r.rail,
    status: r.status,
    ...(r.reference ? { rail_ref: r.reference } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.status === 'failed' && r.code ? { failure_code: r.code } : {}),
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  }
}

async function refundOutboxRows(deps: RefundIntentDeps, intent: PaymentIntent, refund: RefundRecord, type: string, at: Date): Promise<OutboxInsert[]> {
  const rows: OutboxInsert[] = []
  for (const destination of deps.destinationsFor?.(intent) ?? []) {
    const id = newId('evt')
    rows.push({ id, type, destination, aggregateId: intent.id, createdAt: at, payload: JSON.stringify({ id, type, created_at: at.toISOString(), data: { object: refundView(refund) } }) })
  }
  if (refund.status === 'succeeded') for (const source of deps.refundWebhooks ?? []) rows.push(...(await source({ intent, refund, at })))
  return rows
}

interface Change {
  event: 'annotate' | 'refund_partial' | 'refund_full'
  actor: string
  reason: string
  data: Record<string, unknown>
  patch: Partial<PaymentIntent>
  outbox?: ((next: PaymentIntent) => Promise<OutboxInsert[]>) | undefined
}

/**
 * One version-checked change of the intent with its audit event and outbox rows, retried on a
 * concurrent change against the fresh row (`decide` runs again and may refuse, or return
 * `undefined` when there is nothing left to do).
 */
async function commit(deps: RefundIntentDeps, intentId: string, clock: () => Date, decide: (current: PaymentIntent, at: Date) => Change | undefined | Promise<Change | undefined>): Promise<PaymentIntent> {
  for (let attempt = 0; ; attempt++) {
    const stored = await deps.store.getIntent(intentId)
    if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${intentId}`)
    const current = stored.intent
    const now = clock()
    const change = await decide(current, now)
    if (!change) return current
    const t = change.event === 'annotate' ? ({ ok: true, to: current.status } as const) : transition(current.status, change.event)
    if (!t.ok) throw new GatewayError('GW_INVALID_TRANSITION', `cannot ${change.event} an intent that is ${current.status}`)
    const at = now.toISOString()
    const next: PaymentIntent = { ...current, ...change.patch, status: t.to, version: current.version + 1, updated_at: at }
    const event = sealAuditEvent({
      intent_id: current.id,
      seq: stored.auditSeq + 1,
      type: change.event,
      actor: change.actor,
      reason: change.reason,
      from_status: current.status,
      to_status: t.to,
      at,
      data: change.data,
      prev_hash: stored.auditHead,
    })
    const outbox = change.outbox ? await change.outbox(next) : []
    const result = await deps.store.updateIntent({ intent: next, expectedVersion: current.version, event, outbox })
    if (result.ok) return next
    if (result.reason === 'not_found') throw new GatewayError('GW_NOT_FOUND', `no intent ${intentId}`)
    if (attempt >= MAX_CAS_RETRIES) throw new GatewayError('GW_INTENT_CONFLICT', `intent ${intentId} changed concurrently (now version ${result.currentVersion})`)
  }
}
