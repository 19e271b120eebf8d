import type { CatalogPort as AcpCatalogPort, CatalogSnapshot as AcpCatalogSnapshot } from '../acp/catalog.js'

/**
 * The merchant catalogue the UCP business side prices checkouts from. A port (ACP had none yet
 * when this was written; this is the minimum both need): products with integer minor-unit prices
 * and stock, discount codes, shipping rates. `staticCatalog` serves a fixed list from config.
 */
export interface CatalogProduct {
  id: string
  title: string
  /** Minor units of the checkout currency. */
  price: number
  /** Units available; `undefined` = unlimited. */
  stock?: number | undefined
  image_url?: string | undefined
}

export interface CatalogDiscount {
  code: string
  title: string
  /** Either a percentage (0–100) of the subtotal or a fixed amount in minor units. */
  percent?: number | undefined
  amount?: number | undefined
}

export interface ShippingRate {
  id: string
  title: string
  /** Minor units. */
  amount: number
}

export interface Catalog {
  product(id: string): CatalogProduct | undefined
  discount(code: string): CatalogDiscount | undefined
  shippingRates(country: string | undefined): ShippingRate[]
  /** Subtotal (minor units) at or above which shipping is free; `undefined` = never. */
  freeShippingThreshold?: number | undefined
  /** Products whose presence makes shipping free. */
  freeShippingProducts?: readonly string[] | undefined
}

export interface StaticCatalogConfig {
  products: CatalogProduct[]
  discounts?: CatalogDiscount[] | undefined
  shipping?: Array<ShippingRate & { countries?: string[] | undefined }> | undefined
  freeShippingThreshold?: number | undefined
  freeShippingProducts?: string[] | undefined
}

export function staticCatalog(cfg: StaticCatalogConfig): Catalog {
  const products = new Map(cfg.products.map((p) => [p.id, p]))
  const discounts = new Map((cfg.discounts ?? []).map((d) => [d.code.toUpperCase(), d]))
  return {
    product: (id) => products.get(id),
    discount: (code) => discounts.get(code.toUpperCase()),
    shippingRates: (country) =>
      (cfg.shipping ?? []).filter((r) => !r.countries || (country !== undefined && r.countries.includes(country.toUpperCase()))).map(({ id, title, amount }) => ({ id, title, amount })),
    freeShippingThreshold: cfg.freeShippingThreshold,
    freeShippingProducts: cfg.freeShippingProducts,
  }
}

/** The official conformance suite's "flower shop" seed (DIGEST §20.4), prices in cents. */
export const FLOWER_SHOP: StaticCatalogConfig = {
  products: [
    { id: 'bouquet_roses', title: 'Bouquet of Red Roses', price: 3500, stock: 100 },
    { id: 'pot_ceramic', title: 'Ceramic Pot', price: 1500, stock: 100 },
    { id: 'bouquet_sunflowers', title: 'Sunflower Bundle', price: 2500, stock: 100 },
    { id: 'bouquet_tulips', title: 'Spring Tulips', price: 3000, stock: 100 },
    { id: 'orchid_white', title: 'White Orchid', price: 4500, stock: 100 },
    { id: 'gardenias', title: 'Gardenias', price: 2000, stock: 0 },
  ],
  discounts: [
    { code: '10OFF', title: '10% off', percent: 10 },
    { code: 'WELCOME20', title: '20% off', percent: 20 },
    { code: 'FIXED500', title: '$5.00 off', amount: 500 },
  ],
  shipping: [
    { id: 'std-ship', title: 'Standard shipping', amount: 500 },
    { id: 'exp-ship-us', title: 'Express shipping (US)', amount: 1500, countries: ['US'] },
    { id: 'exp-ship-intl', title: 'Express shipping (international)', amount: 2500, countries: ['CA', 'GB', 'DE', 'FR', 'JP', 'AU'] },
  ],
  freeShippingThreshold: 10_000,
  freeShippingProducts: ['bouquet_roses'],
}

/**
 * The ACP catalog port (`adapters/protocols/acp/catalog.ts`) seen through this adapter's
 * {@link Catalog}: the shared merchant catalogue (embedded JSON or the merchant's HTTP backend)
 * priced in one currency. Products without a price in `currency` are absent; ACP inventory is
 * the stock; shipping options ship to the snapshot's `shipsTo` countries. Tax rows are not
 * derived yet (UCP totals carry none from this source).
 */
export function catalogFromAcpSnapshot(snapshot: AcpCatalogSnapshot, currency: string): Catalog & { links: Array<{ type: string; url: string; title?: string | undefined }> } {
  const c = currency.toLowerCase()
  const products: CatalogProduct[] = snapshot.products.flatMap((p) =>
    p.prices[c] === undefined ? [] : [{ id: p.id, title: p.name, price: p.prices[c], stock: p.inventory, ...(p.images?.[0] ? { image_url: p.images[0] } : {}) }],
  )
  const shipping = snapshot.fulfillment.shipping.flatMap((s) => (s.prices[c] === undefined ? [] : [{ id: s.id, title: s.title, amount: s.prices[c], countries: snapshot.fulfillment.shipsTo.map((x) => x.toUpperCase()) }]))
  return { ...staticCatalog({ products, shipping }), links: snapshot.merchant.links }
}

/** A catalogue source: a ready {@link Catalog}, or the ACP catalog port read per request. */
export type CatalogSource = Catalog | { acpPort: AcpCatalogPort; merchantId?: string | undefined }

export function isAcpSource(c: CatalogSource): c is { acpPort: AcpCatalogPort; merchantId?: string | undefined } {
  return 'acpPort' in c
}
