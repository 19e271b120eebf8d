import { describe, expect, it } from 'vitest'
import { classifyTransportCode, DEFAULT_MAX_SEND_ATTEMPTS, shouldFailover, shouldRetry, type AttemptResult } from './rules.js'

const succeeded: AttemptResult = { kind: 'succeeded' }
const declined: AttemptResult = { kind: 'declined', code: 'ACQ.BUYER_BALANCE_NOT_ENOUGH' }
const refused: AttemptResult = { kind: 'not_sent', cause: 'refused' }
const breakerOpen: AttemptResult = { kind: 'not_sent', cause: 'breaker_open' }
const unknown: AttemptResult = { kind: 'unknown', code: 'timeout' }
const notProcessed: AttemptResult = { kind: 'not_processed' }
const unresolved: AttemptResult = { kind: 'unresolved', code: 'http_503' }

describe('shouldRetry: one rule per outcome', () => {
  it('a success is never sent again', () => {
    expect(shouldRetry(succeeded, 1, 5)).toBe(false)
  })
  it('a decline is never sent again', () => {
    expect(shouldRetry(declined, 1, 5)).toBe(false)
  })
  it('an unknown outcome is never retried blind (query first)', () => {
    expect(shouldRetry(unknown, 1, 5)).toBe(false)
  })
  it('an outcome the query could not resolve is left to reconciliation', () => {
    expect(shouldRetry(unresolved, 1, 5)).toBe(false)
  })
  it('nothing sent: retried within the attempt budget only', () => {
    expect(shouldRetry(refused, 1, 2)).toBe(true)
    expect(shouldRetry(breakerOpen, 1, 2)).toBe(true)
    expect(shouldRetry(refused, 2, 2)).toBe(false)
  })
  it('a query that proved nothing moved allows the same key again, within the budget', () => {
    expect(shouldRetry(notProcessed, 1)).toBe(true)
    expect(shouldRetry(notProcessed, DEFAULT_MAX_SEND_ATTEMPTS)).toBe(false)
  })
})

describe('shouldFailover: one rule per outcome', () => {
  it('a success never fails over', () => {
    expect(shouldFailover(succeeded)).toBe(false)
    expect(shouldFailover(succeeded, 'rail')).toBe(false)
  })
  it('a decline never fails over, to an endpoint or to a rail', () => {
    expect(shouldFailover(declined, 'endpoint')).toBe(false)
    expect(shouldFailover(declined, 'rail')).toBe(false)
  })
  it('an unknown outcome is reconciled first, never failed over as is', () => {
    expect(shouldFailover(unknown, 'endpoint')).toBe(false)
    expect(shouldFailover(unknown, 'rail')).toBe(false)
  })
  it('an unresolved query keeps the payment where it is', () => {
    expect(shouldFailover(unresolved, 'endpoint')).toBe(false)
    expect(shouldFailover(unresolved, 'rail')).toBe(false)
  })
  it('connection refused / breaker open before send fails over anywhere that settles the instrument', () => {
    expect(shouldFailover(refused, 'endpoint')).toBe(true)
    expect(shouldFailover(breakerOpen, 'rail')).toBe(true)
  })
  it('a definite "not processed" fails over to another endpoint of the same account, not to another rail', () => {
    expect(shouldFailover(notProcessed, 'endpoint')).toBe(true)
    expect(shouldFailover(notProcessed, 'rail')).toBe(false)
  })
})

describe('classifyTransportCode', () => {
  it('connect-phase errors sent nothing; everything else is unknown', () => {
    expect(classifyTransportCode('ECONNREFUSED')).toEqual({ kind: 'not_sent', cause: 'refused' })
    expect(classifyTransportCode('UND_ERR_CONNECT_TIMEOUT')).toEqual({ kind: 'not_sent', cause: 'refused' })
    expect(classifyTransportCode('GW_RAIL_UNAVAILABLE')).toEqual({ kind: 'not_sent', cause: 'unavailable' })
    expect(classifyTransportCode('ECONNRESET')).toEqual({ kind: 'unknown', code: 'ECONNRESET' })
    expect(classifyTransportCode('timeout')).toEqual({ kind: 'unknown', code: 'timeout' })
    expect(classifyTransportCode('http_503')).toEqual({ kind: 'unknown', code: 'http_503' })
  })
})
