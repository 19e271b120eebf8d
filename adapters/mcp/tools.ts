import type { PaymentTool } from './tools/defineTool.js'
import { createPayment } from './tools/createPayment.js'
import { getApprovalStatus } from './tools/getApprovalStatus.js'
import { getPayment } from './tools/getPayment.js'
import { getRefund } from './tools/getRefund.js'
import { getWalletBudget } from './tools/getWalletBudget.js'
import { issueScopedToken } from './tools/issueScopedToken.js'
import { listCapabilities } from './tools/listCapabilities.js'
import { refundPayment } from './tools/refundPayment.js'

/** Every tool the payment MCP server exposes, in the order clients list them. */
export const paymentTools: readonly PaymentTool[] = [
  createPayment,
  getPayment,
  refundPayment,
  getRefund,
  getWalletBudget,
  issueScopedToken,
  getApprovalStatus,
  listCapabilities,
]
