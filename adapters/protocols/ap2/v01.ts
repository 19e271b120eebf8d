import { isGatewayError } from '../../../core/errors/gatewayError.js'
import { fromMajorString, toMajorString } from '../../../core/money/amount.js'
import { processPayment } from '../../../core/pipeline/processPayment.js'
import { fail, type Ap2Failure } from './errors.js'
import { isObject } from './jose.js'
import type { Ap2ServiceDeps } from './processAp2Payment.js'

/**
 * AP2 v0.1 (digest §2): plain JSON `IntentMandate` / `CartMandate` / `PaymentMandate` DataParts.
 * They are parsed and mapped to a canonical intent, but **no published v0.1 sample carries a
 * verifiable signature** (`merchant_authorization` is `FakeJWT`, `user_authorization` a
 * concatenation of fake hashes; digest Ambiguity 11), so they are refused with
 * `mandates_not_supported` unless the operator sets `ap2.v01.acceptUnauthenticated`. Accepted
 * ones are recorded as unauthenticated (`authorization.constraints.authenticated = false`) and are
 * never treated as user-signed: gateway policy decides about them like any unauthenticated
 * request.
 */

/** The v0.1 DataPart keys. */
export const V01_KEYS = {
  intent: 'ap2.mandates.IntentMandate',
  cart: 'ap2.mandates.CartMandate',
  payment: 'ap2.mandates.PaymentMandate',
  receipt: 'ap2.PaymentReceipt',
} as const

/** A v0.1 PaymentMandate, mapped. Field-name variants of the v0.1 docs are tolerated (Ambiguity 10). */
export interface V01Payment {
  paymentMandateId: string
  paymentDetailsId: string
  currency: string
  /** Exact major-unit decimal string (v0.1 sends a float). */
  value: string
  methodName: string
  details: Record<string, unknown>
  merchantAgent: string
  timestamp?: string | undefined
  /** Present and non-empty: still not verifiable. */
  userAuthorizationPresent: boolean
  cartId?: string | undefined
  merchantName?: string | undefined
}

/** Parse a v0.1 `PaymentMandate` (and optional `CartMandate`). */
export function parseV01PaymentMandate(raw: unknown, cart?: unknown): V01Payment | Ap2Failure {
  if (!isObject(raw)) return fail('invalid_mandate', 'the v0.1 PaymentMandate is not an object')
  const c = raw['payment_mandate_contents']
  if (!isObject(c)) return fail('invalid_mandate', 'payment_mandate_contents is missing')
  const str = (o: Record<string, unknown>, k: string): string | undefined => (typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : undefined)
  const id = str(c, 'payment_mandate_id')
  if (!id || id.length > 200) return fail('invalid_mandate', 'payment_mandate_id is missing')
  const total = c['payment_details_total']
  const amount = isObject(total) && isObject(total['amount']) ? total['amount'] : undefined
  if (!amount || typeof amount['currency'] !== 'string' || typeof amount['value'] !== 'number' || !Number.isFinite(amount['value']) || amount['value'] < 0)
    return fail('invalid_mandate', 'payment_details_total.amount must be {currency, value: number}')
  const response = c['payment_response']
  if (!isObject(response) || !str(response, 'method_name')) return fail('invalid_mandate', 'payment_response.method_name is missing')
  const merchantAgent = str(c, 'merchant_agent')
  if (!merchantAgent) return fail('invalid_mandate', 'merchant_agent is missing')
  const contents = isObject(cart) && isObject(cart['contents']) ? cart['contents'] : undefined
  return {
    paymentMandateId: id,
    paymentDetailsId: str(c, 'payment_details_id') ?? id,
    currency: amount['currency'],
    // A float's shortest round-trip decimal (120 → "120", 19.99 → "19.99"): parsed exactly below.
    value: String(amount['value']),
    methodName: str(response, 'method_name')!,
    details: isObject(response['details']) ? response['details'] : {},
    merchantAgent,
    timestamp: str(c, 'timestamp'),
    userAuthorizationPresent: typeof raw['user_authorization'] === 'string' && raw['user_authorization'].length > 0,
    cartId: contents ? str(contents, 'id') : undefined,
    merchantName: contents ? (str(contents, 'merchant_name') ?? undefined) : undefined,
  }
}

/** The v0.1 `ap2.PaymentReceipt` object (v0.1 has no signed receipts). */
export interface V01Receipt {
  payment_mandate_id: string
  timestamp: string
  payment_id: string
  /** v0.1 amounts are major-unit numbers; rendered from the exact minor units. */
  amount: { currency: string; value: number }
  payment_status: { merchant_confirmation_id: string; psp_confirmation_id?: string | undefined } | { error_message: string } | { failure_message: string }
}

export type V01Outcome = { kind: 'receipt'; receipt: V01Receipt; ok: boolean } | (Ap2Failure & { kind: 'error' })

/**
 * Process a v0.1 payment: refused (`mandates_not_supported`) unless `acceptUnauthenticated`;
 * otherwise mapped (amount exact in minor units from the asset registry, merchant by
 * `merchant_agent`, instrument `alipay.agreement` with `details.agreement_no`) and run through
 * {@link processPayment} once per `payment_mandate_id`.
 */
export async function processV01Payment(deps: Ap2ServiceDeps, params: { acceptUnauthenticated: boolean; paymentMandate: unknown; cartMandate?: unknown; agentId?: string | undefined }): Promise<V01Outcome> {
  const parsed = parseV01PaymentMandate(params.paymentMandate, params.cartMandate)
  if ('ok' in parsed) return { ...parsed, kind: 'error' }
  if (!params.acceptUnauthenticated)
    return {
      kind: 'error',
      ...fail(
        'mandates_not_supported',
        'AP2 v0.1 mandates carry no verifiable signature (user_authorization is not a verifiable presentation in any published sample); send AP2 v0.2 SD-JWT mandates, or the operator must set ap2.v01.acceptUnauthenticated to accept them as unauthenticated',
      ),
    }
  const asset = deps.assets.get(`iso4217:${parsed.currency}`)
  if (!asset) return { kind: 'error', ...fail('invalid_mandate', `currency ${parsed.currency} is unknown`) }
  let minor: bigint
  try {
    minor = fromMajorString(parsed.value, asset.decimals)
  } catch (e) {
    return { kind: 'error', ...fail('invalid_mandate', `amount: ${e instanceof Error ? e.message : String(e)}`) }
  }
  const merchant = deps.merchants.find((m) => m.payee.id === parsed.merchantAgent || m.payee.name === parsed.merchantAgent || m.payee.name === parsed.merchantName)
  if (!merchant) return { kind: 'error', ...fail('invalid_mandate', `merchant_agent ${parsed.merchantAgent} is not a merchant of this gateway`) }
  const method = parsed.methodName.toLowerCase()
  const agreementNo = typeof parsed.details['agreement_no'] === 'string' ? parsed.details['agreement_no'] : undefined
  if (!(method === 'alipay.agreement' || method === 'alipay_agreement') || !agreementNo || !/^[0-9A-Za-z_-]{1,64}$/.test(agreementNo))
    return { kind: 'error', ...fail('mandates_not_supported', `v0.1 method ${parsed.methodName} is not settled here (alipay.agreement with details.agreement_no)`) }
  const rail = deps.instruments.alipayAgreement.rail
  if (!(rail ? deps.rails.get(rail) : deps.rails.forInstrument('alipay.agreement')[0])) return { kind: 'error', ...fail('mandates_not_supported', 'no rail settles alipay.agreement here') }
  const agent = (params.agentId ?? `v01:${parsed.merchantAgent}`).slice(0, 128)
  try {
    const r = await processPayment(
      { store: deps.store, assets: deps.assets, rails: deps.rails, policy: deps.policy, destinationsFor: deps.destinationsFor, clock: deps.clock },
      {
        merchantId: merchant.merchantId,
        origin: { protocol: 'ap2', version: '0.1', ref: parsed.paymentMandateId },
        payer: { agent_id: agent },
        amount: { value: minor.toString(), asset: asset.id },
        instrument: { type: 'alipay.agreement', ref: agreementNo },
        authorization: {
          type: 'ap2.mandate',
          verified_at: deps.clock().toISOString(),
          constraints: { ap2_version: '0.1', authenticated: false, user_authorization_present: parsed.userAuthorizationPresent, payment_details_id: parsed.paymentDetailsId, cart_id: parsed.cartId },
        },
        metadata: { ap2_v01_unauthenticated: 'true', ap2_payment_mandate_id: parsed.paymentMandateId.slice(0, 500) },
        actor: `agent:${agent}`,
        dedupeKey: `ap2v01:${parsed.paymentMandateId}`,
        credential: { mode: 'agreement', agreementNo },
        rail,
      },
    )
    const intent = r.intent
    const base = { payment_mandate_id: parsed.paymentMandateId, timestamp: deps.clock().toISOString(), payment_id: intent.id, amount: { currency: parsed.currency, value: Number(toMajorString(minor, asset.decimals)) } }
    if (intent.status === 'succeeded') return { kind: 'receipt', ok: true, receipt: { ...base, payment_status: { merchant_confirmation_id: intent.id, psp_confirmation_id: intent.settlement?.reference } } }
    if (intent.status === 'failed' || intent.status === 'requires_approval' || intent.status === 'canceled')
      return { kind: 'receipt', ok: false, receipt: { ...base, payment_status: { failure_message: `payment ${intent.status}: ${intent.status_reason ?? ''}`.trim() } } }
    return { kind: 'receipt', ok: false, receipt: { ...base, payment_status: { error_message: `payment ${intent.status}; query the gateway for the outcome` } } }
  } catch (e) {
    if (isGatewayError(e) && (e.code === 'GW_AMOUNT_INVALID' || e.code === 'GW_ASSET_UNKNOWN')) return { kind: 'error', ...fail('invalid_mandate', e.message) }
    throw e
  }
}
