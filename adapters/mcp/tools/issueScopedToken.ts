import { z } from 'zod'
import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, idempotencyKey, isToolResult, money } from './defineTool.js'

/** `issue_scoped_token`: `POST /v1/tokens`. */
export const issueScopedToken = defineTool({
  name: 'issue_scoped_token',
  title: 'Issue a scoped payment token',
  description: [
    'Issue a single-use payment token bound to one merchant, a maximum amount and an expiry, charged to your wallet.',
    'The result contains the token string: it is YOUR credential, shown only this once; pass it to create_payment (token) or to that merchant, and never to anyone else.',
    'Needs scope tokens:write.',
  ].join(' '),
  inputSchema: {
    merchant_id: z.string().min(1).max(128).describe('The only merchant the token can pay.'),
    max_amount: money.describe('The most the token can pay, in one asset.'),
    expires_in_seconds: z.number().int().min(1).max(31_536_000).describe('How long the token is valid, in seconds (e.g. 900 for 15 minutes).'),
    wallet_id: z.string().min(1).max(128).optional().describe('Wallet to charge (default: your agent\'s default wallet).'),
    category: z.string().min(1).max(64).optional().describe('Restrict the token to one merchant category (e.g. "travel").'),
    idempotency_key: idempotencyKey,
  },
  annotations: { destructiveHint: false, idempotentHint: true, openWorldHint: false, readOnlyHint: false },
  scope: 'tokens:write',
  moneyMoving: true,
  async run(gw, { idempotency_key, ...body }) {
    const res = await callGateway(gw, { method: 'POST', path: '/v1/tokens', body, idempotencyKey: idempotency_key })
    if (isToolResult(res)) return res
    if (res.status >= 300) return toolErrorFromResponse(res)
    return toolOk(res.body, 'Token issued. The "token" field is your own single-use credential: keep it private and use it once.')
  },
})
