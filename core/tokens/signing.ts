import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { GatewayError } from '../errors/gatewayError.js'
import { canonicalJson } from '../util/canonicalJson.js'
import type { ScopedTokenClaims, ScopedTokenKeyring } from './types.js'

/** `gwt_<ULID>.<kid>.<43 base64url chars>` (HMAC-SHA256 is 32 bytes). */
const TOKEN = /^(gwt_[0-9A-HJKMNP-TV-Z]{26})\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]{43})$/

/** The parts of a token string. */
export interface ParsedScopedToken {
  id: string
  kid: string
  sig: string
}

/** Split a token string, or `undefined` when it is not shaped like one (no detail leaks). */
export function parseScopedToken(token: unknown): ParsedScopedToken | undefined {
  if (typeof token !== 'string' || token.length > 128) return undefined
  const m = TOKEN.exec(token)
  return m ? { id: m[1]!, kid: m[2]!, sig: m[3]! } : undefined
}

/** Whether a string looks like a scoped token (for adapters that accept several credential kinds). */
export function isScopedTokenString(token: unknown): token is string {
  return parseScopedToken(token) !== undefined
}

/** The key that issues new tokens. */
export function activeKey(ring: ScopedTokenKeyring): { id: string; secret: string } {
  const key = ring.activeKeyId ? ring.keys.find((k) => k.id === ring.activeKeyId) : ring.keys.at(-1)
  if (!key) throw new GatewayError('GW_CONFIG_INVALID', 'tokens: no signing key is configured (tokens.signingKeys, tokens.activeKeyId)')
  return key
}

function mac(secret: string, claims: ScopedTokenClaims): string {
  return createHmac('sha256', secret).update(canonicalJson(claims)).digest('base64url')
}

/** Sign claims with the active key: the token string (returned once, never stored). */
export function signScopedToken(ring: ScopedTokenKeyring, claims: ScopedTokenClaims): string {
  const key = activeKey(ring)
  if (claims.kid !== key.id) throw new Error('signScopedToken: claims.kid must be the active key id')
  return `${claims.id}.${key.id}.${mac(key.secret, claims)}`
}

/** The token string of stored claims under their own key (an idempotent re-issue); `undefined` when that key is gone. */
export function resignScopedToken(ring: ScopedTokenKeyring, claims: ScopedTokenClaims): string | undefined {
  const key = ring.keys.find((k) => k.id === claims.kid)
  return key ? `${claims.id}.${key.id}.${mac(key.secret, claims)}` : undefined
}

/**
 * Whether `parsed.sig` is the MAC of `claims` under the key `parsed.kid` (constant-time compare).
 * An unknown key id (rotated out) does not verify.
 */
export function verifyScopedTokenSignature(ring: ScopedTokenKeyring, parsed: ParsedScopedToken, claims: ScopedTokenClaims): boolean {
  const key = ring.keys.find((k) => k.id === parsed.kid)
  if (!key || claims.kid !== parsed.kid || claims.id !== parsed.id) return false
  const want = Buffer.from(mac(key.secret, claims), 'base64url')
  const got = Buffer.from(parsed.sig, 'base64url')
  return want.length === got.length && timingSafeEqual(want, got)
}

/** SHA-256 (hex) of a token string: what the store keeps. */
export function scopedTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}
