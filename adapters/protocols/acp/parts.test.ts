import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BreakerRegistry } from '../../rails/shared/breakers.js'
import type { TestGateway } from '../../testing/testGateway.js'
import { createHttpCatalog, DEMO_CATALOG_PATH } from './catalog.js'
import { signRequest } from './signature.js'
import { checkCard, luhnValid, openCard, parseVaultKey, sealCard } from './vault.js'
import { acpClient, delegateBody, startAcpGateway, TEST_VAULT_KEY } from './testing.js'

describe('vault crypto and card checks', () => {
  const key = parseVaultKey(TEST_VAULT_KEY)

  it('AES-256-GCM round-trips, binds the token id and detects tampering', () => {
    const sealed = sealCard({ number: '4242424242424242', cvc: '123' }, key, 'k1', 'vt_A')
    expect(JSON.stringify(sealed)).not.toContain('4242')
    expect(openCard(sealed, key, 'vt_A')).toEqual({ number: '4242424242424242', cvc: '123' })
    expect(() => openCard(sealed, key, 'vt_B')).toThrow()
    const flipped = { ...sealed, ct: Buffer.from(Buffer.from(sealed.ct, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') }
    expect(() => openCard(flipped, key, 'vt_A')).toThrow()
    expect(() => parseVaultKey('too-short')).toThrow(/32 bytes/)
  })

  it('Luhn, expiry at the end of the month, lengths', () => {
    expect(luhnValid('4242424242424242')).toBe(true)
    expect(luhnValid('4242424242424241')).toBe(false)
    const now = new Date('2026-11-21T12:00:00Z')
    expect(() => checkCard({ card_number_type: 'fpan', number: '4242424242424242', exp_month: '11', exp_year: '2026' }, now)).not.toThrow()
    expect(() => checkCard({ card_number_type: 'fpan', number: '4242424242424242', exp_month: '10', exp_year: '26' }, now)).toThrow('the card has expired')
    expect(() => checkCard({ card_number_type: 'fpan', number: '42424242424', exp_month: '12', exp_year: '2030' }, now)).toThrow('12 to 19 digits')
    expect(() => checkCard({ card_number_type: 'fpan', number: '4242424242424242', exp_month: '13', exp_year: '2030' }, now)).toThrow('exp_month must be 01 to 12')
    // Network tokens (DPANs) are not Luhn-checked.
    expect(() => checkCard({ card_number_type: 'network_token', number: '4242424242424241' }, now)).not.toThrow()
  })
})

describe('the HTTP catalog (undici, deadline, breaker, last good snapshot)', () => {
  let server: Server
  let url: string
  let mode: 'ok' | 'slow' | 'error' = 'ok'
  let calls = 0
  const demo = readFileSync(DEMO_CATALOG_PATH, 'utf8')

  beforeAll(async () => {
    server = createServer((req, res) => {
      calls++
      if (mode === 'slow') return setTimeout(() => res.end(demo), 1_000).unref()
      if (mode === 'error') return res.writeHead(500).end('boom')
      expect(req.url).toBe('/catalog?merchant_id=m1')
      expect(req.headers.authorization).toBe('Bearer cat-token')
      res.writeHead(200, { 'content-type': 'application/json' }).end(demo)
    })
    server.listen(0, '127.0.0.1')
    await new Promise((r) => server.once('listening', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((r) => server.close(() => r())))

  it('reads the merchant backend, caches, serves the last good snapshot on failure, and fails fast without one', async () => {
    const breakers = new BreakerRegistry()
    const cat = createHttpCatalog({ baseUrl: url, token: 'cat-token', timeoutMs: 200, cacheMs: 0, breakers })
    const snap = await cat.snapshot('m1')
    expect(snap.products.map((p) => p.id)).toContain('item_123')
    mode = 'error'
    expect((await cat.snapshot('m1')).products.length).toBe(snap.products.length)
    mode = 'slow'
    const other = new BreakerRegistry()
    const fresh = createHttpCatalog({ baseUrl: url, timeoutMs: 200, breakers: other })
    const started = Date.now()
    await expect(fresh.snapshot('m1')).rejects.toMatchObject({ code: 'GW_RAIL_UNAVAILABLE' })
    expect(Date.now() - started).toBeLessThan(900)
    expect(breakers.list().some((b) => b.rail === 'acp-catalog')).toBe(true)
    await cat.close()
    await fresh.close()
    breakers.shutdown()
    other.shutdown()
    mode = 'ok'
    expect(calls).toBeGreaterThanOrEqual(3)
  })
})

describe('request signing (Signature / Timestamp) when the merchant configures it', () => {
  let gw: TestGateway
  const secret = 'acp-signing-secret-0123456789'
  beforeAll(async () => {
    gw = await startAcpGateway({ mount: { requestSigning: { secrets: { agent_1: secret } } } })
  })
  afterAll(() => gw?.close())

  it('accepts a valid signature and refuses missing, stale or wrong ones with 401 invalid_signature', async () => {
    const acp = acpClient(gw.url)
    const body = JSON.stringify({ currency: 'usd', line_items: [{ id: 'ebook_001' }], capabilities: { interventions: { supported: [] } } })
    const ts = new Date().toISOString()
    const ok = await acp.post('/acp/checkout_sessions', body, { timestamp: ts, signature: signRequest(secret, ts, body) })
    expect(ok.status, ok.text).toBe(201)
    const missing = await acp.post('/acp/checkout_sessions', body)
    expect(missing.status).toBe(401)
    expect(missing.json).toEqual({ type: 'invalid_request', code: 'invalid_signature', message: 'this agent must sign its requests: send Signature and Timestamp' })
    const old = new Date(Date.now() - 600_000).toISOString()
    expect((await acp.post('/acp/checkout_sessions', body, { timestamp: old, signature: signRequest(secret, old, body) })).json).toMatchObject({ code: 'invalid_signature', message: 'Timestamp is outside the accepted clock skew' })
    const wrong = await acp.post('/acp/checkout_sessions', body, { timestamp: ts, signature: signRequest('another-secret', ts, body) })
    expect(wrong.status).toBe(401)
    expect(wrong.json).toMatchObject({ code: 'invalid_signature', message: 'the Signature does not match the request' })
  })

  it('stores the vault card encrypted: the PAN never appears in the database file or the logs', async () => {
    const vgw = await startAcpGateway()
    try {
      const v = acpClient(vgw.url)
      const r = await v.post('/acp/agentic_commerce/delegate_payment', delegateBody('cs_any', 100))
      expect(r.status, r.text).toBe(201)
      const rec = await vgw.gateway.store.getToken(r.json['id'] as string)
      expect(rec?.state).toBe('active')
      const raw = readFileSync(`${vgw.dir}/gw.db`)
      expect(raw.includes('4242424242424242')).toBe(false)
      expect(JSON.stringify(rec?.doc)).not.toContain('4242424242424242')
      expect(vgw.logs.join('\n')).not.toContain('4242424242424242')
    } finally {
      await vgw.close()
    }
  })
})

describe('the acp config section', () => {
  it('validates against config.schema.json, resolves { env } secrets and reports every problem with its path', async () => {
    const { parseAcpConfig } = await import('./config.js')
    const o = parseAcpConfig(
      { merchantId: 'demo', vault: { encryptionKey: { env: 'ACP_VAULT_KEY' } }, handlers: { card: {} }, requestSigning: { secrets: { agent_demo: { env: 'ACP_SIGN' } } } },
      { ACP_VAULT_KEY: TEST_VAULT_KEY, ACP_SIGN: 's3cret' },
    )
    expect(o).toMatchObject({ merchantId: 'demo', vault: { encryptionKey: TEST_VAULT_KEY }, handlers: { card: {} }, requestSigning: { secrets: { agent_demo: 's3cret' } } })
    expect(parseAcpConfig({ merchantId: 'demo', enabled: false }, {})).toBeUndefined()
    expect(() => parseAcpConfig({ merchantId: 'demo', vault: { encryptionKey: { env: 'MISSING' } } }, {})).toThrow('acp.vault.encryptionKey: environment variable MISSING is not set')
    expect(() => parseAcpConfig({ merchantId: 'demo', vault: { encryptionKey: 'short' } }, {})).toThrow('acp.vault.encryptionKey: acp.vault.encryptionKey must be 32 bytes')
    expect(() => parseAcpConfig({ merchantId: 'demo', handlers: { bogus: {} } }, {})).toThrow('acp.handlers: must NOT have additional properties')
  })
})

describe('session expiry', () => {
  it('a session past expires_at reads as expired and refuses changes with 405', async () => {
    let now = Date.now()
    const gw = await startAcpGateway({ mount: { sessionTtlSec: 60, clock: () => new Date(now) } })
    try {
      const acp = acpClient(gw.url)
      const s = await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'ebook_001' }], capabilities: { interventions: { supported: [] } } })
      expect(s.status).toBe(201)
      now += 61_000
      const g = await acp.call('GET', `/acp/checkout_sessions/${s.json['id'] as string}`)
      expect(g.json['status']).toBe('expired')
      const u = await acp.post(`/acp/checkout_sessions/${s.json['id'] as string}/complete`, { payment_data: { handler_id: 'card_vault', instrument: { type: 'card', credential: { type: 'spt', token: 'vt_x' } } } })
      expect(u.status).toBe(405)
      expect(u.json).toEqual({ type: 'invalid_request', code: 'checkout_session_expired', message: 'the checkout session is expired; it cannot complete' })
    } finally {
      await gw.close()
    }
  })
})
