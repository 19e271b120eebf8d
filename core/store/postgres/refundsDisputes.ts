import type pg from 'pg'
import type { DisputeRecord, InsertRefundResult, RefundRecord } from '../../disputes/records.js'
import { disputeFromDoc, disputeToDoc, refundFromDoc, refundToDoc } from '../refundsDisputesDoc.js'

const SQL = {
  insertRefund: `INSERT INTO refunds (id, intent_id, merchant_id, dedupe_key, status, doc, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) ON CONFLICT DO NOTHING`,
  refundByDedupe: 'SELECT doc FROM refunds WHERE intent_id = $1 AND dedupe_key = $2',
  getRefund: 'SELECT doc FROM refunds WHERE id = $1',
  listRefunds: 'SELECT doc FROM refunds WHERE intent_id = $1 ORDER BY created_at, id',
  finishRefund: "UPDATE refunds SET status = $1, doc = $2::jsonb, updated_at = $3 WHERE id = $4 AND status = 'pending'",
  pendingRefunds: "SELECT doc FROM refunds WHERE status = 'pending' AND updated_at < $1 ORDER BY updated_at, id LIMIT $2",
  insertDispute: 'INSERT INTO disputes (id, intent_id, merchant_id, status, doc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)',
  getDispute: 'SELECT doc FROM disputes WHERE id = $1',
  listDisputes: 'SELECT doc FROM disputes WHERE ($1::text IS NULL OR intent_id = $1) AND ($2::text IS NULL OR merchant_id = $2) ORDER BY id DESC LIMIT $3',
} as const

/**
 * Refunds and disputes on PostgreSQL (migration 0006): the store's section for them delegates
 * here. The unique `(intent_id, dedupe_key)` index makes a refund exactly-once across instances.
 */
export class PostgresRefundsDisputes {
  constructor(private readonly pool: pg.Pool) {}

  private q<R extends pg.QueryResultRow>(name: keyof typeof SQL, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>({ name: `rd_${name}`, text: SQL[name], values })
  }

  async insertRefund(r: RefundRecord): Promise<InsertRefundResult> {
    const ins = await this.q('insertRefund', [r.id, r.intentId, r.merchantId, r.dedupeKey ?? null, r.status, refundToDoc(r), r.createdAt, r.updatedAt])
    if ((ins.rowCount ?? 0) === 1) return { ok: true }
    const existing = r.dedupeKey === undefined ? undefined : (await this.q<{ doc: unknown }>('refundByDedupe', [r.intentId, r.dedupeKey])).rows[0]
    if (!existing) throw new Error(`refund ${r.id} exists already`)
    return { ok: false, reason: 'duplicate', existing: refundFromDoc(existing.doc) }
  }

  async getRefund(id: string): Promise<RefundRecord | undefined> {
    const row = (await this.q<{ doc: unknown }>('getRefund', [id])).rows[0]
    return row ? refundFromDoc(row.doc) : undefined
  }

  async listRefunds(intentId: string): Promise<RefundRecord[]> {
    return (await this.q<{ doc: unknown }>('listRefunds', [intentId])).rows.map((row) => refundFromDoc(row.doc))
  }

  async finishRefund(r: RefundRecord): Promise<boolean> {
    return ((await this.q('finishRefund', [r.status, refundToDoc(r), r.updatedAt, r.id])).rowCount ?? 0) === 1
  }

  async listPendingRefunds(p: { updatedBefore: Date; limit: number }): Promise<RefundRecord[]> {
    return (await this.q<{ doc: unknown }>('pendingRefunds', [p.updatedBefore, p.limit])).rows.map((row) => refundFromDoc(row.doc))
  }

  async insertDispute(d: DisputeRecord): Promise<void> {
    await this.q('insertDispute', [d.id, d.intentId, d.merchantId, d.status, disputeToDoc(d), d.createdAt, d.updatedAt])
  }

  async getDispute(id: string): Promise<DisputeRecord | undefined> {
    const row = (await this.q<{ doc: unknown }>('getDispute', [id])).rows[0]
    return row ? disputeFromDoc(row.doc) : undefined
  }

  async listDisputes(p: { intentId?: string | undefined; merchantId?: string | undefined; limit: number }): Promise<DisputeRecord[]> {
    return (await this.q<{ doc: unknown }>('listDisputes', [p.intentId ?? null, p.merchantId ?? null, p.limit])).rows.map((row) => disputeFromDoc(row.doc))
  }
}
