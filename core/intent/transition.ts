import type { IntentEventType, IntentStatus } from './types.js'

/** The inputs of the state machine: every event type except `create` (which opens the chain) and `annotate` (which changes nothing). */
export type TransitionEvent = Exclude<IntentEventType, 'create' | 'annotate'>

/**
 * The legal transitions: for each event, the statuses it may leave from, and where it goes.
 * Anything not listed here is illegal.
 *
 * - `created` is the state between the durable write and the policy decision.
 * - A decline (policy, approval denied or expired) ends in `failed` without touching a rail.
 * - `processing` means a rail call was started: from here only the rail (or reconciliation of an
 *   unknown outcome) can decide, so `cancel` is no longer possible.
 * - Refunds leave from a settled payment only.
 */
export const transitions: Readonly<Record<TransitionEvent, { from: readonly IntentStatus[]; to: IntentStatus }>> = {
  require_approval: { from: ['created'], to: 'requires_approval' },
  authorize: { from: ['created', 'requires_approval'], to: 'authorized' },
  decline: { from: ['created', 'requires_approval'], to: 'failed' },
  start_processing: { from: ['authorized'], to: 'processing' },
  succeed: { from: ['processing'], to: 'succeeded' },
  // `authorized -> failed`: routing found no rail able to take it, before any attempt.
  fail: { from: ['authorized', 'processing'], to: 'failed' },
  cancel: { from: ['created', 'requires_approval', 'authorized'], to: 'canceled' },
  refund_partial: { from: ['succeeded', 'partially_refunded'], to: 'partially_refunded' },
  refund_full: { from: ['succeeded', 'partially_refunded'], to: 'refunded' },
}

/** Statuses no event leaves. */
export const terminalStatuses: readonly IntentStatus[] = ['failed', 'canceled', 'refunded']

export type TransitionResult =
  | { ok: true; from: IntentStatus; to: IntentStatus }
  | { ok: false; from: IntentStatus; event: string; reason: 'illegal_transition' | 'unknown_event' }

/**
 * The intent state machine: one pure function. Returns the next status, or why the event is not
 * allowed from `from`. Never throws.
 *
 * @example transition('authorized', 'start_processing') // { ok: true, from: 'authorized', to: 'processing' }
 */
export function transition(from: IntentStatus, event: string): TransitionResult {
  if (!Object.hasOwn(transitions, event)) return { ok: false, from, event, reason: 'unknown_event' }
  const rule = transitions[event as TransitionEvent]
  if (!rule.from.includes(from)) return { ok: false, from, event, reason: 'illegal_transition' }
  return { ok: true, from, to: rule.to }
}
