import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { GatewayClient } from './gatewayClient.js'
import { toolError } from './toolResult.js'
import type { PaymentTool } from './tools/defineTool.js'
import { paymentTools } from './tools.js'

export interface CreateMcpServerParameters {
  /** The gateway API client, already bound to the caller's API key. */
  gateway: GatewayClient
  /** Reported to clients in `initialize`. */
  version: string
  /** The tools to serve (default: every payment tool). */
  tools?: readonly PaymentTool[] | undefined
}

const INSTRUCTIONS =
  'Payment tools of an agentswitch gateway. Amounts are integer minor units as strings ("1999" = 19.99 USD) with an asset id ("iso4217:USD", or CAIP-19 "eip155:<chain>/erc20:<address>" for tokens). Tools that move money require an idempotency_key: reuse it only to retry the very same call. Errors start with a GW_ code and say what to do next.'

/** The JSON Schema a client sees for a tool's arguments (zod 4 → draft 2020-12, no `$schema`). */
function inputJsonSchema(tool: PaymentTool): Tool['inputSchema'] {
  const { $schema: _drop, ...schema } = z.toJSONSchema(z.object(tool.inputSchema).strict(), { io: 'input' }) as Record<string, unknown>
  return { ...schema, type: 'object' } as Tool['inputSchema']
}

/** Bad arguments → `GW_IDEMPOTENCY_KEY_REQUIRED` (money-moving tool without a key) or `GW_SCHEMA_INVALID` with each path. */
function invalidArguments(tool: PaymentTool, error: z.ZodError): CallToolResult {
  const details = error.issues.map((i) => ({ path: i.path.join('.') || '(arguments)', message: i.message }))
  const missingKey = tool.moneyMoving && error.issues.some((i) => i.path.length === 1 && i.path[0] === 'idempotency_key' && i.code === 'invalid_type')
  if (missingKey) return toolError('GW_IDEMPOTENCY_KEY_REQUIRED', `${tool.name} moves money and refuses to run without an idempotency_key argument`)
  return toolError('GW_SCHEMA_INVALID', `invalid arguments for ${tool.name}: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`)
}

/**
 * The payment MCP server: one tool per gateway operation, each a thin typed call to the gateway's
 * own `/v1` API with the caller's key. Authorisation, scopes, idempotency, policy, budgets and audit
 * all happen in the gateway, exactly as for any other API call. Arguments are validated here first,
 * so a bad call is a tool error with a `GW_` code, never a protocol error.
 *
 * @example
 * const server = createMcpServer({ gateway: createGatewayClient({ baseUrl, apiKey }), version: '0.1.0' })
 * await server.connect(new StdioServerTransport())
 */
export function createMcpServer(params: CreateMcpServerParameters): Server {
  const tools = params.tools ?? paymentTools
  const byName = new Map(tools.map((t) => [t.name, { tool: t, parser: z.object(t.inputSchema).strict() }]))
  const listed: Tool[] = tools.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: inputJsonSchema(t),
    annotations: { title: t.title, ...t.annotations },
    ...(t.scope ? { _meta: { 'agentswitch/scope': t.scope } } : {}),
  }))
  const server = new Server({ name: 'agentswitch', title: 'agentswitch payments', version: params.version }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS })
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }))
  server.setRequestHandler(CallToolRequestSchema, async (request): Promise<CallToolResult> => {
    const entry = byName.get(request.params.name)
    if (!entry) return toolError('GW_NOT_FOUND', `no tool ${request.params.name}; call tools/list for the available tools`)
    const parsed = entry.parser.safeParse(request.params.arguments ?? {})
    if (!parsed.success) return invalidArguments(entry.tool, parsed.error)
    try {
      return await entry.tool.run(params.gateway, parsed.data as never)
    } catch {
      // Never a protocol-level failure or a stack trace in a result.
      return toolError('GW_INTERNAL', `the ${entry.tool.name} tool failed unexpectedly`)
    }
  })
  return server
}
