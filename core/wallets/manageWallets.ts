import { GatewayError } from '../errors/gatewayError.js'
import { isMinorUnits } from '../money/amount.js'
import type { AssetRegistry } from '../money/assets.js'
import type { Store } from '../store/port.js'
import { newId } from '../util/ids.js'
import type { WalletLimits, WalletRecord, WalletSpend } from './types.js'
import { remainingOf } from './walletPolicy.js'

export interface ManageWalletsDeps {
  store: Store
  assets: AssetRegistry
  clock?: (() => Date) | undefined
}

/** The wallet fields a caller sets (API names, snake_case). Amounts are integer minor units of `asset`. */
export interface WalletSettingsInput {
  limits?: { per_transaction?: string | null | undefined; daily?: string | null | undefined; monthly?: string | null | undefined } | undefined
  merchant_allow_list?: string[] | undefined
  blocked_categories?: string[] | undefined
  approval_threshold?: string | null | undefined
  notify_thresholds_pct?: number[] | undefined
  funding?: { instrument: Record<string, unknown> } | null | undefined
}

export interface CreateWalletParameters extends WalletSettingsInput {
  id?: string | undefined
  user_id: string
  agent_id: string
  asset: string
}

export interface UpdateWalletParameters extends WalletSettingsInput {
  /** Only `granted` may be set here (re-granting consent); revoking is {@link revokeWalletConsent}. */
  consent?: 'granted' | undefined
}

/** The API view of a wallet (`Wallet` in the OpenAPI spec), with what counts against its caps now. */
export interface WalletView {
  id: string
  user_id: string
  agent_id: string
  asset: string
  limits: { per_transaction?: string; daily?: string; monthly?: string }
  merchant_allow_list: string[]
  blocked_categories: string[]
  approval_threshold?: string
  notify_thresholds_pct: number[]
  funding?: { instrument: Record<string, unknown> }
  consent: 'granted' | 'revoked'
  consent_revoked_at?: string
  version: number
  created_at: string
  updated_at: string
  spent: WalletSpend
  remaining: { per_transaction?: string; day?: string; month?: string }
}

const DEFAULT_NOTIFY_PCT = [50, 80, 100]

function amountAt(path: string, v: unknown): string {
  if (!isMinorUnits(v)) throw new GatewayError('GW_AMOUNT_INVALID', `${path}: must be integer minor units as a string of digits (e.g. "5000")`, { details: [{ path }] })
  return v
}

/** Apply API settings onto a wallet (pure; `null` clears an optional setting). */
function applySettings(base: WalletRecord, s: WalletSettingsInput): WalletRecord {
  const w: WalletRecord = { ...base, limits: { ...base.limits } }
  if (s.limits) {
    const keys: Array<[keyof NonNullable<WalletSettingsInput['limits']>, keyof WalletLimits]> = [['per_transaction', 'perTransaction'], ['daily', 'daily'], ['monthly', 'monthly']]
    for (const [api, field] of keys) {
      const v = s.limits[api]
      if (v === undefined) continue
      if (v === null) delete w.limits[field]
      else w.limits[field] = amountAt(`limits.${api}`, v)
    }
  }
  if (s.merchant_allow_list !== undefined) w.merchantAllowList = [...new Set(s.merchant_allow_list)]
  if (s.blocked_categories !== undefined) w.blockedCategories = [...new Set(s.blocked_categories)]
  if (s.approval_threshold === null) delete w.approvalThreshold
  else if (s.approval_threshold !== undefined) w.approvalThreshold = amountAt('approval_threshold', s.approval_threshold)
  if (s.notify_thresholds_pct !== undefined) {
    for (const [i, p] of s.notify_thresholds_pct.entries()) {
      if (!Number.isInteger(p) || p < 1 || p > 100) throw new GatewayError('GW_SCHEMA_INVALID', `notify_thresholds_pct[${i}]: must be an integer from 1 to 100`, { details: [{ path: `notify_thresholds_pct[${i}]` }] })
    }
    w.notifyThresholdsPct = [...new Set(s.notify_thresholds_pct)].sort((a, b) => a - b)
  }
  if (s.funding === null) delete w.funding
  else if (s.funding !== undefined) w.funding = s.funding
  return w
}

/**
 * Create an agent wallet: a sub-wallet of `user_id` that `agent_id` spends from, in one asset of
 * the registry, with optional caps (per transaction, per UTC day, per UTC month), merchant
 * allow-list, blocked categories, approval threshold and notification thresholds (default 50, 80
 * and 100 % of each cap). Consent starts `granted`.
 *
 * @example
 * const w = await createWallet({ store, assets }, { user_id: 'u1', agent_id: 'agent_1', asset: 'iso4217:USD', limits: { daily: '10000' } })
 */
export async function createWallet(deps: ManageWalletsDeps, params: CreateWalletParameters): Promise<WalletRecord> {
  if (!deps.assets.get(params.asset)) throw new GatewayError('GW_ASSET_UNKNOWN', `asset: ${params.asset} is not in the asset registry`, { details: [{ path: 'asset' }] })
  const now = (deps.clock ?? (() => new Date()))()
  const base: WalletRecord = {
    id: params.id ?? newId('wal'),
    userId: params.user_id,
    agentId: params.agent_id,
    asset: params.asset,
    limits: {},
    merchantAllowList: [],
    blockedCategories: [],
    notifyThresholdsPct: DEFAULT_NOTIFY_PCT,
    consent: 'granted',
    version: 1,
    createdAt: now,
    updatedAt: now,
  }
  const wallet = applySettings(base, params)
  if (!(await deps.store.insertWallet(wallet))) throw new GatewayError('GW_WALLET_EXISTS', `a wallet ${wallet.id} exists already`)
  return wallet
}

/**
 * Change a wallet's settings (compare-and-set on its version; a concurrent change is retried on
 * the fresh wallet). The asset, user and agent never change. New caps apply to the next payment;
 * spend already reserved stays.
 *
 * @example await updateWallet({ store, assets }, 'wal_…', { limits: { daily: '20000' }, approval_threshold: null })
 */
export async function updateWallet(deps: ManageWalletsDeps, id: string, params: UpdateWalletParameters): Promise<WalletRecord> {
  return changeWallet(deps, id, (w) => {
    const next = applySettings(w, params)
    if (params.consent === 'granted' && w.consent !== 'granted') {
      // `consentRevokedAt` stays: scoped tokens issued before the last revocation remain refused.
      next.consent = 'granted'
    }
    return next
  })
}

/**
 * Withdraw the user's consent: from now on every payment from the wallet is denied
 * (`wallet_consent_revoked`) and every scoped token of it is refused at once (the token verifier
 * reads the wallet's consent on each presentation). Idempotent.
 *
 * @example await revokeWalletConsent({ store, assets }, 'wal_…')
 */
export async function revokeWalletConsent(deps: ManageWalletsDeps, id: string): Promise<WalletRecord> {
  const now = (deps.clock ?? (() => new Date()))()
  return changeWallet(deps, id, (w) => (w.consent === 'revoked' ? w : { ...w, consent: 'revoked', consentRevokedAt: now }))
}

async function changeWallet(deps: ManageWalletsDeps, id: string, change: (w: WalletRecord) => WalletRecord): Promise<WalletRecord> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await deps.store.getWallet(id)
    if (!current) throw new GatewayError('GW_NOT_FOUND', `no wallet ${id}`)
    const changed = change(current)
    if (changed === current) return current
    const next: WalletRecord = { ...changed, id: current.id, userId: current.userId, agentId: current.agentId, asset: current.asset, version: current.version + 1, updatedAt: (deps.clock ?? (() => new Date()))() }
    const r = await deps.store.updateWallet(next, current.version)
    if (r.ok) return next
    if (r.reason === 'not_found') throw new GatewayError('GW_NOT_FOUND', `no wallet ${id}`)
  }
  throw new GatewayError('GW_WALLET_CONFLICT', `wallet ${id} changed concurrently; retry`)
}

/** The API view of a wallet with its spend in the current UTC day and month. */
export async function walletView(deps: Pick<ManageWalletsDeps, 'store' | 'clock'>, wallet: WalletRecord): Promise<WalletView> {
  const spent = await deps.store.getWalletSpend({ walletId: wallet.id, now: (deps.clock ?? (() => new Date()))() })
  const limits: WalletView['limits'] = {
    ...(wallet.limits.perTransaction !== undefined ? { per_transaction: wallet.limits.perTransaction } : {}),
    ...(wallet.limits.daily !== undefined ? { daily: wallet.limits.daily } : {}),
    ...(wallet.limits.monthly !== undefined ? { monthly: wallet.limits.monthly } : {}),
  }
  return {
    id: wallet.id,
    user_id: wallet.userId,
    agent_id: wallet.agentId,
    asset: wallet.asset,
    limits,
    merchant_allow_list: wallet.merchantAllowList,
    blocked_categories: wallet.blockedCategories,
    ...(wallet.approvalThreshold !== undefined ? { approval_threshold: wallet.approvalThreshold } : {}),
    notify_thresholds_pct: wallet.notifyThresholdsPct,
    ...(wallet.funding ? { funding: wallet.funding } : {}),
    consent: wallet.consent,
    ...(wallet.consentRevokedAt ? { consent_revoked_at: wallet.consentRevokedAt.toISOString() } : {}),
    version: wallet.version,
    created_at: wallet.createdAt.toISOString(),
    updated_at: wallet.updatedAt.toISOString(),
    spent,
    remaining: remainingOf(wallet, spent),
  }
}
