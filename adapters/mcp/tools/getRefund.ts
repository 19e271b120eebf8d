import { z } from 'zod'
import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, isToolResult } from './defineTool.js'

/** `get_refund`: `GET /v1/refunds/{id}`. */
export const getRefund = defineTool({
  name: 'get_refund',
  title: 'Get a refund',
  description: 'Get one refund by id: its status (pending, succeeded, failed), amount, payment id and rail reference.',
  inputSchema: { refund_id: z.string().regex(/^re_[0-9A-Za-z]{1,64}$/).describe('Refund id as returned by refund_payment: "re_…".') },
  annotations: { readOnlyHint: true, openWorldHint: false },
  moneyMoving: false,
  async run(gw, { refund_id }) {
    const res = await callGateway(gw, { method: 'GET', path: `/v1/refunds/${encodeURIComponent(refund_id)}` })
    if (isToolResult(res)) return res
    return res.status === 200 ? toolOk(res.body) : toolErrorFromResponse(res)
  },
})
