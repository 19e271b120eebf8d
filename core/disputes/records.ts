import type { Money } from '../intent/types.js'

/**
 * One refund of a settled intent, as the store keeps it (table `refunds`, migration 0006). The
 * intent's own `refunds[]` mirrors id, amount, status and reference; this record adds what the
 * pipeline needs to finish the refund exactly once: the dedupe key, the rail and the amount the
 * rail moves (the settlement asset, which differs from `amount` after an FX conversion).
 */
export interface RefundRecord {
  /** `re_` + ULID; also the rail's refund key (`out_request_no`, `refundRequestId`, calldata tag), fixed before the first attempt. */
  id: string
  intentId: string
  merchantId: string
  /** Unique per intent: a repeated request with the same key finds this refund instead of making another. */
  dedupeKey?: string | undefined
  status: RefundStatus
  /** In the intent's asset (integer minor units). */
  amount: Money
  /** What the rail moves, in the settlement asset. */
  railAmount: Money
  rail: string
  reason?: string | undefined
  /** The rail's reference (refund id, `trade_no:out_request_no`, tx hash). */
  reference?: string | undefined
  /** Why it failed (the rail's decline code), or the last unknown code while pending. */
  code?: string | undefined
  /** Who asked for it (`merchant:<id>`, `admin:<id>`, `agent:<id>`). */
  actor: string
  createdAt: Date
  updatedAt: Date
}

export type RefundStatus = 'pending' | 'succeeded' | 'failed'

export type InsertRefundResult = { ok: true } | { ok: false; reason: 'duplicate'; existing: RefundRecord }

/** A dispute opened on an intent, with the evidence bundle frozen when it was opened. */
export interface DisputeRecord {
  /** `dp_` + ULID. */
  id: string
  intentId: string
  merchantId: string
  status: DisputeStatus
  /** Reason code given by whoever opened it (`fraudulent`, `product_not_received`, …). */
  reason: string
  /** Amount disputed, in the intent's asset. */
  amount: Money
  note?: string | undefined
  actor: string
  /** The evidence bundle (see `core/disputes/evidence.ts`); JSON, never secrets. */
  evidence: unknown
  createdAt: Date
  updatedAt: Date
}

export type DisputeStatus = 'open' | 'won' | 'lost' | 'closed'
