import type { OutboxInsert } from '../port.js'

/**
 * The SQL of intent writes on PostgreSQL. Every write is ONE statement (one round trip, one
 * commit, atomic in autocommit): data-modifying CTEs write the intent, its audit event and its
 * outbox rows together. Statements come in shapes so the common call binds only what it uses:
 * outbox rows are bound as scalars when there is one (the usual case) and as arrays for
 * `unnest` when there are several; the dedupe arm (`ON CONFLICT … DO NOTHING`) exists only when
 * the call has a dedupe key. Each shape has its own prepared-statement name.
 */

const iso = (d: Date): string => d.toISOString()

/** How a write's outbox rows are bound: none, one row as scalars, several as arrays. */
export type OutboxShape = 'none' | 'one' | 'many'

export function outboxShape(rows: readonly OutboxInsert[]): OutboxShape {
  return rows.length === 0 ? 'none' : rows.length === 1 ? 'one' : 'many'
}

/** The parameters binding `rows` in `shape` (6 values either way). */
export function outboxParams(rows: readonly OutboxInsert[], shape: OutboxShape): unknown[] {
  if (shape === 'none') return []
  if (shape === 'one') {
    const o = rows[0]!
    return [o.id, o.type, o.destination, o.payload, o.aggregateId ?? null, iso(o.createdAt)]
  }
  const cols: [string[], string[], string[], string[], Array<string | null>, string[]] = [[], [], [], [], [], []]
  for (const o of rows) {
    cols[0].push(o.id)
    cols[1].push(o.type)
    cols[2].push(o.destination)
    cols[3].push(o.payload)
    cols[4].push(o.aggregateId ?? null)
    cols[5].push(iso(o.createdAt))
  }
  return cols
}

/**
 * `INSERT INTO outbox …` for rows bound from parameter `$n` on; with `from`, the rows are
 * inserted once per row of that CTE (zero or one), i.e. only if the intent write happened.
 */
export function outboxInsertSql(shape: 'one' | 'many', n: number, from?: string): string {
  const cols = 'INSERT INTO outbox (id, type, destination, payload, aggregate_id, next_attempt_at, created_at)'
  if (shape === 'one') {
    const v = `$${n}::text, $${n + 1}::text, $${n + 2}::text, $${n + 3}::text, $${n + 4}::text, $${n + 5}::timestamptz, $${n + 5}::timestamptz`
    return from ? `${cols} SELECT ${v} FROM ${from}` : `${cols} VALUES (${v})`
  }
  return `${cols}
    SELECT o.id, o.type, o.destination, o.payload, o.aggregate_id, o.created_at, o.created_at
    FROM ${from ? `${from}, ` : ''}unnest($${n}::text[], $${n + 1}::text[], $${n + 2}::text[], $${n + 3}::text[], $${n + 4}::text[], $${n + 5}::timestamptz[])
      AS o (id, type, destination, payload, aggregate_id, created_at)`
}

/** The scalar parameters of one intent insert, $1…$13 (see {@link insertIntentSql}). */
export const INSERT_PARAMS = 13

/**
 * One intent insert. Parameters: $1 id, $2 merchant_id, $3 protocol, $4 status, $5 version, $6
 * doc, $7 event hash (= audit_head), $8 created_at, $9 updated_at, $10 event type, $11 actor,
 * $12 at, $13 event doc; then $14 the dedupe key (if any); then the outbox rows.
 * With a dedupe key the statement returns `inserted` (the id, or null on conflict) and `existing`
 * (the id holding the key, when visible to this statement's snapshot).
 */
export function insertIntentSql(dedupe: boolean, outbox: OutboxShape): string {
  const values = `($1::text, $2::text, $3, $4, $5, ${dedupe ? '$14::text' : 'NULL'}, $6::jsonb, $7::text, 1, $8, $9)`
  const intentCols = 'intents (id, merchant_id, protocol, status, version, dedupe_key, doc, audit_head, audit_seq, created_at, updated_at)'
  const eventCols = 'intent_events (intent_id, seq, type, actor, at, doc, hash)'
  const ob = dedupe ? 15 : 14
  if (!dedupe) {
    // No conflict is possible, only a failure, which aborts the whole statement: the event and
    // the outbox rows need no dependency on the intent insert.
    return `WITH ins AS (INSERT INTO ${intentCols} VALUES ${values})${
      outbox === 'none' ? '' : `, ob AS (${outboxInsertSql(outbox, ob)})`
    }
INSERT INTO ${eventCols} VALUES ($1::text, 1, $10, $11, $12, $13, $7::text)`
  }
  return `WITH ins AS (
  INSERT INTO ${intentCols} VALUES ${values}
  ON CONFLICT (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
  RETURNING id
), ev AS (
  INSERT INTO ${eventCols} SELECT ins.id, 1, $10, $11, $12, $13, $7::text FROM ins
)${outbox === 'none' ? '' : `, ob AS (${outboxInsertSql(outbox, ob, 'ins')})`}
SELECT (SELECT id FROM ins) AS inserted,
       (SELECT id FROM intents WHERE merchant_id = $2::text AND dedupe_key = $14::text) AS existing`
}

/**
 * Several intent inserts as ONE statement (group commit of concurrent callers). Parameters: the
 * 14 columns of {@link insertIntentSql} as arrays (dedupe keys may be null), then seven outbox
 * arrays (the six columns and the id of the intent each row belongs to). Rows whose dedupe key
 * is taken are skipped with their event and outbox rows; returns the ids inserted.
 */
export function insertIntentBatchSql(withOutbox: boolean): string {
  return `WITH src AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::timestamptz[],
                       $9::timestamptz[], $10::text[], $11::text[], $12::timestamptz[], $13::text[], $14::text[])
    AS s (id, merchant_id, protocol, status, version, doc, hash, created_at, updated_at, type, actor, at, event_doc, dedupe_key)
), plain AS (
  -- Without a dedupe key no conflict is possible: a plain insert, not ON CONFLICT's speculative
  -- insertion (an extra WAL record per row).
  INSERT INTO intents (id, merchant_id, protocol, status, version, dedupe_key, doc, audit_head, audit_seq, created_at, updated_at)
  SELECT id, merchant_id, protocol, status, version, NULL, doc::jsonb, hash, 1, created_at, updated_at FROM src WHERE dedupe_key IS NULL
  RETURNING id
), deduped AS (
  INSERT INTO intents (id, merchant_id, protocol, status, version, dedupe_key, doc, audit_head, audit_seq, created_at, updated_at)
  SELECT id, merchant_id, protocol, status, version, dedupe_key, doc::jsonb, hash, 1, created_at, updated_at FROM src WHERE dedupe_key IS NOT NULL
  ON CONFLICT (merchant_id, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
  RETURNING id
), ins AS (
  SELECT id FROM plain UNION ALL SELECT id FROM deduped
), ev AS (
  INSERT INTO intent_events (intent_id, seq, type, actor, at, doc, hash)
  SELECT src.id, 1, src.type, src.actor, src.at, src.event_doc, src.hash FROM src JOIN ins ON ins.id = src.id
)${
    withOutbox
      ? `, ob AS (
  INSERT INTO outbox (id, type, destination, payload, aggregate_id, next_attempt_at, created_at)
  SELECT o.id, o.type, o.destination, o.payload, o.aggregate_id, o.created_at, o.created_at
  FROM unnest($15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::timestamptz[], $21::text[])
    AS o (id, type, destination, payload, aggregate_id, created_at, intent_id)
  JOIN ins ON ins.id = o.intent_id
)`
      : ''
  }
SELECT id FROM ins`
}

/**
 * One conditional intent update: applies only if the stored version AND chain head are the ones
 * the event extends; the event and outbox rows select from the UPDATE's RETURNING, so they are
 * written only with it. Parameters: $1 id, $2 status, $3 version, $4 doc, $5 event hash, $6 event
 * seq, $7 updated_at, $8 expected version, $9 event prev_hash, $10 type, $11 actor, $12 at, $13
 * event doc; then the outbox rows.
 */
export function updateIntentSql(outbox: OutboxShape): string {
  return `WITH upd AS (
  UPDATE intents SET status = $2, version = $3, doc = $4::jsonb, audit_head = $5::text, audit_seq = $6::int, updated_at = $7
  WHERE id = $1::text AND version = $8 AND audit_seq = $6::int - 1 AND audit_head = $9
  RETURNING id
), ev AS (
  INSERT INTO intent_events (intent_id, seq, type, actor, at, doc, hash)
  SELECT upd.id, $6::int, $10, $11, $12, $13, $5::text FROM upd
)${outbox === 'none' ? '' : `, ob AS (${outboxInsertSql(outbox, 14, 'upd')})`}
SELECT count(*)::int AS updated FROM upd`
}
