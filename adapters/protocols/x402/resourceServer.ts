/**
 * x402 on priced routes (the resource-server role, digest §1): the x402 part of the 402 (v2
 * `PAYMENT-REQUIRED` header, v1 JSON body), and the paid call: parse `PAYMENT-SIGNATURE` (or
 * `X-PAYMENT`), match our requirements, verify once, pay through the pipeline (a canonical
 * intent), call the upstream, answer with `PAYMENT-RESPONSE` (or `X-PAYMENT-RESPONSE`).
 *
 * Exactly-once: the intent's dedupe key is the authorisation (chain, token, payer, nonce), so a
 * replayed header finds the first payment and is refused once its answer was delivered; the
 * delivery itself is a single-use lock. A settlement whose receipt did not arrive is answered
 * `settlement_pending` with the tx hash (never a fresh offer: a client would sign again), and the
 * same header sent again gets the resource once the chain confirms.
 */
import { getAddress } from 'viem'
import { processPayment } from '../../../core/pipeline/processPayment.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { EIP3009_REPLAY_NAMESPACE, type EvmRail, type EvmTokenInfo } from '../../rails/evm/index.js'
import { decodeHeaderJson } from './encoding.js'
import { credentialOf, intentInputOf, readExactEvmPayload, replayKeyOf, validBeforeOf, verifyExactEvm, warmExactEvm, type ExactEvmPayment } from './exactEvm.js'
import { chainIdOf, type V1Networks } from './networks.js'
import { authorizeIntent, awaitSettlement, cancelIntent, isPaid, type X402Deps } from './payments.js'
import { claimPaymentId, declarePaymentIdentifier, PAYMENT_IDENTIFIER, paymentIdOf, payloadFingerprint } from './paymentIdentifier.js'
import { jsonAnswer } from './pricedRoutes/middleware.js'
import type { HttpAnswer, OfferChallenge, OfferProvider, PricedCall, PricedRoute, UpstreamResult } from './pricedRoutes/types.js'
import { PAYMENT_REQUIRED_TEXT, toX402Reason, X402Reason } from './reasons.js'
import { encodeXPaymentResponse, parsePaymentPayloadV1, X_PAYMENT_RESPONSE_HEADER, type PaymentRequiredV1, type PaymentRequirementsV1 } from './v1/wire.js'
import {
  acceptedMatches,
  deepEqual,
  encodePaymentRequired,
  encodeSettleResponse,
  parsePaymentPayloadV2,
  PAYMENT_REQUIRED_HEADER,
  PAYMENT_RESPONSE_HEADER,
  type ExtensionDeclaration,
  type PaymentRequiredV2,
  type PaymentRequirementsV2,
  type SettleResponse,
} from './v2/wire.js'

/** What the x402 provider offers on one route: computed once, so every 402 is byte-identical in `accepts`. */
export interface RouteOffer {
  route: PricedRoute
  token: EvmTokenInfo
  chainId: number
  /** CAIP-2. */
  network: string
  v2: PaymentRequirementsV2
  /** The v1 network name, when the chain has one (else v1 clients get no offer). */
  v1Network?: string | undefined
  extensions?: Record<string, ExtensionDeclaration> | undefined
}

export interface X402ResourceServerOptions {
  deps: X402Deps
  evm: EvmRail
  routes: readonly PricedRoute[]
  v1: V1Networks
  /** How long a retried header waits for a pending settlement before answering `settlement_pending` again. */
  pendingWaitMs: number
  /** In-flight lease of a `payment-identifier` claim. */
  idempotencyLeaseMs: number
}

/** The x402 offer provider of priced routes. */
export interface X402ResourceServer extends OfferProvider {
  readonly id: 'x402'
  /** The offer of a route (tests, dev output). */
  offer(routeId: string): RouteOffer | undefined
}

type Version = 1 | 2

/** Build the x402 provider; checks every route's asset against the EVM rail (throws at start-up). */
export function createX402ResourceServer(o: X402ResourceServerOptions): X402ResourceServer {
  const offers = new Map<string, RouteOffer>()
  for (const route of o.routes) {
    const token = o.evm.token(route.price.asset)
    if (!token) throw new Error(`x402 route ${route.id}: ${route.price.asset} is not a token of the EVM rail`)
    const network = route.price.asset.split('/')[0]!
    const chainId = chainIdOf(network)
    if (chainId === undefined) throw new Error(`x402 route ${route.id}: ${route.price.asset} is not on an eip155 chain`)
    offers.set(route.id, {
      route,
      token,
      chainId,
      network,
      v2: {
        scheme: 'exact',
        network,
        amount: route.price.value,
        asset: getAddress(token.address),
        payTo: getAddress(route.payTo),
        maxTimeoutSeconds: route.maxTimeoutSeconds,
        extra: { name: token.name, version: token.version },
      },
      v1Network: o.v1.nameOf(chainId),
      ...(route.paymentIdentifier === 'off' ? {} : { extensions: { [PAYMENT_IDENTIFIER]: declarePaymentIdentifier(route.paymentIdentifier === 'required') } }),
    })
  }
  const offerOf = (call: PricedCall): RouteOffer => offers.get(call.route.id)!

  // --- the 402 ------------------------------------------------------------------------------------

  function challenge(call: PricedCall, error?: string): OfferChallenge {
    const offer = offerOf(call)
    const route = call.route
    const text = error ?? PAYMENT_REQUIRED_TEXT
    const pr: PaymentRequiredV2 = {
      x402Version: 2,
      error: text,
      resource: { url: call.resourceUrl, description: route.description, mimeType: route.mimeType },
      accepts: [offer.v2],
      ...(offer.extensions ? { extensions: offer.extensions } : {}),
    }
    const headers = { [PAYMENT_REQUIRED_HEADER]: encodePaymentRequired(pr) }
    if (!offer.v1Network) return { headers }
    const v1: PaymentRequirementsV1 = {
      scheme: 'exact',
      network: offer.v1Network,
      maxAmountRequired: offer.v2.amount,
      resource: call.resourceUrl,
      description: route.description,
      mimeType: route.mimeType,
      payTo: offer.v2.payTo,
      maxTimeoutSeconds: offer.v2.maxTimeoutSeconds,
      asset: offer.v2.asset,
      extra: { ...offer.v2.extra },
    }
    const body: PaymentRequiredV1 = { x402Version: 1, error: text, accepts: [v1] }
    return { headers, body: { contentType: 'application/json', bytes: Buffer.from(JSON.stringify(body)) } }
  }

  // --- answers ------------------------------------------------------------------------------------

  const refuse = (call: PricedCall, reason: string, status = 402): HttpAnswer => call.challenge({ status, from: 'x402', error: reason })

  const settlementHeader = (version: Version, r: SettleResponse): Record<string, string> =>
    version === 2 ? { [PAYMENT_RESPONSE_HEADER]: encodeSettleResponse(r) } : { [X_PAYMENT_RESPONSE_HEADER]: encodeXPaymentResponse(r) }

  /** The money moved, the answer is not final yet: say so with the tx, never with a fresh offer. */
  function pending(p: ExactEvmPayment, intent: PaymentIntent | undefined, reference?: string | undefined): HttpAnswer {
    const transaction = reference ?? intent?.route?.reference ?? ''
    const r: SettleResponse = {
      success: false,
      errorReason: X402Reason.settlementPending,
      errorMessage: transaction ? 'the settlement has no receipt yet: send the same payment header again' : 'this payment is being processed: send the same payment header again',
      transaction,
      network: p.wireNetwork,
      payer: p.authorization.from,
    }
    return jsonAnswer(402, { x402Version: p.version, error: X402Reason.settlementPending, transaction }, { ...settlementHeader(p.version, r), 'retry-after': '2' })
  }

  async function deliver(call: PricedCall, p: ExactEvmPayment, intent: PaymentIntent, buffered?: UpstreamResult): Promise<HttpAnswer> {
    if (!(await call.claimDelivery(intent.id, validBeforeOf(p)))) {
      o.deps.logger.info({ intent: intent.id, route: call.route.id }, 'x402 payment header replayed after its delivery: refused')
      return refuse(call, X402Reason.nonceAlreadyUsed)
    }
    const receipt: SettleResponse = { success: true, transaction: intent.settlement?.reference ?? '', network: p.wireNetwork, payer: getAddress(p.authorization.from) }
    const paid = settlementHeader(p.version, receipt)
    const up = buffered ?? (await call.callUpstream(upstreamHeaders(intent, p)))
    if (!up.ok) {
      // Paid, not served: the same payment header may fetch again (the delivery is given back).
      await call.releaseDelivery(intent.id)
      return jsonAnswer(up.reason === 'timeout' ? 504 : 502, { error: X402Reason.upstreamUnavailable, message: up.message, paid: true }, { ...paid, 'retry-after': '1' })
    }
    if (up.status >= 500 && !buffered) await call.releaseDelivery(intent.id)
    return { status: up.status, headers: { ...up.headers, ...paid, 'cache-control': privateCache(up.headers['cache-control']) }, body: up.body }
  }

  /** A payment whose authorisation we have seen before (a replay, a retry after `settlement_pending`, a concurrent duplicate). */
  async function existing(call: PricedCall, p: ExactEvmPayment, intent: PaymentIntent): Promise<HttpAnswer> {
    if (Date.now() >= validBeforeOf(p).getTime()) return refuse(call, X402Reason.validBefore)
    if (isPaid(intent)) return deliver(call, p, intent)
    switch (intent.status) {
      case 'processing': {
        if (!intent.route?.reference) return pending(p, intent)
        const now = await awaitSettlement(o.deps, intent.id, o.pendingWaitMs)
        if (now && isPaid(now)) return deliver(call, p, now)
        if (now && (now.status === 'failed' || now.status === 'canceled')) return refuse(call, toX402Reason(now.status_reason ?? X402Reason.transactionFailed, 'settle'))
        return pending(p, now ?? intent)
      }
      case 'failed':
      case 'canceled':
        return refuse(call, toX402Reason(intent.status_reason ?? X402Reason.nonceAlreadyUsed, 'settle'))
      default:
        // created / authorized / requires_approval: another request is paying with this header now.
        return pending(p, intent)
    }
  }

  // --- the paid call ------------------------------------------------------------------------------

  async function pay(call: PricedCall, p: ExactEvmPayment, ref: string | undefined): Promise<HttpAnswer> {
    const route = call.route
    const d = o.deps
    // Local checks first (no RPC): a forged header must not create an intent or hold a nonce.
    const verified = await verifyExactEvm(o.evm, p, 'local')
    if (!verified.ok) return refuse(call, verified.reason)
    const input = intentInputOf(p, {
      merchantId: route.merchantId,
      ref,
      role: 'resource',
      metadata: { x402_route: route.id.slice(0, 500), resource: call.resourceUrl.slice(0, 500) },
    })
    const pipeline = { store: d.app.store, assets: d.app.assets, destinationsFor: d.app.destinationsFor, rails: d.app.rails, policy: d.app.policy }

    if (route.settle === 'before') {
      warmExactEvm(o.evm, p)
      const r = await processPayment(pipeline, { ...input, credential: credentialOf(p), rail: d.rail.rail })
      switch (r.kind) {
        case 'settled':
          return deliver(call, p, r.intent)
        case 'existing':
          return existing(call, p, r.intent)
        case 'declined':
          return refuse(call, toX402Reason(r.reasons[0] ?? X402Reason.transactionFailed, 'settle'))
        case 'requires_approval':
          return refuse(call, X402Reason.requiresApproval)
        case 'processing':
          return pending(p, r.intent, r.outcome.status === 'unknown' ? r.outcome.reference : undefined)
      }
    }

    // Settle-after: balance, nonce and a simulation before the upstream does any work.
    const a = await authorizeIntent(d, input, async () => {
      const full = await verifyExactEvm(o.evm, p, 'full')
      return full.ok ? { ok: true } : { ok: false, reason: full.reason }
    })
    if (a.kind === 'existing') return existing(call, p, a.intent)
    if (a.kind === 'declined') return refuse(call, toX402Reason(a.reasons[0] ?? 'policy_denied', 'verify'))
    if (a.kind === 'requires_approval') return refuse(call, X402Reason.requiresApproval)
    const intent = a.intent
    // Hold the authorisation while the upstream works (digest §11, the verify→settle window): the
    // rail's settlement re-takes the same lock as the same holder.
    const lock = { namespace: EIP3009_REPLAY_NAMESPACE, key: replayKeyOf(p), holder: intent.id }
    if (!(await d.app.store.acquireReplayLock({ ...lock, expiresAt: validBeforeOf(p), now: new Date() }))) {
      await cancelIntent(d, intent.id, 'authorization_in_use')
      return refuse(call, X402Reason.nonceAlreadyUsed)
    }
    const release = (): Promise<unknown> => d.app.store.releaseReplayLock(lock).catch(() => false)
    const up = await call.callUpstream(upstreamHeaders(intent, p))
    if (!up.ok || up.status >= 400) {
      // The authorization flow charges only for success (digest §1 step 4): nothing settles.
      await release()
      await cancelIntent(d, intent.id, up.ok ? `upstream_status_${up.status}` : `upstream_${up.reason}`)
      if (!up.ok) return jsonAnswer(up.reason === 'timeout' ? 504 : 502, { error: X402Reason.upstreamUnavailable, message: up.message, paid: false })
      return { status: up.status, headers: { ...up.headers, 'cache-control': 'no-store' }, body: up.body }
    }
    const s = await settleIntent({ store: d.app.store, destinationsFor: d.app.destinationsFor }, { intentId: intent.id, rail: d.rail, credential: credentialOf(p), actor: 'system:x402' })
    if (isPaid(s.intent)) return deliver(call, p, s.intent, up)
    if (s.intent.status === 'failed') return refuse(call, toX402Reason(s.intent.status_reason ?? X402Reason.transactionFailed, 'settle'))
    return pending(p, s.intent, s.outcome.status === 'unknown' ? s.outcome.reference : undefined)
  }

  async function handle(call: PricedCall): Promise<HttpAnswer> {
    const offer = offerOf(call)
    const header = call.req.get('payment-signature') ?? call.req.get('x-payment') ?? ''
    const decoded = decodeHeaderJson(header)
    if (!decoded.ok) return refuse(call, X402Reason.invalidPayload, 400)
    const version = decoded.value['x402Version']

    let p: ExactEvmPayment
    let paymentId: string | undefined
    let fingerprintOf: unknown
    if (version === 2) {
      const parsed = parsePaymentPayloadV2(decoded.value)
      if (!parsed.ok) return refuse(call, parsed.reason, 400)
      const payload = parsed.value
      if (!acceptedMatches(offer.v2, payload.accepted)) return refuse(call, mismatchReason(offer.v2, payload.accepted))
      if (!echoesMatch(offer.extensions, payload.extensions)) return refuse(call, X402Reason.extensionEchoMismatch)
      if (call.route.paymentIdentifier !== 'off') {
        const id = paymentIdOf(payload.extensions)
        if (id.kind === 'invalid') return refuse(call, X402Reason.invalidPayload, 400)
        if (id.kind === 'none' && call.route.paymentIdentifier === 'required') return refuse(call, X402Reason.paymentIdentifierRequired, 400)
        if (id.kind === 'id') paymentId = id.id
      }
      const ev = readExactEvmPayload(payload.payload)
      if (!ev.ok) return refuse(call, ev.reason, ev.reason === X402Reason.invalidPayload ? 400 : 402)
      p = paymentOf(offer, 2, offer.network, ev)
      fingerprintOf = payload
    } else if (version === 1) {
      const parsed = parsePaymentPayloadV1(decoded.value)
      if (!parsed.ok) return refuse(call, parsed.reason, 400)
      const payload = parsed.value
      if (payload.scheme !== 'exact') return refuse(call, X402Reason.unsupportedScheme)
      if (!offer.v1Network || payload.network !== offer.v1Network) return refuse(call, X402Reason.invalidNetwork)
      const ev = readExactEvmPayload(payload.payload)
      if (!ev.ok) return refuse(call, ev.reason, ev.reason === X402Reason.invalidPayload ? 400 : 402)
      p = paymentOf(offer, 1, offer.v1Network, ev)
    } else {
      return refuse(call, X402Reason.invalidX402Version)
    }

    if (paymentId === undefined) return pay(call, p, undefined)
    const claim = await claimPaymentId(o.deps.app.store, {
      scope: `x402:route:${call.route.id}`,
      id: paymentId,
      fingerprint: payloadFingerprint(fingerprintOf),
      leaseMs: o.idempotencyLeaseMs,
    })
    switch (claim.kind) {
      case 'replay':
        return claim.answer
      case 'conflict':
        return jsonAnswer(409, { x402Version: 2, error: X402Reason.paymentIdentifierConflict, message: 'this payment-identifier id was used with another payment payload' })
      case 'in_flight':
        return jsonAnswer(409, { x402Version: 2, error: X402Reason.paymentIdentifierInFlight, message: 'a request with this payment-identifier id is still running' }, { 'retry-after': String(Math.max(1, Math.ceil(claim.retryAfterMs / 1000))) })
      case 'claimed':
        try {
          const answer = await pay(call, p, paymentId)
          await claim.complete(answer)
          return answer
        } catch (err) {
          await claim.release().catch(() => undefined)
          throw err
        }
    }
  }

  return {
    id: 'x402',
    challenge,
    detect: (req) => req.get('payment-signature') !== undefined || req.get('x-payment') !== undefined,
    handle,
    offer: (routeId) => offers.get(routeId),
  }
}

function paymentOf(offer: RouteOffer, version: Version, wireNetwork: string, ev: { authorization: ExactEvmPayment['authorization']; signature: string }): ExactEvmPayment {
  return {
    version,
    chainId: offer.chainId,
    network: offer.network,
    wireNetwork,
    token: offer.token,
    authorization: ev.authorization,
    signature: ev.signature,
    payTo: offer.v2.payTo,
    amount: BigInt(offer.v2.amount),
    domain: { name: offer.token.name, version: offer.token.version },
  }
}

/** Why a client's `accepted` is none of ours, as precisely as the generic reasons allow. */
function mismatchReason(ours: PaymentRequirementsV2, accepted: PaymentRequirementsV2): string {
  if (accepted.scheme !== ours.scheme) return X402Reason.unsupportedScheme
  if (accepted.network !== ours.network) return X402Reason.invalidNetwork
  return X402Reason.invalidPaymentRequirements
}

/** The echo rule (digest §4.2): what we declared in `info` comes back unchanged (fields may be added). */
function echoesMatch(declared: Record<string, ExtensionDeclaration> | undefined, echoed: Record<string, unknown> | undefined): boolean {
  for (const [key, value] of Object.entries(echoed ?? {})) {
    const ours = declared?.[key]
    if (!ours) continue
    const info = (value as { info?: unknown } | null)?.info
    if (info === null || typeof info !== 'object') return false
    for (const [k, v] of Object.entries(ours.info)) if (!deepEqual(v, (info as Record<string, unknown>)[k])) return false
  }
  return true
}

function upstreamHeaders(intent: PaymentIntent, p: ExactEvmPayment): Record<string, string> {
  return {
    'x-agentswitch-intent': intent.id,
    'x-agentswitch-payer': getAddress(p.authorization.from),
    'x-agentswitch-amount': `${intent.amount.value} ${intent.amount.asset}`,
  }
}

function privateCache(value: string | undefined): string {
  if (!value) return 'private'
  return value.split(',').some((d) => d.trim().toLowerCase() === 'private') ? value : `${value}, private`
}

