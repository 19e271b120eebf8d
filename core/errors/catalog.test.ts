import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../util/paths.js'
import { errorCatalog, errorCodes, isErrorCode, type GatewayErrorBody } from './catalog.js'
import { GatewayError, isGatewayError } from './gatewayError.js'

interface DocRow {
  code: string
  httpStatus: number
  retryable: boolean
  title: string
  when: string
  what: string
}

/** The rows of the table in docs/errors.md (lines starting with "| `GW_"). */
function docRows(): DocRow[] {
  const md = readFileSync(fromRoot('docs', 'errors.md'), 'utf8')
  return md
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => {
      const cells = line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim())
      expect(cells, line).toHaveLength(6)
      const [code, status, retryable, title, when, what] = cells as [string, string, string, string, string, string]
      expect(code, line).toMatch(/^`GW_[A-Z_]+`$/)
      expect(retryable, line).toMatch(/^(yes|no)$/)
      return { code: code.slice(1, -1), httpStatus: Number(status), retryable: retryable === 'yes', title, when, what }
    })
}

const schemaCodes = (JSON.parse(readFileSync(fromRoot('schemas', 'canonical', 'error-code.json'), 'utf8')) as { enum: string[] }).enum

describe('the error catalogue is in sync with docs/errors.md and schemas/canonical/error-code.json', () => {
  const rows = docRows()
  const docCodes = rows.map((r) => r.code)

  it('has no duplicate codes anywhere', () => {
    expect(new Set(docCodes).size).toBe(docCodes.length)
    expect(new Set(schemaCodes).size).toBe(schemaCodes.length)
    expect(new Set(errorCodes).size).toBe(errorCodes.length)
  })

  it('every catalogue code is documented and in the schema enum', () => {
    expect(errorCodes.filter((c) => !docCodes.includes(c)), 'missing from docs/errors.md').toEqual([])
    expect(errorCodes.filter((c) => !schemaCodes.includes(c)), 'missing from error-code.json').toEqual([])
  })

  it('every documented code and every schema code is in the catalogue (nothing stale)', () => {
    expect(docCodes.filter((c) => !isErrorCode(c)), 'stale in docs/errors.md').toEqual([])
    expect(schemaCodes.filter((c) => !isErrorCode(c)), 'stale in error-code.json').toEqual([])
  })

  it('the three lists are the same set, in the same order', () => {
    expect(docCodes).toEqual(errorCodes)
    expect(schemaCodes).toEqual(errorCodes)
  })

  it('each docs row repeats the catalogue status, retryability and title, and says when and what to do', () => {
    for (const row of rows) {
      const entry = errorCatalog[row.code as keyof typeof errorCatalog]
      expect({ code: row.code, httpStatus: row.httpStatus, retryable: row.retryable, title: row.title }).toEqual({
        code: row.code,
        httpStatus: entry.httpStatus,
        retryable: entry.retryable,
        title: entry.title,
      })
      expect(row.when.length, `${row.code}: "when it happens" is empty`).toBeGreaterThan(20)
      expect(row.what.length, `${row.code}: "what to do" is empty`).toBeGreaterThan(20)
    }
  })

  it('every status is an HTTP error status (4xx or 5xx), and 5xx codes are retryable except a broken configuration', () => {
    // A misconfigured gateway answers the same way until an operator fixes it: retrying cannot help.
    const notRetryable5xx = new Set(['GW_CONFIG_INVALID'])
    for (const code of errorCodes) {
      const { httpStatus, retryable } = errorCatalog[code]
      expect(Number.isInteger(httpStatus), code).toBe(true)
      expect(httpStatus >= 400 && httpStatus <= 599, `${code}: ${httpStatus}`).toBe(true)
      if (httpStatus >= 500) expect(retryable, code).toBe(!notRetryable5xx.has(code))
    }
  })

  it('codes are GW_SCREAMING_SNAKE and titles are short sentences without a final period', () => {
    for (const code of errorCodes) {
      expect(code).toMatch(/^GW_[A-Z]+(_[A-Z]+)*$/)
      const { title } = errorCatalog[code]
      expect(title.length, code).toBeLessThanOrEqual(80)
      expect(title, code).toMatch(/^[A-Z].*[^.]$/)
    }
  })
})

describe('isErrorCode', () => {
  it('accepts catalogue codes only, not inherited object members', () => {
    expect(isErrorCode('GW_NOT_FOUND')).toBe(true)
    expect(isErrorCode('gw_not_found')).toBe(false)
    expect(isErrorCode('toString')).toBe(false)
    expect(isErrorCode('__proto__')).toBe(false)
    expect(isErrorCode('')).toBe(false)
  })
})

/** The wire body of the gateway's own API for an error, as the single error handler renders it. */
function toBody(e: GatewayError, requestId?: string): GatewayErrorBody {
  return {
    error: {
      code: e.code,
      title: e.entry.title,
      message: e.message,
      retryable: e.retryable,
      ...(requestId === undefined ? {} : { request_id: requestId }),
      ...(e.details === undefined ? {} : { details: e.details }),
    },
  }
}

describe('GatewayError', () => {
  it('takes status, retryability and title from the catalogue', () => {
    const e = new GatewayError('GW_RAIL_TIMEOUT', 'alipay.trade.pay did not answer within 10000 ms')
    expect(e.httpStatus).toBe(504)
    expect(e.retryable).toBe(true)
    expect(e.entry).toBe(errorCatalog.GW_RAIL_TIMEOUT)
    expect(e).toBeInstanceOf(Error)
    expect(e.name).toBe('GatewayError')
  })

  it('renders as its name and message', () => {
    const e = new GatewayError('GW_NOT_FOUND', 'no intent pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F')
    expect(e).toMatchInlineSnapshot(`[GatewayError: no intent pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F]`)
    expect(String(e)).toMatchInlineSnapshot(`"GatewayError: no intent pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F"`)
    expect(e.stack?.split('\n')[0]).toBe('GatewayError: no intent pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F')
  })

  it('renders the wire body of the gateway API', () => {
    const e = new GatewayError('GW_SCHEMA_INVALID', 'payment intent is invalid: /amount/value must match pattern "^(0|[1-9][0-9]{0,77})$"', {
      details: [{ path: '/amount/value', message: 'must match pattern "^(0|[1-9][0-9]{0,77})$"' }],
    })
    expect(toBody(e, 'req_1')).toMatchInlineSnapshot(`
      {
        "error": {
          "code": "GW_SCHEMA_INVALID",
          "details": [
            {
              "message": "must match pattern "^(0|[1-9][0-9]{0,77})$"",
              "path": "/amount/value",
            },
          ],
          "message": "payment intent is invalid: /amount/value must match pattern "^(0|[1-9][0-9]{0,77})$"",
          "request_id": "req_1",
          "retryable": false,
          "title": "The request body does not match the schema",
        },
      }
    `)
  })

  it('keeps the cause for logs but never in the rendered body', () => {
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432 (password=hunter2)')
    const e = new GatewayError('GW_STORE_UNAVAILABLE', 'the store did not answer', { cause, headers: { 'Retry-After': '1' } })
    expect(e.cause).toBe(cause)
    expect(e.headers).toEqual({ 'Retry-After': '1' })
    expect(JSON.stringify(toBody(e))).not.toContain('hunter2')
    expect(toBody(e)).toMatchInlineSnapshot(`
      {
        "error": {
          "code": "GW_STORE_UNAVAILABLE",
          "message": "the store did not answer",
          "retryable": true,
          "title": "The store is unavailable",
        },
      }
    `)
  })

  it('has no cause and no headers unless given', () => {
    const e = new GatewayError('GW_REPLAY', 'nonce 0xabc was already used')
    expect(e.cause).toBeUndefined()
    expect(e.headers).toBeUndefined()
    expect(e.details).toBeUndefined()
    expect('cause' in e).toBe(false)
  })

  it('isGatewayError recognises instances and copies from another module instance, not look-alikes', () => {
    expect(isGatewayError(new GatewayError('GW_INTERNAL', 'x'))).toBe(true)
    const copy = Object.assign(new Error('x'), { name: 'GatewayError', code: 'GW_INTERNAL' })
    expect(isGatewayError(copy)).toBe(true)
    expect(isGatewayError(Object.assign(new Error('x'), { name: 'GatewayError' }))).toBe(false)
    expect(isGatewayError({ name: 'GatewayError', code: 'GW_INTERNAL', message: 'x' })).toBe(false)
    expect(isGatewayError(new Error('GW_INTERNAL'))).toBe(false)
    expect(isGatewayError(null)).toBe(false)
  })
})
