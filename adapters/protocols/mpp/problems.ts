/**
 * RFC 9457 problem details of the Payment scheme (digest §7): the type URIs under
 * `https://paymentauth.org/problems/`, titles and statuses as mppx emits them.
 */

export const PROBLEM_BASE = 'https://paymentauth.org/problems/'

/** Every problem this adapter answers with. */
export const MppProblems = {
  'payment-required': { title: 'Payment Required', status: 402 },
  'payment-insufficient': { title: 'Payment Insufficient', status: 402 },
  'payment-expired': { title: 'Payment Expired', status: 402 },
  'verification-failed': { title: 'Verification Failed', status: 402 },
  'method-unsupported': { title: 'Method Unsupported', status: 400 },
  'malformed-credential': { title: 'Malformed Credential', status: 402 },
  'invalid-challenge': { title: 'Invalid Challenge', status: 402 },
  'invalid-payload': { title: 'Invalid Payload', status: 402 },
  'bad-request': { title: 'Bad Request', status: 400 },
  'internal-payment-error': { title: 'Internal Payment Error', status: 500 },
  /** A person must act first (DESIGN §4.3: the payment waits for an approval). */
  'payment-action-required': { title: 'Payment Action Required', status: 402 },
} as const

export type MppProblemType = keyof typeof MppProblems

/** An RFC 9457 body (`application/problem+json`), with mppx's `challengeId` of the fresh challenge. */
export interface MppProblemBody {
  type: string
  title: string
  status: number
  detail: string
  challengeId?: string | undefined
  [extra: string]: unknown
}

/**
 * The problem body for `type`.
 *
 * @example problemBody('payment-expired', 'the challenge expired at 2026-01-01T00:00:00Z', freshId)
 */
export function problemBody(type: MppProblemType, detail: string, challengeId?: string, extra: Record<string, unknown> = {}): MppProblemBody {
  const p = MppProblems[type]
  return { type: `${PROBLEM_BASE}${type}`, title: p.title, status: p.status, detail, ...(challengeId ? { challengeId } : {}), ...extra }
}
