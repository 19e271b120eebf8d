import { GatewayError } from '../errors/gatewayError.js'
import type { IntentInstrument, PaymentIntent } from '../intent/types.js'
import { normalizeAssetId } from '../money/assets.js'

/** One target of a route: a rail family, optionally pinned to one of its endpoints. */
export interface RouteTargetConfig {
  rail: string
  /** An endpoint name of the rail (`primary`, `secondary`): the breaker label in `/metrics`. */
  endpoint?: string | undefined
}

/**
 * One row of the routing table (config `routing.table[]`): which intents it matches and the
 * targets in preference order.
 */
export interface RoutingRuleConfig {
  instrument: IntentInstrument['type']
  /** The price asset (`intent.amount.asset`); any when absent. */
  asset?: string | undefined
  merchant_id?: string | undefined
  /**
   * The asset the payer's instrument settles in on these rails (an Alipay agreement: CNY). When it
   * differs from the price asset, routing adds an FX quote and the rail settles `settlement_amount`.
   */
  settlement_asset?: string | undefined
  rails: RouteTargetConfig[]
}

/** Config section `routing`. */
export interface RoutingConfig {
  /** First matching row wins: put the specific rows (a merchant, an asset) before the general ones. */
  table?: RoutingRuleConfig[] | undefined
  /** Settlement asset per instrument when no row says (used only when an FX source is configured). */
  settlement_assets?: Partial<Record<IntentInstrument['type'], string>> | undefined
}

/** Built-in settlement assets: Alipay agreements (withholding, delegation pay) are CNY accounts. */
export const DEFAULT_SETTLEMENT_ASSETS: Readonly<Partial<Record<IntentInstrument['type'], string>>> = {
  'alipay.agreement': 'iso4217:CNY',
}

/**
 * The row of `table` for an intent: the first whose instrument, asset (when given) and merchant
 * (when given) all match, or `undefined`.
 *
 * @example matchRoute(table, intent)?.rails // [{ rail: 'alipay', endpoint: 'primary' }, { rail: 'alipay', endpoint: 'secondary' }]
 */
export function matchRoute(table: readonly RoutingRuleConfig[], intent: Pick<PaymentIntent, 'instrument' | 'amount' | 'merchant_id'>): RoutingRuleConfig | undefined {
  const asset = normalizeAssetId(intent.amount.asset) ?? intent.amount.asset
  return table.find(
    (r) =>
      r.instrument === intent.instrument.type &&
      (r.asset === undefined || (normalizeAssetId(r.asset) ?? r.asset) === asset) &&
      (r.merchant_id === undefined || r.merchant_id === intent.merchant_id),
  )
}

/**
 * Check a routing table against the rails that exist: every target's rail is registered and able
 * to settle the row's instrument, and a pinned endpoint is one of the rail's. Failover is only
 * ever configured between targets that can settle the same instrument.
 */
export function checkRoutingTable(
  table: readonly RoutingRuleConfig[],
  rails: ReadonlyArray<{ rail: string; instruments: readonly string[] }>,
  endpointsOf: (rail: string) => readonly string[] | undefined,
): void {
  for (const [i, row] of table.entries()) {
    if (row.rails.length === 0) throw new GatewayError('GW_CONFIG_INVALID', `routing.table[${i}].rails: at least one target is required`)
    for (const [j, t] of row.rails.entries()) {
      const rail = rails.find((r) => r.rail === t.rail)
      const path = `routing.table[${i}].rails[${j}]`
      if (!rail) throw new GatewayError('GW_CONFIG_INVALID', `${path}.rail: no rail ${t.rail} is configured`)
      if (!rail.instruments.includes(row.instrument)) throw new GatewayError('GW_CONFIG_INVALID', `${path}.rail: ${t.rail} cannot settle ${row.instrument}`)
      const eps = endpointsOf(t.rail)
      if (t.endpoint !== undefined && eps && eps.length > 0 && !eps.includes(t.endpoint))
        throw new GatewayError('GW_CONFIG_INVALID', `${path}.endpoint: ${t.rail} has no endpoint ${t.endpoint} (it has ${eps.join(', ')})`)
    }
  }
}
