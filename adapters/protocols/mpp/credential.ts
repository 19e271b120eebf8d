/**
 * The MPP credential (`Authorization: Payment <base64url(JSON)>`, digest §4): parse and format.
 * A credential is a bearer secret: errors say what is wrong with its structure, never its content.
 */
import { base64urlEncode, base64urlJsonObject } from './base64url.js'
import { encodeRequest, MAX_REQUEST_PARAM_CHARS, MppParseError, type MppChallenge } from './challenge.js'
import { canonicalize } from './jcs.js'

/** A parsed credential: the echoed challenge (request decoded), the method's payload, the payer's `source`. */
export interface MppCredential {
  challenge: MppChallenge
  payload: Record<string, unknown>
  /** `did:pkh:eip155:<chainId>:<address>` (an assertion: verifiers tie it to the signature). */
  source?: string | undefined
}

/** Credentials larger than this are refused before decoding (servers must accept ≥ 4 KiB). */
export const MAX_CREDENTIAL_CHARS = 32 * 1024

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/

/**
 * The value of one `Payment` credential from an `Authorization` header value: the token after
 * the scheme. Throws {@link MppParseError} when the value is not `Payment <token68>` or carries
 * several Payment credentials.
 */
export function paymentToken(header: string): string {
  const value = header.trim()
  const m = /^payment(?:[ \t]+(.*))?$/is.exec(value)
  if (!m) throw new MppParseError('the Authorization header does not use the Payment scheme')
  const rest = (m[1] ?? '').trim()
  if (rest === '') throw new MppParseError('the Payment credential is empty')
  if (/,\s*payment(\s|$)/i.test(rest)) throw new MppParseError('several Payment credentials in one request')
  return rest
}

const str = (v: unknown): v is string => typeof v === 'string'

/**
 * Parse `Authorization: Payment <credential>`. Accepts padded or unpadded base64url, a legacy
 * object `opaque` (normalised to its base64url(JCS) string, as mppx does). Throws
 * {@link MppParseError} with the exact structural reason.
 *
 * @example const credential = parseAuthorization(req.get('authorization')!)
 */
export function parseAuthorization(header: string): MppCredential {
  const token = paymentToken(header)
  if (token.length > MAX_CREDENTIAL_CHARS) throw new MppParseError('the credential is too large')
  if (!TOKEN68.test(token)) throw new MppParseError('the credential is not a single base64url token')
  const json = base64urlJsonObject(token)
  if (!json) throw new MppParseError('the credential is not base64url of a JSON object')
  const ch = json['challenge']
  if (ch === null || typeof ch !== 'object' || Array.isArray(ch)) throw new MppParseError('the credential has no challenge object')
  const c = ch as Record<string, unknown>
  for (const k of ['id', 'realm', 'method', 'intent', 'request'] as const) {
    if (!str(c[k])) throw new MppParseError(`challenge.${k} is missing or not a string`)
  }
  if (c['id'] === '') throw new MppParseError('challenge.id is empty')
  const requestParam = c['request'] as string
  if (requestParam.length > MAX_REQUEST_PARAM_CHARS) throw new MppParseError('challenge.request is too large')
  const request = base64urlJsonObject(requestParam)
  if (!request) throw new MppParseError('challenge.request is not base64url of a JSON object')
  const challenge: MppChallenge = { id: c['id'] as string, realm: c['realm'] as string, method: c['method'] as string, intent: c['intent'] as string, request }
  for (const k of ['expires', 'digest', 'description', 'header'] as const) {
    if (c[k] === undefined) continue
    if (!str(c[k])) throw new MppParseError(`challenge.${k} is not a string`)
    challenge[k] = c[k]
  }
  const opaque = c['opaque']
  if (opaque !== undefined) {
    if (str(opaque)) challenge.opaque = opaque
    else if (opaque !== null && typeof opaque === 'object' && !Array.isArray(opaque) && Object.values(opaque).every(str)) challenge.opaque = encodeRequest(opaque as Record<string, unknown>)
    else throw new MppParseError('challenge.opaque is neither a string nor a string map')
  }
  const payload = json['payload']
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new MppParseError('the credential has no payload object')
  const source = json['source']
  if (source !== undefined && !str(source)) throw new MppParseError('source is not a string')
  return { challenge, payload: payload as Record<string, unknown>, ...(source !== undefined ? { source } : {}) }
}

/**
 * `Payment <base64url(JSON)>` for a credential: the challenge echoed with `request` as
 * base64url(JCS), as clients send it.
 *
 * @example headers.set('Authorization', formatAuthorization({ challenge, payload, source }))
 */
export function formatAuthorization(credential: MppCredential): string {
  const { request, ...rest } = credential.challenge
  const challenge = Object.fromEntries(Object.entries({ ...rest, request: encodeRequest(request) }).filter(([, v]) => v !== undefined))
  const wire = { challenge, payload: credential.payload, ...(credential.source !== undefined ? { source: credential.source } : {}) }
  return `Payment ${base64urlEncode(canonicalize(wire))}`
}
