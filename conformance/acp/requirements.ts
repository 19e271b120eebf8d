import { createHmac, timingSafeEqual } from 'node:crypto'
import { assert, assertEqual, expectHeader, expectStatus, fail, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import {
  acpSchemas,
  ACP_SPEC_VERSION,
  ADDRESS,
  call,
  cardHandler,
  checkoutDef,
  completeBody,
  delegateDef,
  delegateRequest,
  expectAcpError,
  expectSession,
  NO_CAPS,
  readySession,
  rfc,
  schemaRef,
  totalOf,
  vaultToken,
  type AcpContext,
  type AcpDiscovery,
} from './helpers.js'

type Json = Record<string, unknown>
const IDEM = rfc('agentic_checkout', '§6 Idempotency', 'idempotency')
const VERSIONING = rfc('agentic_checkout', '§2 Headers: API-Version', 'headers')
const CREATE = (ctx: AcpContext): Json => ({ currency: 'usd', line_items: [{ id: ctx.discovery.itemId }], capabilities: NO_CAPS })

/** DIGEST §13: the checks a standards tester runs against a seller's ACP face, with their spec clauses. */
export const acpRequirements: Requirement<AcpDiscovery>[] = [
  // --- idempotency ---------------------------------------------------------------------------
  {
    id: 'ACP-IDEM-001',
    level: 'MUST',
    section: 'IDEM',
    title: 'A POST without Idempotency-Key answers 400 with a flat Error, code idempotency_key_required',
    spec: IDEM,
    requires: ['auth.agent'],
    async check(ctx) {
      expectAcpError(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx), key: false }), 400, 'idempotency_key_required')
    },
  },
  {
    id: 'ACP-IDEM-002',
    level: 'MUST',
    section: 'IDEM',
    title: 'The same key with a semantically equal body (reordered keys, 1.0 for 1) replays status 201 and the body, with Idempotent-Replayed: true',
    spec: IDEM,
    requires: ['auth.agent'],
    async check(ctx) {
      const key = ctx.unique('replay')
      const id = JSON.stringify(ctx.discovery.itemId)
      const a = await call(ctx, 'POST', '/checkout_sessions', { key, body: `{"currency":"usd","line_items":[{"id":${id}}],"capabilities":{"interventions":{"supported":[],"max_redirects":1}}}` })
      const b = await call(ctx, 'POST', '/checkout_sessions', { key, body: `{"capabilities":{"interventions":{"max_redirects":1.0,"supported":[]}},"line_items":[{"id":${id}}],"currency":"usd"}` })
      expectStatus(a, 201, 'first create')
      expectStatus(b, 201, 'replayed create')
      expectHeader(b, 'idempotent-replayed', 'true', 'replayed create')
      assertEqual(b.json<Json>()['id'], a.json<Json>()['id'], 'session id of the replay')
      assert(b.bytes.equals(a.bytes), 'the replayed body differs from the first answer')
    },
  },
  {
    id: 'ACP-IDEM-003',
    level: 'MUST',
    section: 'IDEM',
    title: 'The same key with a different body answers 422 idempotency_conflict',
    spec: IDEM,
    requires: ['auth.agent'],
    async check(ctx) {
      const key = ctx.unique('conflict')
      expectStatus(await call(ctx, 'POST', '/checkout_sessions', { key, json: CREATE(ctx) }), 201)
      expectAcpError(await call(ctx, 'POST', '/checkout_sessions', { key, json: { ...CREATE(ctx), locale: 'en-US' } }), 422, 'idempotency_conflict')
    },
  },
  {
    id: 'ACP-IDEM-004',
    level: 'MUST',
    section: 'IDEM',
    title: 'Concurrent requests with one key create one session: each answer is the replay (201) or 409 idempotency_in_flight with an integer Retry-After',
    spec: IDEM,
    requires: ['auth.agent'],
    async check(ctx) {
      const key = ctx.unique('race')
      const rs = await Promise.all(Array.from({ length: 4 }, () => call(ctx, 'POST', '/checkout_sessions', { key, json: CREATE(ctx) })))
      const ids = new Set<unknown>()
      for (const r of rs) {
        if (r.status === 409) {
          expectAcpError(r, 409, 'idempotency_in_flight')
          expectHeader(r, 'retry-after', /^\d+$/)
        } else {
          expectStatus(r, 201)
          ids.add(r.json<Json>()['id'])
        }
      }
      assert(ids.size === 1, `the concurrent requests created ${ids.size} sessions (${show([...ids])})`)
    },
  },
  {
    id: 'ACP-IDEM-005',
    level: 'MUST',
    section: 'IDEM',
    title: 'A request that answered 5xx is executed afresh when retried with the same key',
    spec: IDEM,
    requires: ['auth.agent', 'fault-injection'],
    check(ctx) {
      return Promise.resolve(ctx.skip('needs fault injection'))
    },
  },
  {
    id: 'ACP-IDEM-006',
    level: 'MUST',
    section: 'IDEM',
    title: 'A key is scoped to its endpoint: the same key on another path is a new request',
    spec: IDEM,
    requires: ['auth.agent'],
    async check(ctx) {
      const key = ctx.unique('scope')
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { key, json: CREATE(ctx) }), 201)
      const u = await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}`, { key, json: { fulfillment_details: { address: ADDRESS } } })
      expectSession(u, 200)
      assert(u.header('idempotent-replayed') === undefined, 'the update was answered as a replay of the create')
    },
  },
  // --- versions and auth ----------------------------------------------------------------------
  {
    id: 'ACP-VER-001',
    level: 'SHOULD',
    section: 'VER',
    title: 'A missing API-Version answers 400 with supported_versions (YYYY-MM-DD strings)',
    spec: VERSIONING,
    requires: ['auth.agent'],
    async check(ctx) {
      const e = expectAcpError(await call(ctx, 'GET', '/checkout_sessions/cs_conformance_missing', { headers: { 'api-version': undefined } }), 400)
      const v = e['supported_versions']
      assert(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(x)), `supported_versions is ${show(v)}`)
    },
  },
  {
    id: 'ACP-VER-002',
    level: 'SHOULD',
    section: 'VER',
    title: 'An unsupported API-Version answers 400 unsupported_api_version with supported_versions including 2026-04-17',
    spec: VERSIONING,
    requires: ['auth.agent'],
    async check(ctx) {
      const e = expectAcpError(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx), headers: { 'api-version': '1999-01-01' } }), 400, 'unsupported_api_version')
      assert(Array.isArray(e['supported_versions']) && e['supported_versions'].includes(ACP_SPEC_VERSION), `supported_versions is ${show(e['supported_versions'])}`)
    },
  },
  {
    id: 'ACP-AUTH-001',
    level: 'MUST',
    section: 'AUTH',
    title: 'A missing or invalid bearer answers 401 with a flat Error (no envelope)',
    spec: rfc('agentic_checkout', '§2 Headers: Authorization', 'headers'),
    async check(ctx) {
      expectAcpError(await call(ctx, 'GET', '/checkout_sessions/cs_conformance_missing', { as: false }), 401)
      expectAcpError(await call(ctx, 'GET', '/checkout_sessions/cs_conformance_missing', { as: false, headers: { authorization: 'Bearer conformance-invalid-key-000000' } }), 401)
    },
  },
  // --- sessions -------------------------------------------------------------------------------
  {
    id: 'ACP-CS-001',
    level: 'MUST',
    section: 'CS',
    title: 'Create answers 201 with a CheckoutSession carrying id, status, currency, line_items, totals, fulfillment_options, messages, links, capabilities',
    spec: schemaRef('agentic_checkout', 'CheckoutSession'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx) }), 201)
      for (const f of ['id', 'status', 'currency', 'line_items', 'totals', 'fulfillment_options', 'messages', 'links', 'capabilities']) assert(f in s, `no ${f}`)
    },
  },
  {
    id: 'ACP-CS-002',
    level: 'MUST',
    section: 'CS',
    title: 'Money fields are integers in minor units, currency is lowercase ISO 4217, and a total of type total is present',
    spec: rfc('agentic_checkout', 'Amounts', 'amounts'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: { ...CREATE(ctx), currency: 'USD' } }), 201)
      assert(/^[a-z]{3}$/.test(String(s['currency'])), `currency is ${show(s['currency'])}`)
      assert(totalOf(s) !== undefined, 'no totals entry of type total')
      const bad: string[] = []
      const walk = (v: unknown, path: string): void => {
        if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`))
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
          if (['amount', 'unit_amount', 'presentment_amount'].includes(k) && !Number.isSafeInteger(x)) bad.push(`${path}.${k}=${show(x)}`)
          walk(x, `${path}.${k}`)
        }
      }
      walk(s, '$')
      assert(bad.length === 0, `non-integer money: ${bad.join(', ')}`)
    },
  },
  {
    id: 'ACP-CS-003',
    level: 'MUST',
    section: 'CS',
    title: 'capabilities.interventions.supported in the response is a subset of what the agent sent (the intersection); unknown values are ignored',
    spec: rfc('capability_negotiation', 'Intersection', 'negotiation'),
    requires: ['auth.agent'],
    async check(ctx) {
      const sent = ['3ds', 'conformance_unknown_intervention']
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: { ...CREATE(ctx), capabilities: { interventions: { supported: sent } } } }), 201)
      const got = ((s['capabilities'] as Json)['interventions'] as Json | undefined)?.['supported']
      assert(got === undefined || (Array.isArray(got) && got.every((x) => x === '3ds')), `interventions.supported is ${show(got)}, not a subset of ["3ds"]`)
    },
  },
  {
    id: 'ACP-CS-004',
    level: 'MUST',
    section: 'CS',
    title: 'An unknown selected option_id gives a 4xx or a MessageError with a JSONPath param; a valid selection is echoed and changes totals',
    spec: schemaRef('agentic_checkout', 'SelectedFulfillmentOption'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: { ...CREATE(ctx), fulfillment_details: { address: ADDRESS } } }), 201)
      const id = String(s['id'])
      const bad = await call(ctx, 'POST', `/checkout_sessions/${id}`, { json: { selected_fulfillment_options: [{ type: 'shipping', option_id: 'conformance_no_such_option', item_ids: [ctx.discovery.itemId] }] } })
      if (bad.status >= 400) expectAcpError(bad, [400, 404, 409, 422])
      else {
        const b = expectSession(bad, 200)
        const m = (b['messages'] as Json[]).find((x) => x['type'] === 'error' && typeof x['param'] === 'string' && String(x['param']).startsWith('$.'))
        assert(m, `no MessageError with a JSONPath param: ${show(b['messages'])}`)
      }
      const opt = (s['fulfillment_options'] as Json[])[0]
      if (!opt) return ctx.skip('the session offers no fulfillment option')
      const good = expectSession(await call(ctx, 'POST', `/checkout_sessions/${id}`, { json: { selected_fulfillment_options: [{ type: opt['type'], option_id: opt['id'], item_ids: [ctx.discovery.itemId] }] } }), 200)
      assert(JSON.stringify(good['selected_fulfillment_options'] ?? []).includes(String(opt['id'])), 'the selection is not echoed')
      assert(totalOf(good) !== totalOf(s) || (opt['totals'] as Json[]).every((t) => t['amount'] === 0), `totals did not change after selecting ${show(opt['id'])}`)
    },
  },
  {
    id: 'ACP-CS-005',
    level: 'MUST',
    section: 'CS',
    title: 'An invalid buyer email yields a 2xx not_ready_for_payment session with a MessageError (invalid, param $.buyer.email), not an HTTP error',
    spec: schemaRef('agentic_checkout', 'MessageError'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: { ...CREATE(ctx), buyer: { email: 'not-an-email' } } }), 201)
      assertEqual(s['status'], 'not_ready_for_payment', 'status')
      const m = (s['messages'] as Json[]).find((x) => x['type'] === 'error' && x['code'] === 'invalid' && x['param'] === '$.buyer.email')
      assert(m, `no MessageError invalid at $.buyer.email: ${show(s['messages'])}`)
    },
  },
  {
    id: 'ACP-CS-006',
    level: 'MUST',
    section: 'CS',
    title: 'GET of an unknown session answers 404 with a flat Error',
    spec: rfc('agentic_checkout', 'Retrieve', 'get-checkout-session'),
    requires: ['auth.agent'],
    async check(ctx) {
      expectAcpError(await call(ctx, 'GET', `/checkout_sessions/cs_conformance_${ctx.unique('nope')}`), 404)
    },
  },
  {
    id: 'ACP-CS-007',
    level: 'MUST',
    section: 'CS',
    title: 'GET after an update returns the same state as the update response',
    spec: rfc('agentic_checkout', 'Responses are authoritative', 'responses'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx) }), 201)
      const u = expectSession(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}`, { json: { fulfillment_details: { address: ADDRESS } } }), 200)
      const g = expectSession(await call(ctx, 'GET', `/checkout_sessions/${String(s['id'])}`), 200)
      assertEqual(g, u, 'GET body')
    },
  },
  // --- complete -------------------------------------------------------------------------------
  {
    id: 'ACP-COMP-001',
    level: 'MUST',
    section: 'COMP',
    title: 'Complete of a ready_for_payment session with a valid token answers 200 completed with order {id, checkout_session_id, absolute permalink_url}',
    spec: schemaRef('agentic_checkout', 'CheckoutSessionWithOrder'),
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const token = await vaultToken(ctx, s)
      const c = expectSession(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { json: completeBody(s, token) }), 200, 'CheckoutSessionWithOrder')
      assertEqual(c['status'], 'completed', 'status')
      const order = c['order'] as Json
      assertEqual(order['checkout_session_id'], s['id'], 'order.checkout_session_id')
      assert(/^https?:\/\//.test(String(order['permalink_url'])), `permalink_url ${show(order['permalink_url'])} is not absolute`)
    },
  },
  {
    id: 'ACP-COMP-002',
    level: 'MUST',
    section: 'COMP',
    title: 'A replayed complete (same key, same body) returns the same order and creates no second one',
    spec: IDEM,
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const token = await vaultToken(ctx, s)
      const key = ctx.unique('complete')
      const a = await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { key, json: completeBody(s, token) })
      const b = await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { key, json: completeBody(s, token) })
      expectStatus(a, 200)
      expectHeader(b, 'idempotent-replayed', 'true')
      assert(b.bytes.equals(a.bytes), 'the replayed complete differs from the first answer')
      const g = expectSession(await call(ctx, 'GET', `/checkout_sessions/${String(s['id'])}`), 200)
      assertEqual((g['order'] as Json | undefined)?.['id'], (a.json<Json>()['order'] as Json)['id'], 'order id after the replay')
    },
  },
  {
    id: 'ACP-COMP-003',
    level: 'MUST',
    section: 'COMP',
    title: 'Complete of an authentication_required session without authentication_result answers 4xx requires_3ds, param $.authentication_result',
    spec: schemaRef('agentic_checkout', 'AuthenticationResult'),
    requires: ['auth.agent', '3ds-required'],
    check(ctx) {
      return Promise.resolve(ctx.skip('needs a session that requires 3-D Secure'))
    },
  },
  // --- cancel ---------------------------------------------------------------------------------
  {
    id: 'ACP-CANCEL-001',
    level: 'MUST',
    section: 'CANCEL',
    title: 'Cancel of a completed session answers 405 with a flat Error',
    spec: rfc('agentic_checkout', 'Cancel', 'cancel-checkout-session'),
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const token = await vaultToken(ctx, s)
      expectStatus(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { json: completeBody(s, token) }), 200)
      expectAcpError(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/cancel`, { json: {} }), 405)
    },
  },
  {
    id: 'ACP-CANCEL-002',
    level: 'MUST',
    section: 'CANCEL',
    title: 'Cancel with an unknown reason_code still answers 200 canceled; a second cancel answers 405; GET never returns the trace',
    spec: rfc('intent_trace', 'reason_code is open', 'reason-codes'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx) }), 201)
      const c = expectSession(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/cancel`, { json: { intent_trace: { reason_code: 'conformance_unknown_reason', trace_summary: 'conformance trace' } } }), 200)
      assertEqual(c['status'], 'canceled', 'status')
      expectAcpError(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/cancel`), 405)
      const g = await call(ctx, 'GET', `/checkout_sessions/${String(s['id'])}`)
      assert(!g.text.includes('conformance trace') && !g.text.includes('intent_trace'), 'GET returns the intent trace')
    },
  },
  {
    id: 'ACP-CANCEL-003',
    level: 'SHOULD',
    section: 'CANCEL',
    title: 'Cancel with nested intent_trace.metadata answers 400 invalid_request',
    spec: rfc('intent_trace', 'metadata is flat', 'metadata'),
    requires: ['auth.agent'],
    async check(ctx) {
      const s = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: CREATE(ctx) }), 201)
      const e = expectAcpError(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/cancel`, { json: { intent_trace: { reason_code: 'other', metadata: { nested: { a: 1 } } } } }), 400)
      assertEqual(e['type'], 'invalid_request', 'type')
    },
  },
  // --- delegate payment -------------------------------------------------------------------------
  {
    id: 'ACP-DP-001',
    level: 'MUST',
    section: 'DP',
    title: 'A valid delegate_payment answers 201 with exactly {id, created, metadata}',
    spec: schemaRef('delegate_payment', 'DelegatePaymentResponse'),
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const r = await call(ctx, 'POST', String((cardHandler(s)['config'] as Json)['delegate_payment_url']), { json: delegateRequest(ctx, s) })
      expectStatus(r, 201)
      acpSchemas().expect(delegateDef('DelegatePaymentResponse'), r.json(), 'delegate_payment body')
      assert(!r.text.includes(ctx.options.get('testCardNumber') ?? '4242424242424242'), 'the response echoes the card number')
    },
  },
  {
    id: 'ACP-DP-002',
    level: 'MUST',
    section: 'DP',
    title: 'delegate_payment with currency "USD" or reason "recurring" answers 400/422 invalid_request',
    spec: schemaRef('delegate_payment', 'Allowance'),
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const url = String((cardHandler(s)['config'] as Json)['delegate_payment_url'])
      for (const o of [{ currency: 'USD' }, { reason: 'recurring' }]) {
        const r = await call(ctx, 'POST', url, { json: delegateRequest(ctx, s, o) })
        expectStatus(r, [400, 422])
        assertEqual(r.json<Json>()['type'], 'invalid_request', `error type for ${show(o)}`)
      }
    },
  },
  ...(
    [
      ['003', 'is rejected after allowance.expires_at', (ctx: AcpContext, s: Json) => vaultToken(ctx, s, { expiresAt: new Date(Date.now() - 60_000).toISOString() })],
      ['004', 'is rejected for an amount above allowance.max_amount', (ctx: AcpContext, s: Json) => vaultToken(ctx, s, { max: (totalOf(s) ?? 1) - 1 })],
      ['005', 'is rejected for another merchant', (ctx: AcpContext, s: Json) => vaultToken(ctx, s, { merchantId: 'conformance_other_merchant' })],
    ] as const
  ).map(
    ([n, what, make]): Requirement<AcpDiscovery> => ({
      id: `ACP-DP-${n}`,
      level: 'MUST',
      section: 'DP',
      title: `A vault token ${what}: complete answers 4xx and the session stays payable`,
      spec: rfc('delegate_payment', 'Allowance enforcement', 'allowance'),
      requires: ['auth.agent', 'handler.tokenized-card'],
      async check(ctx) {
        const s = await readySession(ctx)
        const token = await make(ctx, s)
        expectAcpError(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { json: completeBody(s, token) }), [400, 402, 403, 409, 422])
        const g = expectSession(await call(ctx, 'GET', `/checkout_sessions/${String(s['id'])}`), 200)
        assertEqual(g['status'], 'ready_for_payment', 'status after the refused token')
      },
    }),
  ),
  {
    id: 'ACP-DP-006',
    level: 'MUST',
    section: 'DP',
    title: 'A vault token is single use: a second use answers 4xx',
    spec: rfc('delegate_payment', 'Single use', 'allowance'),
    requires: ['auth.agent', 'handler.tokenized-card'],
    async check(ctx) {
      const s = await readySession(ctx)
      const token = await vaultToken(ctx, s, { max: (totalOf(s) ?? 0) * 10 })
      expectStatus(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { json: completeBody(s, token) }), 200)
      const s2 = await readySession(ctx)
      expectAcpError(await call(ctx, 'POST', `/checkout_sessions/${String(s2['id'])}/complete`, { json: completeBody(s2, token) }), [400, 402, 403, 409, 422])
    },
  },
  // --- webhooks ----------------------------------------------------------------------------------
  {
    id: 'ACP-HOOK-001',
    level: 'MUST',
    section: 'HOOK',
    title: 'A completed checkout is followed by an order_create webhook: Merchant-Signature t=…,v1=HMAC-SHA256(secret, t.raw_body) verifies, data is a full Order with type order',
    spec: { doc: 'ACP OpenAPI agentic_checkout_webhook', version: ACP_SPEC_VERSION, section: 'Merchant-Signature', url: `https://github.com/agentic-commerce-protocol/agentic-commerce-protocol/blob/c2afc863b46b6bb64fbc2be969bff25ee6eab652/spec/${ACP_SPEC_VERSION}/openapi/openapi.agentic_checkout_webhook.yaml` },
    requires: ['auth.agent', 'handler.tokenized-card', 'webhooks.runner-receiver'],
    async check(ctx) {
      const receiver = await ctx.counterparts.webhookReceiver()
      const s = await readySession(ctx)
      const token = await vaultToken(ctx, s)
      const c = expectSession(await call(ctx, 'POST', `/checkout_sessions/${String(s['id'])}/complete`, { json: completeBody(s, token) }), 200)
      const orderId = (c['order'] as Json)['id']
      const d = await receiver.waitFor((x) => (x.json as Json | undefined)?.['type'] === 'order_create' && ((x.json as Json)['data'] as Json | undefined)?.['id'] === orderId, { timeoutMs: 15_000, signal: ctx.signal, what: `order_create for ${String(orderId)}` })
      const header = d.headers['merchant-signature']
      if (!header) fail(`no Merchant-Signature header (headers: ${Object.keys(d.headers).join(', ')})`)
      const m = /^t=(\d+),v1=([a-fA-F0-9]{64})$/.exec(header)
      if (!m) fail(`Merchant-Signature ${show(header)} is not t=<unix>,v1=<64 hex>`)
      const mac = createHmac('sha256', ctx.options.get('webhookSecret')!).update(`${m[1]}.`).update(d.body).digest()
      assert(timingSafeEqual(mac, Buffer.from(m[2]!, 'hex')), 'the Merchant-Signature does not verify')
      assert(Math.abs(Date.now() / 1000 - Number(m[1])) <= 300, 'the signed timestamp is outside 300 s')
      const data = (d.json as Json)['data'] as Json
      acpSchemas().expect(checkoutDef('Order'), data, 'webhook data')
      assertEqual(data['type'], 'order', 'data.type')
    },
  },
  // --- discovery ---------------------------------------------------------------------------------
  {
    id: 'ACP-DISC-001',
    level: 'SHOULD',
    section: 'DISC',
    title: '/.well-known/acp.json is served without auth: a DiscoveryResponse, name acp, supported_versions ascending and containing version',
    spec: schemaRef('agentic_checkout', 'DiscoveryResponse'),
    requires: ['discovery'],
    async check(ctx) {
      const r = await ctx.http.get('/.well-known/acp.json')
      expectStatus(r, 200)
      const doc = r.json<Json>()
      acpSchemas().expect(checkoutDef('DiscoveryResponse'), doc, 'discovery document')
      const p = doc['protocol'] as Json
      assertEqual(p['name'], 'acp', 'protocol.name')
      const v = p['supported_versions'] as string[]
      assert(v.includes(String(p['version'])), `supported_versions ${show(v)} lacks ${show(p['version'])}`)
      assertEqual([...v].sort(), v, 'supported_versions order')
    },
  },
]
