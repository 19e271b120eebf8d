import type { RailRegistry } from '../rails/port.js'
import type { Store } from '../store/port.js'
import { forEachIntent, periodicPass } from './intentSweep.js'
import { reconcileIntent } from './settleIntent.js'
import type { DestinationsFor } from './webhookEvent.js'

export interface ReconcilerDeps {
  store: Store
  rails: RailRegistry
  destinationsFor?: DestinationsFor | undefined
  logger?: { warn(obj: object, msg: string): void } | undefined
}

export interface Reconciler {
  /** One pass over every `processing` intent older than `minAgeMs`; returns how many changed status. */
  runOnce(now?: Date): Promise<number>
  start(): void
  stop(): Promise<void>
}

/**
 * Finishes intents whose rail outcome was unknown: every `intervalMs`, each `processing` intent
 * that has not changed for `minAgeMs` is reconciled by querying its rail (never by re-sending).
 * Safe on several gateway instances: each change is a compare-and-set on the intent's version.
 */
export function createReconciler(deps: ReconcilerDeps, options: { intervalMs: number; minAgeMs: number; batch?: number }): Reconciler {
  const runOnce = async (now = new Date()): Promise<number> => {
    let changed = 0
    await forEachIntent(deps.store, 'processing', options.batch ?? 100, async (intent) => {
      if (now.getTime() - Date.parse(intent.updated_at) < options.minAgeMs) return
      const rail = intent.route ? deps.rails.get(intent.route.rail) : undefined
      if (!rail) return
      try {
        const r = await reconcileIntent(deps, { intentId: intent.id, rail, actor: 'system:reconciler' })
        if (r.intent.status !== 'processing') changed++
      } catch (err) {
        deps.logger?.warn({ err, intentId: intent.id }, 'reconciliation failed; will retry')
      }
    })
    return changed
  }
  return { runOnce, ...periodicPass(() => runOnce(), options.intervalMs, (err) => deps.logger?.warn({ err }, 'reconciliation pass failed; the next one retries')) }
}
