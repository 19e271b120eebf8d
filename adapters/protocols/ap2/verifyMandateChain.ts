import type { KeyObject } from 'node:crypto'
import { fail, type Ap2Failure } from './errors.js'
import { es256Verify, hashB64u, importEs256PublicKey, isObject, isSdHashAlg, jwkThumbprint, type Es256PublicJwk, type SdHashAlg } from './jose.js'
import {
  CHECKOUT_CONSTRAINT_TYPES,
  PAYMENT_CONSTRAINT_TYPES,
  VCT,
  type ClosedCheckoutMandate,
  type ClosedPaymentMandate,
  type Jwk,
  type MandateKind,
  type OpenCheckoutMandate,
  type OpenPaymentMandate,
  type RawConstraint,
} from './mandates.js'
import { AP2_SCHEMA, ap2Schemas } from './schemas.js'
import { issuerJwtHashOf, resolveDisclosures, sdHashOf, splitChain, type ChainSegment } from './sdJwt.js'

/** A key allowed to sign the root of a mandate chain (digest §4.3; keys come from configuration only). */
export interface TrustedKey {
  /** The root header's `kid` that selects this key (default: the JWK's `kid`; its RFC 7638 thumbprint always matches). */
  kid?: string | undefined
  jwk: Es256PublicJwk
  /**
   * `user`: a user credential or the user's Trusted Surface key. `agent_provider`: an agent
   * vendor's backend key that signs after its own Trusted Surface got consent (digest §4.3).
   */
  role: 'user' | 'agent_provider'
}

export interface VerifyMandateChainParameters<K extends MandateKind = MandateKind> {
  /** The compact chain as presented (`root~…~~hop~…~`). */
  chain: string
  /** Which mandate family the chain must carry. */
  kind: K
  /** Trust anchors for the root signature. Nothing is ever fetched. */
  trustedKeys: readonly TrustedKey[]
  /** The verifier's `aud` values; a key-binding hop must name one of them. */
  audiences: readonly string[]
  /** Unix seconds. */
  now: number
  /** Tolerated clock difference (default 300 s, as the AP2 SDK). */
  clockSkewSeconds?: number | undefined
  /** How old the presenting hop's `iat` may be (default 900 s): bounds how long a nonce must be remembered. */
  maxPresentationAgeSeconds?: number | undefined
}

/** An open (constraint-bearing) layer of a verified chain. */
export interface VerifiedOpenLayer<M> {
  mandate: M
  /** Index of the segment in the chain. */
  segment: number
  /** `sd_hash`-style digest of the segment (with disclosures): what `payment.reference` names. */
  segmentHash: string
  /** Digest of the segment's JWT alone: stable under disclosure redaction; keys budget state. */
  jwtHash: string
  /** `_sd_alg` of the segment. */
  alg: SdHashAlg
  /** RFC 7638 thumbprint of the key this layer delegates to (`cnf.jwk`). */
  delegateKeyThumbprint: string
}

/** The presenting hop's binding claims (absent for a bare user-signed root: human present). */
export interface Presentation {
  aud: string
  nonce: string
  iat: number
}

interface VerifiedChainBase {
  /** `human_not_present` iff an open mandate delegated to an agent key that signed the closed one. */
  modality: 'human_present' | 'human_not_present'
  /** The trust anchor that signed the root (`unverified` only from {@link verifyChainHops}). */
  root: { role: TrustedKey['role'] | 'unverified'; kid: string; thumbprint: string }
  /**
   * The receipt `reference` of the closed mandate: H over the segment that carries it, disclosures
   * and trailing `~` included ("computed like sd_hash", Ambiguity 1).
   */
  reference: string
  /** SDK-style reference: sha-256 of the closed segment's JWT only (for interop, Ambiguity 1). */
  referenceJwt: string
  /** `_sd_alg` of the closed mandate's segment: `checkout_hash` / `transaction_id` use it. */
  closedAlg: SdHashAlg
  presentation?: Presentation | undefined
  /** Thumbprint of the key that signed the closed mandate (the agent's in HNP, the root's in HP). */
  signerThumbprint: string
  segments: number
}

export interface VerifiedCheckoutChain extends VerifiedChainBase {
  kind: 'checkout'
  closed: ClosedCheckoutMandate
  open: VerifiedOpenLayer<OpenCheckoutMandate>[]
}

export interface VerifiedPaymentChain extends VerifiedChainBase {
  kind: 'payment'
  closed: ClosedPaymentMandate
  open: VerifiedOpenLayer<OpenPaymentMandate>[]
}

export type VerifiedMandateChain<K extends MandateKind = MandateKind> = K extends 'checkout' ? VerifiedCheckoutChain : VerifiedPaymentChain

export type VerifyMandateChainReturnType<K extends MandateKind = MandateKind> = { ok: true; chain: VerifiedMandateChain<K> } | Ap2Failure

const ROOT_KB_TYPS = new Set(['kb+sd-jwt', 'kb-sd-jwt', 'kb+sd-jwt+kb', 'kb-sd-jwt+kb', 'kb+jwt'])
/** The SDK accepts both spellings (digest §4.1). */
const TERMINAL_TYPS = new Set(['kb+sd-jwt', 'kb-sd-jwt'])
const INTERMEDIATE_TYPS = new Set(['kb+sd-jwt+kb', 'kb-sd-jwt+kb'])
const KB_JWT_TYP = 'kb+jwt'

/** Claims of a closed mandate that may not appear in an open one's place and vice versa. */
const OPEN_VCT: Record<MandateKind, string> = { checkout: VCT.checkoutOpen, payment: VCT.paymentOpen }
const CLOSED_VCT: Record<MandateKind, string> = { checkout: VCT.checkout, payment: VCT.payment }
const ALL_VCTS = new Set<string>(Object.values(VCT))

/**
 * Verify an AP2 v0.2 mandate chain (digest §4.4): the root's ES256 signature against a configured
 * trust anchor, every disclosure, each later hop's signature by the previous layer's `cnf.jwk`,
 * its `sd_hash` / `issuer_jwt_hash` binding and `iat`, the presenting hop's `aud`, every `exp` /
 * `iat` with skew, the exact `vct` of each layer, the schema of each mandate, and the structural
 * rules of open mandates (`cnf`; `checkout.line_items` / `payment.reference` present).
 *
 * Pure and deterministic: no I/O, no clock (pass `now`). Constraints are evaluated separately by
 * {@link checkConstraints}; the nonce value is returned in `presentation` for the caller to check
 * against what it issued and to consume once.
 *
 * Decisions on the spec's ambiguities are in the README ("AP2"); the ones made here:
 * - `vct` is compared exactly, suffix included (`mandate.payment` is refused) — Ambiguity 5.
 * - A closed mandate carrying `cnf` is accepted only when a trailing KB-JWT signed by that key
 *   follows (the OpenID4VP/DPC shape); otherwise refused, as the SDK does — Ambiguity 6.
 * - Trust anchors come from configuration only, selected by `kid` or tried in turn; `x5c`, `jku`
 *   and header `jwk` are never used to find a key — Ambiguity 8.
 * - A hop's binding hash uses the hop's own `_sd_alg`, else the previous segment's, else sha-256.
 * - The receipt reference hashes the closed segment with its disclosures — Ambiguity 1.
 *
 * @example
 * const r = verifyMandateChain({ chain, kind: 'payment', trustedKeys, audiences: ['https://gw.example/ap2'], now: Date.now() / 1000 })
 * if (!r.ok) return errorReceipt(r.error, r.description)
 */
export function verifyMandateChain<K extends MandateKind>(params: VerifyMandateChainParameters<K>): VerifyMandateChainReturnType<K> {
  return verifyChain(params, (seg) => findTrustedKey(params.trustedKeys, seg.jwt.header['kid'], seg.jwt.signingInput, seg.jwt.signature))
}

/**
 * Everything {@link verifyMandateChain} checks **except the root signature**: for test vectors
 * whose root key is unpublished (the AP2 doc tokens) and for diagnostics. The result's
 * `root.role` is `unverified`. Never authorise a payment with it.
 */
export function verifyChainHops<K extends MandateKind>(params: Omit<VerifyMandateChainParameters<K>, 'trustedKeys'>): VerifyMandateChainReturnType<K> {
  return verifyChain(params, (seg) => {
    const kid = seg.jwt.header['kid']
    return { role: 'unverified', kid: typeof kid === 'string' ? kid : '', thumbprint: '' }
  })
}

type RootCheck = (seg: ChainSegment) => VerifiedChainBase['root'] | string

function verifyChain<K extends MandateKind>(params: Omit<VerifyMandateChainParameters<K>, 'trustedKeys'>, rootCheck: RootCheck): VerifyMandateChainReturnType<K> {
  const { kind } = params
  const skew = params.clockSkewSeconds ?? 300
  const maxAge = params.maxPresentationAgeSeconds ?? 900
  const now = params.now
  const segments = splitChain(params.chain)
  if (typeof segments === 'string') return fail('invalid_credential', segments)

  const sdSegments = segments.filter((s) => !s.plainJwt)
  const kbJwt = segments[segments.length - 1]?.plainJwt ? segments[segments.length - 1] : undefined
  if (sdSegments.length === 0) return fail('invalid_credential', 'the chain has no SD-JWT')

  interface Layer {
    seg: ChainSegment
    index: number
    alg: SdHashAlg
    mandate: Record<string, unknown>
    payload: Record<string, unknown>
    nextKey?: { key: KeyObject; thumbprint: string } | undefined
  }
  const layers: Layer[] = []
  let rootInfo: VerifiedChainBase['root'] | undefined
  let signerThumbprint = ''

  for (let i = 0; i < sdSegments.length; i++) {
    const seg = sdSegments[i]!
    const where = i === 0 ? 'the root' : `hop ${i}`
    const { header, payload } = seg.jwt
    const headerProblem = checkHeader(header, where)
    if (headerProblem) return headerProblem
    const typ = header['typ']
    const alg = payload['_sd_alg'] === undefined ? 'sha-256' : payload['_sd_alg']
    if (!isSdHashAlg(alg)) return fail('invalid_credential', `${where}: _sd_alg ${JSON.stringify(payload['_sd_alg'])} is not sha-256, sha-384 or sha-512`)

    if (i === 0) {
      if (typeof typ === 'string' && ROOT_KB_TYPS.has(typ)) return fail('invalid_credential', `the root has typ ${typ}: a key-binding hop cannot start a chain`)
      const trusted = rootCheck(seg)
      if (typeof trusted === 'string') return fail('invalid_credential', trusted)
      rootInfo = { role: trusted.role, kid: trusted.kid, thumbprint: trusted.thumbprint }
      signerThumbprint = trusted.thumbprint
    } else {
      const last = i === sdSegments.length - 1
      const allowed = last ? TERMINAL_TYPS : INTERMEDIATE_TYPS
      if (typeof typ !== 'string' || !allowed.has(typ))
        return fail('invalid_credential', `${where}: typ must be ${[...allowed].join(' or ')}, got ${JSON.stringify(typ)}`)
      const prev = layers[i - 1]!
      if (!prev.nextKey) return fail('invalid_mandate', `${where}: the previous layer has no cnf key to delegate with`)
      if (!es256Verify(prev.nextKey.key, seg.jwt.signingInput, seg.jwt.signature))
        return fail('invalid_credential', `${where}: the signature does not verify with the previous layer's cnf key (wrong agent key or tampered hop)`)
      signerThumbprint = prev.nextKey.thumbprint
      const binding = checkBinding(payload, prev.seg, payload['_sd_alg'] === undefined ? prev.alg : alg, where)
      if (binding) return binding
      if (!Number.isInteger(payload['iat'])) return fail('invalid_credential', `${where}: iat is missing or not an integer`)
    }
    const times = checkTimes(payload, now, skew, where)
    if (times) return times

    const resolved = resolveDisclosures(payload, seg.disclosures, alg)
    if (typeof resolved === 'string') return fail('invalid_credential', `${where}: ${resolved}`)
    const dp = resolved['delegate_payload']
    if (dp === undefined) {
      return i === 0
        ? fail('mandates_not_supported', 'the root has no delegate_payload: only AP2 delegate SD-JWTs are accepted (DPC / OpenID4VP presentations are not supported)')
        : fail('invalid_mandate', `${where}: no delegate_payload`)
    }
    if (!Array.isArray(dp)) return fail('invalid_mandate', `${where}: delegate_payload is not an array`)
    if (dp.length !== 1) return fail('invalid_mandate', `${where}: exactly one delegate_payload element must be disclosed, found ${dp.length}`)
    const mandate = dp[0]
    if (!isObject(mandate)) return fail('invalid_mandate', `${where}: the delegate_payload element is not an object`)
    const mTimes = checkTimes(mandate, now, skew, `${where} mandate`)
    if (mTimes) return mTimes

    let nextKey: Layer['nextKey']
    const cnf = isObject(mandate['cnf']) ? mandate['cnf'] : isObject(payload['cnf']) ? payload['cnf'] : undefined
    if (cnf !== undefined) {
      const key = importEs256PublicKey(cnf['jwk'])
      if (!key) return fail('invalid_mandate', `${where}: cnf.jwk is not an ES256 (P-256) public key`)
      nextKey = { key, thumbprint: jwkThumbprint(cnf['jwk'] as Jwk) }
    } else if (mandate['cnf'] !== undefined) return fail('invalid_mandate', `${where}: cnf is not an object`)
    layers.push({ seg, index: i, alg, mandate, payload, nextKey })
  }

  // A trailing plain KB-JWT (the "dSD-JWT+KB" shape) binds the last SD-JWT to its cnf key.
  let presentation: Presentation | undefined
  const lastLayer = layers[layers.length - 1]!
  if (kbJwt) {
    const { header, payload } = kbJwt.jwt
    const headerProblem = checkHeader(header, 'the key-binding JWT')
    if (headerProblem) return headerProblem
    if (header['typ'] !== KB_JWT_TYP) return fail('invalid_credential', `the trailing JWT must have typ ${KB_JWT_TYP}, got ${JSON.stringify(header['typ'])}`)
    if (!lastLayer.nextKey) return fail('invalid_mandate', 'a key-binding JWT follows a mandate without cnf')
    if (!es256Verify(lastLayer.nextKey.key, kbJwt.jwt.signingInput, kbJwt.jwt.signature))
      return fail('invalid_credential', "the key-binding JWT does not verify with the closed mandate's cnf key")
    signerThumbprint = lastLayer.nextKey.thumbprint
    if (typeof payload['sd_hash'] !== 'string' || payload['sd_hash'] !== sdHashOf(lastLayer.seg, lastLayer.alg))
      return fail('invalid_credential', 'the key-binding JWT sd_hash does not match the SD-JWT it follows')
    const times = checkTimes(payload, now, skew, 'the key-binding JWT')
    if (times) return times
    const p = presentationOf(payload, params.audiences, now, skew, maxAge, 'the key-binding JWT')
    if (!('aud' in p)) return p
    presentation = p
  } else if (layers.length > 1) {
    const p = presentationOf(lastLayer.payload, params.audiences, now, skew, maxAge, `hop ${layers.length - 1}`)
    if (!('aud' in p)) return p
    presentation = p
  }

  // Every layer but the last is open; the last is closed; all of the expected kind (vct exact).
  for (const [i, layer] of layers.entries()) {
    const vct = layer.mandate['vct']
    const where = i === 0 ? 'the root mandate' : `the hop ${i} mandate`
    const last = i === layers.length - 1
    const want = last ? CLOSED_VCT[kind] : OPEN_VCT[kind]
    if (vct !== want) {
      if (typeof vct === 'string' && ALL_VCTS.has(vct) && vct === OPEN_VCT[kind] && last)
        return fail('invalid_mandate', `${where} is an open mandate (${vct}) where a closed ${CLOSED_VCT[kind]} is required`)
      return fail('invalid_mandate', `${where}: vct must be exactly ${want}, got ${JSON.stringify(vct)}`)
    }
    const problem = last ? closedMandateProblem(kind, layer.mandate, !!kbJwt) : openMandateProblem(kind, layer.mandate)
    if (problem) return fail('invalid_mandate', `${where}: ${problem}`)
  }

  const closedLayer = lastLayer
  const base: VerifiedChainBase = {
    modality: layers.length > 1 ? 'human_not_present' : 'human_present',
    root: rootInfo!,
    reference: sdHashOf(closedLayer.seg, closedLayer.alg),
    referenceJwt: issuerJwtHashOf(closedLayer.seg, 'sha-256'),
    closedAlg: closedLayer.alg,
    presentation,
    signerThumbprint,
    segments: segments.length,
  }
  const open = layers.slice(0, -1).map((l) => ({
    mandate: l.mandate,
    segment: l.index,
    segmentHash: sdHashOf(l.seg, l.alg),
    jwtHash: issuerJwtHashOf(l.seg, l.alg),
    alg: l.alg,
    delegateKeyThumbprint: l.nextKey!.thumbprint,
  }))
  const chain = { ...base, kind, closed: closedLayer.mandate, open } as unknown as VerifiedMandateChain<K>
  return { ok: true, chain }
}

function checkHeader(header: Record<string, unknown>, where: string): Ap2Failure | undefined {
  if (header['alg'] !== 'ES256') return fail('invalid_credential', `${where}: alg must be ES256, got ${JSON.stringify(header['alg'])}`)
  if (header['crit'] !== undefined) return fail('invalid_credential', `${where}: critical header parameters are not supported`)
  return undefined
}

function findTrustedKey(
  keys: readonly TrustedKey[],
  kid: unknown,
  signingInput: string,
  signature: string,
): { role: TrustedKey['role']; kid: string; thumbprint: string } | string {
  if (kid !== undefined && typeof kid !== 'string') return 'the root kid is not a string'
  const candidates = keys
    .map((k) => ({ k, thumbprint: jwkThumbprint(k.jwk) }))
    .filter(({ k, thumbprint }) => kid === undefined || k.kid === kid || k.jwk.kid === kid || thumbprint === kid)
  if (candidates.length === 0) return `the root is signed by an untrusted key (kid ${JSON.stringify(kid)} is not in the trust list)`
  for (const { k, thumbprint } of candidates) {
    const key = importEs256PublicKey(k.jwk)
    if (key && es256Verify(key, signingInput, signature)) return { role: k.role, kid: k.kid ?? k.jwk.kid ?? thumbprint, thumbprint }
  }
  return kid === undefined ? 'the root signature does not verify with any trusted key' : `the root signature does not verify with the trusted key ${kid}`
}

function checkBinding(payload: Record<string, unknown>, prev: ChainSegment, alg: SdHashAlg, where: string): Ap2Failure | undefined {
  const hasSd = payload['sd_hash'] !== undefined
  const hasJwt = payload['issuer_jwt_hash'] !== undefined
  if (hasSd === hasJwt) return fail('invalid_credential', `${where}: exactly one of sd_hash and issuer_jwt_hash is required`)
  if (hasSd) {
    if (payload['sd_hash'] !== sdHashOf(prev, alg))
      return fail('invalid_credential', `${where}: sd_hash does not match the previous segment (its disclosures were changed, removed or swapped, or the hop was grafted onto another mandate)`)
  } else if (payload['issuer_jwt_hash'] !== issuerJwtHashOf(prev, alg)) {
    return fail('invalid_credential', `${where}: issuer_jwt_hash does not match the previous segment's JWT`)
  }
  return undefined
}

function checkTimes(claims: Record<string, unknown>, now: number, skew: number, where: string): Ap2Failure | undefined {
  for (const name of ['iat', 'exp', 'nbf'] as const) {
    const v = claims[name]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) return fail('invalid_credential', `${where}: ${name} is not a number`)
  }
  const exp = claims['exp'] as number | undefined
  const iat = claims['iat'] as number | undefined
  const nbf = claims['nbf'] as number | undefined
  if (exp !== undefined && exp < now - skew) return fail('invalid_credential', `${where} expired at ${new Date(exp * 1000).toISOString()}`)
  if (iat !== undefined && iat > now + skew) return fail('invalid_credential', `${where} is issued in the future (iat ${new Date(iat * 1000).toISOString()})`)
  if (nbf !== undefined && nbf > now + skew) return fail('invalid_credential', `${where} is not valid before ${new Date(nbf * 1000).toISOString()}`)
  return undefined
}

function presentationOf(
  payload: Record<string, unknown>,
  audiences: readonly string[],
  now: number,
  skew: number,
  maxAge: number,
  where: string,
): Presentation | Ap2Failure {
  const { aud, nonce, iat } = payload
  if (!Number.isInteger(iat)) return fail('invalid_credential', `${where}: iat is missing or not an integer`)
  const audList = Array.isArray(aud) ? aud : [aud]
  const ours = audList.find((a): a is string => typeof a === 'string' && audiences.includes(a))
  if (ours === undefined) return fail('invalid_credential', `${where}: aud ${JSON.stringify(aud)} is not this verifier (${audiences.join(', ')})`)
  if (typeof nonce !== 'string' || nonce.length === 0) return fail('invalid_credential', `${where}: nonce is missing`)
  if ((iat as number) < now - maxAge - skew) return fail('invalid_credential', `${where}: the presentation is older than ${maxAge} s (iat ${new Date((iat as number) * 1000).toISOString()})`)
  return { aud: ours, nonce, iat: iat as number }
}

function closedMandateProblem(kind: MandateKind, mandate: Record<string, unknown>, keyBound: boolean): string | undefined {
  if (mandate['cnf'] !== undefined && !keyBound) return 'a closed mandate must not carry cnf (nothing is delegated beyond it)'
  const { cnf: _cnf, ...rest } = mandate
  const schema = kind === 'checkout' ? AP2_SCHEMA.checkoutMandate : AP2_SCHEMA.paymentMandate
  const problems = ap2Schemas().problems(schema, rest)
  if (problems) return `does not match the ${kind} mandate schema: ${problems}`
  if (kind === 'payment') {
    const amount = (mandate['payment_amount'] as { amount: number }).amount
    if (!Number.isSafeInteger(amount) || amount < 0) return 'payment_amount.amount must be a non-negative integer in minor units'
    if (!/^[A-Z]{3}$/.test((mandate['payment_amount'] as { currency: string }).currency)) return 'payment_amount.currency must be an ISO 4217 alpha-3 code'
  }
  return undefined
}

function openMandateProblem(kind: MandateKind, mandate: Record<string, unknown>): string | undefined {
  if (!isObject(mandate['cnf']) || !isObject(mandate['cnf']['jwk'])) return 'an open mandate must carry cnf.jwk (the agent key it delegates to)'
  const constraints = mandate['constraints']
  if (!Array.isArray(constraints)) return 'constraints must be an array'
  for (const [i, c] of constraints.entries()) if (!isObject(c) || typeof c['type'] !== 'string') return `constraints[${i}] has no string type`
  const known: readonly string[] = kind === 'checkout' ? CHECKOUT_CONSTRAINT_TYPES : PAYMENT_CONSTRAINT_TYPES
  // Unknown constraint types are not a schema error: checkConstraints fails them with unresolved_constraint.
  const typed = (constraints as RawConstraint[]).filter((c) => known.includes(c.type))
  if (kind === 'checkout' && !typed.some((c) => c.type === 'checkout.line_items')) return 'an open checkout mandate must contain a checkout.line_items constraint'
  if (kind === 'payment' && !typed.some((c) => c.type === 'payment.reference')) return 'an open payment mandate must contain a payment.reference constraint'
  const schema = kind === 'checkout' ? AP2_SCHEMA.openCheckoutMandate : AP2_SCHEMA.openPaymentMandate
  const problems = ap2Schemas().problems(schema, { ...mandate, constraints: typed })
  if (problems) return `does not match the open ${kind} mandate schema: ${problems}`
  return undefined
}

/** `base64url(H(ascii))` with an SD-JWT hash name; exported for the bindings. */
export function mandateHash(alg: SdHashAlg, input: string): string {
  return hashB64u(alg, input)
}
