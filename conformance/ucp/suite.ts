import { digestMatches, verifyDetachedMerchantJws, verifyUcpSignature, type ProfileJwk } from './signatures.js'
import { assert, assertEqual, show } from '../framework/assert.js'
import { defineSuite } from '../framework/defineSuite.js'
import type { CapabilityState, DiscoverContext, Discovery, Requirement } from '../framework/types.js'
import {
  call,
  createReady,
  expectTransportError,
  expectValid,
  extensionsOf,
  item,
  mockPayment,
  official,
  platformKey,
  spec,
  UCP_SPEC_VERSION,
  type UcpContext,
  type UcpDiscovery,
} from './helpers.js'

const CHECKOUT = 'dev.ucp.shopping.checkout'
const ORDER = 'dev.ucp.shopping.order'
const FULFILLMENT = 'dev.ucp.shopping.fulfillment'
const DISCOUNT = 'dev.ucp.shopping.discount'
const AP2 = 'dev.ucp.shopping.ap2_mandate'

const CAPABILITIES = {
  [CHECKOUT]: { description: 'the business advertises dev.ucp.shopping.checkout', mandatory: true },
  [ORDER]: { description: 'the business advertises dev.ucp.shopping.order' },
  [DISCOUNT]: { description: 'the business advertises dev.ucp.shopping.discount' },
  [AP2]: { description: 'the business advertises dev.ucp.shopping.ap2_mandate' },
  'handler.mock': { description: 'the business advertises the testing payment handler dev.ucp.mock_payment (approves success_token, declines fail_token)' },
  'webhooks.delivery': { description: 'order webhooks are delivered by the target (set ucp.webhookDelivery=off when its outbox cannot route ucp: destinations yet)' },
} as const

/** A 2026-04-08 platform profile (what a UCP platform serves). */
function platformDoc(p: { version?: string; caps: string[]; webhookUrl?: string; keys?: ProfileJwk[] }): Record<string, unknown> {
  const v = p.version ?? UCP_SPEC_VERSION
  const leaf = (n: string): string => n.split('.').pop() ?? n
  return {
    ucp: {
      version: v,
      services: { 'dev.ucp.shopping': [{ version: v, spec: 'https://ucp.dev/2026-04-08/specification/overview', transport: 'rest', schema: 'https://ucp.dev/2026-04-08/services/shopping/rest.openapi.json' }] },
      capabilities: Object.fromEntries(
        p.caps.map((n) => [
          n,
          [
            {
              version: v,
              spec: `https://ucp.dev/2026-04-08/specification/${leaf(n)}`,
              schema: `https://ucp.dev/2026-04-08/schemas/shopping/${leaf(n)}.json`,
              ...(n === ORDER && p.webhookUrl ? { config: { webhook_url: p.webhookUrl } } : {}),
              ...(n !== CHECKOUT && n !== ORDER ? { extends: CHECKOUT } : {}),
            },
          ],
        ]),
      ),
      payment_handlers: {},
    },
    ...(p.keys ? { signing_keys: p.keys } : {}),
  }
}

async function discoverUcp(ctx: DiscoverContext): Promise<Discovery<UcpDiscovery>> {
  const server = await ctx.counterparts.profileServer()
  const receiver = await ctx.counterparts.webhookReceiver()
  const webhookUrl = receiver.urlFor('/hooks/ucp')
  const key = platformKey(ctx)
  const all = [CHECKOUT, ORDER, FULFILLMENT, DISCOUNT, 'dev.ucp.shopping.buyer_consent']
  const profiles = {
    full: server.serve('/ucp/platform.json', platformDoc({ caps: all, webhookUrl })),
    signed: server.serve('/ucp/signed.json', platformDoc({ caps: all, webhookUrl, keys: [{ kid: key.kid, kty: 'EC', crv: 'P-256', x: key.publicJwk.x, y: key.publicJwk.y, alg: 'ES256', use: 'sig' }] })),
    future: server.serve('/ucp/future.json', platformDoc({ version: '2099-01-01', caps: all })),
    orderOnly: server.serve('/ucp/order-only.json', platformDoc({ caps: [ORDER], webhookUrl })),
    noDiscount: server.serve('/ucp/no-discount.json', platformDoc({ caps: [CHECKOUT, ORDER, FULFILLMENT], webhookUrl })),
    ap2: server.serve('/ucp/ap2.json', platformDoc({ caps: [CHECKOUT, ORDER, FULFILLMENT, AP2], webhookUrl })),
  }
  const data: UcpDiscovery = { capabilities: [], profiles, webhookUrl }
  const res = await ctx.http.get('/.well-known/ucp')
  const no = (reason: string): CapabilityState => ({ available: false, reason })
  if (res.status !== 200) {
    const why = `GET /.well-known/ucp answered ${res.status}`
    return { data, capabilities: Object.fromEntries(Object.keys(CAPABILITIES).map((c) => [c, no(why)])) }
  }
  try {
    data.profile = res.json<Record<string, unknown>>()
    data.profileText = res.text
  } catch {
    return { data, capabilities: Object.fromEntries(Object.keys(CAPABILITIES).map((c) => [c, no('the profile is not JSON')])) }
  }
  data.cacheControl = res.header('cache-control')
  const ucp = (data.profile['ucp'] ?? {}) as { services?: Record<string, Array<Record<string, unknown>>>; capabilities?: Record<string, unknown>; payment_handlers?: Record<string, Array<{ id?: unknown }>> }
  const rest = ucp.services?.['dev.ucp.shopping']?.find((s) => s['transport'] === 'rest')
  if (typeof rest?.['endpoint'] === 'string') data.endpoint = rest['endpoint'].replace(/\/+$/, '')
  data.capabilities = Object.keys(ucp.capabilities ?? {})
  const mock = ucp.payment_handlers?.['dev.ucp.mock_payment']?.[0]?.id
  if (typeof mock === 'string') data.mockHandlerId = mock
  ctx.note(`profile: endpoint ${show(data.endpoint)}, capabilities ${data.capabilities.join(', ')}`)
  const cap = (name: string): CapabilityState => (data.capabilities.includes(name) ? { available: true, source: '/.well-known/ucp' } : no(`the profile does not list ${name}`))
  const delivery = ctx.options.get('webhookDelivery') === 'off' ? no('ucp.webhookDelivery=off: the target cannot deliver ucp: outbox destinations yet (createGateway wiring pending)') : { available: true as const, source: 'option ucp.webhookDelivery' }
  return {
    data,
    capabilities: {
      [CHECKOUT]: cap(CHECKOUT),
      [ORDER]: cap(ORDER),
      [DISCOUNT]: cap(DISCOUNT),
      [AP2]: cap(AP2),
      'handler.mock': data.mockHandlerId ? { available: true, source: 'payment_handlers.dev.ucp.mock_payment' } : no('no dev.ucp.mock_payment handler is advertised'),
      'webhooks.delivery': delivery,
    },
    specVersion: UCP_SPEC_VERSION,
  }
}

const ourKeys = (ctx: UcpContext): ProfileJwk[] => ((ctx.discovery.profile?.['signing_keys'] as ProfileJwk[] | undefined) ?? []).filter((k) => typeof k.kid === 'string')
const totalsOf = (b: Record<string, unknown>) => (b['totals'] as Array<{ type: string; amount: number }> | undefined) ?? []

const discovery: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-DISC-001',
    level: 'MUST',
    section: 'DISC',
    title: 'GET /.well-known/ucp answers 200 with a business profile valid against the official discovery schema',
    spec: spec('overview', 'Discovery: business profile', 'business-profile'),
    async check(ctx) {
      assert(ctx.discovery.profile, 'no JSON profile at /.well-known/ucp')
      expectValid(official().businessProfile, ctx.discovery.profile, 'the business profile')
      const v = (ctx.discovery.profile['ucp'] as { version?: unknown }).version
      assert(typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v), `ucp.version ${show(v)} is not YYYY-MM-DD ("draft" must never be public)`)
    },
  },
  {
    id: 'UCP-DISC-002',
    level: 'MUST',
    section: 'DISC',
    title: 'The profile is served with Cache-Control: public, max-age ≥ 60 (no private / no-store / no-cache)',
    spec: spec('overview', 'Profile hosting', 'profile-hosting'),
    async check(ctx) {
      const cc = ctx.discovery.cacheControl ?? ''
      assert(/\bpublic\b/.test(cc), `Cache-Control ${show(cc)} lacks public`)
      assert(!/\b(private|no-store|no-cache)\b/.test(cc), `Cache-Control ${show(cc)} forbids caching`)
      const age = Number(/max-age=(\d+)/.exec(cc)?.[1] ?? '0')
      assert(age >= 60, `max-age ${age} < 60`)
    },
  },
  {
    id: 'UCP-DISC-003',
    level: 'MUST',
    section: 'DISC',
    title: 'The profile names a dev.ucp.shopping REST endpoint; signing_keys are public EC JWKs with kid; handlers have id and version',
    spec: spec('overview', 'Services, payment handlers, signing keys', 'services'),
    async check(ctx) {
      assert(ctx.discovery.endpoint, 'no services["dev.ucp.shopping"] entry with transport rest and an endpoint')
      const keys = (ctx.discovery.profile?.['signing_keys'] as Array<Record<string, unknown>> | undefined) ?? []
      assert(keys.length > 0, 'no signing_keys (webhooks must be signed)')
      for (const k of keys) {
        assert(typeof k['kid'] === 'string' && k['kty'] === 'EC', `signing key ${show(k['kid'])} is not an EC JWK with kid`)
        assert(k['d'] === undefined, `signing key ${show(k['kid'])} publishes its private part`)
      }
      const handlers = ((ctx.discovery.profile?.['ucp'] as { payment_handlers?: Record<string, Array<Record<string, unknown>>> }).payment_handlers ?? {}) as Record<string, Array<Record<string, unknown>>>
      for (const [name, list] of Object.entries(handlers)) {
        assert(/^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9_]*)+$/.test(name), `handler name ${name} is not reverse-DNS`)
        for (const h of list) assert(typeof h['id'] === 'string' && typeof h['version'] === 'string', `handler ${name} entry lacks id or version`)
      }
    },
  },
]

const negotiation: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-NEG-001',
    level: 'MUST',
    section: 'NEG',
    title: 'A request without UCP-Agent is refused with 400 {code: invalid_profile_url}',
    spec: spec('overview', 'Negotiation errors', 'negotiation'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, { profile: null })
      expectTransportError(r, 400, 'invalid_profile_url', 'POST without UCP-Agent')
    },
  },
  {
    id: 'UCP-NEG-002',
    level: 'MUST',
    section: 'NEG',
    title: 'An unreachable platform profile is refused with 424 {code: profile_unreachable}',
    spec: spec('overview', 'Negotiation errors', 'negotiation'),
    requires: [CHECKOUT],
    async check(ctx) {
      const server = await ctx.counterparts.profileServer()
      const r = await call(ctx, 'GET', '/checkout-sessions/chk_conformance_missing', undefined, { profile: `${server.url}/ucp/missing-${ctx.unique('p')}.json` })
      expectTransportError(r, 424, 'profile_unreachable', 'GET with an unreachable profile')
    },
  },
  {
    id: 'UCP-NEG-003',
    level: 'MUST',
    section: 'NEG',
    title: 'A platform protocol version the business does not support is refused with 422 {code: version_unsupported}',
    spec: spec('overview', 'Version negotiation', 'version-negotiation'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, { profile: ctx.discovery.profiles.future })
      expectTransportError(r, 422, 'version_unsupported', 'POST with a 2099-01-01 platform')
    },
  },
  {
    id: 'UCP-NEG-004',
    level: 'MUST',
    section: 'NEG',
    title: 'Without checkout in the intersection, checkout operations answer 200 with the closed error envelope (capabilities_incompatible)',
    spec: spec('overview', 'Capability intersection', 'capability-negotiation'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, { profile: ctx.discovery.profiles.orderOnly })
      assertEqual(r.status, 200, 'HTTP status')
      const b = r.json<Record<string, unknown>>()
      expectValid(official().errorResponse, b, 'the error envelope')
      assertEqual((b['messages'] as Array<{ code?: unknown }>)[0]?.code, 'capabilities_incompatible', 'messages[0].code')
    },
  },
  {
    id: 'UCP-NEG-005',
    level: 'MUST',
    section: 'NEG',
    title: 'Responses list only negotiated capabilities (a platform without discount gets no discount extension)',
    spec: spec('overview', 'Capability intersection', 'capability-negotiation'),
    requires: [CHECKOUT, DISCOUNT],
    async check(ctx) {
      const b = await createReady(ctx, { profile: ctx.discovery.profiles.noDiscount })
      const caps = Object.keys((b['ucp'] as { capabilities?: Record<string, unknown> }).capabilities ?? {})
      assert(caps.includes(CHECKOUT), `ucp.capabilities ${show(caps)} lacks checkout`)
      assert(!caps.includes(DISCOUNT), `ucp.capabilities ${show(caps)} includes discount, which the platform does not support`)
      assertEqual((b['ucp'] as { version?: unknown }).version, UCP_SPEC_VERSION, 'ucp.version')
    },
  },
]

const checkout: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-CHK-001',
    level: 'MUST',
    section: 'CHK',
    title: 'POST /checkout-sessions answers 201 with a checkout valid against the official schema (root + negotiated extensions), with ucp.payment_handlers',
    spec: spec('checkout-rest', 'create_checkout', 'create-checkout'),
    requires: [CHECKOUT],
    async check(ctx) {
      const b = await createReady(ctx)
      expectValid(official().checkout(extensionsOf(b)), b, 'the created checkout')
      assert(typeof (b['ucp'] as { payment_handlers?: unknown }).payment_handlers === 'object', 'ucp.payment_handlers is missing')
    },
  },
  {
    id: 'UCP-CHK-002',
    level: 'MUST',
    section: 'CHK',
    title: 'totals: exactly one subtotal and one total, integer minor units, discounts negative, total = sum of the other rows',
    spec: spec('checkout', 'Totals', 'totals'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 2 }], discounts: { codes: [ctx.options.get('discountCode') ?? '10OFF'] } })
      assertEqual(r.status, 201, 'HTTP status')
      const t = totalsOf(r.json())
      assertEqual(t.filter((x) => x.type === 'subtotal').length, 1, 'subtotal rows')
      assertEqual(t.filter((x) => x.type === 'total').length, 1, 'total rows')
      for (const x of t) assert(Number.isSafeInteger(x.amount), `${x.type} amount ${show(x.amount)} is not an integer`)
      for (const x of t.filter((y) => y.type === 'discount' || y.type === 'items_discount')) assert(x.amount < 0, `discount row ${x.amount} is not negative`)
      const sum = t.filter((x) => x.type !== 'total').reduce((s, x) => s + x.amount, 0)
      assertEqual(t.find((x) => x.type === 'total')?.amount, sum, 'total vs the sum of the other rows')
    },
  },
  {
    id: 'UCP-CHK-003',
    level: 'MUST',
    section: 'CHK',
    title: 'GET returns the checkout; PUT is a full replacement that recomputes totals',
    spec: spec('checkout-rest', 'update_checkout', 'update-checkout'),
    requires: [CHECKOUT],
    async check(ctx) {
      const b = await createReady(ctx)
      const id = b['id'] as string
      const g = await call(ctx, 'GET', `/checkout-sessions/${id}`)
      assertEqual(g.status, 200, 'GET status')
      expectValid(official().checkout(extensionsOf(g.json())), g.json(), 'GET checkout')
      assertEqual(JSON.stringify(totalsOf(g.json())), JSON.stringify(totalsOf(b)), 'GET totals')
      const u = await call(ctx, 'PUT', `/checkout-sessions/${id}`, { line_items: [{ item: { id: item(ctx) }, quantity: 3 }] })
      assertEqual(u.status, 200, 'PUT status')
      const ub = u.json<Record<string, unknown>>()
      expectValid(official().checkout(extensionsOf(ub)), ub, 'updated checkout')
      const sub = (x: Record<string, unknown>) => totalsOf(x).find((t) => t.type === 'subtotal')?.amount ?? 0
      assertEqual(sub(ub), sub(b) * 3, 'subtotal after quantity 1 → 3')
      assert((ub['line_items'] as unknown[]).length === 1, 'line items were not replaced')
    },
  },
  {
    id: 'UCP-CHK-004',
    level: 'MUST',
    section: 'CHK',
    title: 'cancel answers 200 with status canceled; a canceled checkout cannot be updated or completed',
    spec: spec('checkout', 'Status lifecycle', 'status'),
    requires: [CHECKOUT],
    async check(ctx) {
      const b = await createReady(ctx)
      const id = b['id'] as string
      const c = await call(ctx, 'POST', `/checkout-sessions/${id}/cancel`)
      assertEqual(c.status, 200, 'cancel status')
      assertEqual(c.json<Record<string, unknown>>()['status'], 'canceled', 'status after cancel')
      const u = await call(ctx, 'PUT', `/checkout-sessions/${id}`, { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] })
      assert(u.status >= 400 || u.json<Record<string, unknown>>()['status'] === 'canceled', `PUT on a canceled checkout answered ${u.status} ${u.text.slice(0, 120)}`)
      const k = await call(ctx, 'POST', `/checkout-sessions/${id}/complete`, { payment: { instruments: [] } })
      assert(k.status >= 400 || k.json<Record<string, unknown>>()['status'] !== 'completed', 'a canceled checkout was completed')
    },
  },
  {
    id: 'UCP-CHK-005',
    level: 'MUST',
    section: 'CHK',
    title: 'Malformed input is refused with a UCP error body (never a 5xx)',
    spec: spec('checkout-rest', 'Error handling', 'error-handling'),
    requires: [CHECKOUT],
    async check(ctx) {
      for (const raw of ['{"line_items":', '{"line_items":"nope"}']) {
        const r = await call(ctx, 'POST', '/checkout-sessions', undefined, { rawBody: raw })
        assert(r.status >= 400 && r.status < 500, `body ${raw} answered ${r.status}`)
        const b = r.json<Record<string, unknown>>()
        assert(typeof b['code'] === 'string' || Array.isArray(b['messages']), `body ${raw}: error is not in a UCP shape: ${r.text.slice(0, 150)}`)
      }
    },
  },
]

const idempotency: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-IDEM-001',
    level: 'MUST',
    section: 'IDEM',
    title: 'Same Idempotency-Key + same body replays the same status and body',
    spec: spec('checkout-rest', 'Idempotency', 'idempotency'),
    requires: [CHECKOUT],
    async check(ctx) {
      const key = ctx.unique('idem-replay')
      const body = { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }
      const a = await call(ctx, 'POST', '/checkout-sessions', body, { idempotencyKey: key })
      const b = await call(ctx, 'POST', '/checkout-sessions', body, { idempotencyKey: key })
      assertEqual(b.status, a.status, 'replayed status')
      assertEqual(b.text, a.text, 'replayed body')
    },
  },
  {
    id: 'UCP-IDEM-002',
    level: 'MUST',
    section: 'IDEM',
    title: 'Same Idempotency-Key + another body is refused with 409',
    spec: spec('checkout-rest', 'Idempotency', 'idempotency'),
    requires: [CHECKOUT],
    async check(ctx) {
      const key = ctx.unique('idem-conflict')
      await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, { idempotencyKey: key })
      const b = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 2 }] }, { idempotencyKey: key })
      assertEqual(b.status, 409, 'status for a reused key with another body')
    },
  },
]

async function completeWithMock(ctx: UcpContext): Promise<{ checkout: Record<string, unknown>; order: { id: string; permalink_url: string } }> {
  return ctx.once('completed-mock', async () => {
    const b = await createReady(ctx)
    const r = await call(ctx, 'POST', `/checkout-sessions/${b['id'] as string}/complete`, mockPayment(ctx, 'success_token'))
    assertEqual(r.status, 200, 'complete status')
    const c = r.json<Record<string, unknown>>()
    assertEqual(c['status'], 'completed', 'status after complete')
    return { checkout: c, order: c['order'] as { id: string; permalink_url: string } }
  })
}

const payment: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-PAY-001',
    level: 'MUST',
    section: 'PAY',
    title: 'complete with an approving instrument → status completed with order {id, permalink_url}; the credential is never echoed',
    spec: spec('checkout', 'complete_checkout', 'complete-checkout'),
    requires: [CHECKOUT, 'handler.mock'],
    async check(ctx) {
      const { checkout: c, order } = await completeWithMock(ctx)
      expectValid(official().checkout(extensionsOf(c)), c, 'the completed checkout')
      assert(typeof order?.id === 'string' && typeof order.permalink_url === 'string', `order ${show(order)} lacks id/permalink_url`)
      assert(!JSON.stringify(c).includes('success_token'), 'the response echoes the credential token')
    },
  },
  {
    id: 'UCP-PAY-002',
    level: 'MUST',
    section: 'PAY',
    title: 'a declined instrument leaves the checkout open with an error message (payment_failed)',
    spec: spec('checkout', 'Messages', 'messages'),
    requires: [CHECKOUT, 'handler.mock'],
    async check(ctx) {
      const b = await createReady(ctx)
      const r = await call(ctx, 'POST', `/checkout-sessions/${b['id'] as string}/complete`, mockPayment(ctx, 'fail_token'))
      assert(r.status === 200 || r.status === 402, `complete with fail_token answered ${r.status}`)
      const c = r.json<Record<string, unknown>>()
      assert(c['status'] !== 'completed', 'a declined payment completed the checkout')
      const m = (c['messages'] as Array<Record<string, unknown>> | undefined) ?? []
      assert(m.some((x) => x['type'] === 'error' && x['code'] === 'payment_failed'), `messages ${show(m)} lack an error payment_failed`)
    },
  },
  {
    id: 'UCP-PAY-003',
    level: 'MUST',
    section: 'PAY',
    title: 'an instrument naming a handler_id the business did not offer is refused (never completed)',
    spec: spec('checkout', 'Payment handlers', 'payment'),
    requires: [CHECKOUT],
    async check(ctx) {
      const b = await createReady(ctx)
      const r = await call(ctx, 'POST', `/checkout-sessions/${b['id'] as string}/complete`, { payment: { instruments: [{ id: 'i1', handler_id: 'not_offered_handler', type: 'card', credential: { type: 'token', token: 'x' } }] } })
      assert(r.status < 500, `answered ${r.status}`)
      assert(r.status >= 400 || r.json<Record<string, unknown>>()['status'] !== 'completed', 'completed with a handler that was not offered')
    },
  },
]

const orders: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-ORD-001',
    level: 'MUST',
    section: 'ORD',
    title: 'GET /orders/{id} returns the full order entity (official schema) for the completed checkout',
    spec: spec('order', 'get_order', 'get-order'),
    requires: [CHECKOUT, ORDER, 'handler.mock'],
    async check(ctx) {
      const { checkout: c, order } = await completeWithMock(ctx)
      const r = await call(ctx, 'GET', `/orders/${order.id}`)
      assertEqual(r.status, 200, 'GET order status')
      const o = r.json<Record<string, unknown>>()
      expectValid(official().order, o, 'the order')
      assertEqual(o['checkout_id'], c['id'], 'order.checkout_id')
      assertEqual(JSON.stringify(o['totals']), JSON.stringify(c['totals']), 'order totals vs checkout totals')
    },
  },
  {
    id: 'UCP-ORD-002',
    level: 'MUST',
    section: 'ORD',
    title: "the order is POSTed to the platform's webhook_url: full entity, Webhook-Id, unix Webhook-Timestamp, RFC 9421 signature by a published business key",
    spec: spec('order', 'Order webhooks', 'webhooks'),
    requires: [CHECKOUT, ORDER, 'handler.mock', 'webhooks.delivery'],
    async check(ctx) {
      const { order } = await completeWithMock(ctx)
      const receiver = await ctx.counterparts.webhookReceiver()
      const d = await receiver.waitFor((x) => x.path === '/hooks/ucp' && (x.json as { id?: unknown } | undefined)?.id === order.id, { timeoutMs: Number(ctx.options.get('webhookWaitMs') ?? '15000'), signal: ctx.signal, what: 'the order webhook' })
      const h = (n: string): string | undefined => {
        const v = d.headers[n]
        return Array.isArray(v) ? v[0] : v
      }
      assert(h('webhook-id'), 'no Webhook-Id header')
      assert(/^\d{9,11}$/.test(h('webhook-timestamp') ?? ''), `Webhook-Timestamp ${show(h('webhook-timestamp'))} is not unix seconds`)
      expectValid(official().order, d.json, 'the webhook body')
      const u = new URL(ctx.discovery.webhookUrl)
      const v = await verifyUcpSignature({ method: 'POST', authority: u.host, path: u.pathname, header: h }, d.body, ourKeys(ctx), ['@method', '@authority', '@path', 'content-digest', 'content-type'])
      assert(v.ok, `the webhook signature does not verify with the business signing_keys: ${v.ok ? '' : v.reason}`)
      assert(/\.well-known\/ucp"?$/.test(h('ucp-agent') ?? ''), `UCP-Agent ${show(h('ucp-agent'))} does not point to the business /.well-known/ucp`)
    },
  },
]

const signatures: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-SIG-001',
    level: 'MUST',
    section: 'SIG',
    title: 'With a platform that publishes signing_keys, a correctly signed request (ES256, Content-Digest over the raw bytes) is accepted',
    spec: spec('signatures', 'Request signing', 'request-signing'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', undefined, {
        profile: ctx.discovery.profiles.signed,
        sign: platformKey(ctx),
        rawBody: `{ "line_items" : [ { "item" : { "id" : "${item(ctx)}" }, "quantity" : 1 } ] }`,
      })
      assertEqual(r.status, 201, `signed POST (${r.text.slice(0, 150)})`)
    },
  },
  {
    id: 'UCP-SIG-002',
    level: 'MUST',
    section: 'SIG',
    title: 'An unsigned request from such a platform is refused with 401 signature_missing',
    spec: spec('signatures', 'Errors', 'errors'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, { profile: ctx.discovery.profiles.signed })
      expectTransportError(r, 401, 'signature_missing', 'unsigned POST')
    },
  },
  {
    id: 'UCP-SIG-003',
    level: 'MUST',
    section: 'SIG',
    title: 'A bad signature is refused with 401 signature_invalid',
    spec: spec('signatures', 'Errors', 'errors'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, {
        profile: ctx.discovery.profiles.signed,
        sign: platformKey(ctx),
        tamper: (h) => ({ ...h, Signature: `sig1=:${Buffer.alloc(64, 9).toString('base64')}:` }),
      })
      expectTransportError(r, 401, 'signature_invalid', 'POST with a bad signature')
    },
  },
  {
    id: 'UCP-SIG-004',
    level: 'MUST',
    section: 'SIG',
    title: 'A Content-Digest that does not match the raw body is refused with 400 digest_mismatch',
    spec: spec('signatures', 'Errors', 'errors'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] }, {
        profile: ctx.discovery.profiles.signed,
        sign: platformKey(ctx),
        tamper: (h) => ({ ...h, 'Content-Digest': `sha-256=:${Buffer.alloc(32, 1).toString('base64')}:` }),
      })
      expectTransportError(r, 400, 'digest_mismatch', 'POST with a wrong Content-Digest')
    },
  },
  {
    id: 'UCP-SIG-005',
    level: 'SHOULD',
    section: 'SIG',
    title: 'Checkout responses are signed (@status content-digest content-type) with a published business key',
    spec: spec('signatures', 'Response signing', 'response-signing'),
    requires: [CHECKOUT],
    async check(ctx) {
      const r = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }] })
      const digest = r.header('content-digest')
      assert(digest, 'no Content-Digest on the response')
      assert(await digestMatches(digest, r.bytes), 'Content-Digest does not match the response body')
      const v = await verifyUcpSignature({ status: r.status, header: (n) => r.header(n) }, r.bytes, ourKeys(ctx), ['@status', 'content-digest', 'content-type'])
      assert(v.ok, `the response signature does not verify: ${v.ok ? '' : v.reason}`)
    },
  },
]

const testing: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-TEST-001',
    level: 'MUST',
    section: 'TEST',
    title: '/testing/simulate-shipping/{id} never acts without the right Simulation-Secret',
    spec: { doc: 'UCP conformance suite', version: UCP_SPEC_VERSION, section: 'simulation_url_security_test', url: 'https://github.com/Universal-Commerce-Protocol/conformance' },
    async check(ctx) {
      for (const headers of [{}, { 'Simulation-Secret': 'wrong-secret' }]) {
        const r = await ctx.http.request({ method: 'POST', path: '/testing/simulate-shipping/ord_conformance', headers })
        assert(r.status === 401 || r.status === 403 || r.status === 404, `POST with ${show(headers)} answered ${r.status}`)
      }
    },
  },
]

const ap2: Requirement<UcpDiscovery>[] = [
  {
    id: 'UCP-AP2-001',
    level: 'MUST',
    section: 'AP2',
    title: 'Once AP2 is negotiated every checkout response carries ap2.merchant_authorization, a detached ES256 JWS over JCS(checkout without ap2) by a published key',
    spec: spec('ap2-mandates', 'Merchant authorization', 'merchant-authorization'),
    requires: [CHECKOUT, AP2],
    async check(ctx) {
      const b = await createReady(ctx, { profile: ctx.discovery.profiles.ap2 })
      expectValid(official().checkout(extensionsOf(b)), b, 'the checkout')
      const jws = (b['ap2'] as { merchant_authorization?: unknown } | undefined)?.merchant_authorization
      assert(typeof jws === 'string', 'no ap2.merchant_authorization')
      const v = await verifyDetachedMerchantJws(b, jws, ourKeys(ctx))
      assert(v.ok, `merchant_authorization does not verify: ${v.ok ? '' : v.reason}`)
    },
  },
  {
    id: 'UCP-AP2-002',
    level: 'MUST',
    section: 'AP2',
    title: 'complete without ap2.checkout_mandate is refused (mandate_required) and does not complete',
    spec: spec('ap2-mandates', 'Business verification', 'business'),
    requires: [CHECKOUT, AP2],
    async check(ctx) {
      const b = await createReady(ctx, { profile: ctx.discovery.profiles.ap2 })
      const body = ctx.discovery.mockHandlerId ? mockPayment(ctx, 'success_token') : { payment: { instruments: [{ id: 'i1', handler_id: 'x', type: 'card', credential: { type: 'token', token: 't' } }] } }
      const r = await call(ctx, 'POST', `/checkout-sessions/${b['id'] as string}/complete`, body, { profile: ctx.discovery.profiles.ap2 })
      const c = r.json<Record<string, unknown>>()
      assert(c['status'] !== 'completed', 'completed without a mandate')
      const m = (c['messages'] as Array<Record<string, unknown>> | undefined) ?? []
      assert(m.some((x) => x['code'] === 'mandate_required'), `messages ${show(m)} lack mandate_required`)
    },
  },
]

/** The UCP (2026-04-08) business-side suite: black-box over HTTP, capability-gated like the official one. */
export const suite = defineSuite<UcpDiscovery>({
  protocol: 'ucp',
  title: 'UCP (Universal Commerce Protocol), business side',
  idPrefix: 'UCP',
  specVersions: [UCP_SPEC_VERSION],
  sections: {
    DISC: { title: 'Discovery' },
    NEG: { title: 'Negotiation' },
    CHK: { title: 'Checkout' },
    IDEM: { title: 'Idempotency' },
    PAY: { title: 'Payment' },
    ORD: { title: 'Orders and webhooks' },
    SIG: { title: 'HTTP message signatures' },
    TEST: { title: 'Testing endpoints' },
    AP2: { title: 'AP2 mandates extension' },
  },
  capabilities: CAPABILITIES,
  options: {
    itemId: { description: 'a seeded, in-stock product id', default: 'bouquet_roses' },
    discountCode: { description: 'a valid discount code (UCP-CHK-002)', default: '10OFF' },
    webhookWaitMs: { description: 'how long to wait for an order webhook', default: '15000' },
    webhookDelivery: { description: '`off` when the target cannot deliver UCP order webhooks yet (skips UCP-ORD-002 with that reason)', default: 'on' },
  },
  discover: discoverUcp,
  requirements: [...discovery, ...negotiation, ...checkout, ...idempotency, ...payment, ...orders, ...signatures, ...testing, ...ap2],
})

