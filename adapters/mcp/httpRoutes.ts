import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { Router, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import { createMcpServer } from './createMcpServer.js'
import { createGatewayClient } from './gatewayClient.js'

export interface McpRoutesDeps {
  logger: Logger
  version: string
}

/**
 * The gateway's own base URL as seen by this request: the local address and port the request came
 * in on, so the loopback call reaches the same listener whatever host and port were configured.
 */
export function loopbackBaseUrl(req: Request): string {
  let host = req.socket.localAddress ?? '127.0.0.1'
  if (host.startsWith('::ffff:')) host = host.slice('::ffff:'.length)
  if (host === '0.0.0.0' || host === '::') host = '127.0.0.1'
  if (host.includes(':')) host = `[${host}]`
  return `http://${host}:${req.socket.localPort}`
}

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/

function jsonRpcError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null })
}

/**
 * `/mcp`: the payment MCP server over streamable HTTP (stateless: one server per request, JSON
 * answers). Each tool call goes back into this gateway's `/v1` API over loopback HTTP with the
 * caller's own `Authorization` header, so auth, scopes, idempotency, policy and audit are the API's.
 * Listing tools needs no key; calling one without a valid key is the tool error GW_UNAUTHENTICATED.
 */
export function mcpRoutes(deps: McpRoutesDeps): Router {
  const r = Router()
  r.post('/', async (req, res) => {
    const m = BEARER.exec(req.get('authorization') ?? '')
    const server = createMcpServer({ gateway: createGatewayClient({ baseUrl: loopbackBaseUrl(req), apiKey: m?.[1] }), version: deps.version })
    const transport = new StreamableHTTPServerTransport({ enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    try {
      await server.connect(transport)
      await transport.handleRequest(req, res, req.body)
    } catch (err) {
      deps.logger.error({ err }, 'mcp request failed')
      if (!res.headersSent) jsonRpcError(res, 500, -32603, 'internal error')
    }
  })
  // Stateless: no server-initiated stream and no session to delete.
  r.all('/', (_req, res) => {
    res.setHeader('Allow', 'POST')
    jsonRpcError(res, 405, -32000, 'method not allowed: POST JSON-RPC messages to /mcp')
  })
  return r
}
