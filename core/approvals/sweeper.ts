import { expireApproval, type ApproveIntentDeps } from '../pipeline/approveIntent.js'
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
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  const runOnce = async (now = new Date()): Promise<number> => {
    let expired = 0
    let cursor: string | undefined
    for (;;) {
      const page = await deps.store.listIntents({ status: 'requires_approval', limit: options.batch ?? 100, cursor })
      for (const intent of page.items) {
        try {
          const events = await deps.store.listEvents(intent.id)
          const req = [...events].reverse().find((e) => e.type === 'require_approval')
          const requestedAt = Date.parse(req?.at ?? intent.updated_at)
          if (now.getTime() - requestedAt <= options.ttlSeconds * 1000) continue
          await expireApproval(deps, { intentId: intent.id })
          expired++
        } catch (err) {
          // A concurrent decision won (GW_INVALID_TRANSITION / GW_INTENT_CONFLICT), or the store failed: next pass.
          deps.logger?.warn({ err, intentId: intent.id }, 'approval expiry skipped; will retry')
        }
      }
      if (!page.nextCursor) break
      cursor = page.nextCursor
    }
    for (cursor = undefined; ; ) {
      const page = await deps.store.listIntents({ status: 'authorized', limit: options.batch ?? 100, cursor })
      for (const intent of page.items) {
        try {
          if (now.getTime() - Date.parse(intent.updated_at) <= options.ttlSeconds * 1000) continue
          const approval = (await deps.store.listEvents(intent.id)).find((e) => e.type === 'authorize' && e.from_status === 'requires_approval')
          if (!approval || now.getTime() - Date.parse(approval.at) <= options.ttlSeconds * 1000) continue
          const canceled = await transitionIntent(deps, { intentId: intent.id, event: 'cancel', actor: 'system:approvals', reason: APPROVAL_UNUSED, data: { approved_at: approval.at }, expectedVersion: intent.version })
          await deps.policy?.release?.(canceled)
          expired++
        } catch (err) {
          deps.logger?.warn({ err, intentId: intent.id }, 'unused approval not canceled; will retry')
        }
      }
      if (!page.nextCursor) return expired
      cursor = page.nextCursor
    }
  }
  return {
    runOnce,
    start() {
      if (timer) return
      timer = setInterval(() => {
        running ??= runOnce().finally(() => (running = undefined))
      }, options.intervalMs)
      timer.unref()
    },
    async stop() {
      clearInterval(timer)
      timer = undefined
      await running
    },
  }
}
