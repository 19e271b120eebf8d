import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createPublicKey } from 'node:crypto'
import { generateRsaKeyPair, privateKeyFrom, antomSignContent, antomSignatureHeader, rsa2Sign, v2SignContent, type RsaKeyPairPem } from './crypto.js'
import { FaultInjector, type FaultConfig, type FaultRule } from './faults.js'
import { Notifier, type NotificationRecord, type NotifierOptions } from './notifier.js'
import { prepareAntom, prepareV2, prepareV3, type Prepared, type ProtocolDeps, type Reply } from './protocols.js'
import { AntomOps } from './antomOps.js'
import { TradeOps } from './tradeOps.js'
import { isoWithOffset } from './units.js'
import { DEFAULT_FIXTURES, SandboxWorld, type SandboxFixtures, type SandboxLedger } from './world.js'
import { adminRoutes } from './admin.js'

/** A merchant app the sandbox accepts calls from. */
export interface SandboxAppConfig {
  appId: string
  /** The app's public key (SPKI PEM or bare base64): verifies its v2/v3/Antom signatures. */
  publicKeyPem: string
  /** Antom `Client-Id` (defaults to `appId`). */
  clientId?: string | undefined
  /** The merchant's `seller_id` (2088…). */
  sellerId?: string | undefined
}

export interface AlipaySandboxOptions {
  /** Port of the first edge (0 = any). */
  port?: number | undefined
  host?: string | undefined
  /**
   * Listeners sharing one state, each on its own port: a rail's two endpoints in tests (faults can
   * target one edge). Default: one edge `primary` on `port`.
   */
  edges?: Array<{ name: string; port?: number | undefined }> | undefined
  apps?: SandboxAppConfig[] | undefined
  /** Shorthand for `apps`: app id → public key. */
  appPublicKeys?: Record<string, string> | undefined
  /** The sandbox's own ("Alipay's") key pair; generated when absent. */
  alipayKeyPair?: { privateKeyPem: string; publicKeyPem?: string | undefined } | undefined
  /** Seed of the PRNG behind fault decisions. */
  seed?: number | undefined
  clock?: (() => Date) | undefined
  /** Seed data; `false` for none. Default {@link DEFAULT_FIXTURES}. */
  fixtures?: SandboxFixtures | false | undefined
  notify?: NotifierOptions | undefined
  /** Accepted clock skew of v2 `timestamp` / v3 `timestamp` (default 15 min); `null` accepts any. */
  timestampToleranceMs?: number | null | undefined
  /** `TRADE_SUCCESS → TRADE_FINISHED` after this long (default: never, or by the admin API). */
  finishAfterMs?: number | undefined
  /** Faults active from the start. */
  faults?: FaultConfig | undefined
}

/** One line of the request log (admin `GET /admin/requests`): what tests use to prove "query before re-pay". */
export interface RequestLogEntry {
  seq: number
  /** Order of arrival (before any injected latency): the causal order of a client's calls. */
  received: number
  at: string
  edge: string
  protocol: 'v2' | 'v3' | 'antom'
  target: string
  ref?: string | undefined
  /** The fault that fired, if any. */
  fault?: string | undefined
  /** What the business operation answered (`10000`, `40004:ACQ.…`, `S:SUCCESS`), or `-` when it did not run. */
  outcome: string
}

export interface AlipaySandbox {
  /** Origin of the first edge (`http://127.0.0.1:PORT`): v3 `endpoint` and Antom base URL. */
  url: string
  /** `${url}/gateway.do`. */
  gatewayUrl: string
  /** Every edge by name. */
  edges: Record<string, { url: string; gatewayUrl: string; port: number }>
  adminUrl: string
  /** The sandbox's ("Alipay's") public key (SPKI PEM): what merchants verify answers and notifications with. */
  alipayPublicKeyPem: string
  ledger: SandboxLedger
  world: SandboxWorld
  trades: TradeOps
  faults: FaultInjector
  notifications: readonly NotificationRecord[]
  requestLog: readonly RequestLogEntry[]
  /** Accept another app at run time. */
  registerApp(app: SandboxAppConfig): void
  /** Wait until no notification is queued or in flight. */
  notificationsIdle(timeoutMs?: number): Promise<boolean>
  close(): Promise<void>
}

const MAX_BODY = 1 << 20
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > MAX_BODY) return undefined
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}

/**
 * Start an Alipay-compatible sandbox (Open Platform v2 + v3, Antom-style cross-border, admin API).
 * Everything is in memory; the ledger proves money moved exactly once.
 *
 * @example
 * const sb = await startAlipaySandbox({ apps: [{ appId: '9021000000000001', publicKeyPem }] })
 * // alipay-sdk: new AlipaySdk({ appId, privateKey, alipayPublicKey: sb.alipayPublicKeyPem, gateway: sb.gatewayUrl, endpoint: sb.url })
 */
export async function startAlipaySandbox(options: AlipaySandboxOptions = {}): Promise<AlipaySandbox> {
  const now = options.clock ?? (() => new Date())
  const keyPair: RsaKeyPairPem = options.alipayKeyPair
    ? {
        privateKeyPem: options.alipayKeyPair.privateKeyPem,
        publicKeyPem: options.alipayKeyPair.publicKeyPem ?? createPublicKey(privateKeyFrom(options.alipayKeyPair.privateKeyPem)).export({ type: 'spki', format: 'pem' }).toString(),
      }
    : generateRsaKeyPair()
  const alipayKey = privateKeyFrom(keyPair.privateKeyPem)
  const world = new SandboxWorld(now, options.seed ?? 1, { finishAfterMs: options.finishAfterMs })
  if (options.fixtures !== false) world.load(options.fixtures ?? DEFAULT_FIXTURES)
  for (const a of options.apps ?? []) world.registerApp(a)
  for (const [appId, publicKeyPem] of Object.entries(options.appPublicKeys ?? {})) world.registerApp({ appId, publicKeyPem })
  const faults = new FaultInjector(options.seed ?? 1)
  if (options.faults) faults.set(options.faults)
  const notifier = new Notifier(faults, now, options.notify)
  let notifySeq = 0

  const trades = new TradeOps(world, (e) => {
    const t = e.trade
    // WAIT_BUYER_PAY is not notified by default (digest §2.2); internal states never are.
    if (!t.notifyUrl || !['TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED'].includes(t.status)) return
    const app = world.apps.get(t.appId)
    if (!app) return
    const notifyId = `${Date.now().toString(36)}${(++notifySeq).toString(36).padStart(6, '0')}${Math.floor(world.rand() * 1e9).toString(36)}`
    const fields = trades.notificationFields(e, app, notifyId)
    // Signed without `sign` and `sign_type` (rsaCheckV1, digest §2.4).
    fields['sign'] = rsa2Sign(v2SignContent(fields, ['sign', 'sign_type']), alipayKey)
    const body = new URLSearchParams(fields).toString()
    notifier.send({
      kind: 'alipay',
      ref: t.outTradeNo,
      event: e.refund ? `${t.status}:refund` : t.status,
      url: t.notifyUrl,
      build: () => ({ headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body }),
    })
  })
  const antom = new AntomOps(world, ({ payment: p }) => {
    if (!p.notifyUrl) return
    const target = p.notifyUrl
    const app = world.appsByClientId.get(p.clientId)
    if (!app) return
    const body = JSON.stringify(antom.notificationBody(p))
    notifier.send({
      kind: 'antom',
      ref: p.paymentRequestId,
      event: p.status,
      url: target,
      build: () => {
        const time = isoWithOffset(now())
        const sig = rsa2Sign(antomSignContent('POST', new URL(target).pathname, app.clientId, time, body), alipayKey)
        return {
          headers: { 'content-type': 'application/json; charset=UTF-8', 'client-id': app.clientId, 'request-time': time, signature: antomSignatureHeader(sig) },
          body,
        }
      },
    })
  })

  const deps: ProtocolDeps = {
    world,
    trades,
    antom,
    alipayKey,
    now,
    timestampToleranceMs: options.timestampToleranceMs === undefined ? 15 * 60_000 : options.timestampToleranceMs,
  }
  const requestLog: RequestLogEntry[] = []
  const held = new Set<NodeJS.Timeout>()
  let arrivals = 0
  const log = (e: Omit<RequestLogEntry, 'seq' | 'at'>): void => {
    requestLog.push({ seq: requestLog.length + 1, at: now().toISOString(), ...e })
  }
  const admin = adminRoutes({ world, trades, faults, notifier, requestLog, keyPair })

  const send = (res: ServerResponse, r: Reply): void => {
    if (res.destroyed) return
    res.writeHead(r.status, { ...r.headers, 'content-length': Buffer.byteLength(r.body) })
    res.end(r.body)
  }
  const hold = (res: ServerResponse, ms: number): void => {
    const t = setTimeout(() => {
      held.delete(t)
      res.socket?.destroy()
    }, ms)
    held.add(t)
  }

  const apply = async (p: Prepared, edge: string, res: ServerResponse): Promise<void> => {
    const received = ++arrivals
    const { latencyMs, action } = faults.decideRequest(p.target, edge)
    if (latencyMs > 0) await sleep(latencyMs)
    const entry = { received, edge, protocol: p.protocol, target: p.target, ref: p.ref }
    if (!action) {
      const { reply, outcome } = p.run()
      log({ ...entry, outcome })
      return send(res, reply)
    }
    const fault = action.kind
    const runIf = (applied: boolean): string => (applied ? p.run().outcome : '-')
    switch (action.kind) {
      case 'http_5xx': {
        const outcome = runIf(action.applied ?? false)
        log({ ...entry, fault, outcome })
        return send(res, { status: action.status ?? 502, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>502 Bad Gateway</h1></body></html>' })
      }
      case 'system_error': {
        const outcome = runIf(action.applied ?? false)
        log({ ...entry, fault, outcome })
        return send(res, p.systemError())
      }
      case 'unknown_result': {
        const outcome = runIf(action.applied ?? true)
        log({ ...entry, fault, outcome })
        return send(res, p.unknownResult())
      }
      case 'timeout': {
        const outcome = runIf(action.applied ?? false)
        log({ ...entry, fault, outcome })
        return hold(res, action.holdMs ?? 30_000)
      }
      case 'success_then_unknown': {
        const { outcome } = p.run()
        log({ ...entry, fault, outcome })
        switch (action.mode ?? 'http_5xx') {
          case 'drop':
            res.socket?.destroy()
            return
          case 'hang':
            return hold(res, action.holdMs ?? 30_000)
          case 'system_error':
            return send(res, p.systemError())
          default:
            return send(res, { status: action.status ?? 500, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>500 Internal Server Error</h1></body></html>' })
        }
      }
      case 'tamper': {
        const { reply, outcome } = p.run()
        log({ ...entry, fault, outcome })
        return send(res, p.tamper(reply))
      }
      default:
        return send(res, p.run().reply)
    }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, edge: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://sandbox.local')
    const raw = await readBody(req)
    if (raw === undefined) return send(res, { status: 413, headers: { 'content-type': 'text/plain' }, body: 'request body too large' })
    const path = url.pathname
    let prepared: Prepared | Reply
    if (path === '/gateway.do') prepared = prepareV2(deps, req, url, raw)
    else if (path.startsWith('/v3/')) prepared = prepareV3(deps, req, url, raw)
    else if (/^\/ams\/(?:sandbox\/)?api\/v1\//.test(path)) prepared = prepareAntom(deps, req, url, raw)
    else if (path === '/admin' || path.startsWith('/admin/')) return send(res, admin(req.method ?? 'GET', url, raw))
    else if (path === '/' || path === '/healthz') return send(res, { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, service: 'agentswitch-alipay-sandbox' }) })
    else return send(res, { status: 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: `no route ${req.method} ${path}` }) })
    if ('status' in prepared) return send(res, prepared)
    await apply(prepared, edge, res)
  }

  const host = options.host ?? '127.0.0.1'
  const edgeSpecs = options.edges ?? [{ name: 'primary', port: options.port ?? 0 }]
  const servers: Server[] = []
  const edges: AlipaySandbox['edges'] = {}
  for (const spec of edgeSpecs) {
    const server = createServer((req, res) => {
      handle(req, res, spec.name).catch((err: unknown) => {
        send(res, { status: 500, headers: { 'content-type': 'text/plain' }, body: `sandbox error: ${err instanceof Error ? err.message : String(err)}` })
      })
    })
    server.keepAliveTimeout = 30_000
    server.listen(spec.port ?? 0, host)
    await once(server, 'listening')
    servers.push(server)
    const port = (server.address() as AddressInfo).port
    const h = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host
    edges[spec.name] = { url: `http://${h}:${port}`, gatewayUrl: `http://${h}:${port}/gateway.do`, port }
  }
  const first = edges[edgeSpecs[0]!.name]!
  const sweeper = setInterval(() => trades.sweep(), 1_000)
  sweeper.unref()

  let closing: Promise<void> | undefined
  return {
    url: first.url,
    gatewayUrl: first.gatewayUrl,
    edges,
    adminUrl: `${first.url}/admin`,
    alipayPublicKeyPem: keyPair.publicKeyPem,
    ledger: world.ledger,
    world,
    trades,
    faults,
    get notifications() {
      return notifier.records
    },
    requestLog,
    registerApp: (a) => void world.registerApp(a),
    notificationsIdle: (ms) => notifier.idle(ms),
    close() {
      closing ??= (async () => {
        clearInterval(sweeper)
        for (const t of held) clearTimeout(t)
        held.clear()
        await notifier.close()
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve())
                s.closeAllConnections()
              }),
          ),
        )
      })()
      return closing
    },
  }
}

export type { FaultConfig, FaultRule }
