import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import { fromRoot } from '../../../core/util/paths.js'

const ID = 'https://agentswitch.dev/schemas/x402/x402.json'

/** The x402 shapes of `schemas/x402.schema.json` (`$defs`), by name. */
export type X402Shape = 'payloadV1' | 'payloadV2' | 'requirementsV1' | 'requirementsV2' | 'exactEvmPayload' | 'facilitatorRequest'

let compiled: Map<X402Shape, ValidateFunction> | undefined

function validators(): Map<X402Shape, ValidateFunction> {
  if (compiled) return compiled
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true })
  ajv.addSchema(JSON.parse(readFileSync(fromRoot('adapters', 'protocols', 'x402', 'schemas', 'x402.schema.json'), 'utf8')) as object)
  const names: X402Shape[] = ['payloadV1', 'payloadV2', 'requirementsV1', 'requirementsV2', 'exactEvmPayload', 'facilitatorRequest']
  compiled = new Map(names.map((n) => [n, ajv.getSchema(`${ID}#/$defs/${n}`)!]))
  return compiled
}

/**
 * Check `value` against one x402 shape (compiled once per process). Returns `undefined` when it
 * matches, else the problems as `path: message` (at most five), for `invalidMessage`.
 */
export function shapeProblems(shape: X402Shape, value: unknown): string | undefined {
  const v = validators().get(shape)!
  if (v(value)) return undefined
  return describe(v.errors ?? [])
}

function describe(errors: ErrorObject[]): string {
  const lines = [...new Set(errors.map((e) => `${e.instancePath || '/'}: ${e.message ?? 'is invalid'}`))]
  return lines.slice(0, 5).join('; ')
}
