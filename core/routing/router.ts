import { GatewayError } from '../errors/gatewayError.js'
import type { FxQuoter } from '../fx/port.js'
import type { IntentInstrument, PaymentIntent } from '../intent/types.js'
import { normalizeAssetId } from '../money/assets.js'
import type { RailAdapter, RailRegistry } from '../rails/port.js'
import { checkRoutingTable, DEFAULT_SETTLEMENT_ASSETS, matchRoute, type RoutingConfig } from './routingTable.js'

/** One rail to try, with its endpoints in preference order (the rail's own order when absent). */
export interface RouteCandidate {
  rail: RailAdapter
  endpoints?: readonly string[] | undefined
}

/** Where an intent goes: candidates in order (the first one settles; later ones are failover). */
export interface RoutePlan {
  candidates: RouteCandidate[]
  /** The asset the rail settles; when it differs from `intent.amount.asset` an FX quote is needed. */
  settlementAsset: string
}

/** What routing reads about breakers (the gateway's `BreakerRegistry` fits). */
export interface BreakerView {
  list(): ReadonlyArray<{ rail: string; endpoint: string; state: string }>
}

export interface Router {
  /**
   * The plan for an intent. `forced` (a protocol adapter that must settle on one rail family)
   * keeps that rail only. Throws `GW_RAIL_UNAVAILABLE` when no rail can settle the instrument.
   */
  plan(intent: PaymentIntent, forced?: string): RoutePlan
  /** Quotes for cross-asset payments; absent when no `fx` section is configured. */
  readonly fx?: FxQuoter | undefined
}

export interface CreateRouterParameters {
  rails: RailRegistry
  config?: RoutingConfig | undefined
  breakers?: BreakerView | undefined
  fx?: FxQuoter | undefined
}

/**
 * Routing (DESIGN §4 step 4): the configured table (`instrument + asset + merchant → ordered rails
 * and endpoints`), breaker state, and the settlement asset that decides whether FX is needed.
 *
 * - A matching row gives the candidates; consecutive targets on one rail become one candidate
 *   with an endpoint order (the rail fails over between its endpoints itself, with the same
 *   `out_trade_no`); targets on other rails are failover candidates for `settleIntent`.
 * - Breakers: a candidate all of whose endpoints are open moves behind the others; within a
 *   candidate, open endpoints move last. Nothing is dropped: an open breaker half-opens later.
 * - No row: the first registered rail for the instrument (no cross-rail failover unless configured).
 *
 * @example
 * const router = createRouter({ rails, config: { table: [{ instrument: 'alipay.agreement', rails: [{ rail: 'alipay', endpoint: 'primary' }, { rail: 'alipay', endpoint: 'secondary' }] }] }, breakers })
 * router.plan(intent).candidates // [{ rail: alipay, endpoints: ['primary', 'secondary'] }]
 */
export function createRouter(p: CreateRouterParameters): Router {
  const table = p.config?.table ?? []
  const endpointsOf = (rail: string): string[] => (p.breakers?.list() ?? []).filter((b) => b.rail === rail).map((b) => b.endpoint)
  checkRoutingTable(table, p.rails.list(), endpointsOf)
  const settlementDefaults: Partial<Record<IntentInstrument['type'], string>> = { ...DEFAULT_SETTLEMENT_ASSETS, ...(p.config?.settlement_assets ?? {}) }

  const isOpen = (rail: string, endpoint: string): boolean => (p.breakers?.list() ?? []).some((b) => b.rail === rail && b.endpoint === endpoint && b.state === 'open')
  const down = (c: RouteCandidate): boolean => {
    const eps = c.endpoints ?? endpointsOf(c.rail.rail)
    return eps.length > 0 && eps.every((e) => isOpen(c.rail.rail, e))
  }
  const orderEndpoints = (rail: string, eps: readonly string[] | undefined): string[] | undefined =>
    eps ? [...eps.filter((e) => !isOpen(rail, e)), ...eps.filter((e) => isOpen(rail, e))] : undefined

  return {
    fx: p.fx,
    plan(intent, forced) {
      const type = intent.instrument.type
      const row = matchRoute(table, intent)
      let candidates: RouteCandidate[] = []
      if (row) {
        for (const t of row.rails) {
          const rail = p.rails.get(t.rail)
          if (!rail || !rail.instruments.includes(type) || (forced && t.rail !== forced)) continue
          const last = candidates[candidates.length - 1]
          if (last && last.rail.rail === t.rail) {
            // Same rail again: another endpoint of the same account (no endpoint = the rail's own order).
            if (last.endpoints && t.endpoint && !last.endpoints.includes(t.endpoint)) last.endpoints = [...last.endpoints, t.endpoint]
            else if (!t.endpoint) delete last.endpoints
            continue
          }
          candidates.push({ rail, ...(t.endpoint ? { endpoints: [t.endpoint] } : {}) })
        }
      }
      if (candidates.length === 0) {
        const rail = forced ? p.rails.get(forced) : p.rails.forInstrument(type)[0]
        if (rail && rail.instruments.includes(type)) candidates = [{ rail }]
      }
      if (candidates.length === 0) throw new GatewayError('GW_RAIL_UNAVAILABLE', `no rail can settle ${type}${forced ? ` on ${forced}` : ''}`)
      candidates = candidates.map((c) => {
        const eps = orderEndpoints(c.rail.rail, c.endpoints)
        return eps ? { rail: c.rail, endpoints: eps } : { rail: c.rail }
      })
      candidates = [...candidates.filter((c) => !down(c)), ...candidates.filter(down)]
      const priceAsset = normalizeAssetId(intent.amount.asset) ?? intent.amount.asset
      // Without an FX source nothing can be converted: the rail settles the price asset (and
      // declines it if it cannot), exactly as before routing knew about FX.
      const configured = row?.settlement_asset ?? (p.fx ? settlementDefaults[type] : undefined)
      return { candidates, settlementAsset: configured ? (normalizeAssetId(configured) ?? configured) : priceAsset }
    },
  }
}

const routers = new WeakMap<object, Router>()

/**
 * Make `router` the routing of a rail registry and its rails, so every protocol adapter that hands
 * `processPayment` the gateway's `rails` (and `settleIntent` a rail) gets routing and FX without
 * naming it. The composition root calls it once.
 */
export function attachRouter(rails: RailRegistry, router: Router): void {
  routers.set(rails, router)
  for (const r of rails.list()) routers.set(r, router)
}

/** The router attached to a rail registry or a rail by {@link attachRouter}, if any. */
export function routerOf(target: object): Router | undefined {
  return routers.get(target)
}
