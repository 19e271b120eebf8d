import { periodicPass } from './intentSweep.js'
import { reconcileRefund, type RefundIntentDeps, type RefundWebhookSource } from './refundIntent.js'

export interface RefundSweeperDeps extends Omit<RefundIntentDeps, 'refundWebhooks'> {
  /** Protocol order webhooks for refunds, read at each refund (mounts register theirs after the gateway is built). */
  refundWebhooks?: (() => readonly RefundWebhookSource[]) | undefined
  logger?: { warn(obj: object, msg: string): void } | undefined
}

export interface RefundSweeper {
  /** One pass over at most `batch` refunds `pending` and unchanged for `minAgeMs`; returns how many it finished. */
  runOnce(now?: Date, signal?: AbortSignal): Promise<number>
  start(): void
  stop(): Promise<void>
}

/**
 * Finishes refunds nobody is driving any more: every `intervalMs`, each refund still `pending` and
 * unchanged for `minAgeMs` (longer than any rail call can take, so that a driver still waiting on
 * the rail is never raced; its rail outcome was unknown, or the rail refunded it but the intent
 * update failed, or its creator died) is driven by {@link reconcileRefund}: the rail is asked
 * about the refund key first, and the same key is sent again only when the rail has no record of
 * it. At most `batch` refunds per pass, the longest unchanged first; a failure is logged and the
 * pass goes on. Safe on several gateway instances and beside a request driving the same refund:
 * the rail deduplicates the key and every change is a compare-and-set (intent version, `pending` row).
 *
 * @example createRefundSweeper({ store, rails, logger }, { intervalMs: 30_000, minAgeMs: 60_000 }).start()
 */
export function createRefundSweeper(deps: RefundSweeperDeps, options: { intervalMs: number; minAgeMs: number; batch?: number }): RefundSweeper {
  const runOnce = async (now = new Date(), signal?: AbortSignal): Promise<number> => {
    const pending = await deps.store.listPendingRefunds({ updatedBefore: new Date(now.getTime() - options.minAgeMs), limit: options.batch ?? 100 })
    let finished = 0
    for (const refund of pending) {
      if (signal?.aborted) break // shutting down: the rest waits for the next process
      try {
        const r = await reconcileRefund(
          { store: deps.store, rails: deps.rails, destinationsFor: deps.destinationsFor, refundWebhooks: deps.refundWebhooks?.(), clock: deps.clock },
          // The signal only stops the pass between refunds: a rail call under way is let finish (its
          // own timeouts bound it), rather than cut into an unknown outcome.
          { refundId: refund.id },
        )
        if (r.refund.status !== 'pending') finished++
      } catch (err) {
        deps.logger?.warn({ err, refundId: refund.id, intentId: refund.intentId }, 'refund reconciliation failed; will retry')
        // To the back of the queue: a refund that keeps failing (its rail removed from the
        // configuration, a webhook source that throws) must not hold the head of every pass.
        const current = await deps.store.getRefund(refund.id).catch(() => undefined)
        if (current?.status === 'pending') await deps.store.finishRefund({ ...current, updatedAt: new Date() }).catch(() => false)
      }
    }
    return finished
  }
  return { runOnce, ...periodicPass((signal) => runOnce(new Date(), signal), options.intervalMs, (err) => deps.logger?.warn({ err }, 'refund sweep failed; the next one retries')) }
}
