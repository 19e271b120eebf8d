import type { IncomingMessage, ServerResponse } from 'node:http'
import express, { type Express, type RequestHandler } from 'express'
import { pinoHttp } from 'pino-http'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../core/config/load.js'
import { GatewayError } from '../../core/errors/gatewayError.js'
import type { AssetRegistry } from '../../core/money/assets.js'
import type { DestinationsFor } from '../../core/pipeline/webhookEvent.js'
import type { OutboxDestination } from '../../core/events/outboxWorker.js'
import type { PolicyEngine } from '../../core/policy/port.js'
import type { RailRegistry } from '../../core/rails/port.js'
import type { Store } from '../../core/store/port.js'
import type { BreakerRegistry } from '../rails/shared/breakers.js'
import { loadApiSchemas, type ApiSchemas } from './apiSchemas.js'
import type { Authenticator } from './auth.js'
import { locals } from './context.js'
import { errorHandler } from './errors.js'
import { leanDispatcher, requestIdOf, type LeanRoutes } from './lean.js'
import type { GatewayMetrics } from './metrics.js'
import { healthRoutes } from './routes/health.js'
import { intentRoutes } from './routes/intents.js'
import { railRoutes } from './routes/rails.js'
// --- refunds and disputes (issue 10, D) ---
import { refundRoutes } from './routes/refunds.js'
import type { RefundWebhookSource } from '../../core/pipeline/refundIntent.js'
// --- wallets, budgets and create-and-pay (issue 10, W) ---
import { paymentRoutes, paymentTokenHooks } from './routes/payments.js'
import { walletRoutes } from './routes/wallets.js'
// --- scoped tokens (issue 10, T) ---
import { tokenRoutes } from './routes/tokens.js'
// --- MCP server + capabilities (issue 11) ---
import { capabilityRoutes } from './routes/capabilities.js'
import { mcpRoutes } from '../mcp/httpRoutes.js'
// --- approvals and risk (issue 10, A) ---
import { approvalRoutes } from './routes/approvals.js'
import { webhookSinkRoutes, type WebhookSink } from './routes/webhookSink.js'

export interface HttpAppDeps {
  config: GatewayConfig
  store: Store
  assets: AssetRegistry
  logger: Logger
  metrics: GatewayMetrics
  auth: Authenticator
  destinationsFor: DestinationsFor
  version: string
  /** Rails registered by the composition root. */
  rails: RailRegistry
  /** One breaker per rail endpoint. */
  breakers: BreakerRegistry
  /** Allow / review / deny for every intent. */
  policy: PolicyEngine
  /**
   * Let a protocol surface deliver its own webhooks through the outbox: `resolve(name)` maps the
   * destination names it writes (e.g. `ucp:<agent>`) to a URL and signer; others return undefined.
   */
  addOutboxDestination(resolve: (name: string) => OutboxDestination | undefined): void
  /** Dev mode: a receiver for the demo merchant's webhooks. */
  webhookSink?: WebhookSink | undefined
  /**
   * Hot `POST` JSON routes a mount also serves without express's pipeline, by exact path
   * (adapters/http/lean.ts): `deps.leanRoutes?.set(path, route)` beside its express route.
   */
  leanRoutes?: LeanRoutes | undefined
  /**
   * Refunds and disputes (D): protocol order webhooks for a refund (ACP, UCP). A mount adds its
   * source with `(deps.refundWebhooks ??= []).push(source)`; the refund route reads it per request.
   */
  refundWebhooks?: RefundWebhookSource[] | undefined
}

/** The access-log level of an answer: pino-http's (`customLogLevel`) and the lean routes' alike. */
const levelFor = (status: number): 'error' | 'warn' | 'info' => (status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info')

/** The lean dispatcher of each app built here (see {@link leanDispatcherOf}). */
const leanDispatchers = new WeakMap<Express, (req: IncomingMessage, res: ServerResponse) => boolean>()

/**
 * The app's lean routes as a server-level dispatcher (`createExpressServer(app, leanDispatcherOf(app))`):
 * the plain case of a hot JSON route answered before express (adapters/http/lean.ts).
 */
export function leanDispatcherOf(app: Express): ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined {
  return leanDispatchers.get(app)
}

/**
 * Mounts a protocol surface: each adapter gets the shared app and the gateway's parts, and mounts
 * its own router with its own error renderer.
 */
export type Mount = (app: Express, deps: HttpAppDeps) => void

/**
 * The gateway's HTTP app (express 5): request ids, redacted access logs, metrics, body limits,
 * health, the `/v1` API, and one error handler per surface. Protocol adapters mount beside `/v1`.
 */
export function createHttpApp(deps: HttpAppDeps, mounts: readonly Mount[] = []): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', deps.config.server.trustProxy)
  app.set('etag', false)
  app.set('query parser', 'simple')

  const requestId: RequestHandler = (req, res, next) => {
    const id = requestIdOf(req.headers['request-id'])
    locals(res).requestId = id
    res.setHeader('Request-Id', id)
    next()
  }
  app.use(requestId)
  const httpLogger = pinoHttp({
    logger: deps.logger,
    genReqId: (_req, res) => (res as unknown as { locals: { requestId: string } }).locals.requestId,
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' || req.url === '/readyz' },
    customLogLevel: (_req, res, err) => (err ? 'error' : levelFor(res.statusCode)),
  })
  /**
   * The access-log line of a finished request, as pino-http writes it (its serialisers, redaction,
   * fields and levels): for the express pipeline when `info` is off (then only 4xx/5xx are
   * written), and for a lean route (adapters/http/lean.ts) at every level.
   */
  const logCompletion = (req: IncomingMessage, res: ServerResponse, started: number): void => {
    const status = res.statusCode
    const level = levelFor(status)
    if (!deps.logger.isLevelEnabled(level)) return
    ;(req as unknown as { id: string }).id = (res as unknown as { locals: { requestId: string } }).locals.requestId
    const fields = { req, res, responseTime: Date.now() - started, ...(status >= 500 ? { err: new Error(`failed with status code ${status}`) } : {}) }
    httpLogger.logger[level](fields, status >= 500 ? 'request errored' : 'request completed')
  }
  app.use((req, res, next) => {
    // pino-http binds every request to a child logger (its headers serialised and redacted) to
    // write one line per request at `info`. With `info` off, that work is thrown away on every
    // successful request: then only a request that ends 4xx/5xx is logged, and nothing is built
    // for the others.
    if (deps.logger.isLevelEnabled('info')) return httpLogger(req, res, next)
    const started = Date.now()
    const done = (): void => {
      res.removeListener('finish', done)
      res.removeListener('close', done)
      logCompletion(req, res, started)
    }
    res.on('finish', done)
    res.on('close', done)
    next()
  })
  app.use(deps.metrics.middleware)
  app.use(
    express.json({
      limit: deps.config.server.bodyLimitBytes,
      type: ['application/json', 'application/*+json'],
      // Keep the exact bytes: signatures (RFC 9421 Content-Digest, webhooks) are over the raw body.
      verify: (req, _res, buf) => {
        ;(req as unknown as { rawBody: Buffer }).rawBody = buf
      },
    }),
  )
  const requireJson: RequestHandler = (req, _res, next) => {
    const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined
    if (hasBody && (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH') && !req.is(['application/json', 'application/*+json'])) {
      throw new GatewayError('GW_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json')
    }
    next()
  }

  app.use(healthRoutes({ store: deps.store, metrics: deps.metrics, version: deps.version }))
  const v1 = express.Router()
  v1.use(requireJson)
  v1.use(railRoutes({ auth: deps.auth, rails: deps.rails, breakers: deps.breakers }))
  v1.use(capabilityRoutes({ auth: deps.auth, rails: deps.rails, breakers: deps.breakers, assets: deps.assets, app, mppConfigured: deps.config.mpp !== undefined })) // issue 11
  v1.use(
    intentRoutes({
      config: deps.config,
      store: deps.store,
      assets: deps.assets,
      auth: deps.auth,
      schemas: loadApiSchemas(),
      logger: deps.logger,
      destinationsFor: deps.destinationsFor,
    }),
  )
  // issue 10, A: approvals (API + signed approval links)
  v1.use(approvalRoutes({ config: deps.config, store: deps.store, auth: deps.auth, logger: deps.logger, destinationsFor: deps.destinationsFor, policy: deps.policy, schemas: loadApiSchemas() }))
  // issue 10, T: scoped single-use tokens
  v1.use(tokenRoutes({ config: deps.config, store: deps.store, assets: deps.assets, auth: deps.auth, logger: deps.logger }))
  // issue 10, W: wallets and POST /v1/payments (create + pay through processPayment and the composed policy)
  {
    // Compiled on first use: each compile of the spec costs ~1 s of start-up on a busy machine.
    let compiled: ApiSchemas | undefined
    const schemas: ApiSchemas = {
      assert(component, value) {
        const v: ApiSchemas = (compiled ??= loadApiSchemas())
        v.assert(component, value)
      },
    }
    const common = { config: deps.config, store: deps.store, assets: deps.assets, auth: deps.auth, schemas, logger: deps.logger }
    v1.use(walletRoutes(common))
    v1.use(paymentRoutes({ ...common, destinationsFor: deps.destinationsFor, rails: deps.rails, policy: deps.policy, tokens: paymentTokenHooks(deps.config, deps.store) }))
  }
  // issue 10, D: refunds and disputes
  v1.use(
    refundRoutes({
      config: deps.config,
      store: deps.store,
      rails: deps.rails,
      auth: deps.auth,
      schemas: loadApiSchemas(),
      logger: deps.logger,
      destinationsFor: deps.destinationsFor,
      refundWebhooks: () => deps.refundWebhooks ?? [],
    }),
  )
  v1.use((req) => {
    throw new GatewayError('GW_NOT_FOUND', `no route ${req.method} ${req.baseUrl}${req.path}`)
  })
  v1.use(errorHandler(deps.logger))
  app.use('/v1', v1)
  // issue 11: the payment MCP server (streamable HTTP); its tools call /v1 over loopback with the caller's key.
  app.use('/mcp', mcpRoutes({ logger: deps.logger, version: deps.version }), errorHandler(deps.logger))
  if (deps.webhookSink) app.use('/dev', webhookSinkRoutes(deps.webhookSink))
  for (const mount of mounts) mount(app, deps)

  app.use((req) => {
    throw new GatewayError('GW_NOT_FOUND', `no route ${req.method} ${req.path}`)
  })
  app.use(errorHandler(deps.logger))
  if (deps.leanRoutes && deps.leanRoutes.size > 0)
    leanDispatchers.set(app, leanDispatcher({ routes: deps.leanRoutes, metrics: deps.metrics, bodyLimitBytes: deps.config.server.bodyLimitBytes, logCompletion }))
  return app
}
