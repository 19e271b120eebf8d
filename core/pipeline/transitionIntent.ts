import { GatewayError } from '../errors/gatewayError.js'
import { sealAuditEvent } from '../events/audit.js'
import { transition, type TransitionEvent } from '../intent/transition.js'
import type { PaymentIntent } from '../intent/types.js'
import type { Store } from '../store/port.js'
import { releaseScopedTokenOfIntent } from '../tokens/releaseScopedToken.js'
import { intentOutboxRows, type DestinationsFor } from './webhookEvent.js'

export interface TransitionIntentDeps {
  store: Store
  destinationsFor?: DestinationsFor | undefined
  clock?: (() => Date) | undefined
  /** Where a failed follow-up after a committed transition (giving a scoped token back) is reported. */
  logger?: { warn(obj: object, msg: string): void } | undefined
}

export interface TransitionIntentParameters {
  intentId: string
  /** A state-machine event, or `annotate` to record facts (route attempts, a tx hash) without changing the status. */
  event: TransitionEvent | 'annotate'
  /** Who causes it (`admin:<id>`, `system:reconciler`, …), recorded in the audit chain. */
  actor: string
  /** Reason code (snake_case), recorded in the audit chain and as `status_reason` on declines and failures. */
  reason?: string | undefined
  /** Facts for the audit event (never secrets). */
  data?: Record<string, unknown> | undefined
  /**
   * Changes to apply together with the status, computed from the freshest stored intent (so a
   * retry after a concurrent change recomputes them). Must not change id, status or version.
   */
  patch?: ((intent: PaymentIntent) => Partial<Omit<PaymentIntent, 'id' | 'status' | 'version' | 'created_at'>>) | undefined
  /** Fail with GW_INTENT_CONFLICT instead of retrying when the stored version differs. */
  expectedVersion?: number | undefined
}

export type TransitionIntentErrorType = GatewayError

const MAX_CAS_RETRIES = 5

/**
 * Apply one state-machine event to a stored intent: the pure {@link transition} decides, and the
 * new intent, its audit event (chained to the stored head) and outbox rows commit together with a
 * compare-and-set on `version`. A concurrent change is retried against the fresh row (the event
 * may then have become illegal, which is reported, never forced).
 *
 * Every path that ends an intent `failed` or `canceled` passes here, so here (once committed) the
 * scoped token it was paid with is given back when the intent provably moved no money
 * (`releaseScopedTokenOfIntent`: guarded by the redemption it acts on). A failure of that
 * follow-up is logged, never thrown: the transition itself has committed.
 *
 * @example await transitionIntent({ store }, { intentId, event: 'cancel', actor: 'admin:ops' })
 */
export async function transitionIntent(deps: TransitionIntentDeps, params: TransitionIntentParameters): Promise<PaymentIntent> {
  const clock = deps.clock ?? (() => new Date())
  for (let attempt = 0; ; attempt++) {
    const stored = await deps.store.getIntent(params.intentId)
    if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
    const current = stored.intent
    if (params.expectedVersion !== undefined && current.version !== params.expectedVersion) {
      throw new GatewayError('GW_INTENT_CONFLICT', `intent ${current.id} is at version ${current.version}, not ${params.expectedVersion}`)
    }
    const t = params.event === 'annotate' ? ({ ok: true, from: current.status, to: current.status } as const) : transition(current.status, params.event)
    if (!t.ok) {
      throw new GatewayError('GW_INVALID_TRANSITION', `cannot ${params.event} an intent that is ${current.status}`, {
        details: { status: current.status, event: params.event },
      })
    }
    const now = clock()
    const at = now.toISOString()
    const next: PaymentIntent = { ...current, ...(params.patch?.(current) ?? {}), status: t.to, version: current.version + 1, updated_at: at }
    // An annotation records facts only: it must not rewrite why a failed intent failed.
    if (params.event !== 'annotate' && (t.to === 'failed' || params.event === 'cancel') && params.reason) next.status_reason = params.reason
    const event = sealAuditEvent({
      intent_id: current.id,
      seq: stored.auditSeq + 1,
      type: params.event,
      actor: params.actor,
      ...(params.reason ? { reason: params.reason } : {}),
      from_status: current.status,
      to_status: t.to,
      at,
      data: params.data ?? {},
      prev_hash: stored.auditHead,
    })
    // Annotations change no status: nobody outside needs to hear about them.
    const outbox = params.event === 'annotate' ? [] : intentOutboxRows(next, `payment_intent.${t.to}`, deps.destinationsFor?.(next) ?? [], now)
    const result = await deps.store.updateIntent({ intent: next, expectedVersion: current.version, event, outbox })
    if (result.ok) {
      if (params.event !== 'annotate' && (t.to === 'failed' || t.to === 'canceled')) await giveTokenBack(deps, next)
      return next
    }
    if (result.reason === 'not_found') throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
    if (params.expectedVersion !== undefined || attempt >= MAX_CAS_RETRIES) {
      throw new GatewayError('GW_INTENT_CONFLICT', `intent ${current.id} changed concurrently (now version ${result.currentVersion})`)
    }
  }
}

/** After a committed move to `failed` / `canceled`: give its scoped token back when nothing was paid. */
async function giveTokenBack(deps: TransitionIntentDeps, intent: PaymentIntent): Promise<void> {
  try {
    await releaseScopedTokenOfIntent(deps, intent)
  } catch (err) {
    deps.logger?.warn({ err, intentId: intent.id }, 'scoped token of an unpaid intent not given back')
  }
}
