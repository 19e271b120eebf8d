import type { PaymentIntent } from '../intent/types.js'

/**
 * What policy decided about an intent (DESIGN §4 step 3): `allow` authorises it, `review` parks it
 * in `requires_approval` until a person decides, `deny` declines it with reason codes. Reason codes
 * are snake_case and end up in the audit chain.
 */
export type PolicyDecision =
  | { decision: 'allow'; reasons?: string[] | undefined; constraints?: Record<string, unknown> | undefined }
  | { decision: 'review'; reasons: string[] }
  | { decision: 'deny'; reasons: string[] }

/** The policy port: budgets, tokens, mandate constraints and risk rules implement it. */
export interface PolicyEngine {
  evaluate(intent: PaymentIntent): Promise<PolicyDecision>
}

/** The policy of a gateway with no controls configured: every intent is allowed. */
export const allowAllPolicy: PolicyEngine = {
  async evaluate() {
    return { decision: 'allow', reasons: ['no_policy_configured'] }
  },
}
