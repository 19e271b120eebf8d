/**
 * Method `evm`, intent `charge`, credential type `authorization` (EIP-3009), digest §10.2: the
 * request a priced route offers, and verification of a credential against THIS route — challenge
 * HMAC, binding (realm, route, amount, currency, recipient, chain id, no splits), expiry, payload
 * shape, challenge-hash nonce, source, and the EVM rail's own EIP-712 check (no chain I/O).
 */
import { randomBytes } from 'node:crypto'
import { getAddress, keccak256, stringToHex, type Address, type Hex } from 'viem'
import { Eip3009Reason, parseEip3009Authorization, type Eip3009Authorization, type EvmRail, type EvmTokenInfo } from '../../rails/evm/index.js'
import type { PricedRoute } from '../x402/pricedRoutes/types.js'
import { base64urlJsonObject } from './base64url.js'
import { encodeRequest, verifyChallengeId, type MppChallenge } from './challenge.js'
import type { MppCredential } from './credential.js'
import { canonicalize } from './jcs.js'
import type { MppProblemType } from './problems.js'
import { isRfc3339 } from './receipt.js'

export const EVM_METHOD = 'evm'
export const CHARGE_INTENT = 'charge'

/** What MPP offers on one priced route: computed once at start-up. */
export interface MppRouteOffer {
  route: PricedRoute
  token: EvmTokenInfo
  chainId: number
  /** CAIP-2. */
  network: string
  /** The `request` of every challenge of this route (JCS-encoded on the wire). */
  request: {
    amount: string
    currency: Address
    recipient: Address
    methodDetails: { chainId: number; credentialTypes: ['authorization']; decimals: number }
  }
}

/**
 * A fresh `opaque` for a challenge of `route`: base64url(JCS({ n, route })). `route` binds the
 * challenge to its route beyond price and payee; `n` (96 random bits) makes every issued
 * challenge id unique, so two payers (or one payer twice) never get the same challenge and
 * EIP-3009 nonce.
 */
export function challengeOpaque(route: Pick<PricedRoute, 'id'>): string {
  return encodeRequest({ n: randomBytes(12).toString('base64url'), route: route.id })
}

/** The route id an echoed `opaque` names, if it is one of ours. */
export function opaqueRoute(opaque: string | undefined): string | undefined {
  const o = opaque === undefined ? undefined : base64urlJsonObject(opaque)
  return typeof o?.['route'] === 'string' ? o['route'] : undefined
}

/**
 * The offer of `route` on the EVM rail, or why there is none (its asset is not an EIP-3009 token
 * of the rail on an eip155 chain).
 */
export function routeOffer(route: PricedRoute, rail: Pick<EvmRail, 'token'>): MppRouteOffer | { error: string } {
  const token = rail.token(route.price.asset)
  if (!token) return { error: `${route.price.asset} is not a token of the EVM rail` }
  const network = route.price.asset.split('/')[0] ?? ''
  const m = /^eip155:([1-9][0-9]*)$/.exec(network)
  if (!m) return { error: `${route.price.asset} is not on an eip155 chain` }
  const chainId = Number(m[1])
  return {
    route,
    token,
    chainId,
    network,
    request: {
      amount: route.price.value,
      currency: getAddress(token.address),
      recipient: getAddress(route.payTo),
      methodDetails: { chainId, credentialTypes: ['authorization'], decimals: token.decimals },
    },
  }
}

/**
 * keccak256(utf8(challenge.id) ‖ utf8(challenge.realm)): the EIP-3009 nonce an `authorization`
 * credential must carry (binds the signature to one challenge).
 *
 * @example challengeHash({ id, realm }) // 0x…32 bytes
 */
export function challengeHash(c: Pick<MppChallenge, 'id' | 'realm'>): Hex {
  return keccak256(stringToHex(`${c.id}${c.realm}`))
}

/** `did:pkh:eip155:<chainId>:<address>`. */
export function didPkh(chainId: number, address: string): string {
  return `did:pkh:eip155:${chainId}:${getAddress(address)}`
}

/** A credential that passed every check that needs no chain: what settles. */
export interface MppEvmPayment {
  challenge: MppChallenge
  offer: MppRouteOffer
  authorization: Eip3009Authorization
  signature: string
  payer: Address
  /** The challenge's expiry. */
  expiresAt: Date
}

export type MppRefusal = { ok: false; problem: MppProblemType; detail: string }

export interface VerifyMppCredentialParameters {
  credential: MppCredential
  /** The route's offer, or undefined when the route does not take MPP. */
  offer: MppRouteOffer
  /** The realm this server issues for the request. */
  realm: string
  /** Current secret first, then retired ones still inside their challenges' lifetime. */
  secrets: readonly string[]
  now: Date
  /** The EVM rail's verification (`EvmRail.verifyAuthorization`), called with `onChain: false`. */
  verifyAuthorization: EvmRail['verifyAuthorization']
}

const refuse = (problem: MppProblemType, detail: string): MppRefusal => ({ ok: false, problem, detail })

/** Which bound request field differs first (for a precise `invalid-challenge` detail). */
function requestMismatch(echoed: Record<string, unknown>, ours: MppRouteOffer['request']): string | undefined {
  if (canonicalize(echoed) === canonicalize(ours)) return undefined
  const md = (echoed['methodDetails'] ?? {}) as Record<string, unknown>
  if (echoed['amount'] !== ours.amount) return 'amount'
  if (typeof echoed['currency'] !== 'string' || echoed['currency'].toLowerCase() !== ours.currency.toLowerCase()) return 'currency'
  if (typeof echoed['recipient'] !== 'string' || echoed['recipient'].toLowerCase() !== ours.recipient.toLowerCase()) return 'recipient'
  if (md['chainId'] !== ours.methodDetails.chainId) return 'methodDetails.chainId'
  if (md['splits'] !== undefined) return 'methodDetails.splits'
  return 'request'
}

/**
 * Verify an `evm`/`charge` credential for this route without chain I/O (digest §5 steps 3–8):
 * a refusal carries the spec's problem type and a precise detail. Balance, nonce state and
 * simulation are left to settlement (the rail checks them before it broadcasts).
 *
 * @example
 * const v = await verifyMppCredential({ credential, offer, realm, secrets: [secret], now: new Date(), verifyAuthorization: rail.verifyAuthorization })
 * if (!v.ok) return refuse(v.problem, v.detail)
 */
export async function verifyMppCredential(p: VerifyMppCredentialParameters): Promise<{ ok: true; payment: MppEvmPayment } | MppRefusal> {
  const { credential, offer } = p
  const c = credential.challenge
  if (c.method !== EVM_METHOD || c.intent !== CHARGE_INTENT) return refuse('method-unsupported', `method ${c.method.slice(0, 40)} intent ${c.intent.slice(0, 40)} is not accepted here (evm charge only)`)
  if (!verifyChallengeId(c, p.secrets)) return refuse('invalid-challenge', 'the challenge id does not match its parameters: it was not issued by this server, or was altered')
  if (c.realm !== p.realm) return refuse('invalid-challenge', 'the challenge was issued for another realm')
  if (opaqueRoute(c.opaque) !== offer.route.id) return refuse('invalid-challenge', 'the challenge was issued for another route')
  const field = requestMismatch(c.request, offer.request)
  if (field) return refuse('invalid-challenge', `the challenge was issued for another route or price (${field} differs)`)
  if (c.expires === undefined) return refuse('invalid-challenge', 'the challenge has no expires parameter')
  if (!isRfc3339(c.expires)) return refuse('invalid-challenge', 'the challenge expires parameter is not RFC 3339')
  const expiresAt = new Date(c.expires)
  if (expiresAt.getTime() <= p.now.getTime()) return refuse('payment-expired', `the challenge expired at ${c.expires}`)

  const payload = credential.payload
  if (payload['type'] !== 'authorization') return refuse('verification-failed', `credential type ${JSON.stringify(typeof payload['type'] === 'string' ? payload['type'].slice(0, 40) : typeof payload['type'])} is not accepted: this challenge lists ["authorization"]`)
  const fields = { from: payload['from'], to: payload['to'], value: payload['value'], validAfter: payload['validAfter'], validBefore: payload['validBefore'], nonce: payload['nonce'] }
  const auth = parseEip3009Authorization(fields)
  const signature = payload['signature']
  if (!auth || typeof signature !== 'string' || !/^0x([0-9a-fA-F]{2})+$/.test(signature))
    return refuse('invalid-payload', 'payload must be { type: "authorization", from, to, value, validAfter, validBefore, nonce, signature } with addresses, decimal integers and hex')
  if (auth.nonce !== challengeHash(c).toLowerCase()) return refuse('verification-failed', 'the authorization nonce is not keccak256(challenge.id ‖ challenge.realm)')
  if (auth.to !== offer.request.recipient) return refuse('verification-failed', 'the authorization pays another recipient')
  const amount = BigInt(offer.request.amount)
  if (auth.value < amount) return refuse('payment-insufficient', `the authorization transfers ${auth.value} but the price is ${amount}`)
  if (auth.value > amount) return refuse('verification-failed', `the authorization transfers ${auth.value}, not exactly the price ${amount}`)
  if (credential.source !== undefined && credential.source.toLowerCase() !== didPkh(offer.chainId, auth.from).toLowerCase())
    return refuse('verification-failed', 'source is not the authorizing address on this chain')

  const authorization = fields as unknown as Eip3009Authorization
  const r = await p.verifyAuthorization({
    network: offer.network,
    asset: offer.token.address,
    authorization,
    signature,
    payTo: offer.request.recipient,
    amount,
    amountMatch: 'exact',
    onChain: false,
  })
  if (!r.ok) {
    switch (r.reason) {
      case Eip3009Reason.validBefore:
        return refuse('payment-expired', 'the authorization validBefore has passed (or leaves less than 6 s)')
      case Eip3009Reason.validAfter:
        return refuse('verification-failed', 'the authorization is not valid yet (validAfter)')
      case Eip3009Reason.invalidSignature:
      case Eip3009Reason.failedToParseSignature:
        return refuse('verification-failed', 'the signature does not recover to the authorizing address under the token EIP-712 domain')
      default:
        return refuse('verification-failed', `the authorization was refused (${r.reason})`)
    }
  }
  return { ok: true, payment: { challenge: c, offer, authorization, signature, payer: auth.from, expiresAt } }
}
