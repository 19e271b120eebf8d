/**
 * The retry and failover rules of a settlement (DESIGN §4 step 5), as pure functions of what one
 * attempt came to. Rails and `settleIntent` classify their own results into an
 * {@link AttemptResult} and ask these functions; nothing here does I/O.
 *
 * Vocabulary:
 * - **retry**: send the same settlement again, with the SAME idempotency key (Alipay
 *   `out_trade_no`), to the same target.
 * - **failover**: send it to the next target instead: another endpoint of the same merchant account
 *   (`scope: 'endpoint'`, the same key is honoured there: one account, one `out_trade_no`
 *   namespace), or another rail (`scope: 'rail'`, a different account and key namespace).
 */

/**
 * What one attempt came to, as far as routing is concerned.
 *
 * - `succeeded`: money moved.
 * - `declined`: a definitive, authenticated no from the rail (insufficient balance, agreement
 *   stopped, bad signature of the payer).
 * - `not_sent`: provably never reached the rail: the connection was refused, the endpoint's breaker
 *   was open, or no endpoint could be tried. Nothing can have been processed.
 * - `unknown`: sent, but no definitive answer (timeout after send, 5xx, `20000`, `U`, an answer
 *   whose signature does not verify). Money may or may not have moved.
 * - `not_processed`: an `unknown` that a query (`alipay.trade.query`) then proved never happened:
 *   the rail has no record of the idempotency key.
 * - `unresolved`: an `unknown` whose query did not answer definitively either.
 */
export type AttemptResult =
  | { kind: 'succeeded' }
  | { kind: 'declined'; code?: string | undefined }
  | { kind: 'not_sent'; cause: 'refused' | 'breaker_open' | 'unavailable' }
  | { kind: 'unknown'; code?: string | undefined }
  | { kind: 'not_processed' }
  | { kind: 'unresolved'; code?: string | undefined }

/** Where a failover would go: another endpoint of the same account, or another rail. */
export type FailoverScope = 'endpoint' | 'rail'

/** Default number of sends of one settlement (the first one included). */
export const DEFAULT_MAX_SEND_ATTEMPTS = 2

/**
 * Whether to send the same settlement again (same idempotency key) after `result`, `attempt` being
 * the number of sends made so far (1 after the first).
 *
 * @example shouldRetry({ kind: 'not_processed' }, 1) // true
 * @example shouldRetry({ kind: 'unknown' }, 1) // false: query first
 */
export function shouldRetry(result: AttemptResult, attempt: number, maxAttempts: number = DEFAULT_MAX_SEND_ATTEMPTS): boolean {
  switch (result.kind) {
    // Done: money moved. A second send could only be refused as a duplicate, or charge twice.
    case 'succeeded':
      return false
    // A decline is the payer's (or the rail's) final answer; sending again gets the same answer, or
    // worse, a different one that charges after the payer was told no.
    case 'declined':
      return false
    // Never retried blind: the first send may have moved money. Query the rail first (the rail
    // turns the query's answer into `not_processed` or a final outcome).
    case 'unknown':
      return false
    // The query could not tell either: leave the intent `processing` for reconciliation.
    case 'unresolved':
      return false
    // Nothing reached the rail: sending again is safe, within the attempt budget.
    case 'not_sent':
      return attempt < maxAttempts
    // The query proved nothing moved: the same key may be sent again, within the attempt budget
    // (the rail's own idempotency on the key still guards against a late first send).
    case 'not_processed':
      return attempt < maxAttempts
  }
}

/**
 * Whether the settlement may move to the next target (endpoint or rail) after `result`.
 *
 * @example shouldFailover({ kind: 'not_sent', cause: 'refused' }) // true
 * @example shouldFailover({ kind: 'declined' }) // false
 * @example shouldFailover({ kind: 'not_processed' }, 'rail') // false: another rail has another key namespace
 */
export function shouldFailover(result: AttemptResult, scope: FailoverScope = 'endpoint'): boolean {
  switch (result.kind) {
    // Done: nothing to fail over.
    case 'succeeded':
      return false
    // A decline never fails over: the other endpoint reaches the same account and the same payer,
    // and another rail would be a second attempt to charge someone who was just refused.
    case 'declined':
      return false
    // An unknown outcome is reconciled first (query), never failed over as is: the first target
    // may have moved money.
    case 'unknown':
      return false
    // The query could not say: stay on this target, reconciliation finishes it.
    case 'unresolved':
      return false
    // Refused connection / open breaker / nothing reachable: nothing was sent anywhere, so any
    // target that can settle the same instrument may take it, another rail included.
    case 'not_sent':
      return true
    // The query proved nothing moved. Another endpoint of the same account shares the key
    // namespace (the same out_trade_no cannot be paid twice there), so it may take it. Another
    // rail may not: a late first send could still complete on the first rail, and no key links the two.
    case 'not_processed':
      return scope === 'endpoint'
  }
}

/** Connection errors that prove the request never reached the server (no TCP connection was made). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Classify a transport error code: a connect-phase failure is `not_sent`; anything else (a reset,
 * a timeout, a 5xx) happened after the request may have been sent and is `unknown`.
 *
 * @example classifyTransportCode('ECONNREFUSED') // { kind: 'not_sent', cause: 'refused' }
 */
export function classifyTransportCode(code: string): AttemptResult {
  if (NOT_SENT_CODES.has(code)) return { kind: 'not_sent', cause: 'refused' }
  if (code === 'GW_RAIL_UNAVAILABLE') return { kind: 'not_sent', cause: 'unavailable' }
  return { kind: 'unknown', code }
}
