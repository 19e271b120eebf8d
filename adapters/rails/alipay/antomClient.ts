import type { KeyObject } from 'node:crypto'
import type { Dispatcher } from 'undici'
import { signAntom, verifyAntom } from './signing.js'
import type { EndpointSet} from './transport.js';
import { RailCallError, header, httpPost, type FailoverMode, type RailEndpoint } from './transport.js'

/**
 * Antom-style cross-border client (digest §5): `POST {origin}{prefix}/v1/payments/…` with
 * `Client-Id`, `Request-Time`, `Signature: algorithm=RSA256,keyVersion=…,signature=…`; every answer's
 * signature is verified (`Response-Time`, same `Client-Id`).
 *
 * - `resultStatus: S` → returned;
 * - `resultStatus: F` → returned (a definitive business answer);
 * - `resultStatus: U`, 5xx, timeouts, unsigned or tampered answers → thrown {@link RailCallError}.
 */

export interface AntomResult {
  resultCode: string
  resultStatus: 'S' | 'F' | 'U'
  resultMessage: string
}
export type AntomAnswer = { result: AntomResult; body: Record<string, unknown>; endpoint: string }

export interface AntomClientOptions {
  clientId: string
  privateKey: KeyObject
  antomPublicKey: KeyObject
  keyVersion?: string | undefined
  endpoints: EndpointSet
  dispatcher: Dispatcher
  /** `/ams/api` (default) or `/ams/sandbox/api`. */
  pathPrefix?: string | undefined
  timeoutMs?: number | undefined
  clock?: (() => Date) | undefined
}

export class AntomClient {
  readonly #o: AntomClientOptions
  readonly #prefix: string
  readonly #timeoutMs: number
  readonly #clock: () => Date

  constructor(o: AntomClientOptions) {
    this.#o = o
    this.#prefix = (o.pathPrefix ?? '/ams/api').replace(/\/+$/, '')
    this.#timeoutMs = o.timeoutMs ?? 5_000
    this.#clock = o.clock ?? (() => new Date())
  }

  async #post(api: string, payload: Record<string, unknown>, ep: RailEndpoint, signal?: AbortSignal): Promise<AntomAnswer> {
    const path = `${this.#prefix}/v1/${api}`
    const body = JSON.stringify(payload)
    const time = this.#clock().toISOString()
    const signature = signAntom({ httpMethod: 'POST', path, clientId: this.#o.clientId, time, body, key: this.#o.privateKey, keyVersion: this.#o.keyVersion })
    const ans = await httpPost(this.#o.dispatcher, ep.name, `${ep.url}${path}`, {
      headers: { 'content-type': 'application/json; charset=UTF-8', 'client-id': this.#o.clientId, 'request-time': time, signature },
      body,
      timeoutMs: this.#timeoutMs,
      signal,
    })
    if (ans.status !== 200) throw new RailCallError('http_status', `http_${ans.status}`, ep.name)
    const sigHeader = header(ans.headers, 'signature')
    if (!sigHeader) throw new RailCallError('unsigned', 'unsigned', ep.name)
    const ok = header(ans.headers, 'client-id') === this.#o.clientId &&
      verifyAntom({ httpMethod: 'POST', path, clientId: this.#o.clientId, time: header(ans.headers, 'response-time') ?? '', body: ans.body, header: sigHeader, key: this.#o.antomPublicKey })
    if (!ok) throw new RailCallError('bad_signature', 'bad_signature', ep.name)
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(ans.body) as Record<string, unknown>
    } catch {
      throw new RailCallError('bad_response', 'unparsable', ep.name)
    }
    const result = parsed['result'] as Partial<AntomResult> | undefined
    if (!result || (result.resultStatus !== 'S' && result.resultStatus !== 'F' && result.resultStatus !== 'U') || typeof result.resultCode !== 'string')
      throw new RailCallError('bad_response', 'no_result', ep.name)
    if (result.resultStatus === 'U') throw new RailCallError('system_error', `U:${result.resultCode}`, ep.name)
    return { result: { resultCode: result.resultCode, resultStatus: result.resultStatus, resultMessage: String(result.resultMessage ?? '') }, body: parsed, endpoint: ep.name }
  }

  async call(api: string, payload: Record<string, unknown>, o: { failover: FailoverMode; avoid?: string | undefined; signal?: AbortSignal | undefined }): Promise<AntomAnswer> {
    const { value } = await this.#o.endpoints.run((ep) => this.#post(api, payload, ep, o.signal), { failover: o.failover, avoid: o.avoid })
    return value
  }

  pay(payload: Record<string, unknown>, o: { avoid?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<AntomAnswer> {
    return this.call('payments/pay', payload, { failover: 'open_only', ...o })
  }

  inquiryPayment(paymentRequestId: string, o: { avoid?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<AntomAnswer> {
    return this.call('payments/inquiryPayment', { paymentRequestId }, { failover: 'any_error', ...o })
  }

  refund(payload: Record<string, unknown>, o: { avoid?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<AntomAnswer> {
    return this.call('payments/refund', payload, { failover: 'open_only', ...o })
  }

  inquiryRefund(refundRequestId: string, o: { avoid?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<AntomAnswer> {
    return this.call('payments/inquiryRefund', { refundRequestId }, { failover: 'any_error', ...o })
  }
}
