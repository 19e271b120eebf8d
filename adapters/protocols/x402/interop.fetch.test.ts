/**
 * Acceptance 1 (first part): the official client — `@x402/fetch` + `@x402/evm` 2.27 — pays our
 * priced route on anvil; the balances move exactly once; the same payment header replayed is refused.
 */
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from '@x402/fetch'
import { registerExactEvmScheme } from '@x402/evm/exact/client'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeHeader, route, startX402Fixture, type X402Fixture } from './testFixture.js'
import type { PaymentRequiredV2 } from './v2/wire.js'

let fx: X402Fixture
let payer: { address: Address; privateKey: Hex }

beforeAll(async () => {
  fx = await startX402Fixture({ routes: (b) => [route(b), route(b, { id: 'before', path: '/paid/upfront', settle: 'before' })] })
  ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]
})
afterAll(async () => {
  await fx?.close()
})

/** The official client with spend controls that allow our token (STACK.md: it pays only known stablecoins otherwise). */
function officialClient(): { pay: typeof fetch; sent: string[] } {
  const client = new x402Client()
  registerExactEvmScheme(client, { signer: privateKeyToAccount(payer.privateKey) })
  client.setSpendControls({ allowedAssets: [{ network: fx.chain.network as `${string}:${string}`, asset: fx.chain.token.address, maxAmountPerPayment: '100000' }] })
  const sent: string[] = []
  const spy: typeof fetch = async (input, init) => {
    const req = new Request(input, init)
    const h = req.headers.get('payment-signature')
    if (h) sent.push(h)
    return fetch(req)
  }
  return { pay: wrapFetchWithPayment(spy, client), sent }
}

describe('@x402/fetch + @x402/evm pay our priced route', () => {
  for (const path of ['/paid/weather?city=Lima', '/paid/upfront']) {
    it(`${path}: 200, PAYMENT-RESPONSE decodes with the SDK, balances move once; a replay is refused`, async () => {
      const { pay, sent } = officialClient()
      const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo) }
      const res = await pay(`${fx.gw.url}${path}`)
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ temperatureC: 21 })
      const receipt = decodePaymentResponseHeader(res.headers.get('payment-response')!)
      expect(receipt).toMatchObject({ success: true, network: 'eip155:31337', payer: payer.address, transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
      expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)

      // The client echoed our requirement verbatim (deep equality is what matched it).
      expect(sent).toHaveLength(1)
      const payload = decodeHeader<{ accepted: unknown; resource: { url: string } }>(sent[0]!)
      const pr = await fx.paymentRequired(path)
      expect(payload.accepted).toEqual(pr.accepts[0])

      const replay = await fetch(`${fx.gw.url}${path}`, { headers: { 'payment-signature': sent[0]! } })
      expect(replay.status).toBe(402)
      expect(decodeHeader<PaymentRequiredV2>(replay.headers.get('payment-required')).error).toBe('invalid_exact_evm_nonce_already_used')
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    })
  }

  it('the default spend controls refuse our unknown token (the STACK.md gotcha) and nothing moves', async () => {
    const client = new x402Client()
    registerExactEvmScheme(client, { signer: privateKeyToAccount(payer.privateKey) })
    const balance = await fx.balance(payer.address)
    await expect(wrapFetchWithPayment(fetch, client)(`${fx.gw.url}/paid/weather`)).rejects.toThrow(/spendControls/)
    expect(await fx.balance(payer.address)).toBe(balance)
  })
})
