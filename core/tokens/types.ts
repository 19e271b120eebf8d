import type { Money } from '../intent/types.js'
import type { Store } from '../store/port.js'
import type { WalletRecord } from '../wallets/types.js'

/**
 * Scoped single-use tokens ("Token Pay"): a bearer credential an agent hands to a protocol
 * (ACP / UCP handler, `POST /v1/payments`) that pays **once**, at most `max_amount`, one merchant,
 * for one agent's wallet, before `expires_at`, optionally in one category.
 *
 * Token string: `gwt_<ULID>.<kid>.<sig>` where `sig` = base64url(HMAC-SHA256(key[kid],
 * canonicalJson(claims))) and `claims` is {@link ScopedTokenClaims}. The store keeps the claims and
 * SHA-256 of the whole string, never the string: a database reader cannot present a token, and a
 * changed scope in the database no longer verifies.
 */
export interface ScopedTokenClaims {
  /** `gwt_<ULID>`: the id of the token record (namespaced apart from ACP vault tokens `vt_…`). */
  id: string
  /** The signing key id. */
  kid: string
  wallet_id: string
  agent_id: string
  merchant_id: string
  /** Upper bound, integer minor units of `asset` (a payment may be smaller). */
  max_amount: Money
  /** ISO 8601. */
  expires_at: string
  /** When set, the payment's category (`metadata.category`) must equal it. */
  category?: string | undefined
  /** ISO 8601. */
  issued_at: string
}

/** The `doc` of a scoped token in the `tokens` table (state in the row: `active` → `used` | `revoked`). */
export interface ScopedTokenDoc {
  kind: 'scoped'
  claims: ScopedTokenClaims
  /** SHA-256 (hex) of the token string. */
  token_sha256: string
  /** Who issued it (`agent:<id>`, `admin:<id>`). */
  issued_by: string
  /** SHA-256 of the issuing request (its Idempotency-Key replay must match it). */
  request_fingerprint?: string | undefined
  /** Set when it was presented successfully. */
  redemption?: ScopedTokenRedemption | undefined
  revoked_at?: string | undefined
  revoked_by?: string | undefined
  /** When the token went back to `active` because its payment provably moved no money. */
  released?: Array<{ at: string; reason: string; intent_id?: string | undefined }> | undefined
}

export interface ScopedTokenRedemption {
  /** ISO 8601. */
  at: string
  /** The presentation's own key (protocol + session + handler): the same presentation may resume. */
  key: string
  /** The intent it paid (recorded once the intent exists). */
  intent_id?: string | undefined
  /** The protocol it came through (`acp`, `ucp`, `gateway`, …). */
  via: string
}

export type ScopedTokenStatus = 'active' | 'used' | 'revoked' | 'expired'

/** The public view of a token (`GET /v1/tokens/{id}`): never the token string. */
export interface ScopedTokenView {
  id: string
  object: 'scoped_token'
  status: ScopedTokenStatus
  wallet_id: string
  agent_id: string
  merchant_id: string
  max_amount: Money
  category?: string | undefined
  expires_at: string
  created_at: string
  used_at?: string | undefined
  used_by_intent?: string | undefined
  revoked_at?: string | undefined
}

/** Signing keys (HMAC-SHA256). Verification accepts every key; issuing uses `activeKeyId`. */
export interface ScopedTokenKeyring {
  keys: ReadonlyArray<{ id: string; secret: string }>
  /** Default: the last key listed. */
  activeKeyId?: string | undefined
}

/** The `tokens` section of the gateway configuration, secrets resolved. */
export interface ScopedTokenSettings extends ScopedTokenKeyring {
  /** Longest lifetime a token may be issued with (default 30 days). */
  maxTtlSeconds: number
}

/** What every token operation needs (client-first, viem style). */
export interface ScopedTokenDeps {
  store: Pick<Store, 'insertToken' | 'getToken' | 'transitionToken' | 'getWallet' | 'getIntent'>
  settings: ScopedTokenSettings
  clock?: (() => Date) | undefined
}

export type { WalletRecord }
