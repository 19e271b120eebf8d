import { createHash } from 'node:crypto'
import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import { parseMinorUnits } from '../money/amount.js'
import type { AssetRegistry } from '../money/assets.js'
import type { Store } from '../store/port.js'
import { ulid } from '../util/ids.js'
import { activeKey, resignScopedToken, scopedTokenHash, signScopedToken } from './signing.js'
import type { ScopedTokenClaims, ScopedTokenDeps, ScopedTokenDoc, ScopedTokenView } from './types.js'
import { isScopedTokenRecord, scopedTokenView } from './view.js'

export interface IssueScopedTokenDeps extends ScopedTokenDeps {
  store: ScopedTokenDeps['store'] & Pick<Store, 'getWalletForAgent'>
  assets: AssetRegistry
}

export interface IssueScopedTokenParameters {
  /** Who asks: an agent issues for its own wallets only; an admin for any wallet (then `walletId` is required). */
  issuer: { kind: 'agent' | 'admin'; id: string }
  /** Default (agents): the agent's default wallet. */
  walletId?: string | undefined
  merchantId: string
  maxAmount: Money
  /** Exactly one of `expiresInSeconds` / `expiresAt`. */
  expiresInSeconds?: number | undefined
  expiresAt?: string | undefined
  category?: string | undefined
  /**
   * Makes issuing exactly-once without storing the answer (which holds the token string): the
   * token id is derived from `scope` + `key`, and a second call with the same pair and the same
   * `fingerprint` re-signs the stored claims and returns the SAME token (`replayed: true`); another
   * fingerprint is `GW_IDEMPOTENCY_CONFLICT`. Concurrent calls race on the unique id.
   */
  requestKey?: { scope: string; key: string; fingerprint: string } | undefined
}

export interface IssueScopedTokenReturnType {
  /** The token string: shown once, never stored (only its SHA-256 and the signed claims are). */
  token: string
  view: ScopedTokenView
  /** `true` when `requestKey` matched an earlier issue (the same token is returned). */
  replayed: boolean
}

export type IssueScopedTokenErrorType = GatewayError

/**
 * Issue a scoped single-use token bound to a wallet (and so its agent), a merchant, a maximum
 * amount, an expiry and optionally a category, signed with the active HMAC key.
 *
 * @example
 * const { token } = await issueScopedToken(deps, {
 *   issuer: { kind: 'agent', id: 'agent_1' }, merchantId: 'm1',
 *   maxAmount: { value: '5000', asset: 'iso4217:CNY' }, expiresInSeconds: 600,
 * })
 */
export async function issueScopedToken(deps: IssueScopedTokenDeps, params: IssueScopedTokenParameters): Promise<IssueScopedTokenReturnType> {
  const now = (deps.clock ?? (() => new Date()))()
  const rk = params.requestKey
  const id = rk ? idFromRequestKey(rk.scope, rk.key) : `gwt_${ulid(now.getTime())}`
  if (rk) {
    const earlier = await replayOf(deps, id, rk.fingerprint, now)
    if (earlier) return earlier
  }
  try {
    if (parseMinorUnits(params.maxAmount.value) <= 0n) throw new Error('must be greater than 0')
  } catch (e) {
    throw new GatewayError('GW_AMOUNT_INVALID', `max_amount.value: ${e instanceof Error ? e.message : String(e)}`, { details: [{ path: 'max_amount.value' }] })
  }
  if (!deps.assets.get(params.maxAmount.asset)) {
    throw new GatewayError('GW_ASSET_UNKNOWN', `max_amount.asset: ${params.maxAmount.asset} is not in the asset registry`, { details: [{ path: 'max_amount.asset' }] })
  }
  const expiresAt = expiryOf(params, now, deps.settings.maxTtlSeconds)

  const { issuer } = params
  let wallet
  if (params.walletId !== undefined) {
    wallet = await deps.store.getWallet(params.walletId)
    // An agent must not learn whether another agent's wallet exists.
    if (!wallet || (issuer.kind === 'agent' && wallet.agentId !== issuer.id)) throw new GatewayError('GW_NOT_FOUND', `no wallet ${params.walletId}`)
  } else {
    if (issuer.kind !== 'agent') throw new GatewayError('GW_SCHEMA_INVALID', 'wallet_id is required for an admin key', { details: [{ path: 'wallet_id', message: 'is required' }] })
    wallet = await deps.store.getWalletForAgent(issuer.id)
    if (!wallet) throw new GatewayError('GW_NOT_FOUND', `agent ${issuer.id} has no wallet; create one first (POST /v1/wallets)`)
  }
  if (wallet.consent !== 'granted') throw new GatewayError('GW_TOKEN_REVOKED', `the consent of wallet ${wallet.id} was revoked: no token can be issued for it`)

  const claims: ScopedTokenClaims = {
    id,
    kid: activeKey(deps.settings).id,
    wallet_id: wallet.id,
    agent_id: wallet.agentId,
    merchant_id: params.merchantId,
    max_amount: { value: params.maxAmount.value, asset: params.maxAmount.asset },
    expires_at: expiresAt.toISOString(),
    issued_at: now.toISOString(),
    ...(params.category !== undefined ? { category: params.category } : {}),
  }
  const token = signScopedToken(deps.settings, claims)
  const doc: ScopedTokenDoc = {
    kind: 'scoped',
    claims,
    token_sha256: scopedTokenHash(token),
    issued_by: `${issuer.kind}:${issuer.id}`,
    ...(rk ? { request_fingerprint: rk.fingerprint } : {}),
  }
  try {
    await deps.store.insertToken({ id: claims.id, state: 'active', expiresAt, doc })
  } catch (err) {
    // A concurrent call with the same request key inserted first: answer as its replay.
    const earlier = rk ? await replayOf(deps, id, rk.fingerprint, now) : undefined
    if (earlier) return earlier
    throw err
  }
  return { token, view: scopedTokenView({ id: claims.id, state: 'active', expiresAt, doc }, now), replayed: false }
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** `gwt_` + 26 Crockford base32 characters of SHA-256(scope, key): the same request, the same id. */
function idFromRequestKey(scope: string, key: string): string {
  const h = createHash('sha256').update(scope).update('\n').update(key).digest()
  let out = ''
  for (let i = 0; i < 26; i++) out += CROCKFORD[h[i]! & 31]
  return `gwt_${out}`
}

async function replayOf(deps: IssueScopedTokenDeps, id: string, fingerprint: string, now: Date): Promise<IssueScopedTokenReturnType | undefined> {
  const rec = await deps.store.getToken(id)
  if (!rec) return undefined
  if (!isScopedTokenRecord(rec) || rec.doc.request_fingerprint !== fingerprint) {
    throw new GatewayError('GW_IDEMPOTENCY_CONFLICT', 'this Idempotency-Key was already used with a different request body')
  }
  const token = resignScopedToken(deps.settings, rec.doc.claims)
  if (!token || scopedTokenHash(token) !== rec.doc.token_sha256) throw new GatewayError('GW_TOKEN_INVALID', `token ${id} was signed with a key that is no longer configured; issue a new one`)
  return { token, view: scopedTokenView(rec, now), replayed: true }
}

function expiryOf(p: IssueScopedTokenParameters, now: Date, maxTtlSeconds: number): Date {
  if ((p.expiresInSeconds === undefined) === (p.expiresAt === undefined)) {
    throw new GatewayError('GW_SCHEMA_INVALID', 'send exactly one of expires_in_seconds and expires_at', { details: [{ path: 'expires_in_seconds', message: 'exactly one of expires_in_seconds, expires_at' }] })
  }
  let at: Date
  let path: string
  if (p.expiresInSeconds !== undefined) {
    path = 'expires_in_seconds'
    if (!Number.isInteger(p.expiresInSeconds) || p.expiresInSeconds < 1) throw new GatewayError('GW_SCHEMA_INVALID', 'expires_in_seconds must be a positive integer', { details: [{ path, message: 'must be a positive integer' }] })
    if (p.expiresInSeconds > maxTtlSeconds) throw ttlTooLong(path, maxTtlSeconds)
    at = new Date(now.getTime() + p.expiresInSeconds * 1000)
  } else {
    path = 'expires_at'
    at = new Date(p.expiresAt!)
    if (Number.isNaN(at.getTime())) throw new GatewayError('GW_SCHEMA_INVALID', 'expires_at must be an RFC 3339 date-time', { details: [{ path, message: 'must be a date-time' }] })
    if (at.getTime() <= now.getTime()) throw new GatewayError('GW_SCHEMA_INVALID', 'expires_at must be in the future', { details: [{ path, message: 'must be in the future' }] })
  }
  // NaN (a date out of range) fails this too: never an Invalid Date past this point.
  if (!(at.getTime() <= now.getTime() + maxTtlSeconds * 1000)) throw ttlTooLong(path, maxTtlSeconds)
  return at
}

function ttlTooLong(path: string, maxTtlSeconds: number): GatewayError {
  return new GatewayError('GW_SCHEMA_INVALID', `a token may live at most ${maxTtlSeconds} s (tokens.maxTtlSeconds)`, { details: [{ path, message: `at most ${maxTtlSeconds} s from now` }] })
}
