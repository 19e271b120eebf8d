import { describe, expect, it } from 'vitest'
import { signWebhook, verifyWebhookSignature } from './webhookSignature.js'

const SECRET = 'whsec_test_secret'
const ROTATED = 'whsec_rotated_secret'
const T = 1_700_000_000
const NOW = new Date(T * 1000)
const BODY = '{"id":"evt_01JD3Q8Z8X3M4V7N2B6C9D0E1F","type":"payment_intent.succeeded","amount":"12.50"}'

// Computed independently with openssl:
//   printf '%s' '1700000000.{"id":"evt_01JD3Q8Z8X3M4V7N2B6C9D0E1F","type":"payment_intent.succeeded","amount":"12.50"}' \
//     | openssl dgst -sha256 -hmac 'whsec_test_secret' -hex
const V1 = '37b9ba46574a554a033c0d813511adf23429acb9b9ba941167182ec217985574'
//   same body, -hmac 'whsec_rotated_secret'
const V1_ROTATED = '2a6f6330e82ac9cc28efaf670442678e06dffc996420f95a5489047e645b48ff'
//   printf '%s' '1700000000.{"note":"café €"}' | openssl dgst -sha256 -hmac 'whsec_test_secret' -hex  (UTF-8 bytes)
const V1_UTF8 = '2970eafbdfd6d9c749f1ef943d9b535296ec5aedee0f7f3d3f595ccddd32c485'

describe('signWebhook', () => {
  it('matches the openssl vector', () => {
    expect(signWebhook({ secret: SECRET, body: BODY, timestamp: T })).toBe(`t=${T},v1=${V1}`)
  })

  it('signs the UTF-8 bytes, the same for a string and a Buffer', () => {
    const body = '{"note":"café €"}'
    expect(signWebhook({ secret: SECRET, body, timestamp: T })).toBe(`t=${T},v1=${V1_UTF8}`)
    expect(signWebhook({ secret: SECRET, body: Buffer.from(body, 'utf8'), timestamp: T })).toBe(`t=${T},v1=${V1_UTF8}`)
  })

  it('takes a Date and truncates it to the second', () => {
    expect(signWebhook({ secret: SECRET, body: BODY, timestamp: new Date(T * 1000 + 999) })).toBe(`t=${T},v1=${V1}`)
  })

  it('refuses an empty secret and a bad timestamp', () => {
    expect(() => signWebhook({ secret: '', body: BODY, timestamp: T })).toThrow(/secret is empty/)
    expect(() => signWebhook({ secret: SECRET, body: BODY, timestamp: 1.5 })).toThrow(RangeError)
    expect(() => signWebhook({ secret: SECRET, body: BODY, timestamp: -1 })).toThrow(RangeError)
    expect(() => signWebhook({ secret: SECRET, body: BODY, timestamp: new Date(Number.NaN) })).toThrow(RangeError)
  })
})

describe('verifyWebhookSignature', () => {
  const header = `t=${T},v1=${V1}`

  it('accepts the vector', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: NOW })).toEqual({ ok: true, timestamp: T })
    expect(verifyWebhookSignature({ secret: SECRET, header, body: Buffer.from(BODY), now: NOW })).toEqual({ ok: true, timestamp: T })
  })

  it('round-trips with signWebhook', () => {
    const body = JSON.stringify({ id: 'evt_x', data: { emoji: '😀', n: 1 } })
    const h = signWebhook({ secret: SECRET, body, timestamp: NOW })
    expect(verifyWebhookSignature({ secret: SECRET, header: h, body, now: NOW }).ok).toBe(true)
  })

  it('accepts any of several v1 entries (sender-side rotation), in any order, with spaces', () => {
    const bogus = 'ab'.repeat(32)
    for (const h of [`t=${T},v1=${bogus},v1=${V1}`, `v1=${V1_ROTATED}, t=${T} , v1=${V1}`, `t=${T},v0=zzz,v1=${V1}`]) {
      expect(verifyWebhookSignature({ secret: SECRET, header: h, body: BODY, now: NOW })).toEqual({ ok: true, timestamp: T })
    }
  })

  it('accepts any of several secrets (receiver-side rotation)', () => {
    const h = `t=${T},v1=${V1_ROTATED}`
    expect(verifyWebhookSignature({ secrets: [SECRET, ROTATED], header: h, body: BODY, now: NOW }).ok).toBe(true)
    expect(verifyWebhookSignature({ secrets: [SECRET], header: h, body: BODY, now: NOW })).toEqual({ ok: false, reason: 'no_matching_signature' })
  })

  it('accepts uppercase hex', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header: `t=${T},v1=${V1.toUpperCase()}`, body: BODY, now: NOW }).ok).toBe(true)
  })

  it('rejects a changed body, secret, or timestamp', () => {
    const fail = { ok: false, reason: 'no_matching_signature' }
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY.replace('12.50', '12.51'), now: NOW })).toEqual(fail)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY + '\n', now: NOW })).toEqual(fail)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: JSON.stringify(JSON.parse(BODY), null, 1), now: NOW })).toEqual(fail)
    expect(verifyWebhookSignature({ secret: 'whsec_other', header, body: BODY, now: NOW })).toEqual(fail)
    expect(verifyWebhookSignature({ secret: SECRET, header: `t=${T + 1},v1=${V1}`, body: BODY, now: NOW })).toEqual(fail)
    // One flipped hex digit.
    const flipped = V1.slice(0, -1) + (V1.endsWith('4') ? '5' : '4')
    expect(verifyWebhookSignature({ secret: SECRET, header: `t=${T},v1=${flipped}`, body: BODY, now: NOW })).toEqual(fail)
  })

  it('enforces the tolerance both ways, inclusive at the bound', () => {
    const at = (deltaSec: number): Date => new Date((T + deltaSec) * 1000)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: at(300) }).ok).toBe(true)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: at(-300) }).ok).toBe(true)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: at(301) })).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' })
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: at(-301) })).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' })
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY, now: at(10), toleranceSec: 5 })).toEqual({
      ok: false,
      reason: 'timestamp_out_of_tolerance',
    })
  })

  it('checks the MAC before the timestamp: a stale forgery is reported as a forgery', () => {
    const stale = new Date((T + 10_000) * 1000)
    expect(verifyWebhookSignature({ secret: 'whsec_other', header, body: BODY, now: stale })).toEqual({ ok: false, reason: 'no_matching_signature' })
  })

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['no t', `v1=${V1}`],
    ['no v1', `t=${T}`],
    ['only other schemes', `t=${T},v0=${V1}`],
    ['two t', `t=${T},t=${T},v1=${V1}`],
    ['t not a number', `t=abc,v1=${V1}`],
    ['t negative', `t=-1,v1=${V1}`],
    ['t fractional', `t=1.5,v1=${V1}`],
    ['t empty', `t=,v1=${V1}`],
    ['v1 too short', `t=${T},v1=${V1.slice(2)}`],
    ['v1 not hex', `t=${T},v1=${'zz'.repeat(32)}`],
    ['entry without =', `t=${T},v1=${V1},junk`],
    ['empty entry', `t=${T},,v1=${V1}`],
    ['key empty', `t=${T},=x,v1=${V1}`],
    ['too long', `t=${T},` + `v1=${V1},`.repeat(100) + `v1=${V1}`],
  ])('rejects a malformed header (%s)', (_name, h) => {
    expect(verifyWebhookSignature({ secret: SECRET, header: h, body: BODY, now: NOW })).toEqual({ ok: false, reason: 'malformed_header' })
  })

  it('reads a duplicated header given as an array', () => {
    expect(verifyWebhookSignature({ secret: SECRET, header: [`t=${T}`, `v1=${V1}`], body: BODY, now: NOW }).ok).toBe(true)
  })

  it('throws on misconfiguration only', () => {
    expect(() => verifyWebhookSignature({ secrets: [], header, body: BODY, now: NOW })).toThrow(/no secret/)
    expect(() => verifyWebhookSignature({ secret: '', header, body: BODY, now: NOW })).toThrow(/empty/)
    expect(() => verifyWebhookSignature({ secrets: [SECRET, ''], header, body: BODY, now: NOW })).toThrow(/empty/)
  })

  it('defaults now to the system clock', () => {
    const h = signWebhook({ secret: SECRET, body: BODY, timestamp: new Date() })
    expect(verifyWebhookSignature({ secret: SECRET, header: h, body: BODY }).ok).toBe(true)
    expect(verifyWebhookSignature({ secret: SECRET, header, body: BODY })).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' })
  })
})
