import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { CheckFailure } from './assert.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

/** JSON Schemas (draft 2020-12) a suite validates the target's messages against, by `$id`. */
export interface SchemaSet {
  /** `undefined` when valid, else every problem on one line. */
  problems(schemaId: string, value: unknown): string | undefined
  /** Fail the check unless `value` is valid; `what` names the message (`POST /v1/intents body`). */
  expect(schemaId: string, value: unknown, what: string): void
}

/**
 * Compile schemas (each with an `$id`; relative `$ref`s resolve against it). Lenient on
 * unknown keywords (`strict: false`): specs carry vendor annotations.
 */
export function createSchemaSet(schemas: readonly object[]): SchemaSet {
  const ajv = new Ajv2020({ allErrors: true, strict: false, allowUnionTypes: true })
  addFormats(ajv)
  for (const s of schemas) ajv.addSchema(s)
  const compiled = new Map<string, ValidateFunction>()
  const get = (id: string): ValidateFunction => {
    let v = compiled.get(id)
    if (!v) {
      v = ajv.getSchema(id)
      if (!v) throw new Error(`no schema ${id}`)
      compiled.set(id, v)
    }
    return v
  }
  const set: SchemaSet = {
    problems(id, value) {
      const v = get(id)
      return v(value) ? undefined : describe(v.errors ?? [])
    },
    expect(id, value, what) {
      const p = set.problems(id, value)
      if (p !== undefined) throw new CheckFailure(`${what} does not match ${id.split('/').pop()}: ${p}`)
    },
  }
  return set
}

function describe(errors: readonly ErrorObject[]): string {
  const lines = errors.slice(0, 5).map((e) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}${e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : ''}`)
  return lines.join('; ') + (errors.length > 5 ? `; and ${errors.length - 5} more` : '')
}
