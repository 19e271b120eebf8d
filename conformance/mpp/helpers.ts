import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { assert, CheckFailure, show } from '../framework/assert.js'
import type { ChainHelpers, Eip3009Domain, TestWallet } from '../framework/counterparts/wallet.js'
import { signTransferAuthorization } from '../framework/counterparts/wallet.js'
import type { HttpResponse } from '../framework/http.js'
import type { CheckContext, SpecRef } from '../framework/types.js'
import { challengeHash, credentialHeader, decodeB64urlJson, echoOf, paymentChallenges, PROBLEM_BASE, type AuthChallenge, type EchoedChallenge } from './wire.js'

/** The mpp-specs snapshot the suite cites (tempoxyz/mpp-specs main, 2026-08-07). */
const SPEC_COMMIT = 'f9506cd3472d10f31b4a6c790b3fe6b0ff377f96'
/** The suite's spec version: the core draft it checks. */
export const MPP_SPEC_VERSION = 'draft-httpauth-payment-00'

function ref(doc: string, file: string, section: string): SpecRef {
  return { doc, version: MPP_SPEC_VERSION, section, url: `https://github.com/tempoxyz/mpp-specs/blob/${SPEC_COMMIT}/specs/${file}` }
}
/** A clause of the core draft (`§5.1.1 Required Parameters`). */
export const CORE = (section: string): SpecRef => ref('The "Payment" HTTP Authentication Scheme (draft-httpauth-payment-00)', 'core/draft-httpauth-payment-00.md', section)
/** A clause of the charge intent draft. */
export const CHARGE = (section: string): SpecRef => ref('Payment intent "charge" (draft-payment-intent-charge-00)', 'intents/draft-payment-intent-charge-00.md', section)
/** A clause of the EVM charge method draft. */
export const EVM = (section: string): SpecRef => ref('EVM charge method (draft-evm-charge-00)', 'methods/evm/draft-evm-charge-00.md', section)

/** A problem type URI of the scheme. */
export const problem = (code: string): string => `${PROBLEM_BASE}${code}`

/** The evm/charge offer the suite pays: one challenge of the route's 402, with its decoded request. */
export interface EvmOffer {
  challenge: AuthChallenge
  request: Record<string, unknown>
  amount: bigint
  currency: Address
  recipient: Address
  chainId: number
  credentialTypes: readonly string[] | undefined
}

/** What discovery learnt. */
export interface MppDiscovery {
  route?: { url: string; method: string } | undefined
  /** The unpaid answer of the route, kept for the CHAL/REQ checks. */
  unpaid?: { res: HttpResponse; challenges: AuthChallenge[] } | undefined
  /** The evm/charge challenge listing `authorization` (what the suite signs). */
  offer?: EvmOffer | undefined
  /** The route whose challenges expire soon enough to wait for, and how long its challenges live. */
  expiring?: { url: string; method: string; ttlMs: number } | undefined
  chain?: ChainHelpers | undefined
  /** The token's EIP-712 domain (from the chain, or the tokenName/tokenVersion options). */
  domain?: Eip3009Domain | undefined
  payer: TestWallet
}

export type MppContext = CheckContext<MppDiscovery>

/** Send the route's request (optionally with a credential header). */
export function callRoute(ctx: MppContext, authorization?: string, route = ctx.discovery.route): Promise<HttpResponse> {
  if (!route) throw new CheckFailure('no route (a capability should have skipped this check)')
  return ctx.http.request({ method: route.method, path: route.url, headers: authorization === undefined ? {} : { authorization } })
}

/**
 * A fresh 402 of the route and its first evm/charge challenge (each payment signs its own
 * challenge). Checks never depend on each other: when the server hands out an id this run already
 * signed (ids that repeat within a clock tick; MPP-CHAL-008 reports that), it waits and asks again.
 */
export async function freshOffer(ctx: MppContext, route = ctx.discovery.route): Promise<EvmOffer> {
  const signed = await ctx.once('mpp.signed-ids', () => Promise.resolve(new Set<string>()))
  for (let attempt = 0; ; attempt++) {
    const res = await callRoute(ctx, undefined, route)
    assert(res.status === 402, `the unpaid call answered ${res.status}, expected 402`)
    const offer = evmOfferOf(paymentChallenges(res.header('www-authenticate')))
    if (!offer.offer) throw new CheckFailure(`the fresh 402 has no payable evm/charge challenge: ${offer.reason}`)
    const id = offer.offer.challenge.params['id'] ?? ''
    if (!signed.has(id) || attempt >= 3) {
      signed.add(id)
      return offer.offer
    }
    ctx.note(`the fresh challenge repeats an id this run already signed (${id}); asking again in 1.1 s`)
    await new Promise((r) => setTimeout(r, 1100))
  }
}

/** Pick the evm/charge challenge listing `authorization` and decode its request; or say why there is none. */
export function evmOfferOf(challenges: readonly AuthChallenge[]): { offer?: EvmOffer; reason: string } {
  const evm = challenges.filter((c) => c.params['method'] === 'evm' && c.params['intent'] === 'charge')
  if (evm.length === 0) return { reason: `no method="evm" intent="charge" challenge (offers: ${show(challenges.map((c) => `${c.params['method']}/${c.params['intent']}`))})` }
  const reasons: string[] = []
  for (const c of evm) {
    try {
      const { value: request } = decodeB64urlJson(c.params['request'] ?? '')
      const md = (request['methodDetails'] ?? {}) as Record<string, unknown>
      const types = Array.isArray(md['credentialTypes']) ? (md['credentialTypes'] as unknown[]).map(String) : undefined
      if (!types?.includes('authorization')) {
        reasons.push(`credentialTypes ${show(types)} does not list "authorization" (the only type the suite signs)`)
        continue
      }
      const amount = String(request['amount'])
      if (!/^(0|[1-9][0-9]*)$/.test(amount) || !isAddress(String(request['currency'])) || !isAddress(String(request['recipient'])) || !Number.isSafeInteger(md['chainId'])) {
        reasons.push(`request ${show(request)} lacks a base-unit amount, currency, recipient or methodDetails.chainId`)
        continue
      }
      return {
        offer: { challenge: c, request, amount: BigInt(amount), currency: getAddress(String(request['currency'])), recipient: getAddress(String(request['recipient'])), chainId: md['chainId'] as number, credentialTypes: types },
        reason: 'found',
      }
    } catch (e) {
      reasons.push(`request does not decode: ${(e as Error).message}`)
    }
  }
  return { reason: reasons.join('; ') }
}

/** Overrides for one signed authorization (to make a payment the server must refuse). */
export interface SignOverrides {
  to?: Address
  value?: bigint
  nonce?: Hex
  validBefore?: bigint
  /** Replace echoed challenge parameters (the signature still binds the nonce of the ORIGINAL id/realm unless `nonce` is set). */
  echo?: Partial<EchoedChallenge>
  /** Sign with this wallet while claiming the payer as `from`. */
  signer?: TestWallet
}

/** A signed evm/charge credential and its authorization. */
export interface SignedCredential {
  header: string
  from: Address
  nonce: Hex
  echo: EchoedChallenge
}

/**
 * Build an evm/charge `authorization` credential for `offer` the way the draft says (and mppx
 * 0.11.0 does): nonce = challengeHash(id, realm), validAfter 0, validBefore = floor(expires)
 * (or now + 300 s), `source` = did:pkh of the payer, the challenge echoed unchanged.
 */
export async function signCredential(ctx: MppContext, offer: EvmOffer, o: SignOverrides = {}): Promise<SignedCredential> {
  const payer = ctx.discovery.payer
  const domain = ctx.discovery.domain
  if (!domain) throw new CheckFailure('no EIP-712 domain for the token (a capability should have skipped this check)')
  const echo = { ...echoOf(offer.challenge), ...o.echo } as EchoedChallenge
  const expires = offer.challenge.params['expires']
  const validBefore = o.validBefore ?? (expires ? BigInt(Math.floor(new Date(expires).getTime() / 1000)) : BigInt(Math.floor(Date.now() / 1000) + 300))
  const nonce = o.nonce ?? challengeHash({ id: offer.challenge.params['id'] ?? '', realm: offer.challenge.params['realm'] ?? '' })
  const message = { from: payer.address, to: o.to ?? offer.recipient, value: o.value ?? offer.amount, validAfter: 0n, validBefore, nonce }
  const signature = await signTransferAuthorization(o.signer ?? payer, { ...domain, chainId: offer.chainId, verifyingContract: offer.currency }, message)
  const payload = {
    type: 'authorization',
    from: message.from,
    to: message.to,
    value: message.value.toString(),
    validAfter: '0',
    validBefore: validBefore.toString(),
    nonce,
    signature,
  }
  return { header: credentialHeader({ challenge: echo, source: `did:pkh:eip155:${offer.chainId}:${payer.address}`, payload }), from: payer.address, nonce, echo }
}

/** A problem body, parsed. */
export interface Problem {
  type?: unknown
  title?: unknown
  status?: unknown
  detail?: unknown
}

/** Fail on any 5xx (every check that sends something odd calls this first). */
export function expectNo5xx(res: HttpResponse, what: string): void {
  assert(res.status < 500, `${what}: the server answered ${res.status} (a 5xx is never acceptable for a client-side error; body: ${show(res.text)})`)
}

/**
 * A refused credential: the expected status (402 by default), a fresh Payment challenge with
 * `Cache-Control: no-store` (a 402), an RFC 9457 problem body whose `type` is one of `types`, and
 * no `Payment-Receipt` (core §4.2, §5.3.1, §8, §11.10). Returns the problem.
 */
export function expectRefusal(res: HttpResponse, types: readonly string[], what: string, status = 402): Problem {
  expectNo5xx(res, what)
  assert(res.status === status, `${what}: expected HTTP ${status}, got ${res.status} (body: ${show(res.text)})`)
  assert(res.header('payment-receipt') === undefined, `${what}: a refusal carries a Payment-Receipt (core §5.3.1: never on errors)`)
  if (status === 402) {
    assert(paymentChallenges(res.header('www-authenticate')).length > 0, `${what}: the 402 has no fresh WWW-Authenticate: Payment challenge (got ${show(res.header('www-authenticate'))})`)
    const cc = res.header('cache-control') ?? ''
    assert(cc.split(',').some((d) => d.trim().toLowerCase() === 'no-store'), `${what}: the 402 has Cache-Control ${show(cc || undefined)}, expected no-store (core §11.10)`)
  }
  const p = problemOf(res, what)
  const wanted = types.map(problem)
  assert(wanted.includes(String(p.type)), `${what}: problem type ${show(p.type)}, expected ${wanted.length > 1 ? `one of ${show(wanted)}` : show(wanted[0])}${p.detail ? ` (detail: ${show(p.detail)})` : ''}`)
  return p
}

/** The RFC 9457 problem of a response: JSON object with string `type`, `title` and numeric `status` equal to the HTTP status. */
export function problemOf(res: HttpResponse, what: string): Problem {
  const ct = res.header('content-type') ?? ''
  assert(/^application\/problem\+json\b/i.test(ct), `${what}: Content-Type is ${show(ct)}, expected application/problem+json (RFC 9457)`)
  const p = res.json<Problem>()
  assert(p !== null && typeof p === 'object' && !Array.isArray(p), `${what}: the problem body is ${show(p)}, not an object`)
  assert(typeof p.type === 'string' && p.type.length > 0, `${what}: problem.type is ${show(p.type)}`)
  assert(typeof p.title === 'string' && p.title.length > 0, `${what}: problem.title is ${show(p.title)}`)
  assert(p.status === res.status, `${what}: problem.status is ${show(p.status)}, the HTTP status is ${res.status}`)
  return p
}

/** The authorization was not used on chain (no money moved for a refused credential). */
export async function expectUnused(ctx: MppContext, offer: EvmOffer, s: SignedCredential, what: string): Promise<void> {
  const chain = ctx.discovery.chain
  if (!chain) throw new CheckFailure('no chain (a capability should have skipped this check)')
  assert(!(await chain.authorizationUsed(offer.currency, s.from, s.nonce)), `${what}: the refused authorization was used on chain (money moved)`)
}

/** Token balances of payer and recipient. */
export async function balances(ctx: MppContext, offer: EvmOffer): Promise<{ payer: bigint; recipient: bigint }> {
  const chain = ctx.discovery.chain!
  const [payer, recipient] = await Promise.all([chain.tokenBalance(offer.currency, ctx.discovery.payer.address), chain.tokenBalance(offer.currency, offer.recipient)])
  return { payer, recipient }
}


export const isTxHash = (v: unknown): v is Hex => typeof v === 'string' && /^0x[0-9a-fA-F]{64}$/.test(v)
