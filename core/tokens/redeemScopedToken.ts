import { GatewayError } from '../errors/gatewayError.js'
import type { IntentAuthorization, IntentInstrument, IntentPayer, Money } from '../intent/types.js'
import { parseMinorUnits } from '../money/amount.js'
import type { TokenRecord } from '../store/port.js'
import type { WalletRecord } from '../wallets/types.js'
import { releaseScopedTokenOfIntent } from './releaseScopedToken.js'
import { parseScopedToken, scopedTokenHash, verifyScopedTokenSignature } from './signing.js'
import type { ScopedTokenClaims, ScopedTokenDeps, ScopedTokenDoc } from './types.js'
import { isScopedTokenRecord } from './view.js'

/** The part of an intent (or of an intent draft, before it exists) a token is checked against. */
export interface ScopedTokenPayment {
  merchant_id: string
  amount: Money
  /** When the presenter is one of our authenticated agents, it must be the token's agent. Absent: the token itself authenticates the agent (UCP platforms). */
  payer?: { agent_id?: string | undefined } | undefined
  /** `metadata.category` is the payment's stated category (checked together with `merchantCategory`, never instead of it). */
  metadata?: Record<string, string> | undefined
}

export interface RedeemScopedTokenParameters {
  /** The token string as presented. */
  token: string
  intent: ScopedTokenPayment
  /** The merchant's configured category: when set, it must match the token's category too. */
  merchantCategory?: string | undefined
  /** The protocol it came through (`acp`, `ucp`, `gateway`, …), recorded on the token. */
  via?: string | undefined
  /**
   * The presentation's own key (e.g. `acp:<session>:<Idempotency-Key>`). A token already used by
   * the SAME key is accepted again (`resumed: true`): a retry after a crash between redeeming and
   * writing the intent resumes, and the caller's intent dedupe key keeps it from paying twice. Any
   * other presentation of a used token is refused `GW_TOKEN_USED`.
   */
  redemptionKey?: string | undefined
}

export interface RedeemScopedTokenReturnType {
  tokenId: string
  claims: ScopedTokenClaims
  wallet: WalletRecord
  /** The wallet's funding instrument (what the rail charges): the intent's `instrument`. */
  instrument: IntentInstrument
  /** The rail credential of the funding instrument (never stored in the intent). */
  credential: unknown
  /** `gateway.token` with the verified scope. */
  authorization: IntentAuthorization
  /** `agent_id`, `user_id` and `wallet_id` of the token's wallet. */
  payer: IntentPayer
  /** `true` when this same presentation had redeemed the token before (see `redemptionKey`). */
  resumed: boolean
  /** The `redemptionKey` the token is held under (for {@link recordScopedTokenUse} and `releaseScopedToken`). */
  redemptionKey: string
  /**
   * How many times the token was given back after a payment that moved no money (0 at first). Part
   * of a caller's intent dedupe key, so a re-presentation after a release makes a new intent while a
   * resumed presentation finds the same one.
   */
  generation: number
}

export type RedeemScopedTokenErrorType = GatewayError

/**
 * Verify a scoped token for one payment and consume it, exactly once across processes.
 *
 * Checks, in order: shape and HMAC signature (over the stored claims, so a changed scope in the
 * database fails too) and the stored SHA-256 → not revoked → not used (unless by the same
 * `redemptionKey`, or held for a payment that provably moved no money and was not given back:
 * then it is given back first) → not expired → the wallet's consent is granted and was not revoked since the
 * token was issued (so revoking a wallet's consent stops all its tokens at once, with no per-token
 * sweep, and a re-grant does not revive them) → merchant, agent, asset, amount ≤ max,
 * category → the wallet has a chargeable funding instrument. Then `active → used` by one
 * conditional update (`transitionToken`): of any number of concurrent presentations, through any
 * protocol and any gateway process, exactly one wins; the others get `GW_TOKEN_USED`.
 *
 * Errors: `GW_TOKEN_INVALID`, `GW_TOKEN_REVOKED`, `GW_TOKEN_USED`, `GW_TOKEN_EXPIRED`,
 * `GW_TOKEN_SCOPE_MISMATCH` (details name the field), `GW_TOKEN_UNFUNDED`.
 *
 * @example
 * const r = await redeemScopedToken(deps, { token, intent: { merchant_id: 'm1', amount: { value: '3500', asset: 'iso4217:CNY' } }, via: 'acp', redemptionKey: `acp:${sessionId}:${idemKey}` })
 * await processPayment(pdeps, { ..., instrument: r.instrument, authorization: r.authorization, payer: r.payer, credential: r.credential })
 */
export async function redeemScopedToken(deps: ScopedTokenDeps, params: RedeemScopedTokenParameters): Promise<RedeemScopedTokenReturnType> {
  const now = (deps.clock ?? (() => new Date()))()
  const parsed = parseScopedToken(params.token)
  if (!parsed) throw new GatewayError('GW_TOKEN_INVALID', 'the scoped token is malformed (expected gwt_<id>.<kid>.<signature>)')
  let rec = await deps.store.getToken(parsed.id)
  // One message for unknown, tampered and foreign tokens: nothing about which part failed leaks.
  const invalid = (): GatewayError => new GatewayError('GW_TOKEN_INVALID', 'the scoped token is unknown or its signature does not verify')
  if (!isScopedTokenRecord(rec)) throw invalid()
  if (!verifyScopedTokenSignature(deps.settings, parsed, rec.doc.claims) || rec.doc.token_sha256 !== scopedTokenHash(params.token)) throw invalid()
  const key = params.redemptionKey ?? `once:${rec.doc.claims.id}`
  const bound = rec.doc.redemption?.intent_id
  if (rec.state === 'used' && rec.doc.redemption?.key !== key && bound !== undefined) {
    // Held for a payment that may have ended without moving money while its release never
    // happened (the process died between the intent's end and the token's release): the release
    // is done now, under the same rules and the same compare-and-set as at the payment's end.
    const stored = await deps.store.getIntent(bound)
    if (stored && (await releaseScopedTokenOfIntent(deps, stored.intent))) {
      rec = await deps.store.getToken(parsed.id)
      if (!isScopedTokenRecord(rec)) throw invalid()
    }
  }
  const doc = rec.doc
  const claims = doc.claims

  const resumed = checkState(rec.state, doc, key, claims.id)
  if (!resumed && rec.expiresAt.getTime() <= now.getTime()) throw new GatewayError('GW_TOKEN_EXPIRED', `the scoped token expired at ${claims.expires_at}`)

  const wallet = await deps.store.getWallet(claims.wallet_id)
  if (!wallet) throw new GatewayError('GW_TOKEN_REVOKED', `the wallet ${claims.wallet_id} of this token no longer exists`)
  if (wallet.consent !== 'granted') throw new GatewayError('GW_TOKEN_REVOKED', `the consent of wallet ${wallet.id} was revoked: its tokens no longer pay`)
  // A re-grant does not revive tokens issued before the last revocation.
  if (wallet.consentRevokedAt && Date.parse(claims.issued_at) <= wallet.consentRevokedAt.getTime()) {
    throw new GatewayError('GW_TOKEN_REVOKED', `the consent of wallet ${wallet.id} was revoked after this token was issued: issue a new one`)
  }
  checkScope(claims, params)
  const funding = fundingOf(wallet)

  if (!resumed) {
    const redemption = { at: now.toISOString(), key, via: params.via ?? 'gateway' }
    const won = await deps.store.transitionToken({ id: claims.id, from: 'active', to: 'used', doc: { ...doc, redemption } satisfies ScopedTokenDoc })
    if (!won) {
      // Lost the race (another presentation, a revocation): say which.
      const now2 = await deps.store.getToken(claims.id)
      if (!isScopedTokenRecord(now2) || !checkState(now2.state, now2.doc, key, claims.id)) throw new GatewayError('GW_TOKEN_USED', 'the scoped token was already used')
    }
  }

  const constraints: Record<string, unknown> = {
    token_id: claims.id,
    key_id: claims.kid,
    wallet_id: claims.wallet_id,
    agent_id: claims.agent_id,
    merchant_id: claims.merchant_id,
    max_amount: claims.max_amount,
    expires_at: claims.expires_at,
    funding: funding.instrument.type,
    ...(claims.category !== undefined ? { category: claims.category } : {}),
  }
  return {
    tokenId: claims.id,
    claims,
    wallet,
    instrument: funding.instrument,
    credential: funding.credential,
    authorization: { type: 'gateway.token', verified_at: now.toISOString(), constraints },
    payer: { agent_id: claims.agent_id, user_id: wallet.userId, wallet_id: wallet.id },
    resumed,
    redemptionKey: key,
    generation: doc.released?.length ?? 0,
  }
}

/** `true` when the token is held by this same presentation; throws when it may not pay. */
function checkState(state: string, doc: ScopedTokenDoc, key: string, id: string): boolean {
  if (state === 'active') return false
  if (state === 'revoked') throw new GatewayError('GW_TOKEN_REVOKED', `the scoped token ${id} was revoked`)
  if (state === 'used' && doc.redemption?.key === key) return true
  throw new GatewayError('GW_TOKEN_USED', 'the scoped token was already used')
}

function mismatch(field: string, message: string): GatewayError {
  return new GatewayError('GW_TOKEN_SCOPE_MISMATCH', message, { details: [{ path: field, message }] })
}

function checkScope(c: ScopedTokenClaims, p: RedeemScopedTokenParameters): void {
  const i = p.intent
  if (i.merchant_id !== c.merchant_id) throw mismatch('merchant_id', `the token pays merchant ${c.merchant_id} only`)
  const agent = i.payer?.agent_id
  if (agent !== undefined && agent !== c.agent_id) throw mismatch('agent_id', 'the token belongs to another agent')
  if (i.amount.asset !== c.max_amount.asset) throw mismatch('amount.asset', `the token pays in ${c.max_amount.asset} only`)
  let value: bigint
  try {
    value = parseMinorUnits(i.amount.value)
  } catch (e) {
    throw new GatewayError('GW_AMOUNT_INVALID', `amount.value: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (value > BigInt(c.max_amount.value)) throw mismatch('amount.value', `the amount ${i.amount.value} exceeds the token's max_amount ${c.max_amount.value}`)
  if (c.category !== undefined) {
    // Both the stated and the merchant's configured category must match: neither replaces the other.
    const stated = i.metadata?.['category']
    const categories = [stated, p.merchantCategory].filter((x): x is string => x !== undefined)
    const other = categories.find((x) => x !== c.category)
    if (categories.length === 0 || other !== undefined) {
      throw mismatch('category', `the token pays category ${c.category} only${other !== undefined ? ` (this payment is ${other})` : ' (this payment states none)'}`)
    }
  }
}

/**
 * What a scoped token charges: the wallet's funding instrument. Today `alipay.agreement`
 * (`{ type, ref | agreement_no }`: withholding agreement pay on the Alipay rail). A wallet without
 * one, or with an instrument that needs a secret the gateway does not hold, is refused.
 */
function fundingOf(wallet: WalletRecord): { instrument: IntentInstrument; credential: unknown } {
  const f = wallet.funding?.instrument
  if (!f) throw new GatewayError('GW_TOKEN_UNFUNDED', `wallet ${wallet.id} has no funding instrument; set funding.instrument on the wallet`)
  const type = f['type']
  if (type === 'alipay.agreement') {
    const ref = [f['ref'], f['agreement_no'], f['agreementNo']].find((v): v is string => typeof v === 'string' && /^[0-9A-Za-z_-]{1,64}$/.test(v))
    if (!ref) throw new GatewayError('GW_TOKEN_UNFUNDED', `wallet ${wallet.id}: its alipay.agreement funding has no agreement number (ref)`)
    return { instrument: { type: 'alipay.agreement', ref }, credential: { mode: 'agreement', agreementNo: ref } }
  }
  throw new GatewayError('GW_TOKEN_UNFUNDED', `wallet ${wallet.id}: a scoped token cannot charge a ${typeof type === 'string' ? type : 'untyped'} funding instrument (supported: alipay.agreement)`)
}

/** Record which intent a redeemed token paid (shown as `used_by_intent`). Only the holder of `redemptionKey` may. */
export async function recordScopedTokenUse(deps: Pick<ScopedTokenDeps, 'store'>, params: { tokenId: string; redemptionKey: string; intentId: string }): Promise<boolean> {
  const rec: TokenRecord | undefined = await deps.store.getToken(params.tokenId)
  if (!isScopedTokenRecord(rec) || rec.state !== 'used' || rec.doc.redemption?.key !== params.redemptionKey) return false
  if (rec.doc.redemption.intent_id === params.intentId) return true
  const doc: ScopedTokenDoc = { ...rec.doc, redemption: { ...rec.doc.redemption, intent_id: params.intentId } }
  return deps.store.transitionToken({ id: params.tokenId, from: 'used', to: 'used', doc, expectRedemptionKey: params.redemptionKey })
}
