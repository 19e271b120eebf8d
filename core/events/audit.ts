import { createHash } from 'node:crypto'
import { canonicalJson } from '../util/canonicalJson.js'
import type { AuditEvent } from '../intent/types.js'

/** `prev_hash` of the first event of every chain. */
export const GENESIS_HASH = '0'.repeat(64)

/** The fields of an event that its hash covers (everything but `hash`). */
export type UnhashedAuditEvent = Omit<AuditEvent, 'hash'>

/**
 * SHA-256 hex over `prev_hash` + "\n" + the canonical JSON of every field except `hash`.
 * Covering `prev_hash` twice (prefix and field) is deliberate: the prefix makes the chaining
 * obvious to an auditor re-implementing it.
 */
export function hashAuditEvent(event: UnhashedAuditEvent): string {
  return createHash('sha256').update(event.prev_hash).update('\n').update(canonicalJson(event)).digest('hex')
}

/** Seal an event: compute and attach its hash. */
export function sealAuditEvent(event: UnhashedAuditEvent): AuditEvent {
  return { ...event, hash: hashAuditEvent(event) }
}

export type VerifyAuditChainResult =
  | { valid: true; length: number; head: string }
  | { valid: false; problem: string; seq?: number | undefined }

/**
 * Verify an intent's audit chain: sequence numbers 1..n without gaps, each `prev_hash` equal to
 * the previous event's hash, each hash recomputed from the row, all events for the same intent,
 * and (when given) the head recorded on the intent row equal to the last event — so an edited,
 * deleted or appended row is detected, including the newest one.
 */
export function verifyAuditChain(
  events: readonly AuditEvent[],
  expected?: { intentId?: string; head?: string; seq?: number; status?: string },
): VerifyAuditChainResult {
  if (events.length === 0) return { valid: false, problem: 'no events' }
  let prev = GENESIS_HASH
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!
    if (e.seq !== i + 1) return { valid: false, problem: `expected seq ${i + 1}, found ${e.seq}`, seq: e.seq }
    if (expected?.intentId !== undefined && e.intent_id !== expected.intentId)
      return { valid: false, problem: `event of another intent (${e.intent_id})`, seq: e.seq }
    if (e.prev_hash !== prev) return { valid: false, problem: 'prev_hash does not match the previous event', seq: e.seq }
    const { hash, ...rest } = e
    if (hashAuditEvent(rest) !== hash) return { valid: false, problem: 'hash does not match the event content', seq: e.seq }
    if (i > 0 && e.from_status !== events[i - 1]!.to_status)
      return { valid: false, problem: 'from_status does not follow the previous event', seq: e.seq }
    prev = hash
  }
  const last = events[events.length - 1]!
  if (expected?.head !== undefined && expected.head !== last.hash)
    return { valid: false, problem: 'chain head recorded on the intent differs from the last event' }
  if (expected?.seq !== undefined && expected.seq !== last.seq)
    return { valid: false, problem: `intent records ${expected.seq} events, chain has ${last.seq}` }
  if (expected?.status !== undefined && expected.status !== last.to_status)
    return { valid: false, problem: `intent status ${expected.status} differs from the chain's ${last.to_status}` }
  return { valid: true, length: events.length, head: last.hash }
}
