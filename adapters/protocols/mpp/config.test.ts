/**
 * The `mpp` configuration section: validated by its fragment through the real loader, the HMAC
 * secret read from the environment and refused below 32 bytes with its exact path, unknown route
 * ids refused, and a gateway built from the configuration alone (the composition root) offers
 * and settles MPP on its x402 routes (real anvil, real HTTP, official mppx client).
 */
import { Challenge } from 'mppx'
import { Mppx, evm } from 'mppx/client'
import { privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../../core/config/load.js'
import { localChainInfo, startLocalChain, tokenBalance } from '../../../sandbox/chain/anvil.js'
import { localChainAsset } from '../../../sandbox/chain/devConfig.js'
import { startTestGateway } from '../../testing/testGateway.js'
import { mppOptionsFromConfig } from './config.js'
import { checkMppOptions, mppOfferProvider } from './provider.js'

const x402 = {
  routes: [
    {
      path: '/paid/weather',
      merchantId: 'm1',
      price: { amount: '10000', asset: 'eip155:31337/erc20:0x5fbdb2315678afecb367f032d93f642f64180aa3' },
      payTo: '0x70997970C51812dc3A010C7d01b50e20d17dc79C',
      description: 'Weather now',
      upstream: { url: 'http://127.0.0.1:9/weather' },
    },
  ],
}
const base = { store: { driver: 'sqlite' }, merchants: [{ id: 'm1', name: 'M' }], x402 }
const LONG = 'x'.repeat(32)

function problems(raw: Record<string, unknown>, env: Record<string, string> = {}): Array<{ path: string; message: string }> {
  try {
    parseConfig(raw, env, 'test')
    return []
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    return e.problems
  }
}

describe('the mpp section', () => {
  it('reads the secret from the environment and applies the defaults', () => {
    const config = parseConfig({ ...base, mpp: { secret: { env: 'MPP_SECRET' }, realm: 'api.example.com' } }, { MPP_SECRET: LONG }, 'test')
    expect(config.mpp).toMatchObject({ secret: LONG, realm: 'api.example.com', challengeTtlSeconds: 300, enabled: true })
    expect(mppOptionsFromConfig(config.mpp!)).toMatchObject({ secret: LONG, realm: 'api.example.com', challengeTtlSeconds: 300 })
  })

  it('refuses a secret shorter than 32 bytes, an unset variable, unknown fields and unknown routes, each at its path', () => {
    expect(problems({ ...base, mpp: { secret: { env: 'MPP_SECRET' } } }, { MPP_SECRET: 'x'.repeat(31) })).toEqual([{ path: 'mpp.secret', message: 'must be at least 32 bytes' }])
    expect(problems({ ...base, mpp: { secret: { env: 'MPP_SECRET' } } })).toEqual([{ path: 'mpp.secret', message: 'environment variable MPP_SECRET is not set' }])
    expect(problems({ ...base, mpp: { secret: LONG, previousSecrets: ['short'] } })).toEqual([{ path: 'mpp.previousSecrets[0]', message: 'must be at least 32 bytes' }])
    expect(problems({ ...base, mpp: { secret: LONG, routes: ['GET /nope'] } })).toEqual([{ path: 'mpp.routes[0]', message: 'no x402 route GET /nope' }])
    expect(problems({ ...base, mpp: { secret: LONG, routes: ['GET /paid/weather'] } })).toEqual([])
    expect(problems({ ...base, mpp: { secret: LONG, ttl: 5 } })).toEqual([{ path: 'mpp.ttl', message: 'is not a known field' }])
    expect(problems({ ...base, mpp: { secret: LONG, challengeTtlSeconds: 5 } }).map((p) => p.path)).toEqual(['mpp.challengeTtlSeconds'])
    expect(problems({ store: { driver: 'sqlite' }, mpp: { secret: LONG } })).toEqual([{ path: 'mpp', message: 'MPP is offered on priced routes: configure x402.routes' }])
  })

  it('programmatic options are checked too (GW_CONFIG_INVALID)', () => {
    expect(() => checkMppOptions({ secret: 'short' })).toThrow(/mpp.secret: must be at least 32 bytes/)
    expect(() => mppOfferProvider({ secret: LONG, challengeTtlSeconds: 1 })).toThrow(/challengeTtlSeconds/)
    expect(mppOptionsFromConfig({ secret: LONG, enabled: false })).toBeUndefined()
  })

  it('from the configuration file alone (composeFromConfig), a priced route answers with both offers and mppx pays it', async () => {
    const chain = await startLocalChain({ wallets: 1 })
    const info = localChainInfo(chain)
    const gw = await startTestGateway({
      configPatch: {
        assets: [localChainAsset(info)],
        rails: { evm: { chains: [{ chainId: info.chainId, rpcUrls: [info.rpcUrl], tokens: [{ address: info.token.address, name: info.token.name, version: info.token.version, decimals: info.token.decimals }], relayerPrivateKey: info.relayer.privateKey, feeCaps: { maxFeePerGas: '100000000000', maxPriorityFeePerGas: '2000000000' }, pollingIntervalMs: 10 }] } },
        x402: { routes: [{ ...x402.routes[0], price: { amount: '2500', asset: info.token.assetId }, upstream: { url: 'http://127.0.0.1:9/never', timeoutMs: 500 }, settle: 'before' }] },
        mpp: { secret: LONG, realm: 'config.example' },
      },
    })
    try {
      const res = await fetch(`${gw.url}/paid/weather`)
      await res.arrayBuffer()
      expect(res.status).toBe(402)
      expect(res.headers.get('payment-required')).toBeTruthy()
      const [c] = Challenge.fromResponseList(res)
      expect(c).toMatchObject({ realm: 'config.example', method: 'evm', intent: 'charge', request: { amount: '2500' } })
      expect(Challenge.verify(c!, { secretKey: LONG })).toBe(true)
      // Settle-before: the payment goes through even though the upstream is unreachable (502, paid: true).
      const payer = info.wallets[0]!
      const mppx = Mppx.create({ polyfill: false, methods: [evm.charge({ account: privateKeyToAccount(payer.privateKey), authorization: { name: info.token.name, version: info.token.version } })] })
      const before = await tokenBalance(info.rpcUrl, info.token.address, payer.address)
      const paid = await mppx.fetch(`${gw.url}/paid/weather`)
      expect(paid.status).toBe(502)
      expect(await paid.json()).toMatchObject({ paid: true })
      expect(await tokenBalance(info.rpcUrl, info.token.address, payer.address)).toBe(before - 2500n)
      const intents = (await gw.gateway.store.listIntents({ limit: 10 })).items
      expect(intents.map((i) => [i.origin.protocol, i.status])).toEqual([['mpp', 'succeeded']])
    } finally {
      await gw.close()
      await chain.stop()
    }
  }, 60_000)
})
