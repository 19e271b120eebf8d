/**
 * Test helpers of the ACP adapter (not a test file): a real gateway with the ACP mount over real
 * HTTP, a small client, and validators of the **official, unmodified** 2026-04-17 JSON Schemas
 * from `../shared/specs/acp` (falling back to the vendored byte-identical copies).
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { request } from 'undici'
import { fromRoot } from '../../../core/util/paths.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import type { CreateGatewayOptions } from '../../gateway/createGateway.js'
import { acpMount } from './mount.js'
import type { AcpMountOptions } from './options.js'
import { ACP_VERSION } from './schemas.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** The shared spec folder (`../shared/specs/acp`), when present. */
export const SHARED_ACP = fromRoot('..', 'shared', 'specs', 'acp')

export const TEST_VAULT_KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'

function officialSchemaPath(file: string): string {
  const shared = join(SHARED_ACP, 'spec', ACP_VERSION, 'json-schema', file)
  return existsSync(shared) ? shared : fromRoot('adapters', 'protocols', 'acp', 'schemas', ACP_VERSION, file)
}

export interface OfficialSchemas {
  /** `[]` when valid, else the ajv problems as text. */
  problems(def: string, value: unknown, bundle?: 'checkout' | 'delegate'): string[]
}

let cached: OfficialSchemas | undefined
export function officialSchemas(): OfficialSchemas {
  if (cached) return cached
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  addFormats(ajv)
  const checkout = JSON.parse(readFileSync(officialSchemaPath('schema.agentic_checkout.json'), 'utf8')) as { $id: string }
  const delegate = JSON.parse(readFileSync(officialSchemaPath('schema.delegate_payment.json'), 'utf8')) as { $id: string }
  ajv.addSchema(checkout)
  ajv.addSchema(delegate)
  const compiled = new Map<string, ValidateFunction>()
  cached = {
    problems(def, value, bundle = 'checkout') {
      const ref = `${bundle === 'checkout' ? checkout.$id : delegate.$id}#/$defs/${def}`
      let v = compiled.get(ref)
      if (!v) {
        v = ajv.getSchema(ref)!
        compiled.set(ref, v)
      }
      return v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
    },
  }
  return cached
}

export interface AcpResponse {
  status: number
  headers: Record<string, string>
  json: Record<string, unknown>
  text: string
}

export interface AcpClient {
  call(method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string | undefined>): Promise<AcpResponse>
  /** POST with a fresh Idempotency-Key. */
  post(path: string, body?: unknown, headers?: Record<string, string | undefined>): Promise<AcpResponse>
}

let keySeq = 0
export function acpClient(baseUrl: string, key: string = TEST_KEYS.agent): AcpClient {
  const call: AcpClient['call'] = async (method, path, body, headers = {}) => {
    const h: Record<string, string> = { authorization: `Bearer ${key}`, 'api-version': ACP_VERSION, 'content-type': 'application/json' }
    for (const [k, v] of Object.entries(headers)) {
      if (v === undefined) delete h[k.toLowerCase()]
      else h[k.toLowerCase()] = v
    }
    const res = await request(`${baseUrl}${path}`, { method, headers: h, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) })
    const text = await res.body.text()
    let json: Record<string, unknown> = {}
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {}
    } catch {
      json = {}
    }
    const out: Record<string, string> = {}
    for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') out[k] = v
    return { status: res.statusCode, headers: out, json, text }
  }
  return {
    call,
    post: (path, body, headers = {}) => call('POST', path, body, { 'idempotency-key': `k-${process.pid}-${++keySeq}-${Date.now()}`, ...headers }),
  }
}

/** A gateway with the ACP mount for merchant `m1` (vault on, card handler on). */
export async function startAcpGateway(
  o: { mount?: Partial<AcpMountOptions>; gatewayOptions?: CreateGatewayOptions; configPatch?: Record<string, unknown> } = {},
): Promise<TestGateway> {
  const mount = acpMount({ merchantId: 'm1', vault: { encryptionKey: TEST_VAULT_KEY }, handlers: { card: {} }, ...o.mount })
  return startTestGateway({
    ...(o.configPatch ? { configPatch: o.configPatch } : {}),
    gatewayOptions: { ...o.gatewayOptions, mounts: [...(o.gatewayOptions?.mounts ?? []), mount] },
  })
}

/** A delegate-payment request body for `sessionId` (a valid Visa test card, allowance `max` in USD). */
export function delegateBody(sessionId: string, max: number, o: { merchantId?: string; expiresAt?: string; currency?: string } = {}): Record<string, unknown> {
  return {
    payment_method: {
      type: 'card',
      card_number_type: 'fpan',
      virtual: false,
      number: '4242424242424242',
      exp_month: '12',
      exp_year: '2030',
      name: 'Jane Doe',
      cvc: '123',
      display_card_funding_type: 'credit',
      display_brand: 'visa',
      display_last4: '4242',
      metadata: {},
    },
    allowance: {
      reason: 'one_time',
      max_amount: max,
      currency: o.currency ?? 'usd',
      checkout_session_id: sessionId,
      merchant_id: o.merchantId ?? 'm1',
      expires_at: o.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString(),
    },
    risk_signals: [],
    metadata: { source: 'test' },
  }
}

export const SHIPPING_ADDRESS = { name: 'Jane Doe', line_one: '1 Market St', city: 'San Francisco', state: 'CA', country: 'US', postal_code: '94105' }

export { TEST_KEYS }
