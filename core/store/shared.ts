import { GENESIS_HASH } from '../events/audit.js'
import type { ClaimIdempotencyParams, ClaimIdempotencyResult, InsertIntentParams, StoredResponse, UpdateIntentParams } from './port.js'

/**
 * Semantics shared by both store implementations (the contract suite pins them down):
 *
 * - A lease or lock holds while `now < until`; at `until` it has expired.
 * - `in_flight` answers carry `retryAfterMs` = the remaining lease, at least {@link MIN_RETRY_AFTER_MS}.
 * - An idempotency key reused with another fingerprint is a `conflict`, whether its first request
 *   is done, in flight, or was abandoned (expired lease): only the same request may take over.
 * - A 5xx response is never stored: completing a key with one releases it instead.
 */
export const MIN_RETRY_AFTER_MS = 1000

/** A caller's programming error (not a store failure, not an outcome): thrown before any write. */
export class StoreUsageError extends Error {
  override readonly name = 'StoreUsageError'
}

export function checkInsert(p: InsertIntentParams): void {
  const { intent, event } = p
  if (event.intent_id !== intent.id) throw new StoreUsageError(`insertIntent: event.intent_id ${event.intent_id} is not intent ${intent.id}`)
  if (event.seq !== 1) throw new StoreUsageError(`insertIntent: the first event must have seq 1, not ${event.seq}`)
  if (event.prev_hash !== GENESIS_HASH) throw new StoreUsageError('insertIntent: the first event must chain from the genesis hash')
  if (event.to_status !== intent.status) throw new StoreUsageError('insertIntent: event.to_status differs from intent.status')
}

export function checkUpdate(p: UpdateIntentParams): void {
  const { intent, event, expectedVersion } = p
  if (event.intent_id !== intent.id) throw new StoreUsageError(`updateIntent: event.intent_id ${event.intent_id} is not intent ${intent.id}`)
  if (intent.version !== expectedVersion + 1)
    throw new StoreUsageError(`updateIntent: intent.version must be expectedVersion + 1 (${expectedVersion + 1}), got ${intent.version}`)
  if (event.to_status !== intent.status) throw new StoreUsageError('updateIntent: event.to_status differs from intent.status')
}

/** The stored state of an idempotency key, as both dialects read it. */
export interface IdempotencyRow {
  fingerprint: string
  state: 'in_flight' | 'done'
  owner: string
  lockedUntilMs: number | null
  statusCode: number | null
  headers: Record<string, string> | null
  body: string | null
}

/**
 * What a claim finds when the key already exists: an answer, or `takeover` (same request, its
 * lease expired: the caller may take the key over with a conditional update on `owner`).
 */
export function decideExistingClaim(row: IdempotencyRow, p: ClaimIdempotencyParams): ClaimIdempotencyResult | { kind: 'takeover' } {
  if (row.fingerprint !== p.fingerprint) return { kind: 'conflict' }
  if (row.state === 'done') {
    const response: StoredResponse = { status: row.statusCode ?? 200, headers: row.headers ?? {}, body: row.body ?? '' }
    return { kind: 'replay', response }
  }
  const remaining = (row.lockedUntilMs ?? 0) - p.now.getTime()
  if (remaining > 0) return { kind: 'in_flight', retryAfterMs: Math.max(MIN_RETRY_AFTER_MS, remaining) }
  return { kind: 'takeover' }
}

export function isStorableResponse(response: StoredResponse): boolean {
  return response.status < 500
}
