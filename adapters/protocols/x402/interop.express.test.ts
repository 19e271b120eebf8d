/**
 * Acceptance 1 (second part): an official `@x402/express` 2.27 server uses OUR facilitator
 * (`HTTPFacilitatorClient` → `/x402/facilitator`) and is paid by `@x402/fetch`. Balances move
 * once, a replayed header is refused, and the 2.24+ `settlement_pending` retry is honoured
 * without a second broadcast.
 */
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HTTPFacilitatorClient } from '@x402/core/http'
import { ExactEvmScheme } from '@x402/evm/exact/server'
import { registerExactEvmScheme } from '@x402/evm/exact/client'
import { paymentMiddleware, x402ResourceServer } from '@x402/express'
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from '@x402/fetch'
import express from 'express'
import type { Address, Hex } from 'viem'
import { getAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pauseMining, resumeMining, rpc } from '../../../sandbox/chain/anvil.js'
import { decodeHeader, startX402Fixture, type X402Fixture } from './testFixture.js'

let fx: X402Fixture
let payer: { address: Address; privateKey: Hex }
let server: Server
let shopUrl: string
let handlerCalls = 0

beforeAll(async () => {
  // Our gateway is only the facilitator here (its payments belong to merchant m2); a short
  // receipt wait makes `settlement_pending` reachable in a test.
  fx = await startX402Fixture({ routes: () => [], x402: { facilitator: { merchantId: 'm2' }, pendingWaitMs: 8_000 }, rail: { receiptTimeoutMs: 1_500 } })
  ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]

  const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: `${fx.gw.url}/x402/facilitator` })).register('eip155:31337', new ExactEvmScheme())
  const app = express()
  app.use(
    paymentMiddleware(
      {
        'GET /weather': {
          accepts: {
            scheme: 'exact',
            network: 'eip155:31337',
            payTo: fx.payTo,
            price: { amount: '10000', asset: fx.chain.token.address, extra: { name: fx.chain.token.name, version: fx.chain.token.version } },
          },
          description: 'Weather (official server)',
        },
      },
      resourceServer,
    ),
  )
  app.get('/weather', (_req, res) => {
    handlerCalls++
    res.json({ city: 'Quito', temperatureC: 14 })
  })
  server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  shopUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r))
  await fx?.close()
})

function officialClient(): { pay: typeof fetch; sent: string[] } {
  const client = new x402Client()
  registerExactEvmScheme(client, { signer: privateKeyToAccount(payer.privateKey) })
  client.setSpendControls({ allowedAssets: [{ network: 'eip155:31337', asset: fx.chain.token.address }] })
  const sent: string[] = []
  const spy: typeof fetch = async (input, init) => {
    const req = new Request(input, init)
    const h = req.headers.get('payment-signature')
    if (h) sent.push(h)
    return fetch(req)
  }
  return { pay: wrapFetchWithPayment(spy, client), sent }
}

describe('@x402/express with our facilitator, paid by @x402/fetch', () => {
  it('GET /supported lists eip155:31337 literally, v1 kinds for named chains, and our relayer', async () => {
    const res = await fetch(`${fx.gw.url}/x402/facilitator/supported`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      kinds: [{ x402Version: 2, scheme: 'exact', network: 'eip155:31337' }],
      extensions: ['payment-identifier'],
      signers: { 'eip155:*': [getAddress(fx.chain.relayer.address)] },
    })
  })

  it('pays: 200 from the official server, PAYMENT-RESPONSE from our settlement, balances move once; a canonical intent exists', async () => {
    const { pay, sent } = officialClient()
    const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo) }
    const res = await pay(`${shopUrl}/weather`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ city: 'Quito', temperatureC: 14 })
    const receipt = decodePaymentResponseHeader(res.headers.get('payment-response')!)
    expect(receipt).toMatchObject({ success: true, network: 'eip155:31337', payer: payer.address })
    expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
    const nonce = decodeHeader<{ payload: { authorization: { nonce: string } } }>(sent[0]!).payload.authorization.nonce
    const intent = (await fx.gw.gateway.store.listIntents({ limit: 50 })).items.find((i) => i.instrument.ref === nonce)
    expect(intent).toMatchObject({ merchant_id: 'm2', status: 'succeeded', origin: { protocol: 'x402', version: '2' }, authorization: { type: 'x402.signature' }, settlement: { reference: receipt.transaction } })

    // The same header again: our /verify says the nonce is used; the official server answers 402, nothing moves.
    const calls = handlerCalls
    const replay = await fetch(`${shopUrl}/weather`, { headers: { 'payment-signature': sent[0]! } })
    expect(replay.status).toBe(402)
    expect(decodeHeader<{ error: string }>(replay.headers.get('payment-required')).error).toBe('invalid_exact_evm_nonce_already_used')
    expect(handlerCalls).toBe(calls)
    expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
  })

  it('settlement_pending: the SDK retries /settle once, we wait on the same transaction, the client gets 200; one broadcast', async () => {
    const { pay, sent } = officialClient()
    const balance = await fx.balance(payer.address)
    const nonceOf = async (): Promise<number> => Number(await rpc<Hex>(fx.chain.rpcUrl, 'eth_getTransactionCount', [fx.chain.relayer.address, 'pending']))
    const sentBefore = await nonceOf()
    await pauseMining(fx.chain.rpcUrl)
    // Our first /settle answers settlement_pending after 1.5 s; resume while the SDK's retry waits.
    const resume = setTimeout(() => void resumeMining(fx.chain.rpcUrl), 3_000)
    let res: Response
    try {
      res = await pay(`${shopUrl}/weather`)
    } finally {
      clearTimeout(resume)
      await resumeMining(fx.chain.rpcUrl)
    }
    expect(res.status).toBe(200)
    expect(decodePaymentResponseHeader(res.headers.get('payment-response')!)).toMatchObject({ success: true })
    expect(await nonceOf()).toBe(sentBefore + 1)
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    // It really went through settlement_pending: the intent recorded the receipt timeout, then the chain's answer.
    const nonce = decodeHeader<{ payload: { authorization: { nonce: string } } }>(sent[0]!).payload.authorization.nonce
    const intent = (await fx.gw.gateway.store.listIntents({ limit: 50 })).items.find((i) => i.instrument.ref === nonce)!
    const events = await fx.gw.gateway.store.listEvents(intent.id)
    expect(events.map((e) => [e.type, e.reason ?? null])).toEqual([
      ['create', null],
      ['authorize', null],
      ['start_processing', null],
      ['annotate', 'receipt_timeout'],
      ['succeed', null],
    ])
  })
})
