import type { KeyObject } from 'node:crypto'
import type { Dispatcher } from 'undici'
import { beijingTimestamp, signV3Request, verifyV2Response, verifyV3Response, v2SignContent, rsa2Sign } from './signing.js'
import type { EndpointSet} from './transport.js';
import { RailCallError, header, httpPost, type FailoverMode, type HttpAnswer, type RailEndpoint } from './transport.js'

/**
 * A small Alipay Open Platform client on node:crypto + undici (not alipay-sdk, digest §3.6). It
 * signs every request, verifies EVERY answer, and sorts answers into three classes:
 *
 * - returned `{ code: '10000' | '10003', … }`: the call succeeded (business state in the fields);
 * - returned `{ code: '400xx', subCode, … }`: a definitive, signed business answer (a decline);
 * - thrown {@link RailCallError}: the outcome is unknown (20000, `ACQ.SYSTEM_ERROR`, 5xx, timeout,
 *   network, tampered or unsigned answer). It counts against the endpoint's breaker.
 */

export type AlipayBizOk = { code: '10000' | '10003'; body: Record<string, unknown>; endpoint: string }
export type AlipayBizError = { code: string; subCode: string; subMsg: string; body: Record<string, unknown>; endpoint: string }
export type AlipayCallResult = AlipayBizOk | AlipayBizError

export function isAlipayOk(r: AlipayCallResult): r is AlipayBizOk {
  return r.code === '10000' || r.code === '10003'
}

export interface AlipayOpenApiClientOptions {
  appId: string
  privateKey: KeyObject
  alipayPublicKey: KeyObject
  endpoints: EndpointSet
  dispatcher: Dispatcher
  /** `v2` (gateway.do, default) or `v3` (REST). */
  protocol?: 'v2' | 'v3' | undefined
  timeoutMs?: number | undefined
  appAuthToken?: string | undefined
  clock?: (() => Date) | undefined
}

export interface CallOptions {
  notifyUrl?: string | undefined
  failover: FailoverMode
  avoid?: string | undefined
  /** Routing's endpoint list for a send (restricts and orders); any endpoint when absent. */
  only?: readonly string[] | undefined
  signal?: AbortSignal | undefined
}

/** A signed v2 request, ready to send (exposed for the benchmark and for tests). */
export interface SignedV2Request {
  /** Query string: the system parameters and `sign` (like alipay-sdk and the Java SDK). */
  query: string
  /** Form body: `biz_content`. */
  body: string
  /** The exact string that was signed. */
  signContent: string
}

const SYSTEM_ERRORS = new Set(['ACQ.SYSTEM_ERROR', 'isp.unknow-error', 'isp.unknown-error', 'aop.unknow-error'])

export class AlipayOpenApiClient {
  readonly appId: string
  readonly protocol: 'v2' | 'v3'
  readonly #o: AlipayOpenApiClientOptions
  readonly #timeoutMs: number
  readonly #clock: () => Date

  constructor(o: AlipayOpenApiClientOptions) {
    this.#o = o
    this.appId = o.appId
    this.protocol = o.protocol ?? 'v2'
    this.#timeoutMs = o.timeoutMs ?? 5_000
    this.#clock = o.clock ?? (() => new Date())
  }

  get endpoints(): EndpointSet {
    return this.#o.endpoints
  }

  /** Build and sign a v2 request (digest §1.2, §1.4). */
  signV2Request(method: string, biz: Record<string, unknown>, notifyUrl?: string): SignedV2Request {
    const params: Record<string, string> = {
      app_id: this.appId,
      method,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: beijingTimestamp(this.#clock()),
      version: '1.0',
      biz_content: JSON.stringify(biz),
    }
    if (notifyUrl) params['notify_url'] = notifyUrl
    if (this.#o.appAuthToken) params['app_auth_token'] = this.#o.appAuthToken
    const signContent = v2SignContent(params)
    const sign = rsa2Sign(signContent, this.#o.privateKey)
    const q = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (k !== 'biz_content') q.set(k, v)
    q.set('sign', sign)
    return { query: q.toString(), body: new URLSearchParams({ biz_content: params['biz_content']! }).toString(), signContent }
  }

  /** Classify a v2 answer (verifying its signature first). Exposed for the benchmark and tests. */
  classifyV2(method: string, ans: HttpAnswer, endpoint: string): AlipayCallResult {
    if (ans.status !== 200) throw new RailCallError('http_status', `http_${ans.status}`, endpoint)
    const check = verifyV2Response(ans.body, method, this.#o.alipayPublicKey)
    if (!check.ok) {
      // A tampered, unsigned or unparsable answer is never believed: the outcome is unknown.
      throw new RailCallError(check.reason === 'bad_signature' ? 'bad_signature' : check.reason === 'unsigned' ? 'unsigned' : 'bad_response', check.reason, endpoint)
    }
    return this.#classifyBody(check.body, endpoint)
  }

  #classifyBody(body: Record<string, unknown>, endpoint: string): AlipayCallResult {
    const code = String(body['code'] ?? '')
    const subCode = typeof body['sub_code'] === 'string' ? body['sub_code'] : ''
    if (code === '10000' || code === '10003') return { code, body, endpoint }
    if (code === '20000' || SYSTEM_ERRORS.has(subCode)) throw new RailCallError('system_error', `${code}:${subCode || 'unknown'}`, endpoint)
    if (!/^[0-9]{5}$/.test(code)) throw new RailCallError('bad_response', 'no_code', endpoint)
    return { code, subCode, subMsg: typeof body['sub_msg'] === 'string' ? body['sub_msg'] : '', body, endpoint }
  }

  #v2Url(ep: RailEndpoint): string {
    return ep.url.endsWith('/gateway.do') ? ep.url : `${ep.url}/gateway.do`
  }

  #v3Origin(ep: RailEndpoint): string {
    return ep.url.endsWith('/gateway.do') ? ep.url.slice(0, -'/gateway.do'.length) : ep.url
  }

  async #v2(method: string, biz: Record<string, unknown>, ep: RailEndpoint, o: CallOptions): Promise<AlipayCallResult> {
    const req = this.signV2Request(method, biz, o.notifyUrl)
    const ans = await httpPost(this.#o.dispatcher, ep.name, `${this.#v2Url(ep)}?${req.query}`, {
      headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8', accept: 'application/json' },
      body: req.body,
      timeoutMs: this.#timeoutMs,
      signal: o.signal,
    })
    return this.classifyV2(method, ans, ep.name)
  }

  async #v3(method: string, biz: Record<string, unknown>, ep: RailEndpoint, o: CallOptions): Promise<AlipayCallResult> {
    const path = `/v3/${method.split('.').join('/')}`
    const body = JSON.stringify(o.notifyUrl ? { ...biz, notify_url: o.notifyUrl } : biz)
    const authorization = signV3Request({ appId: this.appId, key: this.#o.privateKey, httpMethod: 'POST', pathAndQuery: path, body, appAuthToken: this.#o.appAuthToken, timestampMs: this.#clock().getTime() })
    const headers: Record<string, string> = { authorization, 'content-type': 'application/json', accept: 'application/json' }
    if (this.#o.appAuthToken) headers['alipay-app-auth-token'] = this.#o.appAuthToken
    const ans = await httpPost(this.#o.dispatcher, ep.name, `${this.#v3Origin(ep)}${path}`, { headers, body, timeoutMs: this.#timeoutMs, signal: o.signal })
    const signed = verifyV3Response(
      { timestamp: header(ans.headers, 'alipay-timestamp'), nonce: header(ans.headers, 'alipay-nonce'), signature: header(ans.headers, 'alipay-signature') },
      ans.body,
      this.#o.alipayPublicKey,
    )
    // Errors too: a decline we cannot verify is not a decline (it could hide a success).
    if (!signed) throw new RailCallError(header(ans.headers, 'alipay-signature') ? 'bad_signature' : 'unsigned', header(ans.headers, 'alipay-signature') ? 'bad_signature' : 'unsigned', ep.name)
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(ans.body) as Record<string, unknown>
      if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object')
    } catch {
      throw new RailCallError('bad_response', 'unparsable', ep.name)
    }
    if (ans.status >= 200 && ans.status < 300) return { code: '10000', body: parsed, endpoint: ep.name }
    const code = typeof parsed['code'] === 'string' ? parsed['code'] : ''
    if (ans.status >= 500 || SYSTEM_ERRORS.has(code) || code === 'SYSTEM_ERROR') throw new RailCallError('system_error', `http_${ans.status}:${code || 'unknown'}`, ep.name)
    if (ans.status >= 400 && ans.status < 500 && code) {
      const v2code = code.startsWith('ACQ.') ? '40004' : ans.status === 403 ? '40006' : '40002'
      return { code: v2code, subCode: code, subMsg: typeof parsed['message'] === 'string' ? parsed['message'] : '', body: parsed, endpoint: ep.name }
    }
    throw new RailCallError('http_status', `http_${ans.status}`, ep.name)
  }

  /**
   * Call one method through the endpoints' breakers. Returns a verified business answer, or throws
   * {@link RailCallError} (unknown outcome) / `RailUnavailableError` (every breaker open: nothing sent).
   */
  async call(method: string, biz: Record<string, unknown>, o: CallOptions): Promise<AlipayCallResult> {
    const { value } = await this.#o.endpoints.run((ep) => (this.protocol === 'v3' ? this.#v3(method, biz, ep, o) : this.#v2(method, biz, ep, o)), { failover: o.failover, avoid: o.avoid, only: o.only })
    return value
  }

  // --- the trade API (digest §2.1) -------------------------------------------------------------

  /** `alipay.trade.pay` with `agreement_params` (withholding). Mutating: never fails over after an unknown outcome. */
  pay(p: { outTradeNo: string; totalAmount: string; subject: string; agreementNo: string; productCode?: string | undefined; passbackParams?: string | undefined; notifyUrl?: string | undefined; avoid?: string | undefined; only?: readonly string[] | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call(
      'alipay.trade.pay',
      {
        out_trade_no: p.outTradeNo,
        total_amount: p.totalAmount,
        subject: p.subject,
        product_code: p.productCode ?? 'GENERAL_WITHHOLDING',
        agreement_params: { agreement_no: p.agreementNo },
        ...(p.passbackParams ? { passback_params: p.passbackParams } : {}),
      },
      { failover: 'open_only', notifyUrl: p.notifyUrl, avoid: p.avoid, only: p.only, signal: p.signal },
    )
  }

  /** `alipay.trade.order.prepay` (delegation pay, step 1): idempotent on `out_trade_no`. */
  prepay(p: { outTradeNo: string; totalAmount: string; subject: string; passbackParams?: string | undefined; notifyUrl?: string | undefined; avoid?: string | undefined; only?: readonly string[] | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call(
      'alipay.trade.order.prepay',
      { out_trade_no: p.outTradeNo, total_amount: p.totalAmount, subject: p.subject, ...(p.passbackParams ? { passback_params: p.passbackParams } : {}) },
      { failover: 'open_only', notifyUrl: p.notifyUrl, avoid: p.avoid, only: p.only, signal: p.signal },
    )
  }

  /** `alipay.trade.agent.delegation.pay` (delegation pay, step 2). */
  delegationPay(p: { prepayId: string; agreementNo: string; delegationId: string; avoid?: string | undefined; only?: readonly string[] | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call(
      'alipay.trade.agent.delegation.pay',
      { prepay_id: p.prepayId, agreement_no: p.agreementNo, delegation_id: p.delegationId },
      { failover: 'open_only', avoid: p.avoid, only: p.only, signal: p.signal },
    )
  }

  /** `alipay.trade.query`: read-only, fails over on any unknown outcome. */
  query(p: { outTradeNo: string; avoid?: string | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call('alipay.trade.query', { out_trade_no: p.outTradeNo }, { failover: 'any_error', avoid: p.avoid, signal: p.signal })
  }

  /** `alipay.trade.refund` with an `out_request_no` (always: it makes the refund idempotent). */
  refund(p: { outTradeNo: string; refundAmount: string; outRequestNo: string; reason?: string | undefined; avoid?: string | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call(
      'alipay.trade.refund',
      { out_trade_no: p.outTradeNo, refund_amount: p.refundAmount, out_request_no: p.outRequestNo, ...(p.reason ? { refund_reason: p.reason } : {}) },
      { failover: 'open_only', avoid: p.avoid, signal: p.signal },
    )
  }

  /** `alipay.trade.fastpay.refund.query`: `refund_status=REFUND_SUCCESS` or absent (not succeeded). */
  refundQuery(p: { outTradeNo: string; outRequestNo: string; avoid?: string | undefined; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call('alipay.trade.fastpay.refund.query', { out_trade_no: p.outTradeNo, out_request_no: p.outRequestNo }, { failover: 'any_error', avoid: p.avoid, signal: p.signal })
  }

  /** `alipay.trade.close`: only an unpaid trade (`ACQ.TRADE_STATUS_ERROR` otherwise). */
  close(p: { outTradeNo: string; signal?: AbortSignal | undefined }): Promise<AlipayCallResult> {
    return this.call('alipay.trade.close', { out_trade_no: p.outTradeNo }, { failover: 'any_error', signal: p.signal })
  }
}

