import { z } from 'zod'
import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, idempotencyKey, isToolResult, money, paymentId } from './defineTool.js'

/** `refund_payment`: `POST /v1/intents/{id}/refunds`. */
export const refundPayment = defineTool({
  name: 'refund_payment',
  title: 'Refund a payment',
  description:
    'Refund a succeeded payment, fully (omit amount: refunds what is left) or partly. Returns the refund (id re_…, status pending, succeeded or failed); poll get_refund while it is pending. Needs scope refunds:write.',
  inputSchema: {
    payment_id: paymentId,
    amount: money.optional().describe('How much to refund, in the payment\'s asset (default: everything not yet refunded).'),
    reason: z.string().min(1).max(500).optional().describe('Why (kept in the audit trail).'),
    idempotency_key: idempotencyKey,
  },
  annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: true, readOnlyHint: false },
  scope: 'refunds:write',
  moneyMoving: true,
  async run(gw, { payment_id, idempotency_key, ...body }) {
    const res = await callGateway(gw, { method: 'POST', path: `/v1/intents/${encodeURIComponent(payment_id)}/refunds`, body, idempotencyKey: idempotency_key })
    if (isToolResult(res)) return res
    if (res.status >= 300) return toolErrorFromResponse(res)
    const refund = res.body as { id?: string; status?: string }
    return toolOk(res.body, `Refund ${refund.id ?? ''} is ${refund.status ?? 'created'}${res.replayed ? ' (replayed: the result of the first call with this idempotency_key)' : ''}.`)
  },
})
