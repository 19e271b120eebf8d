import { GatewayError } from '../errors/gatewayError.js'
import type { IntentRoute, Money, PaymentIntent, RailAttempt } from '../intent/types.js'
import type { RailAdapter, RailOutcome } from '../rails/port.js'
import type { Store } from '../store/port.js'
import { transitionIntent } from './transitionIntent.js'
import type { DestinationsFor } from './webhookEvent.js'

export interface SettleIntentDeps {
  store: Store
  destinationsFor?: DestinationsFor | undefined
  clock?: (() => Date) | undefined
}

export interface SettleIntentParameters<Credential = unknown> {
  intentId: string
  rail: RailAdapter<Credential>
  /** The secret credential for the rail: used for this call only, never stored. */
  credential: Credential
  /** Defaults to `settlement_amount ?? amount` of the intent. */
  amount?: Money | undefined
  actor: string
  signal?: AbortSignal | undefined
}

export interface SettleIntentReturnType {
  intent: PaymentIntent
  /** What the rail said on the last call (also recorded in `route.attempts`). */
  outcome: RailOutcome
}

/** The rail idempotency key of an intent: fixed before the first attempt, the same forever. */
export function settlementKey(intent: PaymentIntent): string {
  return intent.route?.idempotency_key ?? `${intent.id}:settle`
}

function attempt(rail: string, outcome: RailOutcome, startedAt: number, at: string): RailAttempt {
  const a: RailAttempt = {
    rail,
    at,
    outcome: outcome.status === 'not_found' ? 'unknown' : outcome.status,
    duration_ms: Math.max(0, Math.round(performance.now() - startedAt)),
  }
  if (outcome.endpoint) a.endpoint = outcome.endpoint
  if (outcome.status === 'declined' || outcome.status === 'unknown') a.code = outcome.code
  if (outcome.status === 'not_found') a.code = 'not_found'
  if ((outcome.status === 'succeeded' || outcome.status === 'unknown') && outcome.reference) a.reference = outcome.reference
  return a
}

/**
 * Steps 5–6 of the path of one payment (DESIGN §4): move an `authorized` intent to `processing`
 * (committed **before** the rail is called, with the idempotency key in `route`), call the rail
 * once, and record the outcome: `succeeded` / `failed` (a decline), or still `processing` when the
 * outcome is unknown — then only {@link reconcileIntent} may finish it.
 *
 * Called again on an intent already `processing`, it first asks the rail (`query`) and re-sends
 * the settlement with the **same** key only when the rail has no record of it: never a blind
 * retry, never a second charge.
 */
export async function settleIntent<C>(deps: SettleIntentDeps, params: SettleIntentParameters<C>): Promise<SettleIntentReturnType> {
  const clock = deps.clock ?? (() => new Date())
  const stored = await deps.store.getIntent(params.intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
  let intent = stored.intent
  const rail = params.rail

  if (intent.status === 'processing') {
    const r = await reconcileIntent(deps, { intentId: intent.id, rail, actor: params.actor, signal: params.signal })
    if (r.outcome.status !== 'not_found') return r
    intent = r.intent
  } else if (intent.status === 'authorized') {
    const key = settlementKey(intent)
    intent = await transitionIntent(deps, {
      intentId: intent.id,
      event: 'start_processing',
      actor: params.actor,
      expectedVersion: intent.version,
      data: { rail: rail.rail, idempotency_key: key },
      patch: (i) => ({ route: { rail: rail.rail, idempotency_key: key, attempts: i.route?.attempts ?? [] } }),
    })
  } else {
    throw new GatewayError('GW_INVALID_TRANSITION', `cannot settle an intent that is ${intent.status}`)
  }

  const amount = params.amount ?? intent.settlement_amount ?? intent.amount
  const started = performance.now()
  let outcome: RailOutcome
  try {
    outcome = await rail.settle({ intent, credential: params.credential, amount, idempotencyKey: settlementKey(intent), signal: params.signal })
  } catch (err) {
    // An exception means we do not know whether money moved: record unknown, reconcile later.
    outcome = { status: 'unknown', code: err instanceof GatewayError ? err.code : 'rail_error' }
  }
  return { intent: await record(deps, intent.id, rail.rail, outcome, started, clock, params.actor), outcome }
}

export interface ReconcileIntentParameters {
  intentId: string
  rail: RailAdapter
  actor: string
  signal?: AbortSignal | undefined
}

/**
 * Finish a `processing` intent from what the rail says about its idempotency key: `succeeded` or
 * `declined` end it; `unknown` and `not_found` leave it `processing` (recorded as an attempt) for a
 * later pass, or for {@link settleIntent} to re-send with the same key when nothing moved.
 */
export async function reconcileIntent(deps: SettleIntentDeps, params: ReconcileIntentParameters): Promise<SettleIntentReturnType> {
  const clock = deps.clock ?? (() => new Date())
  const stored = await deps.store.getIntent(params.intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
  const intent = stored.intent
  if (intent.status !== 'processing') return { intent, outcome: outcomeOf(intent) }
  const started = performance.now()
  let outcome: RailOutcome
  try {
    outcome = await params.rail.query({ intent, idempotencyKey: settlementKey(intent), reference: intent.route?.reference, signal: params.signal })
  } catch (err) {
    outcome = { status: 'unknown', code: err instanceof GatewayError ? err.code : 'rail_query_error' }
  }
  return { intent: await record(deps, intent.id, params.rail.rail, outcome, started, clock, params.actor), outcome }
}

function outcomeOf(intent: PaymentIntent): RailOutcome {
  if (intent.status === 'succeeded' || intent.status === 'partially_refunded' || intent.status === 'refunded')
    return { status: 'succeeded', reference: intent.settlement?.reference ?? '', settledAt: intent.settlement?.settled_at ?? intent.updated_at }
  return { status: 'declined', code: intent.status_reason ?? intent.status }
}

async function record(
  deps: SettleIntentDeps,
  intentId: string,
  rail: string,
  outcome: RailOutcome,
  started: number,
  clock: () => Date,
  actor: string,
): Promise<PaymentIntent> {
  const at = clock().toISOString()
  const withAttempt = (i: PaymentIntent): IntentRoute => {
    const route: IntentRoute = { ...(i.route ?? { rail, attempts: [] }), attempts: [...(i.route?.attempts ?? []), attempt(rail, outcome, started, at)] }
    if (outcome.status === 'unknown' && outcome.reference) route.reference = outcome.reference
    return route
  }
  try {
    return await recordOutcome(deps, intentId, rail, outcome, actor, withAttempt)
  } catch (err) {
    // Another path (a rail notification, a parallel reconciliation) may have finished the intent
    // between our read and this write: then its stored outcome stands and this one is not applied.
    if (err instanceof GatewayError && err.code === 'GW_INVALID_TRANSITION') {
      const now = await deps.store.getIntent(intentId)
      if (now && now.intent.status !== 'processing') return now.intent
    }
    throw err
  }
}

async function recordOutcome(
  deps: SettleIntentDeps,
  intentId: string,
  rail: string,
  outcome: RailOutcome,
  actor: string,
  withAttempt: (i: PaymentIntent) => IntentRoute,
): Promise<PaymentIntent> {
  switch (outcome.status) {
    case 'succeeded':
      return transitionIntent(deps, {
        intentId,
        event: 'succeed',
        actor,
        data: { rail, reference: outcome.reference },
        patch: (i) => ({
          route: withAttempt(i),
          settlement: { rail, reference: outcome.reference, settled_at: outcome.settledAt, ...(outcome.fee ? { fee: outcome.fee } : {}) },
        }),
      })
    case 'declined':
      return transitionIntent(deps, {
        intentId,
        event: 'fail',
        actor,
        reason: outcome.code,
        data: { rail, code: outcome.code, ...(outcome.message ? { message: outcome.message } : {}) },
        patch: (i) => ({ route: withAttempt(i) }),
      })
    case 'unknown':
    case 'not_found':
      return transitionIntent(deps, {
        intentId,
        event: 'annotate',
        actor,
        reason: outcome.status === 'unknown' ? outcome.code : 'not_found',
        data: { rail, outcome: outcome.status, ...(outcome.status === 'unknown' && outcome.reference ? { reference: outcome.reference } : {}) },
        patch: (i) => ({ route: withAttempt(i) }),
      })
  }
}
