import { createHash } from 'node:crypto'
import type { IntentAuthorization, IntentInstrument, IntentPayer, Money, PaymentIntent } from '../../../core/intent/types.js'
import type { RailRegistry } from '../../../core/rails/port.js'
import { isScopedTokenString, recordScopedTokenUse, redeemScopedToken, releaseScopedTokenIfUnpaid, type ScopedTokenDeps } from '../../../core/tokens/index.js'
import { isGatewayError } from '../../../core/errors/gatewayError.js'
import { acpError } from './errors.js'
import type { AcpMountOptions } from './options.js'
import type { Json } from './session.js'
import type { Vault } from './vault.js'

/**
 * The payment handlers we advertise in `capabilities.payment.handlers` (DIGEST §4.7) and how a
 * `payment_data` of each becomes a canonical intent's instrument plus the rail's credential.
 *
 * - `card_vault` (`dev.acp.tokenized.card`, psp `agentswitch`): a `vt_…` token from our own
 *   delegate-payment vault; charged on the Antom-style card rail.
 * - `eip3009` (`dev.agentswitch.eip3009`): the credential token is base64url JSON
 *   `{ authorization, signature }` of an EIP-3009 `transferWithAuthorization` to `config.pay_to`
 *   for exactly the session total (scaled to token units); settled on the EVM rail.
 * - `alipay_agreement` (`dev.agentswitch.alipay.agreement`): the credential token is the buyer's
 *   Alipay agreement number (代扣协议号); settled on the Alipay rail.
 * - `gateway_token` (`com.agentswitch.gateway_token`): the credential token is a scoped single-use
 *   token (`gwt_…`, `POST /v1/tokens`) redeemed by `core/tokens` (signature, scope, wallet consent,
 *   single use across protocols and processes); charged on the wallet's funding instrument.
 */

export const HANDLER_VERSION = '2026-04-17'
const SPEC_BASE = 'https://agentswitch.dev/acp/handlers'

export interface HandlerContext {
  options: AcpMountOptions
  rails: RailRegistry
  vault: Vault | undefined
  publicUrl: string
  pspMerchantId: string
  /** Scoped-token redemption (issue 10, T): set when the gateway has a `tokens` section. */
  tokens?: ScopedTokenDeps | undefined
  /** The configured category of a merchant (scoped tokens bound to a category). */
  merchantCategory?: ((merchantId: string) => string | undefined) | undefined
}

/** A prepared payment: what `processPayment` needs, plus what to do once the outcome is definitive. */
export interface PreparedPayment {
  handlerId: string
  /** Forced rail family; absent: routing picks one for the instrument. */
  rail?: string | undefined
  amount: Money
  instrument: IntentInstrument
  authorization: IntentAuthorization
  payer: Partial<IntentPayer>
  credential: unknown
  /** Part of the intent's dedupe key: one credential pays once. */
  credentialRef: string
  /** After a definitive outcome (settled or declined), with the intent: e.g. delete the vault card. */
  finish?: ((intent?: PaymentIntent) => Promise<void>) | undefined
}

export interface PrepareParams {
  sessionId: string
  merchantId: string
  currency: string
  total: number
  token: string
  idempotencyKey: string
  now: Date
  /** The authenticated agent completing the session. */
  agentId?: string | undefined
}

interface HandlerDef {
  id: string
  /** Offered for this session currency (and its rail is registered). */
  offered(ctx: HandlerContext, currency: string): boolean
  advertise(ctx: HandlerContext): Json
  prepare(ctx: HandlerContext, p: PrepareParams): Promise<PreparedPayment>
}

const TOKEN_PARAM = '$.payment_data.instrument.credential.token'

function base(id: string, name: string, display: string, order: number, extra: Json): Json {
  return {
    id,
    name,
    display_name: display,
    version: HANDLER_VERSION,
    spec: `${SPEC_BASE}/${name}`,
    psp: 'agentswitch',
    config_schema: `${SPEC_BASE}/${name}/config.json`,
    instrument_schemas: [`${SPEC_BASE}/${name}/instrument.json`],
    display_order: order,
    ...extra,
  }
}

const card: HandlerDef = {
  id: 'card_vault',
  offered: (ctx) => ctx.vault !== undefined && ctx.options.handlers?.card !== undefined && ctx.rails.get(ctx.options.handlers.card.rail ?? 'antom') !== undefined,
  advertise: (ctx) =>
    base('card_vault', 'dev.acp.tokenized.card', 'Card', 0, {
      requires_delegate_payment: true,
      requires_pci_compliance: false,
      config: {
        merchant_id: ctx.pspMerchantId,
        psp: 'agentswitch',
        delegate_payment_url: `${ctx.publicUrl}/acp/agentic_commerce/delegate_payment`,
        accepted_brands: ctx.options.handlers?.card?.brands ?? ['visa', 'mastercard', 'amex', 'discover', 'jcb', 'unionpay'],
        accepted_funding_types: ['credit', 'debit', 'prepaid'],
        supports_3ds: false,
      },
    }),
  async prepare(ctx, p) {
    const redeemed = await ctx.vault!.redeem({ tokenId: p.token, merchantId: ctx.pspMerchantId, sessionId: p.sessionId, amount: p.total, currency: p.currency, now: p.now })
    const c = redeemed.card
    // The token is a bearer credential: the intent (audit chain, webhooks) carries only its fingerprint.
    const ref = `vtfp_${createHash('sha256').update(p.token).digest('hex').slice(0, 32)}`
    return {
      handlerId: 'card_vault',
      rail: ctx.options.handlers?.card?.rail ?? 'antom',
      amount: { value: String(p.total), asset: `iso4217:${p.currency.toUpperCase()}` },
      instrument: { type: 'card.vault_token', ref },
      authorization: { type: 'acp.allowance', verified_at: p.now.toISOString(), constraints: { ...redeemed.doc.allowance, handler: 'card_vault' } },
      payer: {},
      credential: {
        paymentMethodType: 'CARD',
        card: { number: c.number, ...(c.exp_month ? { expiryMonth: c.exp_month } : {}), ...(c.exp_year ? { expiryYear: c.exp_year } : {}), ...(c.cvc ? { cvv: c.cvc } : {}), ...(c.name ? { holderName: c.name } : {}) },
      },
      credentialRef: ref,
      finish: () => ctx.vault!.finish(p.token),
    }
  },
}

const eip3009: HandlerDef = {
  id: 'eip3009',
  offered: (ctx, currency) => {
    const h = ctx.options.handlers?.eip3009
    return h !== undefined && (h.currency ?? 'usd') === currency && ctx.rails.get(h.rail ?? 'evm') !== undefined
  },
  advertise: (ctx) => {
    const h = ctx.options.handlers!.eip3009!
    return base('eip3009', 'dev.agentswitch.eip3009', 'Stablecoin (EIP-3009)', 1, {
      requires_delegate_payment: false,
      requires_pci_compliance: false,
      config: {
        merchant_id: ctx.pspMerchantId,
        network: h.network,
        asset: h.tokenAddress.toLowerCase(),
        decimals: h.decimals,
        eip712: { name: h.eip712.name, version: h.eip712.version },
        pay_to: h.payTo,
        amount_rule: `value = totals[type=total].amount × 10^${h.decimals - 2} (at par with ${(h.currency ?? 'usd').toUpperCase()})`,
        credential_format: 'base64url(JSON {authorization:{from,to,value,validAfter,validBefore,nonce}, signature})',
      },
    })
  },
  async prepare(ctx, p) {
    const h = ctx.options.handlers!.eip3009!
    let parsed: { authorization?: Record<string, unknown>; signature?: unknown }
    try {
      parsed = JSON.parse(Buffer.from(p.token, 'base64url').toString('utf8')) as typeof parsed
    } catch {
      throw acpError('GW_BAD_REQUEST', 'invalid_credential', 'the EIP-3009 credential must be base64url JSON {authorization, signature}', { param: TOKEN_PARAM })
    }
    const a = parsed.authorization
    const fields = ['from', 'to', 'value', 'validAfter', 'validBefore', 'nonce'] as const
    if (!a || typeof parsed.signature !== 'string' || fields.some((f) => typeof a[f] !== 'string')) {
      throw acpError('GW_BAD_REQUEST', 'invalid_credential', 'the EIP-3009 credential must carry authorization {from,to,value,validAfter,validBefore,nonce} and signature as strings', { param: TOKEN_PARAM })
    }
    const auth = Object.fromEntries(fields.map((f) => [f, a[f] as string])) as { from: string; to: string; value: string; validAfter: string; validBefore: string; nonce: string }
    if (auth.to.toLowerCase() !== h.payTo.toLowerCase()) throw acpError('GW_BAD_REQUEST', 'invalid_credential', `the authorization must pay ${h.payTo}`, { param: TOKEN_PARAM })
    const scale = 10n ** BigInt(h.decimals - 2)
    const expected = BigInt(p.total) * scale
    if (!/^[0-9]{1,78}$/.test(auth.value) || BigInt(auth.value) !== expected) {
      throw acpError('GW_BAD_REQUEST', 'amount_mismatch', `the authorization value must be ${expected} (the session total ${p.total} in token units), got ${auth.value}`, { param: TOKEN_PARAM })
    }
    const chainId = h.network.split(':')[1]!
    const asset = `eip155:${chainId}/erc20:${h.tokenAddress.toLowerCase()}`
    return {
      handlerId: 'eip3009',
      rail: h.rail ?? 'evm',
      // The token settles a USD session at par: the intent's amount is in token units (DIGEST §15).
      amount: { value: expected.toString(), asset },
      instrument: { type: 'evm.eip3009', ref: auth.nonce.toLowerCase(), network: h.network },
      authorization: { type: 'acp.allowance', constraints: { handler: 'eip3009', pay_to: h.payTo, value: auth.value, valid_after: auth.validAfter, valid_before: auth.validBefore } },
      payer: { address: auth.from },
      credential: { authorization: auth, signature: parsed.signature, payTo: h.payTo, requiredDomain: h.eip712 },
      credentialRef: auth.nonce.toLowerCase(),
    }
  },
}

const alipay: HandlerDef = {
  id: 'alipay_agreement',
  offered: (ctx, currency) => {
    const h = ctx.options.handlers?.alipayAgreement
    return h !== undefined && (h.currencies ?? ['cny']).includes(currency) && ctx.rails.get(h.rail ?? 'alipay') !== undefined
  },
  advertise: (ctx) =>
    base('alipay_agreement', 'dev.agentswitch.alipay.agreement', 'Alipay', 2, {
      requires_delegate_payment: false,
      requires_pci_compliance: false,
      config: { merchant_id: ctx.pspMerchantId, currencies: ctx.options.handlers?.alipayAgreement?.currencies ?? ['cny'], credential_format: 'the Alipay agreement number (agreement_no)' },
    }),
  prepare(ctx, p) {
    if (!/^[0-9A-Za-z_-]{8,64}$/.test(p.token)) throw acpError('GW_BAD_REQUEST', 'invalid_credential', 'the credential token must be an Alipay agreement number', { param: TOKEN_PARAM })
    return Promise.resolve({
      handlerId: 'alipay_agreement',
      rail: ctx.options.handlers?.alipayAgreement?.rail ?? 'alipay',
      amount: { value: String(p.total), asset: `iso4217:${p.currency.toUpperCase()}` },
      instrument: { type: 'alipay.agreement', ref: p.token },
      authorization: { type: 'gateway.api_key', constraints: { handler: 'alipay_agreement' } },
      payer: {},
      credential: { mode: 'agreement', agreementNo: p.token },
      // An agreement pays many times: one payment per (session, Idempotency-Key).
      credentialRef: `idem:${p.idempotencyKey}`,
    })
  },
}

const gatewayToken: HandlerDef = {
  id: 'gateway_token',
  offered: (ctx) => ctx.tokens !== undefined && ctx.options.handlers?.gatewayToken !== undefined,
  advertise: (ctx) =>
    base('gateway_token', 'com.agentswitch.gateway_token', 'Agent wallet (scoped token)', 3, {
      requires_delegate_payment: false,
      requires_pci_compliance: false,
      config: {
        merchant_id: ctx.options.merchantId,
        credential_format: 'a scoped single-use token gwt_<id>.<kid>.<signature> issued by POST /v1/tokens for this merchant',
        issue_url: `${ctx.publicUrl}/v1/tokens`,
      },
    }),
  async prepare(ctx, p) {
    if (!isScopedTokenString(p.token)) throw acpError('GW_TOKEN_INVALID', 'invalid_credential', 'the credential token must be a scoped token gwt_<id>.<kid>.<signature>', { param: TOKEN_PARAM })
    const amount: Money = { value: String(p.total), asset: `iso4217:${p.currency.toUpperCase()}` }
    // One presentation per session (completions of a session are serialised by its lock): a retry
    // in the same session — after a crash, or after an approval — resumes the same redemption.
    const redemptionKey = `acp:${p.sessionId}`
    const tokens = ctx.tokens!
    const merchantId = ctx.options.merchantId
    let r
    try {
      r = await redeemScopedToken(tokens, {
        token: p.token,
        intent: { merchant_id: merchantId, amount, payer: { agent_id: p.agentId } },
        merchantCategory: ctx.merchantCategory?.(merchantId),
        via: 'acp',
        redemptionKey,
      })
    } catch (e) {
      // The token's own error, pointed at the credential (ACP `param`).
      if (isGatewayError(e) && e.code.startsWith('GW_TOKEN_')) throw acpError(e.code, DEFAULT_TOKEN_CODES[e.code] ?? 'invalid_credential', e.message, { param: TOKEN_PARAM })
      throw e
    }
    const tokenId = r.tokenId
    return {
      handlerId: 'gateway_token',
      amount,
      instrument: r.instrument,
      authorization: { ...r.authorization, constraints: { ...r.authorization.constraints, handler: 'gateway_token' } },
      payer: { ...(r.payer.user_id ? { user_id: r.payer.user_id } : {}), ...(r.payer.wallet_id ? { wallet_id: r.payer.wallet_id } : {}) },
      credential: r.credential,
      // One token makes one intent per session, until a payment that moved no money gives it back.
      credentialRef: `${tokenId}:${r.generation}`,
      finish: async (intent) => {
        if (!intent) return
        if (intent.status === 'succeeded') await recordScopedTokenUse(tokens, { tokenId, redemptionKey, intentId: intent.id })
        else await releaseScopedTokenIfUnpaid(tokens, { tokenId, redemptionKey, intent })
      },
    }
  },
}

/** ACP `code` of the scoped-token errors on the credential (the catalogue's defaults). */
const DEFAULT_TOKEN_CODES: Record<string, string> = {
  GW_TOKEN_INVALID: 'invalid_credential',
  GW_TOKEN_EXPIRED: 'credential_expired',
  GW_TOKEN_USED: 'token_already_used',
  GW_TOKEN_REVOKED: 'credential_revoked',
  GW_TOKEN_SCOPE_MISMATCH: 'credential_scope_mismatch',
  GW_TOKEN_UNFUNDED: 'payment_method_unavailable',
}

export const HANDLERS: readonly HandlerDef[] = [card, eip3009, alipay, gatewayToken]

/** The handlers offered for a session in `currency`. */
export function offeredHandlers(ctx: HandlerContext, currency: string): Json[] {
  return HANDLERS.filter((h) => h.offered(ctx, currency)).map((h) => h.advertise(ctx))
}

export function handlerById(id: string): HandlerDef | undefined {
  return HANDLERS.find((h) => h.id === id)
}
