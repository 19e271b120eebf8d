import type { PaymentIntent, RailAttempt } from '../intent/types.js'
import { classifyTransportCode } from '../routing/rules.js'
import type { TokenRecord } from '../store/port.js'
import type { ScopedTokenDeps, ScopedTokenDoc } from './types.js'
import { isScopedTokenRecord, scopedTokenIdOf } from './view.js'

export interface ReleaseScopedTokenParameters {
  tokenId: string
  /** Only the presentation that holds the token may give it back. */
  redemptionKey: string
  /** The payment the token was redeemed for, in its final state. */
  intent: PaymentIntent
}

/**
 * Whether an ended intent provably moved no money: it ended `failed` or `canceled`, recorded no
 * settlement and no `succeeded` attempt, and every attempt that may have reached a rail (`unknown`,
 * `error`) was answered later by a definitive decline of that same rail — its answer for the
 * intent's one idempotency key, e.g. the reconciler's query of an unknown outcome — or provably
 * never left (a connect-phase transport code). Policy denials, approval denials and expiries have
 * no attempt at all. An attempt still unresolved keeps the token used, forever.
 */
export function intentMovedNoMoney(intent: PaymentIntent): boolean {
  if (intent.status !== 'failed' && intent.status !== 'canceled') return false
  if (intent.settlement) return false
  const attempts = intent.route?.attempts ?? []
  return attempts.every((a, i) => {
    if (a.outcome === 'declined') return true
    if (a.outcome === 'succeeded') return false
    return provablyNotSent(a) || attempts.slice(i + 1).some((later) => later.rail === a.rail && later.outcome === 'declined')
  })
}

function provablyNotSent(a: RailAttempt): boolean {
  return a.code !== undefined && classifyTransportCode(a.code).kind === 'not_sent'
}

/**
 * Give a redeemed token back (`used → active`) when its payment definitively did not happen
 * ({@link intentMovedNoMoney}): the token may pay once more, still within its scope and expiry.
 * Anything else — still processing, succeeded, an unknown rail outcome — keeps it `used`.
 * Returns whether the token became active again.
 *
 * @example await releaseScopedTokenIfUnpaid(deps, { tokenId: r.tokenId, redemptionKey: r.redemptionKey, intent })
 */
export async function releaseScopedTokenIfUnpaid(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>, params: ReleaseScopedTokenParameters): Promise<boolean> {
  if (!intentMovedNoMoney(params.intent)) return false
  const rec = await deps.store.getToken(params.tokenId)
  if (!isScopedTokenRecord(rec) || rec.state !== 'used' || rec.doc.redemption?.key !== params.redemptionKey) return false
  return giveBack(deps, rec, params.intent)
}

/**
 * The one release for an intent that reached `failed` or `canceled`, whichever path ended it
 * (a synchronous decline, the reconciler, an approval denied or expired, a cancel): when the intent
 * was authorised by a scoped token whose redemption is bound to THIS intent, and the intent
 * provably moved no money ({@link intentMovedNoMoney}), the token becomes `active` again.
 * `transitionIntent` calls it after every such transition. Idempotent; a revoked token, a token
 * redeemed again since, or one bound to another intent is left alone (an expired token may become
 * `active` but never pays: redemption checks the expiry). Returns whether the token was given back.
 *
 * @example await releaseScopedTokenOfIntent({ store }, failedIntent)
 */
export async function releaseScopedTokenOfIntent(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>, intent: PaymentIntent): Promise<boolean> {
  const tokenId = scopedTokenIdOf(intent)
  if (!tokenId || !intentMovedNoMoney(intent)) return false
  const rec = await deps.store.getToken(tokenId)
  if (!isScopedTokenRecord(rec) || rec.state !== 'used' || rec.doc.redemption?.intent_id !== intent.id) return false
  return giveBack(deps, rec, intent)
}

/** `used → active` for the redemption read in `rec`, and only while it is still the stored one. */
async function giveBack(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>, rec: TokenRecord & { doc: ScopedTokenDoc }, intent: PaymentIntent): Promise<boolean> {
  const redemption = rec.doc.redemption
  if (!redemption) return false
  const at = (deps.clock ?? (() => new Date()))().toISOString()
  const { redemption: _dropped, ...rest } = rec.doc
  const doc: ScopedTokenDoc = { ...rest, released: [...(rec.doc.released ?? []), { at, reason: intent.status_reason ?? intent.status, intent_id: intent.id }] }
  // Only while the redemption read above (its key AND the intent it is bound to, or none) is still
  // the stored one: a stale release must not re-activate a token another presentation redeemed in
  // between, nor the same presentation's newer redemption for another intent.
  return deps.store.transitionToken({ id: rec.id, from: 'used', to: 'active', doc, expectRedemptionKey: redemption.key, expectRedemptionIntentId: redemption.intent_id ?? null })
}
