import { beforeEach, describe, expect, it, vi } from 'vitest'
import type * as IdsModule from './ids.js'

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/** The millisecond timestamp in the first 10 characters, decoded independently of ids.ts. */
function timeOf(id: string): number {
  let t = 0
  for (const c of id.slice(0, 10)) t = t * 32 + ALPHABET.indexOf(c)
  return t
}

// ids.ts keeps the last time and random part in module state; each test gets a fresh copy.
let ids: typeof IdsModule
beforeEach(async () => {
  vi.resetModules()
  ids = await import('./ids.js')
})

describe('ulid', () => {
  it('is 26 Crockford base32 characters (no I, L, O, U)', () => {
    for (let i = 0; i < 100; i++) expect(ids.ulid()).toMatch(ULID)
  })

  it('encodes the millisecond time in the first 10 characters (ULID spec example)', () => {
    expect(ids.ulid(1469918176385).slice(0, 10)).toBe('01ARYZ6S41')
  })

  it('encodes the time range edges', () => {
    expect(ids.ulid(0).slice(0, 10)).toBe('0000000000')
    vi.resetModules()
    return import('./ids.js').then((fresh) => {
      expect(fresh.ulid(2 ** 48 - 1).slice(0, 10)).toBe('7ZZZZZZZZZ')
    })
  })

  it('uses the current time by default', () => {
    const before = Date.now()
    const id = ids.ulid()
    const after = Date.now()
    expect(timeOf(id)).toBeGreaterThanOrEqual(before)
    expect(timeOf(id)).toBeLessThanOrEqual(after)
  })

  it('is strictly increasing within one millisecond, keeping that millisecond', () => {
    const now = 1_763_700_000_000
    const seq = Array.from({ length: 1000 }, () => ids.ulid(now))
    for (let i = 1; i < seq.length; i++) expect(seq[i]! > seq[i - 1]!).toBe(true)
    for (const id of seq) expect(timeOf(id)).toBe(now)
  })

  it('within a millisecond, the random part is incremented by exactly one', () => {
    const a = ids.ulid(1_763_700_000_000)
    const b = ids.ulid(1_763_700_000_000)
    const value = (id: string): bigint => [...id.slice(10)].reduce((acc, c) => acc * 32n + BigInt(ALPHABET.indexOf(c)), 0n)
    expect(value(b) - value(a)).toBe(1n)
  })

  it('stays increasing when the clock steps back', () => {
    const a = ids.ulid(1_763_700_000_500)
    const b = ids.ulid(1_763_700_000_000)
    expect(b > a).toBe(true)
    expect(timeOf(b)).toBe(1_763_700_000_500)
  })

  it('a later millisecond sorts after, with fresh randomness', () => {
    const a = ids.ulid(1_763_700_000_000)
    const b = ids.ulid(1_763_700_000_001)
    expect(b > a).toBe(true)
    expect(timeOf(b)).toBe(1_763_700_000_001)
  })

  it('10,000 ids in a row are unique and already sorted', () => {
    const seq = Array.from({ length: 10_000 }, () => ids.ulid())
    expect(new Set(seq).size).toBe(10_000)
    expect([...seq].sort()).toEqual(seq)
    for (const id of seq) expect(id).toMatch(ULID)
  })
})

describe('newId', () => {
  it('prefixes a ULID and matches the payment intent id pattern', () => {
    const id = ids.newId('pi')
    expect(id).toMatch(/^pi_[0-9A-HJKMNP-TV-Z]{26}$/)
    expect(ids.newId('pi') > id).toBe(true)
  })
})
