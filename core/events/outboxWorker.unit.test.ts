import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { OutboxInsert, OutboxRow, RecordOutboxAttemptParams, Store } from '../store/port.js'
import { backoffDelay, createOutboxWorker, type OutboxDestination, type OutboxWorkerLogger, type WebhookRequest } from './outboxWorker.js'
import { verifyWebhookSignature } from './webhookSignature.js'

// Unit tests of the worker's decisions, against an in-memory outbox and a fake transport (plus a
// few against a real socket for the default undici transport). The acceptance test with real
// stores and real HTTP is outboxWorker.test.ts.

describe('backoffDelay', () => {
  const b = { baseMs: 1000, maxMs: 60_000 }

  it('is full jitter over an exponential ceiling', () => {
    expect(backoffDelay(1, b, () => 0.5)).toBe(500)
    expect(backoffDelay(2, b, () => 0.5)).toBe(1000)
    expect(backoffDelay(3, b, () => 0.5)).toBe(2000)
    expect(backoffDelay(6, b, () => 0.5)).toBe(16_000)
    expect(backoffDelay(3, b, () => 0.999)).toBe(3996)
  })

  it('caps the ceiling at maxMs, also for huge attempts', () => {
    expect(backoffDelay(7, b, () => 0.5)).toBe(30_000) // 64 s ceiling capped to 60 s
    expect(backoffDelay(100, b, () => 0.5)).toBe(30_000)
    expect(backoffDelay(5000, b, () => 0.9999)).toBe(59_994)
  })

  it('never goes below the floor (default baseMs / 10, within [1 ms, 1 s])', () => {
    expect(backoffDelay(1, b, () => 0)).toBe(100)
    expect(backoffDelay(9, b, () => 0)).toBe(100)
    expect(backoffDelay(1, b, () => 0.05)).toBe(100)
    expect(backoffDelay(1, b, () => 0.2)).toBe(200)
    expect(backoffDelay(1, { baseMs: 5, maxMs: 50 }, () => 0)).toBe(1)
    expect(backoffDelay(1, { baseMs: 30_000, maxMs: 60_000 }, () => 0)).toBe(1000)
    expect(backoffDelay(4, { ...b, minMs: 250 }, () => 0)).toBe(250)
    expect(backoffDelay(4, { ...b, minMs: 0 }, () => 0)).toBe(0)
  })

  it('clamps a misbehaving random()', () => {
    expect(backoffDelay(2, b, () => Number.NaN)).toBe(100)
    expect(backoffDelay(2, b, () => -3)).toBe(100)
    expect(backoffDelay(2, b, () => 7)).toBe(2000)
  })

  it('rejects attempt numbers below 1 or fractional', () => {
    expect(() => backoffDelay(0, b, () => 0.5)).toThrow(RangeError)
    expect(() => backoffDelay(1.5, b, () => 0.5)).toThrow(RangeError)
  })

  it('stays within [floor, min(maxMs, baseMs * 2^(attempt-1))] (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, extra, r) => {
          const maxMs = baseMs + extra
          const d = backoffDelay(attempt, { baseMs, maxMs }, () => r)
          const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1))
          const floor = Math.min(1000, Math.max(1, Math.round(baseMs / 10)))
          return Number.isInteger(d) && d >= floor && d <= Math.max(ceiling, floor) && d < Math.max(ceiling, floor + 1)
        },
      ),
    )
  })
})

/** An in-memory outbox with the port's semantics (lease, holder-only recording). */
function memoryOutbox() {
  const rows = new Map<string, OutboxRow>()
  const attempts: RecordOutboxAttemptParams[] = []
  let claims = 0
  const store: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'> = {
    async claimOutbox({ workerId, limit, now, leaseMs }) {
      claims++
      const out: OutboxRow[] = []
      for (const row of rows.values()) {
        if (out.length >= limit) break
        if (row.state !== 'pending' || row.nextAttemptAt > now) continue
        if (row.claimedUntil !== undefined && row.claimedUntil > now) continue
        row.claimedBy = workerId
        row.claimedUntil = new Date(now.getTime() + leaseMs)
        out.push({ ...row })
      }
      return out
    },
    async recordOutboxAttempt(p) {
      const row = rows.get(p.id)
      if (row === undefined || row.claimedBy !== p.workerId) throw new Error(`not the lease holder of ${p.id}`)
      attempts.push(p)
      row.attempts = p.attempt
      row.claimedBy = undefined
      row.claimedUntil = undefined
      if (p.result.kind === 'delivered') {
        row.state = 'delivered'
        row.deliveredAt = p.at
      } else if (p.result.kind === 'dead') row.state = 'dead'
      else row.nextAttemptAt = p.result.nextAttemptAt
    },
  }
  return {
    store,
    rows,
    attempts,
    claims: () => claims,
    add(insert: Partial<OutboxInsert> & { id: string }, extra: Partial<OutboxRow> = {}) {
      rows.set(insert.id, {
        type: 'payment_intent.succeeded',
        destination: 'merchant:demo',
        payload: JSON.stringify({ id: insert.id, n: 1 }),
        createdAt: new Date(0),
        state: 'pending',
        attempts: 0,
        nextAttemptAt: new Date(0),
        ...insert,
        ...extra,
      })
    },
  }
}

const DEST: OutboxDestination = { url: 'https://hooks.example.test/in?token=tok_supersecret', secret: 'whsec_unit' }
const T0 = new Date('2025-01-01T00:00:00Z')

function recordingLogger() {
  const lines: Array<{ level: string; obj: object; msg: string | undefined }> = []
  const logger: OutboxWorkerLogger = {
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  }
  return { logger, lines }
}

describe('createOutboxWorker (fake transport)', () => {
  it('POSTs the payload bytes unchanged, signed, with the stable id, and records the delivery', async () => {
    const ob = memoryOutbox()
    const payload = '{ "id":"evt_1",  "note":"café € 😀" }'
    ob.add({ id: 'evt_1', payload })
    const sent: WebhookRequest[] = []
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => T0, transport: async (r) => (sent.push(r), { statusCode: 204 }) },
      { workerId: 'w1' },
    )
    expect(await worker.runOnce()).toBe(1)
    expect(sent).toHaveLength(1)
    const req = sent[0]!
    expect(req.url).toBe(DEST.url)
    expect(req.body.equals(Buffer.from(payload, 'utf8'))).toBe(true)
    expect(req.headers).toMatchObject({
      'Content-Type': 'application/json',
      'User-Agent': 'agentswitch-webhooks/1',
      'Webhook-Id': 'evt_1',
      'Webhook-Timestamp': String(T0.getTime() / 1000),
    })
    expect(req.timeoutMs).toBe(10_000)
    expect(verifyWebhookSignature({ secret: DEST.secret, header: req.headers['Agentswitch-Signature'], body: req.body, now: T0 })).toEqual({
      ok: true,
      timestamp: T0.getTime() / 1000,
    })
    expect(ob.attempts).toEqual([
      { id: 'evt_1', workerId: 'w1', attempt: 1, at: T0, durationMs: expect.any(Number), statusCode: 204, result: { kind: 'delivered' } },
    ])
    expect(ob.rows.get('evt_1')!.state).toBe('delivered')
    expect(await worker.runOnce()).toBe(0)
  })

  it('schedules a non-2xx answer for retry at now + backoffDelay', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' }, { attempts: 2 })
    const backoff = { baseMs: 1000, maxMs: 60_000 }
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => T0, random: () => 0.5, transport: async () => ({ statusCode: 503 }) },
      { workerId: 'w1', backoff },
    )
    await worker.runOnce()
    const a = ob.attempts[0]!
    expect(a).toMatchObject({ attempt: 3, statusCode: 503, error: 'receiver answered HTTP 503' })
    expect(a.result).toEqual({ kind: 'retry', nextAttemptAt: new Date(T0.getTime() + backoffDelay(3, backoff, () => 0.5)) })
    expect(a.result).toEqual({ kind: 'retry', nextAttemptAt: new Date(T0.getTime() + 2000) })
  })

  it.each([301, 302, 400, 404, 410, 429, 500])('treats HTTP %i as a failure', async (status) => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => T0, transport: async () => ({ statusCode: status }) },
      { workerId: 'w1' },
    )
    await worker.runOnce()
    expect(ob.attempts[0]!.result.kind).toBe('retry')
  })

  it('retries a transport error, keeping the secret and URL credentials out of the record', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const dest = { url: 'https://user:pa55word@hooks.example.test/in?token=tok_supersecret', secret: 'whsec_unit' }
    const boom = Object.assign(new Error(`connect failed to ${dest.url} with whsec_unit`, { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) }), {
      code: 'UND_ERR_SOCKET',
    })
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => dest, clock: () => T0, transport: async () => Promise.reject(boom) },
      { workerId: 'w1' },
    )
    await worker.runOnce()
    const a = ob.attempts[0]!
    expect(a.result.kind).toBe('retry')
    expect(a.statusCode).toBeUndefined()
    expect(a.error).toBe('UND_ERR_SOCKET: connect failed to https://hooks.example.test/in with [secret] <- ECONNREFUSED: refused')
    expect(a.error).not.toMatch(/pa55word|tok_supersecret|whsec_unit/)
  })

  it('goes dead after maxAttempts', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' }, { attempts: 4 })
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => T0, transport: async () => ({ statusCode: 500 }) },
      { workerId: 'w1', maxAttempts: 5 },
    )
    await worker.runOnce()
    expect(ob.attempts[0]).toMatchObject({ attempt: 5, statusCode: 500, result: { kind: 'dead' } })
    expect(ob.rows.get('evt_1')!.state).toBe('dead')
  })

  it('runs a row through retries to dead with the real backoff schedule', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    let now = T0.getTime()
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => new Date(now), random: () => 0.999, transport: async () => ({ statusCode: 500 }) },
      { workerId: 'w1', maxAttempts: 4, backoff: { baseMs: 100, maxMs: 300 } },
    )
    for (let i = 0; i < 10; i++) {
      await worker.runOnce()
      now += 1000
    }
    expect(ob.attempts.map((a) => a.result.kind)).toEqual(['retry', 'retry', 'retry', 'dead'])
    const delays = ob.attempts.slice(0, 3).map((a) => (a.result.kind === 'retry' ? a.result.nextAttemptAt.getTime() - a.at.getTime() : -1))
    expect(delays).toEqual([99, 199, 299]) // 0.999 × min(300, 100·2^(n-1))
  })

  it('kills an event for an unknown or misconfigured destination without sending it', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_unknown', destination: 'merchant:nope' })
    ob.add({ id: 'evt_badurl', destination: 'merchant:badurl' })
    ob.add({ id: 'evt_ftp', destination: 'merchant:ftp' })
    ob.add({ id: 'evt_nosecret', destination: 'merchant:nosecret' })
    const dests: Record<string, OutboxDestination> = {
      'merchant:badurl': { url: 'not a url', secret: 's' },
      'merchant:ftp': { url: 'ftp://files.example.test/x', secret: 's' },
      'merchant:nosecret': { url: 'https://hooks.example.test/', secret: '' },
    }
    let sent = 0
    const { logger, lines } = recordingLogger()
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: (n) => dests[n], clock: () => T0, logger, transport: async () => (sent++, { statusCode: 200 }) },
      { workerId: 'w1' },
    )
    expect(await worker.runOnce()).toBe(4)
    expect(sent).toBe(0)
    const byId = Object.fromEntries(ob.attempts.map((a) => [a.id, a]))
    expect(byId['evt_unknown']).toMatchObject({ result: { kind: 'dead' }, error: 'unknown destination "merchant:nope"', durationMs: 0 })
    expect(byId['evt_badurl']).toMatchObject({ result: { kind: 'dead' }, error: 'destination "merchant:badurl": URL is not valid' })
    expect(byId['evt_ftp']).toMatchObject({ result: { kind: 'dead' }, error: 'destination "merchant:ftp": URL scheme ftp: is not http(s)' })
    expect(byId['evt_nosecret']).toMatchObject({ result: { kind: 'dead' }, error: 'destination "merchant:nosecret": secret is empty' })
    expect(lines.filter((l) => l.level === 'error').length).toBeGreaterThanOrEqual(4)
  })

  it('retries when resolveDestination throws (configuration reload in progress)', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const worker = createOutboxWorker(
      {
        store: ob.store,
        clock: () => T0,
        resolveDestination: () => {
          throw new Error('config not loaded')
        },
        transport: async () => ({ statusCode: 200 }),
      },
      { workerId: 'w1' },
    )
    await worker.runOnce()
    expect(ob.attempts[0]).toMatchObject({ result: { kind: 'retry' }, error: 'destination lookup failed: Error: config not loaded' })
  })

  it('does not start a delivery that cannot finish inside the lease', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    let calls = 0
    // Claimed at T0; at delivery time the 60 s lease has 5 s left: less than the 10 s attempt
    // timeout, so the attempt's deadline is clamped to what is left minus the 1 s margin.
    const times = [T0, new Date(T0.getTime() + 55_000)]
    const sent: WebhookRequest[] = []
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => times[Math.min(calls++, 1)]!, transport: async (r) => (sent.push(r), { statusCode: 200 }) },
      { workerId: 'w1' },
    )
    await worker.runOnce()
    expect(sent[0]!.timeoutMs).toBe(4_000)

    // With 1.1 s left (0.1 s after the margin), nothing is sent and nothing recorded.
    const ob2 = memoryOutbox()
    ob2.add({ id: 'evt_2' })
    let calls2 = 0
    const times2 = [T0, new Date(T0.getTime() + 58_900)]
    const { logger, lines } = recordingLogger()
    const worker2 = createOutboxWorker(
      { store: ob2.store, resolveDestination: () => DEST, logger, clock: () => times2[Math.min(calls2++, 1)]!, transport: async () => ({ statusCode: 200 }) },
      { workerId: 'w2' },
    )
    expect(await worker2.runOnce()).toBe(0)
    expect(ob2.attempts).toHaveLength(0)
    expect(lines.some((l) => l.level === 'warn' && l.msg?.includes('lease nearly over'))).toBe(true)
  })

  it('uses the destination timeout', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const sent: WebhookRequest[] = []
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => ({ ...DEST, timeoutMs: 2500 }), clock: () => T0, transport: async (r) => (sent.push(r), { statusCode: 200 }) },
      { workerId: 'w1' },
    )
    await worker.runOnce()
    expect(sent[0]!.timeoutMs).toBe(2500)
  })

  it('delivers at most `concurrency` at once', async () => {
    const ob = memoryOutbox()
    for (let i = 0; i < 20; i++) ob.add({ id: `evt_${i}` })
    let inFlight = 0
    let peak = 0
    const worker = createOutboxWorker(
      {
        store: ob.store,
        resolveDestination: () => DEST,
        transport: async () => {
          peak = Math.max(peak, ++inFlight)
          await new Promise((r) => setTimeout(r, 5))
          inFlight--
          return { statusCode: 200 }
        },
      },
      { workerId: 'w1', batchSize: 20, concurrency: 3 },
    )
    expect(await worker.runOnce()).toBe(20)
    expect(peak).toBe(3)
  })

  it('survives a failing recordOutboxAttempt and a failing claim, logging both', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const { logger, lines } = recordingLogger()
    const store: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'> = {
      claimOutbox: ob.store.claimOutbox,
      recordOutboxAttempt: async () => {
        throw new Error('database is locked')
      },
    }
    const worker = createOutboxWorker({ store, logger, resolveDestination: () => DEST, transport: async () => ({ statusCode: 200 }) }, { workerId: 'w1' })
    expect(await worker.runOnce()).toBe(0)
    expect(lines.find((l) => l.msg === 'outbox: recording the attempt failed')?.obj).toMatchObject({ outboxId: 'evt_1', err: 'Error: database is locked' })

    // The loop: the first two claims throw, then rows are delivered.
    const ob2 = memoryOutbox()
    ob2.add({ id: 'evt_2' })
    let fails = 2
    const flaky: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'> = {
      claimOutbox: async (p) => {
        if (fails-- > 0) throw new Error('connection reset')
        return ob2.store.claimOutbox(p)
      },
      recordOutboxAttempt: ob2.store.recordOutboxAttempt,
    }
    const rec2 = recordingLogger()
    const w2 = createOutboxWorker(
      { store: flaky, logger: rec2.logger, resolveDestination: () => DEST, transport: async () => ({ statusCode: 200 }) },
      { workerId: 'w2', pollIntervalMs: 5 },
    )
    w2.start()
    await waitUntil(() => ob2.rows.get('evt_2')!.state === 'delivered')
    await w2.stop()
    expect(rec2.lines.filter((l) => l.msg === 'outbox: claiming failed')).toHaveLength(2)
  })

  it('claims again at once while claims come back full, waits after a partial one, and stop() interrupts the wait', async () => {
    const ob = memoryOutbox()
    for (let i = 0; i < 40; i++) ob.add({ id: `evt_${i}` })
    const claimed: number[] = []
    const store: Pick<Store, 'claimOutbox' | 'recordOutboxAttempt'> = {
      claimOutbox: async (p) => {
        const rows = await ob.store.claimOutbox(p)
        claimed.push(rows.length)
        return rows
      },
      recordOutboxAttempt: ob.store.recordOutboxAttempt,
    }
    const worker = createOutboxWorker(
      { store, resolveDestination: () => DEST, transport: async () => ({ statusCode: 200 }) },
      { workerId: 'w1', batchSize: 10, concurrency: 2, pollIntervalMs: 60_000 },
    )
    const started = Date.now()
    worker.start()
    worker.start() // no-op
    await waitUntil(() => ob.attempts.length === 40)
    const claims = claimed.length
    await new Promise((r) => setTimeout(r, 100))
    expect(claimed.length).toBe(claims) // asleep (for a minute) after the partial claim
    await worker.stop()
    expect(Date.now() - started).toBeLessThan(5_000)
    expect(claimed[0]).toBe(10)
    expect(claimed.at(-1)).toBeLessThan(10 - 5) // only the last claim came back short…
    expect(claimed.slice(0, -1).every((n) => n > 0)).toBe(true) // …the others were answered in full
    expect(claimed.reduce((a, b) => a + b, 0)).toBe(40)
  })

  it('keeps the other lanes busy while one receiver hangs', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_slow', destination: 'merchant:slow' })
    for (let i = 0; i < 30; i++) ob.add({ id: `evt_${i}` })
    const worker = createOutboxWorker(
      {
        store: ob.store,
        resolveDestination: (n) => ({ ...DEST, url: `https://${n.replace(':', '-')}.example.test/` }),
        transport: async (r) => {
          if (r.url.includes('slow')) await new Promise((res) => setTimeout(res, 400))
          return { statusCode: 200 }
        },
      },
      { workerId: 'w1', batchSize: 10, concurrency: 2, pollIntervalMs: 5 },
    )
    worker.start()
    await waitUntil(() => ob.attempts.length >= 30)
    // The 30 quick ones were all delivered while the slow one was still in flight.
    expect(ob.rows.get('evt_slow')!.state).toBe('pending')
    await worker.stop()
    expect(ob.rows.get('evt_slow')!.state).toBe('delivered')
  })

  it('stop() waits for the deliveries in flight and records them', async () => {
    const ob = memoryOutbox()
    for (let i = 0; i < 4; i++) ob.add({ id: `evt_${i}` })
    let called = 0
    const worker = createOutboxWorker(
      {
        store: ob.store,
        resolveDestination: () => DEST,
        transport: async () => {
          called++
          await new Promise((r) => setTimeout(r, 100))
          return { statusCode: 200 }
        },
      },
      { workerId: 'w1', concurrency: 4 },
    )
    worker.start()
    await waitUntil(() => called === 4)
    expect(ob.attempts).toHaveLength(0)
    await worker.stop()
    expect(ob.attempts).toHaveLength(4)
    // And it can be started again.
    ob.add({ id: 'evt_late' })
    worker.start()
    await waitUntil(() => ob.rows.get('evt_late')!.state === 'delivered')
    await worker.stop()
  })

  it('accepts a pino logger', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const worker = createOutboxWorker(
      { store: ob.store, logger: pino({ level: 'silent' }), resolveDestination: () => DEST, transport: async () => ({ statusCode: 200 }) },
      { workerId: 'w1' },
    )
    expect(await worker.runOnce()).toBe(1)
  })

  it('validates its options when built', () => {
    const deps = { store: memoryOutbox().store, resolveDestination: () => DEST }
    expect(() => createOutboxWorker(deps, { workerId: '' })).toThrow(/workerId is empty/)
    expect(() => createOutboxWorker(deps, { workerId: 'w', batchSize: 0 })).toThrow(/batchSize/)
    expect(() => createOutboxWorker(deps, { workerId: 'w', concurrency: 1.5 })).toThrow(/concurrency/)
    expect(() => createOutboxWorker(deps, { workerId: 'w', backoff: { baseMs: 100, maxMs: 10 } })).toThrow(/backoff/)
    expect(() => createOutboxWorker(deps, { workerId: 'w', leaseMs: 5_000, timeoutMs: 10_000 })).toThrow(/leaseMs \(5000\) must exceed timeoutMs/)
    expect(() => createOutboxWorker(deps, { workerId: 'w', pollIntervalMs: Number.NaN })).toThrow(/pollIntervalMs/)
    // A short lease alone is fine: the default timeout shrinks to half of it.
    expect(() => createOutboxWorker(deps, { workerId: 'w', leaseMs: 2_000 })).not.toThrow()
  })

  it('defaults the attempt timeout to at most half the lease', async () => {
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const sent: WebhookRequest[] = []
    const worker = createOutboxWorker(
      { store: ob.store, resolveDestination: () => DEST, clock: () => T0, transport: async (r) => (sent.push(r), { statusCode: 200 }) },
      { workerId: 'w1', leaseMs: 3_000 },
    )
    await worker.runOnce()
    expect(sent[0]!.timeoutMs).toBe(1_500)
  })
})

describe('createOutboxWorker (default undici transport, real sockets)', () => {
  let server: Server | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()))
    server = undefined
  })

  async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    server = createServer(handler)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  }

  it('reuses connections (keep-alive)', async () => {
    const sockets = new Set<unknown>()
    const url = await listen((req, res) => {
      sockets.add(req.socket)
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const ob = memoryOutbox()
    for (let i = 0; i < 30; i++) ob.add({ id: `evt_${i}` })
    const worker = createOutboxWorker({ store: ob.store, resolveDestination: () => ({ url, secret: 's' }) }, { workerId: 'w1', batchSize: 30, concurrency: 1 })
    expect(await worker.runOnce()).toBe(30)
    await worker.stop()
    expect(ob.attempts.every((a) => a.result.kind === 'delivered')).toBe(true)
    expect(sockets.size).toBe(1)
  })

  it('times out a receiver that does not answer, and records the attempt as a retry', async () => {
    const url = await listen((req) => req.resume()) // never answers
    const ob = memoryOutbox()
    ob.add({ id: 'evt_1' })
    const worker = createOutboxWorker({ store: ob.store, resolveDestination: () => ({ url, secret: 's', timeoutMs: 150 }) }, { workerId: 'w1' })
    await worker.runOnce()
    await worker.stop()
    const a = ob.attempts[0]!
    expect(a.result.kind).toBe('retry')
    expect(a.statusCode).toBeUndefined()
    expect(a.error).toMatch(/timeout|aborted/i)
    expect(a.durationMs).toBeGreaterThanOrEqual(140)
    expect(a.durationMs).toBeLessThan(2_000)
  })

  it('records a refused connection and does not follow redirects', async () => {
    const url = await listen((_req, res) => {
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' })
      res.end()
    })
    const ob = memoryOutbox()
    ob.add({ id: 'evt_redirect', destination: 'merchant:redirect' })
    ob.add({ id: 'evt_refused', destination: 'merchant:refused' })
    const dests: Record<string, OutboxDestination> = {
      'merchant:redirect': { url, secret: 's' },
      'merchant:refused': { url: 'http://127.0.0.1:1/hook', secret: 's' },
    }
    const worker = createOutboxWorker({ store: ob.store, resolveDestination: (n) => dests[n] }, { workerId: 'w1' })
    await worker.runOnce()
    await worker.stop()
    const byId = Object.fromEntries(ob.attempts.map((a) => [a.id, a]))
    expect(byId['evt_redirect']).toMatchObject({ statusCode: 302, result: { kind: 'retry' } })
    expect(byId['evt_refused']!.result.kind).toBe('retry')
    expect(byId['evt_refused']!.error).toMatch(/ECONNREFUSED/)
  })
})

async function waitUntil(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 2))
  }
}
