/**
 * Dev mode's x402 demo: a priced route `GET /paid/weather` on the sandbox token, answered by a tiny
 * upstream the gateway serves itself under `/dev/upstream`, and the facilitator.
 */
import express from 'express'
import type { Mount } from '../../http/app.js'
import type { X402Options } from './mount.js'

/** The demo route's path. */
export const DEMO_ROUTE_PATH = '/paid/weather'

/** The local chain facts the demo needs (a structural subset of the sandbox's `LocalChainInfo`). */
export interface DevX402Chain {
  chainId: number
  token: { assetId: string; decimals: number }
}

/**
 * `/dev/upstream/weather?city=…`: a deterministic JSON "weather" answer (the demo route's upstream,
 * so `npm start` needs no other server). Mount it only in dev mode.
 */
export function demoUpstreamMount(): Mount {
  return (app) => {
    const r = express.Router()
    r.get('/weather', (req, res) => {
      const city = typeof req.query['city'] === 'string' && req.query['city'].length <= 64 ? req.query['city'] : 'Berlin'
      let h = 0
      for (const c of city) h = (h * 31 + c.charCodeAt(0)) >>> 0
      res.json({ city, temperatureC: (h % 35) - 5, conditions: ['sunny', 'cloudy', 'rain', 'snow', 'fog'][h % 5], paidBy: req.get('x-agentswitch-payer') ?? null, intent: req.get('x-agentswitch-intent') ?? null })
    })
    app.use('/dev/upstream', r)
  }
}

/**
 * The demo's x402 options: `GET /paid/weather` for 0.01 of the sandbox token (10 000 units at 6
 * decimals), paid to `payTo`, settled after the upstream answered; the facilitator at
 * `/x402/facilitator` (its payments belong to `merchantId`).
 *
 * @example
 * mounts: [demoUpstreamMount(), x402Mount(devX402Options({ gatewayUrl: url, merchantId: 'demo', chain: info, payTo: devAccount(9).address }))]
 */
export function devX402Options(p: { gatewayUrl: string; merchantId: string; chain: DevX402Chain; payTo: string; amount?: string | undefined }): X402Options {
  const base = p.gatewayUrl.replace(/\/+$/, '')
  return {
    routes: [
      {
        id: 'demo-weather',
        method: 'GET',
        path: DEMO_ROUTE_PATH,
        merchantId: p.merchantId,
        price: { amount: p.amount ?? '10000', asset: p.chain.token.assetId },
        payTo: p.payTo,
        description: 'Current weather for a city (demo)',
        mimeType: 'application/json',
        upstream: { url: `${base}/dev/upstream/weather`, timeoutMs: 5_000 },
        settle: 'after',
      },
    ],
    facilitator: { merchantId: p.merchantId },
  }
}

/** What dev mode records under `dev.json` → `x402` (the conformance runner and `scripts/pay-demo.ts` read it). */
export interface DevX402Json {
  routes: Array<{ id: string; method: string; url: string; price: { amount: string; asset: string }; settle: 'before' | 'after' }>
  facilitator?: string | undefined
}

/** The `dev.json` entry for `options` on a gateway listening at `gatewayUrl`. */
export function devX402Json(gatewayUrl: string, options: X402Options): DevX402Json {
  const base = gatewayUrl.replace(/\/+$/, '')
  const facilitatorOn = options.facilitator !== undefined && options.facilitator.enabled !== false
  return {
    routes: (options.routes ?? []).map((r) => ({
      id: r.id ?? `${(r.method ?? 'GET').toUpperCase()} ${r.path}`,
      method: (r.method ?? 'GET').toUpperCase(),
      url: `${base}${r.path.replace(/\/\*$/, '/')}`,
      price: { amount: r.price.amount, asset: r.price.asset },
      settle: r.settle ?? 'after',
    })),
    ...(facilitatorOn ? { facilitator: `${base}${(options.facilitator?.path ?? '/x402/facilitator').replace(/\/+$/, '')}` } : {}),
  }
}

/** The lines `npm start` prints for x402 (copy-paste). */
export function describeDevX402(x: DevX402Json): string[] {
  const r = x.routes[0]
  if (!r) return []
  return [
    `    curl -si ${r.url} | grep -i payment-required     # x402: the 402 offer (${r.price.amount} units of ${r.price.asset})`,
    `    npx tsx scripts/pay-demo.ts                  # x402: pay ${r.url} with the official client and a dev wallet`,
    ...(x.facilitator ? [`    curl -s ${x.facilitator}/supported       # x402 facilitator`] : []),
  ]
}
