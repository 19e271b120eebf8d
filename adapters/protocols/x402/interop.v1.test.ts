/**
 * Acceptance 1 (third part): the legacy v1 client `x402-fetch` 1.2 pays our priced route. Its
 * network list is closed, so anvil runs as chain 84532 (`base-sepolia`). The same 402 carries the
 * v1 JSON body and the v2 header; v1 pays with `X-PAYMENT` and gets `X-PAYMENT-RESPONSE`.
 */
import { decodeXPaymentResponse, wrapFetchWithPayment } from 'x402-fetch'
import type { Address, Hex } from 'viem'
import { getAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import { encodeHeaderJson } from './encoding.js'
import { decodeHeader, route, startX402Fixture, type X402Fixture } from './testFixture.js'
import type { PaymentRequiredV1 } from './v1/wire.js'
import type { PaymentRequiredV2 } from './v2/wire.js'

let fx: X402Fixture
let payer: { address: Address; privateKey: Hex }

beforeAll(async () => {
  fx = await startX402Fixture({ chainId: 84532, routes: (b) => [route(b), route(b, { id: 'before', path: '/paid/upfront', settle: 'before' })] })
  ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]
})
afterAll(async () => {
  await fx?.close()
})

describe('x402 v1 on a base-sepolia (84532) anvil', () => {
  it('one 402 carries both: the v1 JSON body (base-sepolia, maxAmountRequired) and the v2 PAYMENT-REQUIRED (eip155:84532)', async () => {
    const res = await fetch(`${fx.gw.url}/paid/weather`)
    expect(res.status).toBe(402)
    const body = (await res.json()) as PaymentRequiredV1
    expect(body).toEqual({
      x402Version: 1,
      error: 'Payment required',
      accepts: [
        {
          scheme: 'exact',
          network: 'base-sepolia',
          maxAmountRequired: '10000',
          resource: `${fx.gw.url}/paid/weather`,
          description: 'Weather now',
          mimeType: 'application/json',
          payTo: getAddress(fx.payTo),
          maxTimeoutSeconds: 300,
          asset: fx.chain.token.address,
          extra: { name: 'Agentswitch USD', version: '2' },
        },
      ],
    })
    expect(decodeHeader<PaymentRequiredV2>(res.headers.get('payment-required')).accepts[0]!.network).toBe('eip155:84532')
    const supported = (await (await fetch(`${fx.gw.url}/x402/facilitator/supported`)).json()) as { kinds: unknown[] }
    expect(supported.kinds).toEqual([
      { x402Version: 2, scheme: 'exact', network: 'eip155:84532' },
      { x402Version: 1, scheme: 'exact', network: 'base-sepolia' },
    ])
  })

  for (const path of ['/paid/weather', '/paid/upfront']) {
    it(`x402-fetch 1.2 pays ${path}: 200, X-PAYMENT-RESPONSE, balances move once; the replayed X-PAYMENT is refused`, async () => {
      const sent: string[] = []
      const spy = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
        const h = new Headers(init?.headers).get('x-payment')
        if (h) sent.push(h)
        return fetch(input, init)
      }
      const pay = wrapFetchWithPayment(spy as typeof fetch, privateKeyToAccount(payer.privateKey) as never)
      const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo) }
      const res = await pay(`${fx.gw.url}${path}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ temperatureC: 21 })
      const receipt = decodeXPaymentResponse(res.headers.get('x-payment-response')!)
      expect(receipt).toMatchObject({ success: true, network: 'base-sepolia', payer: payer.address, transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
      expect(res.headers.get('payment-response')).toBeNull()
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
      expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
      // v1 clients sign validAfter = now - 600 (digest §6.1): accepted.
      expect(Number(decodeHeader<{ payload: { authorization: { validAfter: string } } }>(sent[0]!).payload.authorization.validAfter)).toBeLessThan(Date.now() / 1000)

      const replay = await fetch(`${fx.gw.url}${path}`, { headers: { 'x-payment': sent[0]! } })
      expect(replay.status).toBe(402)
      expect(((await replay.json()) as PaymentRequiredV1).error).toBe('invalid_exact_evm_nonce_already_used')
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    })
  }

  it('v1 refusals use the v1 strings: a wrong value is invalid_exact_evm_authorization_value; another network is invalid_network', async () => {
    const body = (await (await fetch(`${fx.gw.url}/paid/weather`)).json()) as PaymentRequiredV1
    const req = body.accepts[0]!
    const s = await signAuthorization({ privateKey: payer.privateKey, chainId: 84532, token: { address: req.asset, name: 'Agentswitch USD', version: '2' }, to: req.payTo, value: 9_999n })
    const wrong = await fetch(`${fx.gw.url}/paid/weather`, { headers: { 'x-payment': encodeHeaderJson({ x402Version: 1, scheme: 'exact', network: 'base-sepolia', payload: s }) } })
    expect(wrong.status).toBe(402)
    expect(((await wrong.json()) as PaymentRequiredV1).error).toBe('invalid_exact_evm_authorization_value')
    const other = await fetch(`${fx.gw.url}/paid/weather`, { headers: { 'x-payment': encodeHeaderJson({ x402Version: 1, scheme: 'exact', network: 'base', payload: s }) } })
    expect(((await other.json()) as PaymentRequiredV1).error).toBe('invalid_network')
  })
})
