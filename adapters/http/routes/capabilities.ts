import { Router, type Express } from 'express'
import type { AssetRegistry } from '../../../core/money/assets.js'
import type { RailRegistry } from '../../../core/rails/port.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import type { BreakerRegistry } from '../../rails/shared/breakers.js'
import { requireAuth, type Authenticator } from '../auth.js'

export interface CapabilityRoutesDeps {
  auth: Authenticator
  rails: RailRegistry
  breakers: BreakerRegistry
  assets: AssetRegistry
  /** The gateway's app: the protocols are read from what is mounted on it (at request time). */
  app: Express
  /** MPP has no route of its own (it is an offer on the x402 priced routes): its config section shows it. */
  mppConfigured?: boolean | undefined
}

type Capabilities = components['schemas']['Capabilities']

/** A protocol surface and the route that shows it is mounted. */
const PROTOCOL_MARKERS: ReadonlyArray<{ protocol: string; test: (path: string) => boolean; discovery?: string }> = [
  { protocol: 'acp', test: (p) => p === '/.well-known/acp.json' || p === '/acp', discovery: '/.well-known/acp.json' },
  { protocol: 'ucp', test: (p) => p === '/.well-known/ucp' || p.startsWith('/ucp'), discovery: '/.well-known/ucp' },
  { protocol: 'ap2', test: (p) => p === '/.well-known/agent-card.json' || p === '/ap2' || p.startsWith('/ap2/'), discovery: '/.well-known/agent-card.json' },
  { protocol: 'x402', test: (p) => p.startsWith('/x402') },
  { protocol: 'mpp', test: (p) => p === '/mpp' || p.startsWith('/mpp/') || p === '/.well-known/mpp' },
  { protocol: 'mcp', test: (p) => p === '/mcp' },
]

/** Paths of the app's top-level routes and mounted routers (express 5 keeps them on each layer). */
function mountedPaths(app: Express): string[] {
  const stack = (app as unknown as { router?: { stack?: Array<{ rawPath?: unknown; route?: { path?: unknown } }> } }).router?.stack ?? []
  const out: string[] = []
  for (const layer of stack) {
    for (const p of [layer.rawPath, layer.route?.path].flat()) if (typeof p === 'string') out.push(p)
  }
  return out
}

/** The protocols mounted on `app`, in a stable order (`gateway` is the `/v1` API itself). */
export function mountedProtocols(app: Express, options: { mppConfigured?: boolean | undefined } = {}): Array<{ protocol: string; discovery?: string }> {
  const paths = mountedPaths(app)
  const found: Array<{ protocol: string; discovery?: string }> = [{ protocol: 'gateway' }]
  for (const m of PROTOCOL_MARKERS) {
    if (paths.some(m.test) || (m.protocol === 'mpp' && options.mppConfigured && found.some((f) => f.protocol === 'x402'))) {
      found.push({ protocol: m.protocol, ...(m.discovery ? { discovery: m.discovery } : {}) })
    }
  }
  return found
}

/**
 * `GET /v1/capabilities` (any valid key): the protocols mounted, the rails registered with their
 * instruments and every endpoint's breaker state, and the assets of the registry with their
 * decimals. What an agent (or the MCP `list_capabilities` tool) reads before paying.
 */
export function capabilityRoutes(deps: CapabilityRoutesDeps): Router {
  const r = Router()
  r.get('/capabilities', requireAuth(deps.auth), (_req, res) => {
    const breakers = deps.breakers.list()
    const body: Capabilities = {
      protocols: mountedProtocols(deps.app, { mppConfigured: deps.mppConfigured }),
      rails: deps.rails.list().map((rail) => {
        const endpoints = breakers.filter((b) => b.rail === rail.rail).map(({ endpoint, state }) => ({ endpoint, state }))
        return {
          rail: rail.rail,
          instruments: [...rail.instruments],
          // Up while any endpoint's breaker lets calls through (a rail without breakers is up).
          available: endpoints.length === 0 || endpoints.some((e) => e.state !== 'open'),
          endpoints,
        }
      }),
      assets: deps.assets.list().map((a) => ({
        id: a.id,
        kind: a.kind,
        symbol: a.symbol,
        decimals: a.decimals,
        ...(a.network ? { network: a.network } : {}),
      })),
    }
    res.json(body)
  })
  return r
}
