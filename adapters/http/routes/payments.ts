import { Router } from 'express'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../../core/config/load.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { IntentAuthorization, IntentInstrument, IntentPayer, PaymentIntent } from '../../../core/intent/types.js'
import type { AssetRegistry } from '../../../core/money/assets.js'
import { processPayment, type ProcessPaymentReturnType } from '../../../core/pipeline/processPayment.js'
import type { DestinationsFor } from '../../../core/pipeline/webhookEvent.js'
import type { PolicyEngine } from '../../../core/policy/port.js'
import type { RailRegistry } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import {
  recordScopedTokenUse,
  redeemScopedToken,
  releaseScopedTokenIfUnpaid,
  scopedTokenSettings,
  type RedeemScopedTokenParameters,
  type RedeemScopedTokenReturnType,
  type ReleaseScopedTokenParameters,
} from '../../../core/tokens/index.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import type { ApiSchemas } from '../apiSchemas.js'
import { requireAuth, type Authenticator } from '../auth.js'
import { locals } from '../context.js'
import { idempotency } from '../idempotency.js'

type CreatePaymentRequest = components['schemas']['CreatePaymentRequest']

/** What `POST /v1/payments` needs of scoped tokens (T's verifier, injected). */
export interface PaymentTokenHooks {
  redeem(params: RedeemScopedTokenParameters): Promise<RedeemScopedTokenReturnType>
  /** Record which intent the token paid. */
  recordUse(params: { tokenId: string; redemptionKey: string; intentId: string }): Promise<unknown>
  /** Give the token back when its payment provably moved no money. */
  releaseIfUnpaid(params: ReleaseScopedTokenParameters): Promise<unknown>
}

/** The scoped-token hooks of a configuration (`tokens` section), or undefined when tokens are off. */
export function paymentTokenHooks(config: GatewayConfig, store: Store): PaymentTokenHooks | undefined {
  const settings = scopedTokenSettings(config)
  if (!settings) return undefined
  const deps = { store, settings }
  return {
    redeem: (p) => redeemScopedToken(deps, p),
    recordUse: (p) => recordScopedTokenUse(deps, p),
    releaseIfUnpaid: (p) => releaseScopedTokenIfUnpaid(deps, p),
  }
}

export interface PaymentRoutesDeps {
  config: GatewayConfig
  store: Store
  assets: AssetRegistry
  auth: Authenticator
  schemas: ApiSchemas
  logger: Logger
  destinationsFor: DestinationsFor
  rails: RailRegistry
  policy: PolicyEngine
  tokens?: PaymentTokenHooks | undefined
}

/** The rail credential for an instrument given inline (never stored: only `ref` / `network` reach the intent). */
function credentialOf(instrument: NonNullable<CreatePaymentRequest['instrument']>): unknown {
  const given = instrument.credential as Record<string, unknown> | undefined
  if (given) return given
  if (instrument.type === 'alipay.agreement' && instrument.ref) return { mode: 'agreement', agreementNo: instrument.ref }
  return undefined
}

/**
 * An EIP-3009 payment pays the merchant's configured address (`merchants[].payTo`), never one the
 * payer names: a `payTo` in the credential must equal it (the rail then checks the signed `to`).
 */
function withMerchantPayTo(credential: unknown, payTo: string | undefined, merchantId: string): unknown {
  if (!payTo) throw new GatewayError('GW_RAIL_UNAVAILABLE', `merchant ${merchantId} has no EVM receiving address (merchants[].payTo): it cannot take evm.eip3009 payments`)
  const given = (credential ?? {}) as Record<string, unknown>
  if (given['payTo'] !== undefined && String(given['payTo']).toLowerCase() !== payTo.toLowerCase()) {
    throw new GatewayError('GW_SCHEMA_INVALID', `instrument.credential.payTo must be merchant ${merchantId}'s address ${payTo}`, { details: [{ path: 'instrument.credential.payTo' }] })
  }
  return { ...given, payTo }
}

/**
 * `POST /v1/payments` (issue 10): an agent creates AND pays a payment in one call, through the
 * one pipeline (`processPayment`: submit exactly once per reference, policy — wallets first —,
 * routing, the rail). Answers 201 with the intent in whatever state it reached (`succeeded`,
 * `processing`, `requires_approval`, `failed` + `status_reason`), 200 with the existing intent for
 * a reference already used. Declines are intents, not errors; errors are malformed input, auth,
 * an unknown merchant, a refused scoped token, or no rail (`GW_RAIL_UNAVAILABLE`).
 */
export function paymentRoutes(deps: PaymentRoutesDeps): Router {
  const r = Router()
  const guardRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true })
  const merchants = new Map(deps.config.merchants.map((m) => [m.id, m]))
  const pipeline = { store: deps.store, assets: deps.assets, destinationsFor: deps.destinationsFor, rails: deps.rails, policy: deps.policy }

  r.post('/payments', requireAuth(deps.auth, { kinds: ['agent'], scope: 'payments:write' }), guardRequired, async (req, res) => {
    deps.schemas.assert<CreatePaymentRequest>('CreatePaymentRequest', req.body)
    const body = req.body
    const p = locals(res).principal!
    let merchantId = body.merchant_id
    if (merchantId === undefined) {
      if (merchants.size !== 1) throw new GatewayError('GW_SCHEMA_INVALID', 'merchant_id is required: several merchants are configured', { details: [{ path: 'merchant_id', message: 'is required' }] })
      merchantId = [...merchants.keys()][0]!
    } else if (!merchants.has(merchantId)) {
      throw new GatewayError('GW_NOT_FOUND', `no merchant ${merchantId}`)
    }
    if (!body.instrument && body.token === undefined) {
      throw new GatewayError('GW_SCHEMA_INVALID', 'instrument is required unless token is given', { details: [{ path: 'instrument', message: 'is required' }] })
    }
    // The same reference (else the same Idempotency-Key) never makes a second intent, also after a
    // 5xx answer that the idempotency layer did not store.
    const dedupeKey = `gateway.payments:${p.id}:${body.reference !== undefined ? `ref:${body.reference}` : `idem:${req.get('idempotency-key')!}`}`
    const metadata = body.metadata
    let instrument: IntentInstrument
    let credential: unknown
    let authorization: IntentAuthorization = { type: 'gateway.api_key', verified_at: new Date().toISOString(), constraints: { key_id: p.keyId } }
    let payer: IntentPayer = { agent_id: p.id, ...(body.wallet_id !== undefined ? { wallet_id: body.wallet_id } : {}) }
    let redeemed: RedeemScopedTokenReturnType | undefined
    if (body.token !== undefined) {
      if (!deps.tokens) throw new GatewayError('GW_TOKEN_INVALID', 'scoped tokens are not enabled on this gateway (config section tokens)')
      redeemed = await deps.tokens.redeem({
        token: body.token,
        intent: { merchant_id: merchantId, amount: body.amount, payer: { agent_id: p.id }, ...(metadata ? { metadata } : {}) },
        merchantCategory: merchants.get(merchantId)?.category,
        via: 'gateway',
        redemptionKey: dedupeKey,
      })
      if (body.instrument && body.instrument.type !== redeemed.instrument.type) {
        throw new GatewayError('GW_TOKEN_SCOPE_MISMATCH', `the token pays with its wallet's ${redeemed.instrument.type}, not ${body.instrument.type}; omit instrument`, { details: [{ path: 'instrument.type' }] })
      }
      if (body.wallet_id !== undefined && body.wallet_id !== redeemed.wallet.id) {
        throw new GatewayError('GW_TOKEN_SCOPE_MISMATCH', `the token belongs to another wallet than ${body.wallet_id}`, { details: [{ path: 'wallet_id' }] })
      }
      instrument = redeemed.instrument
      credential = redeemed.credential
      authorization = redeemed.authorization
      payer = redeemed.payer
    } else {
      const i = body.instrument!
      instrument = { type: i.type, ...(i.ref !== undefined ? { ref: i.ref } : {}), ...(i.network !== undefined ? { network: i.network } : {}) }
      credential = credentialOf(i)
      if (i.type === 'evm.eip3009') credential = withMerchantPayTo(credential, merchants.get(merchantId)?.payTo, merchantId)
    }

    // If this throws (no rail, a store error) after a token was redeemed, the token stays used
    // under this presentation's key: a retry with the same reference / Idempotency-Key resumes it.
    const result: ProcessPaymentReturnType = await processPayment(pipeline, {
      merchantId,
      actor: `agent:${p.id}`,
      origin: { protocol: 'gateway', version: 'v1', ref: body.reference ?? `req:${locals(res).requestId}` },
      payer,
      amount: body.amount,
      instrument,
      authorization,
      ...(metadata ? { metadata } : {}),
      dedupeKey,
      credential,
    })
    if (redeemed) await settleTokenUse(deps, redeemed, result.intent)
    res
      .status(result.kind === 'existing' ? 200 : 201)
      .location(`/v1/intents/${result.intent.id}`)
      .json(result.intent)
  })
  return r
}

/** Record the token's use; give it back when the payment provably moved no money. */
async function settleTokenUse(deps: PaymentRoutesDeps, redeemed: RedeemScopedTokenReturnType, intent: PaymentIntent): Promise<void> {
  await deps.tokens!.recordUse({ tokenId: redeemed.tokenId, redemptionKey: redeemed.redemptionKey, intentId: intent.id })
  await deps.tokens!.releaseIfUnpaid({ tokenId: redeemed.tokenId, redemptionKey: redeemed.redemptionKey, intent })
}
