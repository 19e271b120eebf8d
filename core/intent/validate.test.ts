import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors/gatewayError.js'
import { exampleIntent } from './exampleIntent.js'
import { createCanonicalValidator, toSchemaProblems, type CanonicalValidator } from './validate.js'

// Annotated: TypeScript needs an explicit type to call assertion methods.
const validator: CanonicalValidator = createCanonicalValidator()

describe('createCanonicalValidator', () => {
  it('validateIntent accepts the example intent', () => {
    expect(validator.validateIntent(exampleIntent())).toEqual({ ok: true })
  })

  it('validateIntent reports every problem as { path, message } with JSON Pointers', () => {
    const intent = exampleIntent() as unknown as Record<string, unknown> & { amount: Record<string, unknown> }
    intent.amount['value'] = 19.99
    intent.amount['decimals'] = 2
    delete intent['status']
    intent['extra'] = true
    const result = validator.validateIntent(intent)
    expect(result.ok).toBe(false)
    if (result.ok) return
    expect(result.errors).toEqual(
      expect.arrayContaining([
        { path: '/status', message: 'is required' },
        { path: '/extra', message: 'is not allowed (unknown property)' },
        { path: '/amount/decimals', message: 'is not allowed (unknown property)' },
        { path: '/amount/value', message: 'must be string' },
      ]),
    )
    expect(result.errors).toHaveLength(4)
  })

  it('validateIntent refuses non-objects without throwing', () => {
    for (const x of [null, undefined, 42, 'pi_1', []]) {
      const r = validator.validateIntent(x)
      expect(r.ok).toBe(false)
    }
  })

  it('assertIntent throws GW_SCHEMA_INVALID naming the first problem, with all problems in details', () => {
    const intent = exampleIntent() as unknown as Record<string, unknown>
    delete intent['amount']
    delete intent['payer']
    let thrown: unknown
    try {
      validator.assertIntent(intent)
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(GatewayError)
    const e = thrown as GatewayError
    expect(e.code).toBe('GW_SCHEMA_INVALID')
    expect(e.message).toBe('payment intent is invalid: /payer is required (and 1 more)')
    expect(e.details).toEqual([
      { path: '/payer', message: 'is required' },
      { path: '/amount', message: 'is required' },
    ])
  })

  it('assertIntent narrows a valid value and returns nothing', () => {
    const x: unknown = exampleIntent()
    validator.assertIntent(x)
    expect(x.amount.asset).toBe('eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913')
  })

  it.each([
    [{ value: '1999', asset: 'iso4217:USD' }, true],
    [{ value: '0', asset: 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' }, true],
    [{ value: '9'.repeat(78), asset: 'iso4217:JPY' }, true],
    [{ value: '9'.repeat(79), asset: 'iso4217:JPY' }, false],
    [{ value: '19.99', asset: 'iso4217:USD' }, false],
    [{ value: 1999, asset: 'iso4217:USD' }, false],
    [{ value: '1999', asset: 'USD' }, false],
    [{ value: '1999', asset: 'iso4217:usd' }, false],
    [{ value: '1999' }, false],
    [{ value: '1999', asset: 'iso4217:USD', decimals: 2 }, false],
  ])('validateMoney(%j) ok=%s', (money, ok) => {
    expect(validator.validateMoney(money).ok).toBe(ok)
  })

  it('assertMoney throws GW_SCHEMA_INVALID', () => {
    expect(() => validator.assertMoney({ value: '1.5', asset: 'iso4217:USD' })).toThrow(
      'money is invalid: /value must match pattern "^(0|[1-9][0-9]{0,77})$"',
    )
  })

  it('validate() reaches any canonical schema by file name and refuses unknown names', () => {
    expect(validator.validate('intent-status.json', 'processing')).toEqual({ ok: true })
    expect(validator.validate('intent-status.json', 'paid').ok).toBe(false)
    expect(() => validator.validate('nope.json', {})).toThrow('no canonical schema named nope.json')
  })
})

describe('toSchemaProblems', () => {
  it('escapes "/" and "~" in member names as JSON Pointer does', () => {
    expect(
      toSchemaProblems([
        { instancePath: '/metadata', keyword: 'additionalProperties', params: { additionalProperty: 'a/b~c' }, schemaPath: '#', message: 'x' },
      ]),
    ).toEqual([{ path: '/metadata/a~1b~0c', message: 'is not allowed (unknown property)' }])
    expect(toSchemaProblems(null)).toEqual([])
  })
})
