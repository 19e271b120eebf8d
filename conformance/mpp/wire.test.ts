/**
 * The suite's own MPP wire pieces agree with mppx 0.11.0 (the reference SDK) byte for byte:
 * JCS + base64url of a request, challenge header parsing, the credential encoding and the EVM
 * challenge hash. No network, no chain.
 */
import { Challenge, Credential, evm, PaymentRequest } from 'mppx'
import { describe, expect, it } from 'vitest'
import { b64urlDecode, b64urlEncode, challengeHash, credentialHeader, decodeB64urlJson, echoOf, jcs, parseWwwAuthenticate, paymentChallenges } from './wire.js'

const REQUESTS: Array<Record<string, unknown>> = [
  { amount: '1000000', currency: '0x20c0000000000000000000000000000000000001', recipient: '0x1234567890abcdef1234567890abcdef12345678' },
  { recipient: '0xAbC', amount: '1', methodDetails: { decimals: 6, chainId: 31337, credentialTypes: ['authorization'] }, currency: '0x0' },
  { z: [1, 2.5, -0, 1e21, 1e-7, null, true], 'é': 'ü 𝄞 "quoted" \\ \u0007', a: { c: {}, b: [] }, '\u20ac': 'euro', '\r': 'cr' },
]

describe('JCS and base64url', () => {
  it('serialise a request exactly as mppx PaymentRequest.serialize does', () => {
    for (const r of REQUESTS) expect(b64urlEncode(jcs(r))).toBe(PaymentRequest.serialize(r))
  })

  it('follow RFC 8785 on the RFC examples: sorted by UTF-16 code units, ES number forms', () => {
    expect(jcs({ b: 2, a: 1, A: 0, '\u20ac': 3, '\ud83d\ude00': 4 })).toBe('{"A":0,"a":1,"b":2,"€":3,"😀":4}')
    expect(jcs([1e30, 4.5, 0.002, -0, 333333333.3333333])).toBe('[1e+30,4.5,0.002,0,333333333.3333333]')
    expect(() => jcs(Number.NaN)).toThrow(/NaN/)
  })

  it('decode strictly: padding, foreign characters and impossible lengths are errors', () => {
    expect(b64urlDecode(b64urlEncode('hello')).toString()).toBe('hello')
    expect(() => b64urlDecode('aGVsbG8=')).toThrow(/padding/)
    expect(() => b64urlDecode('aGV+bG8')).toThrow(/alphabet/)
    expect(() => b64urlDecode('aGVsb')).toThrow(/length/)
    expect(() => decodeB64urlJson(b64urlEncode('[1]'))).toThrow(/not a JSON object/)
    expect(() => decodeB64urlJson(b64urlEncode('{'))).toThrow(/JSON/)
  })
})

describe('WWW-Authenticate parsing', () => {
  const challenge = Challenge.from(
    {
      realm: 'api.example.com',
      method: 'evm',
      intent: 'charge',
      request: REQUESTS[1]!,
      expires: '2030-01-01T00:00:00.000Z',
      description: 'say "hi", \\ and, commas',
      meta: { order: 'o-1' },
      secretKey: 'a-secret-of-at-least-thirty-two-bytes!!',
    } as never,
  ) as Challenge.Challenge
  const wire = Challenge.serialize(challenge)

  it('reads every parameter of an mppx challenge, quoted-string escapes included', () => {
    const [c, ...rest] = paymentChallenges(wire)
    expect(rest).toEqual([])
    expect(c!.problems).toEqual([])
    expect(c!.params).toMatchObject({
      id: challenge.id,
      realm: 'api.example.com',
      method: 'evm',
      intent: 'charge',
      request: PaymentRequest.serialize(REQUESTS[1]!),
      expires: '2030-01-01T00:00:00.000Z',
      description: 'say "hi", \\ and, commas',
      opaque: challenge.opaque,
    })
  })

  it('splits several comma-joined challenges (and other schemes) and flags duplicates and bad quoting', () => {
    const all = parseWwwAuthenticate(`Bearer realm="x", ${wire}, payment id="b", realm="r", method="tempo", intent="charge", request="e30", Basic dXNlcjpwdw==`)
    expect(all.map((c) => c.scheme)).toEqual(['Bearer', 'Payment', 'payment', 'Basic'])
    expect(all[3]!.token68).toBe('dXNlcjpwdw==')
    expect(paymentChallenges(`Bearer realm="x", ${wire}`).map((c) => c.params['id'])).toEqual([challenge.id])
    expect(paymentChallenges('Payment id="a", id="b"')[0]!.problems).toEqual(['parameter id appears twice'])
    expect(paymentChallenges('Payment id="a')[0]!.problems[0]).toMatch(/unterminated/)
  })
})

describe('credentials and the challenge hash', () => {
  it('a credential the suite builds is read back by mppx with the same challenge and payload', () => {
    const challenge = Challenge.from({ realm: 'r.example', method: 'evm', intent: 'charge', request: REQUESTS[0]!, expires: '2030-01-01T00:00:00.000Z', meta: { k: 'v' }, secretKey: 'x'.repeat(32) } as never) as Challenge.Challenge
    const echo = echoOf(paymentChallenges(Challenge.serialize(challenge))[0]!)
    const payload = { type: 'authorization', value: '1' }
    const header = credentialHeader({ challenge: echo, source: 'did:pkh:eip155:1:0x0000000000000000000000000000000000000001', payload })
    const back = Credential.deserialize(header)
    expect(back.challenge).toMatchObject({ id: challenge.id, realm: 'r.example', request: REQUESTS[0], expires: challenge.expires, opaque: challenge.opaque })
    expect(back.payload).toEqual(payload)
    expect(back.source).toBe('did:pkh:eip155:1:0x0000000000000000000000000000000000000001')
    // mppx verifies the echo it decoded from our credential against its own HMAC.
    expect(Challenge.verify(back.challenge, { secretKey: 'x'.repeat(32) })).toBe(true)
  })

  it('challengeHash equals mppx evm.challengeHash (keccak256(utf8(id) ‖ utf8(realm)))', () => {
    for (const c of [{ id: 'abc', realm: 'api.example.com' }, { id: 'aB3cDeF4gHiJkLmN', realm: 'MPP Payment' }, { id: 'é', realm: '' }]) {
      expect(challengeHash(c)).toBe(evm.challengeHash(c as never))
    }
  })
})
