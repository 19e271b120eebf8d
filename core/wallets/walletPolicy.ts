import type { PaymentIntent } from '../intent/types.js'
import type { FxQuoter } from '../fx/port.js'
import type { PolicyContext, PolicyDecision, PolicyEngine } from '../policy/port.js'
import type { OutboxInsert, Store } from '../store/port.js'
import { newId } from '../util/ids.js'
import { spendWindows } from './record.js'
import type { WalletRecord, WalletSpend } from './types.js'

export interface WalletPolicyDeps {
  store: Store
  /** The configured category of a merchant (config `merchants[].category`), if any. */
  merchantCategory?: ((merchantId: string) => string | undefined) | undefined
  /**
   * Outbox destination of threshold notifications (config `wallets.notifications`), or none:
   * then crossings are only visible through `GET /v1/wallets/{id}`.
   */
  notifyDestination?: string | undefined
  clock?: (() => Date) | undefined
  /**
   * FX quotes (routing's quoter, config `fx`): a payment priced in another asset than the wallet's,
   * without a `settlement_amount` yet (routing locks its quote when it settles, after policy), is
   * counted at a quote made now. Absent: such a payment is refused `wallet_asset_mismatch`.
   */
  fx?: Pick<FxQuoter, 'quote' | 'convert'> | undefined
}

/** Reason codes of the wallets engine (snake_case, in the audit chain and in `status_reason`). */
export const WALLET_REASONS = {
  noWallet: 'no_wallet',
  reserved: 'wallet_reserved',
  notFound: 'wallet_not_found',
  agentMismatch: 'wallet_agent_mismatch',
  consentRevoked: 'wallet_consent_revoked',
  assetMismatch: 'wallet_asset_mismatch',
  perTransaction: 'per_transaction_limit_exceeded',
  daily: 'daily_limit_exceeded',
  monthly: 'monthly_limit_exceeded',
  merchantNotAllowed: 'merchant_not_allowed',
  categoryBlocked: 'category_blocked',
  approvalRequired: 'wallet_approval_required',
  fxEstimate: 'wallet_fx_estimate',
  fxUnavailable: 'wallet_fx_unavailable',
} as const

/** The wallet that pays for `intent`: `payer.wallet_id`, else the agent's default wallet. */
export async function walletForIntent(store: Store, intent: PaymentIntent): Promise<{ wallet?: WalletRecord; missing?: string }> {
  if (intent.payer.wallet_id) {
    const w = await store.getWallet(intent.payer.wallet_id)
    return w ? { wallet: w } : { missing: intent.payer.wallet_id }
  }
  const w = await store.getWalletForAgent(intent.payer.agent_id)
  return w ? { wallet: w } : {}
}

/** What the intent costs in the wallet's asset: the amount, or the FX-converted settlement amount. */
export function spendAmountOf(intent: PaymentIntent, wallet: WalletRecord): string | undefined {
  if (intent.amount.asset === wallet.asset) return intent.amount.value
  if (intent.settlement_amount?.asset === wallet.asset) return intent.settlement_amount.value
  return undefined
}

/**
 * The intent's categories: the merchant's configured one always counts (an agent cannot rename it
 * away); `metadata.category` and line items add theirs.
 */
function categoriesOf(intent: PaymentIntent, merchantCategory?: (id: string) => string | undefined): string[] {
  const out = new Set<string>()
  const configured = merchantCategory?.(intent.merchant_id)
  if (configured) out.add(configured)
  const stated = intent.metadata?.category
  if (stated) out.add(stated)
  for (const li of intent.line_items ?? []) if (li.category) out.add(li.category)
  return [...out]
}

/**
 * The wallets policy engine (issue 10): per-agent sub-wallets with a per-transaction cap, daily
 * and monthly caps (UTC calendar day / month), a merchant allow-list, blocked categories, an
 * approval threshold and consent revocation.
 *
 * Order of the checks (the first failing one decides): wallet found and owned by the paying agent
 * → consent → asset (the intent's amount, or its `settlement_amount`, in the wallet asset, else
 * the amount converted at an FX quote made now when `fx` is given) →
 * per-transaction cap → merchant allow-list → blocked categories → approval threshold (`review`
 * unless `ctx.approved`; an amount that no longer fits under the caps is denied at once instead)
 * → the atomic reservation against the daily and monthly caps (`allow` with `wallet_reserved`).
 *
 * Reservations: one per intent (idempotent), atomic in the store across processes. They stop
 * counting as soon as the intent is `failed` or `canceled`, by whichever path (processPayment, the
 * reconciler, cancel, deny, approval expiry), so no path can leak budget; `release` deletes the
 * reservation early (a later engine of a composition refused the intent).
 *
 * Notifications: when a reservation makes the spend of the current day / month cross one of the
 * wallet's `notifyThresholdsPct` of that cap, one `wallet.threshold_reached` webhook is queued in
 * the outbox (once per wallet, period and threshold: a replay lock across processes).
 *
 * @example
 * const policy = composePolicies([createWalletPolicy({ store, notifyDestination: 'wallets' }), riskPolicy])
 */
export function createWalletPolicy(deps: WalletPolicyDeps): PolicyEngine {
  const clock = deps.clock ?? (() => new Date())
  const deny = (reason: string, extra: string[] = []): PolicyDecision => ({ decision: 'deny', reasons: [reason, ...extra] })

  return {
    async evaluate(intent: PaymentIntent, ctx?: PolicyContext): Promise<PolicyDecision> {
      const { wallet, missing } = await walletForIntent(deps.store, intent)
      if (missing) return deny(WALLET_REASONS.notFound)
      if (!wallet) return { decision: 'allow', reasons: [WALLET_REASONS.noWallet] }
      if (wallet.agentId !== intent.payer.agent_id) return deny(WALLET_REASONS.agentMismatch)
      if (wallet.consent !== 'granted') return deny(WALLET_REASONS.consentRevoked)
      let amount = spendAmountOf(intent, wallet)
      let estimated = false
      if (amount === undefined && deps.fx) {
        try {
          const quote = await deps.fx.quote({ from: intent.amount.asset, to: wallet.asset })
          amount = deps.fx.convert(intent.amount, quote).value
          estimated = true
        } catch {
          return deny(WALLET_REASONS.fxUnavailable)
        }
      }
      if (amount === undefined) return deny(WALLET_REASONS.assetMismatch)
      const value = BigInt(amount)
      if (wallet.limits.perTransaction !== undefined && value > BigInt(wallet.limits.perTransaction)) return deny(WALLET_REASONS.perTransaction)
      if (wallet.merchantAllowList.length > 0 && !wallet.merchantAllowList.includes(intent.merchant_id)) return deny(WALLET_REASONS.merchantNotAllowed)
      const blocked = categoriesOf(intent, deps.merchantCategory).filter((c) => wallet.blockedCategories.includes(c))
      if (blocked.length > 0) return deny(WALLET_REASONS.categoryBlocked, blocked.map((c) => `category:${c}`))

      const now = clock()
      if (wallet.approvalThreshold !== undefined && value > BigInt(wallet.approvalThreshold) && !ctx?.approved) {
        // Do not ask a person about a payment the caps refuse anyway (a read; the reservation after
        // approval is the atomic check).
        const spent = await deps.store.getWalletSpend({ walletId: wallet.id, now })
        const over = capExceeded(wallet, spent, value)
        if (over) return deny(over)
        return { decision: 'review', reasons: [WALLET_REASONS.approvalRequired] }
      }

      const r = await deps.store.reserveWalletSpend({
        walletId: wallet.id,
        intentId: intent.id,
        amount,
        asset: wallet.asset,
        daily: wallet.limits.daily,
        monthly: wallet.limits.monthly,
        now,
      })
      if (!r.ok) return deny(r.reason === 'wallet_not_found' ? WALLET_REASONS.notFound : r.reason)
      if (!r.existing && deps.notifyDestination) await notifyCrossings(deps.store, deps.notifyDestination, wallet, intent.id, r.before, r.after, now)
      return {
        decision: 'allow',
        reasons: estimated ? [WALLET_REASONS.reserved, WALLET_REASONS.fxEstimate] : [WALLET_REASONS.reserved],
        constraints: { wallet_id: wallet.id, ...(estimated ? { wallet_spend: { value: amount, asset: wallet.asset } } : {}) },
      }
    },

    async release(intent: PaymentIntent): Promise<void> {
      await deps.store.releaseWalletSpend({ intentId: intent.id })
    },
  }
}

function capExceeded(wallet: WalletRecord, spent: WalletSpend, value: bigint): string | undefined {
  if (wallet.limits.daily !== undefined && BigInt(spent.day) + value > BigInt(wallet.limits.daily)) return WALLET_REASONS.daily
  if (wallet.limits.monthly !== undefined && BigInt(spent.month) + value > BigInt(wallet.limits.monthly)) return WALLET_REASONS.monthly
  return undefined
}

/** Remaining room under each cap (absent when that cap is absent). */
export function remainingOf(wallet: WalletRecord, spent: WalletSpend): { per_transaction?: string; day?: string; month?: string } {
  const rest = (cap: string, used: string): string => {
    const r = BigInt(cap) - BigInt(used)
    return (r > 0n ? r : 0n).toString()
  }
  return {
    ...(wallet.limits.perTransaction !== undefined ? { per_transaction: wallet.limits.perTransaction } : {}),
    ...(wallet.limits.daily !== undefined ? { day: rest(wallet.limits.daily, spent.day) } : {}),
    ...(wallet.limits.monthly !== undefined ? { month: rest(wallet.limits.monthly, spent.month) } : {}),
  }
}

/**
 * The thresholds a reservation crossed: `before < cap × pct / 100 ≤ after`, exact in integers
 * (`before × 100 < cap × pct ≤ after × 100`). Pure.
 */
export function crossedThresholds(cap: string, pcts: readonly number[], before: string, after: string): number[] {
  const c = BigInt(cap)
  if (c <= 0n) return []
  const b = BigInt(before) * 100n
  const a = BigInt(after) * 100n
  return [...new Set(pcts)].sort((x, y) => x - y).filter((p) => b < c * BigInt(p) && c * BigInt(p) <= a)
}

async function notifyCrossings(store: Store, destination: string, wallet: WalletRecord, intentId: string, before: WalletSpend, after: WalletSpend, now: Date): Promise<void> {
  const { dayStart, monthStart } = spendWindows(now)
  const periods = [
    { period: 'day' as const, cap: wallet.limits.daily, start: dayStart, end: new Date(dayStart.getTime() + 86_400_000), before: before.day, after: after.day },
    { period: 'month' as const, cap: wallet.limits.monthly, start: monthStart, end: new Date(Date.UTC(monthStart.getUTCFullYear(), monthStart.getUTCMonth() + 1, 1)), before: before.month, after: after.month },
  ]
  const rows: OutboxInsert[] = []
  for (const p of periods) {
    if (p.cap === undefined) continue
    for (const pct of crossedThresholds(p.cap, wallet.notifyThresholdsPct, p.before, p.after)) {
      // Once per wallet, period and threshold, across processes (a reservation released and made
      // again does not notify twice). Kept one day past the period, then purged.
      const first = await store.acquireReplayLock({
        namespace: 'wallet_notify',
        key: `${wallet.id}:${p.period}:${p.start.toISOString()}:${pct}`,
        holder: intentId,
        expiresAt: new Date(p.end.getTime() + 86_400_000),
        now,
      })
      if (!first) continue
      const id = newId('evt')
      const type = 'wallet.threshold_reached'
      const data = {
        wallet_id: wallet.id,
        user_id: wallet.userId,
        agent_id: wallet.agentId,
        period: p.period,
        period_start: p.start.toISOString(),
        threshold_pct: pct,
        cap: { value: p.cap, asset: wallet.asset },
        spent: { value: p.after, asset: wallet.asset },
        intent_id: intentId,
      }
      rows.push({ id, type, destination, aggregateId: wallet.id, createdAt: now, payload: JSON.stringify({ id, type, created_at: now.toISOString(), data: { object: data } }) })
    }
  }
  await store.enqueueOutbox(rows)
}
