import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isGatewayError } from '../errors/gatewayError.js'
import { createAssetRegistry } from '../money/assets.js'
import { createHttpFxSource } from './httpSource.js'
import { createFxQuoter } from './quoter.js'
import { createTableFxSource } from './tableSource.js'

const assets = createAssetRegistry()

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (e) {
    return isGatewayError(e) ? e.code : String(e)
  }
  return undefined
}

describe('table FX source', () => {
  const source = createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }])

  it('answers a configured pair, its exact inverse, and nothing else', async () => {
    expect(await source.rate({ from: 'iso4217:USD', to: 'iso4217:CNY' })).toEqual({ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1', source: 'table' })
    expect((await source.rate({ from: 'iso4217:CNY', to: 'iso4217:USD' }))?.rate).toBe('0.140845070422535211')
    expect(await source.rate({ from: 'iso4217:EUR', to: 'iso4217:CNY' })).toBeUndefined()
  })

  it('refuses a bad table at construction', () => {
    expect(() => createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1e0' }])).toThrow(/fx.rates\[0\].rate/)
    expect(() => createTableFxSource([{ from: 'USD', to: 'iso4217:CNY', rate: '7.1' }])).toThrow(/asset ids/)
  })

  it('the quoter adds the spread, an id and the expiry, and converts at exactly the quoted rate', async () => {
    const now = new Date('2026-11-21T12:00:00.000Z')
    const fx = createFxQuoter({ source, spreadBps: 50, quoteTtlSeconds: 30, assets, clock: () => now })
    const q = await fx.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })
    expect(q).toMatchObject({ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1355', source: 'table', expires_at: '2026-11-21T12:00:30.000Z' })
    expect(q.id).toMatch(/^fxq_/)
    expect((await fx.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })).id).not.toBe(q.id)
    // 19.99 × 7.1355 = 142.638645 → 142.64
    expect(fx.convert({ value: '1999', asset: 'iso4217:USD' }, q)).toEqual({ value: '14264', asset: 'iso4217:CNY' })
    expect(fx.isFresh(q, new Date('2026-11-21T12:00:29.999Z'))).toBe(true)
    expect(fx.isFresh(q, new Date('2026-11-21T12:00:30.000Z'))).toBe(false)
    expect(await codeOf(fx.quote({ from: 'iso4217:EUR', to: 'iso4217:CNY' }))).toBe('GW_FX_UNAVAILABLE')
  })
})

describe('HTTP FX source (undici) against a real local server', () => {
  let server: Server
  let url: string
  const seen: Array<{ url: string; auth: string | undefined }> = []
  let mode: 'ok' | 'number' | '500' | 'garbage' | 'hang' = 'ok'

  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', auth: req.headers.authorization })
      const u = new URL(req.url ?? '/', 'http://x')
      if (mode === 'hang') return
      if (mode === '500') return void res.writeHead(500).end('{"error":"down"}')
      if (mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>')
      if (u.searchParams.get('from') !== 'iso4217:USD' || u.searchParams.get('to') !== 'iso4217:CNY') return void res.writeHead(404).end()
      res.writeHead(200, { 'content-type': 'application/json' }).end(mode === 'number' ? '{"rate":7.2}' : '{"rate":"7.2034"}')
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rates`
  })
  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  it('reads a decimal-string rate and sends the API key as a bearer token', async () => {
    mode = 'ok'
    const src = createHttpFxSource({ url, apiKey: 'fx-secret-key' })
    const r = await src.rate({ from: 'iso4217:USD', to: 'iso4217:CNY' })
    expect(r).toEqual({ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.2034', source: src.name })
    expect(src.name).toMatch(/^http:127\.0\.0\.1:\d+$/)
    expect(seen.at(-1)).toEqual({ url: '/rates?from=iso4217%3AUSD&to=iso4217%3ACNY', auth: 'Bearer fx-secret-key' })
    const fx = createFxQuoter({ source: src, spreadBps: 0, quoteTtlSeconds: 10, assets })
    expect((await fx.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })).source).toBe(src.name)
  })

  it('an unknown pair (404) is no rate; a float, a 5xx, garbage or a timeout is GW_FX_UNAVAILABLE', async () => {
    const src = createHttpFxSource({ url, timeoutMs: 200 })
    mode = 'ok'
    expect(await src.rate({ from: 'iso4217:EUR', to: 'iso4217:CNY' })).toBeUndefined()
    for (const m of ['number', '500', 'garbage', 'hang'] as const) {
      mode = m
      expect(await codeOf(src.rate({ from: 'iso4217:USD', to: 'iso4217:CNY' })), m).toBe('GW_FX_UNAVAILABLE')
    }
    mode = 'hang'
    const err = await src.rate({ from: 'iso4217:USD', to: 'iso4217:CNY' }).catch((e: Error) => e)
    expect(String((err as Error).message)).toMatch(/no answer within 200 ms/)
  })
})
