import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { KeyObject } from 'node:crypto'
import { antomSignContent, antomSignatureHeader, parseAntomSignatureHeader, rsa2Sign, rsa2Verify, v2SignContent } from './crypto.js'
import { F, U, type AntomBody, type AntomOps } from './antomOps.js'
import { CODE_MSG, isBizOk, type BizFields, type BizResult, type TradeOps } from './tradeOps.js'
import { isoWithOffset, parseBeijingTime } from './units.js'
import type { SandboxApp, SandboxWorld } from './world.js'

/** One HTTP answer. */
export interface Reply {
  status: number
  headers: Record<string, string>
  body: string
}

/**
 * An authenticated, parsed call, ready to run. The server decides faults between parsing and
 * running, so the same call can be answered normally, as a system error, or lost.
 */
export interface Prepared {
  protocol: 'v2' | 'v3' | 'antom'
  /** Fault target: the v2 method name (also for v3), or `antom.payments.<api>`. */
  target: string
  /** The merchant key the call is about (`out_trade_no` / `paymentRequestId`), for the request log. */
  ref?: string | undefined
  /** Apply the business operation and render the signed answer. */
  run(): { reply: Reply; outcome: string }
  /** The signed "outcome unknown" answer: v2 `20000 ACQ.SYSTEM_ERROR`, v3 HTTP 500, Antom `U`. */
  systemError(): Reply
  /** Antom: `U PAYMENT_IN_PROCESS`; Alipay: as {@link systemError}. */
  unknownResult(): Reply
  /** Change the signed part of an answer after signing. */
  tamper(r: Reply): Reply
}

export interface ProtocolDeps {
  world: SandboxWorld
  trades: TradeOps
  antom: AntomOps
  alipayKey: KeyObject
  now: () => Date
  timestampToleranceMs: number | null
}

/** JSON the way Alipay writes it: `/` escaped as `\/` (part of the signed bytes, digest §1.5). */
export function alipayJson(v: unknown): string {
  return JSON.stringify(v).replace(/\//g, '\\/')
}

// --- v2 gateway.do --------------------------------------------------------------------------------

/** Render a signed v2 envelope: `{"<key>":<text>,"sign":"…"}` signed over `<text>` exactly. */
export function renderV2(key: string, obj: Record<string, unknown>, alipayKey: KeyObject): Reply {
  const text = alipayJson(obj)
  const sign = rsa2Sign(text, alipayKey)
  return { status: 200, headers: { 'content-type': 'text/html;charset=utf-8' }, body: `{"${key}":${text},"sign":"${sign}"}` }
}

function v2Result(r: BizResult): Record<string, unknown> {
  if (isBizOk(r)) return { code: r.code, msg: CODE_MSG[r.code], ...r.fields }
  return { code: r.code, msg: CODE_MSG[r.code], sub_code: r.subCode, sub_msg: r.subMsg, ...(r.fields ?? {}) }
}

function outcomeOf(r: BizResult): string {
  return isBizOk(r) ? r.code : `${r.code}:${r.subCode}`
}

/** Insert `"tampered":true` inside the first JSON object of `text` after `from`. */
function injectField(text: string, from: number): string {
  const i = text.indexOf('{', from)
  if (i < 0) return text
  return `${text.slice(0, i + 1)}"tampered":true,${text.slice(i + 1)}`
}

const V2_METHODS = new Set([
  'alipay.trade.pay',
  'alipay.trade.query',
  'alipay.trade.refund',
  'alipay.trade.fastpay.refund.query',
  'alipay.trade.close',
  'alipay.trade.cancel',
  'alipay.trade.create',
  'alipay.trade.precreate',
  'alipay.trade.order.prepay',
  'alipay.trade.agent.delegation.pay',
  'alipay.user.agreement.delegation.query',
])

/**
 * `gateway.do` (digest §1.2–§1.6): merge query and form body, check the system parameters,
 * verify RSA2 with the app's public key, run the method, answer a signed `*_response` envelope.
 */
export function prepareV2(deps: ProtocolDeps, req: IncomingMessage, url: URL, raw: Buffer): Prepared | Reply {
  const params: Record<string, string> = {}
  for (const [k, v] of url.searchParams) params[k] = v
  const ct = String(req.headers['content-type'] ?? '')
  const bodyErr = (key: string, code: '40002', subCode: string, subMsg: string): Reply =>
    renderV2(key, { code, msg: CODE_MSG[code], sub_code: subCode, sub_msg: subMsg }, deps.alipayKey)
  if (raw.length > 0) {
    if (ct.includes('multipart/form-data')) return bodyErr('error_response', '40002', 'isv.invalid-parameter', 'multipart uploads are not supported by the sandbox')
    // The URL wins when a parameter appears in both (alipay-sdk never sends one twice).
    for (const [k, v] of new URLSearchParams(raw.toString('utf8'))) if (!(k in params)) params[k] = v
  }
  const method = params['method']
  const key = method && /^[a-z0-9.]+$/.test(method) ? `${method.replaceAll('.', '_')}_response` : 'error_response'
  const err = (code: '40001' | '40002', subCode: string, subMsg: string): Reply => renderV2(key, { code, msg: CODE_MSG[code], sub_code: subCode, sub_msg: subMsg }, deps.alipayKey)
  if (!params['app_id']) return err('40001', 'isv.missing-app-id', '缺少AppID参数 (app_id is missing)')
  if (!method) return err('40001', 'isv.missing-method', '缺少方法名参数 (method is missing)')
  if (!params['sign']) return err('40001', 'isv.missing-signature', '缺少签名参数 (sign is missing)')
  if (!params['sign_type']) return err('40001', 'isv.missing-signature-type', '缺少签名类型参数 (sign_type is missing)')
  if (!params['timestamp']) return err('40001', 'isv.missing-timestamp', '缺少时间戳参数 (timestamp is missing)')
  if (!params['version']) return err('40001', 'isv.missing-version', '缺少版本参数 (version is missing)')
  const app = deps.world.apps.get(params['app_id'])
  if (!app) return err('40002', 'isv.invalid-app-id', '无效的AppID参数 (unknown app_id)')
  if (params['sign_type'] !== 'RSA2') return err('40002', 'isv.invalid-signature-type', 'the sandbox only accepts RSA2')
  if (params['charset'] && params['charset'].toLowerCase() !== 'utf-8') return err('40002', 'isv.invalid-charset', 'only utf-8 is supported')
  if (params['format'] && params['format'].toUpperCase() !== 'JSON') return err('40002', 'isv.invalid-format', 'only JSON is supported')
  if (params['version'] !== '1.0') return err('40002', 'isv.invalid-version', 'version must be 1.0')
  const ts = parseBeijingTime(params['timestamp'])
  if (!ts) return err('40002', 'isv.invalid-timestamp', 'timestamp must be yyyy-MM-dd HH:mm:ss (Beijing time)')
  if (deps.timestampToleranceMs !== null && Math.abs(deps.now().getTime() - ts.getTime()) > deps.timestampToleranceMs)
    return err('40002', 'isv.invalid-timestamp', 'the timestamp is too far from Beijing time')
  const content = v2SignContent(params)
  if (!rsa2Verify(content, params['sign'], app.publicKey)) {
    // Like the real gateway (alipay-sdk issue #109): echo the string the signature should cover.
    return err('40002', 'isv.invalid-signature', `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${content}`)
  }
  if (!V2_METHODS.has(method)) return err('40002', 'isv.invalid-method', `不存在的方法名 (unknown method ${method})`)
  let biz: BizFields = {}
  if (params['biz_content'] !== undefined) {
    try {
      const parsed: unknown = JSON.parse(params['biz_content'])
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
      biz = parsed as BizFields
    } catch {
      return err('40002', 'isv.invalid-parameter', 'biz_content must be a JSON object')
    }
  }
  const ctx = { app, notifyUrl: params['notify_url'] || undefined }
  return {
    protocol: 'v2',
    target: method,
    ref: deps.trades.refOf(method, biz, app.appId),
    run() {
      const r = deps.trades.execute(method, biz, ctx)!
      return { reply: renderV2(key, v2Result(r), deps.alipayKey), outcome: outcomeOf(r) }
    },
    systemError: () => renderV2(key, { code: '20000', msg: CODE_MSG['20000'], sub_code: 'ACQ.SYSTEM_ERROR', sub_msg: '系统错误 (system error)' }, deps.alipayKey),
    unknownResult: () => renderV2(key, { code: '20000', msg: CODE_MSG['20000'], sub_code: 'isp.unknow-error', sub_msg: '服务暂不可用 (service unavailable)' }, deps.alipayKey),
    tamper: (r) => ({ ...r, body: injectField(r.body, 1) }),
  }
}

// --- v3 REST --------------------------------------------------------------------------------------

/** Sign a v3 answer: headers `alipay-timestamp/nonce/signature` over `ts\nnonce\nbody\n` (digest §1.7). */
export function renderV3(status: number, body: string, alipayKey: KeyObject, now: Date): Reply {
  const ts = String(now.getTime())
  const nonce = randomUUID()
  const signature = rsa2Sign(`${ts}\n${nonce}\n${body}\n`, alipayKey)
  return {
    status,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'alipay-timestamp': ts,
      'alipay-nonce': nonce,
      'alipay-signature': signature,
      'alipay-trace-id': randomBytes(16).toString('hex'),
    },
    body,
  }
}

function v3Error(status: number, code: string, message: string, deps: ProtocolDeps): Reply {
  const body = JSON.stringify({ code, message, links: [{ link: `https://open.alipay.com/api/errCheck?code=${encodeURIComponent(code)}`, desc: '解决方案' }] })
  return renderV3(status, body, deps.alipayKey, deps.now())
}

/** Parse `ALIPAY-SHA256withRSA app_id=…,nonce=…,timestamp=…,sign=…`. */
export function parseV3Authorization(header: string | undefined): { authString: string; sign: string; fields: Record<string, string> } | undefined {
  const prefix = 'ALIPAY-SHA256withRSA '
  if (!header?.startsWith(prefix)) return undefined
  const rest = header.slice(prefix.length)
  const at = rest.lastIndexOf(',sign=')
  if (at < 0) return undefined
  const authString = rest.slice(0, at)
  const fields: Record<string, string> = {}
  for (const part of authString.split(',')) {
    const i = part.indexOf('=')
    if (i > 0) fields[part.slice(0, i)] = part.slice(i + 1)
  }
  return { authString, sign: rest.slice(at + ',sign='.length), fields }
}

/**
 * v3 REST (`POST /v3/alipay/trade/query` …): verify the `ALIPAY-SHA256withRSA` Authorization
 * over `authString\nMETHOD\npath?query\nbody\n[appAuthToken\n]`, answer the business JSON with
 * signed headers; errors are `{code, message, links}` with HTTP 4xx/5xx (also signed).
 */
export function prepareV3(deps: ProtocolDeps, req: IncomingMessage, url: URL, raw: Buffer): Prepared | Reply {
  const method = url.pathname.slice('/v3/'.length).split('/').join('.')
  const auth = parseV3Authorization(req.headers['authorization'])
  if (!auth) return v3Error(401, 'missing-authorization', 'the Authorization header must be ALIPAY-SHA256withRSA app_id=…,nonce=…,timestamp=…,sign=…', deps)
  const app = auth.fields['app_id'] ? deps.world.apps.get(auth.fields['app_id']) : undefined
  if (!app) return v3Error(401, 'invalid-app-id', 'unknown app_id', deps)
  const ts = Number(auth.fields['timestamp'])
  if (!Number.isFinite(ts) || !auth.fields['nonce']) return v3Error(401, 'invalid-authorization', 'nonce and timestamp (unix ms) are required', deps)
  if (deps.timestampToleranceMs !== null && Math.abs(deps.now().getTime() - ts) > deps.timestampToleranceMs) return v3Error(401, 'invalid-timestamp', 'the timestamp is too far from now', deps)
  const body = raw.toString('utf8')
  const token = req.headers['alipay-app-auth-token']
  const content = `${auth.authString}\n${req.method}\n${url.pathname}${url.search}\n${body}\n${typeof token === 'string' ? `${token}\n` : ''}`
  if (!rsa2Verify(content, auth.sign, app.publicKey)) return v3Error(401, 'invalid-signature', `验签失败 (signature check failed); expected signed content: ${JSON.stringify(content)}`, deps)
  if (req.method !== 'POST') return v3Error(405, 'method-not-allowed', 'the sandbox serves v3 trade APIs with POST', deps)
  if (!V2_METHODS.has(method)) return v3Error(404, 'api-not-found', `no API ${url.pathname}`, deps)
  let biz: BizFields = {}
  if (body !== '') {
    try {
      const parsed: unknown = JSON.parse(body)
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object')
      biz = parsed as BizFields
    } catch {
      return v3Error(400, 'invalid-parameter', 'the body must be a JSON object', deps)
    }
  }
  const notifyUrl = typeof biz['notify_url'] === 'string' ? biz['notify_url'] : undefined
  const ctx = { app, notifyUrl }
  return {
    protocol: 'v3',
    target: method,
    ref: deps.trades.refOf(method, biz, app.appId),
    run() {
      const r = deps.trades.execute(method, biz, ctx)!
      if (isBizOk(r)) return { reply: renderV3(200, alipayJson(r.fields), deps.alipayKey, deps.now()), outcome: r.code }
      const status = r.code === '20000' ? 500 : 400
      return { reply: v3Error(status, r.subCode, r.subMsg, deps), outcome: `${status}:${r.subCode}` }
    },
    systemError: () => v3Error(500, 'ACQ.SYSTEM_ERROR', '系统错误 (system error)', deps),
    unknownResult: () => v3Error(500, 'ACQ.SYSTEM_ERROR', '系统错误 (system error)', deps),
    tamper: (r) => ({ ...r, body: injectField(r.body, 0) }),
  }
}

// --- Antom -----------------------------------------------------------------------------------------

const ANTOM_APIS = new Set(['payments/pay', 'payments/inquiryPayment', 'payments/refund', 'payments/inquiryRefund'])

/** Sign an Antom answer: `Response-Time`, `Client-Id`, `Signature` over `POST path\nclient.time.body`. */
export function renderAntom(path: string, clientId: string, body: AntomBody | string, alipayKey: KeyObject, now: Date): Reply {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  const time = isoWithOffset(now)
  const sig = rsa2Sign(antomSignContent('POST', path, clientId, time, text), alipayKey)
  return {
    status: 200,
    headers: { 'content-type': 'application/json; charset=UTF-8', 'client-id': clientId, 'response-time': time, signature: antomSignatureHeader(sig) },
    body: text,
  }
}

/** `/ams/api/v1/payments/…` (and the `/ams/sandbox/api/v1/…` alias the official SDKs use for test ids). */
export function prepareAntom(deps: ProtocolDeps, req: IncomingMessage, url: URL, raw: Buffer): Prepared | Reply {
  const path = url.pathname
  const api = path.replace(/^\/ams\/(?:sandbox\/)?api\/v1\//, '')
  const clientId = String(req.headers['client-id'] ?? '')
  const reply = (b: AntomBody): Reply => renderAntom(path, clientId, b, deps.alipayKey, deps.now())
  const app: SandboxApp | undefined = deps.world.appsByClientId.get(clientId)
  if (!app) return reply(F('CLIENT_INVALID', 'unknown Client-Id'))
  const requestTime = String(req.headers['request-time'] ?? '')
  const sig = parseAntomSignatureHeader(req.headers['signature'] as string | undefined)
  if (!requestTime || !sig) return reply(F('INVALID_SIGNATURE', 'Request-Time and Signature (algorithm=RSA256,keyVersion=…,signature=…) are required'))
  const body = raw.toString('utf8')
  if (sig.algorithm !== 'RSA256' || !rsa2Verify(antomSignContent(req.method ?? 'POST', path, clientId, requestTime, body), sig.signature, app.publicKey))
    return reply(F('INVALID_SIGNATURE', 'the signature does not verify'))
  if (req.method !== 'POST') return reply(F('PARAM_ILLEGAL', 'use POST'))
  if (!ANTOM_APIS.has(api)) return reply(F('API_NOT_FOUND', `no API ${path}`))
  let parsed: Record<string, unknown>
  try {
    const v: unknown = JSON.parse(body)
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    parsed = v as Record<string, unknown>
  } catch {
    return reply(F('PARAM_ILLEGAL', 'the body must be a JSON object'))
  }
  return {
    protocol: 'antom',
    target: `antom.${api.replace('/', '.')}`,
    ref: deps.antom.refOf(parsed, app),
    run() {
      const r = deps.antom.execute(api, parsed, app)!
      return { reply: reply(r), outcome: `${r.result.resultStatus}:${r.result.resultCode}` }
    },
    systemError: () => reply(U('UNKNOWN_EXCEPTION', 'system error, the result is unknown')),
    unknownResult: () => reply(api === 'payments/pay' ? U('PAYMENT_IN_PROCESS', 'the payment is being processed') : U('UNKNOWN_EXCEPTION', 'the result is unknown')),
    tamper: (r) => ({ ...r, body: injectField(r.body, 0) }),
  }
}
