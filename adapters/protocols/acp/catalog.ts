import { readFileSync } from 'node:fs'
import { Agent, request } from 'undici'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { fromRoot } from '../../../core/util/paths.js'
import { BreakerOpenError, type BreakerRegistry, type EndpointBreaker } from '../../rails/shared/breakers.js'

/** Prices by lowercase ISO 4217 currency, in integer minor units. */
export type Prices = Readonly<Record<string, number>>

export interface CatalogProduct {
  id: string
  name: string
  description?: string | undefined
  images?: string[] | undefined
  prices: Prices
  /** Units available now (0 = out of stock). */
  inventory: number
  /** Physical goods need an address and a shipping option; digital ones are delivered by email. */
  fulfillment: 'physical' | 'digital'
  taxable: boolean
}

export interface CatalogShippingOption {
  id: string
  title: string
  carrier?: string | undefined
  minDays: number
  maxDays: number
  prices: Prices
}

export interface CatalogDigitalOption {
  id: string
  title: string
  prices: Prices
}

/** What one merchant sells, as the checkout prices it (the merchant is the system of record). */
export interface CatalogSnapshot {
  merchant: { name: string; links: Array<{ type: string; url: string; title?: string | undefined }> }
  /** Currencies the merchant prices in (lowercase). */
  currencies: string[]
  products: CatalogProduct[]
  fulfillment: { shipping: CatalogShippingOption[]; digital: CatalogDigitalOption[]; shipsTo: string[] }
  /** Tax in basis points of the taxable subtotal, by ISO 3166-1 alpha-2 country of the address. */
  tax: { defaultBps: number; byCountry: Readonly<Record<string, number>> }
}

/**
 * The catalog port: products, prices, inventory, fulfillment options and tax for a merchant. The
 * embedded JSON catalog is the default; {@link createHttpCatalog} asks the merchant's backend.
 */
export interface CatalogPort {
  /** The merchant's current catalog. Throws a GatewayError (503) when it cannot be read. */
  snapshot(merchantId: string, signal?: AbortSignal): Promise<CatalogSnapshot>
}

/** Reject a malformed catalog at start-up (and on every HTTP answer): prices must be integer minor units. */
export function parseCatalog(raw: unknown, where: string): CatalogSnapshot {
  const fail = (path: string, what: string): never => {
    throw new GatewayError('GW_CONFIG_INVALID', `${where}: ${path} ${what}`)
  }
  const obj = (v: unknown, path: string): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, 'must be an object'))
  const arr = (v: unknown, path: string): unknown[] => (Array.isArray(v) ? v : fail(path, 'must be an array'))
  const str = (v: unknown, path: string): string => (typeof v === 'string' && v.length > 0 ? v : fail(path, 'must be a non-empty string'))
  const int = (v: unknown, path: string): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(path, 'must be a non-negative integer'))
  const prices = (v: unknown, path: string): Prices => {
    const out: Record<string, number> = {}
    for (const [c, a] of Object.entries(obj(v, path))) {
      if (!/^[a-z]{3}$/.test(c)) fail(`${path}.${c}`, 'must be a lowercase ISO 4217 code')
      out[c] = int(a, `${path}.${c}`)
    }
    return out
  }
  const r = obj(raw, '$')
  const m = obj(r['merchant'], 'merchant')
  const f = obj(r['fulfillment'], 'fulfillment')
  const t = obj(r['tax'], 'tax')
  const byCountry: Record<string, number> = {}
  for (const [c, bps] of Object.entries(obj(t['byCountry'] ?? {}, 'tax.byCountry'))) byCountry[c.toUpperCase()] = int(bps, `tax.byCountry.${c}`)
  return {
    merchant: {
      name: str(m['name'], 'merchant.name'),
      links: arr(m['links'] ?? [], 'merchant.links').map((l, i) => {
        const o = obj(l, `merchant.links[${i}]`)
        return { type: str(o['type'], `merchant.links[${i}].type`), url: str(o['url'], `merchant.links[${i}].url`), ...(typeof o['title'] === 'string' ? { title: o['title'] } : {}) }
      }),
    },
    currencies: arr(r['currencies'], 'currencies').map((c, i) => str(c, `currencies[${i}]`).toLowerCase()),
    products: arr(r['products'], 'products').map((p, i) => {
      const o = obj(p, `products[${i}]`)
      const fulfillment = o['fulfillment'] === 'digital' ? 'digital' : o['fulfillment'] === 'physical' ? 'physical' : fail(`products[${i}].fulfillment`, 'must be physical or digital')
      return {
        id: str(o['id'], `products[${i}].id`),
        name: str(o['name'], `products[${i}].name`),
        ...(typeof o['description'] === 'string' ? { description: o['description'] } : {}),
        ...(Array.isArray(o['images']) ? { images: o['images'].map((u, j) => str(u, `products[${i}].images[${j}]`)) } : {}),
        prices: prices(o['prices'], `products[${i}].prices`),
        inventory: int(o['inventory'], `products[${i}].inventory`),
        fulfillment,
        taxable: o['taxable'] !== false,
      }
    }),
    fulfillment: {
      shipping: arr(f['shipping'] ?? [], 'fulfillment.shipping').map((s, i) => {
        const o = obj(s, `fulfillment.shipping[${i}]`)
        return {
          id: str(o['id'], `fulfillment.shipping[${i}].id`),
          title: str(o['title'], `fulfillment.shipping[${i}].title`),
          ...(typeof o['carrier'] === 'string' ? { carrier: o['carrier'] } : {}),
          minDays: int(o['minDays'] ?? 3, `fulfillment.shipping[${i}].minDays`),
          maxDays: int(o['maxDays'] ?? 7, `fulfillment.shipping[${i}].maxDays`),
          prices: prices(o['prices'], `fulfillment.shipping[${i}].prices`),
        }
      }),
      digital: arr(f['digital'] ?? [], 'fulfillment.digital').map((s, i) => {
        const o = obj(s, `fulfillment.digital[${i}]`)
        return { id: str(o['id'], `fulfillment.digital[${i}].id`), title: str(o['title'], `fulfillment.digital[${i}].title`), prices: prices(o['prices'], `fulfillment.digital[${i}].prices`) }
      }),
      shipsTo: arr(f['shipsTo'] ?? [], 'fulfillment.shipsTo').map((c, i) => str(c, `fulfillment.shipsTo[${i}]`).toUpperCase()),
    },
    tax: { defaultBps: int(t['defaultBps'] ?? 0, 'tax.defaultBps'), byCountry },
  }
}

/** The demo merchant's catalog file (`adapters/protocols/acp/demoCatalog.json`). */
export const DEMO_CATALOG_PATH = fromRoot('adapters', 'protocols', 'acp', 'demoCatalog.json')

/**
 * The embedded JSON catalog: one file (or object) per merchant, parsed and checked once. A
 * merchant without its own entry gets `fallback` (the demo catalog by default).
 */
export function createJsonCatalog(source: { byMerchant?: Readonly<Record<string, unknown>> | undefined; fallback?: unknown } = {}): CatalogPort {
  const parsed = new Map<string, CatalogSnapshot>()
  for (const [id, raw] of Object.entries(source.byMerchant ?? {})) parsed.set(id, parseCatalog(typeof raw === 'string' ? JSON.parse(readFileSync(raw, 'utf8')) : raw, `catalog of ${id}`))
  const fallback = parseCatalog(source.fallback ?? JSON.parse(readFileSync(DEMO_CATALOG_PATH, 'utf8')), 'demo catalog')
  return {
    snapshot(merchantId) {
      return Promise.resolve(parsed.get(merchantId) ?? fallback)
    },
  }
}

export interface HttpCatalogOptions {
  /** `GET {baseUrl}/catalog?merchant_id=…` answers a catalog document (the JSON catalog's format). */
  baseUrl: string
  /** Sent as `Authorization: Bearer …` (a secret: never logged). */
  token?: string | undefined
  /** Deadline of one call (connect + headers + body). Default 2000 ms. */
  timeoutMs?: number | undefined
  /** Serve the last good answer for this long (default 30 s) and while the backend is down. */
  cacheMs?: number | undefined
  breakers: BreakerRegistry
}

/**
 * The merchant's own backend as the catalog, over undici with a deadline per call and a circuit
 * breaker (`acp-catalog` in `/metrics`). The last good snapshot is served while fresh, and also
 * when the backend fails (stale beats nothing for prices the checkout re-validates at complete).
 */
export function createHttpCatalog(options: HttpCatalogOptions): CatalogPort & { close(): Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 2_000
  const cacheMs = options.cacheMs ?? 30_000
  const dispatcher = new Agent({ connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000 })
  const base = options.baseUrl.replace(/\/+$/, '')
  const breaker: EndpointBreaker = options.breakers.create('acp-catalog', new URL(base).host)
  const cache = new Map<string, { at: number; snap: CatalogSnapshot }>()
  return {
    async snapshot(merchantId, signal) {
      const hit = cache.get(merchantId)
      if (hit && Date.now() - hit.at < cacheMs) return hit.snap
      try {
        const snap = await breaker.fire(async () => {
          const ac = AbortSignal.timeout(timeoutMs)
          const res = await request(`${base}/catalog?merchant_id=${encodeURIComponent(merchantId)}`, {
            method: 'GET',
            dispatcher,
            headers: { accept: 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) },
            signal: signal ? AbortSignal.any([signal, ac]) : ac,
          })
          const text = await res.body.text()
          if (res.statusCode !== 200) throw new Error(`catalog backend answered HTTP ${res.statusCode}`)
          return parseCatalog(JSON.parse(text) as unknown, `catalog backend ${base}`)
        })
        cache.set(merchantId, { at: Date.now(), snap })
        return snap
      } catch (err) {
        if (hit) return hit.snap
        throw new GatewayError('GW_RAIL_UNAVAILABLE', err instanceof BreakerOpenError ? 'the merchant catalog is unavailable (circuit open)' : 'the merchant catalog is unavailable', { cause: err })
      }
    },
    close: () => dispatcher.close(),
  }
}
