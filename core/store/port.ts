import type { AuditEvent, PaymentIntent, IntentStatus } from '../intent/types.js'
import type { DisputeRecord, InsertRefundResult, RefundRecord } from '../disputes/records.js'
import type { ReserveWalletSpendParams, ReserveWalletSpendResult, WalletRecord, WalletSpend } from '../wallets/types.js'

/**
 * The store port (DESIGN §5). Two real implementations (`sqlite/`, `postgres/`) pass the one
 * contract suite in `contract.ts`. Every method that changes an intent also appends its audit
 * event and its outbox rows in the **same transaction**: nothing acknowledged is lost and no
 * webhook is announced for a change that did not commit.
 *
 * Outcomes that callers branch on (a duplicate, a version conflict, a held lock) are values; a
 * thrown error means the store itself failed.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres'

  /** Apply pending migrations (idempotent; safe to run from several processes at once). */
  migrate(): Promise<void>
  /** Cheap round trip proving the store answers (for `/readyz`). */
  ping(): Promise<void>
  close(): Promise<void>

  // --- intents and their audit chain -------------------------------------------------------

  /**
   * Insert a new intent with its first audit event and outbox rows in one transaction.
   * `dedupeKey` (optional, unique per merchant) makes creation exactly-once across processes: a
   * second insert with the same key returns `{ ok: false, reason: 'duplicate', existingId }`.
   */
  insertIntent(params: InsertIntentParams): Promise<InsertIntentResult>
  /**
   * Replace an intent if its stored `version` is still `expectedVersion`, appending the event and
   * outbox rows in the same transaction. The new intent's `version` must be `expectedVersion + 1`
   * and the event's `seq` must follow the stored chain head.
   */
  updateIntent(params: UpdateIntentParams): Promise<UpdateIntentResult>
  getIntent(id: string): Promise<StoredIntent | undefined>
  /** Newest first, keyset-paginated by id (ids sort by creation time). */
  listIntents(params: ListIntentsParams): Promise<ListIntentsResult>
  /** The intent's audit events in `seq` order. */
  listEvents(intentId: string): Promise<AuditEvent[]>
  /** Counts by (protocol, status), for `/metrics`. */
  countIntents(): Promise<Array<{ protocol: string; status: IntentStatus; count: number }>>

  // --- idempotency ----------------------------------------------------------------------------

  /**
   * Claim `(scope, key)` for a request with `fingerprint`. Exactly one concurrent caller gets
   * `claimed` (also across processes); the others see the stored response (`replay`), a
   * `conflict` (another fingerprint), or `in_flight`. A claim whose lease expired (its owner died)
   * may be taken over.
   */
  claimIdempotencyKey(params: ClaimIdempotencyParams): Promise<ClaimIdempotencyResult>
  /** Store the response of a claimed key (only non-5xx responses are stored). */
  completeIdempotencyKey(params: CompleteIdempotencyParams): Promise<void>
  /** Drop a claim without storing a response (5xx, crash cleanup): the key may be used again. */
  releaseIdempotencyKey(params: { scope: string; key: string; owner: string }): Promise<void>
  /** Delete completed keys older than `before`; returns how many. */
  purgeIdempotencyKeys(before: Date): Promise<number>

  // --- outbox -----------------------------------------------------------------------------------

  /** Append outbox rows outside an intent change (e.g. wallet notifications). */
  enqueueOutbox(rows: OutboxInsert[]): Promise<void>
  /**
   * Claim up to `limit` due rows (`next_attempt_at <= now`, not delivered, not dead, lease free or
   * expired) for `workerId` until `now + leaseMs`. On PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
   * several workers never claim the same row while its lease holds.
   */
  claimOutbox(params: { workerId: string; limit: number; now: Date; leaseMs: number }): Promise<OutboxRow[]>
  /** Record one delivery attempt and its result; releases the lease. Only the lease holder may. */
  recordOutboxAttempt(params: RecordOutboxAttemptParams): Promise<void>
  getOutbox(id: string): Promise<OutboxRow | undefined>
  listOutboxAttempts(outboxId: string): Promise<OutboxAttempt[]>
  /** Counts by state, for `/metrics` and tests. */
  countOutbox(): Promise<{ pending: number; delivered: number; dead: number }>

  // --- replay locks -----------------------------------------------------------------------------

  /**
   * Take a single-use lock (an EIP-3009 nonce, an MPP challenge id, a token id) until
   * `expiresAt`. Returns `true` for exactly one caller across processes; `false` while another
   * holder's lock has not expired. An expired lock may be taken again.
   */
  acquireReplayLock(params: { namespace: string; key: string; holder: string; expiresAt: Date; now: Date }): Promise<boolean>
  /** Release a lock held by `holder` (e.g. the payment it guarded failed before any money moved). */
  releaseReplayLock(params: { namespace: string; key: string; holder: string }): Promise<boolean>
  /** Delete locks that expired before `now`; returns how many. */
  purgeReplayLocks(now: Date): Promise<number>

  // --- risk rules (A) -------------------------------------------------------------------------

  /**
   * How many intents (any status) one agent or one payer (`payer.user_id`, else `payer.address`)
   * created at or after `since`, leaving out `excludeId` (the intent being judged). Velocity rules.
   */
  riskCountIntents(params: RiskCountIntentsParams): Promise<number>
  /**
   * Amounts (integer minor units as decimal strings) of the agent's newest `limit` paid intents
   * (`succeeded`, `partially_refunded`, `refunded`) in `asset`, newest first. Amount-anomaly rule.
   */
  riskPaidAmounts(params: RiskPaidAmountsParams): Promise<string[]>
  /** Whether the agent has paid this merchant before (any paid intent). First-purchase rule. */
  riskHasPaidMerchant(params: RiskHasPaidMerchantParams): Promise<boolean>

  // --- checkout sessions (ACP, UCP) ---------------------------------------------------------

  /** Insert a new checkout session (its id is generated: a duplicate id is a bug and throws). */
  insertCheckoutSession(session: CheckoutSessionRecord): Promise<void>
  getCheckoutSession(id: string): Promise<CheckoutSessionRecord | undefined>
  /**
   * Replace a session if its stored version is still `expectedVersion` (`session.version` must be
   * `expectedVersion + 1`): concurrent updates of one checkout cannot both win.
   */
  updateCheckoutSession(session: CheckoutSessionRecord, expectedVersion: number): Promise<UpdateRecordResult>

  // --- tokens (vault tokens, scoped single-use tokens) ---------------------------------------

  insertToken(token: TokenRecord): Promise<void>
  getToken(id: string): Promise<TokenRecord | undefined>
  /**
   * Move a token from state `from` to `to` (optionally replacing its document) for exactly one
   * caller across processes: `true` for the winner, `false` when its state was not `from`.
   * With `expectRedemptionKey` it also requires the stored `doc.redemption.key` to equal it (`null`:
   * no redemption), with `expectUnboundRedemption` that `doc.redemption.intent_id` is absent, and
   * with `expectRedemptionIntentId` that it equals the given intent id (`null`: absent), so a
   * read-then-write never overwrites a newer redemption or bind.
   */
  transitionToken(params: TransitionTokenParameters): Promise<boolean>

  // --- open-mandate spend (AP2 budget / recurrence) -------------------------------------------

  /**
   * Record one use of an open payment mandate (AP2 `payment.budget` / `payment.agent_recurrence`
   * state, shared by every instance). Idempotent by `(mandateId, spendId)`: `false` when that use
   * is already recorded. `amount` is integer minor units as a decimal string.
   */
  addMandateSpend(params: { mandateId: string; spendId: string; amount: string; currency: string; at: Date }): Promise<boolean>
  /** Delete a recorded use (its payment definitively did not happen); `false` when there was none. */
  removeMandateSpend(params: { mandateId: string; spendId: string }): Promise<boolean>
  /** Every recorded use of an open mandate, oldest first. */
  getMandateSpend(mandateId: string): Promise<MandateSpendRecord[]>

  // --- wallets and spend reservations (W) ----------------------------------------------------

  /** Insert a wallet; `false` when its id exists already. */
  insertWallet(wallet: WalletRecord): Promise<boolean>
  getWallet(id: string): Promise<WalletRecord | undefined>
  /** The agent's default wallet: its oldest wallet (by creation time, then id); undefined when none. */
  getWalletForAgent(agentId: string): Promise<WalletRecord | undefined>
  /** Replace a wallet if its stored version is still `expectedVersion` (`wallet.version` must be `expectedVersion + 1`). */
  updateWallet(wallet: WalletRecord, expectedVersion: number): Promise<UpdateRecordResult>
  /**
   * Reserve `amount` of a wallet for an intent, atomically across processes: the current UTC day's
   * and month's reservations (counting only those whose intent is neither `failed` nor `canceled`)
   * plus `amount` must stay within `daily` / `monthly`. Idempotent by `intentId` (a second call
   * returns `existing: true` and reserves nothing). PostgreSQL locks the wallet row; SQLite runs it
   * in one `BEGIN IMMEDIATE` transaction.
   */
  reserveWalletSpend(params: ReserveWalletSpendParams): Promise<ReserveWalletSpendResult>
  /** Give back an intent's reservation; `false` when it had none. */
  releaseWalletSpend(params: { intentId: string }): Promise<boolean>
  /** What counts against the caps now (same rule as {@link Store.reserveWalletSpend}). */
  getWalletSpend(params: { walletId: string; now: Date }): Promise<WalletSpend>

  // --- API keys -------------------------------------------------------------------------------

  /** Insert or replace an API key record (the key itself is never stored: only its SHA-256). */
  putApiKey(record: ApiKeyRecord): Promise<void>
  findApiKey(hash: string): Promise<ApiKeyRecord | undefined>

  // --- refunds and disputes (D) ---------------------------------------------------------------

  /** Insert a refund; a second refund with the same `(intentId, dedupeKey)` returns the first. */
  insertRefund(refund: RefundRecord): Promise<InsertRefundResult>
  getRefund(id: string): Promise<RefundRecord | undefined>
  /** The refunds of an intent, oldest first. */
  listRefunds(intentId: string): Promise<RefundRecord[]>
  /**
   * Record a pending refund's outcome (status, reference, code, updatedAt) for exactly one caller:
   * `false` when the stored refund is no longer `pending` (another path finished it).
   */
  finishRefund(refund: RefundRecord): Promise<boolean>
  /**
   * Refunds still `pending` that have not changed since before `updatedBefore`, the longest
   * unchanged first, at most `limit` (the refund sweeper's work list).
   */
  listPendingRefunds(params: { updatedBefore: Date; limit: number }): Promise<RefundRecord[]>
  insertDispute(dispute: DisputeRecord): Promise<void>
  getDispute(id: string): Promise<DisputeRecord | undefined>
  /** Disputes, newest first; of one intent or one merchant when given. */
  listDisputes(params: { intentId?: string | undefined; merchantId?: string | undefined; limit: number }): Promise<DisputeRecord[]>
}

/** {@link Store.riskCountIntents}: count by agent id or by payer key. (A) */
export interface RiskCountIntentsParams {
  by: 'agent' | 'payer'
  key: string
  since: Date
  excludeId?: string | undefined
}

/** {@link Store.riskPaidAmounts}. (A) */
export interface RiskPaidAmountsParams {
  agentId: string
  asset: string
  limit: number
  excludeId?: string | undefined
}

/** {@link Store.riskHasPaidMerchant}. (A) */
export interface RiskHasPaidMerchantParams {
  agentId: string
  merchantId: string
}

/** One recorded use of an open mandate ({@link Store.addMandateSpend}). */
export interface MandateSpendRecord {
  spendId: string
  /** Integer minor units as a decimal string. */
  amount: string
  currency: string
  at: Date
}

/** An intent as stored, with its audit chain head (so deleting the newest event is detectable). */
export interface StoredIntent {
  intent: PaymentIntent
  /** `hash` of the newest audit event. */
  auditHead: string
  /** `seq` of the newest audit event. */
  auditSeq: number
}

export interface InsertIntentParams {
  intent: PaymentIntent
  /** The `create` event (seq 1). */
  event: AuditEvent
  outbox?: OutboxInsert[] | undefined
  /** Unique per merchant: makes creation exactly-once (`origin` + protocol ref, or a client key). */
  dedupeKey?: string | undefined
}

export type InsertIntentResult = { ok: true } | { ok: false; reason: 'duplicate'; existingId: string }

export interface UpdateIntentParams {
  intent: PaymentIntent
  expectedVersion: number
  event: AuditEvent
  outbox?: OutboxInsert[] | undefined
}

export type UpdateIntentResult =
  | { ok: true }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'version_conflict'; currentVersion: number }

export interface ListIntentsParams {
  limit: number
  /** Return intents with id < cursor (the last id of the previous page). */
  cursor?: string | undefined
  merchantId?: string | undefined
  status?: IntentStatus | undefined
  protocol?: string | undefined
}

export interface ListIntentsResult {
  items: PaymentIntent[]
  /** The cursor for the next page, absent on the last page. */
  nextCursor?: string | undefined
}

export interface ClaimIdempotencyParams {
  /** Caller + method + path, e.g. `agent:a1 POST /v1/intents`. */
  scope: string
  key: string
  /** SHA-256 (hex) of the canonical request. */
  fingerprint: string
  /** Unique id of this attempt (so only the owner can complete or release it). */
  owner: string
  now: Date
  /** How long an in-flight claim blocks others before it may be taken over. */
  leaseMs: number
}

/** A stored response, replayed byte-for-byte. */
export interface StoredResponse {
  status: number
  /** Headers worth replaying (`content-type`, `location`, protocol headers). */
  headers: Record<string, string>
  body: string
}

export type ClaimIdempotencyResult =
  | { kind: 'claimed' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'conflict' }
  | { kind: 'in_flight'; retryAfterMs: number }

export interface CompleteIdempotencyParams {
  scope: string
  key: string
  owner: string
  response: StoredResponse
  now: Date
}

export interface OutboxInsert {
  /** Stable event id (`evt_…`): the receiver de-duplicates by it. */
  id: string
  /** Event type, e.g. `payment_intent.succeeded`. */
  type: string
  /** Destination name from config (`merchant:<id>`), resolved to URL and secret at delivery. */
  destination: string
  /** The exact JSON body to deliver. */
  payload: string
  /** Optional aggregate for ordering and queries (an intent id). */
  aggregateId?: string | undefined
  createdAt: Date
}

export type OutboxState = 'pending' | 'delivered' | 'dead'

export interface OutboxRow extends OutboxInsert {
  state: OutboxState
  attempts: number
  nextAttemptAt: Date
  deliveredAt?: Date | undefined
  claimedBy?: string | undefined
  claimedUntil?: Date | undefined
}

export interface RecordOutboxAttemptParams {
  id: string
  workerId: string
  attempt: number
  at: Date
  durationMs: number
  /** HTTP status, when the receiver answered. */
  statusCode?: number | undefined
  error?: string | undefined
  /** `delivered`, or `retry` at `nextAttemptAt`, or `dead` (gave up). */
  result: { kind: 'delivered' } | { kind: 'retry'; nextAttemptAt: Date } | { kind: 'dead' }
}

export interface OutboxAttempt {
  outboxId: string
  attempt: number
  workerId: string
  at: Date
  durationMs: number
  statusCode?: number | undefined
  error?: string | undefined
  result: 'delivered' | 'retry' | 'dead'
}

export interface ApiKeyRecord {
  /** SHA-256 hex of the key. */
  hash: string
  /** Public id of the key (`key_…`), shown in logs instead of the key. */
  id: string
  kind: 'admin' | 'merchant' | 'agent'
  /** Merchant or agent id this key acts as. */
  principalId: string
  scopes: string[]
  createdAt: Date
  revokedAt?: Date | undefined
}

/** A protocol checkout session (ACP, UCP): the protocol's own object is kept whole in `doc`. */
export interface CheckoutSessionRecord {
  id: string
  protocol: string
  merchantId: string
  status: string
  version: number
  /** The session as the protocol returns it (JSON). Never holds credentials. */
  doc: unknown
  createdAt: Date
  updatedAt: Date
}

export type UpdateRecordResult = { ok: true } | { ok: false; reason: 'not_found' } | { ok: false; reason: 'version_conflict'; currentVersion: number }

/** Parameters of {@link Store.transitionToken}. */
export interface TransitionTokenParameters {
  id: string
  from: string
  to: string
  doc?: unknown
  /** Also require `doc.redemption.key` to be this (`null`: the document has no redemption key). */
  expectRedemptionKey?: string | null | undefined
  /** Also require `doc.redemption.intent_id` to be absent (the redemption is not yet bound to an intent). */
  expectUnboundRedemption?: boolean | undefined
  /** Also require `doc.redemption.intent_id` to be this intent id (`null`: the redemption is bound to no intent). */
  expectRedemptionIntentId?: string | null | undefined
}

/** A token: a vault token (encrypted card in `doc`) or a scoped single-use token. */
export interface TokenRecord {
  id: string
  /** `active`, `used`, `revoked`, … — changed only by {@link Store.transitionToken}. */
  state: string
  expiresAt: Date
  /** JSON document; secrets inside it are encrypted by the caller. */
  doc: unknown
}
