import type { Express } from 'express'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { HttpAppDeps, Mount } from '../../http/app.js'
import { isEvmRail } from '../../rails/evm/index.js'
import { facilitatorRouter } from './facilitator.js'
import { v1Networks } from './networks.js'
import { pricedRoutes } from './pricedRoutes/middleware.js'
import { compileRoutes } from './pricedRoutes/routes.js'
import type { OfferProvider, PricedRouteConfig } from './pricedRoutes/types.js'
import { UpstreamClient } from './pricedRoutes/upstream.js'
import { createX402ResourceServer, type X402ResourceServer } from './resourceServer.js'

/**
 * The `x402` section of the gateway configuration (JSON Schema:
 * `schemas/config/x402.json`).
 */
export interface X402Options {
  /** Priced routes: the resource-server role. */
  routes?: readonly PricedRouteConfig[] | undefined
  /** The facilitator role; mounted when given (and `enabled` is not false). */
  facilitator?:
    | {
        enabled?: boolean | undefined
        /** Default `/x402/facilitator` (`/verify`, `/settle`, `/supported` below it). */
        path?: string | undefined
        /** The merchant facilitator payments belong to (default: the caller's merchant key, else the payTo). */
        merchantId?: string | undefined
        /** Require a merchant or admin API key (default false: an open facilitator, as x402.org's). */
        requireApiKey?: boolean | undefined
      }
    | undefined
  /** How long a retry after `settlement_pending` waits on the same transaction (default 20 s). */
  pendingWaitMs?: number | undefined
  /** Extra v1 network names: chain id → name (`{ "31337": "anvil" }`), for v1 clients that take custom names. */
  v1Networks?: Readonly<Record<string, string>> | undefined
  /** Upstream connections kept per origin (default 64). */
  upstreamConnections?: number | undefined
  /**
   * More payment protocols on the same priced routes (MPP, issue 9): their challenges join
   * x402's in the ONE 402 of an unpaid call; a request carrying their credential goes to them.
   */
  offerProviders?: ((ctx: { deps: HttpAppDeps }) => OfferProvider)[] | undefined
  /** Receives the x402 provider once mounted (tests, dev output). */
  onMounted?: ((parts: { resourceServer?: X402ResourceServer | undefined; facilitatorPath?: string | undefined }) => void) | undefined
}

/** The JSON part of {@link X402Options}: the `x402` section of the configuration file. */
export type X402Config = Omit<X402Options, 'offerProviders' | 'onMounted'>

/**
 * x402 as a gateway {@link Mount}: the priced routes (x402 v1 + v2 resource server, with room
 * for more offer providers on the same 402) and the facilitator (`/x402/facilitator/*`). It
 * settles through the EVM rail registered by the composition root (`registerEvmRail`), and
 * renders every error in x402's own format.
 *
 * @example
 * createGateway(config, {
 *   rails: [registerEvmRail({ chains: [chain] })],
 *   mounts: [x402Mount({ routes: [{ path: '/paid/weather', merchantId: 'demo', price: { amount: '10000', asset },
 *     payTo, description: 'Weather now', upstream: { url: 'http://127.0.0.1:9000/weather' } }], facilitator: {} })],
 * })
 */
export function x402Mount(options: X402Options = {}): Mount {
  return (app: Express, deps: HttpAppDeps) => {
    const routes = options.routes ?? []
    const facilitatorOn = options.facilitator !== undefined && options.facilitator.enabled !== false
    if (routes.length === 0 && !facilitatorOn) return
    const rail = deps.rails.get('evm')
    if (!isEvmRail(rail)) throw new GatewayError('GW_CONFIG_INVALID', 'x402 needs the EVM rail: register it with registerEvmRail in the composition root')
    const v1 = v1Networks(options.v1Networks ?? {})
    const x402Deps = { app: deps, rail, logger: deps.logger.child({ protocol: 'x402' }) }
    const pendingWaitMs = options.pendingWaitMs ?? 20_000
    const idempotencyLeaseMs = deps.config.idempotency.leaseMs

    let resourceServer: X402ResourceServer | undefined
    if (routes.length > 0) {
      const compiled = compileRoutes(routes, deps.assets)
      resourceServer = createX402ResourceServer({ deps: x402Deps, evm: rail, routes: compiled, v1, pendingWaitMs, idempotencyLeaseMs })
      const providers: OfferProvider[] = [resourceServer, ...(options.offerProviders ?? []).map((make) => make({ deps }))]
      const { handler, errorHandler } = pricedRoutes({
        routes: compiled,
        providers,
        store: deps.store,
        logger: x402Deps.logger,
        upstream: new UpstreamClient({ connections: options.upstreamConnections }),
        publicUrl: deps.config.server.publicUrl,
        bodyLimitBytes: deps.config.server.bodyLimitBytes,
      })
      app.use(handler)
      app.use(errorHandler)
    }

    let facilitatorPath: string | undefined
    if (facilitatorOn) {
      facilitatorPath = (options.facilitator?.path ?? '/x402/facilitator').replace(/\/+$/, '')
      const { router, errorHandler, lean } = facilitatorRouter({
        deps: x402Deps,
        evm: rail,
        v1,
        merchantId: options.facilitator?.merchantId,
        requireApiKey: options.facilitator?.requireApiKey ?? false,
        pendingWaitMs,
        idempotencyLeaseMs,
      })
      app.use(facilitatorPath, router)
      app.use(facilitatorPath, errorHandler)
      for (const [sub, route] of Object.entries(lean)) deps.leanRoutes?.set(`${facilitatorPath}${sub}`, route)
    }
    options.onMounted?.({ resourceServer, facilitatorPath })
  }
}
