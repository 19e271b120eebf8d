/**
 * AP2 error codes (digest §3.5, agent_authorization.md) and the gateway's own additions. An error
 * receipt's `error` is one of these; the HTTP surfaces render the same code in AP2's format.
 *
 * - `invalid_credential`: verification failed (signature, trust, binding hash, time, audience,
 *   nonce). Terminal.
 * - `invalid_mandate`: the mandates verify but do not authorise this action (wrong `vct`, missing
 *   claims, `checkout_hash` / `transaction_id` / `payment.reference` mismatch, payee or amount
 *   differing from the checkout, a changed pre-set claim, the double-spend rule). Terminal.
 * - `unresolved_constraint`: a constraint is unknown or not satisfied; the shopping agent MAY bring
 *   the user back (human present) and present user-signed closed mandates instead. Budget and
 *   recurrence limits land here too.
 * - `mandates_not_supported`: the gateway does not take this kind of mandate (AP2 v0.1 without
 *   the policy flag, DPC / OpenID4VP presentations, an instrument no rail settles); fall back to a
 *   non-agentic flow.
 *
 * Our additions, used only where the four do not fit: `payment_declined` (the rail or policy said
 * no after every mandate check passed) and `invalid_request` (not an AP2 message at all: no receipt
 * can be bound to it).
 */
export const AP2_ERROR_CODES = ['invalid_credential', 'invalid_mandate', 'unresolved_constraint', 'mandates_not_supported', 'payment_declined', 'invalid_request'] as const
export type Ap2ErrorCode = (typeof AP2_ERROR_CODES)[number]

/** HTTP status of each code on the REST surface (A2A always answers JSON-RPC over 200). */
export const AP2_HTTP_STATUS: Readonly<Record<Ap2ErrorCode, number>> = {
  invalid_credential: 401,
  invalid_mandate: 403,
  unresolved_constraint: 403,
  mandates_not_supported: 422,
  payment_declined: 402,
  invalid_request: 400,
}

/** A refusal as a value (CONVENTIONS §5): a code and a precise, human-readable description. */
export interface Ap2Failure {
  ok: false
  error: Ap2ErrorCode
  description: string
}

export function fail(error: Ap2ErrorCode, description: string): Ap2Failure {
  return { ok: false, error, description }
}
