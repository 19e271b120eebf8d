import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { localChainInfo } from '../../../sandbox/chain/anvil.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { isEvmRail, type EvmRail } from './evmRail.js'
import { registerEvmRail } from './registerEvmRail.js'
import { startRailFixture, type RailFixture } from './testFixture.js'

// The composition root registers the rail explicitly; its RPC endpoints show in /v1/rails.
let fx: RailFixture
let gw: TestGateway
let created: EvmRail | undefined

beforeAll(async () => {
  fx = await startRailFixture()
  const info = localChainInfo(fx.chain)
  gw = await startTestGateway({
    configPatch: { assets: [localChainAsset(info)] },
    gatewayOptions: { rails: [registerEvmRail({ chains: [localChainRailConfig(info, { pollingIntervalMs: 5 })] }, { onCreated: (r) => (created = r) })] },
  })
})
afterAll(async () => {
  created?.close()
  await gw?.close()
  await fx?.close()
})

describe('registerEvmRail', () => {
  it('is built with the gateway’s breakers, store and logger, and settles through the gateway’s store', async () => {
    const rail = gw.gateway.rails.get('evm')
    expect(isEvmRail(rail)).toBe(true)
    expect(rail).toBe(created)
    const res = await fetch(`${gw.url}/v1/rails`, { headers: { authorization: `Bearer ${TEST_KEYS.admin}` } })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      data: [{ rail: 'evm', instruments: ['evm.eip3009'], endpoints: [{ endpoint: `${fx.chain.network}/0:${new URL(fx.chain.rpcUrl).host}`, state: 'closed' }] }],
    })
    expect(created!.networks()).toEqual([
      { chainId: fx.chain.chainId, network: fx.chain.network, tokens: [expect.objectContaining({ assetId: fx.chain.token.assetId })], relayers: [fx.chain.relayer.address] },
    ])

    const store = gw.gateway.store
    const [payer] = await fx.newPayers(1, 50_000n)
    const s = await fx.sign(payer!, 20_000n)
    const id = await fx.authorizedIntent(store, s)
    const { intent } = await settleIntent({ store }, { intentId: id, rail: created!, credential: fx.credential(s), actor: 'system:test' })
    expect(intent.status).toBe('succeeded')
    expect(await fx.balance(payer!.address)).toBe(30_000n)
  })
})
