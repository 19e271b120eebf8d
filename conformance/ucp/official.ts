import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsImport from 'ajv-formats'
import { fromRoot } from '../framework/paths.js'

// ajv-formats is CommonJS: its default export is the plugin function.
const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020

/** The official UCP 2026-04-08 schemas the suite validates the target's answers with. */
export interface OfficialUcpSchemas {
  businessProfile: ValidateFunction
  /** A checkout with these extensions active: the root schema plus each extension's checkout `$defs`. */
  checkout(extensions?: readonly string[]): ValidateFunction
  order: ValidateFunction
  errorResponse: ValidateFunction
}

/** Where the schemas are read from: the copy shipped in `schemas/vendor/ucp/2026-04-08`, or `UCP_SPEC_DIR`. */
export function officialUcpDir(): string {
  return process.env['UCP_SPEC_DIR'] ?? fromRoot('schemas', 'vendor', 'ucp', '2026-04-08')
}

const EXTENSIONS: Readonly<Record<string, string>> = {
  'dev.ucp.shopping.fulfillment': 'schemas/shopping/fulfillment.json',
  'dev.ucp.shopping.discount': 'schemas/shopping/discount.json',
  'dev.ucp.shopping.buyer_consent': 'schemas/shopping/buyer_consent.json',
  'dev.ucp.shopping.ap2_mandate': 'schemas/shopping/ap2_mandate.json',
}

function jsonFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...jsonFiles(p))
    else if (e.name.endsWith('.json')) out.push(p)
  }
  return out
}

/**
 * Compile the official schemas. Each file is registered under the URL its folder path gives
 * (`<dir>/schemas/x.json` ↔ `https://ucp.dev/schemas/x.json`), which is how the published schemas'
 * relative `$ref`s resolve; vocabulary keywords the validator does not know are ignored.
 */
export function loadOfficialUcpSchemas(dir: string = officialUcpDir()): OfficialUcpSchemas {
  if (!existsSync(dir)) throw new Error(`the official UCP schemas are not at ${dir}; set UCP_SPEC_DIR`)
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  for (const file of jsonFiles(dir)) {
    const rel = relative(dir, file).split(sep).join('/')
    if (!rel.startsWith('schemas/') && !rel.startsWith('discovery/')) continue
    const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    ajv.addSchema({ ...doc, $id: `https://ucp.dev/${rel}` })
  }
  const byId = (id: string): ValidateFunction => {
    const v = ajv.getSchema(id)
    if (!v) throw new Error(`official schema ${id} is missing from ${dir}`)
    return v
  }
  const compiled = new Map<string, ValidateFunction>()
  return {
    businessProfile: ajv.compile({ $ref: 'https://ucp.dev/discovery/profile_schema.json#/$defs/business_profile' }),
    order: byId('https://ucp.dev/schemas/shopping/order.json'),
    errorResponse: byId('https://ucp.dev/schemas/shopping/types/error_response.json'),
    checkout(extensions = []) {
      const key = [...extensions].sort().join(' ')
      let v = compiled.get(key)
      if (!v) {
        const allOf: object[] = [{ $ref: 'https://ucp.dev/schemas/shopping/checkout.json' }]
        for (const e of extensions) if (EXTENSIONS[e]) allOf.push({ $ref: `https://ucp.dev/${EXTENSIONS[e]}#/$defs/dev.ucp.shopping.checkout` })
        v = ajv.compile({ allOf })
        compiled.set(key, v)
      }
      return v
    },
  }
}
