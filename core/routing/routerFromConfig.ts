import { GatewayError } from '../errors/gatewayError.js'
import type { GatewayConfig } from '../config/load.js'
import { createHttpFxSource } from '../fx/httpSource.js'
import type { FxQuoter } from '../fx/port.js'
import { createFxQuoter } from '../fx/quoter.js'
import { createTableFxSource, type FxTableEntry } from '../fx/tableSource.js'
import type { AssetRegistry } from '../money/assets.js'
import type { RailRegistry } from '../rails/port.js'
import { createRouter, type BreakerView, type Router } from './router.js'
import type { RoutingConfig } from './routingTable.js'

/** Config section `fx` (validated by schemas/config/routing.json, defaults applied, `apiKey` resolved). */
export interface FxConfig {
  source: 'table' | 'http'
  rates: FxTableEntry[]
  spread_bps: number
  quote_ttl_seconds: number
  url?: string | undefined
  apiKey?: string | undefined
  timeoutMs?: number | undefined
}

/**
 * The FX quoter a configuration asks for, or `undefined` without an `fx` section.
 *
 * @example fxQuoterFromConfig({ source: 'table', rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }], spread_bps: 30, quote_ttl_seconds: 60 }, assets)
 */
export function fxQuoterFromConfig(fx: FxConfig | undefined, assets: AssetRegistry, clock?: () => Date): FxQuoter | undefined {
  if (!fx) return undefined
  const source =
    fx.source === 'http'
      ? createHttpFxSource({ url: fx.url ?? '', ...(fx.apiKey ? { apiKey: fx.apiKey } : {}), ...(fx.timeoutMs ? { timeoutMs: fx.timeoutMs } : {}) })
      : createTableFxSource(fx.rates ?? [])
  return createFxQuoter({ source, spreadBps: fx.spread_bps ?? 0, quoteTtlSeconds: fx.quote_ttl_seconds ?? 60, assets, ...(clock ? { clock } : {}) })
}

/**
 * The gateway's router from its configuration (`routing`, `fx`), checked against the registered
 * rails and their breakers: a row naming an unknown rail or endpoint stops start-up.
 */
export function routerFromConfig(p: { config: Pick<GatewayConfig, 'routing' | 'fx'>; rails: RailRegistry; breakers?: BreakerView | undefined; assets: AssetRegistry; clock?: (() => Date) | undefined }): Router {
  const fx = p.config.fx as FxConfig | undefined
  if (fx?.source === 'http' && !fx.url) throw new GatewayError('GW_CONFIG_INVALID', 'fx.url: required when fx.source is http')
  return createRouter({
    rails: p.rails,
    config: p.config.routing as RoutingConfig | undefined,
    breakers: p.breakers,
    fx: fxQuoterFromConfig(fx, p.assets, p.clock),
  })
}
