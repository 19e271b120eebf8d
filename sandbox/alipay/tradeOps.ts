import type { SandboxApp, SandboxRefund, SandboxTrade, SandboxWorld, TradeStatus } from './world.js'
import { MAX_FEN, MIN_FEN, beijingTime, formatYuan, parseBeijingTime, parseTimeoutExpress, parseYuan } from './units.js'

/**
 * Alipay Open Platform trade operations, protocol-neutral (v2 `gateway.do` and v3 REST render the
 * same results). Every operation is synchronous on in-memory state, so each call is atomic.
 */

export type BizFields = Record<string, unknown>

/** What a business call answered (digest §1.6). */
export type BizOk = { code: '10000' | '10003'; fields: BizFields }
export type BizError = { code: '20000' | '40001' | '40002' | '40004' | '40006'; subCode: string; subMsg: string; fields?: BizFields | undefined }
export type BizResult = BizOk | BizError

export function isBizOk(r: BizResult): r is BizOk {
  return r.code === '10000' || r.code === '10003'
}

export const CODE_MSG: Record<string, string> = {
  '10000': 'Success',
  '10003': 'order success pay inprocess',
  '20000': 'Service Currently Unavailable',
  '20001': 'Insufficient Token Permissions',
  '40001': 'Missing Required Arguments',
  '40002': 'Invalid Arguments',
  '40004': 'Business Failed',
  '40006': 'Insufficient Permissions',
}

/** A trade status change the sandbox notifies about (digest §2.4). */
export interface TradeEvent {
  trade: SandboxTrade
  /** The refund that caused it (partial-refund notifications keep `TRADE_SUCCESS`). */
  refund?: SandboxRefund | undefined
}

export interface OpContext {
  app: SandboxApp
  /** `notify_url` of the call (a system parameter in v2, a body field in v3). */
  notifyUrl?: string | undefined
}

const OUT_NO = /^[A-Za-z0-9_]{1,64}$/
const fail = (subCode: string, subMsg: string, fields?: BizFields): BizResult => ({ code: '40004', subCode, subMsg, ...(fields ? { fields } : {}) })
const invalid = (msg: string): BizResult => fail('ACQ.INVALID_PARAMETER', msg)
const ok = (fields: BizFields): BizResult => ({ code: '10000', fields })
const VISIBLE: ReadonlySet<TradeStatus> = new Set(['WAIT_BUYER_PAY', 'TRADE_SUCCESS', 'TRADE_FINISHED', 'TRADE_CLOSED'])

/** Masks a logon id the way Alipay shows it (`bu***@example.com`). */
function mask(logonId: string): string {
  const at = logonId.indexOf('@')
  if (at > 2) return `${logonId.slice(0, 2)}***${logonId.slice(at)}`
  return `${logonId.slice(0, 3)}***`
}

export class TradeOps {
  constructor(
    private readonly world: SandboxWorld,
    private readonly emit: (e: TradeEvent) => void,
  ) {}

  /** Run one method; `undefined` when the method is not known. */
  execute(method: string, biz: BizFields, ctx: OpContext): BizResult | undefined {
    switch (method) {
      case 'alipay.trade.pay':
        return this.pay(biz, ctx)
      case 'alipay.trade.query':
        return this.query(biz, ctx)
      case 'alipay.trade.refund':
        return this.refund(biz, ctx)
      case 'alipay.trade.fastpay.refund.query':
        return this.refundQuery(biz, ctx)
      case 'alipay.trade.close':
        return this.close(biz, ctx)
      case 'alipay.trade.cancel':
        return this.cancel(biz, ctx)
      case 'alipay.trade.create':
        return this.create(biz, ctx)
      case 'alipay.trade.precreate':
        return this.precreate(biz, ctx)
      case 'alipay.trade.order.prepay':
        return this.prepay(biz, ctx)
      case 'alipay.trade.agent.delegation.pay':
        return this.delegationPay(biz, ctx)
      case 'alipay.user.agreement.delegation.query':
        return this.delegationQuery(biz)
      default:
        return undefined
    }
  }

  /** The `out_trade_no` a call is about (for the request log), when known. */
  refOf(method: string, biz: BizFields, appId: string): string | undefined {
    if (typeof biz['out_trade_no'] === 'string') return biz['out_trade_no']
    if (typeof biz['trade_no'] === 'string') return this.world.tradesByNo.get(biz['trade_no'])?.outTradeNo
    if (method === 'alipay.trade.agent.delegation.pay' && typeof biz['prepay_id'] === 'string') {
      const t = this.world.prepays.get(biz['prepay_id'])
      return t && t.appId === appId ? t.outTradeNo : undefined
    }
    return undefined
  }

  // --- lifecycle ------------------------------------------------------------------------------

  /** Apply time-based transitions lazily: expiry of unpaid trades, the end of the refund window. */
  touch(t: SandboxTrade): SandboxTrade {
    const now = this.world.now()
    if ((t.status === 'WAIT_BUYER_PAY' || t.status === 'PREPAY') && t.expiresAt && now >= t.expiresAt) {
      t.status = 'TRADE_CLOSED'
      t.closedAt = now
      this.emit({ trade: t })
    } else if (t.status === 'TRADE_SUCCESS' && this.world.options.finishAfterMs !== undefined && t.paidAt && now.getTime() - t.paidAt.getTime() >= this.world.options.finishAfterMs) {
      this.finish(t)
    }
    return t
  }

  /** `TRADE_SUCCESS → TRADE_FINISHED` (the refund window is over). */
  finish(t: SandboxTrade): boolean {
    if (t.status !== 'TRADE_SUCCESS') return false
    t.status = 'TRADE_FINISHED'
    this.emit({ trade: t })
    return true
  }

  /** Close every unpaid trade whose time is up (called periodically). */
  sweep(): void {
    for (const t of this.world.trades.values()) if (t.status === 'WAIT_BUYER_PAY' || t.status === 'PREPAY' || t.status === 'TRADE_SUCCESS') this.touch(t)
  }

  #find(appId: string, biz: BizFields): SandboxTrade | undefined {
    const tradeNo = biz['trade_no']
    // trade_no wins over out_trade_no when both are given (digest §2.1).
    const t =
      typeof tradeNo === 'string' && tradeNo !== ''
        ? this.world.tradesByNo.get(tradeNo)
        : typeof biz['out_trade_no'] === 'string'
          ? this.world.trades.get(this.world.tradeKey(appId, biz['out_trade_no']))
          : undefined
    if (!t || t.appId !== appId) return undefined
    return this.touch(t)
  }

  #tradeFields(t: SandboxTrade): BizFields {
    const buyer = t.buyerId ? this.world.buyers.get(t.buyerId) : undefined
    const paid = t.paidAt !== undefined
    return {
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      ...(buyer ? { buyer_logon_id: mask(buyer.logonId), buyer_user_id: buyer.userId } : {}),
      total_amount: formatYuan(t.total),
      ...(paid
        ? {
            receipt_amount: formatYuan(t.total),
            buyer_pay_amount: formatYuan(t.total),
            invoice_amount: formatYuan(t.total),
            point_amount: '0.00',
            gmt_payment: beijingTime(t.paidAt!),
            fund_bill_list: [{ fund_channel: 'ALIPAYACCOUNT', amount: formatYuan(t.total) }],
          }
        : {}),
    }
  }

  /** Common checks of a trade-creating call; returns the parsed amount or an error. */
  #parseNew(biz: BizFields): { outTradeNo: string; total: bigint; subject: string } | BizResult {
    const outTradeNo = biz['out_trade_no']
    if (typeof outTradeNo !== 'string' || !OUT_NO.test(outTradeNo)) return invalid('out_trade_no is required: up to 64 letters, digits and underscores')
    const total = parseYuan(biz['total_amount'])
    if (total === undefined) return invalid('total_amount must be a yuan amount with at most two decimals')
    if (total < MIN_FEN || total > MAX_FEN) return invalid('total_amount must be within [0.01, 100000000]')
    const subject = biz['subject']
    if (typeof subject !== 'string' || subject === '' || subject.length > 256) return invalid('subject is required (at most 256 characters)')
    return { outTradeNo, total, subject }
  }

  /**
   * `out_trade_no` idempotency (digest §2.3): other amount/subject → CONTEXT_INCONSISTENT; paid →
   * TRADE_HAS_SUCCESS; closed → TRADE_HAS_CLOSE; otherwise the existing trade is returned.
   */
  #existing(appId: string, n: { outTradeNo: string; total: bigint; subject: string }): SandboxTrade | BizResult | undefined {
    const t = this.world.trades.get(this.world.tradeKey(appId, n.outTradeNo))
    if (!t) return undefined
    this.touch(t)
    if (t.total !== n.total || t.subject !== n.subject) return fail('ACQ.CONTEXT_INCONSISTENT', 'the out_trade_no was used with other trade details')
    if (t.status === 'TRADE_SUCCESS' || t.status === 'TRADE_FINISHED') return fail('ACQ.TRADE_HAS_SUCCESS', 'the trade has already been paid')
    if (t.status === 'TRADE_CLOSED') return fail('ACQ.TRADE_HAS_CLOSE', 'the trade is closed; use a new out_trade_no')
    return t
  }

  #newTrade(app: SandboxApp, n: { outTradeNo: string; total: bigint; subject: string }, biz: BizFields, ctx: OpContext, status: TradeStatus): SandboxTrade {
    const now = this.world.now()
    const t: SandboxTrade = {
      appId: app.appId,
      outTradeNo: n.outTradeNo,
      tradeNo: this.world.nextTradeNo(),
      status,
      total: n.total,
      subject: n.subject,
      productCode: typeof biz['product_code'] === 'string' ? biz['product_code'] : undefined,
      createdAt: now,
      refunded: 0n,
      refunds: new Map(),
      notifyUrl: ctx.notifyUrl,
      passbackParams: typeof biz['passback_params'] === 'string' ? biz['passback_params'] : undefined,
      expiresAt: parseTimeoutExpress(biz['timeout_express'], now) ?? (typeof biz['time_expire'] === 'string' ? parseBeijingTime(biz['time_expire']) : undefined),
    }
    return t
  }

  /** Move the money of a trade from its buyer to the merchant; false when the buyer cannot pay. */
  #collect(t: SandboxTrade, app: SandboxApp, buyerId: string): boolean {
    const buyer = this.world.buyers.get(buyerId)
    if (!buyer || !this.world.move(buyer.balances, app.balances, 'CNY', t.total)) return false
    const now = this.world.now()
    t.buyerId = buyerId
    t.status = 'TRADE_SUCCESS'
    t.paidAt = now
    this.world.putTrade(t)
    this.world.ledger.append({
      at: now.toISOString(),
      rail: 'alipay',
      kind: 'payment',
      merchant: app.appId,
      ref: t.outTradeNo,
      reference: t.tradeNo,
      amount: t.total.toString(),
      currency: 'CNY',
      payer: buyerId,
    })
    this.emit({ trade: t })
    return true
  }

  // --- alipay.trade.pay -------------------------------------------------------------------------

  /** Server-side charge: agreement (withholding) or barcode (digest §2.1). */
  pay(biz: BizFields, ctx: OpContext): BizResult {
    const n = this.#parseNew(biz)
    if ('code' in n) return n
    const agreementNo = (biz['agreement_params'] as { agreement_no?: unknown } | undefined)?.agreement_no
    const authCode = biz['auth_code']
    const existing = this.#existing(ctx.app.appId, n)
    if (existing && 'code' in existing) return existing
    if (existing) {
      if (existing.status === 'WAIT_BUYER_PAY') return { code: '10003', fields: this.#tradeFields(existing) }
      return fail('ACQ.TRADE_STATUS_ERROR', `the out_trade_no belongs to a ${existing.status === 'PREPAY' ? 'delegation pre-order' : 'pre-created QR trade'}`)
    }
    if (typeof agreementNo === 'string' && agreementNo !== '') {
      const ag = this.world.agreements.get(agreementNo)
      if (!ag) return fail('ACQ.AGREEMENT_NOT_EXIST', 'no such agreement')
      if (ag.status !== 'NORMAL') return fail('ACQ.AGREEMENT_STATUS_NOT_NORMAL', 'the agreement is not in force')
      const t = this.#newTrade(ctx.app, n, biz, ctx, 'WAIT_BUYER_PAY')
      t.agreementNo = agreementNo
      t.productCode ??= 'GENERAL_WITHHOLDING'
      if (!this.#collect(t, ctx.app, ag.buyerId)) return fail('ACQ.BUYER_BALANCE_NOT_ENOUGH', 'the buyer balance is not enough')
      return ok(this.#tradeFields(t))
    }
    if (typeof authCode === 'string' && authCode !== '') {
      const code = this.world.authCodes.get(authCode)
      if (!code) return fail('ACQ.PAYMENT_AUTH_CODE_INVALID', 'the payment code is invalid or expired')
      this.world.authCodes.delete(authCode)
      const t = this.#newTrade(ctx.app, n, biz, ctx, 'WAIT_BUYER_PAY')
      t.productCode ??= 'FACE_TO_FACE_PAYMENT'
      if (code.requiresConfirmation) {
        t.buyerId = code.buyerId
        t.expiresAt ??= new Date(this.world.now().getTime() + 15 * 60_000)
        this.world.putTrade(t)
        return { code: '10003', fields: this.#tradeFields(t) }
      }
      if (!this.#collect(t, ctx.app, code.buyerId)) return fail('ACQ.BUYER_BALANCE_NOT_ENOUGH', 'the buyer balance is not enough')
      return ok(this.#tradeFields(t))
    }
    return invalid('alipay.trade.pay needs agreement_params.agreement_no (withholding) or auth_code (barcode)')
  }

  // --- create / precreate / buyer step --------------------------------------------------------------

  create(biz: BizFields, ctx: OpContext): BizResult {
    const n = this.#parseNew(biz)
    if ('code' in n) return n
    const buyerId = biz['buyer_id'] ?? biz['buyer_open_id']
    if (typeof buyerId !== 'string' || !this.world.buyers.has(buyerId)) return invalid('buyer_id must name a known buyer')
    const existing = this.#existing(ctx.app.appId, n)
    if (existing && 'code' in existing) return existing
    if (existing) return ok({ trade_no: existing.tradeNo, out_trade_no: existing.outTradeNo })
    const t = this.#newTrade(ctx.app, n, biz, ctx, 'WAIT_BUYER_PAY')
    t.buyerId = buyerId
    this.world.putTrade(t)
    return ok({ trade_no: t.tradeNo, out_trade_no: t.outTradeNo })
  }

  precreate(biz: BizFields, ctx: OpContext): BizResult {
    const n = this.#parseNew(biz)
    if ('code' in n) return n
    const existing = this.#existing(ctx.app.appId, n)
    if (existing && 'code' in existing) return existing
    if (existing) return ok({ out_trade_no: existing.outTradeNo, qr_code: existing.qrCode })
    const t = this.#newTrade(ctx.app, n, biz, ctx, 'PRECREATE')
    t.qrCode = `https://qr.alipay.com/bax0${t.tradeNo.slice(-12)}`
    this.world.putTrade(t)
    return ok({ out_trade_no: t.outTradeNo, qr_code: t.qrCode })
  }

  /** The buyer's step (admin API): scan a pre-created QR and/or pay a waiting trade. */
  buyerPays(appId: string, outTradeNo: string, buyerId?: string): BizResult {
    const t = this.world.trades.get(this.world.tradeKey(appId, outTradeNo))
    if (!t) return fail('ACQ.TRADE_NOT_EXIST', 'no such trade')
    this.touch(t)
    if (t.status !== 'PRECREATE' && t.status !== 'WAIT_BUYER_PAY') return fail('ACQ.TRADE_STATUS_ERROR', `the trade is ${t.status}`)
    const payer = buyerId ?? t.buyerId
    if (!payer || !this.world.buyers.has(payer)) return invalid('a known buyer_id is needed')
    const app = this.world.apps.get(appId)!
    if (!this.#collect(t, app, payer)) return fail('ACQ.BUYER_BALANCE_NOT_ENOUGH', 'the buyer balance is not enough')
    return ok(this.#tradeFields(t))
  }

  // --- query / close / cancel -----------------------------------------------------------------

  query(biz: BizFields, ctx: OpContext): BizResult {
    if (typeof biz['out_trade_no'] !== 'string' && typeof biz['trade_no'] !== 'string') return invalid('out_trade_no or trade_no is required')
    const t = this.#find(ctx.app.appId, biz)
    if (!t || !VISIBLE.has(t.status)) return fail('ACQ.TRADE_NOT_EXIST', 'the trade does not exist')
    return ok({
      ...this.#tradeFields(t),
      trade_status: t.status,
      ...(t.paidAt ? { send_pay_date: beijingTime(t.paidAt) } : {}),
      ...(t.refunded > 0n ? { refund_fee: formatYuan(t.refunded) } : {}),
    })
  }

  close(biz: BizFields, ctx: OpContext): BizResult {
    if (typeof biz['out_trade_no'] !== 'string' && typeof biz['trade_no'] !== 'string') return invalid('out_trade_no or trade_no is required')
    const t = this.#find(ctx.app.appId, biz)
    if (!t) return fail('ACQ.TRADE_NOT_EXIST', 'the trade does not exist')
    if (t.status === 'TRADE_CLOSED' && !t.paidAt) return ok({ trade_no: t.tradeNo, out_trade_no: t.outTradeNo })
    if (t.status !== 'WAIT_BUYER_PAY' && t.status !== 'PREPAY' && t.status !== 'PRECREATE') return fail('ACQ.TRADE_STATUS_ERROR', `a ${t.status} trade cannot be closed`)
    const wasVisible = VISIBLE.has(t.status)
    t.status = 'TRADE_CLOSED'
    t.closedAt = this.world.now()
    if (wasVisible) this.emit({ trade: t })
    return ok({ trade_no: t.tradeNo, out_trade_no: t.outTradeNo })
  }

  cancel(biz: BizFields, ctx: OpContext): BizResult {
    if (typeof biz['out_trade_no'] !== 'string' && typeof biz['trade_no'] !== 'string') return invalid('out_trade_no or trade_no is required')
    const t = this.#find(ctx.app.appId, biz)
    if (!t) return fail('ACQ.TRADE_NOT_EXIST', 'the trade does not exist')
    const base = { trade_no: t.tradeNo, out_trade_no: t.outTradeNo, retry_flag: 'N' }
    if (t.status === 'TRADE_FINISHED') return fail('ACQ.TRADE_HAS_FINISHED', 'the trade is finished')
    if (t.status === 'TRADE_CLOSED') return ok({ ...base, action: t.paidAt ? 'refund' : 'close' })
    if (t.status === 'TRADE_SUCCESS') {
      const left = t.total - t.refunded
      const r = this.#applyRefund(t, ctx.app, `cancel_${t.tradeNo}`, left, 'cancel')
      if (r) return r
      return ok({ ...base, action: 'refund' })
    }
    t.status = 'TRADE_CLOSED'
    t.closedAt = this.world.now()
    this.emit({ trade: t })
    return ok({ ...base, action: 'close' })
  }

  // --- refunds --------------------------------------------------------------------------------

  /** Moves a refund; returns an error result or `undefined` when it moved. */
  #applyRefund(t: SandboxTrade, app: SandboxApp, outRequestNo: string, amount: bigint, reason?: string): BizResult | undefined {
    const buyer = this.world.buyers.get(t.buyerId!)
    if (!buyer) return fail('ACQ.SYSTEM_ERROR', 'buyer vanished')
    if (!this.world.move(app.balances, buyer.balances, 'CNY', amount)) return fail('ACQ.SELLER_BALANCE_NOT_ENOUGH', 'the merchant balance is not enough')
    const now = this.world.now()
    const refund: SandboxRefund = { outRequestNo, amount, at: now, reason }
    t.refunds.set(outRequestNo, refund)
    t.refunded += amount
    if (t.refunded === t.total) {
      t.status = 'TRADE_CLOSED'
      t.closedAt = now
    }
    this.world.ledger.append({
      at: now.toISOString(),
      rail: 'alipay',
      kind: 'refund',
      merchant: app.appId,
      ref: t.outTradeNo,
      reference: t.tradeNo,
      requestNo: outRequestNo,
      amount: amount.toString(),
      currency: 'CNY',
      payer: t.buyerId!,
    })
    this.emit({ trade: t, refund })
    return undefined
  }

  refund(biz: BizFields, ctx: OpContext): BizResult {
    if (typeof biz['out_trade_no'] !== 'string' && typeof biz['trade_no'] !== 'string') return invalid('out_trade_no or trade_no is required')
    const amount = parseYuan(biz['refund_amount'])
    if (amount === undefined || amount < MIN_FEN) return invalid('refund_amount must be a positive yuan amount with at most two decimals')
    const t = this.#find(ctx.app.appId, biz)
    if (!t || !VISIBLE.has(t.status)) return fail('ACQ.TRADE_NOT_EXIST', 'the trade does not exist')
    const given = biz['out_request_no']
    if (given !== undefined && (typeof given !== 'string' || !OUT_NO.test(given))) return invalid('out_request_no: up to 64 letters, digits and underscores')
    // Without out_request_no the trade number is the request id: only a single full refund is safe.
    const outRequestNo = typeof given === 'string' ? given : t.outTradeNo
    const replay = t.refunds.get(outRequestNo)
    const fields = (fundChange: 'Y' | 'N'): BizFields => ({
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      ...(t.buyerId ? { buyer_logon_id: mask(this.world.buyers.get(t.buyerId)?.logonId ?? ''), buyer_user_id: t.buyerId } : {}),
      fund_change: fundChange,
      refund_fee: formatYuan(t.refunded),
      gmt_refund_pay: beijingTime(t.refunds.get(outRequestNo)?.at ?? this.world.now()),
      out_request_no: outRequestNo,
    })
    if (replay) {
      if (replay.amount !== amount) return fail('ACQ.CONTEXT_INCONSISTENT', 'the out_request_no was used with another refund_amount')
      // A replay returns the earlier result without moving money again.
      return ok(fields('N'))
    }
    if (!t.paidAt || t.status === 'WAIT_BUYER_PAY') return fail('ACQ.TRADE_STATUS_ERROR', 'the trade has not been paid')
    if (t.status === 'TRADE_FINISHED') return fail('ACQ.TRADE_HAS_FINISHED', 'the trade is finished; refunds are no longer possible')
    if (t.status === 'TRADE_CLOSED') return fail('ACQ.TRADE_HAS_CLOSE', 'the trade is closed (fully refunded)')
    if (t.refunded + amount > t.total) return fail('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', 'the refunds would exceed the trade amount')
    const err = this.#applyRefund(t, ctx.app, outRequestNo, amount, typeof biz['refund_reason'] === 'string' ? biz['refund_reason'] : undefined)
    if (err) return err
    return ok(fields('Y'))
  }

  refundQuery(biz: BizFields, ctx: OpContext): BizResult {
    const outRequestNo = biz['out_request_no']
    if (typeof outRequestNo !== 'string' || outRequestNo === '') return invalid('out_request_no is required')
    if (typeof biz['out_trade_no'] !== 'string' && typeof biz['trade_no'] !== 'string') return invalid('out_trade_no or trade_no is required')
    const t = this.#find(ctx.app.appId, biz)
    if (!t || !VISIBLE.has(t.status)) return fail('ACQ.TRADE_NOT_EXIST', 'the trade does not exist')
    const r = t.refunds.get(outRequestNo)
    // No refund_status means "not succeeded" (digest §2.1): the call itself still succeeds.
    if (!r) return ok({ trade_no: t.tradeNo, out_trade_no: t.outTradeNo, out_request_no: outRequestNo, total_amount: formatYuan(t.total) })
    return ok({
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      out_request_no: outRequestNo,
      total_amount: formatYuan(t.total),
      refund_amount: formatYuan(r.amount),
      refund_status: 'REFUND_SUCCESS',
      gmt_refund_pay: beijingTime(r.at),
    })
  }

  // --- delegation pay (digest §4.4) -------------------------------------------------------------

  prepay(biz: BizFields, ctx: OpContext): BizResult {
    const n = this.#parseNew(biz)
    if ('code' in n) return n
    const existing = this.#existing(ctx.app.appId, n)
    if (existing && 'code' in existing) return existing
    if (existing) {
      if (existing.status !== 'PREPAY') return fail('ACQ.TRADE_STATUS_ERROR', 'the out_trade_no belongs to another kind of trade')
      return ok({ out_trade_no: existing.outTradeNo, prepay_id: existing.prepayId })
    }
    const t = this.#newTrade(ctx.app, n, biz, ctx, 'PREPAY')
    t.prepayId = this.world.nextId('PP', 24)
    t.productCode ??= 'AGENT_DELEGATION_PAY'
    t.expiresAt = new Date(this.world.now().getTime() + (this.world.options.prepayTtlMs ?? 2 * 3_600_000))
    this.world.putTrade(t)
    return ok({ out_trade_no: t.outTradeNo, prepay_id: t.prepayId })
  }

  delegationPay(biz: BizFields, ctx: OpContext): BizResult {
    const prepayId = biz['prepay_id']
    const agreementNo = biz['agreement_no']
    const delegationId = biz['delegation_id']
    if (typeof prepayId !== 'string' || typeof agreementNo !== 'string' || typeof delegationId !== 'string') return invalid('prepay_id, agreement_no and delegation_id are required')
    const t = this.world.prepays.get(prepayId)
    if (!t || t.appId !== ctx.app.appId) return fail('ACQ.TRADE_NOT_EXIST', 'no such prepay order')
    this.touch(t)
    if (t.status === 'TRADE_SUCCESS' || t.status === 'TRADE_FINISHED') return fail('ACQ.TRADE_HAS_SUCCESS', 'the order has already been paid')
    if (t.status === 'TRADE_CLOSED') return fail('ACQ.TRADE_HAS_CLOSE', 'the order is closed or its prepay expired')
    const ag = this.world.agreements.get(agreementNo)
    if (!ag) return fail('ACQ.AGREEMENT_NOT_EXIST', 'no such agreement')
    if (ag.status !== 'NORMAL') return fail('ACQ.AGREEMENT_STATUS_NOT_NORMAL', 'the agreement is not in force')
    const del = this.world.delegations.get(delegationId)
    if (!del || del.agreementNo !== agreementNo) return fail('ACQ.AGREEMENT_INVALID', 'no such delegation under this agreement')
    const now = this.world.now()
    if (del.status !== 'VALID' || now < del.validFrom || now > del.validTo) return fail('ACQ.AGREEMENT_INVALID', 'the delegation is not valid now')
    if ((del.maxSingle !== undefined && t.total > del.maxSingle) || del.used + t.total > del.maxTotal)
      return fail('ACQ.BEYOND_PAY_RESTRICTION', 'the payment exceeds the limits of the delegation')
    t.agreementNo = agreementNo
    t.delegationId = delegationId
    if (!this.#collect(t, ctx.app, ag.buyerId)) return fail('ACQ.BUYER_BALANCE_NOT_ENOUGH', 'the buyer balance is not enough')
    del.used += t.total
    return ok({ ...this.#tradeFields(t), prepay_id: prepayId })
  }

  delegationQuery(biz: BizFields): BizResult {
    const id = biz['delegation_id']
    const del = typeof id === 'string' ? this.world.delegations.get(id) : undefined
    if (!del) return fail('ACQ.AGREEMENT_INVALID', 'no such delegation')
    return ok({
      delegation_id: del.delegationId,
      agreement_no: del.agreementNo,
      status: del.status,
      max_total_amount: formatYuan(del.maxTotal),
      ...(del.maxSingle !== undefined ? { max_single_amount: formatYuan(del.maxSingle) } : {}),
      used_amount: formatYuan(del.used),
      valid_from: beijingTime(del.validFrom),
      valid_to: beijingTime(del.validTo),
    })
  }

  /** The form fields of a `trade_status_sync` notification (digest §2.4), before signing. */
  notificationFields(e: TradeEvent, app: SandboxApp, notifyId: string): Record<string, string> {
    const t = e.trade
    const buyer = t.buyerId ? this.world.buyers.get(t.buyerId) : undefined
    const f: Record<string, string> = {
      notify_time: beijingTime(this.world.now()),
      notify_type: 'trade_status_sync',
      notify_id: notifyId,
      app_id: app.appId,
      auth_app_id: app.appId,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      trade_no: t.tradeNo,
      out_trade_no: t.outTradeNo,
      seller_id: app.sellerId,
      trade_status: t.status,
      total_amount: formatYuan(t.total),
      subject: t.subject,
      gmt_create: beijingTime(t.createdAt),
    }
    if (buyer) {
      f['buyer_id'] = buyer.userId
      f['buyer_logon_id'] = mask(buyer.logonId)
    }
    if (t.paidAt) {
      f['receipt_amount'] = formatYuan(t.total)
      f['buyer_pay_amount'] = formatYuan(t.total)
      f['invoice_amount'] = formatYuan(t.total)
      f['point_amount'] = '0.00'
      f['gmt_payment'] = beijingTime(t.paidAt)
      f['fund_bill_list'] = JSON.stringify([{ amount: formatYuan(t.total), fundChannel: 'ALIPAYACCOUNT' }])
    }
    if (t.closedAt) f['gmt_close'] = beijingTime(t.closedAt)
    if (e.refund) {
      f['out_biz_no'] = e.refund.outRequestNo
      f['refund_fee'] = formatYuan(t.refunded)
      f['gmt_refund'] = beijingTime(e.refund.at)
    }
    if (t.passbackParams) f['passback_params'] = t.passbackParams
    return f
  }
}
