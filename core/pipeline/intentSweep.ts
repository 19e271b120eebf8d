import type { IntentStatus, PaymentIntent } from '../intent/types.js'
import type { Store } from '../store/port.js'

/**
 * Visit every intent in `status`, newest first, page by page (`batch` per page). Shared by the
 * background passes (reconciler, approval sweeper); `visit` handles its own errors.
 */
export async function forEachIntent(store: Store, status: IntentStatus, batch: number, visit: (intent: PaymentIntent) => Promise<void>): Promise<void> {
  let cursor: string | undefined
  for (;;) {
    const page = await store.listIntents({ status, limit: batch, cursor })
    for (const intent of page.items) await visit(intent)
    if (!page.nextCursor) return
    cursor = page.nextCursor
  }
}

/** A background pass run every `intervalMs`, never two at once; `stop` waits for the running one. */
export interface PeriodicPass {
  start(): void
  stop(): Promise<void>
}

/**
 * Run `runOnce` every `intervalMs`. A pass that throws (the store unreachable for its list query)
 * is reported to `onError` and the next tick tries again: a background pass never takes the
 * process down with an unhandled rejection. `stop` aborts the signal the running pass was given
 * (it should stop between items) and waits for it.
 */
export function periodicPass(runOnce: (signal: AbortSignal) => Promise<unknown>, intervalMs: number, onError?: (err: unknown) => void): PeriodicPass {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopping = new AbortController()
  return {
    start() {
      if (timer) return
      stopping = new AbortController()
      timer = setInterval(() => {
        running ??= runOnce(stopping.signal)
          .catch((err: unknown) => onError?.(err))
          .finally(() => (running = undefined))
      }, intervalMs)
      timer.unref()
    },
    async stop() {
      clearInterval(timer)
      timer = undefined
      stopping.abort()
      await running
    },
  }
}
