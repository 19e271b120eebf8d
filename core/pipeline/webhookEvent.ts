import { newId } from '../util/ids.js'
import type { OutboxInsert } from '../store/port.js'
import type { PaymentIntent } from '../intent/types.js'

/** Where an intent's events are delivered: destination names (`merchant:<id>`), resolved at delivery. */
export type DestinationsFor = (intent: PaymentIntent) => readonly string[]

/**
 * The webhook body for an intent change: `{ id, type, created_at, data: { object } }`. `id` is
 * the stable event id the receiver de-duplicates by (the same on every retry of the delivery).
 */
export function intentOutboxRows(
  intent: PaymentIntent,
  type: string,
  destinations: readonly string[],
  at: Date,
): OutboxInsert[] {
  if (destinations.length === 0) return []
  const rows: OutboxInsert[] = []
  for (const destination of destinations) {
    const id = newId('evt')
    rows.push({
      id,
      type,
      destination,
      aggregateId: intent.id,
      createdAt: at,
      payload: JSON.stringify({ id, type, created_at: at.toISOString(), data: { object: intent } }),
    })
  }
  return rows
}
