import { webcrypto } from 'node:crypto'
import { parseDictionary, serializeInnerList, Token, type InnerList, type Item } from 'structured-headers'

/**
 * The tester's own RFC 9421 / RFC 9530 implementation, as UCP profiles them (signatures.md): ES256
 * over P-256 (ES384 over P-384 accepted when verifying), label `sig1`, `keyid`, `created`, the
 * signature value raw `r‖s`. It is written from the RFCs, separately from the gateway's adapter,
 * on a different stack (WebCrypto + the `structured-headers` RFC 8941 codec), so a bug in the
 * gateway's signer or verifier cannot hide behind the same bug here.
 */

const subtle = webcrypto.subtle

/** An EC key as a UCP profile publishes it in `signing_keys[]`. */
export interface ProfileJwk {
  kty: string
  kid: string
  crv?: string | undefined
  x?: string | undefined
  y?: string | undefined
  alg?: string | undefined
  use?: string | undefined
}

/** A private EC key (JWK with `d`). */
export interface PrivateEcJwk extends ProfileJwk {
  crv: string
  x: string
  y: string
  d: string
}

type Curve = { named: 'P-256' | 'P-384'; hash: 'SHA-256' | 'SHA-384' }
const CURVES: Readonly<Record<string, Curve>> = {
  'P-256': { named: 'P-256', hash: 'SHA-256' },
  'P-384': { named: 'P-384', hash: 'SHA-384' },
}

/** RFC 9530 `Content-Digest` with one sha-256 member over the raw bytes. */
export async function digestHeader(body: Uint8Array): Promise<string> {
  const d = Buffer.from(await subtle.digest('SHA-256', body))
  return `sha-256=:${d.toString('base64')}:`
}

/** Whether an RFC 9530 `Content-Digest` matches the bytes (every sha-256 / sha-512 member must). */
export async function digestMatches(header: string, body: Uint8Array): Promise<boolean> {
  let dict
  try {
    dict = parseDictionary(header)
  } catch {
    return false
  }
  let seen = 0
  for (const [alg, member] of dict) {
    const algo = alg === 'sha-256' ? 'SHA-256' : alg === 'sha-512' ? 'SHA-512' : undefined
    if (!algo) continue
    const value = member[0]
    if (!(value instanceof ArrayBuffer)) return false
    seen++
    const expected = Buffer.from(await subtle.digest(algo, body))
    if (!expected.equals(Buffer.from(value))) return false
  }
  return seen > 0
}

/** The parts of a message the signature base draws on. */
export interface SignedMessage {
  method?: string | undefined
  /** Host and port as sent (`example.com`, `127.0.0.1:8402`). */
  authority?: string | undefined
  path?: string | undefined
  /** The query string without `?` (empty: none). */
  query?: string | undefined
  status?: number | undefined
  header(name: string): string | undefined
}

function componentValue(name: string, m: SignedMessage): string | undefined {
  switch (name) {
    case '@method':
      return m.method?.toUpperCase()
    case '@authority':
      return m.authority?.toLowerCase()
    case '@path':
      return m.path
    case '@query':
      return m.query === undefined ? undefined : `?${m.query}`
    case '@status':
      return m.status === undefined ? undefined : String(m.status)
    default:
      return m.header(name)?.trim()
  }
}

/** RFC 9421 §2.5 signature base for `components` and the serialized `@signature-params`. */
function signatureBase(components: readonly string[], m: SignedMessage, params: string): string | { missing: string } {
  const lines: string[] = []
  for (const c of components) {
    const v = componentValue(c, m)
    if (v === undefined) return { missing: c }
    lines.push(`"${c}": ${v}`)
  }
  lines.push(`"@signature-params": ${params}`)
  return lines.join('\n')
}

async function importKey(jwk: ProfileJwk, usage: 'sign' | 'verify'): Promise<{ key: webcrypto.CryptoKey; curve: Curve } | string> {
  const curve = jwk.kty === 'EC' && jwk.crv ? CURVES[jwk.crv] : undefined
  if (!curve) return `key ${jwk.kid} is ${jwk.kty}/${jwk.crv ?? '?'}, not EC P-256 or P-384`
  try {
    const key = await subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, ...('d' in jwk ? { d: (jwk as PrivateEcJwk).d } : {}), ext: true } as webcrypto.JsonWebKey, { name: 'ECDSA', namedCurve: curve.named }, false, [usage])
    return { key, curve }
  } catch (e) {
    return `key ${jwk.kid} does not import: ${e instanceof Error ? e.message : String(e)}`
  }
}

/**
 * Sign an outgoing request as a UCP platform: adds `Content-Digest` (when there is a body),
 * `Signature-Input` and `Signature` over `@method @authority @path [@query] [ucp-agent]
 * [idempotency-key] [content-digest content-type]`.
 */
export async function signUcpRequest(p: { method: string; url: string; headers: Record<string, string>; body: Uint8Array; key: PrivateEcJwk; created?: number | undefined }): Promise<Record<string, string>> {
  const u = new URL(p.url)
  const headers: Record<string, string> = { ...p.headers }
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  if (p.body.length > 0) {
    headers['Content-Digest'] = await digestHeader(p.body)
    lower.set('content-digest', headers['Content-Digest'])
  }
  const components = ['@method', '@authority', '@path']
  if (u.search.length > 1) components.push('@query')
  if (lower.has('ucp-agent')) components.push('ucp-agent')
  if (p.method !== 'GET' && lower.has('idempotency-key')) components.push('idempotency-key')
  if (p.body.length > 0) components.push('content-digest', 'content-type')
  const inner: InnerList = [
    components.map((c): Item => [c, new Map()]),
    new Map<string, string | number>([
      ['keyid', p.key.kid],
      ['created', p.created ?? Math.floor(Date.now() / 1000)],
    ]),
  ]
  const params = serializeInnerList(inner)
  const base = signatureBase(components, { method: p.method, authority: u.host, path: u.pathname, query: u.search.slice(1), header: (n) => lower.get(n) }, params)
  if (typeof base !== 'string') throw new Error(`cannot sign: ${base.missing} is missing`)
  const imported = await importKey(p.key, 'sign')
  if (typeof imported === 'string') throw new Error(imported)
  const sig = Buffer.from(await subtle.sign({ name: 'ECDSA', hash: imported.curve.hash }, imported.key, Buffer.from(base, 'utf8')))
  headers['Signature-Input'] = `sig1=${params}`
  headers['Signature'] = `sig1=:${sig.toString('base64')}:`
  return headers
}

export type SignatureCheck = { ok: true; keyid: string; components: string[] } | { ok: false; reason: string }

/**
 * Verify a signed message (a request the target sent us — a webhook — or a response) against the
 * keys the target publishes. `required` components must all be covered.
 */
export async function verifyUcpSignature(m: SignedMessage, body: Uint8Array, keys: readonly ProfileJwk[], required: readonly string[] = []): Promise<SignatureCheck> {
  const input = m.header('signature-input')
  const signature = m.header('signature')
  if (!input || !signature) return { ok: false, reason: 'no Signature-Input / Signature header' }
  let inputs, sigs
  try {
    inputs = parseDictionary(input)
    sigs = parseDictionary(signature)
  } catch (e) {
    return { ok: false, reason: `unparsable signature headers: ${e instanceof Error ? e.message : String(e)}` }
  }
  const first = [...inputs.entries()][0]
  if (!first) return { ok: false, reason: 'Signature-Input has no member' }
  const [label, member] = first
  if (!Array.isArray(member[0])) return { ok: false, reason: `Signature-Input ${label} is not an inner list` }
  const list = member as InnerList
  const components = list[0].map(([v]) => (v instanceof Token ? v.toString() : String(v)))
  const keyid = list[1].get('keyid')
  if (typeof keyid !== 'string') return { ok: false, reason: 'Signature-Input has no keyid' }
  for (const r of required) if (!components.includes(r)) return { ok: false, reason: `the signature does not cover ${r}` }
  const sigItem = sigs.get(label)
  if (!sigItem || !(sigItem[0] instanceof ArrayBuffer)) return { ok: false, reason: `Signature has no byte sequence for ${label}` }
  const jwk = keys.find((k) => k.kid === keyid)
  if (!jwk) return { ok: false, reason: `no published key ${keyid}` }
  if (components.includes('content-digest')) {
    const cd = m.header('content-digest')
    if (!cd || !(await digestMatches(cd, body))) return { ok: false, reason: 'Content-Digest does not match the body' }
  }
  const base = signatureBase(components, m, serializeInnerList(list))
  if (typeof base !== 'string') return { ok: false, reason: `covered component ${base.missing} is absent` }
  const imported = await importKey(jwk, 'verify')
  if (typeof imported === 'string') return { ok: false, reason: imported }
  const ok = await subtle.verify({ name: 'ECDSA', hash: imported.curve.hash }, imported.key, sigItem[0], Buffer.from(base, 'utf8'))
  return ok ? { ok: true, keyid, components } : { ok: false, reason: 'the signature does not verify' }
}

/** RFC 8785 JSON canonicalization (JCS) of plain JSON values. */
export function jcs(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('JCS: non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(jcs).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
  // RFC 8785 §3.2.3: members sorted by their names' UTF-16 code units.
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${jcs(v)}`).join(',')}}`
}

/**
 * Verify `ap2.merchant_authorization`: a detached ES256 JWS (`<header>..<signature>`) whose payload
 * is JCS(checkout without `ap2`), by a key the business publishes.
 */
export async function verifyDetachedMerchantJws(checkout: Record<string, unknown>, jws: string, keys: readonly ProfileJwk[]): Promise<{ ok: true; kid: string } | { ok: false; reason: string }> {
  const parts = jws.split('.')
  if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) return { ok: false, reason: 'not a detached JWS (header..signature)' }
  let header: { alg?: unknown; kid?: unknown }
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as typeof header
  } catch {
    return { ok: false, reason: 'the JWS header is not JSON' }
  }
  if (header.alg !== 'ES256') return { ok: false, reason: `alg ${String(header.alg)} is not ES256` }
  const jwk = keys.find((k) => k.kid === header.kid)
  if (!jwk) return { ok: false, reason: `no published key ${String(header.kid)}` }
  const { ap2: _ap2, ...rest } = checkout
  const signingInput = `${parts[0]}.${Buffer.from(jcs(rest), 'utf8').toString('base64url')}`
  const imported = await importKey(jwk, 'verify')
  if (typeof imported === 'string') return { ok: false, reason: imported }
  const ok = await subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, imported.key, Buffer.from(parts[2], 'base64url'), Buffer.from(signingInput, 'utf8'))
  return ok ? { ok: true, kid: jwk.kid } : { ok: false, reason: 'the signature does not verify' }
}
