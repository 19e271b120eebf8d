import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ErrorObject, type Options, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { GatewayError } from '../errors/gatewayError.js'
import { fromRoot } from '../util/paths.js'
import type { Money, PaymentIntent } from './types.js'

// ajv-formats is CommonJS with `module.exports = plugin`; under NodeNext its default import is that function.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** `$id` base of every canonical schema; `$ref`s are file names resolved against it. */
export const CANONICAL_SCHEMA_BASE = 'https://agentswitch.dev/schemas/canonical/'

/** One schema violation: a JSON Pointer to the offending member and what is wrong with it. */
export interface SchemaProblem {
  /** JSON Pointer into the validated value (`/amount/value`; `''` for the root). */
  path: string
  /** What is wrong, in words (`must match pattern "^(0|[1-9][0-9]{0,77})$"`). */
  message: string
}

/** Result of a `validateX` call: never throws. */
export type SchemaValidationResult = { ok: true } | { ok: false; errors: SchemaProblem[] }

/** The compiled canonical validators. */
export interface CanonicalValidator {
  /** Throws `GW_SCHEMA_INVALID` (details: the problems) unless `x` is a valid {@link PaymentIntent}. */
  assertIntent(x: unknown): asserts x is PaymentIntent
  /** Validate a payment intent against `payment-intent.json`. */
  validateIntent(x: unknown): SchemaValidationResult
  /** Throws `GW_SCHEMA_INVALID` unless `x` is a valid {@link Money}. */
  assertMoney(x: unknown): asserts x is Money
  /** Validate a money object against `money.json`. */
  validateMoney(x: unknown): SchemaValidationResult
  /** Validate against any canonical schema by file name (`audit-event.json`). Unknown names throw. */
  validate(schemaFile: string, x: unknown): SchemaValidationResult
}

/** Every canonical schema, parsed, in file-name order. */
export function loadCanonicalSchemas(): Array<{ file: string; schema: Record<string, unknown> }> {
  const dir = fromRoot('schemas', 'canonical')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, schema: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown> }))
}

/**
 * A fresh ajv 2020-12 instance in strict mode, with formats, holding every canonical schema by its
 * `$id`. Exported so tests and tooling compile exactly what the gateway compiles.
 */
export function createCanonicalAjv(options: Partial<Options> = {}): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true, ...options })
  addFormats(ajv)
  for (const { file, schema } of loadCanonicalSchemas()) {
    if (schema['$id'] !== CANONICAL_SCHEMA_BASE + file)
      throw new GatewayError('GW_INTERNAL', `schemas/canonical/${file} must have $id ${CANONICAL_SCHEMA_BASE + file}`)
    ajv.addSchema(schema)
  }
  return ajv
}

/** ajv errors as `{ path, message }`, naming the missing or extra member in the path. */
export function toSchemaProblems(errors: readonly ErrorObject[] | null | undefined): SchemaProblem[] {
  return (errors ?? []).map((e) => {
    const params = e.params as Record<string, unknown>
    let path = e.instancePath
    if (e.keyword === 'required' && typeof params['missingProperty'] === 'string')
      path += `/${escapePointer(params['missingProperty'])}`
    if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string')
      path += `/${escapePointer(params['additionalProperty'])}`
    const message =
      e.keyword === 'additionalProperties' ? 'is not allowed (unknown property)' : e.keyword === 'required' ? 'is required' : (e.message ?? e.keyword)
    return { path, message }
  })
}

/** `GW_SCHEMA_INVALID` naming the first problem; every problem goes in `details`. */
function schemaError(what: string, errors: SchemaProblem[]): GatewayError {
  const first = errors[0]
  const head = first === undefined ? 'unknown problem' : `${first.path || '(root)'} ${first.message}`
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''
  return new GatewayError('GW_SCHEMA_INVALID', `${what} is invalid: ${head}${more}`, { details: errors })
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1')
}

/**
 * Compile the canonical schemas once and return validators for them. Build one at startup and
 * pass it where needed (no module-level singleton).
 *
 * @example
 * const v = createCanonicalValidator()
 * v.validateMoney({ value: '19.99', asset: 'iso4217:USD' }) // { ok: false, errors: [{ path: '/value', … }] }
 */
export function createCanonicalValidator(): CanonicalValidator {
  const ajv = createCanonicalAjv()
  const compiled = new Map<string, ValidateFunction>()
  const getValidator = (file: string): ValidateFunction => {
    let fn = compiled.get(file)
    if (fn === undefined) {
      fn = ajv.getSchema(CANONICAL_SCHEMA_BASE + file)
      if (fn === undefined) throw new GatewayError('GW_INTERNAL', `no canonical schema named ${file}`)
      compiled.set(file, fn)
    }
    return fn
  }
  const run = (file: string, x: unknown): SchemaValidationResult => {
    const fn = getValidator(file)
    return fn(x) ? { ok: true } : { ok: false, errors: toSchemaProblems(fn.errors) }
  }
  // Compile the hot ones now, so a broken schema fails at startup rather than on the first request.
  getValidator('payment-intent.json')
  getValidator('money.json')

  return {
    assertIntent(x: unknown): asserts x is PaymentIntent {
      const r = run('payment-intent.json', x)
      if (!r.ok) throw schemaError('payment intent', r.errors)
    },
    validateIntent: (x) => run('payment-intent.json', x),
    assertMoney(x: unknown): asserts x is Money {
      const r = run('money.json', x)
      if (!r.ok) throw schemaError('money', r.errors)
    },
    validateMoney: (x) => run('money.json', x),
    validate: run,
  }
}
