import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, isToolResult } from './defineTool.js'

/** `list_capabilities`: `GET /v1/capabilities`. */
export const listCapabilities = defineTool({
  name: 'list_capabilities',
  title: 'List what this gateway supports',
  description:
    'List the payment protocols this gateway speaks, its rails with the instruments each accepts and whether each is up (circuit breaker state), and the assets it knows (ids and decimals). Call it before create_payment to choose an instrument and asset.',
  inputSchema: {},
  annotations: { readOnlyHint: true, openWorldHint: false },
  moneyMoving: false,
  async run(gw) {
    const res = await callGateway(gw, { method: 'GET', path: '/v1/capabilities' })
    if (isToolResult(res)) return res
    return res.status === 200 ? toolOk(res.body) : toolErrorFromResponse(res)
  },
})
