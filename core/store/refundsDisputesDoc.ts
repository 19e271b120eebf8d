import type { DisputeRecord, RefundRecord } from '../disputes/records.js'

/**
 * JSON documents of the refund and dispute records (migration 0006), shared by both dialects:
 * dates as ISO strings, absent optionals omitted.
 */
export function refundToDoc(r: RefundRecord): string {
  return JSON.stringify({ ...r, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() })
}

export function refundFromDoc(doc: unknown): RefundRecord {
  const d = (typeof doc === 'string' ? JSON.parse(doc) : doc) as Omit<RefundRecord, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string }
  return { ...d, createdAt: new Date(d.createdAt), updatedAt: new Date(d.updatedAt) }
}

export function disputeToDoc(r: DisputeRecord): string {
  return JSON.stringify({ ...r, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() })
}

export function disputeFromDoc(doc: unknown): DisputeRecord {
  const d = (typeof doc === 'string' ? JSON.parse(doc) : doc) as Omit<DisputeRecord, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string }
  return { ...d, createdAt: new Date(d.createdAt), updatedAt: new Date(d.updatedAt) }
}
