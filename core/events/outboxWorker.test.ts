import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest'
import type { OutboxAttempt, OutboxInsert, Store } from '../store/port.js'
import { openPostgresStore } from '../store/postgres/postgresStore.js'
import { openSqliteStore } from '../store/sqlite/sqliteStore.js'
import { createTestSchema } from '../testing/pg.js'
import { newId } from '../util/ids.js'
import { createOutboxWorker, type OutboxWorker, type OutboxWorkerOptions } from './outboxWorker.js'
import { verifyWebhookSignature } from './webhookSignature.js'

// Acceptance test of outbox delivery (DESIGN §4 step 6): real stores, real HTTP, a receiver that
// verifies every signature and fails half of its requests (500s, dropped connections, hangs past
// the timeout). Delivery is at least once, and a duplicate may only come from a failure: this
// receiver never fails after accepting, so an event is accepted twice only if the worker gave up
// on an answer that was in fact sent (a timeout on a stalled machine). Every request must match a
// recorded attempt: a row delivered by two workers at once would show one request too many (the
// store records only the lease holder's attempt) and two requests for one id in flight.

const SECRET = 'whsec_acceptance_secret'
const DESTINATION = 'merchant:demo'

/** Options shared by the workers of these tests: short backoff, short timeout, fast polling. */
const WORKER: Omit<OutboxWorkerOptions, 'workerId'> = {
  batchSize: 25,
  concurrency: 8,
  pollIntervalMs: 10,
  leaseMs: 5_000,
  timeoutMs: 300,
  maxAttempts: 60,
  backoff: { baseMs: 5, maxMs: 50 },
}

interface Engine {
  /** A new connection to the engine's database (as another gateway instance would open one). */
  open(): Store
}

/** The acceptance suite for one engine; `makeEngine` creates a fresh, empty database per test. */
function outboxSuite(makeEngine: () => Promise<Engine & { dispose(): Promise<void> }>): void {
  let engine: (Engine & { dispose(): Promise<void> }) | undefined
  let stores: Store[] = []
  let receiver: Receiver

  /** A connection to this test's fresh database (migrated). */
  const open = async (): Promise<Store> => {
    engine ??= await makeEngine()
    const store = engine.open()
    stores.push(store)
    await store.migrate()
    return store
  }

  beforeAll(async () => {
    receiver = await startReceiver({ seed: 0x5eed })
  })
  afterAll(async () => {
    await receiver?.close()
  })
  afterEach(async () => {
    for (const s of stores) await s.close().catch(() => {})
    stores = []
    await engine?.dispose()
    engine = undefined
  })

  const worker = (store: Store, workerId: string): OutboxWorker =>
    createOutboxWorker(
      { store, resolveDestination: (name) => (name === DESTINATION ? { url: receiver.url, secret: SECRET } : undefined) },
      { ...WORKER, workerId },
    )

  it('delivers 500 events through a receiver that fails half its requests, recording every attempt', async () => {
    const store = await open()
    const events = makeEvents(500)
    receiver.expect(events)
    await store.enqueueOutbox(events)

    const w = worker(store, 'w1')
    w.start()
    await waitFor(async () => (await store.countOutbox()).delivered === events.length, 15_000)
    await w.stop()

    expect(await store.countOutbox()).toEqual({ pending: 0, delivered: 500, dead: 0 })
    const stats = await checkDelivered(store, events, ['w1'])
    // The receiver really failed about half of the requests, and those attempts were recorded.
    expect(stats.failed / stats.attempts).toBeGreaterThan(0.35)
    expect(stats.byKind.http500).toBeGreaterThan(0)
    expect(stats.byKind.connection).toBeGreaterThan(0)
    expect(stats.byKind.timeout).toBeGreaterThan(0)
  })

  it('loses nothing when a worker crashes holding a claim and another is stopped mid-run', async () => {
    const store = await open()
    const events = makeEvents(300)
    receiver.expect(events)
    await store.enqueueOutbox(events)

    // A worker that claims rows and dies: its claim is never recorded nor released.
    const crashLeaseMs = 1_500
    const claimedAt = Date.now()
    const abandoned = await store.claimOutbox({ workerId: 'crashed', limit: 40, now: new Date(claimedAt), leaseMs: crashLeaseMs })
    expect(abandoned).toHaveLength(40)

    // A real worker, stopped while it is busy.
    const a = worker(store, 'A')
    a.start()
    await waitFor(async () => receiver.total() >= 60, 10_000)
    await a.stop()
    const afterStop = receiver.total()
    expect((await store.countOutbox()).pending).toBeGreaterThan(40) // stopped mid-run
    await sleep(100)
    expect(receiver.total()).toBe(afterStop) // stop() means stopped: nothing is sent after it
    // …and clean: every row it had claimed was finished and recorded, none left to wait out a lease.
    for (const e of events) expect((await store.getOutbox(e.id))?.claimedBy).not.toBe('A')

    // A new worker (another id) finishes everything, the abandoned rows once their lease expired.
    const b = worker(store, 'B')
    b.start()
    await waitFor(async () => (await store.countOutbox()).delivered === events.length, 15_000)
    await b.stop()

    expect(await store.countOutbox()).toEqual({ pending: 0, delivered: 300, dead: 0 })
    await checkDelivered(store, events, ['A', 'B'])
    for (const row of abandoned) {
      expect(receiver.firstSeen(row.id)).toBeGreaterThanOrEqual(claimedAt + crashLeaseMs)
      expect((await store.listOutboxAttempts(row.id)).some((x) => x.workerId === 'crashed')).toBe(false)
    }

    // The crashed worker coming back to record is ignored: only the lease holder may record.
    const late = abandoned[0]!
    const before = await store.listOutboxAttempts(late.id)
    await store
      .recordOutboxAttempt({ id: late.id, workerId: 'crashed', attempt: 1, at: new Date(), durationMs: 1, result: { kind: 'dead' } })
      .catch(() => {})
    expect((await store.getOutbox(late.id))?.state).toBe('delivered')
    expect(await store.listOutboxAttempts(late.id)).toEqual(before)
  })

  it('never hands the same row to two connections at once', async () => {
    const s1 = await open()
    const s2 = await open()
    const events = makeEvents(200, 'merchant:claims-only')
    await s1.enqueueOutbox(events)
    const now = new Date()
    const claims = await Promise.all(
      Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? s1 : s2).claimOutbox({ workerId: `c${i}`, limit: 25, now, leaseMs: 60_000 })),
    )
    const ids = claims.flat().map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toHaveLength(200)
  })

  it('two workers on two connections deliver every event, never the same row at once', async () => {
    const s1 = await open()
    const s2 = await open()
    const events = makeEvents(300)
    receiver.expect(events)
    await s1.enqueueOutbox(events)

    const w1 = worker(s1, 'p1')
    const w2 = worker(s2, 'p2')
    w1.start()
    w2.start()
    await waitFor(async () => (await s1.countOutbox()).delivered === events.length, 15_000)
    await Promise.all([w1.stop(), w2.stop()])

    const stats = await checkDelivered(s1, events, ['p1', 'p2'])
    expect(stats.byWorker['p1']).toBeGreaterThan(0)
    expect(stats.byWorker['p2']).toBeGreaterThan(0)
  })

  /**
   * Every event accepted exactly once with a valid signature and the exact payload bytes; its
   * recorded attempts numbered 1..n, all failures but the last, by the given workers; one request
   * at the receiver per recorded attempt; no two requests for one id in flight at once.
   */
  async function checkDelivered(store: Store, events: readonly OutboxInsert[], workers: readonly string[]) {
    expect(receiver.problems()).toEqual([])
    const stats = {
      attempts: 0,
      failed: 0,
      duplicates: 0,
      byKind: { http500: 0, connection: 0, timeout: 0 },
      byWorker: {} as Record<string, number>,
    }
    for (const e of events) {
      const row = await store.getOutbox(e.id)
      expect(row?.state).toBe('delivered')
      expect(row?.deliveredAt).toBeInstanceOf(Date)
      const attempts = await store.listOutboxAttempts(e.id)
      expect(attempts.map((x) => x.attempt)).toEqual(attempts.map((_, i) => i + 1))
      expect(row?.attempts).toBe(attempts.length)
      expect(attempts.map((x) => x.result)).toEqual([...attempts.slice(1).map(() => 'retry'), 'delivered'])
      // Received with a valid signature and the exact bytes (checked by the receiver), at least
      // once; more only when an attempt ended without the worker seeing the receiver's answer.
      const unseenAnswers = attempts.filter((x) => x.result === 'retry' && x.statusCode === undefined).length
      expect(receiver.accepted(e.id), e.id).toBeGreaterThanOrEqual(1)
      expect(receiver.accepted(e.id) - 1, e.id).toBeLessThanOrEqual(unseenAnswers)
      stats.duplicates += receiver.accepted(e.id) - 1
      // No request without its recorded attempt; every recorded HTTP answer had its request.
      expect(receiver.requests(e.id), e.id).toBeLessThanOrEqual(attempts.length)
      expect(receiver.requests(e.id), e.id).toBeGreaterThanOrEqual(attempts.filter((x) => x.statusCode !== undefined).length)
      for (const x of attempts) {
        expect(workers).toContain(x.workerId)
        stats.byWorker[x.workerId] = (stats.byWorker[x.workerId] ?? 0) + 1
        classify(x, stats)
      }
      stats.attempts += attempts.length
    }
    // Timeouts that lose an answer already sent need a machine stalled for 300 ms: rare.
    expect(stats.duplicates).toBeLessThanOrEqual(events.length / 100)
    return stats
  }
}

function classify(x: OutboxAttempt, stats: { failed: number; byKind: { http500: number; connection: number; timeout: number } }): void {
  if (x.result === 'delivered') {
    expect(x.statusCode).toBe(200)
    expect(x.error).toBeUndefined()
    return
  }
  stats.failed++
  if (x.statusCode !== undefined) {
    expect(x.statusCode).toBe(500)
    expect(x.error).toBe('receiver answered HTTP 500')
    stats.byKind.http500++
  } else {
    expect(x.error).toBeTruthy()
    expect(x.error).not.toContain(SECRET)
    if (/timeout|abort/i.test(x.error!)) stats.byKind.timeout++
    else stats.byKind.connection++
  }
}

describe('outbox worker on SQLite', () => {
  outboxSuite(async () => {
    const path = join(tmpdir(), `agentswitch-outbox-${process.pid}-${randomUUID()}.db`)
    return {
      open: () => openSqliteStore({ path }),
      dispose: async () => {
        for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
      },
    }
  })
})

// Skipped only when PostgreSQL is unreachable on this machine (globalSetup prints a warning);
// in CI an unreachable server fails the run instead.
describe.skipIf(!inject('pgUrl'))('outbox worker on PostgreSQL', () => {
  outboxSuite(async () => {
    const url = inject('pgUrl')
    const schema = await createTestSchema(url)
    return {
      open: () => openPostgresStore({ url, schema: schema.schema }),
      dispose: () => schema.drop(),
    }
  })
})

// --- the webhook receiver -------------------------------------------------------------------------

interface Receiver {
  url: string
  /** Register the events whose deliveries will arrive (id → exact payload). */
  expect(events: readonly OutboxInsert[]): void
  /** Requests that arrived for an id (answered or not). */
  requests(id: string): number
  /** 2xx answers sent for an id. */
  accepted(id: string): number
  /** When the first request for an id arrived (ms since epoch). */
  firstSeen(id: string): number | undefined
  /** Requests received so far. */
  total(): number
  /** Everything wrong the receiver saw (bad signature, changed body, overlapping deliveries…). */
  problems(): string[]
  close(): Promise<void>
}

/**
 * A merchant's webhook endpoint that checks each request fully, then answers 200 to half of them
 * and fails the other half (chosen by a seeded PRNG): 500 (42 %), a dropped connection (6 %), or
 * no answer until the sender times out (2 %).
 */
async function startReceiver({ seed }: { seed: number }): Promise<Receiver> {
  const random = mulberry32(seed)
  const payloads = new Map<string, Buffer>()
  const requests = new Map<string, number>()
  const accepted = new Map<string, number>()
  const firstSeen = new Map<string, number>()
  const inFlight = new Set<string>()
  const problems: string[] = []
  let total = 0

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      total++
      const body = Buffer.concat(chunks)
      const id = String(req.headers['webhook-id'])
      const problem = check(req, id, body)
      if (problem !== undefined) {
        problems.push(`${id}: ${problem}`)
        res.writeHead(400).end()
        return
      }
      requests.set(id, (requests.get(id) ?? 0) + 1)
      if (!firstSeen.has(id)) firstSeen.set(id, Date.now())
      const r = random()
      if (r < 0.02) return // hang: the sender's timeout fires; we never process it
      if (r < 0.08) {
        req.socket.destroy() // connection dropped before any answer
        return
      }
      // Only answered requests count for overlap: a hung or dropped one is never processed.
      if (inFlight.has(id)) problems.push(`${id}: delivered while another delivery of it was in flight`)
      inFlight.add(id)
      res.on('close', () => inFlight.delete(id))
      if (r < 0.5) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('try again')
        return
      }
      // Accepted once the answer is handed to the connection (not if the sender already left).
      res.on('finish', () => accepted.set(id, (accepted.get(id) ?? 0) + 1))
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}')
    })
  })

  function check(req: IncomingMessage, id: string, body: Buffer): string | undefined {
    const expected = payloads.get(id)
    if (expected === undefined) return 'unknown Webhook-Id'
    if (req.method !== 'POST') return `method ${req.method}`
    if (req.headers['content-type'] !== 'application/json') return `content-type ${req.headers['content-type']}`
    if (req.headers['user-agent'] !== 'agentswitch-webhooks/1') return `user-agent ${req.headers['user-agent']}`
    if (!body.equals(expected)) return 'body differs from the stored payload'
    const v = verifyWebhookSignature({ secret: SECRET, header: req.headers['agentswitch-signature'], body })
    if (!v.ok) return `signature: ${v.reason}`
    if (req.headers['webhook-timestamp'] !== String(v.timestamp)) return 'Webhook-Timestamp differs from the signed t'
    return undefined
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/agentswitch`,
    expect: (events) => events.forEach((e) => payloads.set(e.id, Buffer.from(e.payload, 'utf8'))),
    requests: (id) => requests.get(id) ?? 0,
    accepted: (id) => accepted.get(id) ?? 0,
    firstSeen: (id) => firstSeen.get(id),
    total: () => total,
    problems: () => [...problems],
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

// --- helpers --------------------------------------------------------------------------------------

/** Events with payloads a re-serialisation would change (spacing, key order, non-ASCII, escapes). */
function makeEvents(n: number, destination = DESTINATION): OutboxInsert[] {
  const createdAt = new Date()
  return Array.from({ length: n }, (_, i) => {
    const id = newId('evt')
    return {
      id,
      type: 'payment_intent.succeeded',
      destination,
      aggregateId: `pi_${i}`,
      createdAt,
      payload: `{"id":"${id}",  "type":"payment_intent.succeeded","data":{"n":${i},"amount":"12.50","note":"café € ✓ 😀 \\"q\\" \\u00e9", "z":1,"a":[ ]}}`,
    }
  })
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(25)
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
