import { expireApproval, type ApproveIntentDeps } from '../pipeline/approveIntent.js'
import { forEachIntent, periodicPass } from '../pipeline/intentSweep.js'
import { transitionIntent } from '../pipeline/transitionIntent.js'
import { APPROVAL_UNUSED } from './approval.js'

export interface ApprovalSweeperDeps extends ApproveIntentDeps {
  logger?: { warn(obj: object, msg: string): void } | undefined
}

export interface ApprovalSweeper {
  /** One pass over every `requires_approval` (and approved, never retried) intent; returns how many it canceled. */
  runOnce(now?: Date): Promise<number>
  start(): void
  stop(): Promise<void>
}

/**
 * Expires approvals nobody decided: every `intervalMs`, each intent that has waited in
 * `requires_approval` longer than `ttlSeconds` (counted from its `require_approval` event) is
 * canceled with reason `approval_expired` (actor `system:approvals`) and policy gives back its
 * reservation. Safe on several gateway instances: each expiry is a compare-and-set on the
 * intent's version, so a concurrent approval or a second sweeper loses cleanly.
 *
 * An approved intent whose agent never came back to pay (still `authorized` `ttlSeconds` after
 * the approval) is canceled too (`approval_unused`), so an approval does not hold wallet budget
 * forever; a retry that starts settling first wins the compare-and-set.
 */
export function createApprovalSweeper(deps: ApprovalSweeperDeps, options: { intervalMs: number; ttlSeconds: number; batch?: number }): ApprovalSweeper {
  const ttlMs = options.ttlSeconds * 1000
  const runOnce = async (now = new Date()): Promise<number> => {
    let expired = 0
    await forEachIntent(deps.store, 'requires_approval', options.batch ?? 100, async (intent) => {
      try {
        const events = await deps.store.listEvents(intent.id)
        const req = [...events].reverse().find((e) => e.type === 'require_approval')
        if (now.getTime() - Date.parse(req?.at ?? intent.updated_at) <= ttlMs) return
        await expireApproval(deps, { intentId: intent.id })
        expired++
      } catch (err) {
        // A concurrent decision won (GW_INVALID_TRANSITION / GW_INTENT_CONFLICT), or the store failed: next pass.
        deps.logger?.warn({ err, intentId: intent.id }, 'approval expiry skipped; will retry')
      }
    })
    await forEachIntent(deps.store, 'authorized', options.batch ?? 100, async (intent) => {
      try {
        if (now.getTime() - Date.parse(intent.updated_at) <= ttlMs) return
        const approval = (await deps.store.listEvents(intent.id)).find((e) => e.type === 'authorize' && e.from_status === 'requires_approval')
        if (!approval || now.getTime() - Date.parse(approval.at) <= ttlMs) return
        const canceled = await transitionIntent(deps, { intentId: intent.id, event: 'cancel', actor: 'system:approvals', reason: APPROVAL_UNUSED, data: { approved_at: approval.at }, expectedVersion: intent.version })
        await deps.policy?.release?.(canceled)
        expired++
      } catch (err) {
        deps.logger?.warn({ err, intentId: intent.id }, 'unused approval not canceled; will retry')
      }
    })
    return expired
  }
  return { runOnce, ...periodicPass(() => runOnce(), options.intervalMs, (err) => deps.logger?.warn({ err }, 'approval sweep failed; the next one retries')) }
}
