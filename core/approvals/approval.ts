import type { AuditEvent, PaymentIntent } from '../intent/types.js'
import type { Store } from '../store/port.js'

/** Where an approval stands. */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired'

/**
 * A person's decision about an intent that policy parked in `requires_approval`. It is not stored
 * on its own: it is read from the intent's audit chain (the `require_approval` event and the
 * `authorize` / `cancel` / `decline` that left `requires_approval`), so it can never disagree with
 * the intent and it commits atomically with every status change.
 */
export interface Approval {
  intent_id: string
  merchant_id: string
  agent_id: string
  amount: PaymentIntent['amount']
  status: ApprovalStatus
  /** The review reasons policy gave when it parked the intent. */
  reasons: string[]
  requested_at: string
  /** When a pending approval is canceled (`approval_expired`) by the sweeper. */
  expires_at: string
  decided_at?: string | undefined
  /** `admin:<id>`, `merchant:<id>`, `approver:link`, `system:approvals` (expiry). */
  decided_by?: string | undefined
  /** Reason code of the decision (`approval_denied`, `approval_expired`, the approver's note…). */
  decision_reason?: string | undefined
}

/** Reason codes the approvals module writes on `cancel`. */
export const APPROVAL_DENIED = 'approval_denied'
export const APPROVAL_EXPIRED = 'approval_expired'
/** An approved intent whose agent never retried within the TTL. */
export const APPROVAL_UNUSED = 'approval_unused'

/** The `require_approval` event that opened the newest approval of the chain, and its index. */
function lastRequest(events: readonly AuditEvent[]): number {
  for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === 'require_approval') return i
  return -1
}

/**
 * Derive the approval of `intent` from its audit chain; `undefined` when policy never asked for one.
 *
 * @example approvalFromEvents(intent, await store.listEvents(intent.id), 86_400)
 */
export function approvalFromEvents(intent: PaymentIntent, events: readonly AuditEvent[], ttlSeconds: number): Approval | undefined {
  const i = lastRequest(events)
  if (i < 0) return undefined
  const req = events[i]!
  const rawReasons = req.data['reasons']
  const reasons = Array.isArray(rawReasons) ? rawReasons.filter((r): r is string => typeof r === 'string') : req.reason ? [req.reason] : []
  const base: Approval = {
    intent_id: intent.id,
    merchant_id: intent.merchant_id,
    agent_id: intent.payer.agent_id,
    amount: intent.amount,
    status: 'pending',
    reasons,
    requested_at: req.at,
    expires_at: new Date(Date.parse(req.at) + ttlSeconds * 1000).toISOString(),
  }
  const decision = events.slice(i + 1).find((e) => e.from_status === 'requires_approval')
  if (!decision) return base
  const status: ApprovalStatus = decision.type === 'authorize' ? 'approved' : decision.reason === APPROVAL_EXPIRED ? 'expired' : 'denied'
  return { ...base, status, decided_at: decision.at, decided_by: decision.actor, ...(decision.reason ? { decision_reason: decision.reason } : {}) }
}

/** Whether a person approved `intent` (its chain went `requires_approval` → `authorized`). */
export function wasApproved(events: readonly AuditEvent[]): boolean {
  return events.some((e) => e.type === 'authorize' && e.from_status === 'requires_approval')
}

/** The approval of one intent, read from the store; `undefined` when there is no such intent or approval. */
export async function getApproval(store: Store, intentId: string, ttlSeconds: number): Promise<Approval | undefined> {
  const stored = await store.getIntent(intentId)
  if (!stored) return undefined
  return approvalFromEvents(stored.intent, await store.listEvents(intentId), ttlSeconds)
}
