import { GatewayError } from '../errors/gatewayError.js'
import type { ScopedTokenDeps, ScopedTokenDoc, ScopedTokenView } from './types.js'
import { isScopedTokenRecord, scopedTokenView } from './view.js'

export interface RevokeScopedTokenParameters {
  tokenId: string
  /** `agent:<id>` or `admin:<id>`, recorded on the token. */
  actor: string
  /** Agents may revoke their own tokens only (others are not found). */
  agentId?: string | undefined
}

/**
 * Revoke one scoped token (`active → revoked`): every later presentation is refused
 * `GW_TOKEN_REVOKED`. Idempotent: revoking a revoked token returns it unchanged. A token that
 * already paid (`used`) cannot be revoked (`GW_INVALID_TRANSITION`: refund the payment instead).
 * To stop every token of a wallet at once, revoke the wallet's consent.
 */
export async function revokeScopedToken(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>, params: RevokeScopedTokenParameters): Promise<ScopedTokenView> {
  const now = (deps.clock ?? (() => new Date()))()
  for (;;) {
    const rec = await deps.store.getToken(params.tokenId)
    if (!isScopedTokenRecord(rec) || (params.agentId !== undefined && rec.doc.claims.agent_id !== params.agentId)) throw new GatewayError('GW_NOT_FOUND', `no token ${params.tokenId}`)
    if (rec.state === 'revoked') return scopedTokenView(rec, now)
    if (rec.state !== 'active') throw new GatewayError('GW_INVALID_TRANSITION', `the token is ${rec.state}: only an active token can be revoked`)
    const doc: ScopedTokenDoc = { ...rec.doc, revoked_at: now.toISOString(), revoked_by: params.actor }
    if (await deps.store.transitionToken({ id: rec.id, from: 'active', to: 'revoked', doc })) return scopedTokenView({ ...rec, state: 'revoked', doc }, now)
    // Lost a race with a redemption or another revocation: read again and answer from the new state.
  }
}

/** Read one scoped token's public view; agents see their own tokens only. */
export async function getScopedToken(deps: Pick<ScopedTokenDeps, 'store' | 'clock'>, params: { tokenId: string; agentId?: string | undefined }): Promise<ScopedTokenView> {
  const rec = await deps.store.getToken(params.tokenId)
  if (!isScopedTokenRecord(rec) || (params.agentId !== undefined && rec.doc.claims.agent_id !== params.agentId)) throw new GatewayError('GW_NOT_FOUND', `no token ${params.tokenId}`)
  return scopedTokenView(rec, (deps.clock ?? (() => new Date()))())
}
