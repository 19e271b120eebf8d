import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Express } from 'express'

type NodeConstructor = (this: unknown, ...args: unknown[]) => void

/** Node's `IncomingMessage` and `ServerResponse` are plain constructor functions (not `class`es) in Node 20 and 22. */
const callable = (f: unknown): f is NodeConstructor => typeof f === 'function' && !/^class\b/.test(Function.prototype.toString.call(f))

/**
 * The HTTP server of an express app, whose requests and responses are born with the app's own
 * prototypes (`app.request`, `app.response`) through Node's documented `IncomingMessage` /
 * `ServerResponse` server options.
 *
 * express gives every request those prototypes itself, with `Object.setPrototypeOf` on each
 * request and response. Swapping the prototype of a live object is slow in V8, and it makes the
 * young-generation collector keep each request's objects: measured with express 5 and a
 * keep-alive client, about 3 MB promoted to the old generation per scavenge and 1.3–1.9 ms
 * pauses, where the same app on this server promotes nothing and pauses 0.1–0.3 ms (and the old
 * generation no longer fills up with dead requests, which cost a mark-compact every few hundred
 * requests). Born with the prototype, express's `setPrototypeOf` changes nothing.
 * `instanceof IncomingMessage` / `ServerResponse` still holds: the app's prototypes inherit
 * from Node's.
 *
 * The constructors are subclassed the ES5 way (`IncomingMessage.call(this, …)`):
 * `Reflect.construct` with another `new.target` was measured to bring the promotion back. On a
 * Node whose constructors are classes, the app is served as express serves it.
 *
 * @example
 * const server = createExpressServer(app, leanDispatcherOf(app))
 * server.listen(8402, '127.0.0.1')
 */
export function createExpressServer(app: Express, lean?: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined): Server {
  // `lean`: a first look that answers the plain case of a hot route itself (adapters/http/lean.ts).
  const handler = lean ? (req: IncomingMessage, res: ServerResponse): void => void (lean(req, res) || app(req, res)) : app
  if (!callable(IncomingMessage) || !callable(ServerResponse)) return createServer(handler)
  const Incoming = IncomingMessage
  const Response = ServerResponse
  function GatewayRequest(this: unknown, socket: Socket): void {
    Incoming.call(this, socket)
  }
  GatewayRequest.prototype = app.request
  function GatewayResponse(this: unknown, req: IncomingMessage, options?: unknown): void {
    Response.call(this, req, options)
  }
  GatewayResponse.prototype = app.response
  return createServer({ IncomingMessage: GatewayRequest as unknown as typeof IncomingMessage, ServerResponse: GatewayResponse as unknown as typeof ServerResponse }, handler)
}
