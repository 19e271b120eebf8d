import { mkdtempSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { RailAdapter, RailOutcome } from '../../../core/rails/port.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import type { Store } from '../../../core/store/port.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { buildAlipayRail, RESEND_NOT_SENT_AFTER_UNKNOWN } from './alipayRail.js'
import { buildAntomRail } from './antomRail.js'
import { authorizedIntent, silentLogger, startRailHarness, type RailHarness } from './testing.js'

/**
 * Review finding (double charge): the first send times out after it was sent (unknown), the query
 * says "not found", the re-send with the same out_trade_no / paymentRequestId finds every endpoint
 * refusing the connection. The rail must not report that as "not sent" (ECONNREFUSED), or
 * settleIntent fails over to another rail (another account, no shared key) while the first send
 * may still complete late. Real HTTP: the rail's endpoint is a local server that holds the first
 * request, forwards the query to the Alipay sandbox, then stops listening (connections refused).
 */

let h: RailHarness
let store: Store
const TIMEOUT_MS = 400

beforeAll(async () => {
  h = await startRailHarness({ alipay: { timeoutMs: TIMEOUT_MS }, antom: { timeoutMs: TIMEOUT_MS } })
  store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-resend-')), 's.db') })
  await store.migrate()
})
afterAll(async () => {
  await h?.close()
  await store?.close()
})

interface HeldRequest {
  url: string
  headers: Record<string, string>
  body: string
}

/**
 * An endpoint that holds request 1 unanswered (the client times out after sending), forwards
 * request 2 to `upstream` (answered with `Connection: close`), and stops listening on it: every
 * later connection is refused. `late()` delivers the held request to `upstream` (the first send
 * completing late).
 */
async function hangThenRefuse(upstream: string): Promise<{ url: string; late(): Promise<number>; close(): void }> {
  let n = 0
  let held: { req: HeldRequest; res: ServerResponse } | undefined
  const read = async (req: IncomingMessage): Promise<HeldRequest> => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(k)) headers[k] = v
    return { url: req.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8') }
  }
  const forward = (r: HeldRequest): Promise<Response> => fetch(upstream + r.url, { method: 'POST', headers: r.headers, body: r.body })
  const server: Server = createServer((req, res) => {
    const i = ++n
    void (async () => {
      const r = await read(req)
      if (i === 1) {
        held = { req: r, res }
        return
      }
      // From now on nothing listens: every new connection is refused.
      server.close()
      for (const s of sockets) if (s !== req.socket) s.destroy()
      const up = await forward(r)
      const headers: Record<string, string> = { connection: 'close' }
      up.headers.forEach((v, k) => {
        if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) headers[k] = v
      })
      // No keep-alive: the next call must open a new connection, and be refused.
      res.shouldKeepAlive = false
      res.on('finish', () => res.socket?.end())
      res.writeHead(up.status, headers).end(await up.text())
    })()
  })
  // The client may open a spare connection ahead of time: closed too at the cut-off.
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    async late() {
      if (!held) throw new Error('no request was held')
      const up = await forward(held.req)
      await up.text()
      return up.status
    },
    close() {
      server.close()
      server.closeAllConnections()
    },
  }
}

/** A failover rail that only records whether it was called. */
function recording(inner: RailAdapter): RailAdapter & { calls: number } {
  const r = {
    ...inner,
    calls: 0,
    async settle(p: Parameters<RailAdapter['settle']>[0]): Promise<RailOutcome> {
      r.calls++
      return inner.settle(p)
    },
  }
  return r
}

const log = (ref: string) => h.sandbox.requestLog.filter((l) => l.ref === ref).map((l) => l.target)
const paymentsOf = (ref: string) => h.sandbox.ledger.entries({ kind: 'payment', ref })

describe('a re-send refused after an unknown first send never fails over to another rail', () => {
  it('alipay: timeout → query not found → re-send refused: unknown resend_not_sent_after_unknown, no second rail, intent stays processing; reconciled later', async () => {
    const edge = await hangThenRefuse(h.sandbox.edges['primary']!.url)
    const ctx = { breakers: new BreakerRegistry(), logger: silentLogger() }
    const rail = buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_a', endpoints: [{ name: 'primary', url: edge.url }], breaker: { volumeThreshold: 10_000 } }, ctx)
    const other = recording(buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_b' }, ctx))
    try {
      const id = await authorizedIntent(store, { value: '4321' })
      const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test', route: { failover: [{ rail: other }] } })
      expect(outcome).toMatchObject({ status: 'unknown', code: RESEND_NOT_SENT_AFTER_UNKNOWN })
      expect(other.calls).toBe(0)
      expect(intent).toMatchObject({ status: 'processing', route: { rail: 'alipay_a', attempts: [{ rail: 'alipay_a', outcome: 'unknown', code: RESEND_NOT_SENT_AFTER_UNKNOWN }] } })
      const outTradeNo = rail.outTradeNoOf(intent)
      // The sandbox saw only the query: the re-send was refused, no other rail paid.
      expect(log(outTradeNo)).toEqual(['alipay.trade.query'])
      // The first send completes late on the first account: one payment, and reconciliation finds it.
      expect(await edge.late()).toBe(200)
      expect(paymentsOf(outTradeNo)).toHaveLength(1)
      // (the first account's endpoint is reachable again)
      const again = buildAlipayRail({ ...h.alipayOptions, rail: 'alipay_a' }, { breakers: new BreakerRegistry(), logger: silentLogger() })
      const done = await settleIntent({ store }, { intentId: id, rail: again, credential: undefined, actor: 'system:reconciler' }).finally(() => again.shutdown())
      expect(done.intent).toMatchObject({ status: 'succeeded', settlement: { rail: 'alipay_a' } })
      expect(paymentsOf(outTradeNo)).toHaveLength(1)
    } finally {
      edge.close()
      await rail.shutdown()
      await other.close?.()
    }
  })

  it('antom: timeout → inquiry not found → re-send refused: unknown resend_not_sent_after_unknown, no second rail, intent stays processing', async () => {
    const edge = await hangThenRefuse(h.sandbox.edges['primary']!.url)
    const ctx = { breakers: new BreakerRegistry(), logger: silentLogger() }
    const rail = buildAntomRail({ ...h.antomOptions, rail: 'antom_a', endpoints: [{ name: 'primary', url: edge.url }], breaker: { volumeThreshold: 10_000 } }, ctx)
    const other = recording(buildAntomRail({ ...h.antomOptions, rail: 'antom_b' }, ctx))
    try {
      const id = await authorizedIntent(store, { value: '1999', asset: 'iso4217:USD', instrument: { type: 'card.vault_token', ref: 'card_tok_visa_4242' } })
      const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test', route: { failover: [{ rail: other }] } })
      expect(outcome).toMatchObject({ status: 'unknown', code: RESEND_NOT_SENT_AFTER_UNKNOWN })
      expect(other.calls).toBe(0)
      expect(intent).toMatchObject({ status: 'processing', route: { rail: 'antom_a', attempts: [{ rail: 'antom_a', outcome: 'unknown', code: RESEND_NOT_SENT_AFTER_UNKNOWN }] } })
      expect(log(rail.paymentRequestIdOf(intent)).every((t) => !t.endsWith('.pay'))).toBe(true)
      expect(paymentsOf(rail.paymentRequestIdOf(intent))).toHaveLength(0)
    } finally {
      edge.close()
      await rail.shutdown()
      await other.close?.()
    }
  })
})
