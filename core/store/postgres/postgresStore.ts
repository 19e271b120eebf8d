import pg from 'pg'
import type { AuditEvent, IntentStatus, PaymentIntent } from '../../intent/types.js'
import { migratePostgres } from '../migrate.js'
import { INSERT_PARAMS, insertIntentBatchSql, insertIntentSql, outboxInsertSql, outboxParams, outboxShape, updateIntentSql } from './intentSql.js'
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
import { PostgresRefundsDisputes } from './refundsDisputes.js'
import { PostgresRiskQueries } from './riskQueries.js'
import type { RiskCountIntentsParams, RiskHasPaidMerchantParams, RiskPaidAmountsParams } from '../port.js'
import type { TransitionTokenParameters } from '../port.js'
import type { DisputeRecord, InsertRefundResult, RefundRecord } from '../../disputes/records.js'
import { decideReservation, spendWindows, walletFromRow, walletToDoc, type WalletDoc } from '../../wallets/record.js'
import type { ReserveWalletSpendParams, ReserveWalletSpendResult, WalletRecord, WalletSpend } from '../../wallets/types.js'

export interface PostgresStoreOptions {
  /** `postgres://user@host:port/db` */
  url: string
  /** Connections in the pool (default 10). */
  poolSize?: number
  /**
   * Schema holding the tables, set as `search_path` of every connection (in the startup packet:
   * no extra round trip) and created by `migrate()`. Lower-case identifier only.
   */
  schema?: string
  /**
   * Group concurrent `insertIntent` calls of one event-loop turn into one statement (default
   * true). Off, every insert is its own statement.
   */
  batchInserts?: boolean
  /** Most inserts in one statement (default {@link DEFAULT_MAX_BATCH}). */
  maxBatch?: number
}

/**
 * The scale-out store (DESIGN §5): a `pg` pool; several gateway instances share the database.
 * Every write is ONE statement in autocommit (data-modifying CTEs write the intent, its audit
 * event and its outbox rows atomically, see `intentSql.ts`), so a write costs one round trip and
 * one commit; concurrent intent inserts are grouped into one statement. Unique constraints with
 * `ON CONFLICT` make dedupe keys, idempotency claims and replay locks exactly-once across
 * processes; outbox workers claim with `FOR UPDATE SKIP LOCKED`.
 */
export function openPostgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStoreImpl(options)
}

/** The PostgreSQL store, plus its insert counters (for tests and benchmarks). */
export interface PostgresStore extends Store {
  readonly dialect: 'postgres'
  /** `statements` < `inserts` proves concurrent inserts were grouped. */
  readonly insertStats: { statements: number; inserts: number }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

const iso = (d: Date): string => d.toISOString()

/** Statements with a fixed text, by prepared-statement name (shaped ones are built in {@link shaped}). */
const SQL = {
  findByDedupe: 'SELECT id FROM intents WHERE merchant_id = $1 AND dedupe_key = $2',
  intentVersion: 'SELECT version FROM intents WHERE id = $1',
  getIntent: 'SELECT doc, audit_head, audit_seq FROM intents WHERE id = $1',
  listEvents: 'SELECT doc FROM intent_events WHERE intent_id = $1 ORDER BY seq',
  countIntents: 'SELECT protocol, status, count(*)::int AS count FROM intents GROUP BY protocol, status ORDER BY protocol, status',

  claimKey: `
    INSERT INTO idempotency_keys (scope, key, fingerprint, state, owner, locked_until, created_at)
    VALUES ($1, $2, $3, 'in_flight', $4, $5, $6)
    ON CONFLICT (scope, key) DO NOTHING
    RETURNING 1 AS claimed`,
  readKey: 'SELECT fingerprint, state, owner, locked_until, status_code, headers, body FROM idempotency_keys WHERE scope = $1 AND key = $2',
  takeOverKey: `
    UPDATE idempotency_keys SET owner = $3, locked_until = $4
    WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND owner = $5 AND fingerprint = $6 AND locked_until <= $7
    RETURNING 1 AS claimed`,
  completeKey: `
    UPDATE idempotency_keys
    SET state = 'done', status_code = $4, headers = $5::jsonb, body = $6, completed_at = $7, locked_until = NULL
    WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'in_flight'`,
  releaseKey: `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'in_flight'`,
  purgeKeys: `DELETE FROM idempotency_keys WHERE state = 'done' AND completed_at < $1`,

  enqueueOutbox: outboxInsertSql('many', 1),
  claimOutbox: `
    UPDATE outbox SET claimed_by = $1, claimed_until = $2
    WHERE id IN (
      SELECT id FROM outbox
      WHERE state = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until <= $3)
      ORDER BY next_attempt_at, id
      LIMIT $4
      FOR UPDATE SKIP LOCKED
    )
    RETURNING *`,
  recordOutbox: `
    WITH upd AS (
      UPDATE outbox SET state = $3, attempts = attempts + 1, next_attempt_at = coalesce($4::timestamptz, next_attempt_at),
        delivered_at = coalesce($5::timestamptz, delivered_at), claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND claimed_by = $2::text
      RETURNING id
    )
    INSERT INTO outbox_attempts (outbox_id, attempt, worker_id, at, duration_ms, status_code, error, result)
    SELECT upd.id, $6, $2::text, $7, $8, $9, $10, $11 FROM upd`,
  getOutbox: 'SELECT * FROM outbox WHERE id = $1',
  listAttempts:
    'SELECT outbox_id, attempt, worker_id, at, duration_ms, status_code, error, result FROM outbox_attempts WHERE outbox_id = $1 ORDER BY id',
  countOutbox: 'SELECT state, count(*)::int AS count FROM outbox GROUP BY state',

  acquireLock: `
    INSERT INTO replay_locks (namespace, key, holder, expires_at) VALUES ($1, $2, $3, $4)
    ON CONFLICT (namespace, key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
    WHERE replay_locks.expires_at <= $5
    RETURNING 1 AS ok`,
  releaseLock: 'DELETE FROM replay_locks WHERE namespace = $1 AND key = $2 AND holder = $3',
  purgeLocks: 'DELETE FROM replay_locks WHERE expires_at <= $1',

  putApiKey: `
    INSERT INTO api_keys (hash, id, kind, principal_id, scopes, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
    ON CONFLICT (hash) DO UPDATE SET id = EXCLUDED.id, kind = EXCLUDED.kind, principal_id = EXCLUDED.principal_id,
      scopes = EXCLUDED.scopes, created_at = EXCLUDED.created_at, revoked_at = EXCLUDED.revoked_at`,
  findApiKey: 'SELECT * FROM api_keys WHERE hash = $1',

  insertSession:
    'INSERT INTO checkout_sessions (id, protocol, merchant_id, status, doc, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)',
  getSession: 'SELECT * FROM checkout_sessions WHERE id = $1',
  updateSession: `
    WITH upd AS (
      UPDATE checkout_sessions SET status = $1, doc = $2::jsonb, version = $3, updated_at = $4 WHERE id = $5 AND version = $6 RETURNING 1
    )
    SELECT (SELECT count(*)::int FROM upd) AS updated, (SELECT version FROM checkout_sessions WHERE id = $5) AS current`,
  insertToken: 'INSERT INTO tokens (id, doc, state, expires_at) VALUES ($1, $2::jsonb, $3, $4)',
  getToken: 'SELECT * FROM tokens WHERE id = $1',
  transitionToken:
    "UPDATE tokens SET state = $1, doc = coalesce($2::jsonb, doc) WHERE id = $3 AND state = $4 AND (NOT $5::boolean OR (doc->'redemption'->>'key') IS NOT DISTINCT FROM $6::text) AND (NOT $7::boolean OR (doc->'redemption'->>'intent_id') IS NULL) AND (NOT $8::boolean OR (doc->'redemption'->>'intent_id') IS NOT DISTINCT FROM $9::text)",
  addMandateSpend: 'INSERT INTO mandate_spend (mandate_id, spend_id, amount, currency, at) VALUES ($1, $2, $3::numeric, $4, $5) ON CONFLICT (mandate_id, spend_id) DO NOTHING',
  removeMandateSpend: 'DELETE FROM mandate_spend WHERE mandate_id = $1 AND spend_id = $2',
  getMandateSpend: 'SELECT spend_id, amount::text AS amount, currency, at FROM mandate_spend WHERE mandate_id = $1 ORDER BY at, spend_id',
} as const
type StatementName = keyof typeof SQL

/** Shaped statements (intent writes), built once per shape: name → text. */
const shapedCache = new Map<string, string>()
function shaped(name: string, build: () => string): { name: string; text: string } {
  let text = shapedCache.get(name)
  if (text === undefined) shapedCache.set(name, (text = build()))
  return { name, text }
}

/** Most inserts one flush puts in one statement. */
const DEFAULT_MAX_BATCH = 64

/** An insert waiting for the next flush, serialised once. */
interface PendingInsert {
  p: InsertIntentParams
  /** The 13 scalar parameters of {@link insertIntentSql}, then the dedupe key (or null). */
  values: unknown[]
  resolve: (r: InsertIntentResult) => void
  reject: (e: unknown) => void
}

interface OutboxDbRow {
  id: string
  type: string
  destination: string
  payload: string
  aggregate_id: string | null
  state: OutboxState
  attempts: number
  next_attempt_at: Date
  claimed_by: string | null
  claimed_until: Date | null
  created_at: Date
  delivered_at: Date | null
}

interface AttemptDbRow {
  outbox_id: string
  attempt: number
  worker_id: string
  at: Date
  duration_ms: number
  status_code: number | null
  error: string | null
  result: OutboxAttempt['result']
}

interface IdempotencyDbRow {
  fingerprint: string
  state: 'in_flight' | 'done'
  owner: string
  locked_until: Date | null
  status_code: number | null
  headers: Record<string, string> | null
  body: string | null
}

interface ApiKeyDbRow {
  hash: string
  id: string
  kind: ApiKeyRecord['kind']
  principal_id: string
  scopes: string[]
  created_at: Date
  revoked_at: Date | null
}

function outboxFromRow(r: OutboxDbRow): OutboxRow {
  const row: OutboxRow = {
    id: r.id,
    type: r.type,
    destination: r.destination,
    payload: r.payload,
    createdAt: r.created_at,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
  }
  if (r.aggregate_id !== null) row.aggregateId = r.aggregate_id
  if (r.delivered_at !== null) row.deliveredAt = r.delivered_at
  if (r.claimed_by !== null) row.claimedBy = r.claimed_by
  if (r.claimed_until !== null) row.claimedUntil = r.claimed_until
  return row
}

function attemptFromRow(r: AttemptDbRow): OutboxAttempt {
  const a: OutboxAttempt = { outboxId: r.outbox_id, attempt: r.attempt, workerId: r.worker_id, at: r.at, durationMs: r.duration_ms, result: r.result }
  if (r.status_code !== null) a.statusCode = r.status_code
  if (r.error !== null) a.error = r.error
  return a
}

class PostgresStoreImpl implements PostgresStore {
  readonly dialect = 'postgres' as const
  private readonly pool: pg.Pool
  /** Refunds and disputes (D). */
  private refundsDisputes: PostgresRefundsDisputes | undefined
  private readonly schema: string | undefined
  private readonly batchInserts: boolean
  private readonly maxBatch: number
  private pendingInserts: PendingInsert[] = []
  private flushScheduled = false
  private readonly inFlight = new Set<Promise<void>>()
  readonly insertStats = { statements: 0, inserts: 0 }

  constructor(options: PostgresStoreOptions) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema))
      throw new Error(`postgres store: schema must match ${SCHEMA_NAME} (got ${JSON.stringify(options.schema)})`)
    this.schema = options.schema
    this.batchInserts = options.batchInserts ?? true
    this.maxBatch = Math.max(1, options.maxBatch ?? DEFAULT_MAX_BATCH)
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      ...(options.schema !== undefined ? { options: `-c search_path=${options.schema}` } : {}),
    })
    // An idle connection that dies (server restart) emits 'error' on the pool; without a listener
    // it would crash the process. The pool drops it and the next query opens a fresh one.
    this.pool.on('error', () => {})
  }

  /** One named (prepared once per connection) statement. */
  private q<R extends pg.QueryResultRow>(name: StatementName, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool.query<R>({ name, text: SQL[name], values })
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect()
    try {
      await migratePostgres(client, this.schema)
    } finally {
      client.release()
    }
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1')
  }

  async close(): Promise<void> {
    // Writes already accepted finish first.
    this.flushInserts()
    await Promise.allSettled([...this.inFlight])
    await this.pool.end()
  }

  // --- intents ------------------------------------------------------------------------------

  /**
   * Inserts arriving in the same event-loop turn are written by ONE statement (group commit:
   * one round trip and one commit for all, where PostgreSQL alone would run one transaction per
   * caller). Each caller's promise settles after that statement committed. If the batch
   * statement fails (one bad item aborts it, writing nothing), every item is retried alone so
   * only the culprit fails. A turn with a single insert runs the single-insert statement.
   */
  async insertIntent(p: InsertIntentParams): Promise<InsertIntentResult> {
    checkInsert(p)
    const { intent, event } = p
    const values: unknown[] = [
      intent.id,
      intent.merchant_id,
      intent.origin.protocol,
      intent.status,
      intent.version,
      JSON.stringify(intent),
      event.hash,
      intent.created_at,
      intent.updated_at,
      event.type,
      event.actor,
      event.at,
      JSON.stringify(event),
      p.dedupeKey ?? null,
    ]
    if (!this.batchInserts) return this.insertOne({ p, values })
    if (this.inFlight.size === 0 && this.pendingInserts.length === 0) {
      // Nothing else is being written: go now (no event-loop hop at concurrency 1). Calls that
      // arrive while this one is in flight are grouped.
      const run = this.insertOne({ p, values })
      const tracked = run.then(
        () => {},
        () => {},
      )
      this.inFlight.add(tracked)
      void tracked.finally(() => this.inFlight.delete(tracked))
      return run
    }
    return new Promise<InsertIntentResult>((resolve, reject) => {
      this.pendingInserts.push({ p, values, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(this.flushInserts)
      }
    })
  }

  private readonly flushInserts = (): void => {
    this.flushScheduled = false
    while (this.pendingInserts.length > 0) {
      const run = this.runInsertBatch(this.pendingInserts.splice(0, this.maxBatch))
      this.inFlight.add(run)
      void run.finally(() => this.inFlight.delete(run))
    }
  }

  private async runInsertBatch(batch: PendingInsert[]): Promise<void> {
    if (batch.length === 1) {
      const one = batch[0]!
      return this.insertOne(one).then(one.resolve, one.reject)
    }
    let inserted: Set<string>
    try {
      inserted = await this.insertMany(batch)
    } catch {
      // Nothing of the batch was written (one statement): retry each alone, so only the item at
      // fault (a colliding outbox id, …) fails. A lost connection fails them one by one too.
      for (const one of batch) this.insertOne(one).then(one.resolve, one.reject)
      return
    }
    for (const one of batch) {
      if (inserted.has(one.p.intent.id)) one.resolve({ ok: true })
      else if (one.p.dedupeKey !== undefined) this.findDuplicate(one.p.intent.merchant_id, one.p.dedupeKey).then(one.resolve, one.reject)
      else one.reject(new Error(`insertIntent: ${one.p.intent.id} was neither inserted nor a duplicate`))
    }
  }

  /** One insert, one statement, shaped by its dedupe key and outbox rows. */
  private async insertOne({ p, values }: Pick<PendingInsert, 'p' | 'values'>): Promise<InsertIntentResult> {
    const rows = p.outbox ?? []
    const shape = outboxShape(rows)
    const dedupe = p.dedupeKey !== undefined
    const stmt = shaped(`insertIntent_${dedupe ? 'dedupe_' : ''}${shape}`, () => insertIntentSql(dedupe, shape))
    const bound = [...(dedupe ? values : values.slice(0, INSERT_PARAMS)), ...outboxParams(rows, shape)]
    this.insertStats.statements++
    this.insertStats.inserts++
    const result = await this.pool.query<{ inserted: string | null; existing: string | null }>({ ...stmt, values: bound })
    if (!dedupe) return { ok: true }
    const r = result.rows[0]!
    if (r.inserted !== null) return { ok: true }
    if (r.existing !== null) return { ok: false, reason: 'duplicate', existingId: r.existing }
    // The conflicting row was committed after this statement's snapshot was taken (a concurrent
    // insert of the same dedupe key): a new statement sees it.
    return this.findDuplicate(p.intent.merchant_id, p.dedupeKey!)
  }

  /** Several inserts as one statement; returns the ids inserted (the others hit a dedupe key). */
  private async insertMany(batch: readonly PendingInsert[]): Promise<Set<string>> {
    const columns: unknown[][] = Array.from({ length: INSERT_PARAMS + 1 }, () => [])
    const outbox: unknown[][] = Array.from({ length: 7 }, () => [])
    for (const { p, values } of batch) {
      for (let c = 0; c < values.length; c++) columns[c]!.push(values[c])
      for (const o of p.outbox ?? []) {
        outbox[0]!.push(o.id)
        outbox[1]!.push(o.type)
        outbox[2]!.push(o.destination)
        outbox[3]!.push(o.payload)
        outbox[4]!.push(o.aggregateId ?? null)
        outbox[5]!.push(iso(o.createdAt))
        outbox[6]!.push(p.intent.id)
      }
    }
    const withOutbox = outbox[0]!.length > 0
    const stmt = shaped(`insertIntentBatch_${withOutbox ? 'outbox' : 'none'}`, () => insertIntentBatchSql(withOutbox))
    this.insertStats.statements++
    this.insertStats.inserts += batch.length
    const { rows } = await this.pool.query<{ id: string }>({ ...stmt, values: withOutbox ? [...columns, ...outbox] : columns })
    return new Set(rows.map((r) => r.id))
  }

  private async findDuplicate(merchantId: string, dedupeKey: string): Promise<InsertIntentResult> {
    const existing = (await this.q<{ id: string }>('findByDedupe', [merchantId, dedupeKey])).rows[0]
    if (!existing) throw new Error('insertIntent: dedupe conflict but no existing intent found')
    return { ok: false, reason: 'duplicate', existingId: existing.id }
  }

  async updateIntent(p: UpdateIntentParams): Promise<UpdateIntentResult> {
    checkUpdate(p)
    const { intent, event, expectedVersion } = p
    const rows = p.outbox ?? []
    const shape = outboxShape(rows)
    const stmt = shaped(`updateIntent_${shape}`, () => updateIntentSql(shape))
    const values: unknown[] = [
      intent.id,
      intent.status,
      intent.version,
      JSON.stringify(intent),
      event.hash,
      event.seq,
      intent.updated_at,
      expectedVersion,
      event.prev_hash,
      event.type,
      event.actor,
      event.at,
      JSON.stringify(event),
      ...outboxParams(rows, shape),
    ]
    const result = await this.pool.query<{ updated: number }>({ ...stmt, values })
    if (result.rows[0]!.updated === 1) return { ok: true }
    const current = (await this.q<{ version: number }>('intentVersion', [intent.id])).rows[0]
    if (!current) return { ok: false, reason: 'not_found' }
    return { ok: false, reason: 'version_conflict', currentVersion: current.version }
  }

  async getIntent(id: string): Promise<StoredIntent | undefined> {
    const r = (await this.q<{ doc: PaymentIntent; audit_head: string; audit_seq: number }>('getIntent', [id])).rows[0]
    return r ? { intent: r.doc, auditHead: r.audit_head, auditSeq: r.audit_seq } : undefined
  }

  async listIntents(p: ListIntentsParams): Promise<ListIntentsResult> {
    const where: string[] = []
    const values: unknown[] = []
    let shape = ''
    const add = (column: string, op: string, value: unknown, tag: string): void => {
      values.push(value)
      where.push(`${column} ${op} $${values.length}`)
      shape += tag
    }
    if (p.merchantId !== undefined) add('merchant_id', '=', p.merchantId, 'm')
    if (p.status !== undefined) add('status', '=', p.status, 's')
    if (p.protocol !== undefined) add('protocol', '=', p.protocol, 'p')
    if (p.cursor !== undefined) add('id', '<', p.cursor, 'c')
    const limit = Math.max(1, Math.floor(p.limit))
    values.push(limit + 1)
    const text = `SELECT doc FROM intents ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${values.length}`
    const { rows } = await this.pool.query<{ doc: PaymentIntent }>({ name: `listIntents_${shape}`, text, values })
    const items = rows.slice(0, limit).map((r) => r.doc)
    const result: ListIntentsResult = { items }
    if (rows.length > limit) result.nextCursor = items[items.length - 1]!.id
    return result
  }

  async listEvents(intentId: string): Promise<AuditEvent[]> {
    return (await this.q<{ doc: string }>('listEvents', [intentId])).rows.map((r) => JSON.parse(r.doc) as AuditEvent)
  }

  async countIntents(): Promise<Array<{ protocol: string; status: IntentStatus; count: number }>> {
    return (await this.q<{ protocol: string; status: IntentStatus; count: number }>('countIntents', [])).rows
  }

  // --- idempotency ----------------------------------------------------------------------------

  async claimIdempotencyKey(p: ClaimIdempotencyParams): Promise<ClaimIdempotencyResult> {
    const now = iso(p.now)
    const lockedUntil = iso(new Date(p.now.getTime() + p.leaseMs))
    // Each turn either answers or observes a concurrent change (a release, a takeover) and looks again.
    for (let turn = 0; turn < 10; turn++) {
      const ins = await this.q('claimKey', [p.scope, p.key, p.fingerprint, p.owner, lockedUntil, now])
      if (ins.rowCount === 1) return { kind: 'claimed' }
      const row = (await this.q<IdempotencyDbRow>('readKey', [p.scope, p.key])).rows[0]
      if (!row) continue // released between the two statements: claim again
      const decision = decideExistingClaim(
        {
          fingerprint: row.fingerprint,
          state: row.state,
          owner: row.owner,
          lockedUntilMs: row.locked_until?.getTime() ?? null,
          statusCode: row.status_code,
          headers: row.headers,
          body: row.body,
        },
        p,
      )
      if (decision.kind !== 'takeover') return decision
      const took = await this.q('takeOverKey', [p.scope, p.key, p.owner, lockedUntil, row.owner, p.fingerprint, now])
      if (took.rowCount === 1) return { kind: 'claimed' }
    }
    throw new Error('claimIdempotencyKey: the key keeps changing under contention')
  }

  async completeIdempotencyKey(p: CompleteIdempotencyParams): Promise<void> {
    if (!isStorableResponse(p.response)) return this.releaseIdempotencyKey(p)
    await this.q('completeKey', [p.scope, p.key, p.owner, p.response.status, JSON.stringify(p.response.headers), p.response.body, iso(p.now)])
  }

  async releaseIdempotencyKey(p: { scope: string; key: string; owner: string }): Promise<void> {
    await this.q('releaseKey', [p.scope, p.key, p.owner])
  }

  async purgeIdempotencyKeys(before: Date): Promise<number> {
    return (await this.q('purgeKeys', [iso(before)])).rowCount ?? 0
  }

  // --- outbox -----------------------------------------------------------------------------------

  async enqueueOutbox(rows: OutboxInsert[]): Promise<void> {
    if (rows.length === 0) return
    await this.q('enqueueOutbox', outboxParams(rows, 'many'))
  }

  async claimOutbox(p: { workerId: string; limit: number; now: Date; leaseMs: number }): Promise<OutboxRow[]> {
    if (p.limit <= 0) return []
    const until = iso(new Date(p.now.getTime() + p.leaseMs))
    const { rows } = await this.q<OutboxDbRow>('claimOutbox', [p.workerId, until, iso(p.now), p.limit])
    // RETURNING does not keep the subquery's order.
    return rows
      .sort((a, b) => a.next_attempt_at.getTime() - b.next_attempt_at.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(outboxFromRow)
  }

  async recordOutboxAttempt(p: RecordOutboxAttemptParams): Promise<void> {
    const r = p.result
    const state: OutboxState = r.kind === 'retry' ? 'pending' : r.kind
    // Only the lease holder records: the CTE updates nothing (and appends nothing) otherwise.
    await this.q('recordOutbox', [
      p.id,
      p.workerId,
      state,
      r.kind === 'retry' ? iso(r.nextAttemptAt) : null,
      r.kind === 'delivered' ? iso(p.at) : null,
      p.attempt,
      iso(p.at),
      Math.round(p.durationMs),
      p.statusCode ?? null,
      p.error ?? null,
      r.kind,
    ])
  }

  async getOutbox(id: string): Promise<OutboxRow | undefined> {
    const r = (await this.q<OutboxDbRow>('getOutbox', [id])).rows[0]
    return r ? outboxFromRow(r) : undefined
  }

  async listOutboxAttempts(outboxId: string): Promise<OutboxAttempt[]> {
    return (await this.q<AttemptDbRow>('listAttempts', [outboxId])).rows.map(attemptFromRow)
  }

  async countOutbox(): Promise<{ pending: number; delivered: number; dead: number }> {
    const out = { pending: 0, delivered: 0, dead: 0 }
    for (const r of (await this.q<{ state: OutboxState; count: number }>('countOutbox', [])).rows) out[r.state] = r.count
    return out
  }

  // --- replay locks -----------------------------------------------------------------------------

  async acquireReplayLock(p: { namespace: string; key: string; holder: string; expiresAt: Date; now: Date }): Promise<boolean> {
    const r = await this.q('acquireLock', [p.namespace, p.key, p.holder, iso(p.expiresAt), iso(p.now)])
    return r.rowCount === 1
  }

  async releaseReplayLock(p: { namespace: string; key: string; holder: string }): Promise<boolean> {
    return ((await this.q('releaseLock', [p.namespace, p.key, p.holder])).rowCount ?? 0) > 0
  }

  async purgeReplayLocks(now: Date): Promise<number> {
    return (await this.q('purgeLocks', [iso(now)])).rowCount ?? 0
  }

  // --- API keys -------------------------------------------------------------------------------

  async putApiKey(k: ApiKeyRecord): Promise<void> {
    await this.q('putApiKey', [
      k.hash,
      k.id,
      k.kind,
      k.principalId,
      JSON.stringify(k.scopes),
      iso(k.createdAt),
      k.revokedAt ? iso(k.revokedAt) : null,
    ])
  }

  async findApiKey(hash: string): Promise<ApiKeyRecord | undefined> {
    const r = (await this.q<ApiKeyDbRow>('findApiKey', [hash])).rows[0]
    if (!r) return undefined
    const rec: ApiKeyRecord = { hash: r.hash, id: r.id, kind: r.kind, principalId: r.principal_id, scopes: r.scopes, createdAt: r.created_at }
    if (r.revoked_at !== null) rec.revokedAt = r.revoked_at
    return rec
  }

  // --- checkout sessions and tokens ---------------------------------------------------------

  async insertCheckoutSession(c: CheckoutSessionRecord): Promise<void> {
    await this.q('insertSession', [c.id, c.protocol, c.merchantId, c.status, JSON.stringify(c.doc), c.version, iso(c.createdAt), iso(c.updatedAt)])
  }

  async getCheckoutSession(id: string): Promise<CheckoutSessionRecord | undefined> {
    const r = (await this.q<{ id: string; protocol: string; merchant_id: string; status: string; doc: unknown; version: number; created_at: Date; updated_at: Date }>('getSession', [id])).rows[0]
    if (!r) return undefined
    return { id: r.id, protocol: r.protocol, merchantId: r.merchant_id, status: r.status, version: r.version, doc: r.doc, createdAt: r.created_at, updatedAt: r.updated_at }
  }

  async updateCheckoutSession(c: CheckoutSessionRecord, expectedVersion: number): Promise<UpdateRecordResult> {
    if (c.version !== expectedVersion + 1) throw new StoreUsageError(`session version must be ${expectedVersion + 1}, got ${c.version}`)
    // After the CTE, a re-read of the row sees the pre-update snapshot: `current` is the version
    // before this statement (or null when there is no such session).
    const r = (await this.q<{ updated: number; current: number | null }>('updateSession', [c.status, JSON.stringify(c.doc), c.version, iso(c.updatedAt), c.id, expectedVersion])).rows[0]!
    if (r.updated === 1) return { ok: true }
    return r.current === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_conflict', currentVersion: r.current }
  }

  async insertToken(t: TokenRecord): Promise<void> {
    await this.q('insertToken', [t.id, JSON.stringify(t.doc), t.state, iso(t.expiresAt)])
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const r = (await this.q<{ id: string; doc: unknown; state: string; expires_at: Date }>('getToken', [id])).rows[0]
    return r ? { id: r.id, state: r.state, expiresAt: r.expires_at, doc: r.doc } : undefined
  }

  async transitionToken(p: TransitionTokenParameters): Promise<boolean> {
    const params = [p.to, p.doc === undefined ? null : JSON.stringify(p.doc), p.id, p.from, p.expectRedemptionKey !== undefined, p.expectRedemptionKey ?? null, p.expectUnboundRedemption === true, p.expectRedemptionIntentId !== undefined, p.expectRedemptionIntentId ?? null]
    return ((await this.q('transitionToken', params)).rowCount ?? 0) === 1
  }

  // --- open-mandate spend -------------------------------------------------------------------

  async addMandateSpend(p: { mandateId: string; spendId: string; amount: string; currency: string; at: Date }): Promise<boolean> {
    return ((await this.q('addMandateSpend', [p.mandateId, p.spendId, p.amount, p.currency, iso(p.at)])).rowCount ?? 0) === 1
  }

  async removeMandateSpend(p: { mandateId: string; spendId: string }): Promise<boolean> {
    return ((await this.q('removeMandateSpend', [p.mandateId, p.spendId])).rowCount ?? 0) === 1
  }

  async getMandateSpend(mandateId: string): Promise<MandateSpendRecord[]> {
    const rows = (await this.q<{ spend_id: string; amount: string; currency: string; at: Date }>('getMandateSpend', [mandateId])).rows
    return rows.map((r) => ({ spendId: r.spend_id, amount: r.amount, currency: r.currency, at: r.at }))
  }

  // --- risk rules (A): delegated to {@link PostgresRiskQueries} -------------------------------

  #risk: PostgresRiskQueries | undefined
  private get risk(): PostgresRiskQueries {
    return (this.#risk ??= new PostgresRiskQueries(this.pool))
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

  // --- refunds and disputes (D): delegated to {@link PostgresRefundsDisputes} -------------------

  private get rd(): PostgresRefundsDisputes {
    return (this.refundsDisputes ??= new PostgresRefundsDisputes(this.pool))
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

  // --- wallets and spend reservations (W) ----------------------------------------------------

  private wq<R extends pg.QueryResultRow>(name: keyof typeof WALLET_SQL, values: unknown[], client: pg.Pool | pg.PoolClient = this.pool): Promise<pg.QueryResult<R>> {
    return client.query<R>({ name: `wallet_${name}`, text: WALLET_SQL[name], values })
  }

  async insertWallet(w: WalletRecord): Promise<boolean> {
    const r = await this.wq('insertWallet', [w.id, w.userId, w.agentId, JSON.stringify(walletToDoc(w)), iso(w.createdAt), w.version, iso(w.updatedAt)])
    return (r.rowCount ?? 0) === 1
  }

  async getWallet(id: string): Promise<WalletRecord | undefined> {
    const r = (await this.wq<WalletPgRow>('getWallet', [id])).rows[0]
    return r ? walletFromRow(r) : undefined
  }

  async getWalletForAgent(agentId: string): Promise<WalletRecord | undefined> {
    const r = (await this.wq<WalletPgRow>('getWalletForAgent', [agentId])).rows[0]
    return r ? walletFromRow(r) : undefined
  }

  async updateWallet(w: WalletRecord, expectedVersion: number): Promise<UpdateRecordResult> {
    if (w.version !== expectedVersion + 1) throw new StoreUsageError(`updateWallet: version must be ${expectedVersion + 1}, got ${w.version}`)
    const r = (await this.wq<{ updated: number; current: number | null }>('updateWallet', [w.userId, w.agentId, JSON.stringify(walletToDoc(w)), w.version, iso(w.updatedAt), w.id, expectedVersion])).rows[0]!
    if (r.updated === 1) return { ok: true }
    return r.current === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_conflict', currentVersion: r.current }
  }

  private async walletSpendNow(walletId: string, now: Date, client: pg.Pool | pg.PoolClient = this.pool): Promise<WalletSpend> {
    const { dayStart, monthStart } = spendWindows(now)
    return (await this.wq<WalletSpend>('spend', [walletId, iso(dayStart), iso(monthStart)], client)).rows[0]!
  }

  async reserveWalletSpend(p: ReserveWalletSpendParams): Promise<ReserveWalletSpendResult> {
    // One transaction holding the wallet row lock: reservations of one wallet are serialised across
    // every process; each statement after the lock sees the rows the previous holder committed.
    const client = await this.pool.connect()
    let done = false
    try {
      await client.query('BEGIN')
      if ((await this.wq('lockWallet', [p.walletId], client)).rowCount !== 1) {
        await client.query('ROLLBACK')
        done = true
        return { ok: false, reason: 'wallet_not_found' }
      }
      const before = await this.walletSpendNow(p.walletId, p.now, client)
      let result: ReserveWalletSpendResult
      if ((await this.wq('getSpend', [p.intentId], client)).rowCount === 1) result = { ok: true, existing: true, before, after: before }
      else {
        const d = decideReservation(before, p.amount, p)
        if (!d.ok) result = { ok: false, reason: d.reason, spent: before }
        else {
          await this.wq('insertSpend', [p.intentId, p.walletId, p.amount, p.asset, iso(p.now)], client)
          result = { ok: true, existing: false, before, after: d.after }
        }
      }
      await client.query('COMMIT')
      done = true
      return result
    } finally {
      if (!done) await client.query('ROLLBACK').catch(() => {})
      client.release()
    }
  }

  async releaseWalletSpend(p: { intentId: string }): Promise<boolean> {
    return ((await this.wq('deleteSpend', [p.intentId])).rowCount ?? 0) === 1
  }

  async getWalletSpend(p: { walletId: string; now: Date }): Promise<WalletSpend> {
    return this.walletSpendNow(p.walletId, p.now)
  }
}

// --- wallets and spend reservations (W) --------------------------------------------------------

type WalletPgRow = { id: string; user_id: string; agent_id: string | null; doc: WalletDoc; created_at: Date; version: number; updated_at: Date | null }

const WALLET_COLS = 'id, user_id, agent_id, doc, created_at, version, updated_at'
const WALLET_SQL = {
  insertWallet: `INSERT INTO wallets (${WALLET_COLS}) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
  getWallet: `SELECT ${WALLET_COLS} FROM wallets WHERE id = $1`,
  getWalletForAgent: `SELECT ${WALLET_COLS} FROM wallets WHERE agent_id = $1 ORDER BY created_at, id LIMIT 1`,
  updateWallet: `
    WITH upd AS (
      UPDATE wallets SET user_id = $1, agent_id = $2, doc = $3::jsonb, version = $4, updated_at = $5 WHERE id = $6 AND version = $7 RETURNING 1
    )
    SELECT (SELECT count(*)::int FROM upd) AS updated, (SELECT version FROM wallets WHERE id = $6) AS current`,
  lockWallet: 'SELECT 1 FROM wallets WHERE id = $1 FOR UPDATE',
  // Reservations whose intent is neither failed nor canceled (an intent-less row counts).
  spend: `
    SELECT coalesce(sum(s.amount) FILTER (WHERE s.at >= $2), 0)::text AS day, coalesce(sum(s.amount), 0)::text AS month
    FROM wallet_spend s LEFT JOIN intents i ON i.id = s.intent_id
    WHERE s.wallet_id = $1 AND s.at >= $3 AND (i.status IS NULL OR i.status NOT IN ('failed', 'canceled'))`,
  getSpend: 'SELECT 1 FROM wallet_spend WHERE intent_id = $1',
  insertSpend: 'INSERT INTO wallet_spend (intent_id, wallet_id, amount, asset, at) VALUES ($1, $2, $3::numeric, $4, $5)',
  deleteSpend: 'DELETE FROM wallet_spend WHERE intent_id = $1',
} as const
