import { keccak256, stringToHex, type Hex } from 'viem'

/**
 * The MPP wire pieces the suite needs, written here from the drafts (not from any SDK, and not
 * from the gateway): base64url without padding, JCS (RFC 8785), the RFC 9110 auth-param parser
 * for `WWW-Authenticate: Payment …`, the credential encoding and the EVM challenge hash.
 * `wire.test.ts` checks them against mppx 0.11.0's own encoders.
 */

/** The problem-type base URI of the Payment scheme (core §8.1). */
export const PROBLEM_BASE = 'https://paymentauth.org/problems/'

const B64URL = /^[A-Za-z0-9_-]*$/

/** base64url without padding (RFC 4648 §5) of UTF-8 text or bytes. */
export function b64urlEncode(data: string | Uint8Array): string {
  return Buffer.from(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url')
}

/**
 * Strict base64url-nopad decode: only `A–Z a–z 0–9 - _`, no `=`, and a length that is not 1 mod 4.
 * Throws with the reason otherwise.
 */
export function b64urlDecode(text: string): Buffer {
  if (text.includes('=')) throw new Error('has "=" padding (base64url without padding is required)')
  if (!B64URL.test(text)) throw new Error('has characters outside the base64url alphabet (A–Z a–z 0–9 - _)')
  if (text.length % 4 === 1) throw new Error(`has an impossible length (${text.length} ≡ 1 mod 4)`)
  return Buffer.from(text, 'base64url')
}

/**
 * JSON Canonicalization Scheme (RFC 8785): members sorted by UTF-16 code units, no whitespace,
 * numbers and strings as ECMAScript serialises them. `undefined` members are dropped.
 *
 * @example
 * jcs({ b: 1, a: [true, null, 'x'] }) // '{"a":[true,null,"x"],"b":1}'
 */
export function jcs(value: unknown): string {
  if (value === null || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`JCS cannot encode ${value}`)
    return JSON.stringify(value)
  }
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : jcs(v))).join(',')}]`
  if (typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${jcs(obj[k])}`).join(',')}}`
  }
  throw new Error(`JCS cannot encode a ${typeof value}`)
}

/** One challenge of a `WWW-Authenticate` field: its scheme and its auth-params (names lower-cased, values unescaped). */
export interface AuthChallenge {
  scheme: string
  params: Record<string, string>
  /** A token68 value instead of auth-params (`Basic dXNlcg==`). */
  token68?: string | undefined
  /** Problems found while parsing this challenge (duplicate parameters, unterminated quotes). */
  problems: string[]
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/
const TOKEN68 = /[A-Za-z0-9\-._~+/]/

/**
 * Parse a `WWW-Authenticate` field value into its challenges (RFC 9110 §11.6.1): several
 * challenges may be comma-joined in one value (what a client sees when the server sent several
 * field lines). Quoted strings are unescaped (`\x` → `x`); commas inside quotes never split.
 * Never throws: problems are reported per challenge.
 *
 * @example
 * parseWwwAuthenticate('Payment id="a", realm="r", method="evm", intent="charge", request="e30"')
 * // [{ scheme: 'Payment', params: { id: 'a', realm: 'r', … }, problems: [] }]
 */
export function parseWwwAuthenticate(value: string): AuthChallenge[] {
  const out: AuthChallenge[] = []
  let i = 0
  const n = value.length
  const ws = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++
  }
  const token = (): string => {
    const s = i
    while (i < n && TCHAR.test(value[i]!)) i++
    return value.slice(s, i)
  }
  let current: AuthChallenge | undefined
  while (i < n) {
    ws()
    if (value[i] === ',') {
      i++
      continue
    }
    const start = i
    const name = token()
    if (!name) {
      ;(current ?? out.at(-1))?.problems.push(`unexpected character ${JSON.stringify(value[i])} at ${i}`)
      i++
      continue
    }
    ws()
    if (value[i] === '=' && current && value[i + 1] !== '=') {
      // An auth-param of the current challenge.
      i++
      ws()
      let v: string
      if (value[i] === '"') {
        i++
        let s = ''
        let closed = false
        while (i < n) {
          const c = value[i]!
          if (c === '\\' && i + 1 < n) {
            s += value[i + 1]
            i += 2
            continue
          }
          if (c === '"') {
            closed = true
            i++
            break
          }
          s += c
          i++
        }
        if (!closed) current.problems.push(`the value of ${name} is an unterminated quoted-string`)
        v = s
      } else v = token()
      const key = name.toLowerCase()
      if (Object.hasOwn(current.params, key)) current.problems.push(`parameter ${key} appears twice`)
      else current.params[key] = v
      ws()
      if (i < n && value[i] !== ',') current.problems.push(`expected "," after ${key} at ${i}`)
      continue
    }
    // A new challenge: `scheme [ token68 / auth-params ]`.
    i = start + name.length
    current = { scheme: name, params: {}, problems: [] }
    out.push(current)
    ws()
    // token68: a run of token68 characters with optional trailing '=', followed by the end or ','.
    const t0 = i
    while (i < n && TOKEN68.test(value[i]!)) i++
    while (i < n && value[i] === '=') i++
    const after = i
    ws()
    if (after > t0 && (i >= n || value[i] === ',')) current.token68 = value.slice(t0, after)
    else i = t0
  }
  return out
}

/** The `Payment` challenges of a `WWW-Authenticate` value (scheme compared case-insensitively). */
export function paymentChallenges(value: string | undefined): AuthChallenge[] {
  if (value === undefined) return []
  return parseWwwAuthenticate(value).filter((c) => c.scheme.toLowerCase() === 'payment')
}

/** The echoed challenge inside a credential: every challenge parameter, unchanged. */
export type EchoedChallenge = Record<string, string>

/** The parameters a credential echoes (core §5.2): the required five and the optional ones present. */
export const ECHOED_PARAMS = ['id', 'realm', 'method', 'intent', 'request', 'description', 'digest', 'expires', 'opaque', 'header'] as const

/** The echo of `challenge` for a credential: its known parameters exactly as received. */
export function echoOf(challenge: AuthChallenge): EchoedChallenge {
  const echo: EchoedChallenge = {}
  for (const k of ECHOED_PARAMS) if (challenge.params[k] !== undefined) echo[k] = challenge.params[k]
  return echo
}

/** A credential (core §5.2). */
export interface Credential {
  challenge: EchoedChallenge
  source?: string | undefined
  payload: unknown
}

/** The `Authorization` value of a credential: `Payment <base64url-nopad(JSON)>`. */
export function credentialHeader(credential: Credential): string {
  const wire = { challenge: credential.challenge, ...(credential.source === undefined ? {} : { source: credential.source }), payload: credential.payload }
  return `Payment ${b64urlEncode(JSON.stringify(wire))}`
}

/** Decode a base64url-nopad JSON object (a `request`, a receipt); throws with the reason. */
export function decodeB64urlJson(text: string): { value: Record<string, unknown>; bytes: Buffer } {
  const bytes = b64urlDecode(text)
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw new Error('does not decode to JSON')
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`decodes to ${JSON.stringify(value)?.slice(0, 80)}, not a JSON object`)
  return { value: value as Record<string, unknown>, bytes }
}

/**
 * The EVM charge challenge hash (evm charge §5.3.1): `keccak256(abi.encodePacked(id, realm))`,
 * i.e. keccak256 of the UTF-8 bytes of `id` followed by `realm`. It is the EIP-3009 nonce.
 */
export function challengeHash(challenge: { id: string; realm: string }): Hex {
  return keccak256(stringToHex(`${challenge.id}${challenge.realm}`))
}

/** RFC 3339 date-time (with a zone). */
export const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
