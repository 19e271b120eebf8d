import type { PaymentIntent } from '../intent/types.js'
import type { PolicyContext, PolicyDecision, PolicyEngine } from './port.js'

/**
 * Compose policy engines into one: every engine runs, in order, and the strictest answer wins
 * (`deny` > `review` > `allow`); the reasons of every engine are concatenated in order (for a
 * `deny`/`review`, only the reasons of the engines that answered that way are kept first, then the
 * rest, so `reasons[0]` is the deciding one). Constraints of allowing engines are merged.
 *
 * An engine that allowed may have reserved something (wallet spend): when a later engine denies
 * or reviews, the earlier engines' `release` is called for that intent, so a refused intent holds
 * no budget. Engines after a `deny` are not run (nothing they reserve could be used). `release`
 * and `settled` are forwarded to every engine that has them.
 *
 * @example
 * const policy = composePolicies([walletPolicy, riskPolicy])
 * const decision = await policy.evaluate(intent)
 */
export function composePolicies(engines: readonly PolicyEngine[]): PolicyEngine {
  const list = [...engines]
  const releaseAll = async (intent: PaymentIntent, which: readonly PolicyEngine[]): Promise<void> => {
    // Every release is attempted even if one throws; the first error is reported after.
    const results = await Promise.allSettled(which.map(async (e) => e.release?.(intent)))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
  }
  return {
    async evaluate(intent: PaymentIntent, ctx?: PolicyContext): Promise<PolicyDecision> {
      const allowed: PolicyEngine[] = []
      const allowReasons: string[] = []
      const reviewReasons: string[] = []
      let constraints: Record<string, unknown> | undefined
      let reviewed = false
      for (const engine of list) {
        let d: PolicyDecision
        try {
          d = await engine.evaluate(intent, ctx)
        } catch (err) {
          // An engine that failed must not leave the earlier ones' reservations behind.
          await releaseAll(intent, allowed).catch(() => {})
          throw err
        }
        if (d.decision === 'deny') {
          await releaseAll(intent, allowed)
          return { decision: 'deny', reasons: [...d.reasons, ...reviewReasons, ...allowReasons] }
        }
        if (d.decision === 'review') {
          reviewed = true
          reviewReasons.push(...d.reasons)
          continue
        }
        allowed.push(engine)
        allowReasons.push(...(d.reasons ?? []))
        if (d.constraints) constraints = { ...constraints, ...d.constraints }
      }
      if (reviewed) {
        await releaseAll(intent, allowed)
        return { decision: 'review', reasons: [...reviewReasons, ...allowReasons] }
      }
      return { decision: 'allow', reasons: allowReasons, ...(constraints ? { constraints } : {}) }
    },
    async release(intent: PaymentIntent): Promise<void> {
      await releaseAll(intent, list)
    },
    async settled(intent: PaymentIntent): Promise<void> {
      await Promise.all(list.map(async (e) => e.settled?.(intent)))
    },
  }
}
