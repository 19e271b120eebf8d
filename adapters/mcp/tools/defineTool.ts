import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { GatewayCallParameters, GatewayCallReturnType, GatewayClient } from '../gatewayClient.js'
import { toolError } from '../toolResult.js'

/** One MCP tool: a typed, model-facing wrapper of one gateway API call. */
export interface PaymentTool<Shape extends z.ZodRawShape = z.ZodRawShape> {
  /** snake_case, one verb. */
  name: string
  title: string
  /** Short and unambiguous, written for a model. */
  description: string
  inputSchema: Shape
  annotations: ToolAnnotations
  /** The agent-key scope the gateway route requires (documentation; the gateway enforces it). */
  scope?: string | undefined
  /** Moves money or issues a credential: `idempotency_key` is schema-required. */
  moneyMoving: boolean
  run(gw: GatewayClient, args: z.infer<z.ZodObject<Shape>>): Promise<CallToolResult>
}

/** Declares a tool (keeps its argument type; the list of tools erases it). */
export function defineTool<Shape extends z.ZodRawShape>(tool: PaymentTool<Shape>): PaymentTool {
  return tool as unknown as PaymentTool
}

/** Calls the gateway; a transport failure becomes `GW_GATEWAY_UNREACHABLE` (never a thrown error). */
export async function callGateway(gw: GatewayClient, params: GatewayCallParameters): Promise<GatewayCallReturnType | CallToolResult> {
  try {
    return await gw.call(params)
  } catch (err) {
    const code = (err as { code?: string }).code
    return toolError('GW_GATEWAY_UNREACHABLE', `no answer from the gateway${code ? ` (${code})` : ''} for ${params.method} ${params.path}`)
  }
}

/** Whether {@link callGateway} returned a tool result (an error) instead of an answer. */
export function isToolResult(x: GatewayCallReturnType | CallToolResult): x is CallToolResult {
  return 'content' in x
}

/** Integer minor units as a decimal string. */
export const minorUnits = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,37})$/)
  .describe('Integer amount in the asset\'s minor units, as a decimal string without sign, point or leading zeros: "1999" is 19.99 USD; "1500000" is 1.5 of a 6-decimal token.')

/** An asset id of the gateway's registry. */
export const assetId = z
  .string()
  .min(1)
  .max(200)
  .describe('Asset id: "iso4217:USD" (or another ISO 4217 code) for fiat, CAIP-19 "eip155:<chainId>/erc20:<address>" for tokens. list_capabilities lists the assets this gateway knows.')

/** `{ value, asset }`. */
export const money = z.object({ value: minorUnits, asset: assetId }).strict()

/** The idempotency key every money-moving tool requires. */
export const idempotencyKey = z
  .string()
  .regex(/^[\x20-\x7e]{1,255}$/)
  .describe('Required. A unique key for this one operation (e.g. a UUID), 1–255 printable ASCII characters. Retrying with the same key and the same arguments never pays twice and returns the first result; the same key with other arguments is refused.')

/** A payment (intent) id. */
export const paymentId = z
  .string()
  .regex(/^pi_[0-9A-HJKMNP-TV-Z]{26}$/)
  .describe('Payment id as returned by create_payment: "pi_" followed by 26 characters.')
