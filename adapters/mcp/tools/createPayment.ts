import { z } from 'zod'
import { toolError, toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, idempotencyKey, isToolResult, money } from './defineTool.js'

/** What the model sees of an intent: everything but internals; the gateway never returns credentials. */
interface IntentView {
  id: string
  status: string
  status_reason?: string
  amount?: unknown
  merchant_id?: string
}

/**
 * `create_payment`: `POST /v1/payments` — create a payment and pay it at once, through the same
 * policy, budgets, routing and rails as every protocol.
 */
export const createPayment = defineTool({
  name: 'create_payment',
  title: 'Pay a merchant',
  description: [
    'Pay a merchant now: creates the payment and settles it on a rail in one call (wallet limits, approvals and risk rules apply).',
    'Returns the payment with its status: "succeeded" (paid), "processing" (outcome pending: poll get_payment), or "requires_approval" (a person must approve: poll get_approval_status, then call create_payment again with the same reference and a new idempotency_key to settle it).',
    'A declined payment (e.g. over budget) is a tool error GW_PAYMENT_DECLINED with the reason.',
    'Always give a reference: it is what lets you complete a payment after approval.',
    'Needs an agent key with scope payments:write.',
  ].join(' '),
  inputSchema: {
    merchant_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/).optional().describe('Merchant to pay (may be omitted when the gateway has exactly one merchant).'),
    amount: money.describe('How much to pay.'),
    instrument: z
      .object({
        type: z
          .enum(['alipay.agreement', 'card.vault_token', 'evm.eip3009', 'evm.permit2', 'gateway.token'])
          .describe('What pays: "alipay.agreement" (an Alipay withholding agreement), "card.vault_token" (a vaulted card, via Antom), "evm.eip3009" (a signed stablecoin transfer authorization). list_capabilities shows which rails accept which.'),
        ref: z.string().max(256).optional().describe('For alipay.agreement: the agreement number.'),
        network: z.string().max(64).optional().describe('For EVM instruments: the CAIP-2 network, e.g. "eip155:31337".'),
        credential: z.record(z.string(), z.unknown()).optional().describe('The rail credential, used once and never stored or echoed: for evm.eip3009 { "authorization": { from, to, value, validAfter, validBefore, nonce }, "signature": "0x…", "payTo": "<the merchant\'s address, = authorization.to>" }.'),
      })
      .strict()
      .optional()
      .describe('What pays. Required unless token is given (a token pays with its wallet\'s instrument).'),
    reference: z.string().min(1).max(256).optional().describe('Your order reference, unique per agent: the same reference never pays twice.'),
    wallet_id: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/).optional().describe('Wallet whose budget pays (default: your agent\'s default wallet).'),
    token: z.string().min(1).max(512).optional().describe('A scoped single-use token (gwt_…, from issue_scoped_token): pays with the token\'s wallet; omit instrument.'),
    metadata: z.record(z.string(), z.string().max(500)).optional().describe('String key/values kept with the payment; "category" overrides the merchant\'s category for wallet rules.'),
    idempotency_key: idempotencyKey,
  },
  annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: true, readOnlyHint: false },
  scope: 'payments:write',
  moneyMoving: true,
  async run(gw, { idempotency_key, ...body }) {
    const res = await callGateway(gw, { method: 'POST', path: '/v1/payments', body, idempotencyKey: idempotency_key })
    if (isToolResult(res)) return res
    if (res.status >= 300) return toolErrorFromResponse(res)
    const intent = res.body as IntentView
    const replay = res.replayed ? ' (replayed: the result of the first call with this idempotency_key)' : ''
    switch (intent.status) {
      case 'failed':
        return toolError('GW_PAYMENT_DECLINED', `payment ${intent.id} was declined: ${intent.status_reason ?? 'declined'}${replay}`, { extra: intent })
      case 'canceled':
        return toolError('GW_PAYMENT_DECLINED', `payment ${intent.id} was canceled: ${intent.status_reason ?? 'canceled'}${replay}`, { extra: intent })
      case 'requires_approval':
        return toolOk(intent, `Payment ${intent.id} needs a person's approval${replay}. Poll get_approval_status with intent_id "${intent.id}"; once approved, call create_payment again with the same reference and arguments and a new idempotency_key to settle it.`)
      case 'processing':
        return toolOk(intent, `Payment ${intent.id} is processing: the rail's outcome is not known yet${replay}. Do not pay again; poll get_payment.`)
      default:
        return toolOk(intent, `Payment ${intent.id}: status ${intent.status}${replay}.`)
    }
  },
})
