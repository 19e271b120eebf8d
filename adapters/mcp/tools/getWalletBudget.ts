import { z } from 'zod'
import { toolErrorFromResponse, toolOk } from '../toolResult.js'
import { callGateway, defineTool, isToolResult } from './defineTool.js'

/** `get_wallet_budget`: `GET /v1/wallets/{id}`. */
export const getWalletBudget = defineTool({
  name: 'get_wallet_budget',
  title: 'Get a wallet\'s budget',
  description:
    'Get your wallet\'s spending limits (per transaction, daily, monthly), what was spent today and this month, and what remains, in integer minor units of the wallet\'s asset. Check it before paying. Needs scope wallets:read.',
  inputSchema: { wallet_id: z.string().min(1).max(128).describe('Wallet id (an operator gives it to you; it is also on payments as payer.wallet_id).') },
  annotations: { readOnlyHint: true, openWorldHint: false },
  scope: 'wallets:read',
  moneyMoving: false,
  async run(gw, { wallet_id }) {
    const res = await callGateway(gw, { method: 'GET', path: `/v1/wallets/${encodeURIComponent(wallet_id)}` })
    if (isToolResult(res)) return res
    return res.status === 200 ? toolOk(res.body) : toolErrorFromResponse(res)
  },
})
