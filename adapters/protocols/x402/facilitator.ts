/**
 * The facilitator role (digest §5): `POST /verify`, `POST /settle`, `GET /supported`, as
 * `@x402/core`'s `HTTPFacilitatorClient` expects them. Verdicts are 200 with `isValid:false` /
 * `success:false` and the SDK's reason strings; a malformed body is 400 in the same shape (the
 * client turns any body with `isValid` / `success` into a 402 with the reason); nothing is a 500.
 *
 * Settlements are canonical intents (merchant = the caller's merchant key, the configured
 * facilitator merchant, or the `payTo`), exactly once per authorisation. A settlement whose receipt
 * did not arrive answers `settlement_pending` with the tx hash and grants ONE retry with the same
 * body (the SDK resource server's `settleWithPendingRetry`, 2.24+): that retry waits on the same
 * transaction; nothing is ever broadcast twice. Any other repeat of a settled payload is refused.
 */
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response, type Router } from 'express'
import { getAddress, isAddress } from 'viem'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { processPayment } from '../../../core/pipeline/processPayment.js'
import { requireAuth } from '../../http/auth.js'
import { locals } from '../../http/context.js'
import { toGatewayError } from '../../http/errors.js'
import type { LeanJsonRoute } from '../../http/lean.js'
import type { EvmRail } from '../../rails/evm/index.js'
import { credentialOf, intentInputOf, readExactEvmPayload, validBeforeOf, verifyExactEvm, warmExactEvm, type ExactEvmPayment } from './exactEvm.js'
import { chainIdOf, type V1Networks } from './networks.js'
import { awaitSettlement, isPaid, type X402Deps } from './payments.js'
import { claimPaymentId, paymentIdOf, payloadFingerprint } from './paymentIdentifier.js'
import { toX402Reason, X402Reason } from './reasons.js'
import { shapeProblems } from './schemas.js'
import { parsePaymentPayloadV1, type PaymentRequirementsV1 } from './v1/wire.js'
import { parsePaymentPayloadV2, type PaymentRequirementsV2, type SettleResponse, type VerifyResponse } from './v2/wire.js'

/** Replay-lock namespace of the one `settlement_pending` retry a settlement grants. */
export const PENDING_NAMESPACE = 'x402_pending_settlement'
const PENDING_TTL_MS = 10 * 60_000

export interface X402FacilitatorOptions {
  deps: X402Deps
  evm: EvmRail
  v1: V1Networks
  /** The merchant facilitator payments belong to (default: the caller's merchant key, else the payTo). */
  merchantId?: string | undefined
  /** Require a merchant or admin API key (`Authorization: Bearer …`, the SDK's `createAuthHeaders`). */
  requireApiKey: boolean
  pendingWaitMs: number
  idempotencyLeaseMs: number
}

/** A request resolved against our configuration, or a refusal with its HTTP status. */
type Resolved =
  | { ok: true; payment: ExactEvmPayment; paymentId?: string | undefined; fingerprint?: string | undefined }
  | { ok: false; status: 200 | 400; reason: string; message?: string | undefined; network: string; payer?: string | undefined }

/** The `/supported` answer (digest §5.3): concrete networks, v2 and the v1 names, our relayers. */
export function supportedKinds(evm: EvmRail, v1: V1Networks): { kinds: Array<{ x402Version: number; scheme: string; network: string }>; extensions: string[]; signers: Record<string, string[]> } {
  const kinds: Array<{ x402Version: number; scheme: string; network: string }> = []
  const signers = new Set<string>()
  for (const n of evm.networks()) {
    kinds.push({ x402Version: 2, scheme: 'exact', network: n.network })
    const name = v1.nameOf(n.chainId)
    if (name) kinds.push({ x402Version: 1, scheme: 'exact', network: name })
    for (const r of n.relayers) signers.add(getAddress(r))
  }
  return { kinds, extensions: ['payment-identifier'], signers: { 'eip155:*': [...signers] } }
}

/** The facilitator as an express router (mounted at `x402.facilitator.path`) and its error renderer. */
export function facilitatorRouter(o: X402FacilitatorOptions): { router: Router; errorHandler: ErrorRequestHandler; lean: Readonly<Record<string, LeanJsonRoute>> } {
  const router = express.Router()
  const d = o.deps
  const auth: RequestHandler = o.requireApiKey ? requireAuth(d.app.auth, { kinds: ['merchant', 'admin'] }) : (_req, _res, next) => next()

  function resolve(body: unknown): Resolved {
    const problems = shapeProblems('facilitatorRequest', body)
    if (problems) return { ok: false, status: 400, reason: X402Reason.invalidPayload, message: problems, network: '' }
    const { paymentPayload, paymentRequirements } = body as { paymentPayload: Record<string, unknown>; paymentRequirements: Record<string, unknown> }
    const version = paymentPayload['x402Version']
    const reqNetwork = typeof paymentRequirements['network'] === 'string' ? paymentRequirements['network'] : ''
    const fail = (status: 200 | 400, reason: string, message?: string, payer?: string): Resolved => ({ ok: false, status, reason, message, network: reqNetwork, ...(payer ? { payer } : {}) })

    let pp: { scheme: string; network: string; payload: Record<string, unknown>; extensions?: Record<string, unknown> | undefined }
    let req: { scheme: string; network: string; asset: string; payTo: string; amount: string; extra: Record<string, unknown> }
    let chainId: number | undefined
    if (version === 2) {
      const parsed = parsePaymentPayloadV2(paymentPayload)
      if (!parsed.ok) return fail(400, parsed.reason, parsed.message)
      const rp = shapeProblems('requirementsV2', paymentRequirements)
      if (rp) return fail(400, X402Reason.invalidPaymentRequirements, rp)
      const r = paymentRequirements as unknown as PaymentRequirementsV2
      pp = { scheme: parsed.value.accepted.scheme, network: parsed.value.accepted.network, payload: parsed.value.payload, extensions: parsed.value.extensions }
      req = { scheme: r.scheme, network: r.network, asset: r.asset, payTo: r.payTo, amount: r.amount, extra: r.extra ?? {} }
      chainId = chainIdOf(r.network)
    } else if (version === 1) {
      const parsed = parsePaymentPayloadV1(paymentPayload)
      if (!parsed.ok) return fail(400, parsed.reason, parsed.message)
      const rp = shapeProblems('requirementsV1', paymentRequirements)
      if (rp) return fail(400, X402Reason.invalidPaymentRequirements, rp)
      const r = paymentRequirements as unknown as PaymentRequirementsV1
      pp = { scheme: parsed.value.scheme, network: parsed.value.network, payload: parsed.value.payload }
      req = { scheme: r.scheme, network: r.network, asset: r.asset, payTo: r.payTo, amount: r.maxAmountRequired, extra: r.extra ?? {} }
      chainId = o.v1.chainIdOf(r.network)
    } else {
      return fail(200, X402Reason.invalidX402Version, `x402Version ${String(version)} is not 1 or 2`)
    }
    const from = ((pp.payload['authorization'] as { from?: unknown } | undefined)?.from as string | undefined) ?? undefined
    const payer = typeof from === 'string' && isAddress(from, { strict: false }) ? getAddress(from) : undefined
    // The SDK's order (digest §6.2 step 1): scheme, EIP-712 domain, network.
    if (req.scheme !== 'exact') return fail(200, X402Reason.unsupportedScheme, `scheme ${req.scheme} is not supported (exact only)`, payer)
    if (pp.scheme !== 'exact') return fail(200, X402Reason.invalidScheme, undefined, payer)
    const chain = chainId === undefined ? undefined : o.evm.networks().find((n) => n.chainId === chainId)
    if (!chain) return fail(200, X402Reason.invalidNetwork, `network ${req.network} is not supported by this facilitator`, payer)
    if (typeof req.extra['name'] !== 'string' || typeof req.extra['version'] !== 'string') return fail(200, X402Reason.missingEip712Domain, undefined, payer)
    if (pp.network !== req.network) return fail(200, X402Reason.networkMismatch, undefined, payer)
    const token = o.evm.token(chain.network, req.asset)
    if (!token || !d.app.assets.get(token.assetId)) return fail(200, X402Reason.invalidPaymentRequirements, `asset ${req.asset} is not settled by this facilitator on ${req.network}`, payer)
    if (!isAddress(req.payTo, { strict: false })) return fail(200, X402Reason.invalidPaymentRequirements, 'payTo is not an address', payer)
    const ev = readExactEvmPayload(pp.payload)
    if (!ev.ok) return fail(ev.reason === X402Reason.invalidPayload ? 400 : 200, ev.reason, ev.message, payer)
    const id = version === 2 ? paymentIdOf(pp.extensions) : ({ kind: 'none' } as const)
    if (id.kind === 'invalid') return fail(400, X402Reason.invalidPayload, id.message, payer)
    return {
      ok: true,
      payment: {
        version: version,
        chainId: chain.chainId,
        network: chain.network,
        wireNetwork: req.network,
        token,
        authorization: ev.authorization,
        signature: ev.signature,
        payTo: getAddress(req.payTo),
        amount: BigInt(req.amount),
        domain: { name: req.extra['name'], version: req.extra['version'] },
      },
      // The fingerprint only serves the payment-identifier's idempotency: computed only with one.
      ...(id.kind === 'id' ? { paymentId: id.id, fingerprint: payloadFingerprint(paymentPayload) } : {}),
    }
  }

  // --- /supported -------------------------------------------------------------------------------

  router.get('/supported', auth, (_req, res) => {
    res.setHeader('cache-control', 'no-store')
    res.json(supportedKinds(o.evm, o.v1))
  })

  // --- /verify ------------------------------------------------------------------------------------

  /** The `/verify` answer to a body: the express route and the lean route (adapters/http/lean.ts) both give it. */
  async function verifyAnswer(body: unknown): Promise<{ status: number; body: VerifyResponse }> {
    const r = resolve(body)
    if (!r.ok) return { status: r.status, body: verifyBody(false, r.reason, r.message, r.payer) }
    if (r.paymentId) {
      // Verify changes nothing: a repeat is verified again (after a settlement it says the nonce
      // is used); only another payload under the same id is refused.
      const claim = await claimPaymentId(d.app.store, { scope: 'x402:facilitator:verify', id: r.paymentId, fingerprint: r.fingerprint!, leaseMs: 1 })
      if (claim.kind === 'conflict') return { status: 409, body: verifyBody(false, X402Reason.paymentIdentifierConflict, 'this payment-identifier id was used with another payload') }
      if (claim.kind === 'claimed') await claim.complete({ status: 200, headers: {}, body: Buffer.alloc(0) })
    }
    const v = await verifyExactEvm(o.evm, r.payment, 'full')
    return { status: 200, body: v.ok ? { isValid: true, payer: getAddress(v.payer) } : verifyBody(false, v.reason, v.message, v.payer ?? r.payment.authorization.from) }
  }

  router.post('/verify', auth, async (req, res) => {
    const a = await verifyAnswer(req.body)
    sendJson(res, a.status, a.body)
  })

  // --- /settle ------------------------------------------------------------------------------------

  router.post('/settle', auth, async (req, res) => {
    const r = resolve(req.body)
    if (!r.ok) return sendJson(res, r.status, settleFailure(r.reason, r.network, r.payer, r.message))
    if (!r.paymentId) return sendJson(res, 200, await settle(r.payment, merchantFor(req, r.payment)))
    const claim = await claimPaymentId(d.app.store, { scope: 'x402:facilitator:settle', id: r.paymentId, fingerprint: r.fingerprint!, leaseMs: o.idempotencyLeaseMs })
    switch (claim.kind) {
      case 'replay':
        res.status(claim.answer.status)
        for (const [k, v] of Object.entries(claim.answer.headers)) res.setHeader(k, v)
        return res.end(claim.answer.body)
      case 'conflict':
        return sendJson(res, 409, settleFailure(X402Reason.paymentIdentifierConflict, r.payment.wireNetwork, r.payment.authorization.from, 'this payment-identifier id was used with another payload'))
      case 'in_flight':
        res.setHeader('retry-after', String(Math.max(1, Math.ceil(claim.retryAfterMs / 1000))))
        return sendJson(res, 409, settleFailure(X402Reason.paymentIdentifierInFlight, r.payment.wireNetwork, r.payment.authorization.from))
      case 'claimed': {
        let body: SettleResponse
        try {
          body = await settle(r.payment, merchantFor(req, r.payment))
        } catch (err) {
          await claim.release().catch(() => undefined)
          throw err
        }
        // A pending answer is not final: the retry must reach the settlement again, not this copy.
        if (body.errorReason === X402Reason.settlementPending) await claim.release()
        else await claim.complete({ status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) })
        return sendJson(res, 200, body)
      }
    }
  })

  function merchantFor(req: Request, p: ExactEvmPayment): string {
    const principal = locals(req.res!).principal
    if (principal?.kind === 'merchant') return principal.id
    return o.merchantId ?? p.payTo.toLowerCase()
  }

  async function settle(p: ExactEvmPayment, merchantId: string): Promise<SettleResponse> {
    const payer = getAddress(p.authorization.from)
    const local = await verifyExactEvm(o.evm, p, 'local')
    if (!local.ok) return settleFailure(local.reason, p.wireNetwork, payer, local.message)
    warmExactEvm(o.evm, p)
    const pipeline = { store: d.app.store, assets: d.app.assets, destinationsFor: d.app.destinationsFor, rails: d.app.rails, policy: d.app.policy }
    const r = await processPayment(pipeline, { ...intentInputOf(p, { merchantId, role: 'facilitator' }), credential: credentialOf(p), rail: d.rail.rail })
    switch (r.kind) {
      case 'settled':
        return success(p, r.intent)
      case 'declined':
        return settleFailure(toX402Reason(r.reasons[0] ?? X402Reason.transactionFailed, 'settle'), p.wireNetwork, payer)
      case 'requires_approval':
        return settleFailure(X402Reason.requiresApproval, p.wireNetwork, payer)
      case 'processing':
        return pendingOrError(p, r.intent, r.outcome.status === 'unknown' ? r.outcome.reference : undefined)
      case 'existing':
        return existing(p, r.intent)
    }
  }

  async function existing(p: ExactEvmPayment, intent: PaymentIntent): Promise<SettleResponse> {
    const payer = getAddress(p.authorization.from)
    const token = { namespace: PENDING_NAMESPACE, key: intent.id, holder: intent.id }
    if (await d.app.store.releaseReplayLock(token)) {
      // The one retry after `settlement_pending`: wait on the same transaction.
      const now = await awaitSettlement(d, intent.id, o.pendingWaitMs)
      if (now && isPaid(now)) return success(p, now)
      if (now && (now.status === 'failed' || now.status === 'canceled')) return settleFailure(toX402Reason(now.status_reason ?? X402Reason.transactionFailed, 'settle'), p.wireNetwork, payer)
      return pendingOrError(p, now ?? intent)
    }
    d.logger.info({ intent: intent.id }, 'x402 facilitator: settle of an authorization already taken: refused')
    if (intent.status === 'failed' || intent.status === 'canceled') return settleFailure(toX402Reason(intent.status_reason ?? X402Reason.nonceAlreadyUsed, 'settle'), p.wireNetwork, payer)
    return settleFailure(X402Reason.nonceAlreadyUsed, p.wireNetwork, payer, 'this authorization was already settled or is being settled')
  }

  async function pendingOrError(p: ExactEvmPayment, intent: PaymentIntent, reference?: string | undefined): Promise<SettleResponse> {
    const payer = getAddress(p.authorization.from)
    const tx = reference ?? intent.route?.reference
    // Nothing was broadcast (no hash): not pending, and never retried blind.
    if (!tx) return settleFailure(X402Reason.unexpectedSettleError, p.wireNetwork, payer, 'the settlement could not be sent; it is being reconciled')
    const until = new Date(Math.min(Date.now() + PENDING_TTL_MS, validBeforeOf(p).getTime() + PENDING_TTL_MS))
    await d.app.store.acquireReplayLock({ namespace: PENDING_NAMESPACE, key: intent.id, holder: intent.id, expiresAt: until, now: new Date() })
    return { success: false, errorReason: X402Reason.settlementPending, errorMessage: 'the transaction was broadcast; its receipt did not arrive in time', transaction: tx, network: p.wireNetwork, payer }
  }

  function success(p: ExactEvmPayment, intent: PaymentIntent): SettleResponse {
    return { success: true, transaction: intent.settlement?.reference ?? '', network: p.wireNetwork, payer: getAddress(p.authorization.from) }
  }

  /** An error as the facilitator renders it, in the shape of the operation `path` names (logged when it is ours). */
  function errorAnswer(err: unknown, path: string, requestId: string): { status: number; body: unknown; headers?: Readonly<Record<string, string>> | undefined } {
    const ge = toGatewayError(err)
    if (ge.httpStatus >= 500) d.logger.error({ err: ge.cause ?? ge, code: ge.code, requestId }, ge.message)
    const reason = reasonOfError(ge, path.endsWith('/settle') ? 'settle' : 'verify')
    const message = ge.httpStatus >= 500 ? 'internal error' : ge.message
    const body = path.endsWith('/verify') ? verifyBody(false, reason, message) : path.endsWith('/settle') ? settleFailure(reason, '', undefined, message) : { error: reason, message }
    return { status: ge.httpStatus, body, ...(ge.headers ? { headers: ge.headers } : {}) }
  }

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (res.headersSent) return next(err)
    const a = errorAnswer(err, req.path, locals(res).requestId)
    if (a.headers) for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v)
    sendJson(res, a.status, a.body)
  }

  // The plain case of `/verify` (an open facilitator, a JSON body) is also served without express's
  // pipeline: the same answer (verifyAnswer) and the same error rendering (errorAnswer).
  const leanVerify: LeanJsonRoute | undefined = o.requireApiKey
    ? undefined
    : { handle: verifyAnswer, error: (err, req, requestId) => errorAnswer(err, req.url ?? '', requestId) }

  router.use(() => {
    throw new GatewayError('GW_NOT_FOUND', 'the facilitator serves GET /supported, POST /verify and POST /settle')
  })
  return { router, errorHandler, lean: leanVerify ? { '/verify': leanVerify } : {} }
}

function reasonOfError(ge: GatewayError, op: 'verify' | 'settle'): string {
  switch (ge.code) {
    case 'GW_BAD_REQUEST':
    case 'GW_SCHEMA_INVALID':
    case 'GW_BODY_TOO_LARGE':
    case 'GW_UNSUPPORTED_MEDIA_TYPE':
      return X402Reason.invalidPayload
    case 'GW_UNAUTHENTICATED':
      return 'unauthorized'
    case 'GW_FORBIDDEN':
      return 'forbidden'
    case 'GW_NOT_FOUND':
      return 'not_found'
    default:
      return op === 'verify' ? X402Reason.unexpectedVerifyError : X402Reason.unexpectedSettleError
  }
}

function verifyBody(isValid: boolean, reason: string, message?: string | undefined, payer?: string | undefined): VerifyResponse {
  return { isValid, invalidReason: reason, ...(message ? { invalidMessage: message } : {}), ...(payer ? { payer } : {}) }
}

function settleFailure(reason: string, network: string, payer?: string | undefined, message?: string | undefined): SettleResponse {
  return { success: false, errorReason: reason, ...(message ? { errorMessage: message } : {}), ...(payer ? { payer } : {}), transaction: '', network }
}

function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).setHeader('cache-control', 'no-store')
  res.json(body)
}
