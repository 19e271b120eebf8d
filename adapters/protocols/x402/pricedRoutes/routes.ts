import { isAddress } from 'viem'
import { GatewayError } from '../../../../core/errors/gatewayError.js'
import { isMinorUnits } from '../../../../core/money/amount.js'
import type { AssetRegistry } from '../../../../core/money/assets.js'
import type { PricedRoute, PricedRouteConfig } from './types.js'

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', '*'])
/** Paths the gateway itself serves: a priced route may not shadow them. */
const RESERVED = [/^\/v1(\/|$)/, /^\/healthz$/, /^\/readyz$/, /^\/metrics$/, /^\/x402\/facilitator(\/|$)/, /^\/dev(\/|$)/]
const PATH = /^\/[A-Za-z0-9_\-.~%:/*]*$/

/**
 * Compile the configured routes (checked once, at start-up: a wrong route stops the gateway with
 * its index and field). Patterns: literal segments, `:name` (one segment), and a trailing `/*`.
 */
export function compileRoutes(configs: readonly PricedRouteConfig[], assets: AssetRegistry): PricedRoute[] {
  const seen = new Set<string>()
  return configs.map((c, i) => {
    const where = `x402.routes[${i}]`
    const bad = (field: string, message: string): GatewayError => new GatewayError('GW_CONFIG_INVALID', `${where}.${field}: ${message}`)
    const method = (c.method ?? 'GET').toUpperCase()
    if (!METHODS.has(method)) throw bad('method', `${c.method} is not an HTTP method this gateway prices`)
    if (typeof c.path !== 'string' || !PATH.test(c.path) || c.path.includes('..') || /\*(?!$)/.test(c.path) || (c.path.includes('*') && !c.path.endsWith('/*')))
      throw bad('path', `${JSON.stringify(c.path)} must start with / and may end in /* (no other wildcard)`)
    if (RESERVED.some((r) => r.test(c.path))) throw bad('path', `${c.path} is served by the gateway itself`)
    if (!isMinorUnits(c.price?.amount) || c.price.amount === '0') throw bad('price.amount', 'must be a positive integer in minor units, as a string')
    const asset = assets.get(c.price.asset)
    if (!asset) throw bad('price.asset', `${c.price.asset} is not in the asset registry`)
    if (asset.kind !== 'token') throw bad('price.asset', `${c.price.asset} is not a token: x402 pays in tokens`)
    if (!isAddress(c.payTo, { strict: false })) throw bad('payTo', `${c.payTo} is not an address`)
    if (!c.description) throw bad('description', 'is required (x402 v1 needs it)')
    try {
      const u = new URL(c.upstream.url)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)')
    } catch {
      throw bad('upstream.url', `${c.upstream?.url} is not an http(s) URL`)
    }
    const id = c.id ?? `${method} ${c.path}`
    if (seen.has(id)) throw bad('id', `${id} is used by another route`)
    seen.add(id)
    const wildcard = c.path.endsWith('/*')
    const body = (wildcard ? c.path.slice(0, -2) : c.path)
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    const regex = new RegExp(`^${body}${wildcard ? '(/.*)?' : ''}/?$`)
    const maxTimeoutSeconds = c.maxTimeoutSeconds ?? 300
    if (!Number.isInteger(maxTimeoutSeconds) || maxTimeoutSeconds < 10 || maxTimeoutSeconds > 86_400) throw bad('maxTimeoutSeconds', 'must be an integer 10..86400')
    return {
      id,
      method,
      pattern: c.path,
      regex,
      wildcard,
      merchantId: c.merchantId,
      price: { value: c.price.amount, asset: asset.id },
      payTo: c.payTo,
      description: c.description,
      mimeType: c.mimeType ?? 'application/json',
      upstream: {
        url: c.upstream.url,
        timeoutMs: c.upstream.timeoutMs ?? 10_000,
        headers: c.upstream.headers ?? {},
        maxResponseBytes: c.upstream.maxResponseBytes ?? 10 * 1024 * 1024,
      },
      settle: c.settle ?? 'after',
      maxTimeoutSeconds,
      paymentIdentifier: c.paymentIdentifier ?? 'optional',
      ...(c.resourceUrl ? { resourceUrl: c.resourceUrl } : {}),
    }
  })
}

/** The route serving `method path` (a route for `*` takes every method; HEAD falls back to GET routes). */
export function findRoute(routes: readonly PricedRoute[], method: string, path: string): PricedRoute | undefined {
  const m = method.toUpperCase()
  const byPath = routes.filter((r) => r.regex.test(path))
  return byPath.find((r) => r.method === m || r.method === '*') ?? (m === 'HEAD' ? byPath.find((r) => r.method === 'GET') : undefined)
}

/** Whether any route has this path (for OPTIONS preflights). */
export function hasPath(routes: readonly PricedRoute[], path: string): boolean {
  return routes.some((r) => r.regex.test(path))
}
