import type { PolicyDecision, PolicyEngine } from '../policy/port.js'
import { releaseScopedTokenOfIntent } from './releaseScopedToken.js'
import type { ScopedTokenDeps, ScopedTokenDoc } from './types.js'
import { isScopedTokenRecord, scopedTokenIdOf } from './view.js'


/**
 * The scoped-token policy engine (composed after the wallets engine):
 *
 * - `evaluate`: an intent authorised by a scoped token must hold it — the token is `used` by a
 *   redemption, and that redemption is bound to this intent (the first evaluation binds it). An
 *   intent whose token is active, revoked, unknown, or bound to another intent is denied. This is a
 *   second line behind the single `active → used` update and the adapters' dedupe keys (the bind is
 *   a read-then-write, not itself a lock). Intents without a scoped token are allowed untouched.
 * - `release`: the intent ended without moving money (a later engine denied it, an approval was
 *   denied or expired): the token becomes usable again (see `releaseScopedTokenOfIntent`, which
 *   `transitionIntent` also runs after every move to `failed` / `canceled`).
 */
export function createScopedTokenPolicy(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>): PolicyEngine {
  const deny = (reason: string): PolicyDecision => ({ decision: 'deny', reasons: [reason] })
  return {
    async evaluate(intent) {
      const tokenId = scopedTokenIdOf(intent)
      if (!tokenId) return { decision: 'allow' }
      const rec = await deps.store.getToken(tokenId)
      if (!isScopedTokenRecord(rec)) return deny('scoped_token_unknown')
      if (rec.state !== 'used' || !rec.doc.redemption) return deny(rec.state === 'revoked' ? 'scoped_token_revoked' : 'scoped_token_not_redeemed')
      const bound = rec.doc.redemption.intent_id
      if (bound !== undefined) return bound === intent.id ? { decision: 'allow', reasons: ['scoped_token_held'] } : deny('scoped_token_bound_to_other_intent')
      const doc: ScopedTokenDoc = { ...rec.doc, redemption: { ...rec.doc.redemption, intent_id: intent.id } }
      // Bind only the redemption read above, and only while it is bound to no intent yet.
      await deps.store.transitionToken({ id: tokenId, from: 'used', to: 'used', doc, expectRedemptionKey: rec.doc.redemption.key, expectUnboundRedemption: true })
      const after = await deps.store.getToken(tokenId)
      if (!isScopedTokenRecord(after) || after.state !== 'used' || after.doc.redemption?.key !== rec.doc.redemption.key || after.doc.redemption.intent_id !== intent.id) {
        return deny('scoped_token_bound_to_other_intent')
      }
      return { decision: 'allow', reasons: ['scoped_token_held'] }
    },
    async release(intent) {
      await releaseScopedTokenOfIntent(deps, intent)
    },
  }
}
