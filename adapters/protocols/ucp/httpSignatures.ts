import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'

/**
 * RFC 9421 HTTP message signatures as UCP profiles them (DIGEST §11): ES256 (P-256) mandatory,
 * ES384 (P-384) accepted, the algorithm taken from the JWK `crv`, label `sig1`, `keyid`, optional
 * `created`; signature value raw `r‖s` (IEEE P1363), never DER. `Content-Digest` (RFC 9530) is
 * always computed over the **raw body bytes** the caller received or will send.
 */

/** An EC public key as published in a profile's `signing_keys`. */
export interface EcPublicJwk {
  kty: string
  crv?: string | undefined
  x?: string | undefined
  y?: string | undefined
  kid: string
  alg?: string | undefined
  use?: string | undefined
}

/** Our private signing key (JWK with `d`). */
export interface EcPrivateJwk extends EcPublicJwk {
  crv: string
  x: string
  y: string
  d: string
}

/** The UCP transport error codes of §11 with their HTTP status. */
export const SIGNATURE_ERRORS = {
  signature_missing: 401,
  signature_invalid: 401,
  key_not_found: 401,
  digest_mismatch: 400,
  algorithm_unsupported: 400,
} as const
export type SignatureErrorCode = keyof typeof SIGNATURE_ERRORS

export type VerifyResult = { ok: true; keyid: string; components: string[] } | { ok: false; code: SignatureErrorCode; content: string }

const HASH_OF_CRV: Readonly<Record<string, string>> = { 'P-256': 'sha256', 'P-384': 'sha384' }
/** How far a `created` parameter may be from now (replay protection lives in Idempotency-Key). */
const MAX_SKEW_SECONDS = 300

/** `sha-256=:<base64>:` over `body`. */
export function contentDigest(body: Uint8Array): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`
}

/** Check an RFC 9530 `Content-Digest` (sha-256 or sha-512) against the raw body bytes. */
export function checkContentDigest(header: string, body: Uint8Array): { ok: true } | { ok: false; content: string } {
  const entries = [...header.matchAll(/(sha-256|sha-512)\s*=\s*:([A-Za-z0-9+/=]+):/g)]
  if (entries.length === 0) return { ok: false, content: 'Content-Digest has no sha-256 or sha-512 member' }
  for (const [, alg, value] of entries) {
    const expected = createHash(alg === 'sha-512' ? 'sha512' : 'sha256')
      .update(body)
      .digest('base64')
    if (expected !== value) return { ok: false, content: `Content-Digest ${alg} does not match the request body` }
  }
  return { ok: true }
}

/** A key object for a JWK (private when it has `d`), or a reason. */
export function importJwk(jwk: EcPublicJwk | EcPrivateJwk): KeyObject | string {
  if (jwk.kty !== 'EC' || !jwk.crv || !HASH_OF_CRV[jwk.crv]) return `unsupported key type ${jwk.kty}/${jwk.crv ?? '?'}`
  try {
    const base = { kty: 'EC', crv: jwk.crv, x: jwk.x ?? '', y: jwk.y ?? '' }
    return 'd' in jwk && typeof jwk.d === 'string' ? createPrivateKey({ key: { ...base, d: jwk.d }, format: 'jwk' }) : createPublicKey({ key: base, format: 'jwk' })
  } catch {
    return 'malformed JWK'
  }
}

/** The public half of our private JWK, as published in `signing_keys`. */
export function publicJwk(jwk: EcPrivateJwk): EcPublicJwk & { crv: string; x: string; y: string } {
  const alg = jwk.crv === 'P-384' ? 'ES384' : 'ES256'
  return { kid: jwk.kid, kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y, use: 'sig', alg }
}

/** What a signature base is built from. */
export interface MessageParts {
  method?: string | undefined
  /** `host[:port]` as sent (lower-cased here). */
  authority?: string | undefined
  path?: string | undefined
  /** `?a=b` or empty. */
  query?: string | undefined
  status?: number | undefined
  header(name: string): string | undefined
}

function componentValue(name: string, m: MessageParts): string | undefined {
  switch (name) {
    case '@method':
      return m.method?.toUpperCase()
    case '@authority':
      return m.authority?.toLowerCase()
    case '@path':
      return m.path
    case '@query':
      return m.query ? m.query : '?'
    case '@status':
      return m.status === undefined ? undefined : String(m.status)
    default:
      return m.header(name)?.trim()
  }
}

function serializeParams(components: readonly string[], params: { created?: number | undefined; keyid: string }): string {
  const list = `(${components.map((c) => `"${c}"`).join(' ')})`
  return `${list}${params.created === undefined ? '' : `;created=${params.created}`};keyid="${params.keyid}"`
}

/** The RFC 9421 §2.5 signature base, or the first component the message lacks. */
export function signatureBase(components: readonly string[], m: MessageParts, signatureParams: string): { base: string } | { missing: string } {
  const lines: string[] = []
  for (const c of components) {
    const v = componentValue(c, m)
    if (v === undefined) return { missing: c }
    lines.push(`"${c}": ${v}`)
  }
  lines.push(`"@signature-params": ${signatureParams}`)
  return { base: lines.join('\n') }
}

/** Sign a message with our key: returns `Signature-Input` and `Signature` (label `sig1`). */
export function signMessage(components: readonly string[], m: MessageParts, key: EcPrivateJwk, created: number = Math.floor(Date.now() / 1000)): { 'Signature-Input': string; Signature: string } {
  const k = importJwk(key)
  if (typeof k === 'string') throw new Error(`signing key: ${k}`)
  const params = serializeParams(components, { created, keyid: key.kid })
  const b = signatureBase(components, m, params)
  if ('missing' in b) throw new Error(`cannot sign: component ${b.missing} is missing`)
  const sig = sign(HASH_OF_CRV[key.crv] ?? 'sha256', Buffer.from(b.base, 'utf8'), { key: k, dsaEncoding: 'ieee-p1363' })
  return { 'Signature-Input': `sig1=${params}`, Signature: `sig1=:${sig.toString('base64')}:` }
}

/** Parse one labelled member of `Signature-Input`. */
export function parseSignatureInput(header: string): { label: string; components: string[]; params: string; keyid?: string | undefined; created?: number | undefined; alg?: string | undefined } | undefined {
  const m = /^\s*([a-z*][a-z0-9_.*-]*)=(\(([^)]*)\)((?:;[a-z*][a-z0-9_.*-]*=(?:"[^"]*"|-?\d+|[A-Za-z0-9_.:/*-]+))*))/.exec(header)
  if (!m) return undefined
  const [, label, params, inner, rest] = m
  if (!label || params === undefined || inner === undefined) return undefined
  const components = [...inner.matchAll(/"([^"]+)"/g)].map((x) => x[1] ?? '')
  const p = new Map([...(rest ?? '').matchAll(/;([a-z*][a-z0-9_.*-]*)=("([^"]*)"|[^;]+)/g)].map((x) => [x[1] ?? '', x[3] ?? x[2] ?? '']))
  const created = p.get('created')
  return { label, components, params, keyid: p.get('keyid'), created: created === undefined ? undefined : Number(created), alg: p.get('alg') }
}

/** Extract `label=:b64:` from `Signature`. */
function signatureValue(header: string, label: string): Buffer | undefined {
  for (const m of header.matchAll(/([a-z*][a-z0-9_.*-]*)=:([A-Za-z0-9+/=]*):/g)) if (m[1] === label) return Buffer.from(m[2] ?? '', 'base64')
  return undefined
}

/** Parameters of {@link verifyRequestSignature}. */
export interface VerifyRequestParams extends MessageParts {
  /** Raw body bytes (empty for none). */
  body: Uint8Array
  /** The signer's published keys. */
  keys: readonly EcPublicJwk[]
  now?: number | undefined
  /** Components that must be covered (default: the UCP request rules; responses pass `@status content-digest content-type`). */
  required?: readonly string[] | undefined
}

/**
 * Verify a UCP request signature (DIGEST §11): required components present and covered
 * (`@method @authority @path`, `@query` when there is a query, `ucp-agent` and `idempotency-key`
 * when sent, `content-digest content-type` when there is a body), the digest matches the raw body,
 * the key is published, the ES256/ES384 signature verifies, `created` is fresh.
 */
export function verifyRequestSignature(p: VerifyRequestParams): VerifyResult {
  const input = p.header('signature-input')
  const sigHeader = p.header('signature')
  if (!input || !sigHeader) return { ok: false, code: 'signature_missing', content: 'the request must carry Signature-Input and Signature (RFC 9421)' }
  const parsed = parseSignatureInput(input)
  if (!parsed) return { ok: false, code: 'signature_invalid', content: 'Signature-Input is malformed' }
  const sig = signatureValue(sigHeader, parsed.label)
  if (!sig) return { ok: false, code: 'signature_invalid', content: `Signature has no member ${parsed.label}` }
  if (parsed.alg !== undefined && parsed.alg !== 'ecdsa-p256-sha256' && parsed.alg !== 'ecdsa-p384-sha384')
    return { ok: false, code: 'algorithm_unsupported', content: `algorithm ${parsed.alg} is not supported` }
  const required = p.required ? [...p.required] : ['@method', '@authority', '@path']
  if (!p.required) {
    if (p.query) required.push('@query')
    if (p.header('ucp-agent') !== undefined) required.push('ucp-agent')
    const method = (p.method ?? '').toUpperCase()
    if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) && p.header('idempotency-key') !== undefined) required.push('idempotency-key')
    if (p.body.length > 0) required.push('content-digest', 'content-type')
  }
  const uncovered = required.filter((c) => !parsed.components.includes(c))
  if (uncovered.length) return { ok: false, code: 'signature_invalid', content: `the signature must cover ${uncovered.join(', ')}` }
  if (p.body.length > 0) {
    const digest = p.header('content-digest')
    if (!digest) return { ok: false, code: 'digest_mismatch', content: 'Content-Digest is required with a body' }
    const d = checkContentDigest(digest, p.body)
    if (!d.ok) return { ok: false, code: 'digest_mismatch', content: d.content }
  }
  const jwk = parsed.keyid === undefined ? undefined : p.keys.find((k) => k.kid === parsed.keyid)
  if (!jwk) return { ok: false, code: 'key_not_found', content: `no published signing key has kid ${JSON.stringify(parsed.keyid ?? '')}` }
  const key = importJwk(jwk)
  if (typeof key === 'string') return { ok: false, code: 'algorithm_unsupported', content: key }
  const now = p.now ?? Math.floor(Date.now() / 1000)
  if (parsed.created !== undefined && (!Number.isFinite(parsed.created) || Math.abs(now - parsed.created) > MAX_SKEW_SECONDS))
    return { ok: false, code: 'signature_invalid', content: 'the signature `created` time is outside the allowed window' }
  const b = signatureBase(parsed.components, p, parsed.params)
  if ('missing' in b) return { ok: false, code: 'signature_invalid', content: `covered component ${b.missing} is missing from the request` }
  const ok = verify(HASH_OF_CRV[jwk.crv ?? ''] ?? 'sha256', Buffer.from(b.base, 'utf8'), { key, dsaEncoding: 'ieee-p1363' }, sig)
  return ok ? { ok: true, keyid: jwk.kid, components: parsed.components } : { ok: false, code: 'signature_invalid', content: 'the signature does not verify' }
}

/** Sign an outgoing request (webhook, test client): adds Content-Digest, Signature-Input, Signature. */
export function signRequest(p: { method: string; url: string; headers: Record<string, string>; body: Uint8Array; key: EcPrivateJwk; created?: number | undefined }): Record<string, string> {
  const u = new URL(p.url)
  const headers: Record<string, string> = { ...p.headers }
  const lower = (n: string): string | undefined => {
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === n) return v
    return undefined
  }
  const components = ['@method', '@authority', '@path']
  if (u.search) components.push('@query')
  if (lower('ucp-agent') !== undefined) components.push('ucp-agent')
  if (lower('idempotency-key') !== undefined) components.push('idempotency-key')
  if (p.body.length > 0) {
    headers['Content-Digest'] = contentDigest(p.body)
    components.push('content-digest', 'content-type')
  }
  const signed = signMessage(components, { method: p.method, authority: u.host, path: u.pathname, query: u.search, header: lower }, p.key, p.created)
  return { ...headers, ...signed }
}
