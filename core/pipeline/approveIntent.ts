import { APPROVAL_DENIED, APPROVAL_EXPIRED } from '../approvals/approval.js'
import { GatewayError } from '../errors/gatewayError.js'
import type { PaymentIntent } from '../intent/types.js'
import { allowAllPolicy, type PolicyEngine } from '../policy/port.js'
import { transitionIntent, type TransitionIntentDeps } from './transitionIntent.js'

export interface ApproveIntentDeps extends TransitionIntentDeps {
  /** Re-evaluated with `{ approved: true }` on approval: hard limits (caps, allow-lists) still apply. */
  policy?: PolicyEngine | undefined
}

export interface DecideIntentParameters {
  intentId: string
  /** Who decides: `admin:<id>`, `merchant:<id>`, `approver:link`; recorded in the audit chain. */
  actor: string
  /** The approver's note (at most 256 characters), recorded with the decision. */
  note?: string | undefined
  /** Pending approvals older than this are expired instead of approved (seconds). */
  ttlSeconds?: number | undefined
}

export type ApproveIntentReturnType =
  | { kind: 'approved'; intent: PaymentIntent }
  /** A hard limit refused it even with the approval (e.g. the daily cap filled up meanwhile). */
  | { kind: 'declined'; intent: PaymentIntent; reasons: string[] }
  /** It had waited longer than `ttlSeconds`: it is now `canceled` (`approval_expired`). */
  | { kind: 'expired'; intent: PaymentIntent }

async function loadPending(deps: TransitionIntentDeps, intentId: string): Promise<{ intent: PaymentIntent; requestedAt: string }> {
  const stored = await deps.store.getIntent(intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${intentId}`)
  const intent = stored.intent
  if (intent.status !== 'requires_approval') {
    throw new GatewayError('GW_INVALID_TRANSITION', `intent ${intentId} is ${intent.status}, not awaiting approval`, { details: { status: intent.status } })
  }
  const events = await deps.store.listEvents(intentId)
  const req = [...events].reverse().find((e) => e.type === 'require_approval')
  return { intent, requestedAt: req?.at ?? intent.updated_at }
}

/**
 * A person approves an intent waiting in `requires_approval`. Policy runs again with
 * `{ approved: true }` (review rules stand down; hard limits still apply and reserve budget), then
 * the intent moves to `authorized` with the approver as actor; the agent's protocol retry settles
 * it (see processPayment). A hard-limit refusal declines it (`failed`); an approval that waited
 * past `ttlSeconds` expires instead. Compare-and-set on the version: a concurrent decision (another
 * approver, the expiry sweeper) makes this one fail with GW_INVALID_TRANSITION or GW_INTENT_CONFLICT.
 *
 * @example await approveIntent({ store, policy }, { intentId, actor: 'admin:ops', ttlSeconds: 86_400 })
 */
export async function approveIntent(deps: ApproveIntentDeps, params: DecideIntentParameters): Promise<ApproveIntentReturnType> {
  const clock = deps.clock ?? (() => new Date())
  const { intent, requestedAt } = await loadPending(deps, params.intentId)
  if (params.ttlSeconds !== undefined && clock().getTime() - Date.parse(requestedAt) > params.ttlSeconds * 1000) {
    return { kind: 'expired', intent: await expireApproval(deps, { intentId: intent.id, actor: 'system:approvals' }) }
  }
  const policy = deps.policy ?? allowAllPolicy
  const decision = await policy.evaluate(intent, { approved: true })
  const data = { approval: 'approved', requested_at: requestedAt, policy: decision.decision, reasons: decision.reasons ?? [], ...(params.note ? { note: params.note } : {}) }
  if (decision.decision === 'deny') {
    const declined = await transitionIntent(deps, {
      intentId: intent.id,
      event: 'decline',
      actor: params.actor,
      reason: decision.reasons[0] ?? 'policy_denied',
      data,
      expectedVersion: intent.version,
    })
    await policy.release?.(declined)
    return { kind: 'declined', intent: declined, reasons: decision.reasons }
  }
  try {
    const approved = await transitionIntent(deps, {
      intentId: intent.id,
      event: 'authorize',
      actor: params.actor,
      reason: 'approved',
      data,
      expectedVersion: intent.version,
      ...(decision.decision === 'allow' && decision.constraints
        ? { patch: (i: PaymentIntent) => ({ authorization: { ...i.authorization, constraints: { ...i.authorization.constraints, ...decision.constraints } } }) }
        : {}),
    })
    return { kind: 'approved', intent: approved }
  } catch (err) {
    // Someone else decided first. Reservations are per intent id: keep it if the winner approved
    // too, give it back otherwise.
    const now = (await deps.store.getIntent(intent.id))?.intent
    if (now && (now.status === 'requires_approval' || now.status === 'failed' || now.status === 'canceled')) await policy.release?.(now)
    throw err
  }
}

/**
 * A person denies an intent waiting in `requires_approval`: it is `canceled` with reason
 * `approval_denied` and the approver as actor, and policy gives back any reservation. It never
 * settles.
 *
 * @example await denyIntent({ store, policy }, { intentId, actor: 'merchant:m1', note: 'not for work' })
 */
export async function denyIntent(deps: ApproveIntentDeps, params: DecideIntentParameters): Promise<PaymentIntent> {
  const { intent, requestedAt } = await loadPending(deps, params.intentId)
  const denied = await transitionIntent(deps, {
    intentId: intent.id,
    event: 'cancel',
    actor: params.actor,
    reason: APPROVAL_DENIED,
    data: { approval: 'denied', requested_at: requestedAt, ...(params.note ? { note: params.note } : {}) },
    expectedVersion: intent.version,
  })
  await deps.policy?.release?.(denied)
  return denied
}

/**
 * Expire a pending approval: `canceled` with reason `approval_expired` (actor
 * `system:approvals`), reservations given back. Used by the sweeper and by an approval that
 * arrives too late.
 */
export async function expireApproval(deps: ApproveIntentDeps, params: { intentId: string; actor?: string | undefined }): Promise<PaymentIntent> {
  const { intent, requestedAt } = await loadPending(deps, params.intentId)
  const expired = await transitionIntent(deps, {
    intentId: intent.id,
    event: 'cancel',
    actor: params.actor ?? 'system:approvals',
    reason: APPROVAL_EXPIRED,
    data: { approval: 'expired', requested_at: requestedAt },
    expectedVersion: intent.version,
  })
  await deps.policy?.release?.(expired)
  return expired
}
