import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { createMcpServer } from './createMcpServer.js'
import { createGatewayClient } from './gatewayClient.js'

export interface RunMcpStdioParameters {
  /** The gateway's base URL (`--base-url` or `AGENTSWITCH_URL`). */
  baseUrl: string
  /** The agent's API key (`AGENTSWITCH_API_KEY`); without it every tool answers GW_UNAUTHENTICATED. */
  apiKey?: string | undefined
  version: string
}

/**
 * `agentswitch mcp`: the payment MCP server over stdio, calling the gateway at `baseUrl` with the
 * agent's key. Stdout carries only the protocol; resolves when the client closes stdin.
 */
export async function runMcpStdio(params: RunMcpStdioParameters): Promise<void> {
  const server = createMcpServer({ gateway: createGatewayClient({ baseUrl: params.baseUrl, apiKey: params.apiKey }), version: params.version })
  const transport = new StdioServerTransport()
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve()
    process.stdin.once('end', () => resolve())
  })
  await server.connect(transport)
  await closed
  await server.close()
}
