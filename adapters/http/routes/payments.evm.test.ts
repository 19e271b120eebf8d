import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Address } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fundWallets, localChainInfo, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'

/**
 * `POST /v1/payments` with an EIP-3009 instrument pays the merchant's configured address: a payer
 * cannot name itself (or anyone) as the recipient, and a merchant without an address cannot take
 * the payment at all.
 */
describe('POST /v1/payments, evm.eip3009: the recipient is the merchant configuration', () => {
  let chain: LocalChain
  let gw: TestGateway
  const merchantPayTo = privateKeyToAccount(generatePrivateKey()).address
  const payerKey = generatePrivateKey()
  const payer = privateKeyToAccount(payerKey).address

  beforeAll(async () => {
    chain = await startLocalChain({ wallets: 0 })
    const info = localChainInfo(chain)
    await fundWallets({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, token: chain.token.address, minterPrivateKey: chain.deployer.privateKey, wallets: [payer], amount: 1_000_000n })
    gw = await startTestGateway({
      configPatch: {
        assets: [localChainAsset(info)],
        merchants: [
          { id: 'm1', name: 'Merchant One', payTo: merchantPayTo },
          { id: 'm2', name: 'Merchant Two' },
        ],
      },
      gatewayOptions: { rails: [registerEvmRail({ chains: [localChainRailConfig(info, { pollingIntervalMs: 5 })] })] },
    })
  })
  afterAll(async () => {
    await gw?.close()
    await chain?.stop()
  })

  const pay = async (merchantId: string, to: Address, payTo: Address | undefined, value: bigint, reference: string) => {
    const signed = await signAuthorization({ privateKey: payerKey, chainId: chain.chainId, token: chain.token, to, value })
    const res = await fetch(`${gw.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEYS.agent}`, 'content-type': 'application/json', 'idempotency-key': reference },
      body: JSON.stringify({
        merchant_id: merchantId,
        reference,
        amount: { value: String(value), asset: chain.token.assetId },
        instrument: { type: 'evm.eip3009', network: chain.network, credential: { ...signed, ...(payTo ? { payTo } : {}) } },
      }),
    })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it('settles to the configured address when the payer names none', async () => {
    const before = await tokenBalance(chain.rpcUrl, chain.token.address as Address, merchantPayTo)
    const r = await pay('m1', merchantPayTo, undefined, 1_234n, 'evm-ok-1')
    expect(r.status).toBe(201)
    expect(r.body['status']).toBe('succeeded')
    expect(await tokenBalance(chain.rpcUrl, chain.token.address as Address, merchantPayTo)).toBe(before + 1_234n)
  })

  it('refuses a credential naming another recipient, and a signature made out to another address moves nothing', async () => {
    const before = await tokenBalance(chain.rpcUrl, chain.token.address as Address, payer)
    const named = await pay('m1', payer, payer, 500n, 'evm-self-1')
    expect(named.status).toBe(400)
    expect(named.body).toMatchObject({ error: { code: 'GW_SCHEMA_INVALID' } })
    // Signed to the payer itself, payTo left out: the rail checks the signed `to` against the merchant's address.
    const signedToSelf = await pay('m1', payer, undefined, 500n, 'evm-self-2')
    expect(signedToSelf.body['status']).toBe('failed')
    expect(await tokenBalance(chain.rpcUrl, chain.token.address as Address, payer)).toBe(before)
  })

  it('a merchant without a receiving address cannot take evm.eip3009 payments', async () => {
    const r = await pay('m2', merchantPayTo, undefined, 100n, 'evm-m2-1')
    expect(r.status).toBe(503)
    expect(r.body).toMatchObject({ error: { code: 'GW_RAIL_UNAVAILABLE' } })
  })
})
