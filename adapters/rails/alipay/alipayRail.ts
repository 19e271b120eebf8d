import type { Logger } from 'pino'
import type { Dispatcher } from 'undici'
import { isGatewayError } from '../../../core/errors/gatewayError.js'
import type { Money, PaymentIntent } from '../../../core/intent/types.js'
import { createAssetRegistry, type AssetRegistry } from '../../../core/money/assets.js'
import { toAlipayYuan } from '../../../core/money/railFormats.js'
import { settlementKey } from '../../../core/pipeline/settleIntent.js'
import type { RailAdapter, RailOutcome, RailQueryParams, RailRefundOutcome, RailRefundParams, RailRefundQueryOutcome, RailRefundQueryParams, RailSettleParams } from '../../../core/rails/port.js'
import { classifyTransportCode, shouldFailover, shouldRetry, type AttemptResult } from '../../../core/routing/rules.js'
import type { BreakerRegistry } from '../shared/breakers.js'
import type { AlipayRailOptions } from './config.js'
import { loadPrivateKey, loadPublicKey } from './keys.js'
import { AlipayOpenApiClient, isAlipayOk, type AlipayCallResult } from './openApiClient.js'
import { checkPrefix, outTradeNoFor, requestNoFor } from './refs.js'
import { beijingToIso } from './signing.js'
import { EndpointSet, RailCallError, RailUnavailableError, createRailDispatcher } from './transport.js'

/**
 * The secret credential of an `alipay.agreement` intent (never stored in the intent): which
 * withholding agreement pays, and for delegation pay which delegation (digest §2.1, §4.4).
 */
export interface AlipayAgreementCredential {
  /** `agreement`: `alipay.trade.pay` with `agreement_params` (default). `delegation`: prepay + `alipay.trade.agent.delegation.pay`. */
  mode?: 'agreement' | 'delegation' | undefined
  /** Defaults to `intent.instrument.ref`. */
  agreementNo?: string | undefined
  delegationId?: string | undefined
}

/** What `createGateway` hands a rail factory. */
export interface RailFactoryContext {
  breakers: BreakerRegistry
  logger: Logger
}

/** Test and benchmark hooks (never needed in production). */
export interface RailExtras {
  dispatcher?: Dispatcher | undefined
  clock?: (() => Date) | undefined
  assets?: AssetRegistry | undefined
}

/** The Alipay rail: a {@link RailAdapter} plus the trade operations a gateway may call directly. */
export interface AlipayRail extends RailAdapter<AlipayAgreementCredential | undefined> {
  readonly client: AlipayOpenApiClient
  readonly options: Readonly<AlipayRailOptions>
  /** The `out_trade_no` of an intent's settlement (from its idempotency key). */
  outTradeNoOf(intent: PaymentIntent): string
  /** `alipay.trade.close` of an intent's unpaid trade. */
  closeTrade(intent: PaymentIntent, signal?: AbortSignal): Promise<AlipayCallResult>
  /** What happened to a refund (`alipay.trade.fastpay.refund.query`). */
  refundStatus(params: { intent: PaymentIntent; refundKey: string; signal?: AbortSignal | undefined }): Promise<RailRefundOutcome>
  /** Close the connection pool. */
  shutdown(): Promise<void>
}

const PAID = new Set(['TRADE_SUCCESS', 'TRADE_FINISHED'])
/** Answers meaning "this out_trade_no already exists": only a query can say what happened to it. */
const TRADE_EXISTS = new Set(['ACQ.TRADE_HAS_SUCCESS', 'ACQ.CONTEXT_INCONSISTENT', 'ACQ.TRADE_HAS_CLOSE', 'ACQ.TRADE_STATUS_ERROR'])

/**
 * The final outcome of a settle loop whose last attempt failed. Once an earlier attempt may have
 * been sent (`sent`), a not-sent transport code of a later re-send (ECONNREFUSED, open breakers)
 * must not become the result: `settleIntent` would fail over to another rail (another account, no
 * shared key) while the first send could still complete late — a double charge. It is reported as
 * `resend_not_sent_after_unknown` (unknown: the intent stays `processing` for reconciliation).
 *
 * @example unsentAfterUnknown({ status: 'unknown', code: 'ECONNREFUSED' }, true) // { status: 'unknown', code: 'resend_not_sent_after_unknown' }
 */
export function unsentAfterUnknown(last: Extract<RailOutcome, { status: 'unknown' }>, sent: boolean): Extract<RailOutcome, { status: 'unknown' }> {
  if (!sent || classifyTransportCode(last.code).kind !== 'not_sent') return last
  return { ...last, code: RESEND_NOT_SENT_AFTER_UNKNOWN }
}

/** The outcome code of a re-send that reached nothing after an earlier send whose outcome was unknown. */
export const RESEND_NOT_SENT_AFTER_UNKNOWN = 'resend_not_sent_after_unknown'

/**
 * A rail factory for `createGateway({ rails: [createAlipayRail(options)] })`: one breaker per
 * configured endpoint (named by `endpoints[].name`) in the gateway's registry.
 *
 * @example
 * createGateway(config, { rails: [createAlipayRail({ appId, privateKey, alipayPublicKey, endpoints: [{ name: 'primary', url: 'https://openapi.alipay.com' }, { name: 'secondary', url: '…' }] })] })
 */
export function createAlipayRail(options: AlipayRailOptions, extras: RailExtras = {}): (ctx: RailFactoryContext) => AlipayRail {
  // Parse keys now: a bad key fails at start-up, not at the first payment.
  loadPrivateKey(options.privateKey, options.privateKeyFormat, 'rails.alipay.privateKey')
  loadPublicKey(options.alipayPublicKey, 'rails.alipay.alipayPublicKey')
  return (ctx) => buildAlipayRail(options, ctx, extras)
}

/**
 * The Alipay Open Platform rail for instrument `alipay.agreement`. Result classes (issue 5):
 * `10000` = done; a signed `40004` = definitive decline, never a breaker failure; `20000` / 5xx /
 * timeout / tampered answer = unknown → `alipay.trade.query` before any re-send, and a re-send
 * only reuses the same `out_trade_no` after the query proved the trade does not exist.
 */
export function buildAlipayRail(options: AlipayRailOptions, ctx: RailFactoryContext, extras: RailExtras = {}): AlipayRail {
  const railId = options.rail ?? 'alipay'
  const prefix = checkPrefix(options.outTradeNoPrefix ?? '')
  const assets = extras.assets ?? createAssetRegistry()
  const clock = extras.clock ?? (() => new Date())
  const ownsDispatcher = !extras.dispatcher
  let closed = false
  const dispatcher = extras.dispatcher ?? createRailDispatcher()
  const endpoints = new EndpointSet(railId, options.endpoints, ctx.breakers, options.breaker)
  const client = new AlipayOpenApiClient({
    appId: options.appId,
    privateKey: loadPrivateKey(options.privateKey, options.privateKeyFormat, `rails.${railId}.privateKey`),
    alipayPublicKey: loadPublicKey(options.alipayPublicKey, `rails.${railId}.alipayPublicKey`),
    endpoints,
    dispatcher,
    protocol: options.protocol,
    timeoutMs: options.timeoutMs,
    appAuthToken: options.appAuthToken,
    clock,
  })
  const maxPayAttempts = Math.max(1, options.maxPayAttempts ?? 2)
  const log = ctx.logger.child({ rail: railId })

  const yuan = (amount: Money): { ok: true; yuan: string } | { ok: false; code: string; message: string } => {
    try {
      return { ok: true, yuan: toAlipayYuan(amount, assets) }
    } catch (e) {
      if (isGatewayError(e)) return { ok: false, code: e.code === 'GW_AMOUNT_INVALID' ? 'amount_not_supported' : 'asset_unknown', message: e.message }
      throw e
    }
  }
  const subjectOf = (intent: PaymentIntent): string => (intent.line_items?.[0]?.title ?? options.subject ?? 'agentswitch payment').slice(0, 256)
  const unknownFrom = (err: RailCallError | RailUnavailableError): Extract<RailOutcome, { status: 'unknown' }> =>
    err instanceof RailCallError ? { status: 'unknown', code: err.code, endpoint: err.endpoint } : { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }

  /** Map `alipay.trade.query` to an outcome; `expectYuan` guards against reporting a wrong amount as paid. */
  const queryOutcome = async (outTradeNo: string, expectYuan: string | undefined, avoid?: string, signal?: AbortSignal): Promise<RailOutcome> => {
    let r: AlipayCallResult
    try {
      r = await client.query({ outTradeNo, avoid, signal })
    } catch (err) {
      if (err instanceof RailCallError || err instanceof RailUnavailableError) return unknownFrom(err)
      throw err
    }
    if (!isAlipayOk(r)) {
      if (r.subCode === 'ACQ.TRADE_NOT_EXIST') return { status: 'not_found', endpoint: r.endpoint }
      // A failed query is not a decline of the payment.
      return { status: 'unknown', code: r.subCode || r.code, endpoint: r.endpoint }
    }
    const b = r.body
    const tradeNo = typeof b['trade_no'] === 'string' ? b['trade_no'] : undefined
    const status = b['trade_status']
    const paid = PAID.has(String(status)) || (status === 'TRADE_CLOSED' && typeof b['send_pay_date'] === 'string')
    if (paid && tradeNo) {
      if (expectYuan !== undefined && b['total_amount'] !== expectYuan) {
        log.error({ outTradeNo, tradeNo, endpoint: r.endpoint }, 'alipay trade amount differs from the intent: left for manual reconciliation')
        return { status: 'unknown', code: 'amount_mismatch', reference: tradeNo, endpoint: r.endpoint }
      }
      return {
        status: 'succeeded',
        reference: tradeNo,
        settledAt: beijingToIso(b['send_pay_date']) ?? beijingToIso(b['gmt_payment']) ?? clock().toISOString(),
        endpoint: r.endpoint,
        ...(typeof b['buyer_user_id'] === 'string' ? { payer: b['buyer_user_id'] } : {}),
      }
    }
    if (status === 'TRADE_CLOSED') return { status: 'declined', code: 'TRADE_CLOSED', message: 'the trade was closed unpaid', endpoint: r.endpoint }
    return { status: 'unknown', code: String(status ?? 'no_trade_status'), ...(tradeNo ? { reference: tradeNo } : {}), endpoint: r.endpoint }
  }

  /** Map a pay answer (agreement or delegation) to an outcome. */
  const payOutcome = async (r: AlipayCallResult, outTradeNo: string, expectYuan: string, signal?: AbortSignal): Promise<RailOutcome> => {
    if (isAlipayOk(r)) {
      const b = r.body
      const tradeNo = typeof b['trade_no'] === 'string' ? b['trade_no'] : undefined
      if (r.code === '10003' || !tradeNo) return { status: 'unknown', code: r.code === '10003' ? 'WAIT_BUYER_PAY' : 'no_trade_no', ...(tradeNo ? { reference: tradeNo } : {}), endpoint: r.endpoint }
      if (b['total_amount'] !== undefined && b['total_amount'] !== expectYuan) return queryOutcome(outTradeNo, expectYuan, undefined, signal)
      return {
        status: 'succeeded',
        reference: tradeNo,
        settledAt: beijingToIso(b['gmt_payment']) ?? clock().toISOString(),
        endpoint: r.endpoint,
        ...(typeof b['buyer_user_id'] === 'string' ? { payer: b['buyer_user_id'] } : {}),
      }
    }
    // The out_trade_no exists already (an earlier attempt that did go through, or a closed one):
    // only the trade itself can say what happened.
    if (TRADE_EXISTS.has(r.subCode)) {
      const q = await queryOutcome(outTradeNo, expectYuan, undefined, signal)
      return q.status === 'not_found' ? { status: 'unknown', code: r.subCode, endpoint: r.endpoint } : q
    }
    return { status: 'declined', code: r.subCode || r.code, message: r.subMsg.slice(0, 200), endpoint: r.endpoint }
  }

  const sendOnce = async (
    p: { outTradeNo: string; yuan: string; subject: string; agreementNo: string; delegationId?: string | undefined; passback: string },
    avoid: string | undefined,
    signal: AbortSignal | undefined,
    only?: readonly string[] | undefined,
  ): Promise<AlipayCallResult> => {
    if (!p.delegationId) {
      return client.pay({ outTradeNo: p.outTradeNo, totalAmount: p.yuan, subject: p.subject, agreementNo: p.agreementNo, productCode: options.productCode, passbackParams: p.passback, notifyUrl: options.notifyUrl, avoid, only, signal })
    }
    const pre = await client.prepay({ outTradeNo: p.outTradeNo, totalAmount: p.yuan, subject: p.subject, passbackParams: p.passback, notifyUrl: options.notifyUrl, avoid, only, signal })
    if (!isAlipayOk(pre)) return pre
    const prepayId = pre.body['prepay_id']
    if (typeof prepayId !== 'string') throw new RailCallError('bad_response', 'no_prepay_id', pre.endpoint)
    return client.delegationPay({ prepayId, agreementNo: p.agreementNo, delegationId: p.delegationId, avoid, only, signal })
  }

  const refundStatusOf = async (outTradeNo: string, outRequestNo: string, avoid?: string, signal?: AbortSignal): Promise<RailRefundOutcome | 'absent'> => {
    try {
      const r = await client.refundQuery({ outTradeNo, outRequestNo, avoid, signal })
      if (isAlipayOk(r)) {
        if (r.body['refund_status'] === 'REFUND_SUCCESS')
          return { status: 'succeeded', reference: `${String(r.body['trade_no'])}:${outRequestNo}`, refundedAt: beijingToIso(r.body['gmt_refund_pay']) ?? clock().toISOString() }
        // No refund_status: the refund did not (yet) succeed; with none recorded it never happened.
        return 'absent'
      }
      return { status: 'unknown', code: r.subCode || r.code }
    } catch (err) {
      if (err instanceof RailCallError) return { status: 'unknown', code: err.code }
      if (err instanceof RailUnavailableError) return { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
      throw err
    }
  }

  return {
    rail: railId,
    instruments: ['alipay.agreement'],
    client,
    options,
    outTradeNoOf: (intent) => outTradeNoFor(settlementKey(intent), prefix),

    async settle(p: RailSettleParams<AlipayAgreementCredential | undefined>): Promise<RailOutcome> {
      const money = yuan(p.amount)
      if (!money.ok) return { status: 'declined', code: money.code, message: money.message }
      const cred = p.credential ?? {}
      const agreementNo = cred.agreementNo ?? p.intent.instrument.ref
      if (!agreementNo) return { status: 'declined', code: 'agreement_missing', message: 'an alipay.agreement payment needs an agreement number' }
      const mode = cred.mode ?? (cred.delegationId ? 'delegation' : 'agreement')
      if (mode === 'delegation' && !cred.delegationId) return { status: 'declined', code: 'delegation_missing', message: 'delegation pay needs a delegation id' }
      const outTradeNo = outTradeNoFor(p.idempotencyKey, prefix)
      const send = { outTradeNo, yuan: money.yuan, subject: subjectOf(p.intent), agreementNo, delegationId: mode === 'delegation' ? cred.delegationId : undefined, passback: p.intent.id }
      let avoid: string | undefined
      let last: Extract<RailOutcome, { status: 'unknown' }> = { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
      // Set once any attempt may have reached Alipay: a query's "not found" does not stop that send
      // from completing late, so from then on this settlement is never reported as not sent.
      let sent = false
      for (let attempt = 1; attempt <= maxPayAttempts; attempt++) {
        let r: AlipayCallResult
        try {
          r = await sendOnce(send, avoid, p.signal, p.endpoints)
        } catch (err) {
          if (err instanceof RailUnavailableError) return unsentAfterUnknown(last, sent)
          if (!(err instanceof RailCallError)) throw err
          // The retry and failover rules are core/routing's (shouldRetry, shouldFailover).
          let result: AttemptResult = classifyTransportCode(err.code)
          last = { status: 'unknown', code: err.code, endpoint: err.endpoint }
          if (result.kind === 'unknown') {
            sent = true
            // Unknown outcome: ask Alipay (preferably through another endpoint) before anything else.
            log.warn({ outTradeNo, endpoint: err.endpoint, code: err.code, attempt }, 'alipay pay outcome unknown; querying')
            const q = await queryOutcome(outTradeNo, money.yuan, err.endpoint, p.signal)
            if (q.status === 'succeeded' || q.status === 'declined') return q
            if (q.status === 'unknown') return { ...q, code: err.code }
            // not_found: nothing moved, so the SAME out_trade_no may be sent again.
            result = { kind: 'not_processed' }
          }
          // Every endpoint reaches the same merchant account: one out_trade_no cannot be paid twice.
          avoid = shouldFailover(result, 'endpoint') ? err.endpoint : undefined
          if (shouldRetry(result, attempt, maxPayAttempts)) continue
          return unsentAfterUnknown(last, sent)
        }
        return payOutcome(r, outTradeNo, money.yuan, p.signal)
      }
      return unsentAfterUnknown(last, sent)
    },

    async query(p: RailQueryParams): Promise<RailOutcome> {
      const money = yuan(p.intent.settlement_amount ?? p.intent.amount)
      return queryOutcome(outTradeNoFor(p.idempotencyKey, prefix), money.ok ? money.yuan : undefined, undefined, p.signal)
    },

    async refund(p: RailRefundParams): Promise<RailRefundOutcome> {
      const money = yuan(p.amount)
      if (!money.ok) return { status: 'declined', code: money.code, message: money.message }
      const outTradeNo = outTradeNoFor(settlementKey(p.intent), prefix)
      const outRequestNo = requestNoFor(p.refundKey, prefix)
      let avoid: string | undefined
      let last: RailRefundOutcome = { status: 'unknown', code: 'GW_RAIL_UNAVAILABLE' }
      for (let attempt = 1; attempt <= maxPayAttempts; attempt++) {
        let r: AlipayCallResult
        try {
          r = await client.refund({ outTradeNo, refundAmount: money.yuan, outRequestNo, reason: p.reason, avoid, signal: p.signal })
        } catch (err) {
          if (err instanceof RailUnavailableError) return last
          if (!(err instanceof RailCallError)) throw err
          last = { status: 'unknown', code: err.code }
          avoid = err.endpoint
          const s = await refundStatusOf(outTradeNo, outRequestNo, avoid, p.signal)
          if (s === 'absent') continue
          return s.status === 'unknown' ? { ...s, code: err.code } : s
        }
        if (!isAlipayOk(r)) return { status: 'declined', code: r.subCode || r.code, message: r.subMsg.slice(0, 200) }
        // 10000 means accepted; only fund_change=Y (or a later REFUND_SUCCESS) means money moved (digest §2.1).
        if (r.body['fund_change'] === 'Y') return { status: 'succeeded', reference: `${String(r.body['trade_no'])}:${outRequestNo}`, refundedAt: beijingToIso(r.body['gmt_refund_pay']) ?? clock().toISOString() }
        const s = await refundStatusOf(outTradeNo, outRequestNo, undefined, p.signal)
        return s === 'absent' ? { status: 'unknown', code: 'refund_pending' } : s
      }
      return last
    },

    async refundStatus(p) {
      const s = await refundStatusOf(outTradeNoFor(settlementKey(p.intent), prefix), requestNoFor(p.refundKey, prefix), undefined, p.signal)
      return s === 'absent' ? { status: 'unknown', code: 'refund_not_found' } : s
    },

    async queryRefund(p: RailRefundQueryParams): Promise<RailRefundQueryOutcome> {
      // `alipay.trade.fastpay.refund.query` by out_request_no: no refund_status = nothing moved.
      const s = await refundStatusOf(outTradeNoFor(settlementKey(p.intent), prefix), requestNoFor(p.refundKey, prefix), undefined, p.signal)
      return s === 'absent' ? { status: 'not_found' } : s
    },

    closeTrade: (intent, signal) => client.close({ outTradeNo: outTradeNoFor(settlementKey(intent), prefix), signal }),

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
