import { isGatewayError } from '../../../core/errors/gatewayError.js'
import type { Money, PaymentIntent } from '../../../core/intent/types.js'
import { toAntomAmount, type AntomAmount } from '../../../core/money/railFormats.js'
import type { RailAdapter, RailOutcome, RailQueryParams, RailRefundOutcome, RailRefundParams, RailRefundQueryOutcome, RailRefundQueryParams, RailSettleParams } from '../../../core/rails/port.js'
import { classifyTransportCode } from '../../../core/routing/rules.js'
import { unsentAfterUnknown, type RailExtras, type RailFactoryContext } from './alipayRail.js'
import { AntomClient, type AntomAnswer } from './antomClient.js'
import type { AntomRailOptions } from './config.js'
import { loadPrivateKey, loadPublicKey } from './keys.js'
import { checkPrefix, outTradeNoFor, requestNoFor } from './refs.js'
import { EndpointSet, RailCallError, RailUnavailableError, createRailDispatcher } from './transport.js'
import { settlementKey } from '../../../core/pipeline/settleIntent.js'

/**
 * The secret credential of a card / wallet payment on the Antom rail (never stored in the intent,
 * never logged). A vault token is the usual case; a raw card is passed through as
 * `paymentMethodMetaData` only.
 */
export interface AntomPaymentCredential {
  /** `CARD` (default), or a wallet such as `ALIPAY_CN`, `GCASH`. */
  paymentMethodType?: string | undefined
  /** Vault token / wallet access token; defaults to `intent.instrument.ref`. */
  paymentMethodId?: string | undefined
  card?: { number: string; expiryMonth?: string | undefined; expiryYear?: string | undefined; cvv?: string | undefined; holderName?: string | undefined } | undefined
}

export interface AntomRail extends RailAdapter<AntomPaymentCredential | undefined> {
  readonly client: AntomClient
  readonly options: Readonly<AntomRailOptions>
  /** The `paymentRequestId` of an intent's settlement. */
  paymentRequestIdOf(intent: PaymentIntent): string
  shutdown(): Promise<void>
}

/**
 * A rail factory for `createGateway({ rails: [createAntomRail(options)] })`: cross-border cards and
 * wallets, multi-currency (amounts are Antom minor-unit strings from the canonical money).
 */
export function createAntomRail(options: AntomRailOptions, extras: RailExtras = {}): (ctx: RailFactoryContext) => AntomRail {
  loadPrivateKey(options.privateKey, options.privateKeyFormat, 'rails.antom.privateKey')
  loadPublicKey(options.antomPublicKey, 'rails.antom.antomPublicKey')
  return (ctx) => buildAntomRail(options, ctx, extras)
}

/**
 * The Antom rail. `S` = done; `F` = definitive decline (never a breaker failure); `U` / 5xx /
 * timeout / bad signature = unknown → `inquiryPayment` before any re-send, and a re-send reuses the
 * same `paymentRequestId` only after the inquiry found no such payment.
 */
export function buildAntomRail(options: AntomRailOptions, ctx: RailFactoryContext, extras: RailExtras = {}): AntomRail {
  const railId = options.rail ?? 'antom'
  const prefix = checkPrefix(options.requestIdPrefix ?? '')
  const clock = extras.clock ?? (() => new Date())
  const ownsDispatcher = !extras.dispatcher
  let closed = false
  const dispatcher = extras.dispatcher ?? createRailDispatcher()
  const client = new AntomClient({
    clientId: options.clientId,
    privateKey: loadPrivateKey(options.privateKey, options.privateKeyFormat, `rails.${railId}.privateKey`),
    antomPublicKey: loadPublicKey(options.antomPublicKey, `rails.${railId}.antomPublicKey`),
    keyVersion: options.keyVersion,
    endpoints: new EndpointSet(railId, options.endpoints, ctx.breakers, options.breaker),
    dispatcher,
    pathPrefix: options.pathPrefix,
    timeoutMs: options.timeoutMs,
    clock,
  })
  const maxPayAttempts = Math.max(1, options.maxPayAttempts ?? 2)
  const log = ctx.logger.child({ rail: railId })

  const amountOf = (m: Money): { ok: true; amount: AntomAmount } | { ok: false; code: string; message: string } => {
    try {
      return { ok: true, amount: toAntomAmount(m) }
    } catch (e) {
      if (isGatewayError(e)) return { ok: false, code: 'amount_not_supported', message: e.message }
      throw e
    }
  }
  const sameAmount = (a: unknown, b: AntomAmount): boolean => {
    const x = a as Partial<AntomAmount> | undefined
    return x?.currency === b.currency && x?.value === b.value
  }
  const unknownFrom = (err: RailCallError | RailUnavailableError): Extract<RailOutcome, { status: 'unknown' }> =>
    err instanceof RailCallError ? { status: 'unknown', code: err.code, endpoint: err.endpoint } : { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }

  const inquiry = async (paymentRequestId: string, expect: AntomAmount | undefined, avoid?: string, signal?: AbortSignal): Promise<RailOutcome> => {
    let a: AntomAnswer
    try {
      a = await client.inquiryPayment(paymentRequestId, { avoid, signal })
    } catch (err) {
      if (err instanceof RailCallError || err instanceof RailUnavailableError) return unknownFrom(err)
      throw err
    }
    if (a.result.resultStatus === 'F') {
      if (a.result.resultCode === 'ORDER_NOT_EXIST') return { status: 'not_found', endpoint: a.endpoint }
      return { status: 'unknown', code: a.result.resultCode, endpoint: a.endpoint }
    }
    const b = a.body
    const paymentId = typeof b['paymentId'] === 'string' ? b['paymentId'] : undefined
    switch (b['paymentStatus']) {
      case 'SUCCESS':
        if (!paymentId) return { status: 'unknown', code: 'no_payment_id', endpoint: a.endpoint }
        if (expect && !sameAmount(b['paymentAmount'], expect)) {
          log.error({ paymentRequestId, paymentId, endpoint: a.endpoint }, 'antom payment amount differs from the intent: left for manual reconciliation')
          return { status: 'unknown', code: 'amount_mismatch', reference: paymentId, endpoint: a.endpoint }
        }
        return { status: 'succeeded', reference: paymentId, settledAt: isoOf(b['paymentTime']) ?? clock().toISOString(), endpoint: a.endpoint }
      case 'FAIL':
        return { status: 'declined', code: String(b['paymentResultCode'] ?? 'FAIL'), message: String(b['paymentResultMessage'] ?? '').slice(0, 200), endpoint: a.endpoint }
      default:
        return { status: 'unknown', code: String(b['paymentStatus'] ?? 'no_payment_status'), ...(paymentId ? { reference: paymentId } : {}), endpoint: a.endpoint }
    }
  }

  const paymentMethodOf = (intent: PaymentIntent, cred: AntomPaymentCredential): Record<string, unknown> | undefined => {
    const type = cred.paymentMethodType ?? 'CARD'
    if (cred.card) {
      const c = cred.card
      return { paymentMethodType: type, paymentMethodMetaData: { cardNo: c.number, ...(c.expiryMonth ? { expiryMonth: c.expiryMonth } : {}), ...(c.expiryYear ? { expiryYear: c.expiryYear } : {}), ...(c.cvv ? { cvv: c.cvv } : {}), ...(c.holderName ? { cardholderName: { fullName: c.holderName } } : {}) } }
    }
    const id = cred.paymentMethodId ?? intent.instrument.ref
    return id ? { paymentMethodType: type, paymentMethodId: id } : undefined
  }

  return {
    rail: railId,
    instruments: options.instruments ?? ['card.vault_token'],
    client,
    options,
    paymentRequestIdOf: (intent) => outTradeNoFor(settlementKey(intent), prefix),

    async settle(p: RailSettleParams<AntomPaymentCredential | undefined>): Promise<RailOutcome> {
      const amt = amountOf(p.amount)
      if (!amt.ok) return { status: 'declined', code: amt.code, message: amt.message }
      const method = paymentMethodOf(p.intent, p.credential ?? {})
      if (!method) return { status: 'declined', code: 'payment_method_missing', message: 'a card or wallet token is needed' }
      const paymentRequestId = outTradeNoFor(p.idempotencyKey, prefix)
      const payload: Record<string, unknown> = {
        productCode: options.productCode ?? 'AGREEMENT_PAYMENT',
        paymentRequestId,
        order: { referenceOrderId: p.intent.id, orderDescription: (p.intent.line_items?.[0]?.title ?? 'agentswitch payment').slice(0, 256), orderAmount: amt.amount },
        paymentAmount: amt.amount,
        paymentMethod: method,
        ...(options.notifyUrl ? { paymentNotifyUrl: options.notifyUrl } : {}),
      }
      let avoid: string | undefined
      let last: Extract<RailOutcome, { status: 'unknown' }> = { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
      // Set once any attempt may have reached Antom: an inquiry's "not found" does not stop that
      // send from completing late, so from then on this payment is never reported as not sent.
      let sent = false
      for (let attempt = 1; attempt <= maxPayAttempts; attempt++) {
        let a: AntomAnswer
        try {
          a = await client.pay(payload, { avoid, signal: p.signal })
        } catch (err) {
          if (err instanceof RailUnavailableError) return unsentAfterUnknown(last, sent)
          if (!(err instanceof RailCallError)) throw err
          log.warn({ paymentRequestId, endpoint: err.endpoint, code: err.code, attempt }, 'antom pay outcome unknown; inquiring')
          last = { status: 'unknown', code: err.code, endpoint: err.endpoint }
          if (classifyTransportCode(err.code).kind !== 'not_sent') sent = true
          avoid = err.endpoint
          const q = await inquiry(paymentRequestId, amt.amount, avoid, p.signal)
          if (q.status === 'succeeded' || q.status === 'declined') return q
          if (q.status === 'unknown') return unsentAfterUnknown({ ...q, code: err.code }, sent)
          continue
        }
        if (a.result.resultStatus === 'S') {
          const paymentId = a.body['paymentId']
          if (typeof paymentId !== 'string' || !sameAmount(a.body['paymentAmount'], amt.amount)) return inquiry(paymentRequestId, amt.amount, undefined, p.signal)
          return { status: 'succeeded', reference: paymentId, settledAt: isoOf(a.body['paymentTime']) ?? clock().toISOString(), endpoint: a.endpoint }
        }
        // The request id was used before with other details: only the stored payment can say.
        if (a.result.resultCode === 'REPEAT_REQ_INCONSISTENT') {
          const q = await inquiry(paymentRequestId, amt.amount, undefined, p.signal)
          return q.status === 'not_found' ? { status: 'unknown', code: a.result.resultCode, endpoint: a.endpoint } : q
        }
        return { status: 'declined', code: a.result.resultCode, message: a.result.resultMessage.slice(0, 200), endpoint: a.endpoint }
      }
      return unsentAfterUnknown(last, sent)
    },

    async query(p: RailQueryParams): Promise<RailOutcome> {
      const amt = amountOf(p.intent.settlement_amount ?? p.intent.amount)
      return inquiry(outTradeNoFor(p.idempotencyKey, prefix), amt.ok ? amt.amount : undefined, undefined, p.signal)
    },

    async refund(p: RailRefundParams): Promise<RailRefundOutcome> {
      const amt = amountOf(p.amount)
      if (!amt.ok) return { status: 'declined', code: amt.code, message: amt.message }
      let paymentId = p.intent.settlement?.reference
      if (!paymentId) {
        const q = await inquiry(outTradeNoFor(settlementKey(p.intent), prefix), undefined, undefined, p.signal)
        if (q.status !== 'succeeded') return { status: 'declined', code: 'payment_not_settled', message: 'the payment has not succeeded' }
        paymentId = q.reference
      }
      const refundRequestId = requestNoFor(p.refundKey, prefix)
      const payload = { refundRequestId, paymentId, refundAmount: amt.amount, ...(p.reason ? { refundReason: p.reason.slice(0, 256) } : {}) }
      let avoid: string | undefined
      let last: RailRefundOutcome = { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
      for (let attempt = 1; attempt <= maxPayAttempts; attempt++) {
        let a: AntomAnswer
        try {
          a = await client.refund(payload, { avoid, signal: p.signal })
        } catch (err) {
          if (err instanceof RailUnavailableError) return last
          if (!(err instanceof RailCallError)) throw err
          last = { status: 'unknown', code: err.code }
          avoid = err.endpoint
          try {
            const r = await client.inquiryRefund(refundRequestId, { avoid, signal: p.signal })
            if (r.result.resultStatus === 'S' && r.body['refundStatus'] === 'SUCCESS')
              return { status: 'succeeded', reference: String(r.body['refundId']), refundedAt: isoOf(r.body['refundTime']) ?? clock().toISOString() }
            if (r.result.resultStatus === 'F' && r.result.resultCode === 'REFUND_NOT_EXIST') continue
            return { status: 'unknown', code: err.code }
          } catch (e) {
            if (e instanceof RailCallError || e instanceof RailUnavailableError) return last
            throw e
          }
        }
        if (a.result.resultStatus === 'S') return { status: 'succeeded', reference: String(a.body['refundId']), refundedAt: isoOf(a.body['refundTime']) ?? clock().toISOString() }
        return { status: 'declined', code: a.result.resultCode, message: a.result.resultMessage.slice(0, 200) }
      }
      return last
    },

    async queryRefund(p: RailRefundQueryParams): Promise<RailRefundQueryOutcome> {
      // `inquiryRefund` by refundRequestId: REFUND_NOT_EXIST = nothing moved.
      try {
        const r = await client.inquiryRefund(requestNoFor(p.refundKey, prefix), { signal: p.signal })
        if (r.result.resultStatus === 'S' && r.body['refundStatus'] === 'SUCCESS')
          return { status: 'succeeded', reference: String(r.body['refundId']), refundedAt: isoOf(r.body['refundTime']) ?? clock().toISOString() }
        if (r.result.resultStatus === 'S' && r.body['refundStatus'] === 'FAIL') return { status: 'declined', code: 'refund_failed' }
        if (r.result.resultStatus === 'F' && r.result.resultCode === 'REFUND_NOT_EXIST') return { status: 'not_found' }
        return { status: 'unknown', code: r.result.resultCode }
      } catch (err) {
        if (err instanceof RailCallError) return { status: 'unknown', code: err.code }
        if (err instanceof RailUnavailableError) return { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
        throw err
      }
    },

    async shutdown() {
      // Idempotent: the gateway closes its rails and a caller may have done so already.
      if (closed) return
      closed = true
      if (ownsDispatcher) await dispatcher.close()
    },
    close() {
      return this.shutdown()
    },
  }
}

/** Antom times (`2026-11-21T12:08:56.253+08:00`) as ISO-8601 UTC. */
function isoOf(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined
  const t = Date.parse(v)
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined
}
