import { request, type Dispatcher } from 'undici'
import { GatewayError } from '../errors/gatewayError.js'
import { parseRate } from './convert.js'
import type { FxRate, FxSource } from './port.js'

export interface HttpFxSourceOptions {
  /** The rate endpoint: `GET <url>?from=<asset id>&to=<asset id>`. */
  url: string
  /** Per-request timeout (default 2000 ms). */
  timeoutMs?: number | undefined
  /** Sent as `Authorization: Bearer …` when set. Never logged. */
  apiKey?: string | undefined
  dispatcher?: Dispatcher | undefined
}

/**
 * An FX source over HTTP (undici). Asks `GET <url>?from=iso4217:USD&to=iso4217:CNY` and expects
 * `200 {"rate":"7.1034"}`: the rate as a decimal STRING (a JSON number is refused: it would have
 * passed through a float). `404` means the pair is unknown; anything else (timeout, 5xx, a body
 * that does not parse) is `GW_FX_UNAVAILABLE`, and nothing is quoted.
 *
 * @example createHttpFxSource({ url: 'https://fx.internal/rates' })
 */
export function createHttpFxSource(o: HttpFxSourceOptions): FxSource {
  const base = new URL(o.url)
  const name = `http:${base.host}`
  const timeoutMs = o.timeoutMs ?? 2_000
  return {
    name,
    async rate({ from, to, signal }): Promise<FxRate | undefined> {
      const url = new URL(base)
      url.searchParams.set('from', from)
      url.searchParams.set('to', to)
      const timeout = AbortSignal.timeout(timeoutMs)
      let status: number
      let text: string
      try {
        const res = await request(url, {
          method: 'GET',
          headers: { accept: 'application/json', ...(o.apiKey ? { authorization: `Bearer ${o.apiKey}` } : {}) },
          signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
          ...(o.dispatcher ? { dispatcher: o.dispatcher } : {}),
        })
        status = res.statusCode
        text = await res.body.text()
      } catch (err) {
        const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : ((err as { code?: string })?.code ?? 'network error')
        throw new GatewayError('GW_FX_UNAVAILABLE', `FX source ${name}: ${why}`)
      }
      if (status === 404) return undefined
      if (status !== 200) throw new GatewayError('GW_FX_UNAVAILABLE', `FX source ${name} answered HTTP ${status}`)
      let rate: unknown
      try {
        rate = (JSON.parse(text) as { rate?: unknown })?.rate
      } catch {
        throw new GatewayError('GW_FX_UNAVAILABLE', `FX source ${name} answered something that is not JSON`)
      }
      if (typeof rate !== 'string') throw new GatewayError('GW_FX_UNAVAILABLE', `FX source ${name}: "rate" must be a decimal string, got ${typeof rate}`)
      parseRate(rate)
      return { from, to, rate, source: name }
    },
  }
}
