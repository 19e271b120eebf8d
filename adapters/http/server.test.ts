import { once } from 'node:events'
import { IncomingMessage, ServerResponse, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { createExpressServer } from './server.js'

describe('createExpressServer', () => {
  let server: Server | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise((r) => server?.close(r))
    server = undefined
  })

  async function serve(app: express.Express): Promise<string> {
    server = createExpressServer(app)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  it('hands express requests and responses that already have the app prototypes (express swaps nothing)', async () => {
    const app = express()
    app.use(express.json())
    app.post('/echo/:id', (req, res) => {
      res.set('x-id', req.params['id']!).status(201).json({ body: req.body as unknown, host: req.hostname, json: req.is('application/json') })
    })
    const base = await serve(app)
    // Seen before express runs: the prototype the request and response were born with.
    const born: Array<[boolean, boolean]> = []
    server!.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      born.push([Object.getPrototypeOf(req) === app.request, Object.getPrototypeOf(res) === app.response])
      expect(req).toBeInstanceOf(IncomingMessage)
      expect(res).toBeInstanceOf(ServerResponse)
    })

    for (let i = 0; i < 3; i++) {
      const r = await request(`${base}/echo/a${i}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: i }) })
      expect(r.statusCode).toBe(201)
      expect(r.headers['x-id']).toBe(`a${i}`)
      expect(await r.body.json()).toEqual({ body: { n: i }, host: '127.0.0.1', json: 'application/json' })
    }
    expect(born).toEqual([
      [true, true],
      [true, true],
      [true, true],
    ])
  })

  it('keeps express error handling and the 404 of an unknown route', async () => {
    const app = express()
    app.get('/boom', () => {
      throw new Error('boom')
    })
    app.use(((err, _req, res, _next) => {
      res.status(500).json({ error: (err as Error).message })
    }) as express.ErrorRequestHandler)
    const base = await serve(app)
    const boom = await request(`${base}/boom`)
    expect(boom.statusCode).toBe(500)
    expect(await boom.body.json()).toEqual({ error: 'boom' })
    const missing = await request(`${base}/nothing`)
    expect(missing.statusCode).toBe(404)
    await missing.body.dump()
  })
})
