import { defaultPanHash, type AntomPayment, type SandboxApp, type SandboxWorld } from './world.js'
import { isoWithOffset, parseMinor } from './units.js'

/**
 * Antom-style cross-border payments (digest §5): `/ams/api/v1/payments/{pay,inquiryPayment,refund,
 * inquiryRefund}`. Amounts are `{ currency, value }` in minor units; every answer carries
 * `result{resultCode, resultStatus: S|F|U, resultMessage}`.
 */

export type AntomStatus = 'S' | 'F' | 'U'
export interface AntomResult {
  resultCode: string
  resultStatus: AntomStatus
  resultMessage: string
}
export type AntomBody = { result: AntomResult } & Record<string, unknown>

/** Currencies the sandbox settles (ISO 4217; JPY and KRW have no minor unit). */
export const ANTOM_CURRENCIES: ReadonlySet<string> = new Set(['USD', 'EUR', 'GBP', 'JPY', 'KRW', 'HKD', 'SGD', 'CNY', 'AUD', 'PHP', 'MYR', 'THB'])

const REQ_ID = /^[A-Za-z0-9_\-.:]{1,64}$/
const S = (fields: Record<string, unknown> = {}): AntomBody => ({ result: { resultCode: 'SUCCESS', resultStatus: 'S', resultMessage: 'success.' }, ...fields })
export const F = (resultCode: string, resultMessage: string, fields: Record<string, unknown> = {}): AntomBody => ({
  result: { resultCode, resultStatus: 'F', resultMessage },
  ...fields,
})
export const U = (resultCode: string, resultMessage: string): AntomBody => ({ result: { resultCode, resultStatus: 'U', resultMessage } })

export interface AntomPaymentEvent {
  payment: AntomPayment
}

export class AntomOps {
  constructor(
    private readonly world: SandboxWorld,
    private readonly emit: (e: AntomPaymentEvent) => void,
  ) {}

  execute(api: string, body: Record<string, unknown>, app: SandboxApp): AntomBody | undefined {
    switch (api) {
      case 'payments/pay':
        return this.pay(body, app)
      case 'payments/inquiryPayment':
        return this.inquiryPayment(body, app)
      case 'payments/refund':
        return this.refund(body, app)
      case 'payments/inquiryRefund':
        return this.inquiryRefund(body, app)
      default:
        return undefined
    }
  }

  refOf(body: Record<string, unknown>, app: SandboxApp): string | undefined {
    if (typeof body['paymentRequestId'] === 'string') return body['paymentRequestId']
    if (typeof body['paymentId'] === 'string') {
      const p = this.world.antomPaymentsById.get(body['paymentId'])
      return p && p.clientId === app.clientId ? p.paymentRequestId : undefined
    }
    return undefined
  }

  #paymentFields(p: AntomPayment): Record<string, unknown> {
    return {
      paymentRequestId: p.paymentRequestId,
      paymentId: p.paymentId,
      paymentAmount: { currency: p.currency, value: p.amount.toString() },
      paymentCreateTime: isoWithOffset(p.createdAt),
      ...(p.paidAt ? { paymentTime: isoWithOffset(p.paidAt) } : {}),
      paymentMethodType: p.methodType,
    }
  }

  pay(body: Record<string, unknown>, app: SandboxApp): AntomBody {
    const paymentRequestId = body['paymentRequestId']
    if (typeof paymentRequestId !== 'string' || !REQ_ID.test(paymentRequestId)) return F('PARAM_ILLEGAL', 'paymentRequestId is required (at most 64 characters)')
    const amount = body['paymentAmount'] as { currency?: unknown; value?: unknown } | undefined
    const currency = amount?.currency
    const value = parseMinor(amount?.value)
    if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency) || value === undefined || value <= 0n)
      return F('PARAM_ILLEGAL', 'paymentAmount must be { currency: ISO 4217, value: positive minor units as a string }')
    if (!ANTOM_CURRENCIES.has(currency)) return F('CURRENCY_NOT_SUPPORT', `${currency} is not supported`)
    const method = body['paymentMethod'] as { paymentMethodType?: unknown; paymentMethodId?: unknown; paymentMethodMetaData?: { cardNo?: unknown } } | undefined
    const methodType = method?.paymentMethodType
    if (typeof methodType !== 'string' || methodType === '') return F('PARAM_ILLEGAL', 'paymentMethod.paymentMethodType is required')
    let account = typeof method?.paymentMethodId === 'string' ? this.world.paymentMethods.get(`${methodType}:${method.paymentMethodId}`) : undefined
    if (!account && methodType === 'CARD' && typeof method?.paymentMethodMetaData?.cardNo === 'string') {
      const hash = defaultPanHash(method.paymentMethodMetaData.cardNo)
      account = [...this.world.paymentMethods.values()].find((a) => a.type === 'CARD' && a.panHash === hash)
    }
    const methodId = account?.id ?? (typeof method?.paymentMethodId === 'string' ? method.paymentMethodId : '')
    const fingerprint = `${currency}|${value}|${methodType}|${methodId}`
    const key = `${app.clientId}|${paymentRequestId}`
    const existing = this.world.antomPayments.get(key)
    if (existing) {
      if (existing.fingerprint !== fingerprint) return F('REPEAT_REQ_INCONSISTENT', 'the paymentRequestId was used with other payment details')
      // The same request again: the same answer, nothing moves twice.
      if (existing.status === 'SUCCESS') return S(this.#paymentFields(existing))
      if (existing.status === 'FAIL') return F(existing.resultCode, existing.resultMessage, this.#paymentFields(existing))
      return U('PAYMENT_IN_PROCESS', 'the payment is being processed')
    }
    if (!account) return F('INVALID_PAYMENT_METHOD_META_DATA', 'unknown payment method token or card')
    const now = this.world.now()
    const p: AntomPayment = {
      clientId: app.clientId,
      paymentRequestId,
      paymentId: this.world.nextId('20', 28),
      status: 'FAIL',
      resultCode: '',
      resultMessage: '',
      currency,
      amount: value,
      methodType,
      methodId: account.id,
      fingerprint,
      createdAt: now,
      refunded: 0n,
      notifyUrl: typeof body['paymentNotifyUrl'] === 'string' ? body['paymentNotifyUrl'] : undefined,
    }
    const store = (): void => {
      this.world.antomPayments.set(key, p)
      this.world.antomPaymentsById.set(p.paymentId, p)
    }
    if (account.declineCode) {
      p.resultCode = account.declineCode
      p.resultMessage = 'the payment was declined'
      store()
      this.emit({ payment: p })
      return F(p.resultCode, p.resultMessage, this.#paymentFields(p))
    }
    const into = app.balances
    if (!this.world.move(account.balances, into, currency, value)) {
      p.resultCode = 'USER_BALANCE_NOT_ENOUGH'
      p.resultMessage = 'the balance of the payment method is not enough'
      store()
      this.emit({ payment: p })
      return F(p.resultCode, p.resultMessage, this.#paymentFields(p))
    }
    p.status = 'SUCCESS'
    p.resultCode = 'SUCCESS'
    p.resultMessage = 'success.'
    p.paidAt = now
    store()
    this.world.ledger.append({
      at: now.toISOString(),
      rail: 'antom',
      kind: 'payment',
      merchant: app.clientId,
      ref: paymentRequestId,
      reference: p.paymentId,
      amount: value.toString(),
      currency,
      payer: `${account.type}:${account.id}`,
    })
    this.emit({ payment: p })
    return S(this.#paymentFields(p))
  }

  #findPayment(body: Record<string, unknown>, app: SandboxApp): AntomPayment | undefined {
    if (typeof body['paymentId'] === 'string') {
      const p = this.world.antomPaymentsById.get(body['paymentId'])
      return p && p.clientId === app.clientId ? p : undefined
    }
    if (typeof body['paymentRequestId'] === 'string') return this.world.antomPayments.get(`${app.clientId}|${body['paymentRequestId']}`)
    return undefined
  }

  inquiryPayment(body: Record<string, unknown>, app: SandboxApp): AntomBody {
    if (typeof body['paymentRequestId'] !== 'string' && typeof body['paymentId'] !== 'string') return F('PARAM_ILLEGAL', 'paymentRequestId or paymentId is required')
    const p = this.#findPayment(body, app)
    if (!p) return F('ORDER_NOT_EXIST', 'the payment does not exist')
    return S({
      ...this.#paymentFields(p),
      paymentStatus: p.status,
      paymentResultCode: p.resultCode,
      paymentResultMessage: p.resultMessage,
      ...(p.refunded > 0n ? { refundedAmount: { currency: p.currency, value: p.refunded.toString() } } : {}),
    })
  }

  refund(body: Record<string, unknown>, app: SandboxApp): AntomBody {
    const refundRequestId = body['refundRequestId']
    if (typeof refundRequestId !== 'string' || !REQ_ID.test(refundRequestId)) return F('PARAM_ILLEGAL', 'refundRequestId is required (at most 64 characters)')
    const amount = body['refundAmount'] as { currency?: unknown; value?: unknown } | undefined
    const value = parseMinor(amount?.value)
    if (typeof amount?.currency !== 'string' || value === undefined || value <= 0n) return F('PARAM_ILLEGAL', 'refundAmount must be { currency, value } in minor units')
    const p = this.#findPayment(body, app)
    if (!p) return F('ORDER_NOT_EXIST', 'the payment does not exist')
    if (amount.currency !== p.currency) return F('PARAM_ILLEGAL', 'refundAmount.currency must be the payment currency')
    const key = `${app.clientId}|${refundRequestId}`
    const prev = this.world.antomRefunds.get(key)
    const fields = (r: { refundId: string; at: Date; amount: bigint }): Record<string, unknown> => ({
      refundRequestId,
      refundId: r.refundId,
      paymentId: p.paymentId,
      refundAmount: { currency: p.currency, value: r.amount.toString() },
      refundTime: isoWithOffset(r.at),
    })
    if (prev) {
      if (prev.amount !== value || prev.paymentId !== p.paymentId) return F('REPEAT_REQ_INCONSISTENT', 'the refundRequestId was used with other refund details')
      return S(fields(prev))
    }
    if (p.status !== 'SUCCESS') return F('ORDER_STATUS_INVALID', 'only a successful payment can be refunded')
    if (p.refunded + value > p.amount) return F('REFUND_AMOUNT_EXCEED', 'the refunds would exceed the payment amount')
    const account = this.world.paymentMethods.get(`${p.methodType}:${p.methodId}`)
    if (!account || !this.world.move(app.balances, account.balances, p.currency, value)) return F('MERCHANT_BALANCE_NOT_ENOUGH', 'the merchant balance is not enough')
    const now = this.world.now()
    const r = { refundRequestId, refundId: this.world.nextId('RF', 24), paymentId: p.paymentId, amount: value, currency: p.currency, at: now }
    this.world.antomRefunds.set(key, r)
    p.refunded += value
    this.world.ledger.append({
      at: now.toISOString(),
      rail: 'antom',
      kind: 'refund',
      merchant: app.clientId,
      ref: p.paymentRequestId,
      reference: p.paymentId,
      requestNo: refundRequestId,
      amount: value.toString(),
      currency: p.currency,
      payer: `${p.methodType}:${p.methodId}`,
    })
    return S(fields(r))
  }

  inquiryRefund(body: Record<string, unknown>, app: SandboxApp): AntomBody {
    const refundRequestId = body['refundRequestId']
    if (typeof refundRequestId !== 'string') return F('PARAM_ILLEGAL', 'refundRequestId is required')
    const r = this.world.antomRefunds.get(`${app.clientId}|${refundRequestId}`)
    if (!r) return F('REFUND_NOT_EXIST', 'the refund does not exist')
    return S({
      refundRequestId,
      refundId: r.refundId,
      paymentId: r.paymentId,
      refundAmount: { currency: r.currency, value: r.amount.toString() },
      refundStatus: 'SUCCESS',
      refundTime: isoWithOffset(r.at),
    })
  }

  /** The JSON body of a `notifyPayment` (`notifyType: PAYMENT_RESULT`). */
  notificationBody(p: AntomPayment): Record<string, unknown> {
    return {
      notifyType: 'PAYMENT_RESULT',
      result:
        p.status === 'SUCCESS'
          ? { resultCode: 'SUCCESS', resultStatus: 'S', resultMessage: 'success.' }
          : { resultCode: p.resultCode, resultStatus: 'F', resultMessage: p.resultMessage },
      ...this.#paymentFields(p),
    }
  }
}
