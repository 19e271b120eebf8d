import { randomUUID, sign, verify, type KeyObject } from 'node:crypto'

/**
 * Alipay's signatures on node:crypto (Alipay digest §1.4, §1.5, §1.7, §2.4, §5). Everything is
 * SHA256withRSA (RSASSA-PKCS1-v1_5, "RSA2"), standard base64.
 */

/** SHA256withRSA over the UTF-8 bytes of `content`, standard base64. */
export function rsa2Sign(content: string, key: KeyObject): string {
  return sign('sha256', Buffer.from(content, 'utf8'), key).toString('base64')
}

/** Verify a base64 SHA256withRSA signature; malformed input is `false`, never an exception. */
export function rsa2Verify(content: string, signatureB64: string, key: KeyObject): boolean {
  if (typeof signatureB64 !== 'string' || signatureB64 === '') return false
  try {
    return verify('sha256', Buffer.from(content, 'utf8'), key, Buffer.from(signatureB64, 'base64'))
  } catch {
    return false
  }
}

/**
 * The v2 string to sign (digest §1.4): every parameter except `sign` (and those in `exclude`),
 * empty or absent values dropped, sorted by name in code-unit (ASCII) order, `k=v` joined with
 * `&`, raw values (never URL-encoded, `biz_content` exactly as sent).
 *
 * @example v2SignContent({ method: 'alipay.trade.query', app_id: '9021…', sign_type: 'RSA2' }) // 'app_id=9021…&method=alipay.trade.query&sign_type=RSA2'
 */
export function v2SignContent(params: Readonly<Record<string, string | undefined>>, exclude: readonly string[] = ['sign']): string {
  const keys = Object.keys(params).filter((k) => !exclude.includes(k) && params[k] !== undefined && params[k] !== '')
  keys.sort()
  let out = ''
  for (const k of keys) out += `${out ? '&' : ''}${k}=${params[k]}`
  return out
}

/** Sign v2 request parameters (all of them, `sign_type` included). */
export function signV2(params: Readonly<Record<string, string | undefined>>, key: KeyObject): string {
  return rsa2Sign(v2SignContent(params), key)
}

// --- v2 response envelope ---------------------------------------------------------------------------

/** Index just past the JSON value starting at `i` (whitespace already skipped); -1 when malformed. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i)
  if (c === 0x22 /* " */) {
    // The next quote not escaped by an odd run of backslashes ends the string.
    for (let j = s.indexOf('"', i + 1); j >= 0; j = s.indexOf('"', j + 1)) {
      let k = j - 1
      while (s.charCodeAt(k) === 0x5c /* \ */) k--
      if ((j - 1 - k) % 2 === 0) return j + 1
    }
    return -1
  }
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    let depth = 0
    for (let j = i; j < s.length; j++) {
      const d = s.charCodeAt(j)
      if (d === 0x22) {
        j = skipValue(s, j) - 1
        if (j < 0) return -1
      } else if (d === 0x7b || d === 0x5b) depth++
      else if (d === 0x7d || d === 0x5d) {
        depth--
        if (depth === 0) return j + 1
      }
    }
    return -1
  }
  let j = i
  for (; j < s.length; j++) {
    const d = s.charCodeAt(j)
    if (d === 0x2c /* , */ || d === 0x7d /* } */ || d === 0x5d /* ] */ || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break
  }
  return j > i ? j : -1
}

const skipWs = (s: string, i: number): number => {
  while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\r' || s[i] === '\t')) i++
  return i
}

/**
 * The raw top-level members of a JSON object text, as `[name, rawValueText]` pairs, without
 * re-serialising anything (the signed bytes must stay exactly as received). `undefined` when the
 * text is not a JSON object.
 */
export function rawTopLevelMembers(text: string): Map<string, string> | undefined {
  const out = new Map<string, string>()
  let i = skipWs(text, 0)
  if (text[i] !== '{') return undefined
  i = skipWs(text, i + 1)
  if (text[i] === '}') return out
  for (;;) {
    if (text[i] !== '"') return undefined
    const keyEnd = skipValue(text, i)
    if (keyEnd < 0) return undefined
    let name: string
    try {
      name = JSON.parse(text.slice(i, keyEnd)) as string
    } catch {
      return undefined
    }
    i = skipWs(text, keyEnd)
    if (text[i] !== ':') return undefined
    i = skipWs(text, i + 1)
    const end = skipValue(text, i)
    if (end < 0) return undefined
    out.set(name, text.slice(i, end))
    i = skipWs(text, end)
    if (text[i] === ',') {
      i = skipWs(text, i + 1)
      continue
    }
    if (text[i] === '}') return out
    return undefined
  }
}

/** What checking a v2 answer found. Only `ok` answers may be believed. */
export type V2ResponseCheck =
  | { ok: true; key: string; body: Record<string, unknown> }
  | { ok: false; reason: 'unparsable' | 'no_envelope' | 'unsigned' | 'bad_signature'; key?: string | undefined; body?: Record<string, unknown> | undefined }

/**
 * Verify a v2 answer (digest §1.5): the signed bytes are the raw text of the `<method>_response`
 * (or `error_response`) value exactly as received; `sign` is Alipay's SHA256withRSA over them.
 * An unsigned or tampered answer is reported, never trusted.
 */
export function verifyV2Response(raw: string, method: string, alipayPublicKey: KeyObject): V2ResponseCheck {
  const members = rawTopLevelMembers(raw)
  if (!members) return { ok: false, reason: 'unparsable' }
  const wanted = `${method.replaceAll('.', '_')}_response`
  const key = members.has(wanted) ? wanted : members.has('error_response') ? 'error_response' : undefined
  if (!key) return { ok: false, reason: 'no_envelope' }
  const text = members.get(key)!
  let body: Record<string, unknown>
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'unparsable', key }
    body = parsed as Record<string, unknown>
  } catch {
    return { ok: false, reason: 'unparsable', key }
  }
  const signRaw = members.get('sign')
  let sig: unknown
  try {
    sig = signRaw === undefined ? undefined : JSON.parse(signRaw)
  } catch {
    sig = undefined
  }
  if (typeof sig !== 'string' || sig === '') return { ok: false, reason: 'unsigned', key, body }
  if (!rsa2Verify(text, sig, alipayPublicKey)) return { ok: false, reason: 'bad_signature', key, body }
  return { ok: true, key, body }
}

// --- notifications --------------------------------------------------------------------------------

/**
 * Verify an asynchronous notification (digest §2.4): the form parsed once (no second URL-decode),
 * `sign` and `sign_type` removed (rsaCheckV1); if that fails, with `sign_type` kept (rsaCheckV2),
 * as alipay-sdk's `checkNotifySignV2` does.
 */
export function verifyNotification(form: Readonly<Record<string, string>>, alipayPublicKey: KeyObject): boolean {
  const sig = form['sign']
  if (!sig) return false
  if (rsa2Verify(v2SignContent(form, ['sign', 'sign_type']), sig, alipayPublicKey)) return true
  return form['sign_type'] !== undefined && rsa2Verify(v2SignContent(form, ['sign']), sig, alipayPublicKey)
}

// --- v3 ----------------------------------------------------------------------------------------------

/** The v3 `Authorization` header (digest §1.7) for one request. */
export function signV3Request(p: {
  appId: string
  key: KeyObject
  httpMethod: string
  /** Path and query exactly as sent (`/v3/alipay/trade/query`). */
  pathAndQuery: string
  body: string
  appAuthToken?: string | undefined
  nonce?: string | undefined
  timestampMs?: number | undefined
}): string {
  const authString = `app_id=${p.appId},nonce=${p.nonce ?? randomUUID()},timestamp=${p.timestampMs ?? Date.now()}`
  const content = `${authString}\n${p.httpMethod}\n${p.pathAndQuery}\n${p.body}\n${p.appAuthToken ? `${p.appAuthToken}\n` : ''}`
  return `ALIPAY-SHA256withRSA ${authString},sign=${rsa2Sign(content, p.key)}`
}

/** Verify a v3 answer: `alipay-signature` over `timestamp\nnonce\nbody\n` (digest §1.7). */
export function verifyV3Response(h: { timestamp?: string | undefined; nonce?: string | undefined; signature?: string | undefined }, body: string, alipayPublicKey: KeyObject): boolean {
  if (!h.timestamp || !h.nonce || !h.signature) return false
  return rsa2Verify(`${h.timestamp}\n${h.nonce}\n${body}\n`, h.signature, alipayPublicKey)
}

// --- Antom -------------------------------------------------------------------------------------------

/** Antom's string to sign (digest §5): `"<METHOD> <path>\n<Client-Id>.<time>.<body>"`. */
export function antomSignContent(httpMethod: string, path: string, clientId: string, time: string, body: string): string {
  return `${httpMethod} ${path}\n${clientId}.${time}.${body}`
}

/** The `Signature` header: `algorithm=RSA256,keyVersion=N,signature=<url-encoded base64>`. */
export function signAntom(p: { httpMethod: string; path: string; clientId: string; time: string; body: string; key: KeyObject; keyVersion?: string | undefined }): string {
  const sig = rsa2Sign(antomSignContent(p.httpMethod, p.path, p.clientId, p.time, p.body), p.key)
  return `algorithm=RSA256,keyVersion=${p.keyVersion ?? '1'},signature=${encodeURIComponent(sig)}`
}

/** Verify an Antom `Signature` header (answers and notifications). */
export function verifyAntom(p: { httpMethod: string; path: string; clientId: string; time: string; body: string; header: string | undefined; key: KeyObject }): boolean {
  if (!p.header || !p.time) return false
  let algorithm: string | undefined
  let signature: string | undefined
  for (const part of p.header.split(',')) {
    const i = part.indexOf('=')
    if (i <= 0) return false
    const k = part.slice(0, i).trim()
    const v = part.slice(i + 1).trim()
    if (k === 'algorithm') algorithm = v
    else if (k === 'signature') signature = v
  }
  if (algorithm !== 'RSA256' || !signature) return false
  let b64: string
  try {
    b64 = decodeURIComponent(signature.replace(/\+/g, '%20'))
  } catch {
    return false
  }
  return rsa2Verify(antomSignContent(p.httpMethod, p.path, p.clientId, p.time, p.body), b64, p.key)
}

// --- time ----------------------------------------------------------------------------------------------

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n))

/** `yyyy-MM-dd HH:mm:ss` in Beijing time (GMT+8), whatever the process time zone (digest §3.4). */
export function beijingTimestamp(d: Date): string {
  const b = new Date(d.getTime() + 8 * 3_600_000)
  return `${b.getUTCFullYear()}-${pad(b.getUTCMonth() + 1)}-${pad(b.getUTCDate())} ${pad(b.getUTCHours())}:${pad(b.getUTCMinutes())}:${pad(b.getUTCSeconds())}`
}

/** Parse an Alipay `yyyy-MM-dd HH:mm:ss` (Beijing time) to an ISO-8601 UTC string; `undefined` when malformed. */
export function beijingToIso(s: unknown): string | undefined {
  if (typeof s !== 'string') return undefined
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s)
  if (!m) return undefined
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) - 8 * 3_600_000
  return Number.isFinite(t) ? new Date(t).toISOString() : undefined
}
