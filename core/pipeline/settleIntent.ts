import { GatewayError, isGatewayError } from '../errors/gatewayError.js'
import { lockFxQuote } from '../fx/lockFxQuote.js'
import type { IntentRoute, Money, PaymentIntent, RailAttempt } from '../intent/types.js'
import type { RailAdapter, RailOutcome } from '../rails/port.js'
import { routerOf, type RouteCandidate, type RoutePlan, type Router } from '../routing/router.js'
import { classifyTransportCode, shouldFailover, type AttemptResult } from '../routing/rules.js'
import type { Store } from '../store/port.js'
import { transitionIntent } from './transitionIntent.js'
import type { DestinationsFor } from './webhookEvent.js'

export interface SettleIntentDeps {
  store: Store
  destinationsFor?: DestinationsFor | undefined
  clock?: (() => Date) | undefined
  /** Routing and FX (core/routing); defaults to the router the composition root attached to the rail. */
  routing?: Router | undefined
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
  /**
   * Routing's endpoint order for `rail` and the rails to fail over to when nothing was sent
   * (`shouldFailover(…, 'rail')`). Default: the router's plan for the intent, when `rail` is in it.
   */
  route?: { endpoints?: readonly string[] | undefined; failover?: readonly RouteCandidate[] | undefined } | undefined
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
  let rail: RailAdapter<C> = params.rail
  const router = deps.routing ?? routerOf(params.rail)
  let plan: RoutePlan | undefined
  let candidates: RouteCandidate[] = [{ rail: rail as RailAdapter, ...(params.route?.endpoints ? { endpoints: params.route.endpoints } : {}) }]

  if (intent.status === 'processing') {
    const r = await reconcileIntent(deps, { intentId: intent.id, rail, actor: params.actor, signal: params.signal })
    if (r.outcome.status !== 'not_found') return r
    intent = r.intent
  } else if (intent.status === 'authorized') {
    // Routing (core/routing): endpoint order, failover rails, and the settlement asset.
    plan = router ? planOf(router, intent, rail.rail) : undefined
    const mine = plan?.candidates.findIndex((c) => c.rail.rail === rail.rail) ?? -1
    const endpoints = params.route?.endpoints ?? (mine >= 0 ? plan?.candidates[mine]?.endpoints : undefined)
    const failover = params.route?.failover ?? (mine >= 0 ? plan?.candidates.slice(mine + 1) : [])
    candidates = [{ rail: rail as RailAdapter, ...(endpoints ? { endpoints } : {}) }, ...(failover ?? [])]
    // FX: a fresh quote into the settlement asset, locked into the intent before anything is sent.
    if (plan || intent.fx_quote) {
      try {
        intent = await lockFxQuote(deps, { intent, to: plan?.settlementAsset ?? intent.fx_quote?.to ?? intent.amount.asset, quoter: router?.fx, actor: params.actor, signal: params.signal })
      } catch (err) {
        if (!isGatewayError(err) || err.code !== 'GW_FX_UNAVAILABLE') throw err
        const failed = await transitionIntent(deps, { intentId: intent.id, event: 'fail', actor: params.actor, reason: 'fx_unavailable', data: { message: err.message } })
        return { intent: failed, outcome: { status: 'declined', code: 'fx_unavailable', message: err.message } }
      }
    }
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
  for (let i = 0; ; i++) {
    const candidate = candidates[i]
    const started = performance.now()
    let outcome: RailOutcome
    try {
      outcome = await rail.settle({ intent, credential: params.credential, amount, idempotencyKey: settlementKey(intent), signal: params.signal, ...(candidate?.endpoints ? { endpoints: candidate.endpoints } : {}) })
    } catch (err) {
      // An exception means we do not know whether money moved: record unknown, reconcile later.
      outcome = { status: 'unknown', code: err instanceof GatewayError ? err.code : 'rail_error' }
    }
    const next = candidates[i + 1]
    // Another rail only when this one provably received nothing (core/routing shouldFailover),
    // on this call and on every earlier attempt recorded for it.
    if (next && shouldFailover(classifyOutcome(outcome), 'rail') && !possiblySentOn(intent, rail.rail)) {
      intent = await failOver(deps, intent.id, rail.rail, next.rail.rail, outcome, started, clock, params.actor)
      rail = next.rail as RailAdapter<C>
      continue
    }
    return { intent: await record(deps, intent.id, rail.rail, outcome, started, clock, params.actor), outcome }
  }
}

/** The routing view of a rail outcome (core/routing/rules). */
export function classifyOutcome(outcome: RailOutcome): AttemptResult {
  switch (outcome.status) {
    case 'succeeded':
      return { kind: 'succeeded' }
    case 'declined':
      return { kind: 'declined', code: outcome.code }
    case 'not_found':
      return { kind: 'not_processed' }
    case 'unknown':
      return classifyTransportCode(outcome.code)
  }
}

/**
 * Whether the intent's recorded attempts on `rail` include one that may have reached it (outcome
 * unknown, other than a not-sent transport code). Then a later not-sent outcome on that rail must
 * not fail over to another rail (another account, no shared key): the earlier send could still
 * complete late and the payer would be charged twice.
 */
export function possiblySentOn(intent: PaymentIntent, rail: string): boolean {
  return (intent.route?.attempts ?? []).some((a) => a.rail === rail && (a.outcome === 'unknown' || a.outcome === 'error') && (a.code === undefined || classifyTransportCode(a.code).kind !== 'not_sent'))
}

function planOf(router: Router, intent: PaymentIntent, rail: string): RoutePlan | undefined {
  // No routing row or registered rail for the instrument: the caller chose `rail` itself (a forced
  // rail, perhaps one registered outside the gateway): plan for that one, or not at all.
  for (const forced of [undefined, rail]) {
    try {
      return router.plan(intent, forced)
    } catch (err) {
      if (!isGatewayError(err) || err.code !== 'GW_RAIL_UNAVAILABLE') throw err
    }
  }
  return undefined
}

/** Record the attempt on `from` that sent nothing and move the intent's route to `to` (audit `rail_failover`). */
async function failOver(deps: SettleIntentDeps, intentId: string, from: string, to: string, outcome: RailOutcome, started: number, clock: () => Date, actor: string): Promise<PaymentIntent> {
  const at = clock().toISOString()
  return transitionIntent(deps, {
    intentId,
    event: 'annotate',
    actor,
    reason: 'rail_failover',
    data: { from, to, code: outcome.status === 'unknown' ? outcome.code : outcome.status },
    patch: (i) => ({ route: { ...(i.route ?? { attempts: [] }), rail: to, attempts: [...(i.route?.attempts ?? []), attempt(from, outcome, started, at)] } }),
  })
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
