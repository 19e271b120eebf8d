import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { Store, TokenRecord } from '../../../core/store/port.js'
import { ulid } from '../../../core/util/ids.js'
import { acpError } from './errors.js'
import type { Json } from './session.js'

/**
 * The delegate-payment vault (PSP role, DIGEST §6): card data in, a single-use `vt_…` token out.
 * The card is AES-256-GCM encrypted at rest (key from config, AAD = token id), never logged,
 * never echoed, and deleted once the token's charge has a definitive outcome. The allowance is
 * enforced when the token is used, not when it is made (the official example's allowance is
 * already expired and is still a valid request).
 */

/** A 32-byte key, given base64 (44 chars) or hex (64 chars). */
export function parseVaultKey(key: string): Buffer {
  const buf = /^[0-9a-fA-F]{64}$/.test(key) ? Buffer.from(key, 'hex') : Buffer.from(key, 'base64')
  if (buf.length !== 32) throw new Error('acp.vault.encryptionKey must be 32 bytes (64 hex characters or 44 base64 characters)')
  return buf
}

export interface SealedCard {
  alg: 'A256GCM'
  kid: string
  iv: string
  tag: string
  ct: string
}

/** The card fields the rail needs (decrypted only in memory, for the charge). */
export interface VaultCard {
  number: string
  exp_month?: string | undefined
  exp_year?: string | undefined
  cvc?: string | undefined
  name?: string | undefined
  cryptogram?: string | undefined
  eci_value?: string | undefined
}

export function sealCard(card: VaultCard, key: Buffer, kid: string, tokenId: string): SealedCard {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(tokenId))
  const ct = Buffer.concat([c.update(JSON.stringify(card), 'utf8'), c.final()])
  return { alg: 'A256GCM', kid, iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64') }
}

export function openCard(sealed: SealedCard, key: Buffer, tokenId: string): VaultCard {
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
  d.setAAD(Buffer.from(tokenId))
  d.setAuthTag(Buffer.from(sealed.tag, 'base64'))
  return JSON.parse(Buffer.concat([d.update(Buffer.from(sealed.ct, 'base64')), d.final()]).toString('utf8')) as VaultCard
}

/** Luhn (mod 10) check of a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0
  let dbl = false
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48
    if (dbl) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
    dbl = !dbl
  }
  return sum % 10 === 0
}

function cardBrand(number: string): string | undefined {
  if (/^4/.test(number)) return 'visa'
  if (/^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))/.test(number)) return 'mastercard'
  if (/^3[47]/.test(number)) return 'amex'
  if (/^(6011|65|64[4-9])/.test(number)) return 'discover'
  if (/^62/.test(number)) return 'unionpay'
  if (/^35/.test(number)) return 'jcb'
  return undefined
}

/**
 * Card checks beyond the schema (which only bounds lengths): digits, PAN length 12–19, Luhn for
 * FPANs, expiry month/year well formed and not past (end of month, UTC), CVC 3–4 digits,
 * `display_last4` equal to the PAN's last four. Every failure is `invalid_card` with the JSONPath.
 */
export function checkCard(pm: Json, now: Date): void {
  const bad = (param: string, message: string): never => {
    throw acpError('GW_BAD_REQUEST', 'invalid_card', message, { param })
  }
  const number = String(pm['number'] ?? '')
  if (!/^[0-9]{12,19}$/.test(number)) bad('$.payment_method.number', 'the card number must be 12 to 19 digits')
  if (pm['card_number_type'] === 'fpan' && !luhnValid(number)) bad('$.payment_method.number', 'the card number fails the Luhn check')
  const m = pm['exp_month']
  const y = pm['exp_year']
  if (m !== undefined && !/^(0[1-9]|1[0-2])$/.test(String(m))) bad('$.payment_method.exp_month', 'exp_month must be 01 to 12')
  if (y !== undefined && !/^([0-9]{2}|[0-9]{4})$/.test(String(y))) bad('$.payment_method.exp_year', 'exp_year must be 2 or 4 digits')
  if (m !== undefined && y !== undefined) {
    const year = String(y).length === 2 ? 2000 + Number(y) : Number(y)
    const endOfMonth = Date.UTC(year, Number(m), 1) // first instant after the expiry month
    if (endOfMonth <= now.getTime()) bad('$.payment_method.exp_year', 'the card has expired')
  }
  const cvc = pm['cvc']
  if (cvc !== undefined && !/^[0-9]{3,4}$/.test(String(cvc))) bad('$.payment_method.cvc', 'the CVC must be 3 or 4 digits')
  const last4 = pm['display_last4']
  if (last4 !== undefined && last4 !== number.slice(-4)) bad('$.payment_method.display_last4', 'display_last4 does not match the card number')
  const iin = pm['iin']
  if (iin !== undefined && !number.startsWith(String(iin))) bad('$.payment_method.iin', 'iin does not match the card number')
}

/** The token document (the card inside is sealed; everything else is non-secret). */
export interface VaultTokenDoc {
  kind: 'acp.vault_token'
  agent_id: string
  created: string
  allowance: { reason: string; max_amount: number; currency: string; checkout_session_id: string; merchant_id: string; expires_at: string }
  display: { brand?: string | undefined; last4: string; funding?: string | undefined }
  metadata: Record<string, string>
  /** Removed when the charge has a definitive outcome. */
  card?: SealedCard | undefined
  /** The session that redeemed it (set when the token leaves `active`). */
  redeemed_for?: string | undefined
  redeemed_at?: string | undefined
}

export interface Vault {
  /** Store a delegated card; returns the 201 body. `idempotencyKey` is echoed in metadata as the spec's example does. */
  delegate(body: Json, ctx: { agentId: string; idempotencyKey: string | undefined; now: Date }): Promise<{ id: string; created: string; metadata: Record<string, string> }>
  /**
   * Check the token's allowance for this use and claim it for `sessionId` (single use across
   * processes via `transitionToken`). A retry by the same session after an unknown outcome gets
   * the same claim back. Returns the card (decrypted, in memory only) and the display facts.
   */
  redeem(p: { tokenId: string; merchantId: string; sessionId: string; amount: number; currency: string; now: Date }): Promise<{ card: VaultCard; doc: VaultTokenDoc }>
  /** Definitive outcome: delete the card, mark the token used. */
  finish(tokenId: string): Promise<void>
}

const PARAM = '$.payment_data.instrument.credential.token'

export function createVault(store: Store, key: Buffer, kid = 'k1'): Vault {
  return {
    async delegate(body, ctx) {
      const pm = body['payment_method'] as Json
      checkCard(pm, ctx.now)
      const allowance = body['allowance'] as VaultTokenDoc['allowance']
      if (!(allowance.max_amount > 0)) throw acpError('GW_BAD_REQUEST', 'invalid_card', 'allowance.max_amount must be a positive integer in minor units', { param: '$.allowance.max_amount' })
      const id = `vt_${ulid()}`
      const number = String(pm['number'])
      const card: VaultCard = { number }
      for (const f of ['exp_month', 'exp_year', 'cvc', 'name', 'cryptogram', 'eci_value'] as const) if (typeof pm[f] === 'string') card[f] = pm[f]
      const created = ctx.now.toISOString()
      const metadata: Record<string, string> = { ...(body['metadata'] as Record<string, string>), merchant_id: allowance.merchant_id }
      if (ctx.idempotencyKey) metadata['idempotency_key'] = ctx.idempotencyKey
      const brand = typeof pm['display_brand'] === 'string' ? pm['display_brand'] : cardBrand(number)
      const doc: VaultTokenDoc = {
        kind: 'acp.vault_token',
        agent_id: ctx.agentId,
        created,
        allowance: { ...allowance },
        display: { last4: number.slice(-4), ...(brand ? { brand } : {}), ...(typeof pm['display_card_funding_type'] === 'string' ? { funding: pm['display_card_funding_type'] } : {}) },
        metadata,
        card: sealCard(card, key, kid, id),
      }
      const record: TokenRecord = { id, state: 'active', expiresAt: new Date(allowance.expires_at), doc }
      await store.insertToken(record)
      return { id, created, metadata }
    },

    async redeem(p) {
      const rec = p.tokenId.startsWith('vt_') ? await store.getToken(p.tokenId) : undefined
      const doc = rec?.doc as VaultTokenDoc | undefined
      if (!rec || doc?.kind !== 'acp.vault_token') throw acpError('GW_BAD_REQUEST', 'invalid_token', 'unknown vault token', { param: PARAM })
      const a = doc.allowance
      const retry = rec.state === 'redeeming' && doc.redeemed_for === p.sessionId && doc.card !== undefined
      if (rec.state !== 'active' && !retry) throw acpError('GW_REPLAY', 'token_already_used', 'this vault token was already used (tokens are single use)', { param: PARAM })
      if (new Date(a.expires_at).getTime() <= p.now.getTime()) throw acpError('GW_BAD_REQUEST', 'allowance_expired', `the token's allowance expired at ${a.expires_at}`, { param: PARAM })
      if (a.merchant_id !== p.merchantId) throw acpError('GW_BAD_REQUEST', 'allowance_mismatch', "the token's allowance is for another merchant", { param: PARAM })
      if (a.checkout_session_id !== p.sessionId) throw acpError('GW_BAD_REQUEST', 'allowance_mismatch', "the token's allowance is for another checkout session", { param: PARAM })
      if (a.currency.toLowerCase() !== p.currency) throw acpError('GW_BAD_REQUEST', 'allowance_mismatch', `the token's allowance is in ${a.currency}, the session in ${p.currency}`, { param: PARAM })
      if (p.amount > a.max_amount) throw acpError('GW_BAD_REQUEST', 'allowance_exceeded', `the session total ${p.amount} exceeds the token's allowance of ${a.max_amount}`, { param: PARAM })
      if (!retry) {
        const claimed: VaultTokenDoc = { ...doc, redeemed_for: p.sessionId, redeemed_at: p.now.toISOString() }
        const won = await store.transitionToken({ id: rec.id, from: 'active', to: 'redeeming', doc: claimed })
        if (!won) throw acpError('GW_REPLAY', 'token_already_used', 'this vault token was already used (tokens are single use)', { param: PARAM })
      }
      return { card: openCard(doc.card!, key, rec.id), doc }
    },

    async finish(tokenId) {
      const rec = await store.getToken(tokenId)
      if (!rec || rec.state !== 'redeeming') return
      const { card: _deleted, ...rest } = rec.doc as VaultTokenDoc
      await store.transitionToken({ id: tokenId, from: 'redeeming', to: 'used', doc: rest })
    },
  }
}
