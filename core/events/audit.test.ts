import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { AuditEvent, IntentEventType, IntentStatus } from '../intent/types.js'
import { GENESIS_HASH, hashAuditEvent, sealAuditEvent, verifyAuditChain, type UnhashedAuditEvent } from './audit.js'

const INTENT = 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F'

const STEPS: ReadonlyArray<[IntentEventType, IntentStatus | null, IntentStatus, string]> = [
  ['create', null, 'created', 'agent:a1'],
  ['require_approval', 'created', 'requires_approval', 'system:policy'],
  ['authorize', 'requires_approval', 'authorized', 'merchant:m1'],
  ['start_processing', 'authorized', 'processing', 'system:router'],
  ['succeed', 'processing', 'succeeded', 'system:rail.alipay'],
]

/** A sealed chain of five events, built the way the store builds it. */
function buildChain(): AuditEvent[] {
  const events: AuditEvent[] = []
  let prev = GENESIS_HASH
  STEPS.forEach(([type, from, to, actor], i) => {
    const e = sealAuditEvent({
      intent_id: INTENT,
      seq: i + 1,
      type,
      actor,
      reason: i === 1 ? 'over_auto_approve_limit' : 'ok',
      from_status: from,
      to_status: to,
      at: `2026-11-21T12:00:0${i}.000Z`,
      data: { step: i, amount: { value: '1999', asset: 'iso4217:USD' }, tags: ['a', 'b'] },
      prev_hash: prev,
    })
    events.push(e)
    prev = e.hash
  })
  return events
}

const chain = buildChain()
const last = chain[4]!
const intentRow = { intentId: INTENT, head: last.hash, seq: 5, status: 'succeeded' }

/** A deep copy with one top-level field of one event replaced (hash kept as it was). */
function withField(events: readonly AuditEvent[], index: number, field: keyof AuditEvent, value: unknown): AuditEvent[] {
  const copy = structuredClone(events) as AuditEvent[]
  ;(copy[index] as unknown as Record<string, unknown>)[field] = value
  return copy
}

describe('verifyAuditChain: an untouched chain', () => {
  it('verifies, alone and against the intent row', () => {
    expect(verifyAuditChain(chain)).toEqual({ valid: true, length: 5, head: last.hash })
    expect(verifyAuditChain(chain, intentRow)).toEqual({ valid: true, length: 5, head: last.hash })
  })

  it('starts at the genesis hash and links every event to the previous one', () => {
    expect(GENESIS_HASH).toBe('0'.repeat(64))
    expect(chain[0]!.prev_hash).toBe(GENESIS_HASH)
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.prev_hash).toBe(chain[i - 1]!.hash)
    expect(new Set(chain.map((e) => e.hash)).size).toBe(5)
    for (const e of chain) expect(e.hash).toMatch(/^[0-9a-f]{64}$/)
  })

  it('an empty chain is not valid', () => {
    expect(verifyAuditChain([])).toEqual({ valid: false, problem: 'no events' })
  })
})

describe('verifyAuditChain: editing any field of any event is detected', () => {
  const edits: ReadonlyArray<[keyof AuditEvent, (e: AuditEvent) => unknown]> = [
    ['type', (e) => (e.type === 'fail' ? 'succeed' : 'fail')],
    ['actor', () => 'admin:mallory'],
    ['reason', () => 'edited'],
    ['at', () => '2030-01-01T00:00:00.000Z'],
    ['data', (e) => ({ ...e.data, amount: { value: '1', asset: 'iso4217:USD' } })],
    ['from_status', (e) => (e.from_status === 'failed' ? 'canceled' : 'failed')],
    ['to_status', (e) => (e.to_status === 'failed' ? 'canceled' : 'failed')],
  ]
  const cases = edits.flatMap(([field, value]) => chain.map((_, i) => [field, i, value] as const))

  it.each(cases)('%s of event %i: the hash no longer matches', (field, i, value) => {
    const edited = withField(chain, i, field, value(chain[i]!))
    expect(verifyAuditChain(edited, intentRow)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('a nested value in data of event %i', (i) => {
    const edited = structuredClone(chain)
    ;(edited[i]!.data['tags'] as string[])[1] = 'c'
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('removing the optional reason of event %i', (i) => {
    const edited = structuredClone(chain)
    delete edited[i]!.reason
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('adding a field to event %i', (i) => {
    const edited = withField(chain, i, 'note' as keyof AuditEvent, 'x')
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('intent_id of event %i: another intent', (i) => {
    const edited = withField(chain, i, 'intent_id', 'pi_01JD3Q8Z8X3M4V7N2B6C9D0E1G')
    expect(verifyAuditChain(edited, intentRow)).toEqual({
      valid: false,
      problem: 'event of another intent (pi_01JD3Q8Z8X3M4V7N2B6C9D0E1G)',
      seq: i + 1,
    })
    // Without the intent row to compare with, the hash still gives it away.
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('seq of event %i', (i) => {
    const edited = withField(chain, i, 'seq', 99)
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: `expected seq ${i + 1}, found 99`, seq: 99 })
  })

  it.each(chain.map((_, i) => i))('prev_hash of event %i', (i) => {
    const edited = withField(chain, i, 'prev_hash', 'f'.repeat(64))
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'prev_hash does not match the previous event', seq: i + 1 })
  })

  it.each(chain.map((_, i) => i))('hash of event %i', (i) => {
    const edited = withField(chain, i, 'hash', 'a'.repeat(64))
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'hash does not match the event content', seq: i + 1 })
  })

  it.each([0, 1, 2, 3])('event %i edited and re-sealed: the next event no longer links to it', (i) => {
    const edited = structuredClone(chain)
    const { hash: _hash, ...rest } = edited[i]!
    edited[i] = sealAuditEvent({ ...rest, actor: 'admin:mallory' })
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'prev_hash does not match the previous event', seq: i + 2 })
  })

  it('the last event edited and re-sealed: only the head on the intent row gives it away', () => {
    const edited = structuredClone(chain)
    const { hash: _hash, ...rest } = edited[4]!
    edited[4] = sealAuditEvent({ ...rest, data: { refunded_to: 'mallory' } })
    expect(verifyAuditChain(edited).valid).toBe(true)
    expect(verifyAuditChain(edited, intentRow)).toEqual({
      valid: false,
      problem: 'chain head recorded on the intent differs from the last event',
    })
  })

  it('a re-sealed chain whose statuses do not follow each other is refused', () => {
    const broken: AuditEvent[] = []
    let prev = GENESIS_HASH
    for (const [i, e] of buildChain().entries()) {
      const { hash: _hash, ...rest } = e
      const sealed = sealAuditEvent({ ...rest, prev_hash: prev, ...(i === 3 ? { from_status: 'created' as const } : {}) })
      broken.push(sealed)
      prev = sealed.hash
    }
    expect(verifyAuditChain(broken)).toEqual({ valid: false, problem: 'from_status does not follow the previous event', seq: 4 })
  })
})

describe('verifyAuditChain: deleting, reordering and appending', () => {
  it('deleting the first event', () => {
    expect(verifyAuditChain(chain.slice(1), intentRow)).toEqual({ valid: false, problem: 'expected seq 1, found 2', seq: 2 })
  })

  it('deleting a middle event', () => {
    const edited = [...chain.slice(0, 2), ...chain.slice(3)]
    expect(verifyAuditChain(edited, intentRow)).toEqual({ valid: false, problem: 'expected seq 3, found 4', seq: 4 })
  })

  it('deleting the last event: caught by the head, the count and the status recorded on the intent', () => {
    const edited = chain.slice(0, 4)
    expect(verifyAuditChain(edited).valid).toBe(true)
    expect(verifyAuditChain(edited, intentRow)).toEqual({
      valid: false,
      problem: 'chain head recorded on the intent differs from the last event',
    })
    expect(verifyAuditChain(edited, { seq: 5 })).toEqual({ valid: false, problem: 'intent records 5 events, chain has 4' })
    expect(verifyAuditChain(edited, { status: 'succeeded' })).toEqual({
      valid: false,
      problem: "intent status succeeded differs from the chain's processing",
    })
  })

  it('deleting a middle event and renumbering the rest', () => {
    const edited = [...chain.slice(0, 2), ...chain.slice(3)].map((e, i) => ({ ...e, seq: i + 1 }))
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'prev_hash does not match the previous event', seq: 3 })
  })

  it('reordering two events', () => {
    const edited = [chain[0]!, chain[2]!, chain[1]!, chain[3]!, chain[4]!]
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'expected seq 2, found 3', seq: 3 })
  })

  it('reordering two events and swapping their seq', () => {
    const edited = [chain[0]!, { ...chain[2]!, seq: 2 }, { ...chain[1]!, seq: 3 }, chain[3]!, chain[4]!]
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'prev_hash does not match the previous event', seq: 2 })
  })

  it('appending a correctly sealed event: caught by the head and count on the intent row', () => {
    const extra = sealAuditEvent({
      intent_id: INTENT,
      seq: 6,
      type: 'refund_full',
      actor: 'admin:mallory',
      from_status: 'succeeded',
      to_status: 'refunded',
      at: '2026-11-21T13:00:00.000Z',
      data: {},
      prev_hash: last.hash,
    })
    const edited = [...chain, extra]
    expect(verifyAuditChain(edited).valid).toBe(true)
    expect(verifyAuditChain(edited, { head: last.hash })).toEqual({
      valid: false,
      problem: 'chain head recorded on the intent differs from the last event',
    })
    expect(verifyAuditChain(edited, { seq: 5 })).toEqual({ valid: false, problem: 'intent records 5 events, chain has 6' })
    expect(verifyAuditChain(edited, { status: 'succeeded' })).toEqual({
      valid: false,
      problem: "intent status succeeded differs from the chain's refunded",
    })
  })

  it('a chain whose first prev_hash is not the genesis hash', () => {
    const edited = withField(chain, 0, 'prev_hash', '1'.repeat(64))
    expect(verifyAuditChain(edited)).toEqual({ valid: false, problem: 'prev_hash does not match the previous event', seq: 1 })
  })
})

describe('verifyAuditChain: the intent row must agree', () => {
  it.each([
    [{ head: 'b'.repeat(64) }, 'chain head recorded on the intent differs from the last event'],
    [{ seq: 4 }, 'intent records 4 events, chain has 5'],
    [{ seq: 6 }, 'intent records 6 events, chain has 5'],
    [{ status: 'refunded' }, "intent status refunded differs from the chain's succeeded"],
    [{ intentId: 'pi_other' }, 'event of another intent (pi_01JD3Q8Z8X3M4V7N2B6C9D0E1F)'],
  ])('%j', (expected, problem) => {
    const result = verifyAuditChain(chain, expected)
    expect(result.valid).toBe(false)
    expect(result).toMatchObject({ problem })
  })
})

describe('hashAuditEvent', () => {
  const event: UnhashedAuditEvent = {
    intent_id: INTENT,
    seq: 1,
    type: 'create',
    actor: 'agent:a1',
    from_status: null,
    to_status: 'created',
    at: '2026-11-21T12:00:00.000Z',
    data: { b: 1, a: { d: [1, 'x'], c: null } },
    prev_hash: GENESIS_HASH,
  }

  it('is SHA-256 over prev_hash, a newline and the canonical JSON (pinned independently of canonicalJson)', () => {
    const canonical =
      '{"actor":"agent:a1","at":"2026-11-21T12:00:00.000Z","data":{"a":{"c":null,"d":[1,"x"]},"b":1},"from_status":null,' +
      `"intent_id":"${INTENT}","prev_hash":"${GENESIS_HASH}","seq":1,"to_status":"created","type":"create"}`
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n${canonical}`).digest('hex')
    expect(hashAuditEvent(event)).toBe(expected)
  })

  it('is stable under key order, at every depth', () => {
    const reversed = Object.fromEntries(Object.entries(event).reverse()) as UnhashedAuditEvent
    reversed.data = { a: { c: null, d: [1, 'x'] }, b: 1 }
    expect(Object.keys(reversed)[0]).toBe('prev_hash')
    expect(hashAuditEvent(reversed)).toBe(hashAuditEvent(event))
  })

  it('distinguishes an explicit null from an absent member, and array order', () => {
    const withoutNull = { ...event, data: { b: 1, a: { d: [1, 'x'] } } }
    expect(hashAuditEvent(withoutNull)).not.toBe(hashAuditEvent(event))
    const reordered = { ...event, data: { b: 1, a: { d: ['x', 1], c: null } } }
    expect(hashAuditEvent(reordered)).not.toBe(hashAuditEvent(event))
  })

  it('an undefined optional member hashes like an absent one', () => {
    expect(hashAuditEvent({ ...event, reason: undefined } as unknown as UnhashedAuditEvent)).toBe(hashAuditEvent(event))
  })

  it('sealAuditEvent attaches exactly that hash and keeps every field', () => {
    const sealed = sealAuditEvent(event)
    expect(sealed).toEqual({ ...event, hash: hashAuditEvent(event) })
  })
})
