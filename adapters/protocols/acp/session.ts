import type { CatalogProduct, CatalogSnapshot } from './catalog.js'
import { ACP_VERSION } from './schemas.js'

/**
 * The checkout session engine: from what the agent asked for (items, address, selections) and the
 * merchant's catalog, the authoritative ACP `CheckoutSession` (DIGEST §4): line items, totals in
 * integer minor units with a lowercase currency, fulfillment options, `messages[]` for business
 * problems, and the status. Pure: no I/O, the clock is a parameter.
 */

export type Json = Record<string, unknown>

/** An item as the agent asked for it (quantity defaults to 1, DIGEST §12.1). */
export interface RequestedItem {
  id: string
  quantity: number
  /** What the agent believes the price is (ignored: the seller's catalog is authoritative). */
  unit_amount?: number | undefined
}

/** What the agent has told us so far (the inputs of a session). */
export interface SessionInputs {
  currency: string
  items: RequestedItem[]
  buyer?: Json | undefined
  fulfillment_details?: Json | undefined
  selected_fulfillment_options?: Array<{ type: string; option_id: string; item_ids: string[] }> | undefined
  /** `capabilities.interventions.supported` the agent sent (unknown values kept, then ignored). */
  agent_interventions: string[]
  locale?: string | undefined
  timezone?: string | undefined
  quote_id?: string | undefined
  metadata?: Json | undefined
}

export const TERMINAL = new Set(['completed', 'canceled', 'expired'])

/** What the seller supports (the response carries the intersection with the agent's list, DIGEST §4.6). */
export const SELLER_INTERVENTIONS = ['3ds', 'address_verification'] as const

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

export interface PriceResult {
  status: 'ready_for_payment' | 'not_ready_for_payment'
  line_items: Json[]
  totals: Json[]
  fulfillment_options: Json[]
  selected_fulfillment_options?: Json[] | undefined
  messages: Json[]
  /** The amount to charge (`totals[type=total].amount`). */
  total: number
}

const TOTAL_TEXT: Record<string, string> = {
  items_base_amount: 'Items',
  subtotal: 'Subtotal',
  fulfillment: 'Shipping',
  tax: 'Tax',
  total: 'Total',
}

function total(type: string, amount: number): Json {
  return { type, display_text: TOTAL_TEXT[type] ?? type, amount }
}

function taxOf(amount: number, bps: number): number {
  // Integer half-up rounding of amount × bps / 10 000 (no floats on money).
  return Math.floor((amount * bps + 5_000) / 10_000)
}

function errorMessage(code: string, param: string, content: string): Json {
  return { type: 'error', code, param, content_type: 'plain', content, severity: 'high', resolution: code === 'out_of_stock' ? 'requires_buyer_review' : 'requires_buyer_input' }
}

/**
 * Price the inputs against the catalog. Unknown item ids and unsupported currencies are protocol
 * errors the caller raises first (see {@link findProblems}); everything else that keeps the
 * session from being payable is a `MessageError` with a JSONPath `param` and status
 * `not_ready_for_payment`.
 */
export function priceSession(catalog: CatalogSnapshot, inputs: SessionInputs, now: Date): PriceResult {
  const cur = inputs.currency
  const products = new Map(catalog.products.map((p) => [p.id, p]))
  const messages: Json[] = []
  const address = (inputs.fulfillment_details?.['address'] ?? undefined) as Json | undefined
  const country = typeof address?.['country'] === 'string' ? address['country'].toUpperCase() : undefined
  const bps = country ? (catalog.tax.byCountry[country] ?? catalog.tax.defaultBps) : catalog.tax.defaultBps

  const lineIds = new Map<string, number>()
  const lines: Array<{ json: Json; product: CatalogProduct; lineId: string; subtotal: number; tax: number }> = []
  inputs.items.forEach((it, i) => {
    const p = products.get(it.id)!
    const unit = p.prices[cur]!
    const n = (lineIds.get(it.id) ?? 0) + 1
    lineIds.set(it.id, n)
    const lineId = n === 1 ? `line_item_${it.id}` : `line_item_${it.id}_${n}`
    const base = unit * it.quantity
    const tax = p.taxable ? taxOf(base, bps) : 0
    const json: Json = {
      id: lineId,
      item: { id: p.id, name: p.name, unit_amount: unit },
      quantity: it.quantity,
      name: p.name,
      ...(p.description ? { description: p.description } : {}),
      ...(p.images ? { images: p.images } : {}),
      unit_amount: unit,
      product_id: p.id,
      availability_status: p.inventory === 0 ? 'out_of_stock' : p.inventory < 5 ? 'low_stock' : 'in_stock',
      available_quantity: p.inventory,
      totals: [total('items_base_amount', base), total('subtotal', base), total('tax', tax), total('total', base + tax)],
    }
    if (p.inventory < it.quantity) {
      messages.push(errorMessage('out_of_stock', `$.line_items[${i}]`, p.inventory === 0 ? `${p.name} is out of stock` : `only ${p.inventory} of ${p.name} left`))
    }
    if (it.unit_amount !== undefined && it.unit_amount !== unit) {
      // The agent's price is not authoritative (DIGEST §3.1/§4.3): we charge the catalog price and say so.
      messages.push({ type: 'warning', code: 'price_change', param: `$.line_items[${i}].unit_amount`, content_type: 'plain', content: `${p.name} costs ${unit} (minor units of ${cur}), not ${it.unit_amount}` })
    }
    lines.push({ json, product: p, lineId, subtotal: base, tax })
  })

  const physical = lines.filter((l) => l.product.fulfillment === 'physical')
  const digital = lines.filter((l) => l.product.fulfillment === 'digital')
  const options: Json[] = []
  const day = 86_400_000
  if (physical.length > 0) {
    for (const s of catalog.fulfillment.shipping) {
      const price = s.prices[cur]
      if (price === undefined) continue
      options.push({
        type: 'shipping',
        id: s.id,
        title: s.title,
        ...(s.carrier ? { carrier: s.carrier } : {}),
        earliest_delivery_time: new Date(now.getTime() + s.minDays * day).toISOString(),
        latest_delivery_time: new Date(now.getTime() + s.maxDays * day).toISOString(),
        totals: [total('fulfillment', price), total('total', price)],
      })
    }
  }
  if (digital.length > 0) {
    for (const d of catalog.fulfillment.digital) {
      const price = d.prices[cur]
      if (price === undefined) continue
      options.push({ type: 'digital', id: d.id, title: d.title, totals: [total('fulfillment', price), total('total', price)] })
    }
  }

  // Selections: each must name an offered option of the same type; item ids may be line item ids or catalog item ids.
  const byId = new Map(options.map((o) => [o['id'] as string, o]))
  const covered = new Set<string>()
  const selected: Json[] = []
  let fulfillmentAmount = 0
  ;(inputs.selected_fulfillment_options ?? []).forEach((sel, i) => {
    const opt = byId.get(sel.option_id)
    if (!opt || opt['type'] !== sel.type) {
      messages.push(errorMessage('invalid', `$.selected_fulfillment_options[${i}].option_id`, `${sel.option_id} is not one of this session's ${sel.type} fulfillment options`))
      return
    }
    const ids: string[] = []
    for (const itemId of sel.item_ids) {
      const line = lines.find((l) => l.lineId === itemId || l.product.id === itemId)
      if (!line) {
        messages.push(errorMessage('invalid', `$.selected_fulfillment_options[${i}].item_ids`, `${itemId} is not an item of this session`))
        continue
      }
      covered.add(line.lineId)
      ids.push(itemId)
    }
    selected.push({ type: sel.type, option_id: sel.option_id, item_ids: ids })
    fulfillmentAmount += ((opt['totals'] as Json[])[0]!['amount'] as number) ?? 0
  })
  // Digital-only goods need no choice: the single digital option is selected for them.
  const digitalOpt = options.find((o) => o['type'] === 'digital')
  const uncoveredDigital = digital.filter((l) => !covered.has(l.lineId))
  if (digitalOpt && uncoveredDigital.length > 0 && !selected.some((s) => s['type'] === 'digital')) {
    selected.push({ type: 'digital', option_id: digitalOpt['id'], item_ids: uncoveredDigital.map((l) => l.product.id) })
    fulfillmentAmount += (digitalOpt['totals'] as Json[])[0]!['amount'] as number
    for (const l of uncoveredDigital) covered.add(l.lineId)
  }

  if (physical.length > 0) {
    if (!address) {
      messages.push(errorMessage('missing', '$.fulfillment_details.address', 'a shipping address is needed for physical items'))
    } else if (country && !catalog.fulfillment.shipsTo.includes(country)) {
      messages.push(errorMessage('region_restricted', '$.fulfillment_details.address.country', `the merchant does not ship to ${country}`))
    }
    if (physical.some((l) => !covered.has(l.lineId))) {
      messages.push(errorMessage('missing', '$.selected_fulfillment_options', 'choose a shipping option for the physical items'))
    }
  }
  const email = inputs.buyer?.['email']
  if (typeof email === 'string' && !EMAIL.test(email)) messages.push(errorMessage('invalid', '$.buyer.email', `${email} is not a valid email address`))

  const itemsBase = lines.reduce((a, l) => a + l.subtotal, 0)
  const tax = lines.reduce((a, l) => a + l.tax, 0)
  const grand = itemsBase + fulfillmentAmount + tax
  const totals = [total('items_base_amount', itemsBase), total('subtotal', itemsBase), total('fulfillment', fulfillmentAmount), total('tax', tax), total('total', grand)]
  const blocked = messages.some((m) => m['type'] === 'error')
  return {
    status: blocked ? 'not_ready_for_payment' : 'ready_for_payment',
    line_items: lines.map((l) => l.json),
    totals,
    fulfillment_options: options,
    ...(selected.length > 0 ? { selected_fulfillment_options: selected } : {}),
    messages,
    total: grand,
  }
}

/** The first protocol-level problem of the inputs (unknown item, unsupported currency), as `{ param, code, message }`. */
export function findProblems(catalog: CatalogSnapshot, inputs: SessionInputs): { param: string; code: string; message: string } | undefined {
  if (!catalog.currencies.includes(inputs.currency)) {
    return { param: '$.currency', code: 'unsupported_currency', message: `the merchant does not sell in ${inputs.currency}; it sells in ${catalog.currencies.join(', ')}` }
  }
  const products = new Map(catalog.products.map((p) => [p.id, p]))
  for (const [i, it] of inputs.items.entries()) {
    const p = products.get(it.id)
    if (!p) return { param: `$.line_items[${i}].id`, code: 'invalid_item_id', message: `the item ID '${it.id}' does not exist` }
    if (p.prices[inputs.currency] === undefined) return { param: `$.line_items[${i}].id`, code: 'unsupported_currency', message: `${it.id} has no ${inputs.currency} price` }
  }
  return undefined
}

/** The response capabilities: our handlers, the intersection of interventions, no `extensions` key (DIGEST §12.10). */
export function sellerCapabilities(handlers: Json[], agentInterventions: readonly string[]): Json {
  const ours = new Set<string>(SELLER_INTERVENTIONS)
  const supported = [...new Set(agentInterventions.filter((i) => ours.has(i)))]
  return { payment: { handlers }, interventions: { supported, required: [], enforcement: 'conditional' } }
}

/** Assemble the session object returned on every call (the full authoritative state, never a delta). */
export function sessionObject(p: {
  id: string
  status: string
  inputs: SessionInputs
  priced: PriceResult
  handlers: Json[]
  links: Json[]
  createdAt: Date
  updatedAt: Date
  expiresAt: Date
  extraMessages?: Json[] | undefined
  order?: Json | undefined
}): Json {
  const s: Json = {
    id: p.id,
    protocol: { version: ACP_VERSION },
    capabilities: sellerCapabilities(p.handlers, p.inputs.agent_interventions),
    status: p.status,
    currency: p.inputs.currency,
    line_items: p.priced.line_items,
    // An invalid email is reported as a message; the buyer is not echoed until it is valid
    // (`Buyer.email` is a required `format: email` field of the response).
    ...(p.inputs.buyer && EMAIL.test(String(p.inputs.buyer['email'])) ? { buyer: p.inputs.buyer } : {}),
    ...(p.inputs.fulfillment_details ? { fulfillment_details: p.inputs.fulfillment_details } : {}),
    fulfillment_options: p.priced.fulfillment_options,
    ...(p.priced.selected_fulfillment_options ? { selected_fulfillment_options: p.priced.selected_fulfillment_options } : {}),
    totals: p.priced.totals,
    messages: [...p.priced.messages, ...(p.extraMessages ?? [])],
    links: p.links,
    ...(p.inputs.locale ? { locale: p.inputs.locale } : {}),
    ...(p.inputs.timezone ? { timezone: p.inputs.timezone } : {}),
    ...(p.inputs.quote_id ? { quote_id: p.inputs.quote_id } : {}),
    ...(p.inputs.metadata ? { metadata: p.inputs.metadata } : {}),
    created_at: p.createdAt.toISOString(),
    updated_at: p.updatedAt.toISOString(),
    expires_at: p.expiresAt.toISOString(),
  }
  if (p.order) s['order'] = p.order
  return s
}
