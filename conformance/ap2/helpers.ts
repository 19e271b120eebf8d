import { randomBytes } from 'node:crypto'
import { checkoutFor, closePair, openPair, signingPartyFromJwk, type ClosedPair, type Instrument, type OpenPair, type OpenTerms, type Parties, type Party, type SigningParty } from './issuer.js'
import { checkReceipt } from './receipts.js'
import { assert, CheckFailure, show } from '../framework/assert.js'
import type { CheckContext, DiscoverContext, SpecRef } from '../framework/types.js'

/** The AP2 version the suite checks. */
export const AP2_SPEC_VERSION = '0.2'
const AP2_COMMIT = 'e1ea56db72a6385bce3e5c1112b3a56ce60acb43'
const AP2_V01_COMMIT = 'cc8a96890b1e4a75473324492b510ce12ef4da66'

/** The A2A extension URI of AP2 (what every sample uses). */
export const AP2_EXTENSION_URI = 'https://github.com/google-agentic-commerce/ap2/v1'

/** A clause of the AP2 v0.2 docs at the pinned commit. */
export function ap2Doc(file: 'agent_authorization' | 'checkout_mandate' | 'payment_mandate', section: string, anchor: string): SpecRef {
  const title = { agent_authorization: 'AP2 Agent Authorization', checkout_mandate: 'AP2 Checkout Mandate', payment_mandate: 'AP2 Payment Mandate' }[file]
  return { doc: title, version: AP2_SPEC_VERSION, section, url: `https://github.com/google-agentic-commerce/AP2/blob/${AP2_COMMIT}/docs/ap2/${file}.md#${anchor}` }
}

/** A clause of the v0.1 A2A extension doc (the A2A binding v0.2 samples still use). */
export function a2aExtensionDoc(section: string, anchor: string): SpecRef {
  return { doc: 'AP2 A2A extension (v0.1 doc, used by the v0.2 samples)', version: AP2_SPEC_VERSION, section, url: `https://github.com/google-agentic-commerce/AP2/blob/${AP2_V01_COMMIT}/docs/a2a-extension.md#${anchor}` }
}

/** A schema of the AP2 v0.2 SDK. */
export function ap2Schema(file: string): SpecRef {
  return { doc: 'AP2 v0.2 JSON Schemas', version: AP2_SPEC_VERSION, section: file, url: `https://github.com/google-agentic-commerce/AP2/blob/${AP2_COMMIT}/code/sdk/schemas/ap2/${file}` }
}

/** What discovery learnt about the target. */
export interface Ap2Discovery {
  /** The agent card, when served. */
  card?: Record<string, unknown> | undefined
  /** The A2A JSON-RPC endpoint (absolute URL). */
  a2aUrl?: string | undefined
  /** The verifier's `aud`. */
  audience?: string | undefined
  /** Where the receipt JWK Set is. */
  jwksUrl: string
  /** Where nonces are issued (REST), when advertised. */
  nonceUrl?: string | undefined
  /** The merchant identity whose checkout key the target trusts (the runner signs as it). */
  payee: Party
  /** An instrument the target settles, for the requirements that pay. */
  instrument?: Instrument | undefined
  /** Currency of the checkouts the suite builds. */
  currency: string
  /** Amount of a paying checkout, minor units (small: below any step-up threshold). */
  amount: number
}

export type Ap2Context = CheckContext<Ap2Discovery>

/** The runner's parties: keys derived from the run's seed (`ap2/user`, `ap2/agent`, `ap2/merchant`). */
export function partiesOf(ctx: DiscoverContext, payee: Party): Parties {
  const key = (label: string): SigningParty => {
    const k = ctx.counterparts.signingKey(label)
    return signingPartyFromJwk(k.privateJwk, k.kid)
  }
  return { user: key('ap2/user'), agent: key('ap2/agent'), merchant: key('ap2/merchant'), payee }
}

/** An instrument no verifier settles: a trusted presentation stops at `mandates_not_supported` before money moves. */
export const PROBE_INSTRUMENT: Instrument = { id: 'conformance-probe', type: 'conformance.probe' }

/** The normalised answer to one presentation (A2A task, or REST body). */
export interface Outcome {
  /** `completed`, `failed`, `rejected`, `input-required`, `working`, or an HTTP-level failure. */
  state: string
  error?: string | undefined
  description?: string | undefined
  paymentReceipt?: string | undefined
  checkoutReceipt?: string | undefined
  paymentId?: string | undefined
  taskId?: string | undefined
  /** The DataParts of the status message, by key. */
  data: Record<string, unknown>
  metadata: Record<string, unknown>
}

let seq = 0

/** `message/send` over A2A with the AP2 extension activated; returns the JSON-RPC body. */
export async function a2aSend(
  ctx: DiscoverContext,
  a2aUrl: string,
  parts: Array<Record<string, unknown>>,
  o: { taskId?: string | undefined; metadata?: Record<string, unknown> | undefined; headers?: Record<string, string> | undefined } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await ctx.http.post(a2aUrl, {
    headers: o.headers ?? { 'X-A2A-Extensions': AP2_EXTENSION_URI },
    json: {
      jsonrpc: '2.0',
      id: ++seq,
      method: 'message/send',
      params: { message: { kind: 'message', messageId: ctx.unique('msg'), role: 'user', parts, ...(o.taskId ? { taskId: o.taskId } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) } },
    },
  })
  let body: Record<string, unknown>
  try {
    body = res.json<Record<string, unknown>>()
  } catch {
    throw new CheckFailure(`POST ${a2aUrl}: the answer is not JSON (HTTP ${res.status})`)
  }
  return { status: res.status, body }
}

/** The Task of a JSON-RPC answer, normalised. */
export function outcomeOf(body: Record<string, unknown>): Outcome {
  if (body['error']) throw new CheckFailure(`message/send answered a JSON-RPC error: ${show(body['error'])}`)
  const task = body['result'] as { id?: string; status?: { state?: string; message?: { parts?: Array<{ data?: Record<string, unknown> }>; metadata?: Record<string, unknown> } }; artifacts?: Array<{ parts?: Array<{ data?: Record<string, unknown> }> }>; metadata?: Record<string, unknown> } | undefined
  assert(task && typeof task.status?.state === 'string', `message/send result is not a Task: ${show(body['result'])}`)
  const data: Record<string, unknown> = {}
  for (const p of task.status!.message?.parts ?? []) for (const [k, v] of Object.entries(p.data ?? {})) data[k] ??= v
  const art: Record<string, unknown> = {}
  for (const a of task.artifacts ?? []) for (const p of a.parts ?? []) for (const [k, v] of Object.entries(p.data ?? {})) art[k] ??= v
  const err = data['ap2.error'] as { error?: string; error_description?: string } | undefined
  let error = err?.error
  let description = err?.error_description
  const paymentReceipt = typeof art['ap2.PaymentReceipt'] === 'string' ? art['ap2.PaymentReceipt'] : undefined
  if (!error && paymentReceipt) {
    const payload = decodeJwtPayload(paymentReceipt)
    if (payload?.['status'] === 'Error') {
      error = payload['error'] as string
      description = payload['error_description'] as string
    }
  }
  return {
    state: task.status!.state!,
    error,
    description,
    paymentReceipt,
    checkoutReceipt: typeof art['ap2.CheckoutReceipt'] === 'string' ? art['ap2.CheckoutReceipt'] : undefined,
    paymentId: typeof task.metadata?.['payment_id'] === 'string' ? task.metadata['payment_id'] : (paymentReceipt ? (decodeJwtPayload(paymentReceipt)?.['payment_id'] as string | undefined) : undefined),
    taskId: task.id,
    data,
    metadata: { ...task.status!.message?.metadata, ...task.metadata },
  }
}

export function decodeJwtPayload(jwt: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** A nonce for the next presentation: from the nonce endpoint, an A2A turn, or (targets that take agent nonces) random. */
export async function freshNonce(ctx: Ap2Context): Promise<string> {
  const d = ctx.discovery
  if (d.nonceUrl) {
    const r = await ctx.http.post(d.nonceUrl, { json: {} })
    const n = (r.json() as { nonce?: unknown }).nonce
    if (typeof n === 'string') return n
  }
  if (d.a2aUrl) {
    const o = outcomeOf((await a2aSend(ctx, d.a2aUrl, [{ kind: 'text', text: 'nonce please' }])).body)
    const c = o.data['ap2.verifier_challenge'] as { nonce?: unknown } | undefined
    if (typeof c?.nonce === 'string') return c.nonce
  }
  return randomBytes(16).toString('hex')
}

/** The AP2 DataParts of a presentation. */
export function mandateParts(m: { checkoutMandate: string; paymentMandate: string }): Array<Record<string, unknown>> {
  return [{ kind: 'data', data: { 'ap2.mandates.CheckoutMandateSdJwt': m.checkoutMandate, 'ap2.mandates.PaymentMandateSdJwt': m.paymentMandate } }]
}

/** Present mandates over A2A (a new task). */
export async function present(ctx: Ap2Context, m: { checkoutMandate: string; paymentMandate: string }): Promise<Outcome> {
  assert(ctx.discovery.a2aUrl, 'no A2A endpoint')
  return outcomeOf((await a2aSend(ctx, ctx.discovery.a2aUrl, mandateParts(m))).body)
}

/** Open mandates the runner's user signs; `probe` allows the probe instrument (and the paying one, when known). */
export function openMandates(ctx: Ap2Context, o: Partial<OpenTerms> & { skus?: string[] } = {}): { parties: Parties; open: OpenPair } {
  const parties = partiesOf(ctx, ctx.discovery.payee)
  const skus = o.skus ?? ['conf-sku-a', 'conf-sku-b']
  const instruments = [PROBE_INSTRUMENT, ...(ctx.discovery.instrument ? [ctx.discovery.instrument] : [])]
  const open = openPair(parties, {
    requirements: [{ acceptable: skus.map((id) => ({ id, title: id })), quantity: 1 }],
    allowedInstruments: instruments,
    ...o,
  })
  return { parties, open }
}

/** A checkout signed by the runner's merchant key. */
export function checkout(ctx: Ap2Context, o: { sku?: string; price?: number; quantity?: number; currency?: string; extra?: Record<string, unknown>; exp?: number } = {}): Record<string, unknown> {
  const d = ctx.discovery
  return checkoutFor(d.payee, [{ sku: o.sku ?? 'conf-sku-a', title: o.sku ?? 'conf-sku-a', price: o.price ?? d.amount, quantity: o.quantity ?? 1 }], {
    currency: o.currency ?? d.currency,
    id: ctx.unique('chk'),
    ...(o.exp === undefined ? {} : { exp: o.exp }),
    ...(o.extra ? { extra: o.extra } : {}),
  })
}

/** Close `open` for a checkout with a fresh nonce, presenting `instrument` (default the probe). */
export async function close(
  ctx: Ap2Context,
  parties: Parties,
  open: OpenPair,
  o: { checkout?: Record<string, unknown> | string; instrument?: Instrument; aud?: string; nonce?: string; payment?: Record<string, unknown>; checkoutClaims?: Record<string, unknown>; iat?: number; signer?: SigningParty } = {},
): Promise<ClosedPair> {
  return closePair(parties, open, {
    checkout: o.checkout ?? checkout(ctx),
    instrument: o.instrument ?? PROBE_INSTRUMENT,
    aud: o.aud ?? ctx.discovery.audience ?? ctx.target.baseUrl,
    nonce: o.nonce ?? (await freshNonce(ctx)),
    payment: o.payment,
    checkoutClaims: o.checkoutClaims,
    iat: o.iat,
    signer: o.signer,
  })
}

/** Fail unless the presentation was refused (an Error receipt, no payment), optionally with one of `codes`. */
export function expectRefused(o: Outcome, what: string, codes?: readonly string[]): void {
  assert(o.state === 'failed' || o.state === 'rejected', `${what}: expected the task to fail, got ${o.state}${o.description ? ` (${o.description})` : ''}`)
  assert(o.error, `${what}: the failed task names no AP2 error code`)
  if (codes) assert(codes.includes(o.error), `${what}: expected error ${codes.join(' or ')}, got ${o.error} (${o.description ?? ''})`)
}

/**
 * Fail unless every mandate check passed: a `completed` payment, or the probe instrument's
 * `mandates_not_supported` (which a verifier can only reach after verifying the mandates).
 */
export function expectAccepted(o: Outcome, what: string): void {
  const probeStop = o.error === 'mandates_not_supported' && /instrument|conformance\.probe/.test(o.description ?? '')
  assert(o.state === 'completed' || probeStop, `${what}: expected the mandates to be accepted, got ${o.state} ${o.error ?? ''} (${o.description ?? ''})`)
}

/** Fail unless `jwt` verifies with the target's published key and matches the receipt schema. */
export async function expectSignedReceipt(ctx: Ap2Context, jwt: string | undefined, want: Record<string, unknown>, what: string): Promise<Record<string, unknown>> {
  assert(jwt, `${what}: no ap2.PaymentReceipt`)
  const jwks = (await ctx.once('jwks', async () => (await ctx.http.get(ctx.discovery.jwksUrl)).json())) as unknown
  const r = await checkReceipt(jwt, jwks)
  if (!r.ok) throw new CheckFailure(`${what}: the receipt does not verify with ${ctx.discovery.jwksUrl}: ${r.reason}`)
  for (const [k, v] of Object.entries(want)) assert(r.payload[k] === v, `${what}: receipt ${k} is ${show(r.payload[k])}, expected ${show(v)}`)
  return r.payload
}
