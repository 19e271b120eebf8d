import { createHmac, timingSafeEqual } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import YAML from 'yaml'
import { assert, assertEqual, CheckFailure, expectStatus, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import { fromRoot } from '../framework/paths.js'
import { createSchemaSet, type SchemaSet } from '../framework/schemas.js'
import type { CheckContext, SpecRef } from '../framework/types.js'

/** The gateway API version this suite checks (`info.version` of the OpenAPI document). */
export const CORE_SPEC_VERSION = '0.1.0'

/** A clause of `schemas/gateway.openapi.yaml`, by JSON pointer. */
export function openapi(section: string, pointer: string): SpecRef {
  return { doc: 'agentswitch gateway API (OpenAPI)', version: CORE_SPEC_VERSION, section, url: `schemas/gateway.openapi.yaml#${pointer}` }
}

/** A paragraph of the README's "The gateway API" section. */
export function readme(paragraph: string): SpecRef {
  return { doc: 'agentswitch README', version: CORE_SPEC_VERSION, section: `The gateway API: ${paragraph}`, url: 'README.md#the-gateway-api' }
}

/** The error catalogue in `docs/errors.md`. */
export function errorsDoc(section: string): SpecRef {
  return { doc: 'agentswitch error codes', version: CORE_SPEC_VERSION, section, url: 'docs/errors.md#error-codes' }
}

/** What `discover` learnt; the checks read it. */
export interface CoreDiscovery {
  /** `version` from `/healthz`. */
  version?: string | undefined
  /** Role that creates intents (an agent key). */
  agentRole?: string | undefined
  /** Role that lists intents (admin preferred: it sees every intent). */
  readerRole?: string | undefined
  /** A role whose credentials differ from the agent's (idempotency scope). */
  otherRole?: string | undefined
  /** `merchant_id` to send on creation (several merchants), if known. */
  merchantId?: string | undefined
  /** The dev-mode webhook sink (its listing URL) and the merchant whose webhooks land there. */
  devSink?: { url: string; merchantId: string } | undefined
}

export type CoreContext = CheckContext<CoreDiscovery>

const BASE = 'https://agentswitch.dev/schemas/'

/** Schema ids the checks use. */
export const SCHEMA = {
  intent: `${BASE}canonical/payment-intent.json`,
  auditEvent: `${BASE}canonical/audit-event.json`,
  error: `${BASE}gateway/Error.json`,
  health: `${BASE}gateway/Health.json`,
  intentList: `${BASE}gateway/IntentList.json`,
  intentEvents: `${BASE}gateway/IntentEvents.json`,
} as const

let schemaSet: SchemaSet | undefined

/** The published schemas (`schemas/canonical/*.json` and the OpenAPI components), compiled once. */
export function coreSchemas(): SchemaSet {
  if (schemaSet) return schemaSet
  const dir = fromRoot('schemas', 'canonical')
  const docs: object[] = readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => JSON.parse(readFileSync(`${dir}/${n}`, 'utf8')) as object)
  const api = YAML.parse(readFileSync(fromRoot('schemas', 'gateway.openapi.yaml'), 'utf8')) as { components: { schemas: Record<string, unknown> } }
  for (const [name, schema] of Object.entries(api.components.schemas)) {
    docs.push({ ...(rewriteRefs(schema) as object), $id: `${BASE}gateway/${name}.json` })
  }
  schemaSet = createSchemaSet(docs)
  return schemaSet
}

/** OpenAPI refs → refs between the compiled documents. */
function rewriteRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(rewriteRefs)
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(node)) {
      out[k] =
        k === '$ref' && typeof v === 'string'
          ? v.startsWith('#/components/schemas/')
            ? `${v.slice('#/components/schemas/'.length)}.json`
            : v.replace(/^\.\/canonical\//, '../canonical/')
          : rewriteRefs(v)
    }
    return out
  }
  return node
}

/** One row of the table in `docs/errors.md`. */
export interface CatalogRow {
  status: number
  retryable: boolean
  title: string
}

let catalog: Map<string, CatalogRow> | undefined

/** The error catalogue as published in `docs/errors.md` (code → HTTP status, retryable, title). */
export function errorCatalog(): Map<string, CatalogRow> {
  if (catalog) return catalog
  catalog = new Map()
  for (const line of readFileSync(fromRoot('docs', 'errors.md'), 'utf8').split('\n')) {
    const m = /^\|\s*`(GW_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|\s*([^|]+?)\s*\|/.exec(line)
    if (m) catalog.set(m[1]!, { status: Number(m[2]), retryable: m[3] === 'yes', title: m[4]! })
  }
  if (catalog.size === 0) throw new Error('docs/errors.md has no error table')
  return catalog
}

/** The gateway's error body. */
export interface GatewayErrorBody {
  error: { code: string; title: string; message: string; retryable: boolean; request_id?: string; details?: unknown }
}

/**
 * Expect an error in the one wire shape: the status, `application/json`, a body valid against the
 * OpenAPI `Error` schema with `code`, `title`, `message`, `retryable` and `request_id`; the code's
 * status, retryability and title as `docs/errors.md` lists them; `request_id` = the `Request-Id` header.
 */
export function expectGatewayError(res: HttpResponse, status: number, code: string, what = `${res.exchange.request.method} ${res.path}`): GatewayErrorBody {
  expectStatus(res, status, what)
  assert(/^application\/json\b/i.test(res.header('content-type') ?? ''), `${what}: Content-Type is ${show(res.header('content-type'))}, expected application/json`)
  const body = res.json<GatewayErrorBody>()
  coreSchemas().expect(SCHEMA.error, body, `${what} error body`)
  assertEqual(body.error.code, code, `${what}: error.code`)
  assert(body.error.message.length > 0, `${what}: error.message is empty`)
  const row = errorCatalog().get(code)
  if (!row) throw new CheckFailure(`${what}: ${code} is not in docs/errors.md`)
  assertEqual(status, row.status, `${what}: docs/errors.md gives ${code} the HTTP status`)
  assertEqual(body.error.retryable, row.retryable, `${what}: error.retryable (docs/errors.md)`)
  assertEqual(body.error.title, row.title, `${what}: error.title (docs/errors.md)`)
  const requestId = res.header('request-id')
  assert(typeof body.error.request_id === 'string' && body.error.request_id.length > 0, `${what}: error.request_id is missing`)
  assertEqual(body.error.request_id, requestId, `${what}: error.request_id against the Request-Id header`)
  return body
}

/** The body of a creation through `POST /v1/intents`, with a run-unique reference. */
export function intentBody(ctx: CoreContext, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ...(ctx.discovery.merchantId ? { merchant_id: ctx.discovery.merchantId } : {}),
    amount: { value: '1999', asset: 'iso4217:USD' },
    instrument: { type: 'alipay.agreement' },
    reference: ctx.unique('ref'),
    ...extra,
  }
}

/** A canonical intent as the checks read it. */
export interface Intent {
  id: string
  status: string
  merchant_id: string
  created_at: string
  amount: { value: string; asset: string }
  origin: { protocol: string; version: string; ref: string }
  payer: { agent_id: string }
}

/** Create an intent as the agent (fresh key and reference) and expect 201. */
export async function createIntent(ctx: CoreContext, extra: Record<string, unknown> = {}): Promise<{ intent: Intent; res: HttpResponse; key: string; body: Record<string, unknown> }> {
  const key = ctx.unique('idem')
  const body = intentBody(ctx, extra)
  const res = await ctx.http.post('/v1/intents', { as: agent(ctx), headers: { 'idempotency-key': key }, json: body })
  expectStatus(res, 201, 'POST /v1/intents')
  const intent = res.json<Intent>()
  assert(typeof intent?.id === 'string', `POST /v1/intents: the body has no id (${show(intent)})`)
  return { intent, res, key, body }
}

/** The agent role (gated by `auth.agent`). */
export function agent(ctx: CoreContext): string {
  if (!ctx.discovery.agentRole) throw new CheckFailure('no agent credentials')
  return ctx.discovery.agentRole
}

/** The reader role (gated by `auth.reader`). */
export function reader(ctx: CoreContext): string {
  if (!ctx.discovery.readerRole) throw new CheckFailure('no admin or merchant credentials')
  return ctx.discovery.readerRole
}

/** Whether the response says it is a replay. */
export function isReplay(res: HttpResponse): boolean {
  return (res.header('idempotent-replayed') ?? '').trim().toLowerCase() === 'true'
}

/**
 * Verify `Agentswitch-Signature: t=<unix>,v1=<hex>` over the raw body, written from the README's
 * recipe (HMAC-SHA256 with the secret over `t + "." + body`), not from the gateway's code: the
 * conformance tool checks the documented contract.
 */
export function verifyAgentswitchSignature(header: string | undefined, body: Buffer, secret: string, nowSec = Math.floor(Date.now() / 1000)): { ok: true; t: number } | { ok: false; reason: string } {
  if (!header) return { ok: false, reason: 'no Agentswitch-Signature header' }
  let t: number | undefined
  const v1: Buffer[] = []
  for (const part of header.split(',')) {
    const [k, ...rest] = part.trim().split('=')
    const v = rest.join('=')
    if (k === 't' && /^\d{1,15}$/.test(v)) t = Number(v)
    else if (k === 'v1' && /^[0-9a-f]{64}$/i.test(v)) v1.push(Buffer.from(v, 'hex'))
  }
  if (t === undefined || v1.length === 0) return { ok: false, reason: `malformed header ${show(header)}` }
  const expected = createHmac('sha256', secret).update(`${t}.`).update(body).digest()
  if (!v1.some((s) => s.length === expected.length && timingSafeEqual(s, expected))) return { ok: false, reason: 'no v1 signature matches HMAC-SHA256(secret, t + "." + body)' }
  if (Math.abs(nowSec - t) > 300) return { ok: false, reason: `t=${t} is more than 300 s from now (${nowSec})` }
  return { ok: true, t }
}
