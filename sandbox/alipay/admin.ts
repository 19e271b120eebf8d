import { validateFaultConfig, type FaultInjector } from './faults.js'
import type { Notifier } from './notifier.js'
import type { Reply } from './protocols.js'
import type { RequestLogEntry } from './server.js'
import type { TradeOps } from './tradeOps.js'
import { formatYuan } from './units.js'
import type { SandboxTrade, SandboxWorld } from './world.js'

/**
 * The sandbox admin API (JSON, no auth: the sandbox binds to loopback). Amounts are minor units
 * (fen for CNY) as strings, like the gateway's canonical money.
 *
 * - `GET  /admin` — this list
 * - `GET  /admin/ledger[?rail=&kind=&ref=&currency=]` — entries, totals per rail:currency, refs paid twice
 * - `GET  /admin/trades[?out_trade_no=]`, `GET /admin/trades/{out_trade_no}[?app_id=]`
 * - `POST /admin/trades/{out_trade_no}/pay {app_id?, buyer_id?}` — the buyer's step (QR scan + pay, or confirm a 10003)
 * - `POST /admin/trades/{out_trade_no}/finish {app_id?}` — `TRADE_SUCCESS → TRADE_FINISHED`
 * - `GET  /admin/antom/payments[?paymentRequestId=]`
 * - `POST /admin/buyers {userId?, logonId?, balances}`, `GET /admin/buyers/{id}`
 * - `POST /admin/agreements {agreementNo?, buyerId, status?}`, `POST /admin/agreements/{no}/stop`
 * - `POST /admin/delegations {delegationId?, agreementNo, maxTotal, maxSingle?, validFrom?, validTo?}`
 * - `POST /admin/auth-codes {buyerId, requiresConfirmation?}` — a one-time barcode
 * - `POST /admin/payment-methods {type, id, cardNumber?, balances, declineCode?}` — Antom cards / wallets
 * - `GET|PUT|DELETE /admin/faults` — `{seed?, rules:[{kind, target?, edge?, probability?, …}]}`
 * - `GET|DELETE /admin/faults/stats`
 * - `GET  /admin/notifications[?ref=]`, `GET /admin/requests[?ref=&target=]`
 * - `POST /admin/apps {appId, publicKeyPem, clientId?}`
 */
export function adminRoutes(deps: {
  world: SandboxWorld
  trades: TradeOps
  faults: FaultInjector
  notifier: Notifier
  requestLog: RequestLogEntry[]
  keyPair: { publicKeyPem: string }
}): (method: string, url: URL, raw: Buffer) => Reply {
  const { world, trades, faults, notifier } = deps
  const json = (status: number, v: unknown): Reply => ({
    status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Map ? Object.fromEntries(x) : x)),
  })
  const tradeView = (t: SandboxTrade): Record<string, unknown> => ({
    appId: t.appId,
    outTradeNo: t.outTradeNo,
    tradeNo: t.tradeNo,
    status: t.status,
    total: t.total.toString(),
    totalYuan: formatYuan(t.total),
    refunded: t.refunded.toString(),
    subject: t.subject,
    buyerId: t.buyerId,
    createdAt: t.createdAt.toISOString(),
    paidAt: t.paidAt?.toISOString(),
    closedAt: t.closedAt?.toISOString(),
    agreementNo: t.agreementNo,
    delegationId: t.delegationId,
    prepayId: t.prepayId,
    refunds: [...t.refunds.values()].map((r) => ({ outRequestNo: r.outRequestNo, amount: r.amount.toString(), at: r.at.toISOString() })),
  })
  const appOf = (given: unknown): string | undefined => (typeof given === 'string' ? given : world.apps.size === 1 ? [...world.apps.keys()][0] : undefined)

  return (method, url, raw) => {
    let body: Record<string, unknown> = {}
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>
      } catch {
        return json(400, { error: 'the body must be JSON' })
      }
    }
    const q = (k: string): string | undefined => url.searchParams.get(k) ?? undefined
    const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent)
    const route = `${method} /${parts.map((p, i) => (i > 0 && ['trades', 'buyers', 'agreements'].includes(parts[i - 1]!) ? ':id' : p)).join('/')}`
    try {
      switch (route) {
        case 'GET /':
          return json(200, {
            alipayPublicKeyPem: deps.keyPair.publicKeyPem,
            apps: [...world.apps.values()].map((a) => ({ appId: a.appId, clientId: a.clientId, sellerId: a.sellerId, balances: a.balances })),
            endpoints: [
              'GET /admin/ledger',
              'GET /admin/trades',
              'GET /admin/trades/{out_trade_no}',
              'POST /admin/trades/{out_trade_no}/pay',
              'POST /admin/trades/{out_trade_no}/finish',
              'GET /admin/antom/payments',
              'POST /admin/buyers',
              'GET /admin/buyers/{id}',
              'POST /admin/agreements',
              'POST /admin/agreements/{no}/stop',
              'POST /admin/delegations',
              'POST /admin/auth-codes',
              'POST /admin/payment-methods',
              'GET|PUT|DELETE /admin/faults',
              'GET|DELETE /admin/faults/stats',
              'GET /admin/notifications',
              'GET /admin/requests',
              'POST /admin/apps',
            ],
          })
        case 'GET /ledger':
          return json(200, {
            entries: world.ledger.entries({ rail: q('rail'), kind: q('kind'), ref: q('ref'), currency: q('currency') }),
            totals: world.ledger.totals(),
            paidTwice: world.ledger.paidTwice(),
          })
        case 'GET /trades': {
          const ref = q('out_trade_no')
          const list = [...world.trades.values()].filter((t) => ref === undefined || t.outTradeNo === ref)
          return json(200, { trades: list.slice(-1000).map(tradeView), count: list.length })
        }
        case 'GET /trades/:id': {
          const appId = appOf(q('app_id'))
          const t = appId ? world.trades.get(world.tradeKey(appId, parts[1]!)) : undefined
          return t ? json(200, tradeView(trades.touch(t))) : json(404, { error: 'no such trade' })
        }
        case 'POST /trades/:id/pay': {
          const appId = appOf(body['app_id'])
          if (!appId) return json(400, { error: 'app_id is required when several apps are registered' })
          const r = trades.buyerPays(appId, parts[1]!, typeof body['buyer_id'] === 'string' ? body['buyer_id'] : undefined)
          return json(r.code === '10000' ? 200 : 409, r)
        }
        case 'POST /trades/:id/finish': {
          const appId = appOf(body['app_id'])
          const t = appId ? world.trades.get(world.tradeKey(appId, parts[1]!)) : undefined
          if (!t) return json(404, { error: 'no such trade' })
          return trades.finish(t) ? json(200, tradeView(t)) : json(409, { error: `a ${t.status} trade cannot finish` })
        }
        case 'GET /antom/payments': {
          const ref = q('paymentRequestId')
          const list = [...world.antomPayments.values()].filter((p) => ref === undefined || p.paymentRequestId === ref)
          return json(200, { payments: list.slice(-1000), count: list.length })
        }
        case 'POST /buyers':
          return json(201, world.putBuyer(body as { userId?: string; logonId?: string; balances?: Record<string, string> }))
        case 'GET /buyers/:id': {
          const b = world.buyers.get(parts[1]!)
          return b ? json(200, b) : json(404, { error: 'no such buyer' })
        }
        case 'POST /agreements': {
          if (typeof body['buyerId'] !== 'string' || !world.buyers.has(body['buyerId'])) return json(400, { error: 'buyerId must name a known buyer' })
          const no = typeof body['agreementNo'] === 'string' ? body['agreementNo'] : world.nextId('2021', 20)
          const ag = { agreementNo: no, buyerId: body['buyerId'], status: body['status'] === 'STOP' ? ('STOP' as const) : ('NORMAL' as const) }
          world.agreements.set(no, ag)
          return json(201, ag)
        }
        case 'POST /agreements/:id/stop': {
          const ag = world.agreements.get(parts[1]!)
          if (!ag) return json(404, { error: 'no such agreement' })
          ag.status = 'STOP'
          return json(200, ag)
        }
        case 'POST /delegations': {
          if (typeof body['agreementNo'] !== 'string' || !world.agreements.has(body['agreementNo'])) return json(400, { error: 'agreementNo must name a known agreement' })
          if (typeof body['maxTotal'] !== 'string' || !/^[0-9]+$/.test(body['maxTotal'])) return json(400, { error: 'maxTotal: minor units as a string' })
          return json(201, world.putDelegation(body as { agreementNo: string; maxTotal: string }))
        }
        case 'POST /auth-codes': {
          if (typeof body['buyerId'] !== 'string' || !world.buyers.has(body['buyerId'])) return json(400, { error: 'buyerId must name a known buyer' })
          const code = `28${String(Math.floor(world.rand() * 1e16)).padStart(16, '0')}`
          world.authCodes.set(code, { buyerId: body['buyerId'], requiresConfirmation: body['requiresConfirmation'] === true })
          return json(201, { authCode: code })
        }
        case 'POST /payment-methods': {
          if (typeof body['type'] !== 'string' || typeof body['id'] !== 'string' || typeof body['balances'] !== 'object') return json(400, { error: 'type, id and balances are required' })
          const acct = world.putPaymentMethod(body as { type: string; id: string; balances: Record<string, string> })
          return json(201, { type: acct.type, id: acct.id, last4: acct.last4, balances: acct.balances, declineCode: acct.declineCode })
        }
        case 'GET /faults':
          return json(200, faults.config)
        case 'PUT /faults':
        case 'POST /faults':
          faults.set(validateFaultConfig(body))
          return json(200, faults.config)
        case 'DELETE /faults':
          faults.clear()
          return json(200, faults.config)
        case 'GET /faults/stats':
          return json(200, faults.stats())
        case 'DELETE /faults/stats':
          faults.resetStats()
          return json(200, faults.stats())
        case 'GET /notifications': {
          const ref = q('ref')
          return json(200, { notifications: notifier.records.filter((n) => ref === undefined || n.ref === ref).slice(-1000) })
        }
        case 'GET /requests': {
          const ref = q('ref')
          const target = q('target')
          return json(200, { requests: deps.requestLog.filter((r) => (ref === undefined || r.ref === ref) && (target === undefined || r.target === target)).slice(-5000) })
        }
        case 'POST /apps': {
          if (typeof body['appId'] !== 'string' || typeof body['publicKeyPem'] !== 'string') return json(400, { error: 'appId and publicKeyPem are required' })
          const a = world.registerApp(body as { appId: string; publicKeyPem: string; clientId?: string })
          return json(201, { appId: a.appId, clientId: a.clientId, sellerId: a.sellerId })
        }
        default:
          return json(404, { error: `no admin route ${method} ${url.pathname}` })
      }
    } catch (err) {
      return json(400, { error: err instanceof Error ? err.message : String(err) })
    }
  }
}

