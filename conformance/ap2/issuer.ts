import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'

/**
 * The tester's own AP2 v0.2 issuer: what a Trusted Surface (the user's root mandates), a shopping
 * agent (closed key-binding hops) and a merchant (`checkout_jwt`) sign. Written from the AP2 docs
 * (agent_authorization.md, checkout_mandate.md, payment_mandate.md and the SD-JWT drafts they
 * cite), separately from the gateway's adapter: a bug shared by the gateway's signer and verifier
 * cannot hide behind the same bug here. Test files cross-check the two.
 *
 * Encoding: a segment is an SD-JWT `jwt~disclosure~…~`; the mandate itself is the one
 * array-element disclosure of `delegate_payload`; values marked {@link disclosable} become their
 * own disclosures (`_sd` digests in objects, `{"...": digest}` elements in arrays); a chain is the
 * segments joined by `~` (so segments are separated by `~~`).
 */

/** An AP2 party (merchant, payee): `id`, `name`, optional `website`. */
export interface Party {
  id: string
  name: string
  website?: string | undefined
}

/** A payment instrument as mandates carry it (`type` is the extension point). */
export interface Instrument {
  id: string
  type: string
  [extra: string]: unknown
}

/** A P-256 signing key and its public JWK. */
export interface SigningParty {
  privateKey: KeyObject
  kid: string
  publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string }
}

const enc = (data: string | Uint8Array): string => Buffer.from(data).toString('base64url')
const json = (v: unknown): string => enc(JSON.stringify(v))

/** base64url without padding. */
export function b64url(data: string | Uint8Array): string {
  return enc(data)
}

/** `base64url(SHA-256(ascii))`: AP2's digest for disclosures, `sd_hash`, `checkout_hash` and receipt references. */
export function sha256b64url(input: string): string {
  return createHash('sha256').update(input, 'utf8').digest('base64url')
}

function party(privateKey: KeyObject, kid?: string): SigningParty {
  const pub = createPublicKey(privateKey).export({ format: 'jwk' })
  const x = String(pub.x)
  const y = String(pub.y)
  // RFC 7638: the thumbprint is over the required members in lexicographic order, no whitespace.
  const id = kid ?? createHash('sha256').update(`{"crv":"P-256","kty":"EC","x":"${x}","y":"${y}"}`).digest('base64url')
  return { privateKey, kid: id, publicJwk: { kty: 'EC', crv: 'P-256', x, y, kid: id } }
}

/** A fresh P-256 key (kid = its RFC 7638 thumbprint unless given). */
export function newSigningParty(kid?: string): SigningParty {
  return party(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, kid)
}

/** A key from a private JWK (the run's seeded keys). */
export function signingPartyFromJwk(jwk: { x: string; y: string; d: string }, kid?: string): SigningParty {
  return party(createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, format: 'jwk' }), kid)
}

/** A compact ES256 JWS (`alg` is always ES256; the signature is raw r‖s as JWS requires). */
export function es256Jws(key: SigningParty, header: Record<string, unknown>, payload: unknown): string {
  const input = `${json({ ...header, alg: 'ES256' })}.${json(payload)}`
  return `${input}.${enc(sign('sha256', Buffer.from(input, 'ascii'), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }))}`
}

const DISCLOSABLE = Symbol('ap2.disclosable')
interface Disclosable {
  [DISCLOSABLE]: true
  value: unknown
  present: boolean
}

/** Mark a value selectively disclosable; `present: false` keeps only its digest (withheld). */
export function disclosable(value: unknown, present = true): Disclosable {
  return { [DISCLOSABLE]: true, value, present }
}

const isDisclosable = (v: unknown): v is Disclosable => typeof v === 'object' && v !== null && DISCLOSABLE in v
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const salt = (): string => enc(randomBytes(16))

/** Replace every disclosable value by its digest; collect the disclosures to present (inner ones first). */
function conceal(value: unknown, out: string[]): unknown {
  if (Array.isArray(value)) {
    return value.map((el) => {
      if (!isDisclosable(el)) return conceal(el, out)
      const d = json([salt(), conceal(el.value, out)])
      if (el.present) out.push(d)
      return { '...': sha256b64url(d) }
    })
  }
  if (isPlainObject(value)) {
    const result: Record<string, unknown> = {}
    const digests: string[] = []
    for (const [name, v] of Object.entries(value)) {
      if (!isDisclosable(v)) {
        result[name] = conceal(v, out)
        continue
      }
      const d = json([salt(), name, conceal(v.value, out)])
      if (v.present) out.push(d)
      digests.push(sha256b64url(d))
    }
    // Sorted digests leak nothing about claim order.
    if (digests.length > 0) result['_sd'] = digests.sort()
    return result
  }
  return value
}

/** The mandate as the one disclosed element of `delegate_payload`, plus the disclosures. */
function wrapMandate(mandate: Record<string, unknown>): { claim: unknown[]; disclosures: string[] } {
  const disclosures: string[] = []
  const concealed = conceal(mandate, disclosures)
  const wrapper = json([salt(), concealed])
  disclosures.push(wrapper)
  return { claim: [{ '...': sha256b64url(wrapper) }], disclosures }
}

/** The root segment of a chain, signed by the user (Trusted Surface). */
export function rootMandate(p: { signer: SigningParty; mandate: Record<string, unknown>; kid?: string | null | undefined; typ?: string | undefined; claims?: Record<string, unknown> | undefined }): string {
  const { claim, disclosures } = wrapMandate(p.mandate)
  const header: Record<string, unknown> = { typ: p.typ ?? 'example+sd-jwt' }
  if (p.kid !== null) header['kid'] = p.kid ?? p.signer.kid
  const jwt = es256Jws(p.signer, header, { ...p.claims, delegate_payload: claim, _sd_alg: 'sha-256' })
  return `${jwt}~${disclosures.join('~')}~`
}

/** A key-binding hop over `previous` (a whole segment with its trailing `~`), signed by the delegate key. */
export function bindingHop(p: {
  signer: SigningParty
  previous: string
  mandate: Record<string, unknown>
  aud: string
  nonce: string
  iat?: number | undefined
  binding?: 'sd_hash' | 'issuer_jwt_hash' | undefined
  typ?: string | undefined
  /** Extra or overriding payload claims (`{ iat: undefined }` drops iat). */
  claims?: Record<string, unknown> | undefined
}): string {
  const { claim, disclosures } = wrapMandate(p.mandate)
  const bind = p.binding === 'issuer_jwt_hash' ? { issuer_jwt_hash: sha256b64url(p.previous.slice(0, p.previous.indexOf('~'))) } : { sd_hash: sha256b64url(p.previous) }
  const payload = { delegate_payload: claim, iat: p.iat ?? Math.floor(Date.now() / 1000), aud: p.aud, nonce: p.nonce, ...bind, _sd_alg: 'sha-256', ...p.claims }
  return `${es256Jws(p.signer, { typ: p.typ ?? 'kb+sd-jwt' }, payload)}~${disclosures.join('~')}~`
}

/** A chain of segments (`root~…~` `~` `hop~…~`). */
export function chainOf(...segments: string[]): string {
  return segments.join('~')
}

/** The merchant's `checkout_jwt` (ES256, `typ: JWT`, its kid). */
export function merchantCheckoutJwt(merchant: SigningParty, checkout: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return es256Jws(merchant, { typ: 'JWT', kid: merchant.kid, ...header }, checkout)
}

/** The three signers of a human-not-present purchase and the payee. */
export interface Parties {
  user: SigningParty
  agent: SigningParty
  merchant: SigningParty
  payee: Party
}

export interface Line {
  sku: string
  title: string
  /** Unit price, integer minor units. */
  price: number
  quantity: number
}

/** A UCP checkout (what `checkout_jwt` carries) for `lines`. */
export function checkoutFor(payee: Party, lines: readonly Line[], o: { currency?: string; id?: string; exp?: number; iat?: number; status?: string; extra?: Record<string, unknown> } = {}): Record<string, unknown> {
  let total = 0
  const items = lines.map((l, i) => {
    const sum = l.price * l.quantity
    total += sum
    return { id: `li_${i}`, item: { id: l.sku, title: l.title, price: l.price }, quantity: l.quantity, totals: [{ type: 'subtotal', amount: sum }, { type: 'total', amount: sum }] }
  })
  const now = Math.floor(Date.now() / 1000)
  return {
    id: o.id ?? `chk_${randomBytes(6).toString('hex')}`,
    merchant: payee,
    line_items: items,
    status: o.status ?? 'ready_for_complete',
    currency: o.currency ?? 'USD',
    totals: [{ type: 'subtotal', amount: total }, { type: 'total', amount: total }],
    links: [{ type: 'terms_of_service', url: 'https://demo-merchant.example/tos' }],
    iat: o.iat ?? now,
    exp: o.exp ?? now + 3600,
    ...o.extra,
  }
}

/** What the user's open mandates allow (checkout_mandate.md / payment_mandate.md constraints). */
export interface OpenTerms {
  requirements: Array<{ id?: string; acceptable: Array<{ id: string; title: string }>; quantity: number }>
  /** `checkout.allowed_merchants` (default the payee; `null`: no such constraint). */
  allowedMerchants?: Party[] | null
  /** `payment.allowed_payees` (default the payee; `null`: none). */
  allowedPayees?: Party[] | null
  allowedInstruments?: Instrument[] | undefined
  amountRange?: { currency: string; max: number; min?: number } | undefined
  budget?: { currency: string; max: number } | undefined
  recurrence?: { frequency: string; max_occurrences?: number } | undefined
  extraPaymentConstraints?: Array<Record<string, unknown>> | undefined
  extraCheckoutConstraints?: Array<Record<string, unknown>> | undefined
  /** Claims set in the open payment mandate itself. */
  preset?: Record<string, unknown> | undefined
  /** `payment.reference` (default: the digest of the open checkout segment). */
  reference?: string | undefined
  iat?: number | undefined
  exp?: number | undefined
  /** Root header kid (`null` omits it). */
  kid?: string | null | undefined
  /** The key the open mandates delegate to (`cnf`), default the agent's. */
  delegateTo?: SigningParty | undefined
}

export interface OpenPair {
  openCheckout: string
  openPayment: string
  openCheckoutHash: string
}

/** The user's open Checkout and Payment mandates delegating to the agent's key. */
export function openPair(parties: Parties, t: OpenTerms): OpenPair {
  const now = Math.floor(Date.now() / 1000)
  const validity = { iat: t.iat ?? now, exp: t.exp ?? now + 3600 }
  const delegate = t.delegateTo ?? parties.agent
  const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: delegate.publicJwk.x, y: delegate.publicJwk.y } }
  const kid = t.kid === undefined ? parties.user.kid : t.kid
  const checkoutConstraints: Array<Record<string, unknown>> = [
    { type: 'checkout.line_items', items: t.requirements.map((r, i) => ({ id: r.id ?? `line_${i + 1}`, acceptable_items: r.acceptable.map((a) => disclosable(a)), quantity: r.quantity })) },
  ]
  if (t.allowedMerchants !== null) checkoutConstraints.push({ type: 'checkout.allowed_merchants', allowed: (t.allowedMerchants ?? [parties.payee]).map((m) => disclosable(m)) })
  if (t.extraCheckoutConstraints) checkoutConstraints.push(...t.extraCheckoutConstraints)
  const openCheckout = rootMandate({ signer: parties.user, kid, mandate: { vct: 'mandate.checkout.open.1', constraints: checkoutConstraints, cnf, ...validity } })
  const openCheckoutHash = sha256b64url(openCheckout)
  const pc: Array<Record<string, unknown>> = []
  if (t.amountRange) pc.push({ type: 'payment.amount_range', ...t.amountRange })
  if (t.allowedPayees !== null) pc.push({ type: 'payment.allowed_payees', allowed: (t.allowedPayees ?? [parties.payee]).map((m) => disclosable(m)) })
  if (t.allowedInstruments) pc.push({ type: 'payment.allowed_payment_instruments', allowed: t.allowedInstruments.map((i) => disclosable(i)) })
  if (t.budget) pc.push({ type: 'payment.budget', ...t.budget })
  if (t.recurrence) pc.push({ type: 'payment.agent_recurrence', ...t.recurrence })
  pc.push({ type: 'payment.reference', conditional_transaction_id: t.reference ?? openCheckoutHash })
  if (t.extraPaymentConstraints) pc.push(...t.extraPaymentConstraints)
  const openPayment = rootMandate({ signer: parties.user, kid, mandate: { vct: 'mandate.payment.open.1', constraints: pc, cnf, ...t.preset, ...validity } })
  return { openCheckout, openPayment, openCheckoutHash }
}

export interface ClosedPair {
  checkoutMandate: string
  paymentMandate: string
  checkoutJwt: string
  checkoutHash: string
}

/** The agent closes both open mandates for one merchant-signed checkout. */
export function closePair(
  parties: Parties,
  open: OpenPair,
  o: {
    checkout: Record<string, unknown> | string
    instrument: Instrument
    aud: string
    nonce: string
    payment?: Record<string, unknown> | undefined
    checkoutClaims?: Record<string, unknown> | undefined
    iat?: number | undefined
    binding?: 'sd_hash' | 'issuer_jwt_hash' | undefined
    signer?: SigningParty | undefined
  },
): ClosedPair {
  const checkoutJwt = typeof o.checkout === 'string' ? o.checkout : merchantCheckoutJwt(parties.merchant, o.checkout)
  const body = typeof o.checkout === 'string' ? (JSON.parse(Buffer.from(o.checkout.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>) : o.checkout
  const total = ((body['totals'] as Array<{ type: string; amount: number }> | undefined) ?? []).find((x) => x.type === 'total')?.amount
  if (total === undefined) throw new Error('the checkout has no total')
  const checkoutHash = sha256b64url(checkoutJwt)
  const hop = { signer: o.signer ?? parties.agent, aud: o.aud, nonce: o.nonce, iat: o.iat, binding: o.binding }
  const closedCheckout = bindingHop({ ...hop, previous: open.openCheckout, mandate: { vct: 'mandate.checkout.1', checkout_jwt: disclosable(checkoutJwt), checkout_hash: checkoutHash, ...o.checkoutClaims } })
  const closedPayment = bindingHop({
    ...hop,
    previous: open.openPayment,
    mandate: { vct: 'mandate.payment.1', transaction_id: checkoutHash, payee: parties.payee, payment_amount: { amount: total, currency: body['currency'] }, payment_instrument: o.instrument, ...o.payment },
  })
  return { checkoutMandate: chainOf(open.openCheckout, closedCheckout), paymentMandate: chainOf(open.openPayment, closedPayment), checkoutJwt, checkoutHash }
}
