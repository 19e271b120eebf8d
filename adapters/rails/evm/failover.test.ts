import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Address, Hex } from 'viem'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { Store } from '../../../core/store/port.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { closedPort, startRailFixture, startRpcProxy, type RailFixture } from './testFixture.js'

// Several RPC URLs, each behind its own breaker from the gateway's BreakerRegistry.
let fx: RailFixture
let store: Store
let payers: Array<{ address: Address; privateKey: Hex }>

beforeAll(async () => {
  fx = await startRailFixture()
  store = await fx.openStore()
  payers = await fx.newPayers(4, 100_000n)
})
afterAll(async () => {
  await fx?.close()
})

describe('RPC failover', () => {
  it('first URL dead (connection refused): reads and the broadcast fail over, and the dead URL’s breaker opens', async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`
    const breakers = new BreakerRegistry()
    const { rail } = fx.makeRail(store, { rpcUrls: [dead, fx.chain.rpcUrl] }, { breakers, breakerOptions: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 } })
    const network = fx.chain.network

    // Reads: verification answers from the second endpoint.
    const s = await fx.sign(payers[0]!, 1_000n)
    const v = await rail.verifyAuthorization({ network, asset: fx.chain.token.address, authorization: s.authorization, signature: s.signature, payTo: fx.merchant, amount: 1_000n })
    expect(v).toMatchObject({ ok: true, payer: payers[0]!.address })

    const [deadB, liveB] = breakers.list()
    expect(deadB!.name).toBe(`evm:${network}/0:${new URL(dead).host}`)
    expect(deadB).toMatchObject({ state: 'open', rail: 'evm' })
    expect(deadB!.failures).toBeGreaterThanOrEqual(3)
    expect(liveB).toMatchObject({ state: 'closed', failures: 0 })
    expect(liveB!.successes).toBeGreaterThan(0)

    // A settlement goes through end to end (its broadcast provably never reached the dead URL).
    const before = await fx.balance(fx.merchant)
    const id = await fx.authorizedIntent(store, s)
    const r = await settleIntent({ store }, { intentId: id, rail, credential: fx.credential(s), actor: 't' })
    expect(r.intent).toMatchObject({ status: 'succeeded', route: { attempts: [{ outcome: 'succeeded', endpoint: `${network}/1:${new URL(fx.chain.rpcUrl).host}` }] } })
    expect(await fx.balance(fx.merchant)).toBe(before + 1_000n)
    // While open, the dead URL is not even tried: its rejects grow, its failures do not.
    const failuresWhenOpen = breakers.list()[0]!.failures
    await rail.verifyAuthorization({ network, asset: fx.chain.token.address, authorization: s.authorization, signature: s.signature, payTo: fx.merchant, amount: 1_000n })
    expect(breakers.list()[0]!.failures).toBe(failuresWhenOpen)
    expect(breakers.list()[0]!.rejects).toBeGreaterThan(0)
    rail.close()
  })

  it('every URL dead: settle answers unknown (nothing sent), the intent stays processing and settles later', async () => {
    const dead = `http://127.0.0.1:${await closedPort()}`
    const { rail: down } = fx.makeRail(store, { rpcUrls: [dead] })
    const s = await fx.sign(payers[1]!, 2_000n)
    const id = await fx.authorizedIntent(store, s)
    const r = await settleIntent({ store }, { intentId: id, rail: down, credential: fx.credential(s), actor: 't' })
    expect(r.outcome).toMatchObject({ status: 'unknown', code: 'rpc_unavailable' })
    expect(r.intent.status).toBe('processing')
    // Back online: settleIntent queries first (not_found: nothing was sent), then sends once.
    const { rail: up } = fx.makeRail(store)
    const again = await settleIntent({ store }, { intentId: id, rail: up, credential: fx.credential(s), actor: 't' })
    expect(again.intent.status).toBe('succeeded')
    expect(again.intent.route!.attempts.map((a) => a.outcome)).toEqual(['unknown', 'unknown', 'succeeded'])
  })

  it('an endpoint that answers slowly past the timeout fails over for reads', async () => {
    const proxy = await startRpcProxy(fx.chain.rpcUrl)
    proxy.dropResponse.add('eth_chainId')
    proxy.dropResponse.add('eth_call')
    proxy.dropResponse.add('eth_getCode')
    try {
      const { rail, breakers } = fx.makeRail(store, { rpcUrls: [proxy.url, fx.chain.rpcUrl], rpcTimeoutMs: 150 })
      const s = await fx.sign(payers[2]!, 3_000n)
      const v = await rail.verifyAuthorization({ network: fx.chain.network, asset: fx.chain.token.address, authorization: s.authorization, signature: s.signature, payTo: fx.merchant, amount: 3_000n })
      expect(v.ok).toBe(true)
      expect(breakers.list()[0]!.failures).toBeGreaterThan(0)
    } finally {
      await proxy.close()
    }
  })
})
