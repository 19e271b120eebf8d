/**
 * MPP on priced routes: an {@link OfferProvider} beside x402's. An unpaid call's ONE 402 carries
 * x402's `PAYMENT-REQUIRED` and our `WWW-Authenticate: Payment method="evm" intent="charge"`
 * challenge; a call with `Authorization: Payment …` comes here: verify (HMAC, route binding,
 * expiry, EIP-712), claim the challenge once across instances, pay through the pipeline (origin
 * `mpp`, `mpp.credential`, `evm.eip3009`, dedupe key = the challenge id), deliver once, answer with
 * `Payment-Receipt` and `Cache-Control: private`. Every refusal is a 402 (400 where the spec says
 * so) with a FRESH challenge, `Cache-Control: no-store` and an RFC 9457 problem body.
 *
 * Precedence: providers are asked in mount order and x402 is first, so a request that carries
 * BOTH an x402 payment header and an MPP credential is settled by x402 alone; the MPP credential
 * is ignored (its authorization is never submitted). The payer is charged exactly once.
 */
import { createHash } from 'node:crypto'
import type { Request } from 'express'
import { getAddress } from 'viem'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { processPayment } from '../../../core/pipeline/processPayment.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { SubmitIntentParameters } from '../../../core/pipeline/submitIntent.js'
import type { HttpAppDeps } from '../../http/app.js'
import { EIP3009_REPLAY_NAMESPACE, eip3009IntentFields, eip3009ReplayKey, isEvmRail, type Eip3009Credential, type EvmRail } from '../../rails/evm/index.js'
import { wasApproved } from '../../../core/approvals/approval.js'
import { authorizeIntent, awaitSettlement, cancelIntent, isPaid, type X402Deps } from '../x402/payments.js'
import { jsonAnswer } from '../x402/pricedRoutes/middleware.js'
import type { HttpAnswer, OfferChallenge, OfferProvider, PricedCall, PricedRoute, UpstreamResult } from '../x402/pricedRoutes/types.js'
import { computeChallengeId, formatChallenge, MppParseError, type MppChallenge } from './challenge.js'
import { parseAuthorization } from './credential.js'
import { challengeOpaque, CHARGE_INTENT, EVM_METHOD, routeOffer, verifyMppCredential, type MppEvmPayment, type MppRouteOffer } from './evmCharge.js'
import { MppProblems, problemBody, type MppProblemType } from './problems.js'
import { formatReceipt, type MppReceipt } from './receipt.js'

/** Replay-lock namespace of consumed challenges (one credential per challenge, across instances). */
export const MPP_CHALLENGE_NAMESPACE = 'mpp.challenge'

/** The smallest HMAC secret accepted (mppx and the spec's guidance: ≥ 32 bytes). */
export const MIN_SECRET_BYTES = 32

/** Options of the MPP provider (the `mpp` configuration section, secrets resolved). */
export interface MppOptions {
  /** HMAC-SHA256 key of challenge ids, as UTF-8 bytes; at least 32 bytes. */
  secret: string
  /** Retired secrets still accepted for verification (rotation: keep them until their challenges expired). */
  previousSecrets?: readonly string[] | undefined
  /** The protection space; default the host of `server.publicUrl`, else the request's host name. */
  realm?: string | undefined
  /** Lifetime of a challenge (default 300 s, as mppx). */
  challengeTtlSeconds?: number | undefined
  /** Route ids that offer MPP; default every priced route whose price is a token of the EVM rail. */
  routes?: readonly string[] | undefined
  /** How long a retried credential waits on a pending settlement (default 20 s). */
  pendingWaitMs?: number | undefined
  /** Injected clock (tests). */
  clock?: (() => Date) | undefined
}

/** The MPP provider, with what tests and dev output need. */
export interface MppProvider extends OfferProvider {
  readonly id: 'mpp'
  /** The offer of a route (undefined when it does not take MPP). */
  offer(route: PricedRoute): MppRouteOffer | undefined
}

/** Check options that can be wrong at start-up; throws GW_CONFIG_INVALID naming the field. */
export function checkMppOptions(o: MppOptions): void {
  const bad = (field: string, message: string): never => {
    throw new GatewayError('GW_CONFIG_INVALID', `mpp.${field}: ${message}`)
  }
  if (typeof o.secret !== 'string' || Buffer.byteLength(o.secret, 'utf8') < MIN_SECRET_BYTES) bad('secret', `must be at least ${MIN_SECRET_BYTES} bytes`)
  o.previousSecrets?.forEach((s, i) => {
    if (Buffer.byteLength(s, 'utf8') < MIN_SECRET_BYTES) bad(`previousSecrets[${i}]`, `must be at least ${MIN_SECRET_BYTES} bytes`)
  })
  const ttl = o.challengeTtlSeconds
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 10 || ttl > 86_400)) bad('challengeTtlSeconds', 'must be an integer between 10 and 86400')
}

/** RFC 3339 without milliseconds. */
const rfc3339 = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z')

/**
 * The MPP offer provider for `x402Mount({ offerProviders: [mppOfferProvider(options)] })`.
 * Throws GW_CONFIG_INVALID at mount time for a short secret or when the EVM rail is missing.
 *
 * @example
 * x402Mount({ routes, offerProviders: [mppOfferProvider({ secret: process.env.MPP_SECRET!, realm: 'api.example.com' })] })
 */
export function mppOfferProvider(options: MppOptions): (ctx: { deps: HttpAppDeps }) => MppProvider {
  checkMppOptions(options)
  return ({ deps }) => createMppProvider(deps, options)
}

function createMppProvider(app: HttpAppDeps, o: MppOptions): MppProvider {
  const rail = app.rails.get('evm')
  if (!isEvmRail(rail)) throw new GatewayError('GW_CONFIG_INVALID', 'MPP needs the EVM rail: register it with registerEvmRail in the composition root')
  const evm: EvmRail = rail
  const d: X402Deps = { app, rail: evm, logger: app.logger.child({ protocol: 'mpp' }), actor: 'system:mpp' }
  const secrets = [o.secret, ...(o.previousSecrets ?? [])]
  const ttlMs = (o.challengeTtlSeconds ?? 300) * 1000
  const clock = o.clock ?? (() => new Date())
  const pendingWaitMs = o.pendingWaitMs ?? 20_000
  const only = o.routes ? new Set(o.routes) : undefined
  const publicHost = hostOf(app.config.server.publicUrl)
  const realmOf = (req: Request): string => o.realm ?? publicHost ?? req.hostname ?? 'agentswitch'

  const offers = new Map<string, MppRouteOffer | undefined>()
  function offer(route: PricedRoute): MppRouteOffer | undefined {
    if (offers.has(route.id)) return offers.get(route.id)
    let value: MppRouteOffer | undefined
    if (!only || only.has(route.id)) {
      const r = routeOffer(route, evm)
      if ('error' in r) {
        if (only) throw new GatewayError('GW_CONFIG_INVALID', `mpp.routes: route ${route.id}: ${r.error}`)
        d.logger.info({ route: route.id, reason: r.error }, 'priced route offers no MPP challenge')
      } else value = r
    }
    offers.set(route.id, value)
    return value
  }

  /** The fresh challenge id issued into each call's 402 (for the problem body's `challengeId`). */
  const issued = new WeakMap<PricedCall, string>()

  function challenge(call: PricedCall): OfferChallenge {
    const of = offer(call.route)
    if (!of) return { headers: {} }
    const unsigned: Omit<MppChallenge, 'id'> = {
      realm: realmOf(call.req),
      method: EVM_METHOD,
      intent: CHARGE_INTENT,
      request: of.request,
      expires: rfc3339(new Date(clock().getTime() + ttlMs)),
      opaque: challengeOpaque(call.route),
    }
    const id = computeChallengeId(unsigned, o.secret)
    issued.set(call, id)
    // eslint-disable-next-line no-control-regex
    const description = call.route.description.replace(/[\x00-\x1f\x7f]/g, ' ')
    const header = formatChallenge({ id, ...unsigned, description })
    const body = problemBody('payment-required', 'this resource requires payment', id)
    return { headers: { 'www-authenticate': header }, body: { contentType: 'application/problem+json', bytes: Buffer.from(JSON.stringify(body)) } }
  }

  /** A refusal: the ONE 402 of the route (every provider's fresh offer) with our problem body. */
  function refuse(call: PricedCall, problem: MppProblemType, detail: string, extra: Record<string, unknown> = {}): HttpAnswer {
    const status = MppProblems[problem].status
    const a = call.challenge({ status, from: 'mpp', error: problem })
    const body = problemBody(problem, detail, issued.get(call), extra)
    d.logger.info({ route: call.route.id, problem, detail }, 'MPP credential refused')
    return { status, headers: { ...a.headers, 'content-type': 'application/problem+json', 'cache-control': 'no-store' }, body: Buffer.from(JSON.stringify(body)) }
  }

  /**
   * DESIGN §4.3: the payment waits for a person (`requires_approval`). 402
   * `payment-action-required` naming the intent; once it is approved, the SAME credential sent
   * again (before its challenge expires) settles it: the challenge stays claimed by this
   * credential, and its dedupe key finds the approved intent.
   */
  function actionRequired(call: PricedCall, p: MppEvmPayment, intent: PaymentIntent, reasons: readonly string[]): HttpAnswer {
    return refuse(call, 'payment-action-required', `this payment waits for an approval (${reasons.join(', ') || 'review'}): once it is approved, send the same credential again before ${p.challenge.expires ?? 'the challenge expires'}`, {
      intent_id: intent.id,
      approval: { intent_id: intent.id, status_url: `/v1/approvals/${intent.id}` },
    })
  }

  /** Money moved (or may have), the answer is not final: never a fresh challenge (a client would pay again). */
  function pending(reference: string | undefined): HttpAnswer {
    const body = {
      type: 'https://paymentauth.org/problems/internal-payment-error',
      title: 'Payment Pending',
      status: 503,
      detail: reference ? 'the settlement has no receipt yet: send the same credential again' : 'this credential is being processed: send the same credential again',
      ...(reference ? { reference } : {}),
    }
    return { status: 503, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', 'retry-after': '2' }, body: Buffer.from(JSON.stringify(body)) }
  }

  function receiptOf(p: MppEvmPayment, intent: PaymentIntent): MppReceipt {
    return {
      status: 'success',
      method: EVM_METHOD,
      timestamp: rfc3339(new Date(intent.settlement?.settled_at ?? clock().toISOString())),
      reference: intent.settlement?.reference ?? intent.route?.reference ?? '',
      challengeId: p.challenge.id,
      chainId: p.offer.chainId,
    }
  }

  async function deliver(call: PricedCall, p: MppEvmPayment, intent: PaymentIntent, buffered?: UpstreamResult): Promise<HttpAnswer> {
    if (!(await call.claimDelivery(intent.id, p.expiresAt))) return refuse(call, 'invalid-challenge', 'this challenge was already used: its resource was delivered')
    const receipt = { 'payment-receipt': formatReceipt(receiptOf(p, intent)) }
    const up = buffered ?? (await call.callUpstream(upstreamHeaders(intent, p)))
    if (!up.ok) {
      // Paid, not served: the same credential may fetch again.
      await call.releaseDelivery(intent.id)
      return jsonAnswer(up.reason === 'timeout' ? 504 : 502, { error: 'upstream_unavailable', message: up.message, paid: true }, { 'retry-after': '1' })
    }
    if (up.status >= 500 && !buffered) await call.releaseDelivery(intent.id)
    if (up.status >= 400) return { status: up.status, headers: { ...up.headers, 'cache-control': 'no-store' }, body: up.body }
    return { status: up.status, headers: { ...up.headers, ...receipt, 'cache-control': privateCache(up.headers['cache-control']) }, body: up.body }
  }

  /**
   * Wait (up to `waitMs`) until another request's payment with this challenge is decided: still
   * being authorised (`created` / `authorized`) is polled, `processing` is reconciled with the rail.
   */
  async function awaitDecision(intentId: string, waitMs: number): Promise<PaymentIntent | undefined> {
    const deadline = Date.now() + waitMs
    let delay = 25
    for (;;) {
      const stored = await app.store.getIntent(intentId)
      if (!stored) return undefined
      const status = stored.intent.status
      if (status === 'processing') return awaitSettlement(d, intentId, Math.max(0, deadline - Date.now()))
      if ((status !== 'created' && status !== 'authorized') || Date.now() + delay > deadline) return stored.intent
      await new Promise((r) => setTimeout(r, delay))
      delay = Math.min(delay * 2, 500)
    }
  }

  /**
   * The same credential again (a retry after pending, a concurrent duplicate, a replay). A
   * concurrent duplicate waits for the first request's outcome, so in the normal case it is
   * refused like a replay (402 `invalid-challenge`: the challenge was used) and only a settlement
   * still undecided after `pendingWaitMs` answers 503 "pending" (never a fresh challenge while
   * money may be moving).
   */
  async function existing(call: PricedCall, p: MppEvmPayment, intent: PaymentIntent): Promise<HttpAnswer> {
    if (isPaid(intent)) return deliver(call, p, intent)
    if (intent.status === 'requires_approval') return actionRequired(call, p, intent, [intent.status_reason ?? 'review'])
    // Approved by a person, waiting for this retry (settle-before routes resume in processPayment).
    if (intent.status === 'authorized' && call.route.settle === 'after' && wasApproved(await app.store.listEvents(intent.id))) return settleAfter(call, p, intent, true)
    const wasProcessing = intent.status === 'processing'
    const now = intent.status === 'failed' || intent.status === 'canceled' ? intent : await awaitDecision(intent.id, pendingWaitMs)
    if (now && isPaid(now)) return deliver(call, p, now)
    if (now && (now.status === 'failed' || now.status === 'canceled')) {
      if (wasProcessing) return refuse(call, 'verification-failed', `the settlement failed (${now.status_reason ?? now.status})`)
      return refuse(call, 'invalid-challenge', `this challenge was already used by a payment that ${now.status === 'failed' ? 'failed' : 'was canceled'} (${now.status_reason ?? now.status})`)
    }
    if (now?.status === 'requires_approval') return actionRequired(call, p, now, [now.status_reason ?? 'review'])
    return pending(now?.route?.reference ?? intent.route?.reference)
  }

  async function pay(call: PricedCall, p: MppEvmPayment): Promise<HttpAnswer> {
    const route = call.route
    const input = intentInputOf(p, call)
    const credential = credentialOf(p)
    const declined = (reasons: string[]): HttpAnswer => {
      const r = reasons[0] ?? 'declined'
      return refuse(call, r === 'invalid_exact_evm_insufficient_balance' ? 'payment-insufficient' : 'verification-failed', `the payment was declined (${r})`)
    }
    if (route.settle === 'before') {
      const r = await processPayment({ store: app.store, assets: app.assets, destinationsFor: app.destinationsFor, rails: app.rails, policy: app.policy }, { ...input, credential, rail: 'evm' })
      switch (r.kind) {
        case 'settled':
          return deliver(call, p, r.intent)
        case 'existing':
          return existing(call, p, r.intent)
        case 'declined':
          return declined(r.reasons)
        case 'requires_approval':
          return actionRequired(call, p, r.intent, r.reasons)
        case 'processing':
          return pending(r.outcome.status === 'unknown' ? r.outcome.reference : undefined)
      }
    }
    // Settle after the upstream answered < 400: balance, nonce and a simulation first.
    const a = await authorizeIntent(d, input, async () => {
      const full = await evm.verifyAuthorization({ network: p.offer.network, asset: p.offer.token.address, authorization: p.authorization, signature: p.signature, payTo: p.offer.request.recipient, amount: BigInt(p.offer.request.amount), amountMatch: 'exact' })
      return full.ok ? { ok: true } : { ok: false, reason: full.reason }
    })
    if (a.kind === 'existing') return existing(call, p, a.intent)
    if (a.kind === 'declined') return declined(a.reasons)
    if (a.kind === 'requires_approval') return actionRequired(call, p, a.intent, a.reasons)
    return settleAfter(call, p, a.intent)
  }

  /** Settle after the upstream answered < 400, for an authorised intent (new, or approved by a person). */
  async function settleAfter(call: PricedCall, p: MppEvmPayment, intent: PaymentIntent, resumed = false): Promise<HttpAnswer> {
    const credential = credentialOf(p)
    const declined = (reasons: string[]): HttpAnswer => {
      const r = reasons[0] ?? 'declined'
      return refuse(call, r === 'invalid_exact_evm_insufficient_balance' ? 'payment-insufficient' : 'verification-failed', `the payment was declined (${r})`)
    }
    const lock = { namespace: EIP3009_REPLAY_NAMESPACE, key: eip3009ReplayKey(p.offer.chainId, p.offer.token.address, p.payer, p.authorization.nonce), holder: intent.id }
    if (!(await app.store.acquireReplayLock({ ...lock, expiresAt: validBeforeOf(p), now: clock() }))) {
      if (resumed) {
        // A concurrent retry of this same credential is settling this approved intent: wait for it
        // (never cancel the approved payment under it).
        const now = await awaitDecision(intent.id, pendingWaitMs)
        if (now && isPaid(now)) return deliver(call, p, now)
        if (now && (now.status === 'failed' || now.status === 'canceled')) return refuse(call, 'invalid-challenge', `this challenge was already used by a payment that ended ${now.status} (${now.status_reason ?? now.status})`)
        return pending(now?.route?.reference)
      }
      await cancelIntent(d, intent.id, 'authorization_in_use')
      return refuse(call, 'invalid-challenge', 'this authorization is being used by another payment')
    }
    const release = (): Promise<unknown> => app.store.releaseReplayLock(lock).catch(() => false)
    const up = await call.callUpstream(upstreamHeaders(intent, p))
    if (!up.ok || up.status >= 400) {
      // Nothing settles when the upstream did not serve: the client is not charged.
      await release()
      await cancelIntent(d, intent.id, up.ok ? `upstream_status_${up.status}` : `upstream_${up.reason}`)
      if (!up.ok) return jsonAnswer(up.reason === 'timeout' ? 504 : 502, { error: 'upstream_unavailable', message: up.message, paid: false })
      return { status: up.status, headers: { ...up.headers, 'cache-control': 'no-store' }, body: up.body }
    }
    const s = await settleIntent({ store: app.store, destinationsFor: app.destinationsFor }, { intentId: intent.id, rail: evm, credential, actor: 'system:mpp' })
    if (isPaid(s.intent)) return deliver(call, p, s.intent, up)
    if (s.intent.status === 'failed') return declined([s.intent.status_reason ?? 'transaction_failed'])
    return pending(s.outcome.status === 'unknown' ? s.outcome.reference : undefined)
  }

  /** One credential per challenge, across instances; the same credential may come back (retries). */
  async function claimChallenge(p: MppEvmPayment): Promise<boolean> {
    const holder = createHash('sha256').update(p.signature.toLowerCase()).digest('hex').slice(0, 32)
    const vb = validBeforeOf(p)
    const expiresAt = new Date(Math.max(p.expiresAt.getTime(), vb.getTime(), clock().getTime() + 60_000))
    const lock = { namespace: MPP_CHALLENGE_NAMESPACE, key: p.challenge.id, holder }
    if (await app.store.acquireReplayLock({ ...lock, expiresAt, now: clock() })) return true
    // Held by this same credential (a retry): only its holder can release it; take it again.
    if (await app.store.releaseReplayLock(lock)) return app.store.acquireReplayLock({ ...lock, expiresAt, now: clock() })
    return false
  }

  async function handle(call: PricedCall): Promise<HttpAnswer> {
    const of = offer(call.route)
    if (!of) return refuse(call, 'method-unsupported', 'this route does not accept MPP payments')
    let credential
    try {
      credential = parseAuthorization(call.req.get('authorization') ?? '')
    } catch (err) {
      const message = err instanceof MppParseError ? err.message : 'the credential cannot be read'
      return refuse(call, /several/.test(message) ? 'bad-request' : 'malformed-credential', message)
    }
    const v = await verifyMppCredential({ credential, offer: of, realm: realmOf(call.req), secrets, now: clock(), verifyAuthorization: (params) => evm.verifyAuthorization(params) })
    if (!v.ok) return refuse(call, v.problem, v.detail)
    if (!(await claimChallenge(v.payment))) return refuse(call, 'invalid-challenge', 'this challenge was already used by another credential')
    return pay(call, v.payment)
  }

  return {
    id: 'mpp',
    challenge,
    detect: (req) => /^\s*payment(\s|$)/i.test(req.get('authorization') ?? ''),
    handle,
    offer,
  }
}

/** What the rail settles: the payer's authorization plus what WE bound (payee, exact amount, token domain). */
function credentialOf(p: MppEvmPayment): Eip3009Credential {
  return { authorization: p.authorization, signature: p.signature, payTo: p.offer.request.recipient, amountMatch: 'exact', requiredDomain: { name: p.offer.token.name, version: p.offer.token.version } }
}

/**
 * The canonical intent of an MPP evm charge (DESIGN §2): origin `mpp` (ref = challenge id),
 * instrument `evm.eip3009`, authorization `mpp.credential` with the signed window and the
 * challenge as constraints; dedupe key `mpp:<challenge id>` (one credential = one intent). The
 * signature never enters it.
 */
export function intentInputOf(p: MppEvmPayment, call: Pick<PricedCall, 'route' | 'resourceUrl'>): SubmitIntentParameters {
  const f = eip3009IntentFields({ authorization: p.authorization, payTo: p.offer.request.recipient }, p.offer.network)
  const payer = p.payer.toLowerCase()
  return {
    merchantId: call.route.merchantId,
    actor: `mpp:${payer}`,
    origin: { protocol: 'mpp', version: '1', ref: p.challenge.id },
    payer: { agent_id: `mpp:${payer}`, ...f.payer },
    amount: { value: p.offer.request.amount, asset: p.offer.token.assetId },
    instrument: f.instrument,
    authorization: {
      type: 'mpp.credential',
      constraints: { ...f.constraints, mpp_method: EVM_METHOD, mpp_intent: CHARGE_INTENT, challenge_id: p.challenge.id, realm: p.challenge.realm, expires: p.challenge.expires ?? '' },
    },
    dedupeKey: `mpp:${p.challenge.id}`,
    metadata: { mpp_route: call.route.id.slice(0, 500), resource: call.resourceUrl.slice(0, 500) },
  }
}

function validBeforeOf(p: MppEvmPayment): Date {
  const s = BigInt(p.authorization.validBefore)
  const max = 253_402_300_799n
  return new Date(Number(s < max ? s : max) * 1000)
}

function upstreamHeaders(intent: PaymentIntent, p: MppEvmPayment): Record<string, string> {
  return { 'x-agentswitch-intent': intent.id, 'x-agentswitch-payer': getAddress(p.payer), 'x-agentswitch-amount': `${intent.amount.value} ${intent.amount.asset}` }
}

function privateCache(value: string | undefined): string {
  if (!value) return 'private'
  return value.split(',').some((x) => x.trim().toLowerCase() === 'private') ? value : `${value}, private`
}

function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined
  try {
    return new URL(url).hostname || undefined
  } catch {
    return undefined
  }
}
