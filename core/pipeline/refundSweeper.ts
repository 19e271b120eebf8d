import { periodicPass } from './intentSweep.js'
import { reconcileRefund, type RefundIntentDeps, type RefundWebhookSource } from './refundIntent.js'

export interface RefundSweeperDeps extends Omit<RefundIntentDeps, 'refundWebhooks'> {
  /** Protocol order webhooks for refunds, read at each refund (mounts register theirs after the gateway is built). */
  refundWebhooks?: (() => readonly RefundWebhookSource[]) | undefined
  logger?: { warn(obj: object, msg: string): void } | undefined
}

export interface RefundSweeper {
  /** One pass over at most `batch` refunds `pending` and unchanged for `minAgeMs`; returns how many it finished. */
  runOnce(now?: Date): Promise<number>
  start(): void
  stop(): Promise<void>
}

/**
 * Finishes refunds nobody is driving any more: every `intervalMs`, each refund still `pending` and
 * unchanged for `minAgeMs` (its rail outcome was unknown, or the rail refunded it but the intent
 * update failed, or its creator died) is driven by {@link reconcileRefund}: the rail is asked
 * about the refund key first, and the same key is sent again only when the rail has no record of
 * it. At most `batch` refunds per pass, the longest unchanged first; a failure is logged and the
 * pass goes on. Safe on several gateway instances and beside a request driving the same refund:
 * the rail deduplicates the key and every change is a compare-and-set (intent version, `pending` row).
 *
 * @example createRefundSweeper({ store, rails, logger }, { intervalMs: 30_000, minAgeMs: 60_000 }).start()
 */
export function createRefundSweeper(deps: RefundSweeperDeps, options: { intervalMs: number; minAgeMs: number; batch?: number }): RefundSweeper {
  const runOnce = async (now = new Date()): Promise<number> => {
    const pending = await deps.store.listPendingRefunds({ updatedBefore: new Date(now.getTime() - options.minAgeMs), limit: options.batch ?? 100 })
    let finished = 0
    for (const refund of pending) {
      try {
        const r = await reconcileRefund(
          { store: deps.store, rails: deps.rails, destinationsFor: deps.destinationsFor, refundWebhooks: deps.refundWebhooks?.(), clock: deps.clock },
          { refundId: refund.id },
        )
        if (r.refund.status !== 'pending') finished++
      } catch (err) {
        deps.logger?.warn({ err, refundId: refund.id, intentId: refund.intentId }, 'refund reconciliation failed; will retry')
      }
    }
    return finished
  }
  return { runOnce, ...periodicPass(() => runOnce(), options.intervalMs) }
}
