import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../../../core/util/paths.js'
import { checkContentDigest, contentDigest, parseSignatureInput, signRequest, verifyRequestSignature } from './httpSignatures.js'
import { negotiate, normaliseProfile, parseUcpAgent, UcpTransportError, type BusinessCapabilities } from './negotiation.js'
import { CAP } from './options.js'
import { generateUcpKey, platformProfile } from './testing.js'

const OURS: BusinessCapabilities = {
  [CAP.checkout]: { versions: ['2026-04-08'] },
  [CAP.order]: { versions: ['2026-04-08'] },
  [CAP.fulfillment]: { versions: ['2026-04-08'], extends: CAP.checkout },
  [CAP.discount]: { versions: ['2026-04-08'], extends: CAP.checkout },
}

describe('UCP-Agent and negotiation', () => {
  it('parses profile="…" from the RFC 8941 dictionary, refuses anything else with invalid_profile_url', () => {
    expect(parseUcpAgent('profile="https://a.example/p.json"')).toBe('https://a.example/p.json')
    expect(parseUcpAgent('profile="https://a.example/p.json"; version="2026-01-23"')).toBe('https://a.example/p.json')
    for (const bad of [undefined, '', 'https://a.example', 'profile=https://x']) {
      expect(() => parseUcpAgent(bad)).toThrow(UcpTransportError)
    }
  })

  it('intersects at the highest common version and prunes extensions whose parent did not survive', () => {
    const profile = normaliseProfile('https://p.example/x.json', platformProfile({ capabilities: [CAP.order, CAP.fulfillment] }))
    const n = negotiate(OURS, profile, false)
    expect(n.capabilities).toEqual({ [CAP.order]: '2026-04-08' })
  })

  it('refuses an unknown protocol version (422 version_unsupported) unless lenient accepts an old-shaped profile', () => {
    const future = normaliseProfile('https://p.example/x.json', platformProfile({ version: '2099-01-01' }))
    expect(() => negotiate(OURS, future, false)).toThrow(expect.objectContaining({ status: 422, code: 'version_unsupported' }))
    // The official suite's mock agent profile (2026-01-11 array shape, order only).
    const raw = JSON.parse(readFileSync(join(fromRoot('..', 'shared', 'specs', 'ucp', 'conformance'), 'shopping-agent-test.json'), 'utf8')) as unknown
    const old = normaliseProfile('http://localhost:8285/profiles/shopping-agent.json', raw)
    expect(old.shape).toBe('array')
    expect(old.webhookUrl).toMatch(/\/webhooks\/partners\/test_partner\/events\/order$/)
    expect(() => negotiate(OURS, old, false)).toThrow(expect.objectContaining({ code: 'version_unsupported' }))
    const lenient = negotiate(OURS, old, true)
    expect(Object.keys(lenient.capabilities).sort()).toEqual([CAP.checkout, CAP.discount, CAP.fulfillment, CAP.order].sort())
    expect(negotiate(OURS, undefined, true).lenient).toBe(true)
    expect(() => negotiate(OURS, undefined, false)).toThrow(expect.objectContaining({ code: 'invalid_profile_url' }))
  })
})

describe('RFC 9421 profile', () => {
  const key = generateUcpKey('k1')
  const keys = [{ kid: 'k1', kty: 'EC', crv: 'P-256', x: key.x, y: key.y }]
  const body = Buffer.from('{"a": 1}')
  const sign = (url: string, headers: Record<string, string> = {}, created?: number) =>
    signRequest({ method: 'POST', url, headers: { 'Content-Type': 'application/json', 'UCP-Agent': 'profile="https://p.example/x"', 'Idempotency-Key': 'k', ...headers }, body, key, created })
  const verify = (url: string, h: Record<string, string>, extra: { now?: number; body?: Buffer } = {}) => {
    const u = new URL(url)
    const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
    return verifyRequestSignature({ method: 'POST', authority: u.host, path: u.pathname, query: u.search, header: (n) => lower[n], body: extra.body ?? body, keys, now: extra.now })
  }

  it('covers the UCP components, including @query, ucp-agent and idempotency-key', () => {
    const h = sign('https://gw.example/ucp/v1/checkout-sessions?x=1')
    const p = parseSignatureInput(h['Signature-Input']!)
    expect(p?.components).toEqual(['@method', '@authority', '@path', '@query', 'ucp-agent', 'idempotency-key', 'content-digest', 'content-type'])
    expect(p?.keyid).toBe('k1')
    expect(verify('https://gw.example/ucp/v1/checkout-sessions?x=1', h)).toMatchObject({ ok: true })
    expect(verify('https://gw.example/ucp/v1/checkout-sessions?x=2', h)).toMatchObject({ ok: false, code: 'signature_invalid' })
    expect(verify('https://other.example/ucp/v1/checkout-sessions?x=1', h)).toMatchObject({ ok: false, code: 'signature_invalid' })
  })

  it('digest is over the raw bytes: a re-serialised body is a digest_mismatch', () => {
    expect(contentDigest(body)).toMatch(/^sha-256=:[A-Za-z0-9+/]+=*:$/)
    expect(checkContentDigest(contentDigest(body), body)).toEqual({ ok: true })
    const h = sign('https://gw.example/x')
    expect(verify('https://gw.example/x', h, { body: Buffer.from(JSON.stringify(JSON.parse(body.toString()))) })).toMatchObject({ ok: false, code: 'digest_mismatch' })
  })

  it('refuses a stale created time and a signature that does not cover the idempotency key', () => {
    const old = sign('https://gw.example/x', {}, Math.floor(Date.now() / 1000) - 3600)
    expect(verify('https://gw.example/x', old)).toMatchObject({ ok: false, code: 'signature_invalid' })
    const h = signRequest({ method: 'POST', url: 'https://gw.example/x', headers: { 'Content-Type': 'application/json' }, body, key })
    expect(verify('https://gw.example/x', { ...h, 'Idempotency-Key': 'added-later' })).toMatchObject({ ok: false, code: 'signature_invalid' })
  })
})
