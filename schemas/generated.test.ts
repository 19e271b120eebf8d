import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { describe, expect, it } from 'vitest'
import { exampleIntent } from '../core/intent/exampleIntent.js'
import { CANONICAL_SCHEMA_BASE, loadCanonicalSchemas } from '../core/intent/validate.js'
import { fromRoot } from '../core/util/paths.js'
import { generateAll } from '../scripts/genLib.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

describe('generated types do not drift from the schemas', () => {
  it('every generated file equals the committed file byte for byte', async () => {
    const generated = await generateAll()
    expect(Object.keys(generated).length).toBeGreaterThan(0)
    for (const [path, content] of Object.entries(generated)) {
      const committed = readFileSync(fromRoot(path), 'utf8')
      // toBe on strings is a byte-for-byte comparison, and shows the diff when it fails.
      expect(committed, `${path} differs from what the schemas generate: run npm run gen`).toBe(content)
    }
  })
})

describe('canonical schemas', () => {
  const schemas = loadCanonicalSchemas()

  /** A fresh strict ajv 2020-12 instance holding every canonical schema under its $id. */
  function strictAjv(): Ajv2020 {
    const ajv = new Ajv2020({ strict: true, allErrors: true })
    addFormats(ajv)
    for (const { schema } of schemas) ajv.addSchema(schema)
    return ajv
  }

  it('are all present, each with the draft 2020-12 dialect and an $id equal to base + file name', () => {
    expect(schemas.map((s) => s.file)).toEqual(
      expect.arrayContaining(['asset-id.json', 'audit-event.json', 'error-code.json', 'intent-status.json', 'money.json', 'payment-intent.json']),
    )
    for (const { file, schema } of schemas) {
      expect(schema['$schema'], file).toBe('https://json-schema.org/draft/2020-12/schema')
      expect(schema['$id'], file).toBe(CANONICAL_SCHEMA_BASE + file)
    }
  })

  it.each(schemas.map((s) => s.file))('%s compiles with ajv 2020 in strict mode, refs resolved by $id', (file) => {
    const ajv = strictAjv()
    const validate = ajv.getSchema(CANONICAL_SCHEMA_BASE + file)
    expect(validate).toBeTypeOf('function')
  })

  it('every $ref is a relative file name that resolves to a canonical schema', () => {
    const files = new Set(schemas.map((s) => s.file))
    const refs: string[] = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (k === '$ref' && typeof v === 'string') refs.push(v)
          else walk(v)
        }
      }
    }
    for (const { schema } of schemas) walk(schema)
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of refs) {
      expect(ref).toMatch(/^[a-z0-9-]+\.json$/)
      expect(files.has(ref), ref).toBe(true)
    }
  })

  it('a schema with an unknown keyword is refused in strict mode (so strictness is really on)', () => {
    const ajv = strictAjv()
    expect(() => ajv.compile({ type: 'string', minLenght: 1 })).toThrow(/unknown keyword: "minLenght"/)
  })

  describe('payment-intent.json', () => {
    const validate = strictAjv().getSchema(CANONICAL_SCHEMA_BASE + 'payment-intent.json')!

    it('accepts the example intent', () => {
      const ok = validate(exampleIntent())
      expect(validate.errors ?? []).toEqual([])
      expect(ok).toBe(true)
    })

    it('accepts a minimal intent (required members only)', () => {
      const { id, merchant_id, created_at, updated_at, agent_initiated, origin, payer, amount, instrument, authorization, status, version } =
        exampleIntent()
      expect(validate({ id, merchant_id, created_at, updated_at, agent_initiated, origin, payer, amount, instrument, authorization, status, version })).toBe(true)
    })

    it('refuses a float amount', () => {
      const intent = exampleIntent() as unknown as { amount: { value: unknown } }
      intent.amount.value = 19.99
      expect(validate(intent)).toBe(false)
      expect(validate.errors).toContainEqual(expect.objectContaining({ instancePath: '/amount/value', keyword: 'type' }))
    })

    it.each(['19.99', '1e3', '-5', '007', ' 1', ''])('refuses the amount string %j', (value) => {
      const intent = exampleIntent()
      intent.amount.value = value
      expect(validate(intent)).toBe(false)
      expect(validate.errors).toContainEqual(expect.objectContaining({ instancePath: '/amount/value', keyword: 'pattern' }))
    })

    it.each(['id', 'amount', 'status', 'version', 'agent_initiated', 'instrument'] as const)('refuses a missing %s', (field) => {
      const intent = exampleIntent() as unknown as Record<string, unknown>
      delete intent[field]
      expect(validate(intent)).toBe(false)
      expect(validate.errors).toContainEqual(expect.objectContaining({ keyword: 'required', params: { missingProperty: field } }))
    })

    it('refuses an unknown property, at the top and nested', () => {
      const top = { ...exampleIntent(), amount_float: 19.99 }
      expect(validate(top)).toBe(false)
      expect(validate.errors).toContainEqual(
        expect.objectContaining({ keyword: 'additionalProperties', params: { additionalProperty: 'amount_float' } }),
      )
      const nested = exampleIntent() as unknown as { amount: Record<string, unknown> }
      nested.amount['decimals'] = 2
      expect(validate(nested)).toBe(false)
      expect(validate.errors).toContainEqual(
        expect.objectContaining({ instancePath: '/amount', keyword: 'additionalProperties', params: { additionalProperty: 'decimals' } }),
      )
    })

    it('refuses a bad date-time, an unknown status and agent_initiated: false', () => {
      expect(validate({ ...exampleIntent(), created_at: '21/11/2026' })).toBe(false)
      expect(validate({ ...exampleIntent(), status: 'paid' })).toBe(false)
      expect(validate({ ...exampleIntent(), agent_initiated: false })).toBe(false)
    })
  })
})
