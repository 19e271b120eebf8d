import { generateKeyPairSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
// Cross-check only (tests may import the gateway): the tester's implementation and the gateway's
// were written separately; each must accept what the other signs and refuse what was tampered.
import { signRequest, signMessage, verifyRequestSignature, type EcPrivateJwk } from '../../adapters/protocols/ucp/httpSignatures.js'
import { merchantAuthorization } from '../../adapters/protocols/ucp/ap2.js'
import { digestHeader, digestMatches, jcs, signUcpRequest, verifyDetachedMerchantJws, verifyUcpSignature, type PrivateEcJwk } from './signatures.js'

function newKey(kid: string): PrivateEcJwk & EcPrivateJwk {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' })
  return { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y!, d: jwk.d!, kid }
}
const pub = (k: PrivateEcJwk) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid })
const header = (h: Record<string, string>) => (n: string) => Object.entries(h).find(([k]) => k.toLowerCase() === n)?.[1]

describe('the UCP suite signatures (independent of the adapter)', () => {
  const key = newKey('platform-1')
  const url = 'http://127.0.0.1:8402/ucp/checkout-sessions?x=1'
  const body = Buffer.from('{ "line_items" : [] }')
  const base = { 'Content-Type': 'application/json', 'UCP-Agent': 'profile="http://p/x.json"', 'Idempotency-Key': 'k1' }

  it('the gateway verifies a request the tester signed', async () => {
    const h = await signUcpRequest({ method: 'POST', url, headers: base, body, key })
    const v = verifyRequestSignature({ method: 'POST', authority: '127.0.0.1:8402', path: '/ucp/checkout-sessions', query: '?x=1', header: header(h), body, keys: [pub(key)] })
    expect(v).toMatchObject({ ok: true, keyid: 'platform-1' })
    expect(v.ok && v.components).toEqual(['@method', '@authority', '@path', '@query', 'ucp-agent', 'idempotency-key', 'content-digest', 'content-type'])
  })

  it('the tester verifies a request the gateway signed, and refuses a tampered one', async () => {
    const h = signRequest({ method: 'POST', url, headers: base, body, key })
    const m = { method: 'POST', authority: '127.0.0.1:8402', path: '/ucp/checkout-sessions', query: 'x=1', header: header(h) }
    expect(await verifyUcpSignature(m, body, [pub(key)], ['@method', 'content-digest'])).toMatchObject({ ok: true })
    expect(await verifyUcpSignature({ ...m, path: '/ucp/other' }, body, [pub(key)])).toEqual({ ok: false, reason: 'the signature does not verify' })
    expect(await verifyUcpSignature(m, Buffer.from('{}'), [pub(key)])).toEqual({ ok: false, reason: 'Content-Digest does not match the body' })
    expect(await verifyUcpSignature(m, body, [pub(newKey('platform-1'))])).toEqual({ ok: false, reason: 'the signature does not verify' })
    expect(await verifyUcpSignature(m, body, [pub(newKey('other'))])).toMatchObject({ ok: false, reason: 'no published key platform-1' })
  })

  it('the tester verifies a response the gateway signed over @status', async () => {
    const rb = Buffer.from('{"id":"chk_1"}')
    const h: Record<string, string> = { 'content-type': 'application/json', 'content-digest': await digestHeader(rb) }
    Object.assign(h, signMessage(['@status', 'content-digest', 'content-type'], { status: 201, header: header(h) }, key))
    expect(await verifyUcpSignature({ status: 201, header: header(h) }, rb, [pub(key)], ['@status'])).toMatchObject({ ok: true })
    expect(await verifyUcpSignature({ status: 200, header: header(h) }, rb, [pub(key)])).toMatchObject({ ok: false })
    expect(await verifyUcpSignature({ status: 201, header: header(h) }, rb, [pub(key)], ['@method'])).toEqual({ ok: false, reason: 'the signature does not cover @method' })
  })

  it('Content-Digest: every sha member must match; unknown members alone do not count', async () => {
    expect(await digestMatches(await digestHeader(body), body)).toBe(true)
    expect(await digestMatches('md5=:AAAA:', body)).toBe(false)
    expect(await digestMatches('not a dictionary ((', body)).toBe(false)
  })

  it('JCS orders members by UTF-16 code units and the detached merchant JWS cross-verifies', async () => {
    expect(jcs({ b: 1, a: [true, null, 'x'], '\u20ac': 1, '\ud83d\ude00': 2, c: { z: 1, y: 2 } })).toBe('{"a":[true,null,"x"],"b":1,"c":{"y":2,"z":1},"\u20ac":1,"\ud83d\ude00":2}')
    const merchant = newKey('biz-1')
    const checkout = { id: 'chk_1', totals: [{ type: 'total', amount: 1999 }], currency: 'USD' }
    const jws = merchantAuthorization(checkout, merchant)
    expect(await verifyDetachedMerchantJws({ ...checkout, ap2: { merchant_authorization: jws } }, jws, [pub(merchant)])).toEqual({ ok: true, kid: 'biz-1' })
    expect(await verifyDetachedMerchantJws({ ...checkout, currency: 'EUR' }, jws, [pub(merchant)])).toEqual({ ok: false, reason: 'the signature does not verify' })
    expect(await verifyDetachedMerchantJws(checkout, jws.replace('..', '.x.'), [pub(merchant)])).toMatchObject({ ok: false })
  })
})
