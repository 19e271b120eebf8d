import type { PaymentIntent } from '../intent/types.js'
import type { ScopedTokenDeps, ScopedTokenDoc } from './types.js'
import { isScopedTokenRecord } from './view.js'

export interface ReleaseScopedTokenParameters {
  tokenId: string
  /** Only the presentation that holds the token may give it back. */
  redemptionKey: string
  /** The payment the token was redeemed for, in its final state. */
  intent: PaymentIntent
}

/**
 * Whether an ended intent provably moved no money: it ended `failed` or `canceled` and the rail
 * never answered anything but a definitive decline (policy denials, declines, approval denials have
 * no other attempt). An `unknown` or `succeeded` attempt keeps the token used, forever.
 */
export function intentMovedNoMoney(intent: PaymentIntent): boolean {
  if (intent.status !== 'failed' && intent.status !== 'canceled') return false
  return (intent.route?.attempts ?? []).every((a) => a.outcome === 'declined')
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
  const at = (deps.clock ?? (() => new Date()))().toISOString()
  const { redemption: _dropped, ...rest } = rec.doc
  const doc: ScopedTokenDoc = { ...rest, released: [...(rec.doc.released ?? []), { at, reason: params.intent.status_reason ?? params.intent.status, intent_id: params.intent.id }] }
  // Only while the redemption read above is still the stored one: a stale release must not
  // re-activate a token another presentation redeemed in between.
  return deps.store.transitionToken({ id: params.tokenId, from: 'used', to: 'active', doc, expectRedemptionKey: params.redemptionKey })
}
