import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import type { TestGateway } from '../../testing/testGateway.js'
import { registerEvmRail } from '../../rails/evm/index.js'
import { acpClient, officialSchemas, SHIPPING_ADDRESS, startAcpGateway, type AcpClient, type AcpResponse } from './testing.js'

let chain: LocalChain
let gw: TestGateway
let acp: AcpClient
const merchant = privateKeyToAccount(generatePrivateKey()).address
const schemas = officialSchemas()

function expectValid(r: AcpResponse, def: string): void {
  expect(schemas.problems(def, r.json), `${def}: ${r.text}`).toEqual([])
}

beforeAll(async () => {
  chain = await startLocalChain({ wallets: 2 })
  gw = await startAcpGateway({
    gatewayOptions: {
      rails: [
        registerEvmRail({
          chains: [
            {
              chainId: chain.chainId,
              rpcUrls: [chain.rpcUrl],
              tokens: [{ address: chain.token.address, name: chain.token.name, version: chain.token.version, decimals: 6, assetId: chain.token.assetId }],
              relayerPrivateKey: chain.relayer.privateKey,
              feeCaps: { maxFeePerGas: 200_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n },
              receiptTimeoutMs: 10_000,
              pollingIntervalMs: 5,
            },
          ],
        }),
      ],
    },
    mount: {
      handlers: {
        eip3009: { network: chain.network, tokenAddress: chain.token.address, decimals: 6, eip712: { name: chain.token.name, version: chain.token.version }, payTo: merchant },
      },
    },
  })
  acp = acpClient(gw.url)
}, 60_000)
afterAll(async () => {
  await gw?.close()
  await chain?.stop()
})

async function readySession(): Promise<{ id: string; total: number; session: Record<string, unknown> }> {
  const c = await acp.post('/acp/checkout_sessions', { currency: 'usd', line_items: [{ id: 'item_456' }], capabilities: { interventions: { supported: [] } } })
  const u = await acp.post(`/acp/checkout_sessions/${c.json['id'] as string}`, {
    fulfillment_details: { address: SHIPPING_ADDRESS },
    selected_fulfillment_options: [{ type: 'shipping', option_id: 'fulfillment_option_123', item_ids: ['item_456'] }],
  })
  expect(u.json['status']).toBe('ready_for_payment')
  const total = (u.json['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount
  return { id: u.json['id'] as string, total, session: u.json }
}

async function credential(value: bigint): Promise<string> {
  const s = await signAuthorization({ privateKey: chain.wallets[0]!.privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value })
  return Buffer.from(JSON.stringify({ authorization: s.authorization, signature: s.signature })).toString('base64url')
}

const pay = (token: string): Record<string, unknown> => ({ payment_data: { handler_id: 'eip3009', instrument: { type: 'crypto', credential: { type: 'eip3009', token } } } })

describe('ACP full checkout with an EIP-3009 authorisation on anvil', () => {
  it('advertises the eip3009 handler with its token, network and payee', async () => {
    const { session } = await readySession()
    const h = (session['capabilities'] as { payment: { handlers: Array<Record<string, unknown>> } }).payment.handlers
    expect(h.map((x) => x['id'])).toEqual(['eip3009'])
    expect(h[0]!['config']).toMatchObject({ network: chain.network, asset: chain.token.address.toLowerCase(), pay_to: merchant, decimals: 6 })
  })

  it('create → update → complete settles the total on chain and returns the order', async () => {
    const { id, total } = await readySession()
    expect(total).toBe(2699)
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchant)
    const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, pay(await credential(26_990_000n)))
    expect(r.status, r.text).toBe(200)
    expectValid(r, 'CheckoutSessionWithOrder')
    expect(r.json['status']).toBe('completed')
    expect(r.json['order']).toMatchObject({ type: 'order', checkout_session_id: id })
    // 26.99 USD at par = 26 990 000 token units (6 decimals).
    expect((await tokenBalance(chain.rpcUrl, chain.token.address, merchant)) - before).toBe(26_990_000n)
    const intent = (await gw.gateway.store.listIntents({ limit: 5, protocol: 'acp' })).items.find((i) => i.origin.ref === id)!
    expect(intent).toMatchObject({ status: 'succeeded', amount: { value: '26990000', asset: chain.token.assetId }, instrument: { type: 'evm.eip3009', network: chain.network } })
    expect(intent.settlement?.reference).toMatch(/^0x[0-9a-f]{64}$/)
  })

  it('tampered totals: an authorisation for less than the session total → 400 amount_mismatch, nothing moves', async () => {
    const { id } = await readySession()
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchant)
    const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, pay(await credential(1_000_000n)))
    expect(r.status).toBe(400)
    expect(r.json).toEqual({
      type: 'invalid_request',
      code: 'amount_mismatch',
      message: 'the authorization value must be 26990000 (the session total 2699 in token units), got 1000000',
      param: '$.payment_data.instrument.credential.token',
    })
    expectValid(r, 'Error')
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchant)).toBe(before)
    expect((await acp.call('GET', `/acp/checkout_sessions/${id}`)).json['status']).toBe('ready_for_payment')
  })

  it('a garbage credential → 400 invalid_credential', async () => {
    const { id } = await readySession()
    const r = await acp.post(`/acp/checkout_sessions/${id}/complete`, pay('not-base64-json'))
    expect(r.status).toBe(400)
    expect(r.json).toEqual({
      type: 'invalid_request',
      code: 'invalid_credential',
      message: 'the EIP-3009 credential must be base64url JSON {authorization, signature}',
      param: '$.payment_data.instrument.credential.token',
    })
  })
})
