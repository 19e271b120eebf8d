/**
 * An agent wallet: a sub-wallet of a user's budget that one agent spends from. Amounts are
 * integer minor units of `asset` as decimal strings (never floats). Days and months are UTC.
 */
export interface WalletRecord {
  /** `wal_…` */
  id: string
  /** The person whose money it is. */
  userId: string
  /** The agent allowed to spend from it. */
  agentId: string
  /** Asset id from the registry (`iso4217:USD`, CAIP-19 token). */
  asset: string
  limits: WalletLimits
  /** When non-empty, only these merchant ids may be paid. */
  merchantAllowList: string[]
  /** Categories (intent `metadata.category`, else the merchant's configured `category`) refused. */
  blockedCategories: string[]
  /** Amounts strictly above it wait for a person (`review`) unless already approved. */
  approvalThreshold?: string | undefined
  /** Webhook when reserved spend crosses these percentages of the daily / monthly cap (default 50, 80, 100). */
  notifyThresholdsPct: number[]
  /** How the wallet is funded (e.g. the instrument an agent pays with), informational. */
  funding?: { instrument: Record<string, unknown> } | undefined
  /** `revoked`: the user withdrew consent; every payment and every scoped token of it is refused. */
  consent: 'granted' | 'revoked'
  consentRevokedAt?: Date | undefined
  /** Optimistic concurrency: bumped by every update. */
  version: number
  createdAt: Date
  updatedAt: Date
}

/** Caps in minor units of the wallet asset; an absent cap does not limit. */
export interface WalletLimits {
  perTransaction?: string | undefined
  /** Per UTC calendar day (00:00:00Z to 24:00:00Z). */
  daily?: string | undefined
  /** Per UTC calendar month. */
  monthly?: string | undefined
}

/** Spend counted against a wallet's caps (reservations whose intent is not failed/canceled). */
export interface WalletSpend {
  /** Minor units reserved in the current UTC day. */
  day: string
  /** Minor units reserved in the current UTC month. */
  month: string
}

export interface ReserveWalletSpendParams {
  walletId: string
  /** Idempotency: one reservation per intent. */
  intentId: string
  /** Minor units of the wallet asset. */
  amount: string
  asset: string
  /** Caps to check atomically (the caller passes the wallet's current limits). */
  daily?: string | undefined
  monthly?: string | undefined
  now: Date
}

export type ReserveWalletSpendResult =
  /** `existing`: the intent already had a reservation (nothing new was reserved). */
  | { ok: true; existing: boolean; before: WalletSpend; after: WalletSpend }
  | { ok: false; reason: 'daily_limit_exceeded' | 'monthly_limit_exceeded'; spent: WalletSpend }
  | { ok: false; reason: 'wallet_not_found' }
