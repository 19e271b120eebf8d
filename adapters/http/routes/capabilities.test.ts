import express, { Router } from 'express'
import { describe, expect, it } from 'vitest'
import { mountedProtocols } from './capabilities.js'

describe('mountedProtocols (GET /v1/capabilities reads the app it is mounted on)', () => {
  it('finds each protocol surface by the routes its mount registers, in a stable order', () => {
    const app = express()
    app.get('/.well-known/ucp', (_req, res) => void res.end())
    app.use('/ucp/v1', Router())
    app.get('/.well-known/acp.json', (_req, res) => void res.end())
    app.use('/acp', Router())
    app.use('/x402/facilitator', Router())
    app.use('/mcp', Router())
    expect(mountedProtocols(app)).toEqual([
      { protocol: 'gateway' },
      { protocol: 'acp', discovery: '/.well-known/acp.json' },
      { protocol: 'ucp', discovery: '/.well-known/ucp' },
      { protocol: 'x402' },
      { protocol: 'mcp' },
    ])
  })

  it('MPP (an offer on the x402 priced routes) shows only when configured and x402 is mounted', () => {
    const withX402 = express()
    withX402.use('/x402/facilitator', Router())
    expect(mountedProtocols(withX402, { mppConfigured: true }).map((p) => p.protocol)).toEqual(['gateway', 'x402', 'mpp'])
    expect(mountedProtocols(withX402).map((p) => p.protocol)).toEqual(['gateway', 'x402'])
    expect(mountedProtocols(express(), { mppConfigured: true }).map((p) => p.protocol)).toEqual(['gateway'])
  })
})
