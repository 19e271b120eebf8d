import { verifyAuditChain, type VerifyAuditChainResult } from '../events/audit.js'
import type { AuditEvent, PaymentIntent } from '../intent/types.js'
import type { Store } from '../store/port.js'
import type { RefundRecord } from './records.js'

/** Most audit events an evidence bundle carries (the first — `create` — and the newest ones). */
export const EVIDENCE_MAX_EVENTS = 50

/** What a dispute is judged on, frozen when the dispute is opened. JSON; never secrets. */
export interface EvidenceBundle {
  generated_at: string
  intent: PaymentIntent
  audit: {
    /** Whether the whole chain verified (recomputed hashes, no gaps, head = the intent row's head). */
    chain: VerifyAuditChainResult
    /** Total events in the chain; `events` is an excerpt when this is larger. */
    length: number
    events: AuditEvent[]
  }
  /** Why the payment was allowed: the verified authorisation (mandate constraints, allowance, token scope). */
  authorization: PaymentIntent['authorization']
  /** The verified AP2 mandate constraints, when the payment was authorised by a mandate chain. */
  mandates: Array<Record<string, unknown>>
  /** Proof of money movement: the settlement (trade_no, tx hash), every rail attempt's reference, refunds. */
  receipts: {
    settlement?: PaymentIntent['settlement'] | undefined
    attempts: Array<{ rail: string; endpoint?: string | undefined; at: string; outcome: string; reference?: string | undefined; code?: string | undefined }>
    refunds: Array<{ id: string; amount: RefundRecord['amount']; rail_amount: RefundRecord['railAmount']; status: string; rail_ref?: string | undefined; at: string }>
  }
}

/**
 * Assemble a dispute's evidence bundle from the store: the intent, an excerpt of its audit chain
 * with the result of {@link verifyAuditChain} over the whole chain, the authorisation and mandate
 * constraints, and the rail receipts.
 *
 * @example const bundle = await buildEvidence(store, intentId, new Date())
 */
export async function buildEvidence(store: Store, intentId: string, now: Date): Promise<EvidenceBundle | undefined> {
  const [stored, events, refunds] = await Promise.all([store.getIntent(intentId), store.listEvents(intentId), store.listRefunds(intentId)])
  if (!stored) return undefined
  const intent = stored.intent
  const chain = verifyAuditChain(events, { intentId, head: stored.auditHead, seq: stored.auditSeq, status: intent.status })
  const excerpt = events.length <= EVIDENCE_MAX_EVENTS ? events : [events[0]!, ...events.slice(events.length - (EVIDENCE_MAX_EVENTS - 1))]
  const constraints = intent.authorization.constraints
  const mandates = intent.authorization.type === 'ap2.mandate' && constraints ? [constraints] : []
  return {
    generated_at: now.toISOString(),
    intent,
    audit: { chain, length: events.length, events: excerpt },
    authorization: intent.authorization,
    mandates,
    receipts: {
      ...(intent.settlement ? { settlement: intent.settlement } : {}),
      attempts: (intent.route?.attempts ?? []).map((a) => ({
        rail: a.rail,
        at: a.at,
        outcome: a.outcome,
        ...(a.endpoint ? { endpoint: a.endpoint } : {}),
        ...(a.reference ? { reference: a.reference } : {}),
        ...(a.code ? { code: a.code } : {}),
      })),
      refunds: refunds.map((r) => ({ id: r.id, amount: r.amount, rail_amount: r.railAmount, status: r.status, ...(r.reference ? { rail_ref: r.reference } : {}), at: r.updatedAt.toISOString() })),
    },
  }
}
