import type BetterSqlite3 from 'better-sqlite3'
import type { DisputeRecord, InsertRefundResult, RefundRecord } from '../../disputes/records.js'
import { disputeFromDoc, disputeToDoc, refundFromDoc, refundToDoc } from '../refundsDisputesDoc.js'

type Write = <T>(run: () => T) => Promise<T>

/**
 * Refunds and disputes on SQLite (migration 0006): the store's section for them delegates here.
 * Writes go through the store's group committer, so they serialise with every other write.
 */
export class SqliteRefundsDisputes {
  #s: ReturnType<typeof prepare> | undefined

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly write: Write,
  ) {}

  private get s(): ReturnType<typeof prepare> {
    return (this.#s ??= prepare(this.db))
  }

  insertRefund(r: RefundRecord): Promise<InsertRefundResult> {
    const doc = refundToDoc(r)
    return this.write((): InsertRefundResult => {
      if (this.s.insertRefund.run(r.id, r.intentId, r.merchantId, r.dedupeKey ?? null, r.status, doc, r.createdAt.toISOString(), r.updatedAt.toISOString()).changes === 1) return { ok: true }
      const existing = r.dedupeKey === undefined ? undefined : this.s.refundByDedupe.get(r.intentId, r.dedupeKey)
      if (!existing) throw new Error(`refund ${r.id} exists already`)
      return { ok: false, reason: 'duplicate', existing: refundFromDoc(existing.doc) }
    })
  }

  async getRefund(id: string): Promise<RefundRecord | undefined> {
    const row = this.s.getRefund.get(id)
    return row ? refundFromDoc(row.doc) : undefined
  }

  async listRefunds(intentId: string): Promise<RefundRecord[]> {
    return this.s.listRefunds.all(intentId).map((row) => refundFromDoc(row.doc))
  }

  finishRefund(r: RefundRecord): Promise<boolean> {
    const doc = refundToDoc(r)
    return this.write(() => this.s.finishRefund.run(r.status, doc, r.updatedAt.toISOString(), r.id).changes === 1)
  }

  async listPendingRefunds(p: { updatedBefore: Date; limit: number }): Promise<RefundRecord[]> {
    return this.s.pendingRefunds.all(p.updatedBefore.toISOString(), p.limit).map((row) => refundFromDoc(row.doc))
  }

  async insertDispute(d: DisputeRecord): Promise<void> {
    const doc = disputeToDoc(d)
    await this.write(() => this.s.insertDispute.run(d.id, d.intentId, d.merchantId, d.status, doc, d.createdAt.toISOString(), d.updatedAt.toISOString()))
  }

  async getDispute(id: string): Promise<DisputeRecord | undefined> {
    const row = this.s.getDispute.get(id)
    return row ? disputeFromDoc(row.doc) : undefined
  }

  async listDisputes(p: { intentId?: string | undefined; merchantId?: string | undefined; limit: number }): Promise<DisputeRecord[]> {
    const rows = this.s.listDisputes.all(p.intentId ?? null, p.intentId ?? null, p.merchantId ?? null, p.merchantId ?? null, p.limit)
    return rows.map((row) => disputeFromDoc(row.doc))
  }
}

function prepare(db: BetterSqlite3.Database) {
  return {
    insertRefund: db.prepare<[string, string, string, string | null, string, string, string, string]>(
      'INSERT INTO refunds (id, intent_id, merchant_id, dedupe_key, status, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    refundByDedupe: db.prepare<[string, string], { doc: string }>('SELECT doc FROM refunds WHERE intent_id = ? AND dedupe_key = ?'),
    getRefund: db.prepare<[string], { doc: string }>('SELECT doc FROM refunds WHERE id = ?'),
    listRefunds: db.prepare<[string], { doc: string }>('SELECT doc FROM refunds WHERE intent_id = ? ORDER BY created_at, id'),
    finishRefund: db.prepare<[string, string, string, string]>("UPDATE refunds SET status = ?, doc = ?, updated_at = ? WHERE id = ? AND status = 'pending'"),
    // ISO-8601 text in UTC compares in time order; the partial index refunds_pending (migration 0007) serves it.
    pendingRefunds: db.prepare<[string, number], { doc: string }>("SELECT doc FROM refunds WHERE status = 'pending' AND updated_at < ? ORDER BY updated_at, id LIMIT ?"),
    insertDispute: db.prepare<[string, string, string, string, string, string, string]>(
      'INSERT INTO disputes (id, intent_id, merchant_id, status, doc, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    getDispute: db.prepare<[string], { doc: string }>('SELECT doc FROM disputes WHERE id = ?'),
    listDisputes: db.prepare<[string | null, string | null, string | null, string | null, number], { doc: string }>(
      'SELECT doc FROM disputes WHERE (? IS NULL OR intent_id = ?) AND (? IS NULL OR merchant_id = ?) ORDER BY id DESC LIMIT ?',
    ),
  }
}
