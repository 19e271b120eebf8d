import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'undici'
import { createCanonicalValidator } from '../../core/intent/validate.js'
import type { PaymentIntent } from '../../core/intent/types.js'
import type { Store } from '../../core/store/port.js'
import { openSqliteStore } from '../../core/store/sqlite/sqliteStore.js'
import { loadApiSchemas, type ApiSchemas } from './apiSchemas.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../testing/testGateway.js'
import { join } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'

const canonical = createCanonicalValidator()
const api: ApiSchemas = loadApiSchemas()

interface Res {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: unknown
  text: string
}

async function call(base: string, method: string, path: string, opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.key) headers['authorization'] = `Bearer ${opts.key}`
  let body: string | undefined
  if (opts.raw !== undefined) body = opts.raw
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  const res = await request(`${base}${path}`, { method: method as 'GET', headers, body: body ?? null })
  const text = await res.body.text()
  let parsed: unknown
  try {
    parsed = text ? JSON.parse(text) : undefined
  } catch {
    parsed = undefined
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text }
}

const intentBody = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  merchant_id: 'm1',
  amount: { value: '1999', asset: 'iso4217:USD' },
  instrument: { type: 'alipay.agreement', ref: 'agr_123' },
  ...over,
})

function errorCode(r: Res): string | undefined {
  return (r.body as { error?: { code?: string } } | undefined)?.error?.code
}

describe('HTTP shell', () => {
  let t: TestGateway
  let base: string
  beforeAll(async () => {
    t = await startTestGateway()
    base = t.url
  })
  afterAll(async () => {
    await t.close()
  })

  it('answers /healthz and /readyz', async () => {
    const h = await call(base, 'GET', '/healthz')
    expect(h.status).toBe(200)
    expect(h.body).toMatchObject({ status: 'ok' })
    const r = await call(base, 'GET', '/readyz')
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ status: 'ok', store: 'sqlite' })
  })

  it('echoes a sane Request-Id and makes one otherwise', async () => {
    const a = await call(base, 'GET', '/healthz', { headers: { 'request-id': 'abc-123' } })
    expect(a.headers['request-id']).toBe('abc-123')
    const b = await call(base, 'GET', '/healthz')
    expect(String(b.headers['request-id'])).toMatch(/^req_[0-9A-Z]{26}$/)
  })

  it('refuses calls without a valid key (401) and with the wrong kind of key (403)', async () => {
    const none = await call(base, 'POST', '/v1/intents', { body: intentBody(), headers: { 'idempotency-key': 'k-auth-1' } })
    expect(none.status).toBe(401)
    expect(errorCode(none)).toBe('GW_UNAUTHENTICATED')
    expect(none.headers['www-authenticate']).toContain('Bearer')
    const wrong = await call(base, 'POST', '/v1/intents', { key: 'ask_not_a_real_key_000000000', body: intentBody(), headers: { 'idempotency-key': 'k-auth-2' } })
    expect(wrong.status).toBe(401)
    const merchant = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.merchant, body: intentBody(), headers: { 'idempotency-key': 'k-auth-3' } })
    expect(merchant.status).toBe(403)
    expect(errorCode(merchant)).toBe('GW_FORBIDDEN')
  })

  it('creates an intent that validates against the canonical schema, with its audit chain', async () => {
    const r = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'order-create-1' }), headers: { 'idempotency-key': 'create-1' } })
    expect(r.status).toBe(201)
    const intent = r.body as PaymentIntent
    expect(canonical.validateIntent(intent)).toEqual({ ok: true })
    expect(intent).toMatchObject({ status: 'created', version: 1, merchant_id: 'm1', payer: { agent_id: 'agent_1' }, origin: { protocol: 'gateway', ref: 'order-create-1' } })
    expect(r.headers['location']).toBe(`/v1/intents/${intent.id}`)
    const ev = await call(base, 'GET', `/v1/intents/${intent.id}/events`, { key: TEST_KEYS.admin })
    expect(ev.status).toBe(200)
    api.assert('IntentEvents', ev.body)
    expect(ev.body).toMatchObject({ chain: { valid: true }, data: [{ seq: 1, type: 'create', to_status: 'created', actor: 'agent:agent_1' }] })
  })

  it('the same reference never makes two intents (200 with the first)', async () => {
    const a = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'order-dedupe' }), headers: { 'idempotency-key': 'dedupe-a' } })
    const b = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'order-dedupe' }), headers: { 'idempotency-key': 'dedupe-b' } })
    expect(a.status).toBe(201)
    expect(b.status).toBe(200)
    expect((b.body as PaymentIntent).id).toBe((a.body as PaymentIntent).id)
  })

  describe('idempotency', () => {
    it('requires a key on intent creation', async () => {
      const r = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody() })
      expect(r.status).toBe(400)
      expect(errorCode(r)).toBe('GW_IDEMPOTENCY_KEY_REQUIRED')
    })

    it('refuses a malformed key', async () => {
      const r = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody(), headers: { 'idempotency-key': 'x'.repeat(256) } })
      expect(r.status).toBe(400)
      expect(errorCode(r)).toBe('GW_IDEMPOTENCY_KEY_INVALID')
    })

    it('same key + equivalent body (other key order) replays status and body with Idempotent-Replayed', async () => {
      const body = intentBody({ reference: 'idem-replay', metadata: { a: '1', b: '2' } })
      const first = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'replay-1' } })
      expect(first.status).toBe(201)
      expect(first.headers['idempotent-replayed']).toBeUndefined()
      const reordered = JSON.stringify({ metadata: { b: '2', a: '1' }, reference: 'idem-replay', instrument: { ref: 'agr_123', type: 'alipay.agreement' }, amount: { asset: 'iso4217:USD', value: '1999' }, merchant_id: 'm1' })
      const again = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, raw: reordered, headers: { 'idempotency-key': 'replay-1', 'content-type': 'application/json' } })
      expect(again.status).toBe(201)
      expect(again.headers['idempotent-replayed']).toBe('true')
      expect(again.text).toBe(first.text)
      expect(again.headers['location']).toBe(first.headers['location'])
    })

    it('same key + different body is 422 GW_IDEMPOTENCY_CONFLICT; an explicit null differs from absent', async () => {
      const first = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'idem-conflict' }), headers: { 'idempotency-key': 'conflict-1' } })
      expect(first.status).toBe(201)
      const other = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'idem-conflict', amount: { value: '2000', asset: 'iso4217:USD' } }), headers: { 'idempotency-key': 'conflict-1' } })
      expect(other.status).toBe(422)
      expect(errorCode(other)).toBe('GW_IDEMPOTENCY_CONFLICT')
      const withNull = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'idem-conflict', metadata: null }), headers: { 'idempotency-key': 'conflict-1' } })
      expect(withNull.status).toBe(422)
    })

    it('is scoped to the caller: another agent may use the same key', async () => {
      const a = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody(), headers: { 'idempotency-key': 'shared-key' } })
      const b = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.otherAgent, body: intentBody(), headers: { 'idempotency-key': 'shared-key' } })
      expect(a.status).toBe(201)
      expect(b.status).toBe(201)
      expect(b.headers['idempotent-replayed']).toBeUndefined()
      expect((a.body as PaymentIntent).id).not.toBe((b.body as PaymentIntent).id)
    })

    it('stores 4xx answers too (a replayed validation error is the same error)', async () => {
      const bad = intentBody({ amount: { value: '19.99', asset: 'iso4217:USD' } })
      const a = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: bad, headers: { 'idempotency-key': 'bad-1' } })
      expect(a.status).toBe(400)
      expect(errorCode(a)).toBe('GW_SCHEMA_INVALID')
      const b = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: bad, headers: { 'idempotency-key': 'bad-1' } })
      expect(b.status).toBe(400)
      expect(b.headers['idempotent-replayed']).toBe('true')
    })
  })

  it('validates money: unknown asset, non-integer amounts', async () => {
    const unknown = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ amount: { value: '100', asset: 'iso4217:ZZZ' } }), headers: { 'idempotency-key': 'asset-1' } })
    expect(unknown.status).toBe(400)
    expect(errorCode(unknown)).toBe('GW_ASSET_UNKNOWN')
    for (const [i, value] of ['-1', '1e3', '01', '1.0', ''].entries()) {
      const r = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ amount: { value, asset: 'iso4217:USD' } }), headers: { 'idempotency-key': `amt-${i}` } })
      expect(r.status, value).toBe(400)
    }
    const float = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, raw: '{"merchant_id":"m1","amount":{"value":19.99,"asset":"iso4217:USD"},"instrument":{"type":"alipay.agreement"}}', headers: { 'idempotency-key': 'amt-float', 'content-type': 'application/json' } })
    expect(float.status).toBe(400)
    expect(errorCode(float)).toBe('GW_SCHEMA_INVALID')
    expect(float.text).toContain('amount.value')
  })

  it('answers malformed requests with clear errors, never a 500', async () => {
    const badJson = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, raw: '{"amount":', headers: { 'content-type': 'application/json', 'idempotency-key': 'bj' } })
    expect(badJson.status).toBe(400)
    expect(errorCode(badJson)).toBe('GW_BAD_REQUEST')
    const text = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, raw: 'hello', headers: { 'content-type': 'text/plain', 'idempotency-key': 'tp' } })
    expect(text.status).toBe(415)
    const huge = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, raw: JSON.stringify({ pad: 'x'.repeat(1_100_000) }), headers: { 'content-type': 'application/json', 'idempotency-key': 'big' } })
    expect(huge.status).toBe(413)
    expect(errorCode(huge)).toBe('GW_BODY_TOO_LARGE')
    const nowhere = await call(base, 'GET', '/v1/nowhere', { key: TEST_KEYS.admin })
    expect(nowhere.status).toBe(404)
    expect(errorCode(nowhere)).toBe('GW_NOT_FOUND')
    const root404 = await call(base, 'GET', '/nope')
    expect(root404.status).toBe(404)
    api.assert('Error', root404.body)
    const extra = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ surprise: true }), headers: { 'idempotency-key': 'extra' } })
    expect(extra.status).toBe(400)
    expect((extra.body as { error: { details: Array<{ path: string }> } }).error.details[0]!.path).toBe('surprise')
  })

  it('lists with cursor pagination, scoped by key kind, and hides other callers\' intents', async () => {
    const ids: string[] = []
    for (let i = 0; i < 5; i++) {
      const r = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.otherAgent, body: intentBody({ merchant_id: 'm2', reference: `page-${i}` }), headers: { 'idempotency-key': `page-${i}` } })
      ids.push((r.body as PaymentIntent).id)
    }
    const seen: string[] = []
    let cursor: string | undefined
    for (;;) {
      const r = await call(base, 'GET', `/v1/intents?limit=2&merchant_id=m2${cursor ? `&cursor=${cursor}` : ''}`, { key: TEST_KEYS.admin })
      expect(r.status).toBe(200)
      api.assert('IntentList', r.body)
      const page = r.body as { data: PaymentIntent[]; has_more: boolean; next_cursor?: string }
      seen.push(...page.data.map((d) => d.id))
      if (!page.has_more) break
      cursor = page.next_cursor
    }
    expect(seen).toEqual([...ids].reverse())
    const asM1 = await call(base, 'GET', '/v1/intents?limit=100&merchant_id=m2', { key: TEST_KEYS.merchant })
    expect((asM1.body as { data: PaymentIntent[] }).data.every((d) => d.merchant_id === 'm1')).toBe(true)
    const hidden = await call(base, 'GET', `/v1/intents/${ids[0]}`, { key: TEST_KEYS.agent })
    expect(hidden.status).toBe(404)
    const own = await call(base, 'GET', `/v1/intents/${ids[0]}`, { key: TEST_KEYS.otherAgent })
    expect(own.status).toBe(200)
    const asAgent = await call(base, 'GET', '/v1/intents', { key: TEST_KEYS.agent })
    expect(asAgent.status).toBe(403)
    const badLimit = await call(base, 'GET', '/v1/intents?limit=0', { key: TEST_KEYS.admin })
    expect(badLimit.status).toBe(400)
  })

  it('cancels once; a second cancel is an invalid transition (409); both are in the audit chain', async () => {
    const c = await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody({ reference: 'cancel-me' }), headers: { 'idempotency-key': 'cancel-create' } })
    const id = (c.body as PaymentIntent).id
    const a = await call(base, 'POST', `/v1/intents/${id}/cancel`, { key: TEST_KEYS.merchant, body: { reason: 'customer_request' } })
    expect(a.status).toBe(200)
    expect(a.body).toMatchObject({ status: 'canceled', version: 2, status_reason: 'customer_request' })
    const b = await call(base, 'POST', `/v1/intents/${id}/cancel`, { key: TEST_KEYS.merchant })
    expect(b.status).toBe(409)
    expect(errorCode(b)).toBe('GW_INVALID_TRANSITION')
    const ev = await call(base, 'GET', `/v1/intents/${id}/events`, { key: TEST_KEYS.merchant })
    expect(ev.body).toMatchObject({ chain: { valid: true }, data: [{ type: 'create' }, { type: 'cancel', actor: 'merchant:m1', from_status: 'created', to_status: 'canceled' }] })
  })

  it('exposes metrics: request latency histogram and intents by protocol and status', async () => {
    const m = await call(base, 'GET', '/metrics')
    expect(m.status).toBe(200)
    expect(m.text).toContain('agentswitch_http_request_duration_seconds_bucket')
    expect(m.text).toMatch(/route="\/v1\/intents"/)
    expect(m.text).toMatch(/agentswitch_intents\{protocol="gateway",status="created"\} \d+/)
    expect(m.text).toMatch(/agentswitch_intents\{protocol="gateway",status="canceled"\} [1-9]/)
  })

  it('never logs API keys or other secrets', async () => {
    await call(base, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body: intentBody(), headers: { 'idempotency-key': 'log-1', 'x-payment': 'secret-payment-header' } })
    const all = t.logs.join('\n')
    expect(all).toContain('/v1/intents')
    expect(all).not.toContain(TEST_KEYS.agent)
    expect(all).not.toContain('secret-payment-header')
    expect(all).toContain('[redacted]')
  })
})

describe('request log lines with info off (log.level warn)', () => {
  it('a successful request builds and writes nothing; a 4xx is one warn line, with the request serialised and redacted', async () => {
    const w = await startTestGateway({ configPatch: { log: { level: 'warn' } } })
    try {
      const ok = await call(w.url, 'GET', '/v1/capabilities', { key: TEST_KEYS.agent })
      expect(ok.status).toBe(200)
      const refused = await call(w.url, 'GET', '/v1/intents/pi_nope', { key: TEST_KEYS.admin, headers: { 'x-payment': 'secret-payment-header' } })
      expect(refused.status).toBe(404)
      await new Promise((r) => setTimeout(r, 50))
      const lines = w.logs.map((l) => JSON.parse(l) as { level: number; msg: string; req?: { url?: string; id?: string; headers?: Record<string, string> }; res?: { statusCode?: number }; responseTime?: number })
      const requestLines = lines.filter((l) => l.req !== undefined)
      expect(requestLines).toHaveLength(1)
      expect(requestLines[0]).toMatchObject({ level: 40, msg: 'request completed', req: { url: '/v1/intents/pi_nope', id: expect.stringMatching(/^req_/) }, res: { statusCode: 404 } })
      expect(typeof requestLines[0]!.responseTime).toBe('number')
      expect(requestLines[0]!.req!.headers!['authorization']).toBe('[redacted]')
      expect(requestLines[0]!.req!.headers!['x-payment']).toBe('[redacted]')
      expect(w.logs.join('\n')).not.toContain(TEST_KEYS.admin)
    } finally {
      await w.close()
    }
  })
})

describe('idempotency under concurrency and failure', () => {
  /** The real SQLite store, with a switchable delay or failure on insertIntent (the rail of this test). */
  function slowStore(): { store: Store; delayMs: { v: number }; failNext: { v: boolean } } {
    const real = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-idem-')), 'gw.db') })
    const delayMs = { v: 0 }
    const failNext = { v: false }
    const store = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'insertIntent') {
          return async (...args: Parameters<Store['insertIntent']>) => {
            if (delayMs.v) await new Promise((r) => setTimeout(r, delayMs.v))
            if (failNext.v) {
              failNext.v = false
              throw new Error('disk on fire')
            }
            return target.insertIntent(...args)
          }
        }
        const v = Reflect.get(target, prop, receiver) as unknown
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
      },
    })
    return { store, delayMs, failNext }
  }

  it('a key still in flight answers 409 with Retry-After; the operation runs once', async () => {
    const s = slowStore()
    const t = await startTestGateway({ store: s.store })
    try {
      s.delayMs.v = 400
      const body = intentBody({ reference: 'inflight' })
      const [a, b] = await Promise.all([
        call(t.url, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'inflight-1' } }),
        new Promise<Res>((r) => setTimeout(() => r(call(t.url, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'inflight-1' } })), 100)),
      ])
      expect(a.status).toBe(201)
      expect(b.status).toBe(409)
      expect(errorCode(b)).toBe('GW_IDEMPOTENCY_IN_FLIGHT')
      expect(Number(b.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      s.delayMs.v = 0
      const c = await call(t.url, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'inflight-1' } })
      expect(c.status).toBe(201)
      expect(c.headers['idempotent-replayed']).toBe('true')
      const list = await t.gateway.store.listIntents({ limit: 100 })
      expect(list.items.filter((i) => i.origin.ref === 'inflight')).toHaveLength(1)
    } finally {
      await t.close()
    }
  })

  it('a 5xx is never stored: the retry runs the operation', async () => {
    const s = slowStore()
    const t = await startTestGateway({ store: s.store })
    try {
      s.failNext.v = true
      const body = intentBody({ reference: 'five-hundred' })
      const a = await call(t.url, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'five-1' } })
      expect(a.status).toBe(500)
      expect(errorCode(a)).toBe('GW_INTERNAL')
      expect(a.text).not.toContain('disk on fire')
      const b = await call(t.url, 'POST', '/v1/intents', { key: TEST_KEYS.agent, body, headers: { 'idempotency-key': 'five-1' } })
      expect(b.status).toBe(201)
      expect(b.headers['idempotent-replayed']).toBeUndefined()
    } finally {
      await t.close()
    }
  })
})
