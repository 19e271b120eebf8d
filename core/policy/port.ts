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

/** What the caller knows about the intent beyond the intent itself. */
export interface PolicyContext {
  /**
   * A person already approved this intent (the approval flow re-evaluates after approve): rules
   * that would answer `review` must not review again; hard limits (caps, allow-lists, consent)
   * still apply and may still deny.
   */
  approved?: boolean | undefined
}

/**
 * The policy port: budgets, tokens, mandate constraints and risk rules implement it.
 *
 * An engine that answers `allow` may RESERVE something for the intent (a wallet's spend). Such a
 * reservation is idempotent by intent id (evaluating the same intent twice reserves once) and is
 * given back by {@link PolicyEngine.release}. The wallets engine also stops counting a
 * reservation as soon as its intent is `failed` or `canceled`, whichever path ended it, so a
 * missed `release` call never leaks budget.
 */
export interface PolicyEngine {
  evaluate(intent: PaymentIntent, ctx?: PolicyContext): Promise<PolicyDecision>
  /**
   * The intent ended without paying (`failed`, `canceled`, denied) or a later engine of a
   * composition refused it: give back anything `evaluate` reserved for it. Idempotent; a no-op
   * when nothing was reserved.
   */
  release?(intent: PaymentIntent): Promise<void>
  /** The intent settled (`succeeded`): reservations become spend (e.g. notifications). */
  settled?(intent: PaymentIntent): Promise<void>
}

/** The policy of a gateway with no controls configured: every intent is allowed. */
export const allowAllPolicy: PolicyEngine = {
  async evaluate() {
    return { decision: 'allow', reasons: ['no_policy_configured'] }
  },
}
