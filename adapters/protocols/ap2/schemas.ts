import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { fromRoot } from '../../../core/util/paths.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** `$id`s of the vendored AP2 v0.2 schemas (`schemas/vendor/ap2/v0.2/`, verbatim from upstream). */
export const AP2_SCHEMA = {
  checkoutMandate: 'https://ap2-protocol.org/schemas/checkout_mandate.json',
  openCheckoutMandate: 'https://ap2-protocol.org/schemas/open_checkout_mandate',
  paymentMandate: 'https://ap2-protocol.org/schemas/payment_mandate.json',
  openPaymentMandate: 'https://ap2-protocol.org/schemas/payment_mandate_open.json',
  checkoutReceipt: 'https://ap2-protocol.org/schemas/checkout_receipt.json',
  paymentReceipt: 'https://ap2-protocol.org/schemas/payment_receipt.json',
  checkout: 'https://ap2-protocol.org/schemas/types/checkout.json',
} as const

export type Ap2SchemaId = (typeof AP2_SCHEMA)[keyof typeof AP2_SCHEMA]

/** Validators of the AP2 v0.2 shapes, compiled once per process. */
export interface Ap2Schemas {
  /** `undefined` when `value` matches, else every problem as `path: message`. */
  problems(schema: Ap2SchemaId | string, value: unknown): string | undefined
}

let cached: Ap2Schemas | undefined

/**
 * Load the vendored schemas (`strict: false`: upstream uses the `x-selectively-disclosable-*`
 * annotation keywords). Upstream's `$id`s disagree with some `$ref`s (digest Ambiguity 14): the
 * receipt status schema is registered under the id its referrers use as well.
 */
export function ap2Schemas(): Ap2Schemas {
  if (cached) return cached
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  addFormats(ajv)
  const dir = fromRoot('schemas', 'vendor', 'ap2', 'v0.2')
  for (const file of listJson(dir)) {
    const schema = JSON.parse(readFileSync(file, 'utf8')) as { $id?: string }
    ajv.addSchema(schema)
    if (schema.$id === 'https://ap2-protocol.org/schemas/receipt-status.json') {
      ajv.addSchema({ ...schema, $id: 'https://ap2-protocol.org/schemas/types/receipt_status.json' })
    }
  }
  const compiled = new Map<string, ValidateFunction>()
  const get = (id: string): ValidateFunction => {
    let v = compiled.get(id)
    if (!v) {
      v = ajv.getSchema(id)
      if (!v) throw new Error(`no AP2 schema ${id}`)
      compiled.set(id, v)
    }
    return v
  }
  cached = {
    problems(schema, value) {
      const v = get(schema)
      if (v(value)) return undefined
      return formatErrors(v.errors ?? [])
    },
  }
  return cached
}

function listJson(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...listJson(p))
    else if (name.endsWith('.json')) out.push(p)
  }
  return out
}

function formatErrors(errors: ErrorObject[]): string {
  // anyOf/oneOf branches repeat themselves; keep the first few distinct messages.
  const lines = [...new Set(errors.map((e) => `${e.instancePath || '/'}: ${e.message ?? 'invalid'}`))]
  return lines.slice(0, 5).join('; ')
}
