import type pg from 'pg'
import type { RiskCountIntentsParams, RiskHasPaidMerchantParams, RiskPaidAmountsParams } from '../port.js'

const PAID = "status IN ('succeeded', 'partially_refunded', 'refunded')"
const AGENT = "(doc -> 'payer' ->> 'agent_id')"
const PAYER = "(coalesce(doc -> 'payer' ->> 'user_id', doc -> 'payer' ->> 'address'))"

const SQL = {
  countByAgent: `SELECT count(*)::int AS n FROM intents WHERE ${AGENT} = $1 AND created_at >= $2 AND id <> $3`,
  countByPayer: `SELECT count(*)::int AS n FROM intents WHERE ${PAYER} = $1 AND created_at >= $2 AND id <> $3`,
  paidAmounts: `SELECT doc -> 'amount' ->> 'value' AS v FROM intents WHERE ${AGENT} = $1 AND ${PAID} AND doc -> 'amount' ->> 'asset' = $2 AND id <> $3 ORDER BY created_at DESC, id DESC LIMIT $4`,
  hasPaidMerchant: `SELECT 1 AS one FROM intents WHERE ${AGENT} = $1 AND merchant_id = $2 AND ${PAID} LIMIT 1`,
} as const

/**
 * The risk rules' reads on PostgreSQL (migration 0005's expression indexes): the store's section
 * for them delegates here. Reads only, straight from the intents table.
 */
export class PostgresRiskQueries {
  constructor(private readonly pool: pg.Pool) {}

  private q<R extends pg.QueryResultRow>(name: keyof typeof SQL, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>({ name: `risk_${name}`, text: SQL[name], values })
  }

  async countIntents(p: RiskCountIntentsParams): Promise<number> {
    const r = await this.q<{ n: number }>(p.by === 'agent' ? 'countByAgent' : 'countByPayer', [p.key, p.since, p.excludeId ?? ''])
    return r.rows[0]?.n ?? 0
  }

  async paidAmounts(p: RiskPaidAmountsParams): Promise<string[]> {
    return (await this.q<{ v: string }>('paidAmounts', [p.agentId, p.asset, p.excludeId ?? '', Math.max(0, Math.floor(p.limit))])).rows.map((r) => r.v)
  }

  async hasPaidMerchant(p: RiskHasPaidMerchantParams): Promise<boolean> {
    return (await this.q('hasPaidMerchant', [p.agentId, p.merchantId])).rows.length > 0
  }
}
