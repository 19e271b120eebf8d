import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Store } from '../../../core/store/port.js'
import type { MandateUsage } from './constraints.js'

/**
 * Verifier-side state of AP2 (digest §3.4–3.5, §7): the spend ledger of open payment mandates
 * (budget, recurrence, single use), single-use presentation nonces, the double-spend lock, and
 * stateless challenge ids. Everything shared across gateway instances lives in the store.
 */

/** One recorded use of an open payment mandate. */
export interface MandateSpendEntry {
  /** The receipt reference of the closed mandate that used it: entries are idempotent by it. */
  spendId: string
  amount: bigint
  currency: string
  at: Date
}

/**
 * The spend ledger of open payment mandates, keyed by the open mandate's issuer-JWT hash (stable
 * when a shopping agent redacts disclosures, so a narrowed re-presentation cannot reset it).
 */
export interface MandateLedger {
  entries(mandateId: string): Promise<MandateSpendEntry[]>
  /** Record a use; `false` when `spendId` is already recorded (a replay). */
  add(mandateId: string, entry: MandateSpendEntry): Promise<boolean>
  /** Undo a use whose payment definitively did not happen (declined, refused by policy). */
  remove(mandateId: string, spendId: string): Promise<void>
}

/** The ledger as {@link MandateUsage} for `checkConstraints`. */
export function usageOf(entries: readonly MandateSpendEntry[]): MandateUsage {
  return { uses: entries.map((e) => ({ amount: e.amount, currency: e.currency, at: Math.floor(e.at.getTime() / 1000) })) }
}

/** An in-process ledger (tests; a single gateway process without a shared store). */
export function memoryMandateLedger(): MandateLedger {
  const m = new Map<string, MandateSpendEntry[]>()
  return {
    async entries(id) {
      return [...(m.get(id) ?? [])]
    },
    async add(id, e) {
      const list = m.get(id) ?? []
      if (list.some((x) => x.spendId === e.spendId)) return false
      list.push(e)
      m.set(id, list)
      return true
    },
    async remove(id, spendId) {
      m.set(id, (m.get(id) ?? []).filter((x) => x.spendId !== spendId))
    },
  }
}

/** The store's mandate-spend methods, when the store has them (see core/store/port.ts). */
interface StoreWithMandateSpend {
  addMandateSpend(params: { mandateId: string; spendId: string; amount: string; currency: string; at: Date }): Promise<boolean>
  removeMandateSpend(params: { mandateId: string; spendId: string }): Promise<boolean>
  getMandateSpend(mandateId: string): Promise<Array<{ spendId: string; amount: string; currency: string; at: Date }>>
}

function hasMandateSpend(store: Store): store is Store & StoreWithMandateSpend {
  const s = store as unknown as Partial<StoreWithMandateSpend>
  return typeof s.addMandateSpend === 'function' && typeof s.getMandateSpend === 'function' && typeof s.removeMandateSpend === 'function'
}

/**
 * The ledger in the gateway's store (shared by every instance), or `undefined` when the store has
 * no mandate-spend methods.
 */
export function storeMandateLedger(store: Store): MandateLedger | undefined {
  if (!hasMandateSpend(store)) return undefined
  return {
    async entries(id) {
      return (await store.getMandateSpend(id)).map((e) => ({ spendId: e.spendId, amount: BigInt(e.amount), currency: e.currency, at: e.at }))
    },
    add: (id, e) => store.addMandateSpend({ mandateId: id, spendId: e.spendId, amount: e.amount.toString(), currency: e.currency, at: e.at }),
    async remove(id, spendId) {
      await store.removeMandateSpend({ mandateId: id, spendId })
    },
  }
}

/** Replay-lock namespaces used by the AP2 adapter. */
export const LOCK = {
  /** A presentation nonce, held by the first closed mandate that used it. */
  nonce: 'ap2.nonce',
  /** (nonce, closed-mandate reference): proves a repeated presentation is the same one. */
  nonceRef: 'ap2.nonce-ref',
  /** One closed mandate in flight per open payment mandate (the double-spend rule). */
  inflight: 'ap2.open-inflight',
} as const

/**
 * Presentation nonces (Ambiguity 7): in `issued` mode the verifier hands them out
 * (`POST /ap2/v1/nonces`, or an A2A `input-required` turn) as `n1.<exp>.<random>.<mac>` —
 * stateless to check, HMAC-SHA256 with the gateway's nonce secret; in `unique` mode any
 * high-entropy string the agent chose is accepted. Either way each nonce is consumed once
 * through a replay lock in the store.
 */
export interface NonceService {
  readonly mode: 'issued' | 'unique'
  issue(now: number): { nonce: string; expiresAt: number }
  /** `undefined` when acceptable (not consumed here), else why not. */
  check(nonce: string, now: number): string | undefined
}

export function createNonceService(params: { mode: 'issued' | 'unique'; secret: Buffer; ttlSeconds: number }): NonceService {
  const mac = (body: string): string => createHmac('sha256', params.secret).update(`ap2-nonce:${body}`).digest('base64url').slice(0, 32)
  return {
    mode: params.mode,
    issue(now) {
      const expiresAt = Math.floor(now) + params.ttlSeconds
      const body = `${expiresAt.toString(36)}.${randomBytes(18).toString('base64url')}`
      return { nonce: `n1.${body}.${mac(body)}`, expiresAt }
    },
    check(nonce, now) {
      if (params.mode === 'unique') {
        return /^[\x21-\x7e]{16,256}$/.test(nonce) ? undefined : 'the nonce must be 16 to 256 printable characters'
      }
      const m = /^n1\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{32})$/.exec(nonce)
      if (!m) return 'the nonce was not issued by this verifier (get one from POST /ap2/v1/nonces)'
      const body = `${m[1]}.${m[2]}`
      const want = Buffer.from(mac(body))
      const got = Buffer.from(m[3]!)
      if (want.length !== got.length || !timingSafeEqual(want, got)) return 'the nonce was not issued by this verifier'
      if (parseInt(m[1]!, 36) < now) return 'the nonce has expired'
      return undefined
    },
  }
}

/**
 * Stateless challenge ids for OTP step-up: `c1.<exp>.<mac(reference, exp)>`, so any instance can
 * check that a challenge response answers the challenge issued for this very closed mandate.
 */
export function createChallengeIds(secret: Buffer, ttlSeconds: number): {
  issue(reference: string, now: number): string
  check(challengeId: string, reference: string, now: number): string | undefined
} {
  const mac = (ref: string, exp: string): string => createHmac('sha256', secret).update(`ap2-challenge:${ref}:${exp}`).digest('base64url').slice(0, 32)
  return {
    issue(reference, now) {
      const exp = (Math.floor(now) + ttlSeconds).toString(36)
      return `c1.${exp}.${mac(reference, exp)}`
    },
    check(id, reference, now) {
      const m = /^c1\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{32})$/.exec(id)
      if (!m) return 'unknown challenge id'
      const want = Buffer.from(mac(reference, m[1]!))
      if (!timingSafeEqual(want, Buffer.from(m[2]!))) return 'the challenge was issued for another mandate'
      if (parseInt(m[1]!, 36) < now) return 'the challenge has expired'
      return undefined
    },
  }
}

/** One-time passwords for step-up (digest §8): the code reaches the user out of band. */
export interface OtpProvider {
  /** Start a challenge; returns the text the agent shows the user. */
  issue(ctx: { challengeId: string; amount: string; currency: string; payee: string }): Promise<{ displayText: string }>
  verify(ctx: { challengeId: string; code: string }): Promise<boolean>
}

/**
 * A fixed-code OTP provider, as the AP2 samples use (code `123`): development and tests only.
 * Production passes an {@link OtpProvider} that sends real codes.
 */
export function fixedCodeOtp(code: string): OtpProvider {
  const want = Buffer.from(code)
  return {
    async issue(ctx) {
      return { displayText: `Enter the one-time code sent to you to approve ${ctx.amount} ${ctx.currency} to ${ctx.payee}.` }
    },
    async verify(ctx) {
      const got = Buffer.from(ctx.code)
      return got.length === want.length && timingSafeEqual(got, want)
    },
  }
}

/** A random 32-byte secret (per process: fine for one instance, configure one for several). */
export function randomSecret(): Buffer {
  return randomBytes(32)
}
