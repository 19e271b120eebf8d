import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TestGateway } from '../../testing/testGateway.js'
import { buildAlipayRail, buildAntomRail } from '../../rails/alipay/index.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { loadVendoredSchema } from './schemas.js'
import { acpClient, delegateBody, officialSchemas, SHARED_ACP, SHIPPING_ADDRESS, startAcpGateway, TEST_KEYS, type AcpClient, type AcpResponse } from './testing.js'

const CAPS = { interventions: { supported: ['3ds', 'biometric', 'not_a_real_intervention'] } }

let harness: RailHarness
let gw: TestGateway
let acp: AcpClient
const schemas = officialSchemas()

/** Every body our endpoints produce is checked against the official schemas. */
function expectValid(r: AcpResponse, def: string, bundle: 'checkout' | 'delegate' = 'checkout'): void {
  expect(schemas.problems(def, r.json, bundle), `${def}: ${r.text}`).toEqual([])
}
function expectSession(r: AcpResponse, status: number): Record<string, unknown> {
  expect(r.status, r.text).toBe(status)
  expectValid(r, 'CheckoutSession')
  return r.json
}
function expectError(r: AcpResponse, status: number, body: Record<string, unknown>, bundle: 'checkout' | 'delegate' = 'checkout'): void {
  expect(r.status, r.text).toBe(status)
  expect(r.json).toEqual(body)
  expectValid(r, 'Error', bundle)
}
const totalOf = (s: Record<string, unknown>): number => ((s['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!).amount

beforeAll(async () => {
  harness = await startRailHarness()
  gw = await startAcpGateway({ gatewayOptions: { rails: [(ctx) => buildAntomRail(harness.antomOptions, ctx), (ctx) => buildAlipayRail(harness.alipayOptions, ctx)] }, mount: { handlers: { card: {}, alipayAgreement: {} } } })
  acp = acpClient(gw.url)
})
afterAll(async () => {
  await gw?.close()
  await harness?.close()
})

describe('ACP checkout sessions', () => {
  it('create answers 201 with the full authoritative session, lowercase currency, integer totals and the interventions intersection', async () => {
    const r = await acp.post('/acp/checkout_sessions', { currency: 'USD', line_items: [{ id: 'item_456' }], capabilities: CAPS })
    const s = expectSession(r, 201)
    expect(s['id']).toMatch(/^cs_[0-9A-Z]{26}$/)
    expect(s['currency']).toBe('usd')
    expect(s['status']).toBe('not_ready_for_payment')
    expect(s['protocol']).toEqual({ version: '2026-04-17' })
    expect(s['capabilities']).toMatchObject({ interventions: { supported: ['3ds'], required: [], enforcement: 'conditional' } })
    expect((s['capabilities'] as { payment: { handlers: Array<{ id: string }> } }).payment.handlers.map((h) => h.id)).toEqual(['card_vault'])
    expect(s['totals']).toEqual([
      { type: 'items_base_amount', display_text: 'Items', amount: 1999 },
      { type: 'subtotal', display_text: 'Subtotal', amount: 1999 },
      { type: 'fulfillment', display_text: 'Shipping', amount: 0 },
      { type: 'tax', display_text: 'Tax', amount: 0 },
      { type: 'total', display_text: 'Total', amount: 1999 },
    ])
    expect(s['messages']).toEqual([
      expect.objectContaining({ type: 'error', code: 'missing', param: '$.fulfillment_details.address' }),
      expect.objectContaining({ type: 'error', code: 'missing', param: '$.selected_fulfillment_options' }),
    ])
    expect((s['fulfillment_options'] as Array<{ id: string }>).map((o) => o.id)).toEqual(['fulfillment_option_123', 'fulfillment_option_456'])
    expect(r.headers['idempotency-key']).toBeDefined()
    expect(s).not.toHaveProperty('extensions')
  })

  it('update with address and a shipping choice reaches ready_for_payment with tax and shipping; GET returns the same state', async () => {
    const created = await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_456', quantity: 2 }], capabilities: { interventions: { supported: [] } } })
    const id = created.json['id'] as string
    const u = await acp.post(`/acp/checkout_sessions/${id}`, {
      fulfillment_details: { name: 'Jane Doe', email: 'jane@example.com', address: SHIPPING_ADDRESS },
      selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_456', item_ids: ['item_456'] }],
    })
    const s = expectSession(u, 200)
    expect(s['status']).toBe('ready_for_payment')
    expect(s['messages']).toEqual([])
    // 2 × 1999 = 3998; express 1500; US tax 10 % of 3998 = 399.8 → 400 (half up, integers only).
    expect(s['totals']).toEqual([
      { type: 'items_base_amount', display_text: 'Items', amount: 3998 },
      { type: 'subtotal', display_text: 'Subtotal', amount: 3998 },
      { type: 'fulfillment', display_text: 'Shipping', amount: 1500 },
      { type: 'tax', display_text: 'Tax', amount: 400 },
      { type: 'total', display_text: 'Total', amount: 5898 },
    ])
    expect(s['selected_fulfillment_options']).toEqual([{ type: 'shipping', option_id: 'fulfillment_option_456', item_ids: ['item_456'] }])
    const g = await acp.call('GET', `/acp/checkout_sessions/${id}`)
    expect(expectSession(g, 200)).toEqual(s)
  })

  it('business problems are messages inside a 2xx: unknown option, out of stock, invalid email; the agent price is not authoritative', async () => {
    const r = await acp.post('/acp/checkout_sessions', {
      currency: 'usd',
      line_items: [{ id: 'item_sold_out' }, { id: 'item_123', unit_amount: 1 }],
      buyer: { email: 'not-an-email' },
      fulfillment_details: { address: SHIPPING_ADDRESS },
      capabilities: CAPS,
    })
    expectSession(r, 201)
    const u = await acp.post(`/acp/checkout_sessions/${r.json['id'] as string}`, { selected_fulfillment_options: [{ type: 'shipping', option_id: 'no_such_option', item_ids: ['item_123'] }] })
    const s = expectSession(u, 200)
    expect(s['status']).toBe('not_ready_for_payment')
    const msgs = s['messages'] as Array<{ type: string; code: string; param: string }>
    expect(msgs.map((m) => [m.type, m.code, m.param])).toEqual([
      ['error', 'out_of_stock', '$.line_items[0]'],
      ['warning', 'price_change', '$.line_items[1].unit_amount'],
      ['error', 'invalid', '$.selected_fulfillment_options[0].option_id'],
      ['error', 'missing', '$.selected_fulfillment_options'],
      ['error', 'invalid', '$.buyer.email'],
    ])
    // Tampered price: the catalog price (300) is charged, not the agent's 1.
    expect((s['line_items'] as Array<{ unit_amount: number }>)[1]!.unit_amount).toBe(300)
  })

  it('digital-only carts need no address and are payable at once', async () => {
    const s = expectSession(await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'ebook_001' }], capabilities: CAPS }), 201)
    expect(s['status']).toBe('ready_for_payment')
    expect(s['selected_fulfillment_options']).toEqual([{ type: 'digital', option_id: 'digital_email', item_ids: ['ebook_001'] }])
    expect(totalOf(s)).toBe(999)
  })

  it('protocol errors are flat Error objects with a JSONPath param', async () => {
    expectError(await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'invalid_item' }], capabilities: CAPS }), 400, {
      type: 'invalid_request',
      code: 'invalid_item_id',
      message: "the item ID 'invalid_item' does not exist",
      param: '$.line_items[0].id',
    })
    expectError(await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [], capabilities: CAPS }), 400, {
      type: 'invalid_request',
      code: 'invalid',
      message: '$.line_items must NOT have fewer than 1 items',
      param: '$.line_items',
    })
    expectError(await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_123' }] }), 400, {
      type: 'invalid_request',
      code: 'invalid',
      message: '$.capabilities is required',
      param: '$.capabilities',
    })
    const bad = await acp.post('/acp/checkout_sessions', '{"currency": "usd",')
    expect(bad.status).toBe(400)
    expect(bad.json).toMatchObject({ type: 'invalid_request', code: 'invalid' })
    expectValid(bad, 'Error')
    expectError(await acp.call('GET', '/acp/checkout_sessions/cs_nope'), 404, { type: 'invalid_request', code: 'not_found', message: 'no checkout session cs_nope' })
  })

  it('sessions are private to the agent that created them', async () => {
    const s = await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'ebook_001' }], capabilities: CAPS })
    const other = acpClient(gw.url, TEST_KEYS.otherAgent)
    expect((await other.call('GET', `/acp/checkout_sessions/${s.json['id'] as string}`)).status).toBe(404)
  })
})

describe('ACP headers', () => {
  it('API-Version missing or unsupported → 400 with supported_versions', async () => {
    expectError(await acp.call('GET', '/acp/checkout_sessions/cs_x', undefined, { 'api-version': undefined }), 400, {
      type: 'invalid_request',
      code: 'missing_api_version',
      message: 'send the API-Version header (supported: 2026-04-17)',
      supported_versions: ['2026-04-17'],
    })
    expectError(await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_123' }], capabilities: CAPS }, { 'api-version': '2025-09-29' }), 400, {
      type: 'invalid_request',
      code: 'unsupported_api_version',
      message: 'API-Version 2025-09-29 is not supported (supported: 2026-04-17)',
      supported_versions: ['2026-04-17'],
    })
  })

  it('missing or wrong bearer → 401 flat error; Request-Id is echoed', async () => {
    const r = await acp.call('GET', '/acp/checkout_sessions/cs_x', undefined, { authorization: undefined, 'request-id': 'req-acp-test-1' })
    expectError(r, 401, { type: 'invalid_request', code: 'unauthorized', message: 'send a valid API key as `Authorization: Bearer <key>`' })
    expect(r.headers['request-id']).toBe('req-acp-test-1')
    expect((await acpClient(gw.url, 'ask_wrong_key_00000000000000000000').call('GET', '/acp/checkout_sessions/cs_x')).status).toBe(401)
    expect((await acpClient(gw.url, TEST_KEYS.merchant).call('GET', '/acp/checkout_sessions/cs_x')).status).toBe(403)
  })

  it('Idempotency-Key is required on every POST', async () => {
    for (const path of ['/acp/checkout_sessions', '/acp/checkout_sessions/cs_x', '/acp/checkout_sessions/cs_x/complete', '/acp/checkout_sessions/cs_x/cancel', '/acp/agentic_commerce/delegate_payment']) {
      expectError(await acp.call('POST', path, {}), 400, {
        type: 'invalid_request',
        code: 'idempotency_key_required',
        message: 'send an Idempotency-Key header with this request',
      })
    }
  })
})

describe('ACP idempotency (the foundation semantics)', () => {
  it('same key + equivalent body replays 201 with Idempotent-Replayed; another body → 422; another path is independent', async () => {
    const key = `idem-${Date.now()}`
    const a = await acp.call('POST', '/acp/checkout_sessions', '{"currency":"usd","line_items":[{"id":"item_123","quantity":1}],"capabilities":{"interventions":{"supported":[]}}}', { 'idempotency-key': key })
    const b = await acp.call('POST', '/acp/checkout_sessions', '{"capabilities":{"interventions":{"supported":[]}},"line_items":[{"quantity":1.0,"id":"item_123"}],"currency":"usd"}', { 'idempotency-key': key })
    expect(a.status).toBe(201)
    expect(b.status).toBe(201)
    expect(b.text).toBe(a.text)
    expect(b.headers['idempotent-replayed']).toBe('true')
    expect(b.headers['idempotency-key']).toBe(key)
    expectError(await acp.call('POST', '/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_456' }], capabilities: CAPS }, { 'idempotency-key': key }), 422, {
      type: 'invalid_request',
      code: 'idempotency_conflict',
      message: 'this Idempotency-Key was already used with a different request body',
    })
    const u = await acp.call('POST', `/acp/checkout_sessions/${a.json['id'] as string}`, { buyer: { email: 'a@b.co' } }, { 'idempotency-key': key })
    expect(u.status).toBe(200)
    expect(u.headers['idempotent-replayed']).toBeUndefined()
  })
})

describe('ACP cancel', () => {
  it('cancels with any reason code, keeps the trace write-only, and answers 405 on a second cancel', async () => {
    const id = (await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_123' }], capabilities: CAPS })).json['id'] as string
    expectError(await acp.post(`/acp/checkout_sessions/${id}/cancel`, { intent_trace: { reason_code: 'other', metadata: { nested: { no: 1 } } } }), 400, {
      type: 'invalid_request',
      code: 'invalid',
      message: '$.intent_trace.metadata.nested must be string,number,boolean',
      param: '$.intent_trace.metadata.nested',
    })
    const c = expectSession(await acp.post(`/acp/checkout_sessions/${id}/cancel`, { intent_trace: { reason_code: 'brand_new_reason', trace_summary: 'changed mind' } }), 200)
    expect(c['status']).toBe('canceled')
    const g = expectSession(await acp.call('GET', `/acp/checkout_sessions/${id}`), 200)
    expect(JSON.stringify(g)).not.toContain('brand_new_reason')
    expectError(await acp.post(`/acp/checkout_sessions/${id}/cancel`), 405, {
      type: 'invalid_request',
      code: 'checkout_session_canceled',
      message: 'the checkout session is canceled; it cannot cancel',
    })
    expectError(await acp.post(`/acp/checkout_sessions/${id}`, { buyer: { email: 'a@b.co' } }), 405, {
      type: 'invalid_request',
      code: 'checkout_session_canceled',
      message: 'the checkout session is canceled; it cannot update',
    })
  })
})

describe('official 2026-04-17 example requests', () => {
  const examples = JSON.parse(readFileSync(join(SHARED_ACP, 'examples', '2026-04-17', 'examples.agentic_checkout.json'), 'utf8')) as Record<string, unknown>
  const delegateExamples = JSON.parse(readFileSync(join(SHARED_ACP, 'examples', '2026-04-17', 'examples.delegate_payment.json'), 'utf8')) as Record<string, unknown>
  const valid = (def: string, v: unknown, bundle: 'checkout' | 'delegate' = 'checkout'): boolean => schemas.problems(def, v, bundle).length === 0

  it('the vendored schemas are byte-identical to the shared official copies', () => {
    for (const f of ['schema.agentic_checkout.json', 'schema.delegate_payment.json'] as const) {
      expect(loadVendoredSchema(f)).toEqual(JSON.parse(readFileSync(join(SHARED_ACP, 'spec', '2026-04-17', 'json-schema', f), 'utf8')))
    }
  })

  it('every schema-valid create, update and cancel example is accepted (2xx)', async () => {
    let n = 0
    for (const [name, body] of Object.entries(examples)) {
      if (name.startsWith('create_checkout_session_request') && valid('CheckoutSessionCreateRequest', body)) {
        expectSession(await acp.post('/acp/checkout_sessions', body), 201)
        n++
      }
      if (name.startsWith('update_checkout_session_request') && valid('CheckoutSessionUpdateRequest', body)) {
        const id = (await acp.post('/acp/checkout_sessions', examples['create_checkout_session_request'])).json['id'] as string
        const s = expectSession(await acp.post(`/acp/checkout_sessions/${id}`, body), 200)
        expect(s['status']).toBe('ready_for_payment')
        n++
      }
      if (name.startsWith('cancel_checkout_session_request') && valid('CancelSessionRequest', body)) {
        const id = (await acp.post('/acp/checkout_sessions', examples['create_checkout_session_request'])).json['id'] as string
        expect(expectSession(await acp.post(`/acp/checkout_sessions/${id}/cancel`, body), 200)['status']).toBe('canceled')
        n++
      }
    }
    expect(n).toBe(5)
  })

  it('every schema-valid complete example passes request validation (its Stripe handler is then named as not offered)', async () => {
    let n = 0
    for (const [name, body] of Object.entries(examples)) {
      if (!/^complete_.*request$/.test(name) || !valid('CheckoutSessionCompleteRequest', body)) continue
      const id = (await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'ebook_001' }], capabilities: CAPS })).json['id'] as string
      const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, body)
      expect(r.status, r.text).toBe(400)
      expect(r.json).toMatchObject({ type: 'invalid_request', code: 'invalid_handler', param: '$.payment_data.handler_id' })
      expectValid(r, 'Error')
      n++
    }
    // complete_checkout_session_request{,_seller_backed,_with_last_touch_attribution}; the two 3DS
    // examples fail the official schema themselves (DIGEST: authentication_result_denied_example).
    expect(n).toBe(3)
  })

  it('the delegate-payment example is accepted (201) and its response is a valid DelegatePaymentResponse', async () => {
    const body = delegateExamples['delegate_payment_request']
    expect(valid('DelegatePaymentRequest', body, 'delegate')).toBe(true)
    const r = await acp.post('/acp/agentic_commerce/delegate_payment', body)
    expect(r.status, r.text).toBe(201)
    expectValid(r, 'DelegatePaymentResponse', 'delegate')
    expect(r.json['id']).toMatch(/^vt_/)
    expect(r.text).not.toContain('4242424242424242')
    expect(gw.logs.join('\n')).not.toContain('4242424242424242')
  })

  it('delegate payment validates the card: Luhn, expiry, lengths, lowercase currency', async () => {
    const base = delegateBody('cs_x', 1000)
    const pm = base['payment_method'] as Record<string, unknown>
    expectError(await acp.post('/acp/agentic_commerce/delegate_payment', { ...base, payment_method: { ...pm, number: '4242424242424241', display_last4: '4241' } }), 400, {
      type: 'invalid_request',
      code: 'invalid_card',
      message: 'the card number fails the Luhn check',
      param: '$.payment_method.number',
    }, 'delegate')
    expectError(await acp.post('/acp/agentic_commerce/delegate_payment', { ...base, payment_method: { ...pm, exp_month: '01', exp_year: '2020' } }), 400, {
      type: 'invalid_request',
      code: 'invalid_card',
      message: 'the card has expired',
      param: '$.payment_method.exp_year',
    }, 'delegate')
    expectError(await acp.post('/acp/agentic_commerce/delegate_payment', { ...base, payment_method: { ...pm, cvc: '12' } }), 400, {
      type: 'invalid_request',
      code: 'invalid_card',
      message: 'the CVC must be 3 or 4 digits',
      param: '$.payment_method.cvc',
    }, 'delegate')
    const upper = await acp.post('/acp/agentic_commerce/delegate_payment', { ...base, allowance: { ...(base['allowance'] as object), currency: 'USD' } })
    expect(upper.status).toBe(400)
    expect(upper.json).toMatchObject({ type: 'invalid_request', code: 'invalid_card', param: '$.allowance.currency' })
    expectValid(upper, 'Error', 'delegate')
  })
})
