import { getAddress, type Address, type Hex } from 'viem'
import { assert, assertEqual, CheckFailure, show } from '../framework/assert.js'
import type { ChainHelpers, TestWallet } from '../framework/counterparts/wallet.js'
import { nonceFor, signTransferAuthorization } from '../framework/counterparts/wallet.js'
import type { HttpResponse } from '../framework/http.js'
import type { CheckContext, SpecRef } from '../framework/types.js'

/** The x402 spec snapshot the suite cites (`coinbase/x402` at the digest's commit; SDK behaviour from 2.27). */
const SPEC_COMMIT = 'dd927a26cfefc98c24b3ec38b3a8f204dad0c60d'
export const X402_SPEC_VERSION = 'v2'

/** A clause of the x402 specs (`specs/<file>` at the snapshot). */
export function spec(file: string, section: string, version = X402_SPEC_VERSION): SpecRef {
  return { doc: `x402 ${file.replace(/\.md$/, '')}`, version, section, url: `https://github.com/coinbase/x402/blob/${SPEC_COMMIT}/specs/${file}` }
}

/** Behaviour the official SDK (npm `@x402/*` 2.27) has and the prose does not (digest "[2.27]" items). */
export function sdk(what: string): SpecRef {
  return { doc: 'x402 reference SDK (@x402/core, @x402/evm 2.27.0)', version: X402_SPEC_VERSION, section: what, url: 'https://github.com/x402-foundation/x402/tree/main/typescript/packages' }
}

export const HTTP_V2 = (section: string): SpecRef => spec('transports-v2/http.md', section)
export const CORE_V2 = (section: string): SpecRef => spec('x402-specification-v2.md', section)
export const CORE_V1 = (section: string): SpecRef => ({ ...spec('x402-specification-v1.md', section), version: 'v1' })
export const EXACT_EVM = (section: string): SpecRef => spec('schemes/exact/scheme_exact_evm.md', section)
export const PAYMENT_ID = (section: string): SpecRef => spec('extensions/payment_identifier.md', section)

/** One `accepts` entry (v2). */
export interface Requirements {
  scheme: string
  network: string
  amount: string
  asset: string
  payTo: string
  maxTimeoutSeconds: number
  extra: Record<string, unknown>
}

/** `PAYMENT-REQUIRED`, decoded. */
export interface PaymentRequired {
  x402Version: number
  error?: string
  resource?: { url?: string; description?: string; mimeType?: string }
  accepts: Requirements[]
  extensions?: Record<string, { info?: Record<string, unknown>; schema?: unknown }>
}

/** A v1 requirement. */
export interface RequirementsV1 {
  scheme: string
  network: string
  maxAmountRequired: string
  resource: string
  description: string
  mimeType: string
  payTo: string
  maxTimeoutSeconds: number
  asset: string
  extra?: Record<string, unknown>
}

/** What discovery learnt. */
export interface X402Discovery {
  /** The priced route under test. */
  route?: { url: string; method: string } | undefined
  /** Its unpaid answer (status, decoded v2 offer, v1 body). */
  unpaid?: { status: number; paymentRequired?: PaymentRequired | undefined; v1?: { accepts: RequirementsV1[]; error?: string } | undefined } | undefined
  /** The exact / eip155 offer the suite pays (v2). */
  offer?: Requirements | undefined
  chainId?: number | undefined
  /** The v1 exact offer, when the 402 has a v1 body. */
  offerV1?: RequirementsV1 | undefined
  /** The facilitator base URL (no trailing slash). */
  facilitatorUrl?: string | undefined
  /** Chain helpers (`--rpc-url`, or the dev.json chain). */
  chain?: ChainHelpers | undefined
  /** Who pays. */
  payer: TestWallet
  /** The route declares the payment-identifier extension (and whether it requires an id). */
  paymentIdentifier?: { required: boolean } | undefined
}

export type X402Context = CheckContext<X402Discovery>

export const STANDARD_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/
const NETWORK_CAIP2 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/
const ATOMIC = /^(0|[1-9][0-9]*)$/
const TX_HASH = /^0x[0-9a-fA-F]{64}$/

/** Decode a header that must be standard base64 of a JSON object; fails the check otherwise. */
export function decodeB64Json<T = Record<string, unknown>>(value: string | undefined, what: string): T {
  if (value === undefined) throw new CheckFailure(`${what}: the header is missing`)
  assert(STANDARD_BASE64.test(value), `${what}: ${show(value.slice(0, 40))}… is not standard base64 (A–Z a–z 0–9 + /, = padding)`)
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8'))
  } catch {
    throw new CheckFailure(`${what}: the base64 does not decode to JSON`)
  }
  assert(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), `${what}: decodes to ${show(parsed)}, expected a JSON object`)
  return parsed as T
}

export const encodeB64Json = (value: unknown): string => Buffer.from(JSON.stringify(value), 'utf8').toString('base64')

/** Problems of one v2 `accepts` entry (empty when it is well formed). */
export function requirementProblems(r: Requirements, i: number): string[] {
  const p: string[] = []
  const at = `accepts[${i}]`
  const keys = Object.keys(r).sort()
  const expected = ['amount', 'asset', 'extra', 'maxTimeoutSeconds', 'network', 'payTo', 'scheme']
  if (keys.join() !== expected.join()) p.push(`${at} has fields ${show(keys)}, expected exactly ${show(expected)}`)
  if (typeof r.scheme !== 'string' || !r.scheme) p.push(`${at}.scheme ${show(r.scheme)}`)
  if (typeof r.network !== 'string' || !NETWORK_CAIP2.test(r.network)) p.push(`${at}.network ${show(r.network)} is not CAIP-2`)
  if (typeof r.amount !== 'string' || !ATOMIC.test(r.amount)) p.push(`${at}.amount ${show(r.amount)} is not an atomic decimal string`)
  if (typeof r.asset !== 'string' || !r.asset) p.push(`${at}.asset ${show(r.asset)}`)
  if (typeof r.payTo !== 'string' || !r.payTo) p.push(`${at}.payTo ${show(r.payTo)}`)
  if (!Number.isInteger(r.maxTimeoutSeconds) || r.maxTimeoutSeconds <= 0) p.push(`${at}.maxTimeoutSeconds ${show(r.maxTimeoutSeconds)} is not a positive integer`)
  if (r.extra === null || typeof r.extra !== 'object' || Array.isArray(r.extra)) p.push(`${at}.extra ${show(r.extra)} is not an object`)
  else if (r.scheme === 'exact' && r.network?.startsWith('eip155:') && (typeof r.extra['name'] !== 'string' || typeof r.extra['version'] !== 'string'))
    p.push(`${at}: an exact/EVM offer must name its EIP-712 domain in extra.name and extra.version, got ${show(r.extra)}`)
  return p
}

/** The payer and the run-unique nonce of one payment. */
export interface SignedPayment {
  authorization: { from: Address; to: Address; value: string; validAfter: string; validBefore: string; nonce: Hex }
  signature: Hex
}

/** Sign an EIP-3009 authorization for `offer` (as a client does: the domain from `extra`, validAfter 0, validBefore now + maxTimeoutSeconds). */
export async function signFor(
  ctx: X402Context,
  offer: { asset: string; payTo: string; amount: string; maxTimeoutSeconds: number; extra?: Record<string, unknown> | undefined },
  chainId: number,
  o: { value?: bigint; to?: string; validAfter?: bigint; validBefore?: bigint; signer?: TestWallet; label?: string } = {},
): Promise<SignedPayment> {
  const payer = ctx.discovery.payer
  const now = BigInt(Math.floor(Date.now() / 1000))
  const message = {
    from: payer.address,
    to: getAddress(o.to ?? offer.payTo),
    value: o.value ?? BigInt(offer.amount),
    validAfter: o.validAfter ?? 0n,
    validBefore: o.validBefore ?? now + BigInt(offer.maxTimeoutSeconds),
    nonce: nonceFor(ctx.unique(o.label ?? 'nonce')),
  }
  const domain = { name: String(offer.extra?.['name'] ?? ''), version: String(offer.extra?.['version'] ?? ''), chainId, verifyingContract: getAddress(offer.asset) }
  const signature = await signTransferAuthorization(o.signer ?? payer, domain, message)
  return {
    authorization: { ...message, value: message.value.toString(), validAfter: message.validAfter.toString(), validBefore: message.validBefore.toString() },
    signature,
  }
}

/** The payment-identifier echo for a payment: declared info plus a run-unique id (or as asked). */
export function paymentIdExtension(ctx: X402Context, id?: string | null): Record<string, unknown> | undefined {
  const pid = ctx.discovery.paymentIdentifier
  if (!pid || id === null) return undefined
  const declared = ctx.discovery.unpaid?.paymentRequired?.extensions?.['payment-identifier']
  return { 'payment-identifier': { ...declared, info: { ...declared?.info, id: id ?? ctx.unique('pay').replace(/[^A-Za-z0-9_-]/g, '_') } } }
}

/** A v2 `PAYMENT-SIGNATURE` value: `accepted` is the offer verbatim unless overridden. */
export function paymentHeader(ctx: X402Context, s: SignedPayment, accepted: Requirements, extensions?: Record<string, unknown> | undefined): string {
  const pr = ctx.discovery.unpaid?.paymentRequired
  return encodeB64Json({ x402Version: 2, ...(pr?.resource ? { resource: pr.resource } : {}), accepted, payload: s, ...(extensions ? { extensions } : {}) })
}

/** Send the route's request with extra headers. */
export function callRoute(ctx: X402Context, headers: Record<string, string>): Promise<HttpResponse> {
  const r = ctx.discovery.route!
  return ctx.http.request({ method: r.method, path: r.url, headers })
}

/** The offer and chain a check needs (capabilities guarantee them). */
export function offerOf(ctx: X402Context): { offer: Requirements; chainId: number } {
  const { offer, chainId } = ctx.discovery
  if (!offer || chainId === undefined) throw new CheckFailure('discovery found no exact/eip155 offer (a capability should have skipped this check)')
  return { offer, chainId }
}

/** A 402 that offers again and names why (the SDK's `PaymentRequired.error`). */
export function expectRefusal(res: HttpResponse, what: string): PaymentRequired {
  assert(res.status === 402, `${what}: expected HTTP 402, got ${res.status}${res.text ? ` (body: ${show(res.text)})` : ''}`)
  const pr = decodeB64Json<PaymentRequired>(res.header('payment-required'), `${what}: PAYMENT-REQUIRED`)
  assert(Array.isArray(pr.accepts) && pr.accepts.length > 0, `${what}: the 402 does not offer again (accepts ${show(pr.accepts)})`)
  assert(typeof pr.error === 'string' && pr.error.length > 0, `${what}: PAYMENT-REQUIRED.error is empty`)
  return pr
}

/** Fail unless `actual` is the SDK reason `expected`. */
export function expectReason(actual: unknown, expected: string, what: string): void {
  assertEqual(actual, expected, `${what}: reason`)
}

/** Token balances of payer and payee (needs the chain). */
export async function balances(ctx: X402Context, offer: Requirements): Promise<{ payer: bigint; payTo: bigint }> {
  const chain = ctx.discovery.chain!
  const [payer, payTo] = await Promise.all([chain.tokenBalance(getAddress(offer.asset), ctx.discovery.payer.address), chain.tokenBalance(getAddress(offer.asset), getAddress(offer.payTo))])
  return { payer, payTo }
}

/** No money moved for a refused payment: its authorization is unused on chain (when a chain is known). */
export async function expectUnused(ctx: X402Context, offer: Requirements, s: SignedPayment, what: string): Promise<void> {
  const chain = ctx.discovery.chain
  if (!chain) return ctx.note('no chain (--rpc-url): the authorization state was not read')
  assert(!(await chain.authorizationUsed(getAddress(offer.asset), s.authorization.from, s.authorization.nonce)), `${what}: the refused authorization was used on chain`)
}

export const isTxHash = (v: unknown): boolean => typeof v === 'string' && TX_HASH.test(v)

