import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import { parseMinorUnits } from '../money/amount.js'
import { transitionIntent } from '../pipeline/transitionIntent.js'
import type { DestinationsFor } from '../pipeline/webhookEvent.js'
import type { Store } from '../store/port.js'
import { newId } from '../util/ids.js'
import { buildEvidence } from './evidence.js'
import type { DisputeRecord } from './records.js'

export interface OpenDisputeDeps {
  store: Store
  destinationsFor?: DestinationsFor | undefined
  clock?: (() => Date) | undefined
}

export interface OpenDisputeParameters {
  intentId: string
  /** Reason code (`fraudulent`, `product_not_received`, `duplicate`, …). */
  reason: string
  /** Default: the whole intent amount. */
  amount?: Money | undefined
  note?: string | undefined
  actor: string
}

const DISPUTABLE = new Set(['succeeded', 'partially_refunded', 'refunded', 'processing'])

/**
 * Open a dispute on a settled intent: the evidence bundle (intent, audit chain excerpt with its
 * verification, authorisation and mandate constraints, receipts) is built and frozen in the
 * dispute record, and the opening is appended to the intent's audit chain.
 *
 * @example await openDispute({ store }, { intentId, reason: 'product_not_received', actor: 'merchant:shop' })
 */
export async function openDispute(deps: OpenDisputeDeps, params: OpenDisputeParameters): Promise<DisputeRecord> {
  const clock = deps.clock ?? (() => new Date())
  const stored = await deps.store.getIntent(params.intentId)
  if (!stored) throw new GatewayError('GW_NOT_FOUND', `no intent ${params.intentId}`)
  const intent = stored.intent
  if (!DISPUTABLE.has(intent.status)) throw new GatewayError('GW_INVALID_TRANSITION', `cannot dispute an intent that is ${intent.status}: nothing was paid`)
  let amount: Money = intent.amount
  if (params.amount) {
    if (params.amount.asset !== intent.amount.asset) throw new GatewayError('GW_AMOUNT_INVALID', `dispute asset ${params.amount.asset} is not the intent's asset ${intent.amount.asset}`)
    const v = parseMinorUnits(params.amount.value)
    if (v === 0n || v > BigInt(intent.amount.value)) throw new GatewayError('GW_AMOUNT_INVALID', `a disputed amount must be from 1 to ${intent.amount.value}`)
    amount = params.amount
  }
  const id = newId('dp')
  // The opening is in the chain first, so the frozen bundle shows it and verifies up to it.
  await transitionIntent(deps, { intentId: intent.id, event: 'annotate', actor: params.actor, reason: 'dispute_opened', data: { dispute_id: id, reason: params.reason, amount } })
  const now = clock()
  const evidence = await buildEvidence(deps.store, intent.id, now)
  const record: DisputeRecord = {
    id,
    intentId: intent.id,
    merchantId: intent.merchant_id,
    status: 'open',
    reason: params.reason,
    amount,
    ...(params.note ? { note: params.note } : {}),
    actor: params.actor,
    evidence,
    createdAt: now,
    updatedAt: now,
  }
  await deps.store.insertDispute(record)
  return record
}

/** The dispute as the gateway API shows it (without the evidence, which has its own endpoint). */
export function disputeView(d: DisputeRecord): Record<string, unknown> {
  return {
    id: d.id,
    object: 'dispute',
    intent_id: d.intentId,
    merchant_id: d.merchantId,
    status: d.status,
    reason: d.reason,
    amount: d.amount,
    ...(d.note ? { note: d.note } : {}),
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  }
}
