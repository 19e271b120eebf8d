import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { fromRoot } from '../../../core/util/paths.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** The one API version this adapter speaks (DIGEST §9). */
export const ACP_VERSION = '2026-04-17'

const LENIENT_ID = 'https://agentswitch.dev/schemas/acp/2026-04-17/agentic-checkout.lenient.json'
const DELEGATE_ID = 'https://example.com/schemas/delegate-payment/bundle.schema.json'

/** The raw vendored schema bundle (`schemas/2026-04-17/<file>`), parsed. */
export function loadVendoredSchema(file: 'schema.agentic_checkout.json' | 'schema.delegate_payment.json'): { $defs: Record<string, unknown> } & Record<string, unknown> {
  return JSON.parse(readFileSync(fromRoot('adapters', 'protocols', 'acp', 'schemas', ACP_VERSION, file), 'utf8')) as { $defs: Record<string, unknown> }
}

/**
 * The lenient request view of the checkout bundle. Real agents send what the spec's defects make
 * invalid, and we accept it (DIGEST §12):
 * - §12.1: `Item` lost `quantity` in 2026-01-30 (upstream #264/#270/#272 open) but agents still send
 *   it; we accept an optional integer `quantity ≥ 1` on request items (default 1).
 * - §4.6: unknown intervention values must be ignored, not rejected (the schema's enum is closed).
 * - §3.4: unknown `intent_trace.reason_code` values are read as `other`, not rejected.
 * - `Buyer.email` format problems become a `MessageError` (`invalid`, `$.buyer.email`), not a 400.
 * - §12.10: `Capabilities.extensions` is a `oneOf` of two array shapes, so `[]` matches both and
 *   fails; we accept an empty array (`anyOf`).
 */
function lenientCheckoutBundle(): Record<string, unknown> {
  const bundle = loadVendoredSchema('schema.agentic_checkout.json')
  const defs = bundle.$defs as Record<string, { properties?: Record<string, unknown> } & Record<string, unknown>>
  const item = defs['Item']!
  item.properties = { ...item.properties, quantity: { type: 'integer', minimum: 1 } }
  const caps = defs['Capabilities']!
  const ext = caps.properties?.['extensions'] as { oneOf?: unknown[] } | undefined
  if (ext?.oneOf) {
    caps.properties = { ...caps.properties, extensions: { anyOf: ext.oneOf } }
  }
  // §4.6: "both sides MUST ignore unknown values", yet `interventions.supported` is a closed enum.
  const iv = defs['InterventionCapabilities']!
  const sup = iv.properties?.['supported'] as { items?: unknown } | undefined
  if (sup) iv.properties = { ...iv.properties, supported: { ...sup, items: { type: 'string' } } }
  // §3.4: `intent_trace.reason_code` is an open enum (unknown → read as `other`), yet closed in the schema.
  const trace = defs['IntentTrace']!
  trace.properties = { ...trace.properties, reason_code: { type: 'string', minLength: 1, maxLength: 64 } }
  // MessageError's own description: an invalid email is a business problem (`invalid` at
  // `$.buyer.email` inside a 2xx), which the `format: email` keyword would turn into a 400.
  const buyer = defs['Buyer']!
  buyer.properties = { ...buyer.properties, email: { type: 'string', minLength: 1, maxLength: 320 } }
  return { ...bundle, $id: LENIENT_ID }
}

export type AcpRequestSchema = 'CheckoutSessionCreateRequest' | 'CheckoutSessionUpdateRequest' | 'CheckoutSessionCompleteRequest' | 'CancelSessionRequest'

/** One schema problem: RFC 9535 JSONPath of the field and what is wrong. */
export interface SchemaProblem {
  param: string
  message: string
}

export interface AcpSchemas {
  /** `undefined` when the checkout request is valid (lenient view), else the first problem. */
  checkRequest(name: AcpRequestSchema, value: unknown): SchemaProblem | undefined
  /** `undefined` when a delegate-payment request is valid, else the first problem. */
  checkDelegateRequest(value: unknown): SchemaProblem | undefined
}

let cached: AcpSchemas | undefined

/** Compiled once per process. */
export function acpSchemas(): AcpSchemas {
  if (cached) return cached
  const ajv = new Ajv2020({ allErrors: false, strict: false })
  addFormats(ajv)
  const lenient = lenientCheckoutBundle()
  ajv.addSchema(lenient)
  ajv.addSchema(loadVendoredSchema('schema.delegate_payment.json'))
  const compiled = new Map<string, ValidateFunction>()
  const get = (ref: string): ValidateFunction => {
    let v = compiled.get(ref)
    if (!v) {
      v = ajv.getSchema(ref)
      if (!v) throw new Error(`no ACP schema ${ref}`)
      compiled.set(ref, v)
    }
    return v
  }
  const check = (ref: string, value: unknown): SchemaProblem | undefined => {
    const v = get(ref)
    if (v(value)) return undefined
    return toProblem(v.errors?.[0])
  }
  cached = {
    checkRequest: (name, value) => check(`${LENIENT_ID}#/$defs/${name}`, value),
    checkDelegateRequest: (value) => check(`${DELEGATE_ID}#/$defs/DelegatePaymentRequest`, value),
  }
  return cached
}

/** JSON Pointer (`/line_items/0/id`) → JSONPath (`$.line_items[0].id`). */
export function pointerToJsonPath(pointer: string): string {
  if (pointer === '') return '$'
  return (
    '$' +
    pointer
      .split('/')
      .slice(1)
      .map((seg) => seg.replace(/~1/g, '/').replace(/~0/g, '~'))
      .map((seg) => (/^[0-9]+$/.test(seg) ? `[${seg}]` : /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`))
      .join('')
  )
}

function toProblem(e: ErrorObject | undefined): SchemaProblem {
  if (!e) return { param: '$', message: 'the request body does not match the schema' }
  let pointer = e.instancePath
  if (e.keyword === 'required') pointer += `/${String((e.params as { missingProperty: string }).missingProperty)}`
  if (e.keyword === 'additionalProperties') pointer += `/${String((e.params as { additionalProperty: string }).additionalProperty)}`
  const param = pointerToJsonPath(pointer)
  const what = e.keyword === 'required' ? 'is required' : e.keyword === 'additionalProperties' ? 'is not allowed' : (e.message ?? 'is invalid')
  return { param, message: `${param} ${what}` }
}
