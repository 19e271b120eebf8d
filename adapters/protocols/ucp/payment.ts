import { isGatewayError } from '../../../core/errors/gatewayError.js'
import { recordScopedTokenUse, redeemScopedToken, releaseScopedTokenIfUnpaid, scopedTokenSettings } from '../../../core/tokens/index.js'
import type { IntentInstrument, PaymentIntent } from '../../../core/intent/types.js'
import { processPayment, type ProcessPaymentReturnType } from '../../../core/pipeline/processPayment.js'
import type { RailAdapter, RailRegistry } from '../../../core/rails/port.js'
import type { HttpAppDeps } from '../../http/app.js'
import { eip3009IntentFields, type Eip3009Credential } from '../../rails/evm/evmRail.js'
import { checkoutTotal, type CheckoutDoc, type UcpMessage } from './checkout.js'
import type { Negotiated } from './negotiation.js'
import { CAP, UCP_VERSION, type UcpHandlerConfig, type UcpOptions } from './options.js'

export const MOCK_RAIL = 'ucp_mock'
const DEFAULT_NAMES: Record<UcpHandlerConfig['kind'], string> = { 'evm.eip3009': 'dev.agentswitch.evm_eip3009', 'alipay.agreement': 'dev.agentswitch.alipay.agreement', mock: 'dev.ucp.mock_payment', 'gateway.token': 'com.agentswitch.gateway_token' }

function handlerName(h: UcpHandlerConfig): string {
  return h.name ?? DEFAULT_NAMES[h.kind]
}

/** `payment_handlers` as advertised in the profile and in every checkout response (DIGEST §6.2). */
export function handlerDeclarations(o: UcpOptions): Record<string, Array<Record<string, unknown>>> {
  const out: Record<string, Array<Record<string, unknown>>> = {}
  for (const h of o.handlers) {
    const config: Record<string, unknown> =
      h.kind === 'evm.eip3009'
        ? { network: h.network, asset: h.asset, pay_to: h.payTo, decimals: h.tokenDecimals, ...(h.tokenName ? { eip712_domain: { name: h.tokenName, version: h.tokenVersion ?? '1' } } : {}) }
        : h.kind === 'alipay.agreement'
          ? { currencies: [o.currency ?? 'USD'], credential_format: 'token = the Alipay agreement_no' }
          : h.kind === 'gateway.token'
            ? { credential_format: 'token = a scoped single-use token gwt_<id>.<kid>.<signature> (POST /v1/tokens)', issue_url: `${o.publicBaseUrl.replace(/\/+$/, '')}/v1/tokens` }
            : { environment: 'test' }
    ;(out[handlerName(h)] ??= []).push({ id: h.id, version: UCP_VERSION, config })
  }
  return out
}

/**
 * TESTING ONLY: the official suite's `mock_payment_handler` settles on a scripted rail that
 * approves `success_token` and declines anything else. Registered only when a `mock` handler is
 * configured (never in production configs: the config schema documents it as a test flag).
 */
export function registerMockRail(rails: RailRegistry, o: UcpOptions): void {
  if (!o.handlers.some((h) => h.kind === 'mock') || rails.get(MOCK_RAIL)) return
  const rail: RailAdapter<{ token?: unknown }> = {
    rail: MOCK_RAIL,
    instruments: ['gateway.token'],
    async settle(p) {
      if (p.credential?.token === 'success_token') return { status: 'succeeded', reference: `mock_${p.idempotencyKey}`, settledAt: new Date().toISOString() }
      return { status: 'declined', code: 'card_declined', message: 'the mock handler declined this token' }
    },
    async query() {
      return { status: 'not_found' }
    },
    async refund() {
      return { status: 'declined', code: 'not_supported' }
    },
  } as RailAdapter<{ token?: unknown }>
  rails.register(rail as RailAdapter)
}

export type PayResult =
  | { kind: 'settled'; intentId: string }
  | { kind: 'processing'; intentId: string }
  | { kind: 'declined'; messages: UcpMessage[] }
  | { kind: 'rejected'; messages: UcpMessage[] }
  /** Approvals (issue 10, A): a person must approve first; the checkout escalates with the signed approval link. */
  | { kind: 'requires_approval'; intentId: string; reasons: string[] }

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const err = (code: string, content: string, path?: string): UcpMessage => ({ type: 'error', code, content, severity: 'recoverable', ...(path ? { path } : {}) })

/** Optional AP2 check run before any money moves (the AP2 extension). */
export type Ap2Check = (p: { mandate: string; paymentMandate: string | undefined }) => Promise<{ ok: true } | { ok: false; code: string; content: string }>

/**
 * Complete a checkout's payment: choose the instrument, map it to a canonical instrument by
 * `handler_id` (never by credential type), and run the one payment path (`processPayment`:
 * submit exactly once per dedupe key → policy → rail). Credentials are used once and never stored,
 * echoed or logged.
 */
export async function payCheckout(p: {
  deps: HttpAppDeps
  options: UcpOptions
  checkout: CheckoutDoc
  negotiated: Negotiated
  body: Record<string, unknown>
  attempt: number
  ap2Check?: Ap2Check | undefined
}): Promise<PayResult> {
  const { options: o, checkout, body } = p
  const payment = isObj(body['payment']) ? body['payment'] : isObj(body['payment_data']) ? { instruments: [body['payment_data']] } : undefined
  const list = Array.isArray(payment?.['instruments']) ? payment['instruments'].filter(isObj) : []
  if (list.length === 0) return { kind: 'rejected', messages: [err('missing', 'payment.instruments is required to complete', '$.payment.instruments')] }
  const instrument = list.find((i) => i['selected'] === true) ?? list[0]!
  const handlerId = instrument['handler_id']
  const handler = o.handlers.find((h) => h.id === handlerId)
  if (!handler) return { kind: 'rejected', messages: [err('payment_failed', `handler_id ${JSON.stringify(handlerId)} is not offered for this checkout`, '$.payment.instruments[0].handler_id')] }
  const credential = isObj(instrument['credential']) ? instrument['credential'] : undefined
  if (!credential) return { kind: 'rejected', messages: [err('missing', 'the instrument has no credential', '$.payment.instruments[0].credential')] }

  let paymentMandate: string | undefined
  if (p.negotiated.capabilities[CAP.ap2]) {
    const ap2 = isObj(body['ap2']) ? body['ap2'] : undefined
    const mandate = ap2?.['checkout_mandate']
    if (typeof mandate !== 'string') return { kind: 'rejected', messages: [{ type: 'error', code: 'mandate_required', content: 'ap2.checkout_mandate is required', severity: 'requires_buyer_review', path: '$.ap2.checkout_mandate' }] }
    paymentMandate = typeof credential['token'] === 'string' ? credential['token'] : undefined
    if (!p.ap2Check) return { kind: 'rejected', messages: [{ type: 'error', code: 'mandate_invalid_signature', content: 'no AP2 verifier is configured', severity: 'unrecoverable' }] }
    const r = await p.ap2Check({ mandate, paymentMandate })
    if (!r.ok) return { kind: 'rejected', messages: [{ type: 'error', code: r.code, content: r.content, severity: 'requires_buyer_review', path: '$.ap2.checkout_mandate' }] }
  }

  const total = checkoutTotal(checkout)
  const profileHost = p.negotiated.profile ? new URL(p.negotiated.profile.url).host : 'anonymous'
  const agentId = `ucp:${profileHost}`.slice(0, 128)
  const common = {
    merchantId: o.merchantId,
    origin: { protocol: 'ucp' as const, version: UCP_VERSION, ref: checkout.id },
    actor: `agent:${agentId}`,
    dedupeKey: `ucp:${checkout.id}:${p.attempt}`,
    metadata: { ucp_checkout_id: checkout.id, ucp_currency: checkout.currency, ucp_total: String(total) },
  }
  const deps = { store: p.deps.store, assets: p.deps.assets, destinationsFor: p.deps.destinationsFor, rails: p.deps.rails, policy: p.deps.policy }
  let r: ProcessPaymentReturnType
  try {
    if (handler.kind === 'gateway.token') {
      return await payWithScopedToken(p, deps, common, credential['token'], total)
    } else if (handler.kind === 'mock') {
      const instr: IntentInstrument = { type: 'gateway.token', ref: String(instrument['id'] ?? 'instrument').slice(0, 256) }
      r = await processPayment(deps, {
        ...common,
        payer: { agent_id: agentId },
        amount: { value: String(total), asset: `iso4217:${checkout.currency}` },
        instrument: instr,
        authorization: { type: paymentMandate ? 'ap2.mandate' : 'gateway.token' },
        credential: { token: credential['token'] },
        rail: MOCK_RAIL,
      })
    } else if (handler.kind === 'alipay.agreement') {
      const agreementNo = credential['token']
      if (typeof agreementNo !== 'string' || !/^[0-9A-Za-z_-]{1,64}$/.test(agreementNo))
        return { kind: 'rejected', messages: [err('payment_failed', 'credential.token must be an Alipay agreement_no', '$.payment.instruments[0].credential')] }
      r = await processPayment(deps, {
        ...common,
        payer: { agent_id: agentId },
        amount: { value: String(total), asset: `iso4217:${checkout.currency}` },
        instrument: { type: 'alipay.agreement', ref: agreementNo },
        authorization: { type: paymentMandate ? 'ap2.mandate' : 'gateway.token' },
        credential: { mode: 'agreement', agreementNo },
      })
    } else {
      const a = credential['authorization']
      const sig = credential['signature']
      const fields = ['from', 'to', 'value', 'validAfter', 'validBefore', 'nonce'] as const
      if (!isObj(a) || typeof sig !== 'string' || !fields.every((f) => typeof a[f] === 'string'))
        return { kind: 'rejected', messages: [err('payment_failed', 'the credential must be {authorization:{from,to,value,validAfter,validBefore,nonce}, signature}', '$.payment.instruments[0].credential')] }
      const exp = o.currencyExponent ?? 2
      if (handler.tokenDecimals < exp) return { kind: 'rejected', messages: [err('payment_failed', 'the handler token cannot represent this currency')] }
      const value = BigInt(total) * 10n ** BigInt(handler.tokenDecimals - exp)
      const cred: Eip3009Credential = {
        authorization: { from: a['from'], to: a['to'], value: a['value'], validAfter: a['validAfter'], validBefore: a['validBefore'], nonce: a['nonce'] } as Eip3009Credential['authorization'],
        signature: sig,
        payTo: handler.payTo,
        amountMatch: 'exact',
        ...(handler.tokenName ? { requiredDomain: { name: handler.tokenName, version: handler.tokenVersion ?? '1' } } : {}),
      }
      const f = eip3009IntentFields(cred, handler.network)
      r = await processPayment(deps, {
        ...common,
        payer: { agent_id: agentId, ...f.payer },
        amount: { value: value.toString(), asset: handler.asset },
        instrument: f.instrument,
        authorization: { type: paymentMandate ? 'ap2.mandate' : 'x402.signature', constraints: f.constraints },
        credential: cred,
      })
    }
  } catch (e) {
    if (isGatewayError(e) && e.code === 'GW_RAIL_TIMEOUT') throw e
    if (isGatewayError(e) && e.httpStatus < 500) return { kind: 'declined', messages: [err('payment_failed', e.message)] }
    if (isGatewayError(e) && e.code === 'GW_RAIL_UNAVAILABLE') return { kind: 'declined', messages: [err('payment_failed', 'no rail can take this payment now; retry later')] }
    throw e
  }
  return mapOutcome(r)
}

function mapOutcome(r: ProcessPaymentReturnType): PayResult {
  const intent: PaymentIntent = r.intent
  switch (r.kind) {
    case 'settled':
      return { kind: 'settled', intentId: intent.id }
    case 'declined':
      return { kind: 'declined', messages: [err('payment_failed', `the payment was declined (${r.reasons.join(', ') || 'declined'})`, '$.payment')] }
    case 'requires_approval':
      return { kind: 'requires_approval', intentId: intent.id, reasons: r.reasons }
    case 'processing':
      return { kind: 'processing', intentId: intent.id }
    case 'existing':
      if (intent.status === 'succeeded') return { kind: 'settled', intentId: intent.id }
      if (intent.status === 'failed' || intent.status === 'canceled')
        return { kind: 'declined', messages: [err('payment_failed', `the payment was declined (${intent.status_reason ?? intent.status})`, '$.payment')] }
      return { kind: 'processing', intentId: intent.id }
  }
}

// --- scoped single-use tokens (issue 10, T) ----------------------------------------------------

/** UCP message `code` of each scoped-token refusal (codes are open strings, DIGEST §10). */
const TOKEN_CODES: Record<string, string> = {
  GW_TOKEN_INVALID: 'credential_invalid',
  GW_TOKEN_EXPIRED: 'credential_expired',
  GW_TOKEN_USED: 'credential_already_used',
  GW_TOKEN_REVOKED: 'credential_revoked',
  GW_TOKEN_SCOPE_MISMATCH: 'credential_scope_mismatch',
  GW_TOKEN_UNFUNDED: 'payment_failed',
}

/**
 * The `com.agentswitch.gateway_token` handler: redeem the scoped token (single use across
 * protocols and processes) for this checkout's total, then pay on its wallet's funding instrument.
 * The UCP platform is not one of our API-key agents: the signed token itself binds the agent, who
 * becomes the intent's payer. A refused token is a UCP error message on the credential.
 */
async function payWithScopedToken(
  p: { deps: HttpAppDeps; options: UcpOptions; checkout: CheckoutDoc },
  deps: Parameters<typeof processPayment>[0],
  common: { merchantId: string; origin: { protocol: 'ucp'; version: string; ref: string }; actor: string; dedupeKey: string; metadata: Record<string, string> },
  token: unknown,
  total: number,
): Promise<PayResult> {
  const path = '$.payment.instruments[0].credential.token'
  const settings = scopedTokenSettings(p.deps.config)
  if (!settings) return { kind: 'rejected', messages: [err('payment_failed', 'scoped tokens are not configured on this gateway', path)] }
  if (typeof token !== 'string') return { kind: 'rejected', messages: [err('credential_invalid', 'credential.token must be a scoped token gwt_<id>.<kid>.<signature>', path)] }
  const tdeps = { store: p.deps.store, settings, clock: p.options.clock }
  const amount = { value: String(total), asset: `iso4217:${p.checkout.currency}` }
  const redemptionKey = common.dedupeKey
  let redeemed
  try {
    redeemed = await redeemScopedToken(tdeps, {
      token,
      intent: { merchant_id: common.merchantId, amount },
      merchantCategory: p.deps.config.merchants.find((m) => m.id === common.merchantId)?.category,
      via: 'ucp',
      redemptionKey,
    })
  } catch (e) {
    if (isGatewayError(e) && e.code.startsWith('GW_TOKEN_')) return { kind: 'rejected', messages: [err(TOKEN_CODES[e.code] ?? 'payment_failed', e.message, path)] }
    throw e
  }
  const r = await processPayment(deps, {
    ...common,
    actor: `agent:${redeemed.claims.agent_id}`,
    payer: redeemed.payer,
    amount,
    instrument: redeemed.instrument,
    authorization: { ...redeemed.authorization, constraints: { ...redeemed.authorization.constraints, handler: 'gateway_token', ucp_platform: common.actor.slice('agent:'.length) } },
    credential: redeemed.credential,
  })
  const intent = r.intent
  if (intent.status === 'succeeded') await recordScopedTokenUse(tdeps, { tokenId: redeemed.tokenId, redemptionKey, intentId: intent.id })
  else await releaseScopedTokenIfUnpaid(tdeps, { tokenId: redeemed.tokenId, redemptionKey, intent })
  return mapOutcome(r)
}
