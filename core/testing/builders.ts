import { GENESIS_HASH, sealAuditEvent } from '../events/audit.js'
import type { AuditEvent, IntentEventType, IntentStatus, PaymentIntent } from '../intent/types.js'
import type { StoredIntent, UpdateIntentParams } from '../store/port.js'
import { newId } from '../util/ids.js'

/**
 * A valid canonical intent (status `created`, version 1, a fresh `pi_` ULID id) with `overrides`
 * applied on top. Timestamps default to now.
 */
export function buildIntent(overrides: Partial<PaymentIntent> = {}): PaymentIntent {
  const now = new Date().toISOString()
  return {
    id: newId('pi'),
    merchant_id: 'm_test',
    created_at: now,
    updated_at: now,
    agent_initiated: true,
    origin: { protocol: 'gateway', version: '1', ref: newId('req') },
    payer: { agent_id: 'agent_test' },
    amount: { value: '1999', asset: 'iso4217:USD' },
    instrument: { type: 'gateway.token', ref: 'tok_test' },
    authorization: { type: 'gateway.api_key' },
    status: 'created',
    version: 1,
    metadata: { order: 'o-1', note: 'caf\u00e9 \u2713 "quoted" \\ back' },
    ...overrides,
  }
}

/** The sealed `create` event (seq 1, genesis prev_hash) of `intent`. */
export function buildCreateEvent(intent: PaymentIntent, actor = `agent:${intent.payer.agent_id}`): AuditEvent {
  return sealAuditEvent({
    intent_id: intent.id,
    seq: 1,
    type: 'create',
    actor,
    from_status: null,
    to_status: intent.status,
    at: intent.created_at,
    data: { amount: intent.amount },
    prev_hash: GENESIS_HASH,
  })
}

export interface NextEventOptions {
  type: IntentEventType
  to_status: IntentStatus
  actor?: string
  reason?: string
  at?: string
  data?: Record<string, unknown>
}

/** The sealed event that follows the stored chain head of `stored` (seq + 1, prev_hash = head). */
export function buildNextEvent(stored: StoredIntent, options: NextEventOptions): AuditEvent {
  return sealAuditEvent({
    intent_id: stored.intent.id,
    seq: stored.auditSeq + 1,
    type: options.type,
    actor: options.actor ?? 'system:test',
    ...(options.reason !== undefined ? { reason: options.reason } : {}),
    from_status: stored.intent.status,
    to_status: options.to_status,
    at: options.at ?? new Date().toISOString(),
    data: options.data ?? {},
    prev_hash: stored.auditHead,
  })
}

/**
 * A complete `updateIntent` call moving `stored` to `options.to_status`: the next intent
 * (version + 1, new status, updated_at = the event time) and its next event.
 */
export function buildNextUpdate(stored: StoredIntent, options: NextEventOptions): UpdateIntentParams & { event: AuditEvent } {
  const event = buildNextEvent(stored, options)
  const intent: PaymentIntent = {
    ...stored.intent,
    status: options.to_status,
    updated_at: event.at,
    version: stored.intent.version + 1,
  }
  return { intent, expectedVersion: stored.intent.version, event }
}
