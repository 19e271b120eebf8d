import type BetterSqlite3 from 'better-sqlite3'
import type { RiskCountIntentsParams, RiskHasPaidMerchantParams, RiskPaidAmountsParams } from '../port.js'

/** Statuses of an intent whose money moved (a refund later does not undo the purchase for history). */
const PAID = "status IN ('succeeded', 'partially_refunded', 'refunded')"
const AGENT = "json_extract(doc, '$.payer.agent_id')"
const PAYER = "coalesce(json_extract(doc, '$.payer.user_id'), json_extract(doc, '$.payer.address'))"

function prepare(db: BetterSqlite3.Database) {
  return {
    countByAgent: db.prepare<[string, string, string], { n: number }>(`SELECT count(*) AS n FROM intents WHERE ${AGENT} = ? AND created_at >= ? AND id <> ?`),
    countByPayer: db.prepare<[string, string, string], { n: number }>(`SELECT count(*) AS n FROM intents WHERE ${PAYER} = ? AND created_at >= ? AND id <> ?`),
    paidAmounts: db.prepare<[string, string, string, number], { v: string }>(
      `SELECT json_extract(doc, '$.amount.value') AS v FROM intents WHERE ${AGENT} = ? AND ${PAID} AND json_extract(doc, '$.amount.asset') = ? AND id <> ? ORDER BY created_at DESC, id DESC LIMIT ?`,
    ),
    hasPaidMerchant: db.prepare<[string, string], { one: number }>(`SELECT 1 AS one FROM intents WHERE ${AGENT} = ? AND merchant_id = ? AND ${PAID} LIMIT 1`),
  }
}

/**
 * The risk rules' reads on SQLite (migration 0005's expression indexes): the store's section for
 * them delegates here. Reads only, straight from the intents table.
 */
export class SqliteRiskQueries {
  #s: ReturnType<typeof prepare> | undefined

  constructor(private readonly db: BetterSqlite3.Database) {}

  private get s(): ReturnType<typeof prepare> {
    return (this.#s ??= prepare(this.db))
  }

  async countIntents(p: RiskCountIntentsParams): Promise<number> {
    const stmt = p.by === 'agent' ? this.s.countByAgent : this.s.countByPayer
    return stmt.get(p.key, p.since.toISOString(), p.excludeId ?? '')?.n ?? 0
  }

  async paidAmounts(p: RiskPaidAmountsParams): Promise<string[]> {
    return this.s.paidAmounts.all(p.agentId, p.asset, p.excludeId ?? '', Math.max(0, Math.floor(p.limit))).map((r) => String(r.v))
  }

  async hasPaidMerchant(p: RiskHasPaidMerchantParams): Promise<boolean> {
    return this.s.hasPaidMerchant.get(p.agentId, p.merchantId) !== undefined
  }
}
