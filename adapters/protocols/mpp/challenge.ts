/**
 * The MPP challenge (`WWW-Authenticate: Payment …`, digest §2–3): its shape, the HMAC-SHA256
 * challenge id, and the header format and parser (several challenges per header value allowed).
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { base64urlEncode, base64urlJsonObject } from './base64url.js'
import { canonicalize } from './jcs.js'

/** One payment challenge. `request` is the decoded JSON object; on the wire it is base64url(JCS). */
export interface MppChallenge {
  id: string
  realm: string
  /** Payment method, lowercase (`evm`, `tempo`, …). */
  method: string
  /** `charge`, `session`, … */
  intent: string
  request: Record<string, unknown>
  /** RFC 3339. */
  expires?: string | undefined
  /** RFC 9530 content digest of the body the credential must accompany. */
  digest?: string | undefined
  /** Display only; not bound by the id. */
  description?: string | undefined
  /** base64url(JCS(string map)), echoed unchanged by clients. */
  opaque?: string | undefined
  /** The request header that must carry the credential (only `Payment-Authorization` is meaningful). */
  header?: string | undefined
}

/** A header or credential that cannot be read; `message` says exactly why (never echoes secrets). */
export class MppParseError extends Error {
  override readonly name = 'MppParseError'
}

/** A challenge that cannot be written as a header (a CR/LF would inject a header line). */
export class MppFormatError extends Error {
  override readonly name = 'MppFormatError'
}

/** mppx caps the encoded `request` parameter at 16 KiB; so do we. */
export const MAX_REQUEST_PARAM_CHARS = 16 * 1024

const METHOD = /^[a-z][a-z0-9:_-]*$/

/**
 * base64url(JCS(request)): the wire form of `request` (and of `opaque` maps).
 *
 * @example encodeRequest({ amount: '1000000' }) // 'eyJhbW91bnQiOiIxMDAwMDAwIn0'
 */
export function encodeRequest(request: Record<string, unknown>): string {
  return base64urlEncode(canonicalize(request))
}

/** Whether a `header` value is the implicit default (`Authorization`), which is never bound or advertised. */
function isDefaultHeader(header: string | undefined): boolean {
  return header === undefined || header.toLowerCase() === 'authorization'
}

/**
 * The HMAC input (digest §3): `realm|method|intent|b64(JCS(request))|expires|digest[|header]|opaque`,
 * seven fixed slots (empty for absent optionals); a non-default `header` goes before `opaque`
 * (the SDKs' and vectors' order, mpp-specs PR #362). `description` is not bound.
 */
export function challengeBindingInput(c: Omit<MppChallenge, 'id'>): string {
  const slots = [c.realm, c.method, c.intent, encodeRequest(c.request), c.expires ?? '', c.digest ?? '']
  if (!isDefaultHeader(c.header)) slots.push(c.header!)
  slots.push(c.opaque ?? '')
  return slots.join('|')
}

/**
 * The challenge id: base64url(HMAC-SHA256(utf8(secret), binding input)), unpadded. The secret is
 * used as its UTF-8 bytes (never base64-decoded), as mppx does; the gateway's configuration
 * requires ≥ 32 bytes, this function does not (the conformance vectors use short keys).
 *
 * @example computeChallengeId({ realm: 'api.example.com', method: 'tempo', intent: 'charge', request: { amount: '1000000' } }, 'test-vector-secret')
 */
export function computeChallengeId(c: Omit<MppChallenge, 'id'>, secret: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(challengeBindingInput(c), 'utf8').digest('base64url')
}

/** Whether `c.id` is the HMAC of its parameters under one of `secrets` (current first, then retired ones); constant time. */
export function verifyChallengeId(c: MppChallenge, secrets: readonly string[]): boolean {
  let input: string
  try {
    input = challengeBindingInput(c)
  } catch {
    return false
  }
  const got = Buffer.from(c.id, 'utf8')
  let ok = false
  for (const secret of secrets) {
    const want = Buffer.from(createHmac('sha256', Buffer.from(secret, 'utf8')).update(input, 'utf8').digest('base64url'), 'utf8')
    if (want.length === got.length && timingSafeEqual(want, got)) ok = true
  }
  return ok
}

/** A quoted-string auth-param value: `\` and `"` escaped, code points above U+00FF as `\uXXXX` (header values are Latin-1; mppx does the same). */
function quoted(name: string, value: string): string {
  // Control characters (CR, LF, NUL, …) would split or corrupt the header line.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new MppFormatError(`${name} contains a control character`)
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/[\u0100-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return `${name}="${escaped}"`
}

/**
 * One challenge as a `WWW-Authenticate` value: `Payment id="…", realm="…", method="…",
 * intent="…", request="…"[, expires][, digest][, description][, header][, opaque]`. Throws
 * {@link MppFormatError} on a value that cannot travel in a header.
 *
 * @example res.append('WWW-Authenticate', formatChallenge(challenge))
 */
export function formatChallenge(c: MppChallenge): string {
  const parts = [quoted('id', c.id), quoted('realm', c.realm), quoted('method', c.method), quoted('intent', c.intent), quoted('request', encodeRequest(c.request))]
  if (c.expires !== undefined) parts.push(quoted('expires', c.expires))
  if (c.digest !== undefined) parts.push(quoted('digest', c.digest))
  if (c.description !== undefined) parts.push(quoted('description', c.description))
  if (!isDefaultHeader(c.header)) parts.push(quoted('header', c.header!))
  if (c.opaque !== undefined) parts.push(quoted('opaque', c.opaque))
  return `Payment ${parts.join(', ')}`
}

const WS = (ch: string | undefined): boolean => ch === ' ' || ch === '\t'
const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/

/** Positions where a `Payment` scheme starts (outside quoted strings, at the start or after a comma). Linear. */
function schemeStarts(value: string): number[] {
  const starts: number[] = []
  let inQuotes = false
  let escaped = false
  let atBoundary = true // start of the value, or only whitespace since the last comma
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!
    if (inQuotes) {
      if (escaped) escaped = false
      else if (ch === '\\') escaped = true
      else if (ch === '"') inQuotes = false
      continue
    }
    if (ch === '"') {
      inQuotes = true
      atBoundary = false
      continue
    }
    if (ch === ',') {
      atBoundary = true
      continue
    }
    if (WS(ch)) continue
    if (atBoundary && value.slice(i, i + 7).toLowerCase() === 'payment' && (i + 7 === value.length || WS(value[i + 7]))) starts.push(i)
    atBoundary = false
  }
  return starts
}

/** Read a quoted-string starting after its opening quote: [value, index after the closing quote], or undefined when unterminated. */
function readQuoted(input: string, start: number): [string, number] | undefined {
  let out = ''
  let i = start
  while (i < input.length) {
    const ch = input[i]!
    if (ch === '\\') {
      const next = input[i + 1]
      if (next === undefined) return undefined
      const hex = next === 'u' ? input.slice(i + 2, i + 6) : ''
      if (/^[0-9A-Fa-f]{4}$/.test(hex)) {
        out += String.fromCharCode(Number.parseInt(hex, 16))
        i += 6
      } else {
        out += next
        i += 2
      }
      continue
    }
    if (ch === '"') return [out, i + 1]
    out += ch
    i++
  }
  return undefined
}

/** The auth-params of one scheme (text after `Payment`): lower-cased names; stops at the next scheme or at garbage. */
function readParams(input: string): Map<string, string> {
  const params = new Map<string, string>()
  let i = 0
  for (;;) {
    while (i < input.length && (WS(input[i]) || input[i] === ',')) i++
    if (i >= input.length) break
    const keyStart = i
    while (i < input.length && TOKEN_CHAR.test(input[i]!)) i++
    const key = input.slice(keyStart, i).toLowerCase()
    if (!key) break
    while (WS(input[i])) i++
    if (input[i] !== '=') break // another scheme's token (or token68): the params end here
    i++
    while (WS(input[i])) i++
    let value: string
    if (input[i] === '"') {
      const r = readQuoted(input, i + 1)
      // An unterminated quoted value ends the list; it is ignored (conformance: no backtracking).
      if (!r) break
      ;[value, i] = r
    } else {
      const s = i
      while (i < input.length && input[i] !== ',' && !WS(input[i])) i++
      value = input.slice(s, i)
    }
    if (params.has(key)) throw new MppParseError(`duplicate parameter ${key}`)
    params.set(key, value)
  }
  return params
}

function parseOne(chunk: string): MppChallenge {
  const params = readParams(chunk.slice('payment'.length))
  const need = (name: string): string => {
    const v = params.get(name)
    if (v === undefined) throw new MppParseError(`missing ${name} parameter`)
    return v
  }
  const id = need('id')
  if (id === '') throw new MppParseError('empty id parameter')
  const realm = need('realm')
  const method = need('method')
  if (!METHOD.test(method)) throw new MppParseError(`method ${JSON.stringify(method.slice(0, 40))} is not a lowercase method name`)
  const intent = need('intent')
  if (intent === '') throw new MppParseError('empty intent parameter')
  const requestParam = need('request')
  if (requestParam.length > MAX_REQUEST_PARAM_CHARS) throw new MppParseError('request parameter too large')
  const request = base64urlJsonObject(requestParam)
  if (!request) throw new MppParseError('request is not base64url of a JSON object')
  const c: MppChallenge = { id, realm, method, intent, request }
  for (const k of ['expires', 'digest', 'description', 'opaque', 'header'] as const) {
    const v = params.get(k)
    if (v !== undefined) c[k] = v
  }
  return c
}

/**
 * Every `Payment` challenge in a `WWW-Authenticate` value (comma-joined lines included; other
 * schemes and unknown parameters are ignored). Throws {@link MppParseError} when there is no
 * Payment challenge or one is malformed (missing/empty id, missing required parameter,
 * duplicate parameter, undecodable request).
 *
 * @example const [challenge] = parseWwwAuthenticate(res.headers.get('www-authenticate')!)
 */
export function parseWwwAuthenticate(value: string): MppChallenge[] {
  if (typeof value !== 'string') throw new MppParseError('no header')
  const starts = schemeStarts(value)
  if (starts.length === 0) throw new MppParseError('no Payment challenge')
  return starts.map((start, i) => parseOne(value.slice(start, starts[i + 1] ?? value.length)))
}
