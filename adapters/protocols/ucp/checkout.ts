import type { Catalog } from './catalog.js'
import { CAP } from './options.js'

/** A UCP message (DIGEST §10). */
export type UcpMessage =
  | { type: 'error'; code: string; content: string; severity: 'recoverable' | 'requires_buyer_input' | 'requires_buyer_review' | 'unrecoverable'; path?: string | undefined }
  | { type: 'warning'; code: string; content: string; path?: string | undefined }
  | { type: 'info'; content: string; code?: string | undefined; path?: string | undefined }

export interface Total {
  type: string
  amount: number
  display_text?: string | undefined
}

export interface LineItem {
  id: string
  item: { id: string; title: string; price: number; image_url?: string | undefined }
  quantity: number
  totals: Total[]
}

export type CheckoutStatus = 'incomplete' | 'requires_escalation' | 'ready_for_complete' | 'complete_in_progress' | 'completed' | 'canceled'

/** The checkout as stored and returned (without the per-response `ucp` member). Never holds credentials. */
export interface CheckoutDoc {
  id: string
  status: CheckoutStatus
  currency: string
  line_items: LineItem[]
  totals: Total[]
  links: Array<{ type: string; url: string; title?: string | undefined }>
  messages?: UcpMessage[] | undefined
  buyer?: Record<string, unknown> | undefined
  context?: Record<string, unknown> | undefined
  fulfillment?: Record<string, unknown> | undefined
  discounts?: { codes?: string[] | undefined; applied?: Array<Record<string, unknown>> | undefined } | undefined
  expires_at?: string | undefined
  order?: { id: string; permalink_url: string } | undefined
  [k: string]: unknown
}

/** Writable state of a create/update request (full replacement on update). */
export interface CheckoutInput {
  line_items: Array<{ id?: string | undefined; item: { id: string }; quantity: number }>
  buyer?: Record<string, unknown> | undefined
  context?: Record<string, unknown> | undefined
  fulfillment?: unknown
  discounts?: { codes?: unknown } | undefined
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Read a create/update body leniently (unknown and response-only members are ignored, as the
 * official suite sends them), or return the request problems as `{path, content}`.
 */
export function readCheckoutInput(body: unknown): { ok: true; input: CheckoutInput } | { ok: false; problems: Array<{ path: string; content: string }> } {
  const problems: Array<{ path: string; content: string }> = []
  if (!isObj(body)) return { ok: false, problems: [{ path: '$', content: 'the body must be a JSON object' }] }
  const items = body['line_items']
  const lineItems: CheckoutInput['line_items'] = []
  if (!Array.isArray(items) || items.length === 0) problems.push({ path: '$.line_items', content: 'line_items must be a non-empty array' })
  else
    items.forEach((li, i) => {
      const item = isObj(li) ? li['item'] : undefined
      const id = isObj(item) ? item['id'] : undefined
      const qty = isObj(li) ? li['quantity'] : undefined
      if (typeof id !== 'string' || id.length === 0 || id.length > 256) problems.push({ path: `$.line_items[${i}].item.id`, content: 'item.id is required' })
      else if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > 10_000) problems.push({ path: `$.line_items[${i}].quantity`, content: 'quantity must be an integer ≥ 1' })
      else lineItems.push({ item: { id }, quantity: qty, ...(isObj(li) && typeof li['id'] === 'string' ? { id: li['id'] } : {}) })
    })
  for (const k of ['buyer', 'context'] as const) if (body[k] !== undefined && !isObj(body[k])) problems.push({ path: `$.${k}`, content: `${k} must be an object` })
  if (body['discounts'] !== undefined && !isObj(body['discounts'])) problems.push({ path: '$.discounts', content: 'discounts must be an object' })
  if (problems.length) return { ok: false, problems }
  return {
    ok: true,
    input: {
      line_items: lineItems,
      ...(isObj(body['buyer']) ? { buyer: body['buyer'] } : {}),
      ...(isObj(body['context']) ? { context: body['context'] } : {}),
      ...(body['fulfillment'] !== undefined ? { fulfillment: body['fulfillment'] } : {}),
      ...(isObj(body['discounts']) ? { discounts: body['discounts'] } : {}),
    },
  }
}

const BUYER_FIELDS = ['first_name', 'last_name', 'email', 'phone_number'] as const
const ADDRESS_FIELDS = ['extended_address', 'street_address', 'address_locality', 'address_region', 'address_country', 'postal_code', 'first_name', 'last_name', 'phone_number'] as const

function pick(src: Record<string, unknown>, fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of fields) if (typeof src[f] === 'string') out[f] = src[f]
  return out
}

export interface PriceContext {
  catalog: Catalog
  currency: string
  /** Negotiated capabilities (extensions change what is computed and shown). */
  capabilities: Record<string, string>
  links: CheckoutDoc['links']
}

/**
 * Price a checkout from its writable state (deterministic): line items from the catalogue,
 * discounts, fulfillment options, `totals` (one subtotal, one total, discounts negative), messages
 * and status. `prev` keeps line-item and destination ids stable across updates.
 */
export function priceCheckout(id: string, input: CheckoutInput, ctx: PriceContext, prev?: CheckoutDoc): { checkout: CheckoutDoc } | { unrecoverable: UcpMessage[] } {
  const messages: UcpMessage[] = []
  const lineItems: LineItem[] = []
  const prevIds = new Set((prev?.line_items ?? []).map((l) => l.id))
  let seq = Math.max(0, ...[...prevIds].map((x) => Number(/^li_(\d+)$/.exec(x)?.[1] ?? 0)))
  input.line_items.forEach((li, i) => {
    const p = ctx.catalog.product(li.item.id)
    if (!p) {
      messages.push({ type: 'error', code: 'not_found', content: `item ${li.item.id} does not exist`, severity: 'unrecoverable', path: `$.line_items[${i}]` })
      return
    }
    let quantity = li.quantity
    const idx = lineItems.length
    if (p.stock !== undefined && p.stock <= 0) {
      messages.push({ type: 'error', code: 'out_of_stock', content: `${p.title} is out of stock`, severity: 'recoverable', path: `$.line_items[${idx}]` })
    } else if (p.stock !== undefined && quantity > p.stock) {
      quantity = p.stock
      messages.push({ type: 'warning', code: 'quantity_adjusted', content: `only ${p.stock} of ${p.title} available`, path: `$.line_items[${idx}].quantity` })
    }
    const lineId = li.id && prevIds.has(li.id) ? li.id : `li_${++seq}`
    const amount = p.price * quantity
    lineItems.push({
      id: lineId,
      item: { id: p.id, title: p.title, price: p.price, ...(p.image_url ? { image_url: p.image_url } : {}) },
      quantity,
      totals: [
        { type: 'subtotal', amount },
        { type: 'total', amount },
      ],
    })
  })
  if (lineItems.length === 0) return { unrecoverable: messages.length ? messages : [{ type: 'error', code: 'item_unavailable', content: 'no item can be sold', severity: 'unrecoverable' }] }

  const subtotal = lineItems.reduce((s, l) => s + l.item.price * l.quantity, 0)
  const totals: Total[] = [{ type: 'subtotal', amount: subtotal }]
  const checkout: CheckoutDoc = {
    id,
    status: 'incomplete',
    currency: ctx.currency,
    line_items: lineItems,
    totals,
    links: [...ctx.links],
  }
  if (input.buyer) {
    const b = pick(input.buyer, BUYER_FIELDS)
    if (ctx.capabilities[CAP.buyerConsent] && isObj(input.buyer['consent'])) {
      const c = input.buyer['consent']
      const consent: Record<string, boolean> = {}
      for (const k of ['analytics', 'preferences', 'marketing', 'sale_of_data']) if (typeof c[k] === 'boolean') consent[k] = c[k]
      checkout.buyer = { ...b, consent }
    } else checkout.buyer = b
  }
  if (input.context) checkout.context = pick(input.context, ['address_country', 'address_region', 'postal_code', 'intent', 'language', 'currency'])

  // Discounts (extension): codes replace previous ones; unknown codes are warnings.
  let discount = 0
  if (ctx.capabilities[CAP.discount] && input.discounts) {
    const codes = Array.isArray(input.discounts.codes) ? input.discounts.codes.filter((c): c is string => typeof c === 'string') : []
    const applied: Array<Record<string, unknown>> = []
    const seen = new Set<string>()
    codes.forEach((code, i) => {
      const d = ctx.catalog.discount(code)
      if (seen.has(code.toUpperCase())) {
        messages.push({ type: 'warning', code: 'discount_code_already_applied', content: `${code} is already applied`, path: `$.discounts.codes[${i}]` })
        return
      }
      seen.add(code.toUpperCase())
      if (!d) {
        messages.push({ type: 'warning', code: 'discount_code_invalid', content: `${code} is not a valid code`, path: `$.discounts.codes[${i}]` })
        return
      }
      const raw = d.percent !== undefined ? Math.floor((subtotal * d.percent) / 100) : (d.amount ?? 0)
      const amount = Math.min(raw, subtotal - discount)
      if (amount <= 0) return
      discount += amount
      applied.push({ code: d.code, title: d.title, amount, automatic: false, method: 'across', priority: applied.length + 1 })
    })
    checkout.discounts = { codes, applied }
    if (discount > 0) totals.push({ type: 'discount', amount: -discount, display_text: 'Discounts' })
  }

  // Fulfillment (extension): one shipping method over every line item, one group, options by country.
  let fulfillmentReady = !ctx.capabilities[CAP.fulfillment]
  let shipping = 0
  if (ctx.capabilities[CAP.fulfillment]) {
    const prevMethod = (prev?.fulfillment?.['methods'] as Array<Record<string, unknown>> | undefined)?.[0]
    const prevDest = (prevMethod?.['destinations'] as Array<Record<string, unknown>> | undefined) ?? []
    const inMethod = isObj(input.fulfillment) && Array.isArray(input.fulfillment['methods']) ? (input.fulfillment['methods'][0] as unknown) : undefined
    if (isObj(inMethod)) {
      const ids = lineItems.map((l) => l.id)
      let dseq = Math.max(0, ...prevDest.map((d) => Number(/^dest_(\d+)$/.exec(String(d['id']))?.[1] ?? 0)))
      const destinations: Array<Record<string, string> & { id: string }> = (Array.isArray(inMethod['destinations']) ? inMethod['destinations'] : []).filter(isObj).map((d) => {
        const addr = pick(d, ADDRESS_FIELDS)
        const id = typeof d['id'] === 'string' && d['id'] ? d['id'] : `dest_${++dseq}`
        return { id, ...addr }
      })
      const selDest = typeof inMethod['selected_destination_id'] === 'string' ? destinations.find((d) => d.id === inMethod['selected_destination_id']) : destinations.length === 1 ? destinations[0] : undefined
      const method: Record<string, unknown> = { id: 'method_1', type: 'shipping', line_item_ids: ids, destinations, selected_destination_id: selDest?.id ?? null }
      if (selDest) {
        const free = (ctx.catalog.freeShippingThreshold !== undefined && subtotal >= ctx.catalog.freeShippingThreshold) || lineItems.some((l) => ctx.catalog.freeShippingProducts?.includes(l.item.id))
        const options = ctx.catalog.shippingRates(selDest['address_country']).map((r) => ({ id: r.id, title: r.title, totals: [{ type: 'total', amount: free ? 0 : r.amount }] }))
        const inGroup = Array.isArray(inMethod['groups']) ? (inMethod['groups'][0] as unknown) : undefined
        const wanted = isObj(inGroup) && typeof inGroup['selected_option_id'] === 'string' ? inGroup['selected_option_id'] : undefined
        const chosen = options.find((o) => o.id === wanted)
        if (wanted && !chosen) messages.push({ type: 'warning', code: 'fulfillment_changed', content: `option ${wanted} is not available for this destination`, path: '$.fulfillment.methods[0].groups[0].selected_option_id' })
        method['groups'] = [{ id: 'group_1', line_item_ids: ids, options, selected_option_id: chosen?.id ?? null }]
        if (chosen) {
          shipping = chosen.totals[0]?.amount ?? 0
          fulfillmentReady = true
          if (free) messages.push({ type: 'info', code: 'free_shipping', content: 'shipping is free for this order' })
        }
      }
      checkout.fulfillment = { methods: [method] }
    }
    if (!fulfillmentReady) checkout.fulfillment ??= { methods: [] }
    totals.push({ type: 'fulfillment', amount: shipping, display_text: 'Shipping' })
  }
  totals.push({ type: 'total', amount: subtotal - discount + shipping })
  if (messages.length) checkout.messages = messages
  const blocking = messages.some((m) => m.type === 'error')
  checkout.status = !blocking && fulfillmentReady ? 'ready_for_complete' : 'incomplete'
  return { checkout }
}

/** The amount to charge: `totals[type=total].amount` (minor units). */
export function checkoutTotal(c: Pick<CheckoutDoc, 'totals'>): number {
  return c.totals.find((t) => t.type === 'total')?.amount ?? 0
}

/** Why a checkout cannot be completed yet (messages to return), or `undefined` when it can. */
export function completeBlockers(c: CheckoutDoc, capabilities: Record<string, string>): UcpMessage[] | undefined {
  if (c.status === 'ready_for_complete') return undefined
  const errors = (c.messages ?? []).filter((m) => m.type === 'error')
  if (errors.length) return errors
  if (capabilities[CAP.fulfillment])
    return [{ type: 'error', code: 'missing', content: 'Fulfillment address and option must be selected', severity: 'recoverable', path: '$.fulfillment' }]
  return [{ type: 'error', code: 'missing', content: 'the checkout is not ready for completion', severity: 'recoverable' }]
}
