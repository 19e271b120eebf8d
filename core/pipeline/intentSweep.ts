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

export function periodicPass(runOnce: () => Promise<unknown>, intervalMs: number): PeriodicPass {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  return {
    start() {
      if (timer) return
      timer = setInterval(() => {
        running ??= runOnce().finally(() => (running = undefined))
      }, intervalMs)
      timer.unref()
    },
    async stop() {
      clearInterval(timer)
      timer = undefined
      await running
    },
  }
}
