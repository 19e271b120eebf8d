import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, isToolResult, paymentId } from './defineTool.js'

/** `get_payment`: `GET /v1/intents/{id}`. */
export const getPayment = defineTool({
  name: 'get_payment',
  title: 'Get a payment',
  description:
    'Get one payment by id: its status (requires_approval, authorized, processing, succeeded, failed, canceled, partially_refunded, refunded), status_reason, amount, rail and settlement reference. Only your own payments are visible.',
  inputSchema: { payment_id: paymentId },
  annotations: { readOnlyHint: true, openWorldHint: false },
  moneyMoving: false,
  async run(gw, { payment_id }) {
    const res = await callGateway(gw, { method: 'GET', path: `/v1/intents/${encodeURIComponent(payment_id)}` })
    if (isToolResult(res)) return res
    return res.status === 200 ? toolOk(res.body) : toolErrorFromResponse(res)
  },
})
