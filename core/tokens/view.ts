import type { PaymentIntent } from '../intent/types.js'
import type { TokenRecord } from '../store/port.js'
import type { ScopedTokenDoc, ScopedTokenStatus, ScopedTokenView } from './types.js'

/** Whether a token record is a scoped token (the `tokens` table also holds ACP vault tokens). */
export function isScopedTokenRecord(rec: TokenRecord | undefined): rec is TokenRecord & { doc: ScopedTokenDoc } {
  return rec !== undefined && rec.id.startsWith('gwt_') && typeof rec.doc === 'object' && rec.doc !== null && (rec.doc as { kind?: unknown }).kind === 'scoped'
}

/** The scoped token an intent was authorised by (`authorization.constraints.token_id`), if any. */
export function scopedTokenIdOf(intent: PaymentIntent): string | undefined {
  if (intent.authorization.type !== 'gateway.token') return undefined
  const id = (intent.authorization.constraints as { token_id?: unknown } | undefined)?.token_id
  return typeof id === 'string' && id.startsWith('gwt_') ? id : undefined
}

/** The public view of a scoped token record at `now` (an `active` token past its expiry shows `expired`). */
export function scopedTokenView(rec: TokenRecord & { doc: ScopedTokenDoc }, now: Date): ScopedTokenView {
  const c = rec.doc.claims
  const state = rec.state as ScopedTokenStatus
  const status: ScopedTokenStatus = state === 'active' && rec.expiresAt.getTime() <= now.getTime() ? 'expired' : state
  const v: ScopedTokenView = {
    id: c.id,
    object: 'scoped_token',
    status,
    wallet_id: c.wallet_id,
    agent_id: c.agent_id,
    merchant_id: c.merchant_id,
    max_amount: c.max_amount,
    expires_at: c.expires_at,
    created_at: c.issued_at,
  }
  if (c.category !== undefined) v.category = c.category
  if (rec.state === 'used' && rec.doc.redemption) {
    v.used_at = rec.doc.redemption.at
    if (rec.doc.redemption.intent_id) v.used_by_intent = rec.doc.redemption.intent_id
  }
  if (rec.doc.revoked_at) v.revoked_at = rec.doc.revoked_at
  return v
}
