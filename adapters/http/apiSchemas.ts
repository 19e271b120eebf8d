import { readFileSync } from 'node:fs'
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import YAML from 'yaml'
import { GatewayError } from '../../core/errors/gatewayError.js'
import { createCanonicalAjv } from '../../core/intent/validate.js'
import { fromRoot } from '../../core/util/paths.js'

const BASE = 'https://agentswitch.dev/schemas/'

/**
 * Validators for the gateway API's request bodies, compiled once from
 * `schemas/gateway.openapi.yaml` (components) with the canonical schemas beside them.
 */
export interface ApiSchemas {
  /** Validate `value` against a component schema; throws GW_SCHEMA_INVALID listing every problem. */
  assert<T>(component: string, value: unknown): asserts value is T
}

let cached: ApiSchemas | undefined

/** The gateway API's request validators, compiled once per process (every router shares them). */
export function loadApiSchemas(): ApiSchemas {
  cached ??= compileApiSchemas()
  return cached
}

function compileApiSchemas(): ApiSchemas {
  // OpenAPI component schemas are looser JSON Schema than ours (untyped `details: {}`).
  const ajv = createCanonicalAjv({ strictTypes: false, allowUnionTypes: true })
  const doc = YAML.parse(readFileSync(fromRoot('schemas', 'gateway.openapi.yaml'), 'utf8')) as {
    components: { schemas: Record<string, object> }
  }
  const names = Object.keys(doc.components.schemas)
  for (const name of names) {
    // An $id beside `canonical/` makes the spec's relative refs (./canonical/money.json) resolve.
    ajv.addSchema({ ...rewriteLocalRefs(doc.components.schemas[name]), $id: `${BASE}gateway/${name}.json` })
  }
  const compiled = new Map<string, ValidateFunction>()
  for (const name of names) compiled.set(name, ajv.getSchema(`${BASE}gateway/${name}.json`)!)
  return {
    assert(component, value) {
      const v = compiled.get(component)
      if (!v) throw new Error(`no schema component ${component}`)
      if (!v(value)) throw new GatewayError('GW_SCHEMA_INVALID', describe(v.errors ?? []), { details: details(v.errors ?? []) })
    },
  }
}

/** `#/components/schemas/X` → `X.json` (a sibling compiled schema); `./canonical/…` → `../canonical/…`. */
function rewriteLocalRefs(node: unknown): object {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk)
    if (n && typeof n === 'object') {
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(n)) {
        if (k === '$ref' && typeof v === 'string') {
          out[k] = v.startsWith('#/components/schemas/') ? `${v.slice('#/components/schemas/'.length)}.json` : v.replace(/^\.\/canonical\//, '../canonical/')
        } else out[k] = walk(v)
      }
      return out
    }
    return n
  }
  return walk(node) as object
}

function path(e: ErrorObject): string {
  const base = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || 'body'
  if (e.keyword === 'required') return `${base === 'body' ? '' : base + '.'}${(e.params as { missingProperty: string }).missingProperty}`
  if (e.keyword === 'additionalProperties') return `${base === 'body' ? '' : base + '.'}${(e.params as { additionalProperty: string }).additionalProperty}`
  return base
}

function message(e: ErrorObject): string {
  if (e.keyword === 'required') return 'is required'
  if (e.keyword === 'additionalProperties') return 'is not allowed'
  if (e.keyword === 'enum') return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
  return e.message ?? 'is invalid'
}

function details(errors: ErrorObject[]): Array<{ path: string; message: string }> {
  return errors.map((e) => ({ path: path(e), message: message(e) }))
}

function describe(errors: ErrorObject[]): string {
  return details(errors)
    .slice(0, 5)
    .map((d) => `${d.path} ${d.message}`)
    .join('; ')
}
