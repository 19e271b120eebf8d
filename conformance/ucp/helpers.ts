import { randomUUID } from 'node:crypto'
import { loadOfficialUcpSchemas, type OfficialUcpSchemas } from './official.js'
import { signUcpRequest, type PrivateEcJwk } from './signatures.js'
import { fail } from '../framework/assert.js'
import type { SigningKey } from '../framework/counterparts/signingKeys.js'
import type { HttpResponse } from '../framework/http.js'
import type { CheckContext, DiscoverContext, SpecRef } from '../framework/types.js'

export const UCP_SPEC_VERSION = '2026-04-08'

/** A clause of the UCP 2026-04-08 specification. */
export function spec(page: string, section: string, anchor = ''): SpecRef {
  return { doc: `UCP ${page}`, version: UCP_SPEC_VERSION, section, url: `https://ucp.dev/2026-04-08/specification/${page}/${anchor ? `#${anchor}` : ''}` }
}

/** What discovery learnt: the profile, the REST endpoint, the platform profiles served to the target. */
export interface UcpDiscovery {
  profile?: Record<string, unknown> | undefined
  profileText?: string | undefined
  cacheControl?: string | undefined
  endpoint?: string | undefined
  capabilities: string[]
  /** `handler_id` of the testing handler (`dev.ucp.mock_payment`), when advertised. */
  mockHandlerId?: string | undefined
  /** Platform profile URLs served by the runner's profile server. */
  profiles: { full: string; signed: string; future: string; orderOnly: string; noDiscount: string; ap2: string }
  webhookUrl: string
}

export type UcpContext = CheckContext<UcpDiscovery>

let validators: OfficialUcpSchemas | undefined
/** The official 2026-04-08 schemas (loaded once, by folder path). */
export function official(): OfficialUcpSchemas {
  validators ??= loadOfficialUcpSchemas()
  return validators
}

/** Fail the check with ajv's errors when `body` does not validate. */
export function expectValid(v: { (d: unknown): boolean; errors?: unknown }, body: unknown, what: string): void {
  if (!v(body)) fail(`${what} does not validate against the official 2026-04-08 schema: ${JSON.stringify(v.errors).slice(0, 600)}`)
}

/** The platform key the runner signs with (its public half is in the signed profile). */
export function platformKey(ctx: Pick<DiscoverContext, 'counterparts'>): SigningKey {
  return ctx.counterparts.signingKey('ucp/platform')
}

export function asPrivateJwk(k: SigningKey): PrivateEcJwk {
  return { kty: 'EC', crv: 'P-256', x: k.privateJwk.x, y: k.privateJwk.y, d: k.privateJwk.d, kid: k.kid }
}

export interface CallOptions {
  /** Platform profile URL (default: the full profile). `null`: no UCP-Agent header. */
  profile?: string | null | undefined
  idempotencyKey?: string | undefined
  sign?: SigningKey | undefined
  tamper?: ((h: Record<string, string>) => Record<string, string>) | undefined
  rawBody?: string | undefined
}

/** One call to the UCP REST endpoint as a platform makes it. */
export async function call(ctx: UcpContext, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, o: CallOptions = {}): Promise<HttpResponse> {
  const endpoint = ctx.discovery.endpoint
  if (!endpoint) return ctx.skip('the target advertises no dev.ucp.shopping REST endpoint')
  const url = path.startsWith('http') ? path : `${endpoint}${path}`
  const text = o.rawBody ?? (body === undefined ? '' : JSON.stringify(body))
  const profile = o.profile === undefined ? ctx.discovery.profiles.full : o.profile
  let headers: Record<string, string> = {
    'Request-Id': randomUUID(),
    ...(profile ? { 'UCP-Agent': `profile="${profile}"` } : {}),
    ...(text ? { 'Content-Type': 'application/json' } : {}),
    ...(method !== 'GET' ? { 'Idempotency-Key': o.idempotencyKey ?? ctx.unique('idem') } : {}),
  }
  if (o.sign) headers = await signUcpRequest({ method, url, headers, body: Buffer.from(text, 'utf8'), key: asPrivateJwk(o.sign) })
  if (o.tamper) headers = o.tamper(headers)
  return ctx.http.request({ method, path: url, headers, ...(text ? { body: text } : {}) })
}

/** The seeded item to buy (option `itemId`). */
export function item(ctx: UcpContext): string {
  return ctx.options.get('itemId') ?? 'bouquet_roses'
}

export const SHIPPING = {
  methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }],
}

/** Create a checkout ready for completion (line item + shipping when fulfillment is negotiated). */
export async function createReady(ctx: UcpContext, o: CallOptions = {}): Promise<Record<string, unknown>> {
  const res = await call(ctx, 'POST', '/checkout-sessions', { line_items: [{ item: { id: item(ctx) }, quantity: 1 }], fulfillment: SHIPPING }, o)
  if (res.status !== 201) fail(`POST /checkout-sessions answered ${res.status}: ${res.text.slice(0, 300)}`)
  return res.json<Record<string, unknown>>()
}

/** The active extensions a checkout response names (for schema composition). */
export function extensionsOf(body: Record<string, unknown>): string[] {
  const caps = (body['ucp'] as { capabilities?: Record<string, unknown> } | undefined)?.capabilities ?? {}
  return Object.keys(caps).filter((k) => k !== 'dev.ucp.shopping.checkout')
}

/** A transport error `{code, content}` with `status`. */
export function expectTransportError(res: HttpResponse, status: number, code: string, what: string): void {
  if (res.status !== status) fail(`${what}: HTTP ${res.status}, expected ${status} (${res.text.slice(0, 200)})`)
  const b = res.json<Record<string, unknown>>()
  if (b['code'] !== code || typeof b['content'] !== 'string') fail(`${what}: body ${res.text.slice(0, 200)}, expected {"code":"${code}","content":…}`)
}

export function mockPayment(ctx: UcpContext, token: string): Record<string, unknown> {
  const handler = ctx.discovery.mockHandlerId
  if (!handler) return ctx.skip('the target advertises no dev.ucp.mock_payment handler')
  return { payment: { instruments: [{ id: 'instr_1', handler_id: handler, type: 'card', credential: { type: 'token', token } }] } }
}
