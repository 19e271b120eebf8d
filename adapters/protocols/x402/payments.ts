/**
 * The pipeline steps an x402 payment goes through, shared by the resource server and the
 * facilitator. The settle-before flow and the facilitator use `processPayment` whole; the
 * settle-after flow needs the upstream call between policy and settlement, so it runs the same
 * steps in two halves ({@link authorizeIntent}, then `settleIntent`).
 */
import type { Logger } from 'pino'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { applyPolicy } from '../../../core/pipeline/applyPolicy.js'
import { reconcileIntent, settlementKey } from '../../../core/pipeline/settleIntent.js'
import { submitIntent, type SubmitIntentParameters } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import type { RailAdapter } from '../../../core/rails/port.js'
import type { HttpAppDeps } from '../../http/app.js'

/** What the x402 roles need from the gateway. */
export interface X402Deps {
  app: HttpAppDeps
  /** The EVM rail as registered (its `RailAdapter` face). */
  rail: RailAdapter
  logger: Logger
  /** Who the audit chain names for this protocol's own steps (default `system:x402`; MPP: `system:mpp`). */
  actor?: string | undefined
}

export type AuthorizeIntentResult =
  | { kind: 'authorized'; intent: PaymentIntent }
  | { kind: 'existing'; intent: PaymentIntent }
  | { kind: 'declined' | 'requires_approval'; intent: PaymentIntent; reasons: string[] }

/**
 * The first half of `processPayment`: submit (exactly once per dedupe key), an optional precheck
 * of a new payment (a decline is recorded), policy, authorize. The caller then settles with
 * `settleIntent`, or cancels.
 */
export async function authorizeIntent(
  d: X402Deps,
  params: SubmitIntentParameters,
  precheck?: (() => Promise<{ ok: true } | { ok: false; reason: string }>) | undefined,
): Promise<AuthorizeIntentResult> {
  const deps = { store: d.app.store, assets: d.app.assets, destinationsFor: d.app.destinationsFor }
  const { intent, created } = await submitIntent(deps, params)
  if (!created) return { kind: 'existing', intent }
  if (precheck) {
    // Checks that must not run for a payment seen before (its authorisation is used on chain by then).
    const c = await precheck()
    if (!c.ok) {
      const after = await transitionIntent(deps, { intentId: intent.id, event: 'decline', actor: d.actor ?? 'system:x402', reason: c.reason, data: { reasons: [c.reason] } })
      return { kind: 'declined', intent: after, reasons: [c.reason] }
    }
  }
  return applyPolicy({ ...deps, policy: d.app.policy }, intent)
}

/** Cancel an authorized intent that will not be settled (the upstream failed first). Never throws. */
export async function cancelIntent(d: X402Deps, intentId: string, reason: string): Promise<void> {
  try {
    await transitionIntent({ store: d.app.store, destinationsFor: d.app.destinationsFor }, { intentId, event: 'cancel', actor: d.actor ?? 'system:x402', reason })
  } catch (err) {
    d.logger.warn({ intent: intentId, err: (err as Error)?.message }, 'could not cancel an x402 intent')
  }
}

const DONE = new Set(['succeeded', 'partially_refunded', 'refunded', 'failed', 'canceled'])

/**
 * Wait up to `waitMs` for a `processing` intent to be decided, asking the rail read-only (never a
 * second broadcast); once the rail knows, the outcome is recorded through `reconcileIntent`.
 * Returns the intent as stored at the end (still `processing` when the chain has not decided).
 */
export async function awaitSettlement(d: X402Deps, intentId: string, waitMs: number): Promise<PaymentIntent | undefined> {
  const deadline = Date.now() + waitMs
  let delay = 50
  for (;;) {
    const stored = await d.app.store.getIntent(intentId)
    if (!stored) return undefined
    const intent = stored.intent
    if (DONE.has(intent.status) || intent.status !== 'processing') return intent
    let decided = false
    try {
      const o = await d.rail.query({ intent, idempotencyKey: settlementKey(intent), reference: intent.route?.reference })
      decided = o.status === 'succeeded' || o.status === 'declined'
    } catch (err) {
      d.logger.warn({ intent: intentId, err: (err as Error)?.message }, 'rail query failed while waiting for a settlement')
    }
    if (decided) {
      try {
        return (await reconcileIntent({ store: d.app.store, destinationsFor: d.app.destinationsFor }, { intentId, rail: d.rail, actor: d.actor ?? 'system:x402' })).intent
      } catch {
        // A concurrent reconciliation recorded it: read it again.
        continue
      }
    }
    if (Date.now() + delay > deadline) return intent
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 1_000)
  }
}

/** Whether an intent's money moved. */
export function isPaid(intent: PaymentIntent): boolean {
  return intent.status === 'succeeded' || intent.status === 'partially_refunded' || intent.status === 'refunded'
}
