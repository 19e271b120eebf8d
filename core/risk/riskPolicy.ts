import type { PaymentIntent } from '../intent/types.js'
import type { PolicyContext, PolicyDecision, PolicyEngine } from '../policy/port.js'
import { evaluateRule, type RiskFinding, type RiskRuleDeps } from './rules.js'

/** Reason code of an allow whose only objections were review rules a person has approved. */
export const RISK_REVIEW_APPROVED = 'risk_review_approved'

/**
 * The risk rules as a policy engine (W composes it with the wallet engine). Every configured rule
 * runs, in order; the decision is the strictest finding: any `deny` → deny, else any `review` →
 * review (with `{ approved: true }` a person already approved: review findings no longer hold it
 * back, deny findings still do), else allow. The reasons are the fired rules' codes (or
 * `risk_passed` when none fired), and the facts of every finding travel in `constraints.risk`,
 * so processPayment writes the whole evaluation into the audit chain on every path.
 *
 * @example composePolicies([walletPolicy, riskPolicy({ store, config: config.risk })])
 */
export function riskPolicy(deps: RiskRuleDeps): PolicyEngine {
  return {
    async evaluate(intent: PaymentIntent, ctx?: PolicyContext): Promise<PolicyDecision> {
      const findings: RiskFinding[] = []
      for (const rule of deps.config.rules) findings.push(await evaluateRule(deps, rule, intent))
      const denies = findings.filter((f) => f.outcome === 'deny').map((f) => f.reason)
      if (denies.length) return { decision: 'deny', reasons: denies }
      const reviews = findings.filter((f) => f.outcome === 'review').map((f) => f.reason)
      if (reviews.length && !ctx?.approved) return { decision: 'review', reasons: reviews }
      const reasons = reviews.length ? [RISK_REVIEW_APPROVED, ...reviews] : ['risk_passed']
      return { decision: 'allow', reasons, constraints: { risk: findings.map((f) => ({ rule: f.rule, outcome: f.outcome, reason: f.reason, ...(f.facts ? { facts: f.facts } : {}) })) } }
    },
  }
}
