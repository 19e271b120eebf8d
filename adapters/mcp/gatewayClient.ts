import { request } from 'undici'

/** Where the MCP server sends its calls: the gateway's own `/v1` API, with the caller's key. */
export interface GatewayClientOptions {
  /** Base URL of the gateway, without a trailing `/v1` (e.g. `http://127.0.0.1:8402`). */
  baseUrl: string
  /** The caller's API key (sent as `Authorization: Bearer <key>`); absent = the call is sent without one. */
  apiKey?: string | undefined
  /** Per-call timeout (default 60 s: a rail may take a while to answer). */
  timeoutMs?: number | undefined
}

/** One call to the gateway API. */
export interface GatewayCallParameters {
  method: 'GET' | 'POST' | 'PATCH'
  /** Path under the base URL, starting with `/v1/`; path parameters must already be encoded. */
  path: string
  query?: Readonly<Record<string, string | undefined>> | undefined
  body?: unknown
  /** Sent as `Idempotency-Key` (money-moving calls always carry one). */
  idempotencyKey?: string | undefined
}

/** What the gateway answered: the HTTP status and the parsed JSON body (undefined if not JSON). */
export interface GatewayCallReturnType {
  status: number
  body: unknown
  /** `Idempotent-Replayed: true`: the answer is the stored one of an earlier call with the same key. */
  replayed: boolean
  retryAfter?: string | undefined
}

/** A thin typed HTTP client for the gateway's own API. Holds no state but the base URL and key. */
export interface GatewayClient {
  call(params: GatewayCallParameters): Promise<GatewayCallReturnType>
}

/**
 * Creates the client the MCP tools call through, so every tool call takes the same path as any
 * other API call: authentication, scopes, idempotency, policy, budgets and audit.
 *
 * @example
 * const gw = createGatewayClient({ baseUrl: 'http://127.0.0.1:8402', apiKey: process.env.AGENTSWITCH_API_KEY })
 * const { status, body } = await gw.call({ method: 'GET', path: '/v1/capabilities' })
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const base = options.baseUrl.replace(/\/+$/, '')
  const timeoutMs = options.timeoutMs ?? 60_000
  return {
    async call(params) {
      const url = new URL(base + params.path)
      for (const [k, v] of Object.entries(params.query ?? {})) if (v !== undefined) url.searchParams.set(k, v)
      const headers: Record<string, string> = { accept: 'application/json' }
      if (options.apiKey !== undefined) headers['authorization'] = `Bearer ${options.apiKey}`
      if (params.idempotencyKey !== undefined) headers['idempotency-key'] = params.idempotencyKey
      let payload: string | undefined
      if (params.body !== undefined) {
        headers['content-type'] = 'application/json'
        payload = JSON.stringify(params.body)
      }
      const res = await request(url, { method: params.method, headers, body: payload ?? null, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      const text = await res.body.text()
      let body: unknown
      try {
        body = text === '' ? undefined : JSON.parse(text)
      } catch {
        body = undefined
      }
      const retryAfter = res.headers['retry-after']
      return {
        status: res.statusCode,
        body,
        replayed: res.headers['idempotent-replayed'] === 'true',
        ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
      }
    },
  }
}
