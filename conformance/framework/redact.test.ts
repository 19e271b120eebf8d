import { describe, expect, it } from 'vitest'
import { AuthArgumentError, credentialsFromArguments, parseAuthArgument } from './credentials.js'
import { sameOrigin } from './devJson.js'
import { createRedactor } from './redact.js'

const MARK = /^\[REDACTED:[0-9a-f]{8}\]$/

describe('createRedactor', () => {
  it('redacts credential and signature headers, keeping the auth scheme and the non-secret ones', () => {
    const r = createRedactor()
    const out = r.headers({
      authorization: 'Bearer ask_live_abcdef0123456789',
      'agentswitch-signature': 't=1,v1=abc',
      'payment-signature': 'eyJ…',
      'x-payment': 'eyJ…',
      'x-api-key': 'k',
      cookie: 'a=b',
      'signature-input': 'sig1=("@method")',
      'content-digest': 'sha-256=:x:',
      'idempotency-key': 'idem-1',
      'payment-receipt': 'receipt',
    })
    expect(out['authorization']).toMatch(/^Bearer \[REDACTED:[0-9a-f]{8}\]$/)
    for (const h of ['agentswitch-signature', 'payment-signature', 'x-payment', 'x-api-key', 'cookie']) expect(out[h], h).toMatch(MARK)
    expect(out['signature-input']).toBe('sig1=("@method")')
    expect(out['content-digest']).toBe('sha-256=:x:')
    expect(out['idempotency-key']).toBe('idem-1')
    expect(out['payment-receipt']).toBe('receipt')
  })

  it('redacts card data, private keys, tokens and signatures in JSON at any depth, walking objects', () => {
    const r = createRedactor()
    const body = JSON.stringify({
      payment_method: { type: 'card', number: '4242424242424242', cvc: '123', exp_month: 12, display_last4: '4242' },
      jwk: { kty: 'EC', crv: 'P-256', x: 'xx', y: 'yy', d: 'private-scalar' },
      payload: { signature: '0xabc', authorization: { from: '0x1', to: '0x2', value: '10' } },
      credential: { type: 'token', token: 'success_token' },
      private_key: '0xdeadbeef',
      amount: 1999,
      lone: { number: '4111 1111 1111 1111' },
      line: { number: 3 },
    })
    const out = JSON.parse(r.body(body)) as Record<string, Record<string, unknown>>
    expect(out['payment_method']!['number']).toMatch(MARK)
    expect(out['payment_method']!['cvc']).toMatch(MARK)
    expect(out['payment_method']!['display_last4']).toBe('4242')
    expect(out['jwk']!['d']).toMatch(MARK)
    expect(out['jwk']!['x']).toBe('xx')
    expect(out['payload']!['signature']).toMatch(MARK)
    expect(out['payload']!['authorization']).toEqual({ from: '0x1', to: '0x2', value: '10' })
    expect(out['credential']!['token']).toMatch(MARK)
    expect(out['private_key']).toMatch(MARK)
    expect(out['amount']).toBe(1999)
    expect(out['lone']!['number']).toMatch(MARK)
    expect(out['line']!['number']).toBe(3)
  })

  it('replaces known secrets everywhere, the same secret by the same mark, and leaves bodies without secrets byte-identical', () => {
    const r = createRedactor(['whsec_0123456789'])
    r.addSecret('short') // too short to be a secret: ignored
    const text = r.text('secret whsec_0123456789 and again whsec_0123456789, short')
    const marks = text.match(/\[REDACTED:[0-9a-f]{8}\]/g)!
    expect(marks).toHaveLength(2)
    expect(marks[0]).toBe(marks[1])
    expect(text).toContain('short')
    expect(r.url('http://u:p@h/x?api_key=abc&keep=1&t=whsec_0123456789')).toMatch(/^http:\/\/REDACTED:REDACTED@h\/x\?api_key=%5BREDACTED%3A[0-9a-f]{8}%5D&keep=1&t=\[REDACTED:[0-9a-f]{8}\]$/)
    const pretty = '{\n  "a": 1\n}'
    expect(r.body(pretty)).toBe(pretty)
    expect(r.body('not json whsec_0123456789')).toMatch(/^not json \[REDACTED:/)
  })

  it('marks differ between runs (per-run key), so a mark cannot be matched against a guess', () => {
    const a = createRedactor(['secret-value-1']).text('secret-value-1')
    const b = createRedactor(['secret-value-1']).text('secret-value-1')
    expect(a).not.toBe(b)
  })
})

describe('--auth parsing', () => {
  it('takes a header, a role=header, or a bare token; the last fills every role', () => {
    expect(parseAuthArgument('Authorization: Bearer abc')).toEqual({ role: 'default', name: 'authorization', value: 'Bearer abc' })
    expect(parseAuthArgument('agent=X-Api-Key: k=1')).toEqual({ role: 'agent', name: 'x-api-key', value: 'k=1' })
    expect(parseAuthArgument('admin=ask_123')).toEqual({ role: 'admin', name: 'authorization', value: 'Bearer ask_123' })
    expect(() => parseAuthArgument('two words')).toThrow(AuthArgumentError)
    expect(() => parseAuthArgument('agent=')).toThrow(AuthArgumentError)
    const { credentials, secrets } = credentialsFromArguments(['ask_default_key', 'agent=ask_agent_key'])
    expect(credentials.headers('agent')).toEqual({ authorization: 'Bearer ask_agent_key' })
    expect(credentials.headers('admin')).toEqual({ authorization: 'Bearer ask_default_key' })
    expect(credentials.has('merchant')).toBe(true)
    expect(secrets).toContain('ask_agent_key')
  })

  it('matches dev.json to --base-url by origin only', () => {
    expect(sameOrigin('http://127.0.0.1:8402', 'http://localhost:8402/')).toBe(true)
    expect(sameOrigin('http://127.0.0.1:8402', 'http://127.0.0.1:8403')).toBe(false)
    expect(sameOrigin('http://127.0.0.1:80', 'http://127.0.0.1')).toBe(true)
  })
})
