import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromRoot } from '../util/paths.js'
import { terminalStatuses, transition } from './transition.js'
import type { IntentStatus } from './types.js'

/*
 * The expected state machine, written out by hand from DESIGN §2 (not derived from `transitions`),
 * so that a change to transition.ts that is not also made here fails.
 */
const STATUSES = [
  'created',
  'requires_approval',
  'authorized',
  'processing',
  'succeeded',
  'failed',
  'canceled',
  'partially_refunded',
  'refunded',
] as const satisfies readonly IntentStatus[]

const EVENTS = [
  'require_approval',
  'authorize',
  'decline',
  'start_processing',
  'succeed',
  'fail',
  'cancel',
  'refund_partial',
  'refund_full',
] as const

type Event = (typeof EVENTS)[number]

/** The only legal moves: `[from, event, to]`. Every other (status, event) pair is illegal. */
const LEGAL: ReadonlyArray<readonly [IntentStatus, Event, IntentStatus]> = [
  ['created', 'require_approval', 'requires_approval'],
  ['created', 'authorize', 'authorized'],
  ['created', 'decline', 'failed'],
  ['created', 'cancel', 'canceled'],
  ['requires_approval', 'authorize', 'authorized'],
  ['requires_approval', 'decline', 'failed'],
  ['requires_approval', 'cancel', 'canceled'],
  ['authorized', 'start_processing', 'processing'],
  ['authorized', 'fail', 'failed'],
  ['authorized', 'cancel', 'canceled'],
  ['processing', 'succeed', 'succeeded'],
  ['processing', 'fail', 'failed'],
  ['succeeded', 'refund_partial', 'partially_refunded'],
  ['succeeded', 'refund_full', 'refunded'],
  ['partially_refunded', 'refund_partial', 'partially_refunded'],
  ['partially_refunded', 'refund_full', 'refunded'],
]

const TERMINAL: readonly IntentStatus[] = ['failed', 'canceled', 'refunded']

const expectedTo = new Map(LEGAL.map(([from, event, to]) => [`${from} ${event}`, to]))

const ALL_PAIRS = STATUSES.flatMap((status) =>
  EVENTS.map((event) => [status, event, expectedTo.get(`${status} ${event}`) ?? null] as const),
)

function schemaEnum(file: string): string[] {
  return (JSON.parse(readFileSync(fromRoot('schemas', 'canonical', file), 'utf8')) as { enum: string[] }).enum
}

describe('the expected table itself', () => {
  it('covers exactly the statuses and events of the canonical schemas', () => {
    expect([...STATUSES].sort()).toEqual(schemaEnum('intent-status.json').sort())
    // `create` opens the chain and `annotate` changes nothing: neither is a transition input.
    expect([...EVENTS].sort()).toEqual(schemaEnum('intent-event-type.json').filter((e) => e !== 'create' && e !== 'annotate').sort())
  })

  it('has 81 pairs, 16 of them legal', () => {
    expect(ALL_PAIRS).toHaveLength(81)
    expect(ALL_PAIRS.filter(([, , to]) => to !== null)).toHaveLength(16)
  })
})

describe('transition(status, event) for every pair', () => {
  it.each(ALL_PAIRS)('%s + %s → %s', (from, event, to) => {
    const result = transition(from, event)
    if (to === null) expect(result).toEqual({ ok: false, from, event, reason: 'illegal_transition' })
    else expect(result).toEqual({ ok: true, from, to })
  })
})

describe('unknown events', () => {
  const unknown = ['create', 'annotate', '', 'AUTHORIZE', 'authorize ', 'refund', 'toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf']
  it.each(STATUSES.flatMap((s) => unknown.map((e) => [s, e] as const)))('%s + %j is unknown_event', (from, event) => {
    expect(transition(from, event)).toEqual({ ok: false, from, event, reason: 'unknown_event' })
  })

  it('property: any string that is not an event name is unknown_event, from any status, without throwing', () => {
    fc.assert(
      fc.property(fc.constantFrom(...STATUSES), fc.string(), (from, event) => {
        fc.pre(!(EVENTS as readonly string[]).includes(event))
        expect(transition(from, event)).toEqual({ ok: false, from, event, reason: 'unknown_event' })
      }),
      { numRuns: 300 },
    )
  })
})

describe('terminal statuses', () => {
  it('are exactly failed, canceled and refunded', () => {
    expect([...terminalStatuses].sort()).toEqual([...TERMINAL].sort())
  })

  it.each(TERMINAL.flatMap((s) => EVENTS.map((e) => [s, e] as const)))('%s accepts no event (%s)', (from, event) => {
    const result = transition(from, event)
    expect(result.ok).toBe(false)
  })

  it('a status is terminal exactly when no event leaves it', () => {
    for (const status of STATUSES) {
      const leaves = EVENTS.some((e) => transition(status, e).ok)
      expect(leaves, status).toBe(!TERMINAL.includes(status))
    }
  })

  it('every status is reachable from created', () => {
    const seen = new Set<IntentStatus>(['created'])
    const queue: IntentStatus[] = ['created']
    while (queue.length > 0) {
      const from = queue.shift()!
      for (const e of EVENTS) {
        const r = transition(from, e)
        if (r.ok && !seen.has(r.to)) {
          seen.add(r.to)
          queue.push(r.to)
        }
      }
    }
    expect([...seen].sort()).toEqual([...STATUSES].sort())
  })
})
