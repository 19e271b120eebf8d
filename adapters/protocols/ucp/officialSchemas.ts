import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsImport from 'ajv-formats'
import { fromRoot } from '../../../core/util/paths.js'

// ajv-formats is CommonJS: its default export is the plugin function.
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020

/**
 * Where the official 2026-04-08 schemas live: our vendored copy (`schemas/vendor/ucp/2026-04-08`,
 * see its SOURCE.md), unless `UCP_SPEC_DIR` says otherwise.
 */
export function officialSpecDir(): string {
  return process.env['UCP_SPEC_DIR'] ?? fromRoot('schemas', 'vendor', 'ucp', '2026-04-08')
}

/** The official UCP validators this adapter's tests and conformance checks use. */
export interface UcpOfficialValidators {
  /** `/.well-known/ucp` (discovery/profile_schema.json, business branch). */
  businessProfile: ValidateFunction
  /** A checkout response with the given extensions active (root + each extension's `$defs[root]`). */
  checkout(extensions?: readonly string[]): ValidateFunction
  order: ValidateFunction
  /** The closed transport/business error envelope (`types/error_response.json`). */
  errorResponse: ValidateFunction
}

const EXTENSION_FILES: Readonly<Record<string, string>> = {
  'dev.ucp.shopping.fulfillment': 'shopping/fulfillment.json',
  'dev.ucp.shopping.discount': 'shopping/discount.json',
  'dev.ucp.shopping.buyer_consent': 'shopping/buyer_consent.json',
  'dev.ucp.shopping.ap2_mandate': 'shopping/ap2_mandate.json',
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : name.endsWith('.json') ? [p] : []
  })
}

/**
 * Load every official schema **by folder path** (DIGEST §18.15): `source/X` ↔ `https://ucp.dev/X`.
 * Each schema's own `$id` is replaced by its path-derived URL, so relative `$ref`s resolve exactly
 * as they do on disk (the discovery profile's `$id` would otherwise break `../schemas/ucp.json`).
 * Custom keywords (`ucp_request`, `name`, `embedded`…) are ignored (strict: false).
 */
export function loadOfficialValidators(dir: string = officialSpecDir()): UcpOfficialValidators {
  if (!existsSync(dir)) throw new Error(`official UCP schemas not found at ${dir} (set UCP_SPEC_DIR)`)
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true })
  addFormats(ajv)
  const idOf = (file: string): string => `https://ucp.dev/${relative(dir, file).split(sep).join('/')}`
  for (const file of walk(dir)) {
    if (!file.includes(`${sep}schemas${sep}`) && !file.includes(`${sep}discovery${sep}`)) continue
    const schema = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    ajv.addSchema({ ...schema, $id: idOf(file) })
  }
  const get = (id: string): ValidateFunction => {
    const v = ajv.getSchema(id)
    if (!v) throw new Error(`schema ${id} not loaded`)
    return v
  }
  const checkoutCache = new Map<string, ValidateFunction>()
  return {
    businessProfile: ajv.compile({ $ref: 'https://ucp.dev/discovery/profile_schema.json#/$defs/business_profile' }),
    order: get('https://ucp.dev/schemas/shopping/order.json'),
    errorResponse: get('https://ucp.dev/schemas/shopping/types/error_response.json'),
    checkout(extensions = []) {
      const key = [...extensions].sort().join(',')
      let v = checkoutCache.get(key)
      if (!v) {
        const parts = extensions.flatMap((e) => (EXTENSION_FILES[e] ? [{ $ref: `https://ucp.dev/schemas/${EXTENSION_FILES[e]}#/$defs/dev.ucp.shopping.checkout` }] : []))
        v = ajv.compile({ allOf: [{ $ref: 'https://ucp.dev/schemas/shopping/checkout.json' }, ...parts] })
        checkoutCache.set(key, v)
      }
      return v
    },
  }
}
