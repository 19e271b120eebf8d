import type { PaymentIntent } from '../../../core/intent/types.js'
import { isObject } from './jose.js'
import { signCheckoutReceipt, signPaymentReceipt, type ReceiptSigner } from './receipts.js'
import type { MandateLedger } from './state.js'

/**
 * The receipts of an AP2 v0.2 intent that has reached a final state (for a payment whose rail
 * outcome was unknown when first answered, and for `GET /ap2/v1/payments/{id}`): the references
 * are read back from what was recorded at submission. `undefined` while the intent is not final
 * or is not an AP2 v0.2 payment.
 */
export function receiptsForIntent(
  signer: ReceiptSigner,
  intent: PaymentIntent,
  now: number,
): { status: 'Success' | 'Error'; paymentReceipt: string; checkoutReceipt: string } | undefined {
  if (intent.origin.protocol !== 'ap2' || intent.origin.version !== '0.2') return undefined
  const c = intent.authorization.constraints
  if (!isObject(c) || typeof c['reference'] !== 'string' || typeof c['checkout_reference'] !== 'string') return undefined
  const reference = c['reference']
  const checkoutReference = c['checkout_reference']
  const paid = intent.status === 'succeeded' || intent.status === 'partially_refunded' || intent.status === 'refunded'
  if (paid) {
    const ref = intent.settlement?.reference ?? ''
    const network = intent.instrument.network
    return {
      status: 'Success',
      paymentReceipt: signPaymentReceipt(
        signer,
        { status: 'Success', reference, payment_id: intent.id, psp_confirmation_id: ref, network_confirmation_id: network ? `${network}:${ref}` : `${intent.settlement?.rail ?? 'rail'}:${ref}` },
        { now },
      ),
      checkoutReceipt: signCheckoutReceipt(signer, { status: 'Success', reference: checkoutReference, order_id: String(c['checkout_id'] ?? intent.id) }, { now }),
    }
  }
  if (intent.status === 'failed' || intent.status === 'canceled') {
    const description = `the payment was declined: ${intent.status_reason ?? intent.status}`
    return {
      status: 'Error',
      paymentReceipt: signPaymentReceipt(signer, { status: 'Error', reference, payment_id: intent.id, error: 'payment_declined', error_description: description }, { now }),
      checkoutReceipt: signCheckoutReceipt(signer, { status: 'Error', reference: checkoutReference, error: 'payment_declined', error_description: description }, { now }),
    }
  }
  return undefined
}

/**
 * A payment answered `pending` keeps its budget reservation (money may have moved). Once its
 * intent is definitively failed, give the reservation back. Called when a pending payment is
 * looked at again (`GET /ap2/v1/payments/{id}`, A2A `tasks/get`); idempotent.
 */
export async function releaseIfFailed(deps: { ledger: MandateLedger }, intent: PaymentIntent): Promise<void> {
  if (intent.status !== 'failed' && intent.status !== 'canceled') return
  const c = intent.authorization.constraints
  if (!isObject(c) || typeof c['open_payment_mandate'] !== 'string' || typeof c['reference'] !== 'string') return
  await deps.ledger.remove(c['open_payment_mandate'], c['reference'])
}
