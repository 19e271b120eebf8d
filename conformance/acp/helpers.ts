import { readFileSync } from 'node:fs'
import { assert, CheckFailure, expectStatus, fail, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import { fromRoot } from '../framework/paths.js'
import { createSchemaSet, type SchemaSet } from '../framework/schemas.js'
import type { CapabilityState, CheckContext, DiscoverContext, Discovery, SpecRef } from '../framework/types.js'

/** The ACP release this suite checks. */
export const ACP_SPEC_VERSION = '2026-04-17'

const REPO = 'https://github.com/agentic-commerce-protocol/agentic-commerce-protocol/blob/c2afc863b46b6bb64fbc2be969bff25ee6eab652'

/** A clause of an ACP RFC (`rfcs/<file>.md`). */
export function rfc(file: 'agentic_checkout' | 'delegate_payment' | 'capability_negotiation' | 'intent_trace' | 'discovery', section: string, anchor: string): SpecRef {
  return { doc: `ACP RFC ${file}`, version: ACP_SPEC_VERSION, section, url: `${REPO}/rfcs/rfc.${file}.md#${anchor}` }
}

/** A definition of the 2026-04-17 JSON Schema bundle. */
export function schemaRef(bundle: 'agentic_checkout' | 'delegate_payment', def: string): SpecRef {
  return { doc: `ACP JSON Schema ${bundle}`, version: ACP_SPEC_VERSION, section: `$defs.${def}`, url: `${REPO}/spec/${ACP_SPEC_VERSION}/json-schema/schema.${bundle}.json` }
}

const CHECKOUT_ID = 'https://example.com/schemas/agentic-checkout/bundle.schema.json'
const DELEGATE_ID = 'https://example.com/schemas/delegate-payment/bundle.schema.json'

let schemaSet: SchemaSet | undefined
/** The official, unmodified 2026-04-17 bundles (a copy kept with the suite: it imports nothing from a gateway). */
export function acpSchemas(): SchemaSet {
  if (!schemaSet) {
    const load = (f: string): object => JSON.parse(readFileSync(fromRoot('conformance', 'acp', 'schemas', ACP_SPEC_VERSION, f), 'utf8')) as object
    schemaSet = createSchemaSet([load('schema.agentic_checkout.json'), load('schema.delegate_payment.json')])
  }
  return schemaSet
}
export const checkoutDef = (def: string): string => `${CHECKOUT_ID}#/$defs/${def}`
export const delegateDef = (def: string): string => `${DELEGATE_ID}#/$defs/${def}`

export interface AcpDiscovery {
  /** Absolute base of the checkout API (`…/acp`), from `api_base_url` or the `apiBase` option. */
  api: string
  agentRole?: string | undefined
  /** The discovery document, when served. */
  doc?: Record<string, unknown> | undefined
  itemId: string
}

export type AcpContext = CheckContext<AcpDiscovery>
type Json = Record<string, unknown>

export const ACP_CAPABILITIES = {
  'auth.agent': { description: 'an agent bearer key: --auth agent=HEADER, a single --auth, or dev.json', mandatory: true },
  discovery: { description: 'the target serves GET /.well-known/acp.json' },
  'delegate-payment': { description: 'the target is also the PSP vault: POST {api}/agentic_commerce/delegate_payment (discovery services include delegate_payment)' },
  'handler.tokenized-card': { description: 'sessions offer a dev.acp.tokenized.card handler whose vault is the target (needed to complete a checkout black-box)' },
  'webhooks.runner-receiver': {
    description: "the target sends order webhooks to the runner's receiver: point the agent webhook at http://127.0.0.1:P/agentic_checkout/webhooks/order_events, pass --webhook-port P and --set acp.webhookSecret=…",
  },
  '3ds-required': { description: 'the target can be made to answer authentication_required (3-D Secure) for a session' },
  'fault-injection': { description: 'a way to make the target answer 5xx on demand' },
} as const

const yes = (source: string): CapabilityState => ({ available: true, source })
const no = (reason: string): CapabilityState => ({ available: false, reason })

/** Discovery: `/.well-known/acp.json`, the credentials, and one session to see the offered handlers. */
export async function discoverAcp(ctx: DiscoverContext): Promise<Discovery<AcpDiscovery>> {
  const data: AcpDiscovery = { api: `${ctx.target.baseUrl}${ctx.options.get('apiBase') ?? '/acp'}`, itemId: ctx.options.get('itemId') ?? 'item_123' }
  data.agentRole = ctx.auth.has('agent') ? 'agent' : ctx.auth.has('default') ? 'default' : undefined
  const d = await ctx.http.get('/.well-known/acp.json')
  let discovery = no(`GET /.well-known/acp.json answered ${d.status}`)
  if (d.status === 200) {
    try {
      data.doc = d.json<Json>()
      const base = data.doc['api_base_url']
      if (typeof base === 'string' && !ctx.options.get('apiBase')) data.api = base.replace(/\/+$/, '')
      discovery = yes('GET /.well-known/acp.json')
    } catch {
      discovery = no('the discovery document is not JSON')
    }
  }
  const services = ((data.doc?.['capabilities'] as Json | undefined)?.['services'] as unknown[] | undefined) ?? []
  let handlers: Json[] = []
  if (data.agentRole) {
    const s = await ctx.http.post(`${data.api}/checkout_sessions`, {
      as: data.agentRole,
      headers: { 'api-version': ACP_SPEC_VERSION, 'idempotency-key': ctx.unique('discover') },
      json: { currency: 'usd', line_items: [{ id: data.itemId }], capabilities: { interventions: { supported: [] } } },
    })
    if (s.status === 201) handlers = (((s.json<Json>()['capabilities'] as Json | undefined)?.['payment'] as Json | undefined)?.['handlers'] as Json[] | undefined) ?? []
    ctx.note(`a probe session offers handlers ${show(handlers.map((h) => h['name']))}`)
  }
  const card = handlers.find((h) => h['name'] === 'dev.acp.tokenized.card' && typeof (h['config'] as Json | undefined)?.['delegate_payment_url'] === 'string')
  return {
    data,
    capabilities: {
      'auth.agent': data.agentRole ? yes('--auth') : no('no agent key: pass --auth agent=HEADER (or run against npm start with dev.json)'),
      discovery,
      'delegate-payment': services.includes('delegate_payment') ? yes('discovery services') : no('discovery does not list the delegate_payment service'),
      'handler.tokenized-card': card ? yes(`handler ${String(card['id'])}`) : no('no session offers a dev.acp.tokenized.card handler with config.delegate_payment_url'),
      'webhooks.runner-receiver': ctx.options.get('webhookSecret') ? yes('--set acp.webhookSecret') : no('not configured: pass --webhook-port and --set acp.webhookSecret=… after pointing the agent webhook at the runner'),
      '3ds-required': no('no black-box way to make a session require 3-D Secure (the target never asks for it)'),
      'fault-injection': no('no hook makes the target answer 5xx on demand, so a retry after 5xx cannot be observed black-box'),
    },
  }
}

export function agent(ctx: AcpContext): string {
  if (!ctx.discovery.agentRole) throw new CheckFailure('no agent credentials')
  return ctx.discovery.agentRole
}

/** One ACP call with the agent's credentials and API-Version (headers may override or remove with `undefined`). */
export async function call(ctx: AcpContext, method: 'GET' | 'POST', path: string, o: { json?: unknown; body?: string; headers?: Record<string, string | undefined>; key?: string | false; as?: string | false } = {}): Promise<HttpResponse> {
  const headers: Record<string, string> = { 'api-version': ACP_SPEC_VERSION }
  if (method === 'POST' && o.key !== false) headers['idempotency-key'] = o.key ?? ctx.unique('acp')
  if (o.body !== undefined) headers['content-type'] = 'application/json'
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (v === undefined) delete headers[k.toLowerCase()]
    else headers[k.toLowerCase()] = v
  }
  const url = path.startsWith('http') ? path : `${ctx.discovery.api}${path}`
  return ctx.http.request({
    method,
    path: url,
    headers,
    ...(o.as === false ? {} : { as: o.as ?? agent(ctx) }),
    ...(o.json !== undefined ? { json: o.json } : {}),
    ...(o.body !== undefined ? { body: o.body } : {}),
  })
}

/** Fail unless `res` is a flat ACP Error with `status` (and `code`, when given). */
export function expectAcpError(res: HttpResponse, status: number | readonly number[], code?: string | readonly string[]): Json {
  expectStatus(res, status)
  const body = res.json<Json>()
  assert(!('error' in body), `the error is wrapped in an envelope ({error: …}); ACP errors are flat: ${show(body)}`)
  acpSchemas().expect(checkoutDef('Error'), body, `${res.exchange.request.method} ${res.path} error body`)
  if (code !== undefined) {
    const codes = typeof code === 'string' ? [code] : code
    assert(codes.includes(String(body['code'])), `error code ${show(body['code'])}, expected ${codes.join(' or ')}`)
  }
  return body
}

/** Fail unless `res` is a `CheckoutSession` (or `CheckoutSessionWithOrder`) with `status`. */
export function expectSession(res: HttpResponse, status: number, def = 'CheckoutSession'): Json {
  expectStatus(res, status)
  const body = res.json<Json>()
  acpSchemas().expect(checkoutDef(def), body, `${res.exchange.request.method} ${res.path} body`)
  return body
}

export const ADDRESS = { name: 'Conformance Tester', line_one: '1 Market St', city: 'San Francisco', state: 'CA', country: 'US', postal_code: '94105' }
export const NO_CAPS = { interventions: { supported: [] } }

export const totalOf = (s: Json): number | undefined => (s['totals'] as Array<{ type: string; amount: number }> | undefined)?.find((t) => t.type === 'total')?.amount

/** Create a session and make it `ready_for_payment` (address + the first offered option for every item). */
export async function readySession(ctx: AcpContext): Promise<Json> {
  const c = expectSession(await call(ctx, 'POST', '/checkout_sessions', { json: { currency: 'usd', line_items: [{ id: ctx.discovery.itemId }], capabilities: NO_CAPS, fulfillment_details: { name: ADDRESS.name, address: ADDRESS } } }), 201)
  if (c['status'] === 'ready_for_payment') return c
  const options = (c['fulfillment_options'] as Json[]) ?? []
  const first = options[0]
  if (!first) fail(`the session is ${show(c['status'])} and offers no fulfillment option to select`)
  const u = expectSession(
    await call(ctx, 'POST', `/checkout_sessions/${String(c['id'])}`, { json: { selected_fulfillment_options: [{ type: first['type'], option_id: first['id'], item_ids: [ctx.discovery.itemId] }] } }),
    200,
  )
  assert(u['status'] === 'ready_for_payment', `after selecting ${show(first['id'])} the session is ${show(u['status'])}: ${show(u['messages'])}`)
  return u
}

/** The offered tokenized-card handler of a session. */
export function cardHandler(s: Json): Json {
  const h = (((s['capabilities'] as Json)['payment'] as Json)['handlers'] as Json[]).find((x) => x['name'] === 'dev.acp.tokenized.card')
  if (!h) fail('the session offers no dev.acp.tokenized.card handler')
  return h
}

/** A delegate-payment request for a session's handler. */
export function delegateRequest(ctx: AcpContext, s: Json, o: { max?: number; expiresAt?: string; merchantId?: string; currency?: string; reason?: string } = {}): Json {
  const h = cardHandler(s)
  return {
    payment_method: {
      type: 'card',
      card_number_type: 'fpan',
      virtual: false,
      number: ctx.options.get('testCardNumber') ?? '4242424242424242',
      exp_month: '12',
      exp_year: '2030',
      name: 'Conformance Tester',
      cvc: '123',
      display_card_funding_type: 'credit',
      metadata: {},
    },
    allowance: {
      reason: o.reason ?? 'one_time',
      max_amount: o.max ?? totalOf(s) ?? 0,
      currency: o.currency ?? String(s['currency']),
      checkout_session_id: String(s['id']),
      merchant_id: o.merchantId ?? String((h['config'] as Json)['merchant_id']),
      expires_at: o.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString(),
    },
    risk_signals: [],
    metadata: { source: 'agentswitch-conformance' },
  }
}

/** Vault a card for `s` and return the token id. */
export async function vaultToken(ctx: AcpContext, s: Json, o: Parameters<typeof delegateRequest>[2] = {}): Promise<string> {
  const url = String((cardHandler(s)['config'] as Json)['delegate_payment_url'])
  const r = await call(ctx, 'POST', url, { json: delegateRequest(ctx, s, o) })
  expectStatus(r, 201, 'POST delegate_payment')
  return String(r.json<Json>()['id'])
}

export function completeBody(s: Json, token: string): Json {
  return { payment_data: { handler_id: cardHandler(s)['id'], instrument: { type: 'card', credential: { type: 'spt', token } } } }
}
