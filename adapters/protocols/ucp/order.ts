import type { CheckoutDoc, Total } from './checkout.js'
import { CAP } from './options.js'

export interface OrderLineItem {
  id: string
  item: { id: string; title: string; price: number; image_url?: string | undefined }
  quantity: { original: number; total: number; fulfilled: number }
  totals: Total[]
  status: 'processing' | 'partial' | 'fulfilled' | 'removed'
}

/** The full order entity (DIGEST §8): what `GET /orders/{id}` returns and every webhook carries. */
export interface OrderDoc {
  ucp: { version: string; capabilities: Record<string, Array<{ version: string }>> }
  id: string
  checkout_id: string
  permalink_url: string
  currency: string
  line_items: OrderLineItem[]
  fulfillment: { expectations: Array<Record<string, unknown>>; events: Array<Record<string, unknown>> }
  adjustments: Array<Record<string, unknown>>
  totals: Total[]
}

/** The order for a completed checkout (one expectation for the selected shipping destination). */
export function buildOrder(p: { id: string; checkout: CheckoutDoc; permalinkBase: string; version: string; orderCapVersion?: string | undefined }): OrderDoc {
  const c = p.checkout
  const method = (c.fulfillment?.['methods'] as Array<Record<string, unknown>> | undefined)?.[0]
  const destId = method?.['selected_destination_id']
  const dest = (method?.['destinations'] as Array<Record<string, unknown>> | undefined)?.find((d) => d['id'] === destId)
  const expectations: Array<Record<string, unknown>> = []
  if (dest) {
    const { id: _id, ...address } = dest
    expectations.push({ id: 'exp_1', line_items: c.line_items.map((l) => ({ id: l.id, quantity: l.quantity })), method_type: 'shipping', destination: address, fulfillable_on: 'now' })
  }
  return {
    ucp: { version: p.version, capabilities: { [CAP.order]: [{ version: p.orderCapVersion ?? p.version }] } },
    id: p.id,
    checkout_id: c.id,
    permalink_url: `${p.permalinkBase}/${p.id}`,
    currency: c.currency,
    line_items: c.line_items.map((l) => ({ id: l.id, item: l.item, quantity: { original: l.quantity, total: l.quantity, fulfilled: 0 }, totals: l.totals, status: 'processing' })),
    fulfillment: { expectations, events: [] },
    adjustments: [],
    totals: c.totals,
  }
}
