import type { WalletRecord, WalletSpend } from './types.js'

/**
 * The JSON document a store keeps for a wallet (everything except the indexed columns id,
 * user_id, agent_id, version, created_at, updated_at). Shared by both stores so they agree.
 */
export interface WalletDoc {
  asset: string
  limits: WalletRecord['limits']
  merchantAllowList: string[]
  blockedCategories: string[]
  approvalThreshold?: string | undefined
  notifyThresholdsPct: number[]
  funding?: WalletRecord['funding']
  consent: WalletRecord['consent']
  consentRevokedAt?: string | undefined
}

export function walletToDoc(w: WalletRecord): WalletDoc {
  return {
    asset: w.asset,
    limits: w.limits,
    merchantAllowList: w.merchantAllowList,
    blockedCategories: w.blockedCategories,
    ...(w.approvalThreshold !== undefined ? { approvalThreshold: w.approvalThreshold } : {}),
    notifyThresholdsPct: w.notifyThresholdsPct,
    ...(w.funding ? { funding: w.funding } : {}),
    consent: w.consent,
    ...(w.consentRevokedAt ? { consentRevokedAt: w.consentRevokedAt.toISOString() } : {}),
  }
}

export function walletFromRow(row: { id: string; user_id: string; agent_id: string | null; version: number; created_at: Date | string; updated_at: Date | string | null; doc: WalletDoc }): WalletRecord {
  const d = row.doc
  const createdAt = new Date(row.created_at)
  return {
    id: row.id,
    userId: row.user_id,
    agentId: row.agent_id ?? '',
    asset: d.asset,
    limits: d.limits,
    merchantAllowList: d.merchantAllowList,
    blockedCategories: d.blockedCategories,
    ...(d.approvalThreshold !== undefined ? { approvalThreshold: d.approvalThreshold } : {}),
    notifyThresholdsPct: d.notifyThresholdsPct,
    ...(d.funding ? { funding: d.funding } : {}),
    consent: d.consent,
    ...(d.consentRevokedAt ? { consentRevokedAt: new Date(d.consentRevokedAt) } : {}),
    version: row.version,
    createdAt,
    updatedAt: row.updated_at ? new Date(row.updated_at) : createdAt,
  }
}

/** Start of the UTC day and UTC month containing `now` (the windows of the daily / monthly caps). */
export function spendWindows(now: Date): { dayStart: Date; monthStart: Date } {
  const y = now.getUTCFullYear()
  const m = now.getUTCMonth()
  return { dayStart: new Date(Date.UTC(y, m, now.getUTCDate())), monthStart: new Date(Date.UTC(y, m, 1)) }
}

/**
 * Sum reservation rows into day / month spend (exact, bigint). `rows` are the month's rows that
 * count (intent neither failed nor canceled).
 */
export function sumSpend(rows: ReadonlyArray<{ amount: string; at: Date | string }>, dayStart: Date): WalletSpend {
  let day = 0n
  let month = 0n
  const dayMs = dayStart.getTime()
  for (const r of rows) {
    const a = BigInt(r.amount)
    month += a
    if (new Date(r.at).getTime() >= dayMs) day += a
  }
  return { day: day.toString(), month: month.toString() }
}

/**
 * Decide a reservation from the spend before it: the new amount must fit under both caps.
 * Pure, so both stores decide identically.
 */
export function decideReservation(
  before: WalletSpend,
  amount: string,
  caps: { daily?: string | undefined; monthly?: string | undefined },
): { ok: true; after: WalletSpend } | { ok: false; reason: 'daily_limit_exceeded' | 'monthly_limit_exceeded' } {
  const a = BigInt(amount)
  const day = BigInt(before.day) + a
  const month = BigInt(before.month) + a
  if (caps.daily !== undefined && day > BigInt(caps.daily)) return { ok: false, reason: 'daily_limit_exceeded' }
  if (caps.monthly !== undefined && month > BigInt(caps.monthly)) return { ok: false, reason: 'monthly_limit_exceeded' }
  return { ok: true, after: { day: day.toString(), month: month.toString() } }
}
