/**
 * The wire codec against EVERY case of the official MPP conformance vectors
 * (`mpp-tools/conformance/vectors/{base64url,challenge-id,www-authenticate,authorization,receipt}.json`,
 * read from `../shared/specs/mpp`). The folder is required: without it the suite fails with a
 * message naming the path, it never skips.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../../core/util/paths.js'
import { base64urlDecode, base64urlEncode } from './base64url.js'
import { computeChallengeId, formatChallenge, MppFormatError, MppParseError, parseWwwAuthenticate, verifyChallengeId, type MppChallenge } from './challenge.js'
import { formatAuthorization, parseAuthorization, type MppCredential } from './credential.js'
import { canonicalize } from './jcs.js'
import { formatReceipt, parseReceipt, type MppReceipt } from './receipt.js'

const VECTORS = fromRoot('..', 'shared', 'specs', 'mpp', 'mpp-tools', 'conformance', 'vectors')

interface Scenario {
  name: string
  object?: Record<string, unknown>
  wire?: string | { prefix: string; repeat: string; count: number; suffix?: string }
  input?: Record<string, unknown>
  expected?: string
  decoded?: string
  encoded?: string
  tests?: Record<string, boolean | { success: false; error_type: string }>
}

function load(file: string): Scenario[] {
  const path = join(VECTORS, file)
  if (!existsSync(path)) throw new Error(`MPP conformance vectors not found at ${path}: the shared spec folder (../shared/specs/mpp) is required by this suite`)
  const scenarios = (JSON.parse(readFileSync(path, 'utf8')) as { scenarios: Scenario[] }).scenarios
  if (scenarios.length === 0) throw new Error(`${path} has no scenarios`)
  return scenarios
}

const wireOf = (s: Scenario): string => {
  const w = s.wire
  if (typeof w === 'string') return w
  if (!w) throw new Error(`${s.name} has no wire`)
  return w.prefix + w.repeat.repeat(w.count) + (w.suffix ?? '')
}
const expectsError = (s: Scenario, test: 'parse' | 'format'): boolean => typeof s.tests?.[test] === 'object'
/** A JSON round trip drops `undefined` members, so objects compare by content. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v))

describe('base64url.json', () => {
  for (const s of load('base64url.json')) {
    it(s.name, () => {
      expect(s.tests).toMatchObject({ parse: true, format: true })
      expect(base64urlEncode(s.decoded!)).toBe(s.encoded)
      expect(base64urlDecode(s.encoded!)).toBe(s.decoded)
      expect(base64urlDecode(base64urlEncode(s.decoded!))).toBe(s.decoded)
    })
  }
  it('refuses characters outside the alphabet and impossible lengths', () => {
    expect(base64urlDecode('not-valid!!!')).toBeUndefined()
    expect(base64urlDecode('abcde')).toBeUndefined()
    expect(base64urlDecode('ab+/')).toBeUndefined()
  })
})

describe('challenge-id.json', () => {
  for (const s of load('challenge-id.json')) {
    it(s.name, () => {
      const { secretKey, ...rest } = s.input as { secretKey: string } & Omit<MppChallenge, 'id'>
      const id = computeChallengeId(rest, secretKey)
      expect(id).toBe(s.expected)
      expect(verifyChallengeId({ ...rest, id }, [secretKey])).toBe(true)
      expect(verifyChallengeId({ ...rest, id }, ['another-secret-of-at-least-32-bytes!'])).toBe(false)
      expect(verifyChallengeId({ ...rest, realm: `${rest.realm}.evil`, id }, [secretKey])).toBe(false)
    })
  }
})

describe('www-authenticate.json', () => {
  for (const s of load('www-authenticate.json')) {
    it(s.name, () => {
      if (s.tests?.['parse'] !== undefined) {
        if (expectsError(s, 'parse')) {
          expect(() => parseWwwAuthenticate(wireOf(s))).toThrow(MppParseError)
        } else {
          const parsed = parseWwwAuthenticate(wireOf(s))
          expect(parsed).toHaveLength(1)
          expect(plain(parsed[0])).toEqual(s.object)
        }
      }
      if (s.tests?.['format'] !== undefined) {
        const object = s.object as unknown as MppChallenge
        if (expectsError(s, 'format')) {
          expect(() => formatChallenge(object)).toThrow(MppFormatError)
        } else {
          // "compared semantically": what we write reads back as the vector's object and as its wire.
          const written = formatChallenge(object)
          expect(plain(parseWwwAuthenticate(written)[0])).toEqual(s.object)
          expect(parseWwwAuthenticate(written)).toEqual(parseWwwAuthenticate(wireOf(s)))
        }
      }
      if (s.tests?.['roundtrip'] === true) expect(plain(parseWwwAuthenticate(formatChallenge(s.object as unknown as MppChallenge))[0])).toEqual(s.object)
    })
  }
  it('several challenges in one comma-joined value, beside another scheme', () => {
    const a = formatChallenge({ id: 'a', realm: 'r', method: 'evm', intent: 'charge', request: { amount: '1' } })
    const b = formatChallenge({ id: 'b', realm: 'r, Payment x', method: 'tempo', intent: 'charge', request: {}, description: 'Payment id="no"' })
    const parsed = parseWwwAuthenticate(`Bearer realm="api", ${a}, ${b}`)
    expect(parsed.map((c) => [c.id, c.method, c.realm])).toEqual([
      ['a', 'evm', 'r'],
      ['b', 'tempo', 'r, Payment x'],
    ])
    expect(parsed[1]!.description).toBe('Payment id="no"')
  })
  it('code points above U+00FF are escaped (header values are Latin-1) and read back', () => {
    const c: MppChallenge = { id: 'x', realm: 'r', method: 'evm', intent: 'charge', request: {}, description: 'café ☕ — ok' }
    const written = formatChallenge(c)
    expect(written).not.toMatch(/[\u0100-\uffff]/)
    expect(parseWwwAuthenticate(written)[0]!.description).toBe('café ☕ — ok')
  })
})

describe('authorization.json', () => {
  for (const s of load('authorization.json')) {
    it(s.name, () => {
      if (expectsError(s, 'parse')) {
        expect(() => parseAuthorization(wireOf(s))).toThrow(MppParseError)
        return
      }
      expect(plain(parseAuthorization(wireOf(s)))).toEqual(s.object)
      if (s.tests?.['format'] === true || s.tests?.['roundtrip'] === true) {
        const written = formatAuthorization(s.object as unknown as MppCredential)
        expect(plain(parseAuthorization(written))).toEqual(s.object)
        expect(parseAuthorization(written)).toEqual(parseAuthorization(wireOf(s)))
      }
    })
  }
  it('several Payment credentials in one header are refused', () => {
    const one = formatAuthorization({ challenge: { id: 'a', realm: 'r', method: 'evm', intent: 'charge', request: {} }, payload: {} })
    expect(() => parseAuthorization(`${one}, ${one}`)).toThrow(/several/)
  })
  it('a legacy object opaque is normalised to base64url(JCS)', () => {
    const token = base64urlEncode(JSON.stringify({ challenge: { id: 'a', realm: 'r', method: 'evm', intent: 'charge', request: 'e30', opaque: { route: 'r1' } }, payload: {} }))
    expect(parseAuthorization(`Payment ${token}`).challenge.opaque).toBe(base64urlEncode(canonicalize({ route: 'r1' })))
  })
})

describe('receipt.json', () => {
  for (const s of load('receipt.json')) {
    it(s.name, () => {
      if (expectsError(s, 'parse')) {
        expect(() => parseReceipt(wireOf(s))).toThrow(MppParseError)
        return
      }
      expect(parseReceipt(wireOf(s))).toEqual(s.object)
      expect(parseReceipt(formatReceipt(s.object as MppReceipt))).toEqual(s.object)
    })
  }
})

describe('jcs', () => {
  it('sorts keys by UTF-16 code units and writes numbers as ECMAScript does', () => {
    expect(canonicalize({ b: [1, 1e21, 0.5], a: { d: null, c: '\u00e9' }, '\u20ac': true, '\ud83d\ude00': false })).toBe('{"a":{"c":"é","d":null},"b":[1,1e+21,0.5],"€":true,"😀":false}')
  })
})
