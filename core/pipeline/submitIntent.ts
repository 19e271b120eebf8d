import { GatewayError } from '../errors/gatewayError.js'
import { sealAuditEvent, GENESIS_HASH } from '../events/audit.js'
import { parseMinorUnits } from '../money/amount.js'
import type { AssetRegistry } from '../money/assets.js'
import type { Store } from '../store/port.js'
import { newId } from '../util/ids.js'
import type {
  IntentAuthorization,
  IntentInstrument,
  IntentLineItem,
  IntentOrigin,
  IntentPayer,
  IntentTotal,
  Money,
  PaymentIntent,
} from '../intent/types.js'
import { intentOutboxRows, type DestinationsFor } from './webhookEvent.js'

export interface SubmitIntentDeps {
  store: Store
  assets: AssetRegistry
  /** Webhook destinations for the intent's events (none when omitted). */
  destinationsFor?: DestinationsFor | undefined
  clock?: (() => Date) | undefined
}

export interface SubmitIntentParameters {
  merchantId: string
  origin: IntentOrigin
  payer: IntentPayer
  amount: Money
  instrument: IntentInstrument
  authorization: IntentAuthorization
  lineItems?: IntentLineItem[] | undefined
  totals?: IntentTotal[] | undefined
  metadata?: Record<string, string> | undefined
  /** Who submits it (`agent:<id>`, …), recorded in the audit chain. */
  actor: string
  /**
   * Makes creation exactly-once per merchant across processes: a second submit with the same key
   * returns the first intent (`created: false`). Adapters use the protocol's own ref.
   */
  dedupeKey?: string | undefined
}

export interface SubmitIntentReturnType {
  intent: PaymentIntent
  /** `false` when `dedupeKey` matched an existing intent, which is returned unchanged. */
  created: boolean
}

export type SubmitIntentErrorType = GatewayError

/**
 * Step 2 of the path of one payment (DESIGN §4): validate the money, write the intent, its first
 * audit event and its outbox rows in one transaction. The intent starts in `created`; policy
 * decides next. Amounts are checked against the asset registry: the asset must be known and the
 * value an integer in minor units.
 *
 * @example
 * const { intent } = await submitIntent({ store, assets }, {
 *   merchantId: 'demo', actor: 'agent:a1',
 *   origin: { protocol: 'gateway', version: 'v1', ref: 'order-42' },
 *   payer: { agent_id: 'a1' }, amount: { value: '1999', asset: 'iso4217:USD' },
 *   instrument: { type: 'alipay.agreement' }, authorization: { type: 'gateway.api_key' },
 * })
 */
export async function submitIntent(deps: SubmitIntentDeps, params: SubmitIntentParameters): Promise<SubmitIntentReturnType> {
  checkMoney(deps.assets, params.amount, 'amount')
  if (params.lineItems) for (const [i, li] of params.lineItems.entries()) checkMoney(deps.assets, li.unit_amount, `line_items[${i}].unit_amount`)
  if (params.totals) for (const [i, t] of params.totals.entries()) checkMoney(deps.assets, t.amount, `totals[${i}].amount`)

  const now = (deps.clock ?? (() => new Date()))()
  const at = now.toISOString()
  const intent: PaymentIntent = {
    id: newId('pi'),
    merchant_id: params.merchantId,
    created_at: at,
    updated_at: at,
    agent_initiated: true,
    origin: params.origin,
    payer: params.payer,
    amount: params.amount,
    instrument: params.instrument,
    authorization: params.authorization,
    status: 'created',
    version: 1,
  }
  if (params.lineItems) intent.line_items = params.lineItems
  if (params.totals) intent.totals = params.totals
  if (params.metadata) intent.metadata = params.metadata

  const event = sealAuditEvent({
    intent_id: intent.id,
    seq: 1,
    type: 'create',
    actor: params.actor,
    from_status: null,
    to_status: 'created',
    at,
    data: { amount: intent.amount, origin: intent.origin, instrument: intent.instrument.type },
    prev_hash: GENESIS_HASH,
  })
  const outbox = intentOutboxRows(intent, 'payment_intent.created', deps.destinationsFor?.(intent) ?? [], now)
  const result = await deps.store.insertIntent({ intent, event, outbox, dedupeKey: params.dedupeKey })
  if (result.ok) return { intent, created: true }
  const existing = await deps.store.getIntent(result.existingId)
  if (!existing) throw new GatewayError('GW_INTERNAL', `duplicate intent ${result.existingId} vanished`)
  return { intent: existing.intent, created: false }
}

function checkMoney(assets: AssetRegistry, money: Money, path: string): void {
  try {
    parseMinorUnits(money.value)
  } catch (e) {
    throw new GatewayError('GW_AMOUNT_INVALID', `${path}.value: ${e instanceof Error ? e.message : String(e)}`, { details: [{ path: `${path}.value` }] })
  }
  if (!assets.get(money.asset)) {
    throw new GatewayError('GW_ASSET_UNKNOWN', `${path}.asset: ${money.asset} is not in the asset registry`, { details: [{ path: `${path}.asset` }] })
  }
}
