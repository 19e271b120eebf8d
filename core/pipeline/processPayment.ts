import { GatewayError, isGatewayError } from '../errors/gatewayError.js'
import type { PaymentIntent } from '../intent/types.js'
import type { PolicyEngine } from '../policy/port.js'
import type { RailAdapter, RailOutcome, RailRegistry } from '../rails/port.js'
import { routerOf, type Router } from '../routing/router.js'
import { applyPolicy } from './applyPolicy.js'
import { settleIntent, type SettleIntentDeps } from './settleIntent.js'
import { approvalFromEvents, wasApproved } from '../approvals/approval.js'
import { submitIntent, type SubmitIntentDeps, type SubmitIntentParameters } from './submitIntent.js'

export interface ProcessPaymentDeps extends SubmitIntentDeps, SettleIntentDeps {
  rails: RailRegistry
  policy?: PolicyEngine | undefined
}

export interface ProcessPaymentParameters<Credential = unknown> extends SubmitIntentParameters {
  /** The secret credential for the rail (signature, agreement, card token): used once, never stored. */
  credential: Credential
  /** Force a rail family; otherwise the first registered rail for the instrument. */
  rail?: string | undefined
  signal?: AbortSignal | undefined
}

export type ProcessPaymentReturnType =
  | { kind: 'settled'; intent: PaymentIntent; outcome: RailOutcome }
  | { kind: 'declined'; intent: PaymentIntent; reasons: string[] }
  | { kind: 'requires_approval'; intent: PaymentIntent; reasons: string[] }
  | { kind: 'processing'; intent: PaymentIntent; outcome: RailOutcome }
  | { kind: 'existing'; intent: PaymentIntent }

/**
 * The rail that settles `intent`: routing's first candidate (core/routing: the routing table, breaker
 * state) when the composition root attached a router to `rails`; otherwise the forced family, or
 * the first registered for its instrument. `settleIntent` takes the failover candidates and the
 * FX quote from the same router.
 */
export function chooseRail(rails: RailRegistry, intent: PaymentIntent, forced?: string, router: Router | undefined = routerOf(rails)): RailAdapter {
  const routed = router?.plan(intent, forced).candidates[0]?.rail
  if (routed) return routed
  const rail = forced ? rails.get(forced) : rails.forInstrument(intent.instrument.type)[0]
  if (!rail || !rail.instruments.includes(intent.instrument.type)) {
    throw new GatewayError('GW_RAIL_UNAVAILABLE', `no rail can settle ${intent.instrument.type}${forced ? ` on ${forced}` : ''}`)
  }
  return rail
}

/**
 * The path of one payment (DESIGN §4) for adapters whose message carries everything needed to pay
 * at once (x402, MPP, AP2, a checkout's complete): submit (exactly once per dedupe key), policy,
 * routing, settlement. A second call with the same dedupe key returns the existing intent
 * (`existing`) and never settles twice.
 */
export async function processPayment<C>(deps: ProcessPaymentDeps, params: ProcessPaymentParameters<C>): Promise<ProcessPaymentReturnType> {
  const { intent, created } = await submitIntent(deps, params)
  if (!created) return (await resumeExisting(deps, params, intent)) ?? { kind: 'existing', intent }
  const rail = chooseRail(deps.rails, intent, params.rail)

  const decided = await applyPolicy(deps, intent)
  if (decided.kind !== 'authorized') return decided
  const { intent: after, outcome } = await settleIntent(deps, { intentId: intent.id, rail, credential: params.credential, actor: params.actor, signal: params.signal })
  if (after.status === 'succeeded') return { kind: 'settled', intent: after, outcome }
  if (after.status === 'failed') return { kind: 'declined', intent: after, reasons: [after.status_reason ?? 'declined'] }
  return { kind: 'processing', intent: after, outcome }
}

// --- approvals (A): the protocol retry of an intent that waited for a person --------------------

/**
 * A second call with the same dedupe key, for an intent that policy parked for approval:
 * - approved (`authorized`, its chain went `requires_approval` → `authorized`): settle it now with
 *   the credential of THIS call (the first call's credential was never used);
 * - still pending: `requires_approval` again, with the original review reasons;
 * - anything else (denied, expired, settled, in flight): `undefined`, the caller answers `existing`
 *   and nothing settles.
 * Two concurrent retries cannot both settle: `start_processing` is a compare-and-set, and the
 * loser answers `existing` with the intent as the winner left it.
 */
async function resumeExisting<C>(deps: ProcessPaymentDeps, params: ProcessPaymentParameters<C>, intent: PaymentIntent): Promise<ProcessPaymentReturnType | undefined> {
  if (intent.status !== 'authorized' && intent.status !== 'requires_approval') return undefined
  const events = await deps.store.listEvents(intent.id)
  if (intent.status === 'requires_approval') {
    return { kind: 'requires_approval', intent, reasons: approvalFromEvents(intent, events, 0)?.reasons ?? [] }
  }
  if (!wasApproved(events)) return undefined
  // The retry must be the payment that was approved: same amount, same instrument, same kind of
  // authorisation (and the same scoped token). A different one never borrows the approval.
  if (!sameApprovedPayment(intent, params)) return undefined
  const rail = chooseRail(deps.rails, intent, params.rail)
  try {
    const { intent: after, outcome } = await settleIntent(deps, { intentId: intent.id, rail, credential: params.credential, actor: params.actor, signal: params.signal })
    if (after.status === 'succeeded') return { kind: 'settled', intent: after, outcome }
    if (after.status === 'failed') return { kind: 'declined', intent: after, reasons: [after.status_reason ?? 'declined'] }
    return { kind: 'processing', intent: after, outcome }
  } catch (err) {
    if (!isGatewayError(err) || (err.code !== 'GW_INTENT_CONFLICT' && err.code !== 'GW_INVALID_TRANSITION')) throw err
    const fresh = await deps.store.getIntent(intent.id)
    return { kind: 'existing', intent: fresh?.intent ?? intent }
  }
}

/** Whether `params` asks for the same payment as the approved `intent` (see resumeExisting). */
function sameApprovedPayment(intent: PaymentIntent, params: ProcessPaymentParameters<unknown>): boolean {
  const a = intent.instrument as unknown as Record<string, unknown>
  const b = params.instrument as unknown as Record<string, unknown>
  const tokenOf = (c: unknown): unknown => (c && typeof c === 'object' ? (c as Record<string, unknown>)['token_id'] : undefined)
  return (
    intent.amount.value === params.amount.value &&
    intent.amount.asset === params.amount.asset &&
    a['type'] === b['type'] &&
    a['ref'] === b['ref'] &&
    a['network'] === b['network'] &&
    intent.authorization.type === params.authorization.type &&
    tokenOf(intent.authorization.constraints) === tokenOf(params.authorization.constraints)
  )
}
