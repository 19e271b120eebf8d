import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Express } from 'express'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../core/config/load.js'
import { createOutboxWorker, type OutboxDestination } from '../../core/events/outboxWorker.js'
import { createAssetRegistry, type AssetRegistry } from '../../core/money/assets.js'
import type { DestinationsFor } from '../../core/pipeline/webhookEvent.js'
import { createReconciler } from '../../core/pipeline/reconciler.js'
import { createRefundSweeper } from '../../core/pipeline/refundSweeper.js'
import { createApprovalSweeper } from '../../core/approvals/sweeper.js'
import type { PolicyEngine } from '../../core/policy/port.js'
import { openStore } from '../../core/store/open.js'
import { RailRegistry, type RailAdapter } from '../../core/rails/port.js'
import type { Store } from '../../core/store/port.js'
import { BreakerRegistry } from '../rails/shared/breakers.js'
import { attachRouter } from '../../core/routing/router.js'
import { routerFromConfig } from '../../core/routing/routerFromConfig.js'
import { createHttpApp, leanDispatcherOf, type HttpAppDeps, type Mount } from '../http/app.js'
import { createExpressServer } from '../http/server.js'
// --- policy composition (issue 10, W) ---
import { composePolicies } from '../../core/policy/compose.js'
import { createWalletPolicy } from '../../core/wallets/walletPolicy.js'
import { routerOf } from '../../core/routing/router.js'
import { composeFromConfig } from './compose.js'
import { createAuthenticator } from '../http/auth.js'
import { createLogger } from '../http/logger.js'
import { createMetrics, type GatewayMetrics } from '../http/metrics.js'
import { createWebhookSink, type WebhookSink } from '../http/routes/webhookSink.js'

export const GATEWAY_VERSION = '0.1.0'

/** Outbox destination of wallet threshold notifications (config `wallets.notifications`). */
export const WALLET_NOTIFY_DESTINATION = 'wallets'

export interface CreateGatewayOptions {
  /** Defaults to a JSON logger on stdout at `config.log.level`. */
  logger?: Logger | undefined
  /** An already-open store (tests, benchmarks); otherwise opened from `config.store`. */
  store?: Store | undefined
  /** Surfaces added by protocol adapters (each mounts its own router). */
  mounts?: readonly Mount[] | undefined
  /**
   * Rails, registered explicitly here (never on import). Each factory gets the gateway's breaker
   * registry and logger so its endpoints' breakers show in `/metrics` and `/v1/rails`.
   */
  rails?: ReadonlyArray<(ctx: { breakers: BreakerRegistry; logger: Logger; store: Store }) => RailAdapter> | undefined
  /** Serve `/dev/webhook-sink` with this secret (dev mode). */
  webhookSinkSecret?: string | undefined
  /** Extra outbox destinations (protocol webhooks); mounts may also add theirs. */
  outboxDestinations?: ReadonlyArray<(name: string) => OutboxDestination | undefined> | undefined
  /**
   * An extra policy engine, composed AFTER the built-in ones (wallets first, then the
   * composition's engines): deny > review > allow (see `composePolicies`).
   */
  policy?: PolicyEngine | undefined
  /** Collect Node process metrics (off in tests that start many gateways). */
  defaultMetrics?: boolean | undefined
}

/** A composed gateway: everything wired, nothing listening until {@link Gateway.listen}. */
export interface Gateway {
  readonly config: GatewayConfig
  readonly app: Express
  readonly store: Store
  readonly assets: AssetRegistry
  readonly logger: Logger
  readonly metrics: GatewayMetrics
  readonly rails: RailRegistry
  readonly breakers: BreakerRegistry
  /** Everything the HTTP surfaces were built from (for adapters and tests). */
  readonly deps: HttpAppDeps
  readonly webhookSink?: WebhookSink | undefined
  /** Listen on `config.server.host:port` (port 0 = any) and start the workers; returns the base URL. */
  listen(): Promise<string>
  /** Stop accepting, finish in-flight requests and deliveries, close the store. Idempotent. */
  close(): Promise<void>
}

/**
 * The composition root: opens the store (and migrates it), builds the registries, the HTTP app and
 * the outbox worker from one validated config. Nothing registers itself on import; every part is
 * passed explicitly.
 */
export async function createGateway(config: GatewayConfig, options: CreateGatewayOptions = {}): Promise<Gateway> {
  const logger = options.logger ?? createLogger({ level: config.log.level })
  const ownsStore = !options.store
  const store = options.store ?? openStore(config.store)
  await store.migrate()
  const assets = createAssetRegistry(config.assets)
  // Tokens a configured chain settles are assets of the registry (decimals from the config, which
  // the EVM rail checks against the chain).
  for (const chain of config.rails.evm?.chains ?? []) {
    for (const t of chain.tokens) {
      const id = t.assetId ?? `eip155:${chain.chainId}/erc20:${t.address.toLowerCase()}`
      if (!assets.get(id)) assets.register({ id, kind: 'token', decimals: t.decimals, symbol: t.name, name: t.name, network: `eip155:${chain.chainId}`, address: t.address.toLowerCase() })
    }
  }
  const merchants = new Map(config.merchants.map((m) => [m.id, m]))
  const destinationsFor: DestinationsFor = (intent) => (merchants.get(intent.merchant_id)?.webhook ? [`merchant:${intent.merchant_id}`] : [])
  const breakers = new BreakerRegistry()
  const rails = new RailRegistry()
  const composed = composeFromConfig(config)
  for (const make of [...composed.rails, ...(options.rails ?? [])]) rails.register(make({ breakers, logger, store }))
  // --- routing and FX (issue 10, R): the routing table, breaker-aware, and FX quotes for every payment ---
  attachRouter(rails, routerFromConfig({ config, rails, breakers, assets }))
  const metrics = createMetrics(store, { defaultMetrics: options.defaultMetrics ?? true, breakers })
  const auth = createAuthenticator(config.apiKeys, store)
  const webhookSink = options.webhookSinkSecret ? createWebhookSink(options.webhookSinkSecret) : undefined
  const destinationResolvers: Array<(name: string) => OutboxDestination | undefined> = [...(options.outboxDestinations ?? [])]
  // --- policy composition (issue 10, W): wallets (caps, lists, threshold, atomic reservations),
  // then the engines the composition registers (risk, …), then options.policy. Every protocol's
  // processPayment gets this one engine through deps.policy.
  const walletNotify = config.wallets?.notifications
  const policy = composePolicies([
    createWalletPolicy({ store, merchantCategory: (id) => merchants.get(id)?.category, notifyDestination: walletNotify ? WALLET_NOTIFY_DESTINATION : undefined, fx: routerOf(rails)?.fx }),
    ...(composed.policies ?? []).map((make) => make({ store, config, logger })),
    ...(options.policy ? [options.policy] : []),
  ])
  if (walletNotify) destinationResolvers.push((name) => (name === WALLET_NOTIFY_DESTINATION ? { url: walletNotify.url, secret: walletNotify.secret, timeoutMs: config.outbox.timeoutMs } : undefined))
  const deps: HttpAppDeps = { config, store, assets, logger, metrics, auth, destinationsFor, version: GATEWAY_VERSION, webhookSink, rails, breakers, policy, addOutboxDestination: (r) => void destinationResolvers.push(r), leanRoutes: new Map() }
  const app = createHttpApp(deps, [...composed.mounts, ...(options.mounts ?? [])])
  const worker = config.outbox.enabled
    ? createOutboxWorker(
        {
          store,
          logger,
          resolveDestination: (name) => {
            if (name.startsWith('merchant:')) {
              const m = merchants.get(name.slice('merchant:'.length))
              return m?.webhook ? { url: m.webhook.url, secret: m.webhook.secret, timeoutMs: config.outbox.timeoutMs } : undefined
            }
            for (const resolve of destinationResolvers) {
              const d = resolve(name)
              if (d) return d
            }
            return undefined
          },
        },
        {
          workerId: `gw-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
          batchSize: config.outbox.batchSize,
          pollIntervalMs: config.outbox.pollIntervalMs,
          leaseMs: config.outbox.leaseMs,
          maxAttempts: config.outbox.maxAttempts,
          concurrency: config.outbox.concurrency,
          timeoutMs: config.outbox.timeoutMs,
          backoff: { baseMs: config.outbox.backoffBaseMs, maxMs: config.outbox.backoffMaxMs },
        },
      )
    : undefined

  const reconciler = config.reconciler.enabled
    ? createReconciler({ store, rails, destinationsFor, logger }, { intervalMs: config.reconciler.intervalMs, minAgeMs: config.reconciler.minAgeMs })
    : undefined
  // Refunds left pending (unknown rail outcome, intent update failed) are finished in the background.
  const refundSweeper =
    config.refundSweeper?.enabled === false
      ? undefined
      : createRefundSweeper(
          { store, rails, destinationsFor, refundWebhooks: () => deps.refundWebhooks ?? [], logger },
          { intervalMs: config.refundSweeper?.intervalMs ?? 30_000, minAgeMs: config.refundSweeper?.minAgeMs ?? 300_000, batch: config.refundSweeper?.batch ?? 100 },
        )
  // --- approvals (issue 10, A): cancel approvals nobody decided in time (approval_expired), releasing reservations ---
  const approvalSweeper =
    config.approvals?.sweeper === false
      ? undefined
      : createApprovalSweeper({ store, destinationsFor, policy, logger }, { intervalMs: config.approvals?.sweepIntervalMs ?? 30_000, ttlSeconds: config.approvals?.ttlSeconds ?? 86_400 })

  let server: Server | undefined
  let housekeeping: NodeJS.Timeout | undefined
  let closing: Promise<void> | undefined

  const purge = async (): Promise<void> => {
    const now = new Date()
    try {
      await store.purgeIdempotencyKeys(new Date(now.getTime() - config.idempotency.ttlHours * 3_600_000))
      await store.purgeReplayLocks(now)
    } catch (err) {
      logger.warn({ err }, 'housekeeping failed; will retry')
    }
  }

  return {
    config,
    app,
    store,
    assets,
    logger,
    metrics,
    rails,
    breakers,
    deps,
    webhookSink,
    async listen() {
      server = createExpressServer(app, leanDispatcherOf(app))
      server.listen(config.server.port, config.server.host)
      server.requestTimeout = config.server.requestTimeoutMs
      server.headersTimeout = Math.min(config.server.requestTimeoutMs, 20_000)
      server.keepAliveTimeout = 65_000
      await once(server, 'listening')
      const { port } = server.address() as AddressInfo
      worker?.start()
      reconciler?.start()
      refundSweeper?.start()
      approvalSweeper?.start()
      housekeeping = setInterval(() => void purge(), 3_600_000)
      housekeeping.unref()
      const host = config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host
      return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`
    },
    close() {
      closing ??= (async () => {
        clearInterval(housekeeping)
        if (server) {
          const s = server
          await new Promise<void>((resolve) => {
            s.close(() => resolve())
            s.closeIdleConnections()
          })
        }
        await reconciler?.stop()
        await refundSweeper?.stop()
        await approvalSweeper?.stop()
        await worker?.stop()
        await Promise.all(rails.list().map(async (r) => r.close?.()))
        breakers.shutdown()
        if (ownsStore) await store.close()
      })()
      return closing
    },
  }
}
