import { createHash } from 'node:crypto'
import type { Logger } from 'pino'
import type { IntentInstrument, IntentLineItem, IntentTotal, Money, PaymentIntent } from '../../../core/intent/types.js'
import type { AssetRegistry } from '../../../core/money/assets.js'
import { processPayment, type ProcessPaymentReturnType } from '../../../core/pipeline/processPayment.js'
import type { DestinationsFor } from '../../../core/pipeline/webhookEvent.js'
import type { PolicyEngine } from '../../../core/policy/port.js'
import type { RailRegistry } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { newId } from '../../../core/util/ids.js'
import { eip3009IntentFields, isEvmRail, type Eip3009Credential } from '../../rails/evm/index.js'
import { checkConstraints, type ConstraintResult } from './constraints.js'
import type { Ap2ErrorCode } from './errors.js'
import type { Ap2MerchantOptions } from './options.js'
import { signCheckoutReceipt, signPaymentReceipt, type ReceiptSigner } from './receipts.js'
import { LOCK, usageOf, type MandateLedger, type NonceService, type OtpProvider } from './state.js'
import { receivedReference, verifyPresentation, type Ap2TrustConfig, type VerifiedPresentation } from './verifyPresentation.js'
import { mandateNonce, parseX402Payload, type X402Requirement } from './x402.js'

/** Everything the AP2 payment service needs; built once by {@link ap2Mount}. */
export interface Ap2ServiceDeps {
  store: Store
  assets: AssetRegistry
  rails: RailRegistry
  policy: PolicyEngine
  destinationsFor: DestinationsFor
  logger: Logger
  trust: Ap2TrustConfig
  merchants: readonly Ap2MerchantOptions[]
  signer: ReceiptSigner
  nonces: NonceService
  challenges: { issue(reference: string, now: number): string; check(id: string, reference: string, now: number): string | undefined }
  ledger: MandateLedger
  instruments: {
    alipayAgreement: { enabled: boolean; rail?: string | undefined }
    x402: { enabled: boolean; rail?: string | undefined; tokens: Array<{ asset: string; currency: string }> }
  }
  stepUp?: { amountAtLeast: Record<string, string>; otp: OtpProvider; maxAttempts: number } | undefined
  /** Where x402 requirements say the resource is (the A2A endpoint). */
  resourceUrl: string
  clock: () => Date
}

/** One AP2 v0.2 payment request, from the REST body or the A2A DataParts. */
export interface Ap2PaymentInput {
  checkoutMandate: unknown
  paymentMandate: unknown
  /** The `risk_data` DataPart / field: recorded as a hash, never logged. */
  riskData?: unknown
  /** An x402 PaymentPayload (a2a-x402 `x402.payment.payload`). */
  x402Payload?: unknown
  /** OTP step-up: the challenge answered and the code. */
  challengeId?: string | undefined
  challengeResponse?: string | undefined
  /** The caller's agent id when it authenticated with an API key. */
  agentId?: string | undefined
}

export type Ap2PaymentOutcome =
  | {
      kind: 'success'
      intent: PaymentIntent
      paymentReceipt: string
      checkoutReceipt: string
      /** The same presentation was processed before: its receipt, no second charge. */
      replayed: boolean
      x402?: { success: true; transaction: string; network: string; payer: string } | undefined
    }
  | {
      kind: 'error'
      error: Ap2ErrorCode
      description: string
      paymentReceipt: string
      checkoutReceipt?: string | undefined
      intent?: PaymentIntent | undefined
      constraints?: ConstraintResult[] | undefined
    }
  | { kind: 'challenge'; challengeId: string; challenge: { type: 'otp'; display_text: string }; reference: string }
  | { kind: 'payment_required'; accepts: X402Requirement[]; reference: string }
  | { kind: 'pending'; intent: PaymentIntent; reference: string }

/** Limit of OTP attempts per challenge (per process). */
const attempts = new Map<string, number>()

/**
 * Process one AP2 v0.2 payment (DESIGN §4): verify the presentation ({@link verifyPresentation}),
 * route the instrument, step up with an OTP when configured, consume the nonce, hold the open
 * mandate's double-spend lock, check budget / recurrence / single use against the spend ledger,
 * then submit the canonical intent (`authorization.type = ap2.mandate`, the verified constraints
 * recorded) through {@link processPayment} — policy, routing and the rail — exactly once per
 * checkout (`dedupeKey` = `transaction_id`). Every final outcome carries a receipt signed by the
 * gateway; refusals are values, never exceptions.
 */
export async function processAp2Payment(deps: Ap2ServiceDeps, input: Ap2PaymentInput): Promise<Ap2PaymentOutcome> {
  const nowDate = deps.clock()
  const now = nowDate.getTime() / 1000
  const paymentChain = typeof input.paymentMandate === 'string' ? input.paymentMandate : ''
  const checkoutChain = typeof input.checkoutMandate === 'string' ? input.checkoutMandate : ''
  const errorOut = (error: Ap2ErrorCode, description: string, extra: { reference?: string | undefined; referenceJwt?: string | undefined; intent?: PaymentIntent | undefined; constraints?: ConstraintResult[] | undefined } = {}): Ap2PaymentOutcome => {
    const reference = extra.reference ?? receivedReference(paymentChain)
    const paymentId = extra.intent?.id ?? newId('pa')
    return {
      kind: 'error',
      error,
      description,
      intent: extra.intent,
      constraints: extra.constraints,
      paymentReceipt: signPaymentReceipt(deps.signer, { status: 'Error', reference, payment_id: paymentId, error, error_description: description }, { now, referenceJwt: extra.referenceJwt }),
      checkoutReceipt: checkoutChain
        ? signCheckoutReceipt(deps.signer, { status: 'Error', reference: receivedReference(checkoutChain), error, error_description: description }, { now })
        : undefined,
    }
  }
  if (!paymentChain) return errorOut('invalid_mandate', 'the payment mandate (ap2.mandates.PaymentMandateSdJwt) must be a compact SD-JWT string')
  if (!checkoutChain) return errorOut('invalid_mandate', 'the checkout mandate (ap2.mandates.CheckoutMandateSdJwt) must be a compact SD-JWT string')

  const verified = verifyPresentation({ ...deps.trust, checkoutMandate: checkoutChain, paymentMandate: paymentChain, now })
  if (!verified.ok) return errorOut(verified.error, verified.description, { constraints: verified.results })
  const p = verified.presentation
  const reference = p.payment.reference
  const refs = { reference, referenceJwt: p.payment.referenceJwt }
  const closed = p.payment.closed

  for (const nonce of p.nonces) {
    const problem = deps.nonces.check(nonce, now)
    if (problem) return errorOut('invalid_credential', `nonce: ${problem}`, refs)
  }
  if (closed.execution_date !== undefined && Date.parse(closed.execution_date) > (now + (deps.trust.clockSkewSeconds ?? 300)) * 1000)
    return errorOut('mandates_not_supported', `execution_date ${closed.execution_date} is in the future: the gateway executes payments immediately`, refs)

  const merchant = deps.merchants.find((m) => m.payee.id === p.merchant.payee.id)
  if (!merchant) return errorOut('invalid_mandate', `no merchant ${p.merchant.payee.id} is configured`, refs)

  // Route the instrument before anything is consumed.
  const route = routeInstrument(deps, p, merchant, paymentChain, input.x402Payload)
  if ('error' in route) return errorOut(route.error, route.description, refs)
  if ('accepts' in route) return { kind: 'payment_required', accepts: route.accepts, reference }

  // OTP step-up (never for x402, as in the samples).
  if (deps.stepUp && route.kind !== 'x402' && needsStepUp(deps.stepUp.amountAtLeast, closed.payment_amount)) {
    const stepped = await stepUp(deps, input, reference, now, closed.payment_amount, p.merchant.payee.name)
    if (stepped) return stepped.kind === 'error' ? errorOut(stepped.error, stepped.description, refs) : stepped
  }

  // Consume the nonces once; a repeat of the very same presentation is an idempotent replay.
  const lockUntil = new Date((Math.max(...[p.payment.presentation?.iat ?? now, p.checkout.presentation?.iat ?? now]) + (deps.trust.maxPresentationAgeSeconds ?? 900) + 2 * (deps.trust.clockSkewSeconds ?? 300)) * 1000)
  let replay = false
  for (const nonce of p.nonces) {
    const fresh = await deps.store.acquireReplayLock({ namespace: LOCK.nonce, key: nonce, holder: reference, expiresAt: lockUntil, now: nowDate })
    const pair = await deps.store.acquireReplayLock({ namespace: LOCK.nonceRef, key: `${nonce}|${reference}`, holder: reference, expiresAt: lockUntil, now: nowDate })
    if (fresh) continue
    if (!pair) {
      replay = true
      continue
    }
    await deps.store.releaseReplayLock({ namespace: LOCK.nonceRef, key: `${nonce}|${reference}`, holder: reference })
    return errorOut('invalid_credential', 'the nonce was already used by another presentation (replay)', refs)
  }

  // The double-spend rule: one closed mandate in flight per open payment mandate.
  const open = p.openPayment
  const openId = open?.jwtHash
  if (openId) {
    const held = await deps.store.acquireReplayLock({ namespace: LOCK.inflight, key: openId, holder: reference, expiresAt: new Date(nowDate.getTime() + 120_000), now: nowDate })
    if (!held) return errorOut('invalid_mandate', 'another closed mandate from this open mandate is still being processed (double-spend rule: wait for its receipt)', refs)
  }
  try {
    let reserved = false
    let constraintResults = p.constraintResults
    if (open && openId) {
      const entries = await deps.ledger.entries(openId)
      if (!entries.some((e) => e.spendId === reference)) {
        const r = checkConstraints({ kind: 'payment', open: open.mandate, closed, openCheckoutHashes: p.checkout.open.map((l) => l.segmentHash), now, usage: usageOf(entries) })
        if (!r.ok) return errorOut(r.error, r.description, { ...refs, constraints: r.results })
        constraintResults = [...p.constraintResults.filter((c) => c.type.startsWith('checkout.')), ...r.results]
        reserved = await deps.ledger.add(openId, { spendId: reference, amount: BigInt(closed.payment_amount.amount), currency: closed.payment_amount.currency, at: nowDate })
      }
    }
    const release = async (): Promise<void> => {
      if (reserved && openId) await deps.ledger.remove(openId, reference)
    }

    const result: ProcessPaymentReturnType = await processPayment(
      { store: deps.store, assets: deps.assets, rails: deps.rails, policy: deps.policy, destinationsFor: deps.destinationsFor, clock: deps.clock },
      {
        merchantId: merchant.merchantId,
        origin: { protocol: 'ap2', version: '0.2', ref: reference },
        payer: { ...payerOf(p, input.agentId), ...route.payer },
        amount: route.amount,
        instrument: route.instrument,
        authorization: { type: 'ap2.mandate', verified_at: nowDate.toISOString(), constraints: recordedConstraints(p, constraintResults, input.riskData, route.constraints) },
        lineItems: lineItemsOf(p),
        totals: totalsOf(p),
        metadata: { ap2_reference: reference, ap2_transaction_id: closed.transaction_id, ap2_checkout_id: p.checkoutObject.id.slice(0, 500), ap2_modality: p.modality },
        actor: `agent:${payerOf(p, input.agentId).agent_id}`,
        dedupeKey: `ap2:${closed.transaction_id}`,
        credential: route.credential,
        rail: route.rail,
      },
    )
    // An exception above leaves the reservation in place: money may have moved (safe side).
    return await outcomeOf(deps, result, { p, reference, refs, now, release, replay, x402: route.kind === 'x402' ? route.network : undefined })
  } finally {
    if (openId) await deps.store.releaseReplayLock({ namespace: LOCK.inflight, key: openId, holder: reference })
  }
}

async function outcomeOf(
  deps: Ap2ServiceDeps,
  result: ProcessPaymentReturnType,
  ctx: { p: VerifiedPresentation; reference: string; refs: { reference: string; referenceJwt: string }; now: number; release: () => Promise<void>; replay: boolean; x402: string | undefined },
): Promise<Ap2PaymentOutcome> {
  const { p, now } = ctx
  let intent = result.intent
  let replayed = false
  if (result.kind === 'existing') {
    if (intent.origin.ref !== ctx.reference) {
      await ctx.release()
      return errorReceiptFor(deps, p, ctx.refs, now, 'invalid_mandate', 'this checkout is already being paid or was paid with another payment mandate; ask the merchant for a new checkout', undefined)
    }
    replayed = true
  }
  if (result.kind === 'declined' || (result.kind === 'existing' && (intent.status === 'failed' || intent.status === 'canceled'))) {
    if (!replayed) await ctx.release()
    const reasons = result.kind === 'declined' ? result.reasons.join(', ') : (intent.status_reason ?? intent.status)
    return errorReceiptFor(deps, p, ctx.refs, now, 'payment_declined', `the payment was declined: ${reasons}`, intent)
  }
  if (result.kind === 'requires_approval' || (result.kind === 'existing' && intent.status === 'requires_approval')) {
    if (!replayed) await ctx.release()
    const reasons = result.kind === 'requires_approval' ? result.reasons.join(', ') : (intent.status_reason ?? 'review')
    return errorReceiptFor(deps, p, ctx.refs, now, 'unresolved_constraint', `gateway policy needs a person to approve this payment (${reasons}); present user-signed closed mandates instead`, intent)
  }
  if (result.kind === 'processing' || (result.kind === 'existing' && intent.status !== 'succeeded' && intent.status !== 'partially_refunded' && intent.status !== 'refunded')) {
    return { kind: 'pending', intent, reference: ctx.reference }
  }
  intent = result.intent
  const settlementRef = intent.settlement?.reference ?? ''
  const rail = intent.settlement?.rail ?? intent.route?.rail ?? 'rail'
  const network = intent.instrument.network
  const paymentReceipt = signPaymentReceipt(
    deps.signer,
    { status: 'Success', reference: ctx.reference, payment_id: intent.id, psp_confirmation_id: settlementRef, network_confirmation_id: network ? `${network}:${settlementRef}` : `${rail}:${settlementRef}` },
    { now, referenceJwt: ctx.refs.referenceJwt },
  )
  const checkoutReceipt = signCheckoutReceipt(deps.signer, { status: 'Success', reference: p.checkout.reference, order_id: p.checkoutObject.id }, { now, referenceJwt: p.checkout.referenceJwt })
  return {
    kind: 'success',
    intent,
    paymentReceipt,
    checkoutReceipt,
    replayed: replayed || ctx.replay,
    x402: ctx.x402 ? { success: true, transaction: settlementRef, network: ctx.x402, payer: intent.payer.address ?? '' } : undefined,
  }
}

function errorReceiptFor(
  deps: Ap2ServiceDeps,
  p: VerifiedPresentation,
  refs: { reference: string; referenceJwt: string },
  now: number,
  error: Ap2ErrorCode,
  description: string,
  intent: PaymentIntent | undefined,
): Ap2PaymentOutcome {
  return {
    kind: 'error',
    error,
    description,
    intent,
    paymentReceipt: signPaymentReceipt(deps.signer, { status: 'Error', reference: refs.reference, payment_id: intent?.id ?? newId('pa'), error, error_description: description }, { now, referenceJwt: refs.referenceJwt }),
    checkoutReceipt: signCheckoutReceipt(deps.signer, { status: 'Error', reference: p.checkout.reference, error, error_description: description }, { now, referenceJwt: p.checkout.referenceJwt }),
  }
}

type Route =
  | {
      kind: 'alipay' | 'x402'
      instrument: IntentInstrument
      amount: Money
      credential: unknown
      rail?: string | undefined
      payer: { address?: string }
      network?: string | undefined
      constraints: Record<string, unknown>
    }
  | { error: Ap2ErrorCode; description: string }
  | { accepts: X402Requirement[] }

/**
 * Map the mandate's `payment_instrument` to a rail credential: `alipay.agreement` (the agreement
 * number is the instrument `id`, which the user signed) or `x402` (an EIP-3009 authorisation whose
 * nonce is `keccak256(payment chain)`). Anything else is `mandates_not_supported`.
 */
function routeInstrument(deps: Ap2ServiceDeps, p: VerifiedPresentation, merchant: Ap2MerchantOptions, paymentChain: string, x402Payload: unknown): Route {
  const closed = p.payment.closed
  const instrument = closed.payment_instrument
  const currency = closed.payment_amount.currency
  const fiat = deps.assets.get(`iso4217:${currency}`)
  if (!fiat) return { error: 'mandates_not_supported', description: `currency ${currency} is not in the asset registry` }
  if (instrument.type === 'alipay.agreement') {
    if (!deps.instruments.alipayAgreement.enabled) return { error: 'mandates_not_supported', description: 'alipay.agreement instruments are not enabled' }
    const rail = deps.instruments.alipayAgreement.rail
    if (!(rail ? deps.rails.get(rail) : deps.rails.forInstrument('alipay.agreement')[0])) return { error: 'mandates_not_supported', description: 'no rail settles alipay.agreement here' }
    if (!/^[0-9A-Za-z_-]{1,64}$/.test(instrument.id)) return { error: 'invalid_mandate', description: 'payment_instrument.id is not an Alipay agreement number' }
    return {
      kind: 'alipay',
      instrument: { type: 'alipay.agreement', ref: instrument.id },
      amount: { value: String(closed.payment_amount.amount), asset: fiat.id },
      credential: { mode: 'agreement', agreementNo: instrument.id },
      rail,
      payer: {},
      constraints: {},
    }
  }
  if (instrument.type === 'x402') {
    const cfg = deps.instruments.x402
    if (!cfg.enabled) return { error: 'mandates_not_supported', description: 'x402 instruments are not enabled' }
    const evm = deps.rails.get(cfg.rail ?? 'evm')
    if (!isEvmRail(evm)) return { error: 'mandates_not_supported', description: 'no EVM rail settles x402 here' }
    const wantNetwork = typeof instrument['network'] === 'string' ? instrument['network'] : undefined
    const wantAsset = typeof instrument['asset'] === 'string' ? instrument['asset'].toLowerCase() : undefined
    const token = cfg.tokens
      .filter((t) => t.currency === currency)
      .map((t) => ({ t, info: evm.token(t.asset), asset: deps.assets.get(t.asset) }))
      .find(({ t, info, asset }) => info && asset && (!wantNetwork || asset.network === wantNetwork) && (!wantAsset || t.asset.toLowerCase() === wantAsset || info.address.toLowerCase() === wantAsset))
    if (!token?.info || !token.asset?.network) return { error: 'mandates_not_supported', description: `no x402 token pays ${currency}${wantNetwork ? ` on ${wantNetwork}` : ''}` }
    if (token.asset.decimals < fiat.decimals) return { error: 'mandates_not_supported', description: `token ${token.t.asset} has fewer decimals than ${currency}` }
    const network = token.asset.network
    const payTo = merchant.payTo?.[network]
    if (!payTo) return { error: 'mandates_not_supported', description: `merchant ${merchant.payee.id} has no wallet on ${network}` }
    const declared = typeof instrument['payee_address'] === 'string' ? instrument['payee_address'] : typeof instrument['pay_to'] === 'string' ? instrument['pay_to'] : undefined
    if (declared && declared.toLowerCase() !== payTo.toLowerCase()) return { error: 'invalid_mandate', description: `the instrument names payee address ${declared}, not the merchant's wallet` }
    const value = (BigInt(closed.payment_amount.amount) * 10n ** BigInt(token.asset.decimals - fiat.decimals)).toString()
    const nonce = mandateNonce(paymentChain)
    if (x402Payload === undefined) {
      return {
        accepts: [
          {
            scheme: 'exact',
            network,
            asset: token.info.address,
            payTo,
            maxAmountRequired: value,
            resource: deps.resourceUrl,
            description: `AP2 payment ${p.payment.reference}`,
            mimeType: 'application/json',
            maxTimeoutSeconds: 300,
            extra: { name: token.info.name, version: token.info.version, nonce, ap2_reference: p.payment.reference },
          },
        ],
      }
    }
    const parsed = parseX402Payload(x402Payload)
    if (typeof parsed === 'string') return { error: 'invalid_credential', description: parsed }
    if (parsed.authorization.nonce.toLowerCase() !== nonce) return { error: 'invalid_credential', description: 'the EIP-3009 nonce is not keccak256 of the payment mandate chain: the authorisation is not bound to this mandate' }
    if (parsed.network && parsed.network !== network) return { error: 'invalid_credential', description: `the authorisation is for ${parsed.network}, not ${network}` }
    const credential: Eip3009Credential = { authorization: parsed.authorization, signature: parsed.signature, payTo }
    const f = eip3009IntentFields(credential, network)
    return {
      kind: 'x402',
      instrument: f.instrument,
      amount: { value, asset: token.asset.id },
      credential,
      rail: evm.rail,
      payer: f.payer,
      network,
      constraints: { eip3009: f.constraints, mandate_amount: { value: String(closed.payment_amount.amount), asset: fiat.id }, peg: `${token.asset.id}=${fiat.id}` },
    }
  }
  return { error: 'mandates_not_supported', description: `payment_instrument.type ${JSON.stringify(instrument.type)} is not settled here (alipay.agreement, x402)` }
}

function needsStepUp(thresholds: Record<string, string>, amount: { amount: number; currency: string }): boolean {
  const t = thresholds[amount.currency]
  return t !== undefined && BigInt(amount.amount) >= BigInt(t)
}

async function stepUp(
  deps: Ap2ServiceDeps,
  input: Ap2PaymentInput,
  reference: string,
  now: number,
  amount: { amount: number; currency: string },
  payee: string,
): Promise<Ap2PaymentOutcome | { kind: 'error'; error: Ap2ErrorCode; description: string } | undefined> {
  const s = deps.stepUp!
  const challenge = async (): Promise<Ap2PaymentOutcome> => {
    const challengeId = deps.challenges.issue(reference, now)
    const { displayText } = await s.otp.issue({ challengeId, amount: String(amount.amount), currency: amount.currency, payee })
    return { kind: 'challenge', challengeId, challenge: { type: 'otp', display_text: displayText }, reference }
  }
  if (input.challengeResponse === undefined || input.challengeId === undefined) return challenge()
  const problem = deps.challenges.check(input.challengeId, reference, now)
  if (problem) return challenge()
  if (await s.otp.verify({ challengeId: input.challengeId, code: input.challengeResponse })) {
    attempts.delete(input.challengeId)
    return undefined
  }
  const n = (attempts.get(input.challengeId) ?? 0) + 1
  attempts.set(input.challengeId, n)
  if (attempts.size > 10_000) attempts.clear()
  if (n >= s.maxAttempts) return { kind: 'error', error: 'invalid_credential', description: `step-up failed: ${n} wrong one-time codes` }
  const again = await s.otp.issue({ challengeId: input.challengeId, amount: String(amount.amount), currency: amount.currency, payee })
  return { kind: 'challenge', challengeId: input.challengeId, challenge: { type: 'otp', display_text: `Wrong code. ${again.displayText}` }, reference }
}

function payerOf(p: VerifiedPresentation, agentId: string | undefined): { agent_id: string; user_id?: string } {
  const agent = agentId ?? (p.modality === 'human_not_present' ? `jwk:${p.payment.signerThumbprint}` : `user:${p.payment.root.thumbprint}`)
  const user = `key:${p.payment.root.kid}`.slice(0, 128)
  return { agent_id: agent.slice(0, 128), user_id: user }
}

function recordedConstraints(p: VerifiedPresentation, results: ConstraintResult[], riskData: unknown, extra: Record<string, unknown>): Record<string, unknown> {
  const risk = riskData ?? p.payment.closed.risk_data
  // JSON round trip: no undefined members in the stored intent.
  return JSON.parse(JSON.stringify({
    ap2_version: '0.2',
    modality: p.modality,
    reference: p.payment.reference,
    checkout_reference: p.checkout.reference,
    transaction_id: p.payment.closed.transaction_id,
    checkout_id: p.checkoutObject.id,
    root: { role: p.payment.root.role, kid: p.payment.root.kid },
    agent_key: p.modality === 'human_not_present' ? p.payment.signerThumbprint : undefined,
    open_payment_mandate: p.openPayment?.jwtHash,
    open_checkout_mandate: p.checkout.open[0]?.segmentHash,
    payee: p.payment.closed.payee,
    payment_amount: { amount: String(p.payment.closed.payment_amount.amount), currency: p.payment.closed.payment_amount.currency },
    payment_instrument: { type: p.payment.closed.payment_instrument.type, id: p.payment.closed.payment_instrument.id },
    open_constraints: p.openPayment?.mandate.constraints,
    results,
    risk_data_sha256: risk === undefined ? undefined : createHash('sha256').update(canonicalJson(risk)).digest('hex'),
    ...extra,
  })) as Record<string, unknown>
}

function lineItemsOf(p: VerifiedPresentation): IntentLineItem[] {
  const asset = `iso4217:${p.checkoutObject.currency}`
  return p.checkoutObject.line_items.slice(0, 500).map((li) => ({
    id: li.item.id.slice(0, 128),
    title: li.item.title.slice(0, 512),
    quantity: li.quantity,
    unit_amount: { value: String(Math.max(0, li.item.price)), asset },
  }))
}

function totalsOf(p: VerifiedPresentation): IntentTotal[] {
  const asset = `iso4217:${p.checkoutObject.currency}`
  const map: Record<string, IntentTotal['type']> = { subtotal: 'subtotal', discount: 'discount', items_discount: 'discount', fulfillment: 'fulfillment', tax: 'tax', fee: 'fee', total: 'total' }
  return p.checkoutObject.totals
    .filter((t) => map[t.type] !== undefined)
    .slice(0, 50)
    .map((t) => ({ type: map[t.type]!, amount: { value: String(Math.abs(t.amount)), asset } }))
}
