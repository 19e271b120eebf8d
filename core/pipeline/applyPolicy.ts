import type { PaymentIntent } from '../intent/types.js'
import { allowAllPolicy, type PolicyEngine } from '../policy/port.js'
import { transitionIntent, type TransitionIntentDeps } from './transitionIntent.js'

export interface ApplyPolicyDeps extends TransitionIntentDeps {
  policy?: PolicyEngine | undefined
}

export type ApplyPolicyReturnType =
  | { kind: 'authorized'; intent: PaymentIntent }
  | { kind: 'declined' | 'requires_approval'; intent: PaymentIntent; reasons: string[] }

/**
 * Step 3 of the path of one payment (DESIGN §4), for a freshly submitted intent: policy decides,
 * and its decision is recorded with its reasons — `deny` declines, `review` parks the intent in
 * `requires_approval`, `allow` authorizes it (version-checked) with the constraints policy adds.
 * The one place every payment path (processPayment, the settle-after flows) takes this step.
 */
export async function applyPolicy(deps: ApplyPolicyDeps, intent: PaymentIntent): Promise<ApplyPolicyReturnType> {
  const decision = await (deps.policy ?? allowAllPolicy).evaluate(intent)
  if (decision.decision === 'deny' || decision.decision === 'review') {
    const event = decision.decision === 'deny' ? 'decline' : 'require_approval'
    const after = await transitionIntent(deps, {
      intentId: intent.id,
      event,
      actor: 'system:policy',
      reason: decision.reasons[0] ?? (decision.decision === 'deny' ? 'policy_denied' : 'review'),
      data: { reasons: decision.reasons },
    })
    return { kind: decision.decision === 'deny' ? 'declined' : 'requires_approval', intent: after, reasons: decision.reasons }
  }
  const authorized = await transitionIntent(deps, {
    intentId: intent.id,
    event: 'authorize',
    actor: 'system:policy',
    data: { reasons: decision.reasons ?? [] },
    expectedVersion: intent.version,
    ...(decision.constraints
      ? { patch: (i: PaymentIntent) => ({ authorization: { ...i.authorization, constraints: { ...i.authorization.constraints, ...decision.constraints } } }) }
      : {}),
  })
  return { kind: 'authorized', intent: authorized }
}
