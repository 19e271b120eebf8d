import Database from 'better-sqlite3'
import type BetterSqlite3 from 'better-sqlite3'
import type { AuditEvent, IntentStatus, PaymentIntent } from '../../intent/types.js'
import { migrateSqlite } from '../migrate.js'
import type {
  ApiKeyRecord,
  CheckoutSessionRecord,
  MandateSpendRecord,
  TokenRecord,
  UpdateRecordResult,
  ClaimIdempotencyParams,
  ClaimIdempotencyResult,
  CompleteIdempotencyParams,
  InsertIntentParams,
  InsertIntentResult,
  ListIntentsParams,
  ListIntentsResult,
  OutboxAttempt,
  OutboxInsert,
  OutboxRow,
  OutboxState,
  RecordOutboxAttemptParams,
  Store,
  StoredIntent,
  UpdateIntentParams,
  UpdateIntentResult,
} from '../port.js'
import { checkInsert, checkUpdate, decideExistingClaim, isStorableResponse, StoreUsageError } from '../shared.js'
import { GroupCommitter, type GroupCommitStats } from './groupCommit.js'
import { SqliteRefundsDisputes } from './refundsDisputes.js'
import { SqliteRiskQueries } from './riskQueries.js'
import type { RiskCountIntentsParams, RiskHasPaidMerchantParams, RiskPaidAmountsParams } from '../port.js'
import type { TransitionTokenParameters } from '../port.js'
import type { DisputeRecord, InsertRefundResult, RefundRecord } from '../../disputes/records.js'
import { decideReservation, spendWindows, sumSpend, walletFromRow, walletToDoc, type WalletDoc } from '../../wallets/record.js'
import type { ReserveWalletSpendParams, ReserveWalletSpendResult, WalletRecord, WalletSpend } from '../../wallets/types.js'

export interface SqliteStoreOptions {
  /** Database file (created if missing). */
  path: string
  /** How long a writer waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number
}

/** The SQLite store, plus its group-commit counters (for tests and benchmarks). */
export interface SqliteStore extends Store {
  readonly dialect: 'sqlite'
  readonly groupCommitStats: GroupCommitStats
}

/**
 * The embedded store (DESIGN §5): one better-sqlite3 connection, WAL, `synchronous=FULL` (every
 * acknowledged write survives power loss). Writes go through a {@link GroupCommitter}: calls of the
 * same event-loop turn share one transaction and one fsync. Reads run directly and see committed
 * data only. Several processes may share the file: `BEGIN IMMEDIATE` serialises their writers and
 * `busy_timeout` makes them wait for each other.
 */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStoreImpl(options)
}

const iso = (d: Date): string => d.toISOString()

interface OutboxDbRow {
  id: string
  type: string
  destination: string
  payload: string
  aggregate_id: string | null
  state: OutboxState
  attempts: number
  next_attempt_at: string
  claimed_by: string | null
  claimed_until: string | null
  created_at: string
  delivered_at: string | null
}

interface AttemptDbRow {
  outbox_id: string
  attempt: number
  worker_id: string
  at: string
  duration_ms: number
  status_code: number | null
  error: string | null
  result: OutboxAttempt['result']
}

interface IdempotencyDbRow {
  fingerprint: string
  state: 'in_flight' | 'done'
  owner: string
  locked_until: string | null
  status_code: number | null
  headers: string | null
  body: string | null
}

interface SessionDbRow {
  id: string
  protocol: string
  merchant_id: string
  status: string
  doc: string
  version: number
  created_at: string
  updated_at: string
}

interface ApiKeyDbRow {
  hash: string
  id: string
  kind: ApiKeyRecord['kind']
  principal_id: string
  scopes: string
  created_at: string
  revoked_at: string | null
}

function outboxFromRow(r: OutboxDbRow): OutboxRow {
  const row: OutboxRow = {
    id: r.id,
    type: r.type,
    destination: r.destination,
    payload: r.payload,
    createdAt: new Date(r.created_at),
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: new Date(r.next_attempt_at),
  }
  if (r.aggregate_id !== null) row.aggregateId = r.aggregate_id
  if (r.delivered_at !== null) row.deliveredAt = new Date(r.delivered_at)
  if (r.claimed_by !== null) row.claimedBy = r.claimed_by
  if (r.claimed_until !== null) row.claimedUntil = new Date(r.claimed_until)
  return row
}

function attemptFromRow(r: AttemptDbRow): OutboxAttempt {
  const a: OutboxAttempt = {
    outboxId: r.outbox_id,
    attempt: r.attempt,
    workerId: r.worker_id,
    at: new Date(r.at),
    durationMs: r.duration_ms,
    result: r.result,
  }
  if (r.status_code !== null) a.statusCode = r.status_code
  if (r.error !== null) a.error = r.error
  return a
}

/** Every statement, prepared once (after `migrate()`, on first use). */
function prepareStatements(db: BetterSqlite3.Database) {
  return {
    insertIntent: db.prepare<[string, string, string, string, number, string | null, string, string, string, string]>(
      `INSERT INTO intents (id, merchant_id, protocol, status, version, dedupe_key, doc, audit_head, audit_seq, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
       ON CONFLICT (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING`,
    ),
    findByDedupe: db.prepare<[string, string], { id: string }>('SELECT id FROM intents WHERE merchant_id = ? AND dedupe_key = ?'),
    insertEvent: db.prepare<[string, number, string, string, string, string, string]>(
      'INSERT INTO intent_events (intent_id, seq, type, actor, at, doc, hash) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    insertOutbox: db.prepare<[string, string, string, string, string | null, string, string]>(
      `INSERT INTO outbox (id, type, destination, payload, aggregate_id, state, attempts, next_attempt_at, created_at)
       VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)`,
    ),
    updateIntent: db.prepare<[string, number, string, string, number, string, string, number, number, string]>(
      `UPDATE intents SET status = ?, version = ?, doc = ?, audit_head = ?, audit_seq = ?, updated_at = ?
       WHERE id = ? AND version = ? AND audit_seq = ? AND audit_head = ?`,
    ),
    intentVersion: db.prepare<[string], { version: number }>('SELECT version FROM intents WHERE id = ?'),
    getIntent: db.prepare<[string], { doc: string; audit_head: string; audit_seq: number }>(
      'SELECT doc, audit_head, audit_seq FROM intents WHERE id = ?',
    ),
    listEvents: db.prepare<[string], { doc: string }>('SELECT doc FROM intent_events WHERE intent_id = ? ORDER BY seq'),
    countIntents: db.prepare<[], { protocol: string; status: IntentStatus; count: number }>(
      'SELECT protocol, status, count(*) AS count FROM intents GROUP BY protocol, status ORDER BY protocol, status',
    ),

    claimKey: db.prepare<[string, string, string, string, string, string]>(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, owner, locked_until, created_at)
       VALUES (?, ?, ?, 'in_flight', ?, ?, ?)
       ON CONFLICT (scope, key) DO NOTHING`,
    ),
    readKey: db.prepare<[string, string], IdempotencyDbRow>(
      'SELECT fingerprint, state, owner, locked_until, status_code, headers, body FROM idempotency_keys WHERE scope = ? AND key = ?',
    ),
    takeOverKey: db.prepare<[string, string, string, string, string]>(
      `UPDATE idempotency_keys SET owner = ?, locked_until = ?
       WHERE scope = ? AND key = ? AND state = 'in_flight' AND owner = ?`,
    ),
    completeKey: db.prepare<[number, string, string, string, string, string, string]>(
      `UPDATE idempotency_keys SET state = 'done', status_code = ?, headers = ?, body = ?, completed_at = ?, locked_until = NULL
       WHERE scope = ? AND key = ? AND owner = ? AND state = 'in_flight'`,
    ),
    releaseKey: db.prepare<[string, string, string]>(
      `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND owner = ? AND state = 'in_flight'`,
    ),
    purgeKeys: db.prepare<[string]>(`DELETE FROM idempotency_keys WHERE state = 'done' AND completed_at < ?`),

    claimOutbox: db.prepare<[string, string, string, string, number], OutboxDbRow>(
      `UPDATE outbox SET claimed_by = ?, claimed_until = ?
       WHERE id IN (
         SELECT id FROM outbox
         WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
         ORDER BY next_attempt_at, id LIMIT ?
       )
       RETURNING *`,
    ),
    recordOutbox: db.prepare<[OutboxState, string | null, string | null, string, string]>(
      `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = coalesce(?, next_attempt_at),
         delivered_at = coalesce(?, delivered_at), claimed_by = NULL, claimed_until = NULL
       WHERE id = ? AND claimed_by = ?`,
    ),
    insertAttempt: db.prepare<[string, number, string, string, number, number | null, string | null, string]>(
      `INSERT INTO outbox_attempts (outbox_id, attempt, worker_id, at, duration_ms, status_code, error, result)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    getOutbox: db.prepare<[string], OutboxDbRow>('SELECT * FROM outbox WHERE id = ?'),
    listAttempts: db.prepare<[string], AttemptDbRow>(
      'SELECT outbox_id, attempt, worker_id, at, duration_ms, status_code, error, result FROM outbox_attempts WHERE outbox_id = ? ORDER BY id',
    ),
    countOutbox: db.prepare<[], { state: OutboxState; count: number }>('SELECT state, count(*) AS count FROM outbox GROUP BY state'),

    acquireLock: db.prepare<[string, string, string, string, string], { ok: number }>(
      `INSERT INTO replay_locks (namespace, key, holder, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (namespace, key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE replay_locks.expires_at <= ?
       RETURNING 1 AS ok`,
    ),
    releaseLock: db.prepare<[string, string, string]>('DELETE FROM replay_locks WHERE namespace = ? AND key = ? AND holder = ?'),
    purgeLocks: db.prepare<[string]>('DELETE FROM replay_locks WHERE expires_at <= ?'),

    putApiKey: db.prepare<[string, string, string, string, string, string, string | null]>(
      `INSERT INTO api_keys (hash, id, kind, principal_id, scopes, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (hash) DO UPDATE SET id = excluded.id, kind = excluded.kind, principal_id = excluded.principal_id,
         scopes = excluded.scopes, created_at = excluded.created_at, revoked_at = excluded.revoked_at`,
    ),
    findApiKey: db.prepare<[string], ApiKeyDbRow>('SELECT * FROM api_keys WHERE hash = ?'),
    insertSession: db.prepare<[string, string, string, string, string, number, string, string]>(
      'INSERT INTO checkout_sessions (id, protocol, merchant_id, status, doc, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    getSession: db.prepare<[string], SessionDbRow>('SELECT * FROM checkout_sessions WHERE id = ?'),
    updateSession: db.prepare<[string, string, number, string, string, number]>(
      'UPDATE checkout_sessions SET status = ?, doc = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?',
    ),
    sessionVersion: db.prepare<[string], { version: number }>('SELECT version FROM checkout_sessions WHERE id = ?'),
    insertToken: db.prepare<[string, string, string, string]>('INSERT INTO tokens (id, doc, state, expires_at) VALUES (?, ?, ?, ?)'),
    getToken: db.prepare<[string], { id: string; doc: string; state: string; expires_at: string }>('SELECT * FROM tokens WHERE id = ?'),
    transitionToken: db.prepare<[string, string | null, string, string, number, string | null, number, number, string | null]>(
      "UPDATE tokens SET state = ?, doc = coalesce(?, doc) WHERE id = ? AND state = ? AND (? = 0 OR json_extract(doc, '$.redemption.key') IS ?) AND (? = 0 OR json_extract(doc, '$.redemption.intent_id') IS NULL) AND (? = 0 OR json_extract(doc, '$.redemption.intent_id') IS ?)",
    ),
    addMandateSpend: db.prepare<[string, string, string, string, string]>(
      'INSERT INTO mandate_spend (mandate_id, spend_id, amount, currency, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mandate_id, spend_id) DO NOTHING',
    ),
    removeMandateSpend: db.prepare<[string, string]>('DELETE FROM mandate_spend WHERE mandate_id = ? AND spend_id = ?'),
    getMandateSpend: db.prepare<[string], { spend_id: string; amount: string; currency: string; at: string }>(
      'SELECT spend_id, amount, currency, at FROM mandate_spend WHERE mandate_id = ? ORDER BY at, spend_id',
    ),
    ping: db.prepare<[], { one: number }>('SELECT 1 AS one'),
  }
}
type Statements = ReturnType<typeof prepareStatements>

class SqliteStoreImpl implements SqliteStore {
  readonly dialect = 'sqlite' as const
  private readonly db: BetterSqlite3.Database
  private readonly gc: GroupCommitter
  private statements: Statements | undefined
  private readonly listStatements = new Map<string, BetterSqlite3.Statement<unknown[], { doc: string }>>()
  /** Refunds and disputes (D). */
  private refundsDisputes: SqliteRefundsDisputes | undefined

  constructor(options: SqliteStoreOptions) {
    this.db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 })
    try {
      this.db.pragma('journal_mode = WAL')
      this.db.pragma('synchronous = FULL')
      this.db.pragma('foreign_keys = ON')
      this.gc = new GroupCommitter(this.db)
    } catch (err) {
      this.db.close()
      throw err
    }
  }

  get groupCommitStats(): GroupCommitStats {
    return this.gc.stats
  }

  private get s(): Statements {
    return (this.statements ??= prepareStatements(this.db))
  }

  async migrate(): Promise<void> {
    migrateSqlite(this.db)
  }

  async ping(): Promise<void> {
    this.s.ping.get()
  }

  async close(): Promise<void> {
    if (!this.db.open) return
    this.gc.flush()
    this.db.close()
  }

  // --- intents ------------------------------------------------------------------------------

  async insertIntent(p: InsertIntentParams): Promise<InsertIntentResult> {
    checkInsert(p)
    const { intent, event } = p
    // Serialised once, outside the write lock.
    const doc = JSON.stringify(intent)
    const eventDoc = JSON.stringify(event)
    const dedupeKey = p.dedupeKey ?? null
    return this.gc.write((): InsertIntentResult => {
      const s = this.s
      const r = s.insertIntent.run(
        intent.id,
        intent.merchant_id,
        intent.origin.protocol,
        intent.status,
        intent.version,
        dedupeKey,
        doc,
        event.hash,
        intent.created_at,
        intent.updated_at,
      )
      if (r.changes === 0) {
        const existing = s.findByDedupe.get(intent.merchant_id, dedupeKey!)
        if (!existing) throw new Error('insertIntent: dedupe conflict but no existing intent found')
        return { ok: false, reason: 'duplicate', existingId: existing.id }
      }
      s.insertEvent.run(event.intent_id, event.seq, event.type, event.actor, event.at, eventDoc, event.hash)
      if (p.outbox) this.insertOutboxRows(p.outbox)
      return { ok: true }
    })
  }

  async updateIntent(p: UpdateIntentParams): Promise<UpdateIntentResult> {
    checkUpdate(p)
    const { intent, event, expectedVersion } = p
    const doc = JSON.stringify(intent)
    const eventDoc = JSON.stringify(event)
    return this.gc.write((): UpdateIntentResult => {
      const s = this.s
      const r = s.updateIntent.run(
        intent.status,
        intent.version,
        doc,
        event.hash,
        event.seq,
        intent.updated_at,
        intent.id,
        expectedVersion,
        event.seq - 1,
        event.prev_hash,
      )
      if (r.changes === 0) {
        const current = s.intentVersion.get(intent.id)
        if (!current) return { ok: false, reason: 'not_found' }
        return { ok: false, reason: 'version_conflict', currentVersion: current.version }
      }
      s.insertEvent.run(event.intent_id, event.seq, event.type, event.actor, event.at, eventDoc, event.hash)
      if (p.outbox) this.insertOutboxRows(p.outbox)
      return { ok: true }
    })
  }

  async getIntent(id: string): Promise<StoredIntent | undefined> {
    const r = this.s.getIntent.get(id)
    if (!r) return undefined
    return { intent: JSON.parse(r.doc) as PaymentIntent, auditHead: r.audit_head, auditSeq: r.audit_seq }
  }

  async listIntents(p: ListIntentsParams): Promise<ListIntentsResult> {
    const where: string[] = []
    const args: unknown[] = []
    let shape = ''
    if (p.merchantId !== undefined) {
      where.push('merchant_id = ?')
      args.push(p.merchantId)
      shape += 'm'
    }
    if (p.status !== undefined) {
      where.push('status = ?')
      args.push(p.status)
      shape += 's'
    }
    if (p.protocol !== undefined) {
      where.push('protocol = ?')
      args.push(p.protocol)
      shape += 'p'
    }
    if (p.cursor !== undefined) {
      where.push('id < ?')
      args.push(p.cursor)
      shape += 'c'
    }
    let stmt = this.listStatements.get(shape)
    if (!stmt) {
      stmt = this.db.prepare<unknown[], { doc: string }>(
        `SELECT doc FROM intents ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`,
      )
      this.listStatements.set(shape, stmt)
    }
    const limit = Math.max(1, Math.floor(p.limit))
    const rows = stmt.all(...args, limit + 1)
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as PaymentIntent)
    const result: ListIntentsResult = { items }
    if (rows.length > limit) result.nextCursor = items[items.length - 1]!.id
    return result
  }

  async listEvents(intentId: string): Promise<AuditEvent[]> {
    return this.s.listEvents.all(intentId).map((r) => JSON.parse(r.doc) as AuditEvent)
  }

  async countIntents(): Promise<Array<{ protocol: string; status: IntentStatus; count: number }>> {
    return this.s.countIntents.all()
  }

  // --- idempotency ----------------------------------------------------------------------------

  claimIdempotencyKey(p: ClaimIdempotencyParams): Promise<ClaimIdempotencyResult> {
    const lockedUntil = iso(new Date(p.now.getTime() + p.leaseMs))
    return this.gc.write((): ClaimIdempotencyResult => {
      const s = this.s
      // Inside the write transaction: no other writer (thread or process) can interleave.
      if (s.claimKey.run(p.scope, p.key, p.fingerprint, p.owner, lockedUntil, iso(p.now)).changes === 1) return { kind: 'claimed' }
      const row = s.readKey.get(p.scope, p.key)
      if (!row) throw new Error('claimIdempotencyKey: key vanished inside a transaction')
      const decision = decideExistingClaim(
        {
          fingerprint: row.fingerprint,
          state: row.state,
          owner: row.owner,
          lockedUntilMs: row.locked_until === null ? null : Date.parse(row.locked_until),
          statusCode: row.status_code,
          headers: row.headers === null ? null : (JSON.parse(row.headers) as Record<string, string>),
          body: row.body,
        },
        p,
      )
      if (decision.kind !== 'takeover') return decision
      s.takeOverKey.run(p.owner, lockedUntil, p.scope, p.key, row.owner)
      return { kind: 'claimed' }
    })
  }

  async completeIdempotencyKey(p: CompleteIdempotencyParams): Promise<void> {
    if (!isStorableResponse(p.response)) return this.releaseIdempotencyKey(p)
    const headers = JSON.stringify(p.response.headers)
    await this.gc.write(() =>
      this.s.completeKey.run(p.response.status, headers, p.response.body, iso(p.now), p.scope, p.key, p.owner),
    )
  }

  async releaseIdempotencyKey(p: { scope: string; key: string; owner: string }): Promise<void> {
    await this.gc.write(() => this.s.releaseKey.run(p.scope, p.key, p.owner))
  }

  purgeIdempotencyKeys(before: Date): Promise<number> {
    return this.gc.write(() => this.s.purgeKeys.run(iso(before)).changes)
  }

  // --- outbox -----------------------------------------------------------------------------------

  private insertOutboxRows(rows: readonly OutboxInsert[]): void {
    const stmt = this.s.insertOutbox
    for (const o of rows) {
      const created = iso(o.createdAt)
      stmt.run(o.id, o.type, o.destination, o.payload, o.aggregateId ?? null, created, created)
    }
  }

  async enqueueOutbox(rows: OutboxInsert[]): Promise<void> {
    if (rows.length === 0) return
    await this.gc.write(() => this.insertOutboxRows(rows))
  }

  async claimOutbox(p: { workerId: string; limit: number; now: Date; leaseMs: number }): Promise<OutboxRow[]> {
    if (p.limit <= 0) return []
    const until = iso(new Date(p.now.getTime() + p.leaseMs))
    const rows = await this.gc.write(() => this.s.claimOutbox.all(p.workerId, until, iso(p.now), iso(p.now), p.limit))
    return rows
      .sort((a, b) => (a.next_attempt_at < b.next_attempt_at ? -1 : a.next_attempt_at > b.next_attempt_at ? 1 : a.id < b.id ? -1 : 1))
      .map(outboxFromRow)
  }

  async recordOutboxAttempt(p: RecordOutboxAttemptParams): Promise<void> {
    const r = p.result
    const state: OutboxState = r.kind === 'retry' ? 'pending' : r.kind
    const next = r.kind === 'retry' ? iso(r.nextAttemptAt) : null
    const delivered = r.kind === 'delivered' ? iso(p.at) : null
    await this.gc.write(() => {
      const s = this.s
      // Only the lease holder records: a worker whose lease was lost is ignored.
      if (s.recordOutbox.run(state, next, delivered, p.id, p.workerId).changes === 0) return
      s.insertAttempt.run(p.id, p.attempt, p.workerId, iso(p.at), Math.round(p.durationMs), p.statusCode ?? null, p.error ?? null, r.kind)
    })
  }

  async getOutbox(id: string): Promise<OutboxRow | undefined> {
    const r = this.s.getOutbox.get(id)
    return r ? outboxFromRow(r) : undefined
  }

  async listOutboxAttempts(outboxId: string): Promise<OutboxAttempt[]> {
    return this.s.listAttempts.all(outboxId).map(attemptFromRow)
  }

  async countOutbox(): Promise<{ pending: number; delivered: number; dead: number }> {
    const out = { pending: 0, delivered: 0, dead: 0 }
    for (const r of this.s.countOutbox.all()) out[r.state] = r.count
    return out
  }

  // --- replay locks -----------------------------------------------------------------------------

  acquireReplayLock(p: { namespace: string; key: string; holder: string; expiresAt: Date; now: Date }): Promise<boolean> {
    return this.gc.write(() => this.s.acquireLock.get(p.namespace, p.key, p.holder, iso(p.expiresAt), iso(p.now)) !== undefined)
  }

  releaseReplayLock(p: { namespace: string; key: string; holder: string }): Promise<boolean> {
    return this.gc.write(() => this.s.releaseLock.run(p.namespace, p.key, p.holder).changes > 0)
  }

  purgeReplayLocks(now: Date): Promise<number> {
    return this.gc.write(() => this.s.purgeLocks.run(iso(now)).changes)
  }

  // --- API keys -------------------------------------------------------------------------------

  async putApiKey(k: ApiKeyRecord): Promise<void> {
    const scopes = JSON.stringify(k.scopes)
    await this.gc.write(() =>
      this.s.putApiKey.run(k.hash, k.id, k.kind, k.principalId, scopes, iso(k.createdAt), k.revokedAt ? iso(k.revokedAt) : null),
    )
  }

  async insertCheckoutSession(c: CheckoutSessionRecord): Promise<void> {
    const doc = JSON.stringify(c.doc)
    await this.gc.write(() => this.s.insertSession.run(c.id, c.protocol, c.merchantId, c.status, doc, c.version, iso(c.createdAt), iso(c.updatedAt)))
  }

  async getCheckoutSession(id: string): Promise<CheckoutSessionRecord | undefined> {
    const r = this.s.getSession.get(id)
    if (!r) return undefined
    return { id: r.id, protocol: r.protocol, merchantId: r.merchant_id, status: r.status, version: r.version, doc: JSON.parse(r.doc) as unknown, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at) }
  }

  updateCheckoutSession(c: CheckoutSessionRecord, expectedVersion: number): Promise<UpdateRecordResult> {
    if (c.version !== expectedVersion + 1) throw new StoreUsageError(`session version must be ${expectedVersion + 1}, got ${c.version}`)
    const doc = JSON.stringify(c.doc)
    return this.gc.write((): UpdateRecordResult => {
      if (this.s.updateSession.run(c.status, doc, c.version, iso(c.updatedAt), c.id, expectedVersion).changes === 1) return { ok: true }
      const cur = this.s.sessionVersion.get(c.id)
      return cur ? { ok: false, reason: 'version_conflict', currentVersion: cur.version } : { ok: false, reason: 'not_found' }
    })
  }

  async insertToken(t: TokenRecord): Promise<void> {
    const doc = JSON.stringify(t.doc)
    await this.gc.write(() => this.s.insertToken.run(t.id, doc, t.state, iso(t.expiresAt)))
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const r = this.s.getToken.get(id)
    return r ? { id: r.id, state: r.state, expiresAt: new Date(r.expires_at), doc: JSON.parse(r.doc) as unknown } : undefined
  }

  transitionToken(p: TransitionTokenParameters): Promise<boolean> {
    const doc = p.doc === undefined ? null : JSON.stringify(p.doc)
    const byKey = p.expectRedemptionKey === undefined ? 0 : 1
    const byIntent = p.expectRedemptionIntentId === undefined ? 0 : 1
    return this.gc.write(
      () => this.s.transitionToken.run(p.to, doc, p.id, p.from, byKey, p.expectRedemptionKey ?? null, p.expectUnboundRedemption ? 1 : 0, byIntent, p.expectRedemptionIntentId ?? null).changes === 1,
    )
  }

  addMandateSpend(p: { mandateId: string; spendId: string; amount: string; currency: string; at: Date }): Promise<boolean> {
    return this.gc.write(() => this.s.addMandateSpend.run(p.mandateId, p.spendId, p.amount, p.currency, iso(p.at)).changes === 1)
  }

  removeMandateSpend(p: { mandateId: string; spendId: string }): Promise<boolean> {
    return this.gc.write(() => this.s.removeMandateSpend.run(p.mandateId, p.spendId).changes === 1)
  }

  async getMandateSpend(mandateId: string): Promise<MandateSpendRecord[]> {
    return this.s.getMandateSpend.all(mandateId).map((r) => ({ spendId: r.spend_id, amount: r.amount, currency: r.currency, at: new Date(r.at) }))
  }

  // --- risk rules (A): delegated to {@link SqliteRiskQueries} ---------------------------------

  #risk: SqliteRiskQueries | undefined
  private get risk(): SqliteRiskQueries {
    return (this.#risk ??= new SqliteRiskQueries(this.db))
  }

  riskCountIntents(p: RiskCountIntentsParams): Promise<number> {
    return this.risk.countIntents(p)
  }

  riskPaidAmounts(p: RiskPaidAmountsParams): Promise<string[]> {
    return this.risk.paidAmounts(p)
  }

  riskHasPaidMerchant(p: RiskHasPaidMerchantParams): Promise<boolean> {
    return this.risk.hasPaidMerchant(p)
  }

  // --- wallets and spend reservations (W) ----------------------------------------------------

  private walletStmts: ReturnType<typeof prepareWalletStatements> | undefined
  private get ws(): ReturnType<typeof prepareWalletStatements> {
    return (this.walletStmts ??= prepareWalletStatements(this.db))
  }

  insertWallet(w: WalletRecord): Promise<boolean> {
    const doc = JSON.stringify(walletToDoc(w))
    return this.gc.write(() => this.ws.insertWallet.run(w.id, w.userId, w.agentId, doc, iso(w.createdAt), w.version, iso(w.updatedAt)).changes === 1)
  }

  async getWallet(id: string): Promise<WalletRecord | undefined> {
    const r = this.ws.getWallet.get(id)
    return r ? walletFromRow({ ...r, doc: JSON.parse(r.doc) as WalletDoc }) : undefined
  }

  async getWalletForAgent(agentId: string): Promise<WalletRecord | undefined> {
    const r = this.ws.getWalletForAgent.get(agentId)
    return r ? walletFromRow({ ...r, doc: JSON.parse(r.doc) as WalletDoc }) : undefined
  }

  async updateWallet(w: WalletRecord, expectedVersion: number): Promise<UpdateRecordResult> {
    if (w.version !== expectedVersion + 1) throw new StoreUsageError(`updateWallet: version must be ${expectedVersion + 1}, got ${w.version}`)
    const doc = JSON.stringify(walletToDoc(w))
    return this.gc.write((): UpdateRecordResult => {
      if (this.ws.updateWallet.run(w.userId, w.agentId, doc, w.version, iso(w.updatedAt), w.id, expectedVersion).changes === 1) return { ok: true }
      const cur = this.ws.walletVersion.get(w.id)
      return cur ? { ok: false, reason: 'version_conflict', currentVersion: cur.version } : { ok: false, reason: 'not_found' }
    })
  }

  private walletSpendNow(walletId: string, now: Date): WalletSpend {
    const { dayStart, monthStart } = spendWindows(now)
    return sumSpend(this.ws.monthSpend.all(walletId, iso(monthStart)), dayStart)
  }

  reserveWalletSpend(p: ReserveWalletSpendParams): Promise<ReserveWalletSpendResult> {
    // Runs inside the group commit's BEGIN IMMEDIATE: no other writer (thread or process) interleaves.
    return this.gc.write((): ReserveWalletSpendResult => {
      if (!this.ws.walletVersion.get(p.walletId)) return { ok: false, reason: 'wallet_not_found' }
      const before = this.walletSpendNow(p.walletId, p.now)
      if (this.ws.getSpend.get(p.intentId)) return { ok: true, existing: true, before, after: before }
      const d = decideReservation(before, p.amount, p)
      if (!d.ok) return { ok: false, reason: d.reason, spent: before }
      this.ws.insertSpend.run(p.intentId, p.walletId, BigInt(p.amount).toString(), p.asset, iso(p.now))
      return { ok: true, existing: false, before, after: d.after }
    })
  }

  releaseWalletSpend(p: { intentId: string }): Promise<boolean> {
    return this.gc.write(() => this.ws.deleteSpend.run(p.intentId).changes === 1)
  }

  async getWalletSpend(p: { walletId: string; now: Date }): Promise<WalletSpend> {
    return this.walletSpendNow(p.walletId, p.now)
  }

  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const r = this.s.findApiKey.get(hash)
    if (!r) return undefined
    const rec: ApiKeyRecord = {
      hash: r.hash,
      id: r.id,
      kind: r.kind,
      principalId: r.principal_id,
      scopes: JSON.parse(r.scopes) as string[],
      createdAt: new Date(r.created_at),
    }
    if (r.revoked_at !== null) rec.revokedAt = new Date(r.revoked_at)
    return rec
  }

  // --- refunds and disputes (D): delegated to {@link SqliteRefundsDisputes} ---------------------------------

  private get rd(): SqliteRefundsDisputes {
    return (this.refundsDisputes ??= new SqliteRefundsDisputes(this.db, (run) => this.gc.write(run)))
  }

  insertRefund(r: RefundRecord): Promise<InsertRefundResult> {
    return this.rd.insertRefund(r)
  }

  getRefund(id: string): Promise<RefundRecord | undefined> {
    return this.rd.getRefund(id)
  }

  listRefunds(intentId: string): Promise<RefundRecord[]> {
    return this.rd.listRefunds(intentId)
  }

  finishRefund(r: RefundRecord): Promise<boolean> {
    return this.rd.finishRefund(r)
  }

  listPendingRefunds(p: { updatedBefore: Date; limit: number }): Promise<RefundRecord[]> {
    return this.rd.listPendingRefunds(p)
  }

  insertDispute(d: DisputeRecord): Promise<void> {
    return this.rd.insertDispute(d)
  }

  getDispute(id: string): Promise<DisputeRecord | undefined> {
    return this.rd.getDispute(id)
  }

  listDisputes(p: { intentId?: string | undefined; merchantId?: string | undefined; limit: number }): Promise<DisputeRecord[]> {
    return this.rd.listDisputes(p)
  }
}

// --- wallets and spend reservations (W) --------------------------------------------------------

type WalletDbRow = { id: string; user_id: string; agent_id: string | null; doc: string; created_at: string; version: number; updated_at: string | null }

function prepareWalletStatements(db: BetterSqlite3.Database) {
  const cols = 'id, user_id, agent_id, doc, created_at, version, updated_at'
  return {
    insertWallet: db.prepare<[string, string, string, string, string, number, string]>(
      `INSERT INTO wallets (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    getWallet: db.prepare<[string], WalletDbRow>(`SELECT ${cols} FROM wallets WHERE id = ?`),
    getWalletForAgent: db.prepare<[string], WalletDbRow>(`SELECT ${cols} FROM wallets WHERE agent_id = ? ORDER BY created_at, id LIMIT 1`),
    walletVersion: db.prepare<[string], { version: number }>('SELECT version FROM wallets WHERE id = ?'),
    updateWallet: db.prepare<[string, string, string, number, string, string, number]>(
      'UPDATE wallets SET user_id = ?, agent_id = ?, doc = ?, version = ?, updated_at = ? WHERE id = ? AND version = ?',
    ),
    // Reservations of the month whose intent is neither failed nor canceled (an intent-less row counts).
    monthSpend: db.prepare<[string, string], { amount: string; at: string }>(
      `SELECT s.amount, s.at FROM wallet_spend s LEFT JOIN intents i ON i.id = s.intent_id
       WHERE s.wallet_id = ? AND s.at >= ? AND (i.status IS NULL OR i.status NOT IN ('failed', 'canceled'))`,
    ),
    getSpend: db.prepare<[string], { wallet_id: string }>('SELECT wallet_id FROM wallet_spend WHERE intent_id = ?'),
    insertSpend: db.prepare<[string, string, string, string, string]>('INSERT INTO wallet_spend (intent_id, wallet_id, amount, asset, at) VALUES (?, ?, ?, ?, ?)'),
    deleteSpend: db.prepare<[string]>('DELETE FROM wallet_spend WHERE intent_id = ?'),
  }
}
