import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, isToolResult, paymentId } from './defineTool.js'

/** `get_approval_status`: `GET /v1/approvals/{intent_id}`. */
export const getApprovalStatus = defineTool({
  name: 'get_approval_status',
  title: 'Get a payment\'s approval status',
  description:
    'Get whether a person approved a payment that needed approval: status pending, approved, denied or expired, with the reasons and when it expires. After "approved", call create_payment again with the same reference to settle. Needs scope approvals:read.',
  inputSchema: { intent_id: paymentId.describe('The payment id (pi_…) that create_payment returned with status requires_approval.') },
  annotations: { readOnlyHint: true, openWorldHint: false },
  scope: 'approvals:read',
  moneyMoving: false,
  async run(gw, { intent_id }) {
    const res = await callGateway(gw, { method: 'GET', path: `/v1/approvals/${encodeURIComponent(intent_id)}` })
    if (isToolResult(res)) return res
    if (res.status !== 200) return toolErrorFromResponse(res)
    // The signed approval link is for the approving person, not the agent.
    const { approve_url: _approveUrl, ...view } = res.body as Record<string, unknown>
    return toolOk(view)
  },
})
