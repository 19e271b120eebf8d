import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** The largest request body a counterpart accepts. */
export const COUNTERPART_BODY_LIMIT = 1024 * 1024

/** A request a counterpart received, body fully read. */
export interface ReceivedRequest {
  method: string
  /** Path and query. */
  path: string
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>
  body: Buffer
  receivedAt: Date
}

/** A local HTTP server on `host:port` (port 0 = any), answering with `handle`. */
export interface LocalServer {
  readonly url: string
  readonly server: Server
  close(): Promise<void>
}

/** Start a small HTTP server for a counterpart: reads the whole body (up to 1 MiB), then calls `handle`. */
export async function startLocalServer(
  options: { host: string; port: number },
  handle: (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>,
): Promise<LocalServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > COUNTERPART_BODY_LIMIT) tooLarge = true
      else chunks.push(c)
    })
    req.on('end', () => {
      if (tooLarge) {
        res.writeHead(413, { 'content-type': 'text/plain' }).end('body too large')
        return
      }
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
      Promise.resolve(handle({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body: Buffer.concat(chunks), receivedAt: new Date() }, res)).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
        res.end('counterpart error')
      })
    })
  })
  server.keepAliveTimeout = 5_000
  server.listen(options.port, options.host)
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
