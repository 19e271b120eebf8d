import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Address, Hex } from 'viem'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { Store } from '../../../core/store/port.js'
import { rpc } from '../../../sandbox/chain/anvil.js'
import type { EvmRail } from './evmRail.js'
import { startRailFixture, type RailFixture } from './testFixture.js'

// Acceptance 4: 200 concurrent settlements through ONE relayer key, on a real anvil and a real
// SQLite store. Timing is printed for the record, never asserted (benchmarks live in bench/).
let fx: RailFixture
let store: Store
let rail: EvmRail

beforeAll(async () => {
  fx = await startRailFixture()
  store = await fx.openStore()
  rail = fx.makeRail(store, { pollingIntervalMs: 5 }).rail
})
afterAll(async () => {
  await fx?.close()
})

const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef'

describe('Acceptance 4: 200 concurrent settlements through one relayer key', () => {
  it('all succeed, no nonce collision: 200 distinct transactions with consecutive nonces, 200 Transfer logs, exact balances', async () => {
    const N = 200
    const value = 1_000n
    const payers = await fx.newPayers(N, 5_000n)
    const signed = await Promise.all(payers.map((p) => fx.sign(p, value)))
    const ids: string[] = []
    for (const s of signed) ids.push(await fx.authorizedIntent(store, s))
    const relayer = fx.chain.relayer.address
    const [nonceBefore, merchantBefore, blockBefore] = await Promise.all([
      fx.txCount(relayer),
      fx.balance(fx.merchant),
      rpc<Hex>(fx.chain.rpcUrl, 'eth_blockNumber', []),
    ])

    const t0 = performance.now()
    const results = await Promise.all(
      ids.map((intentId, i) => settleIntent({ store }, { intentId, rail, credential: fx.credential(signed[i]!), actor: 'system:load' })),
    )
    const ms = performance.now() - t0
    console.log(`[evm rail] ${N} concurrent settlements through one relayer key: ${ms.toFixed(0)} ms (${((N * 1000) / ms).toFixed(0)} settlements/s)`)

    const failed = results.filter((r) => r.intent.status !== 'succeeded')
    expect(failed.map((r) => [r.intent.status, r.intent.status_reason, r.outcome])).toEqual([])
    const hashes = new Set(results.map((r) => r.intent.settlement!.reference))
    expect(hashes.size).toBe(N)
    // The relayer sent exactly N transactions: nonces nonceBefore … nonceBefore+N-1, none wasted or reused.
    expect(await fx.txCount(relayer)).toBe(nonceBefore + N)
    const nonces = await Promise.all([...hashes].map(async (h) => Number((await rpc<{ nonce: Hex }>(fx.chain.rpcUrl, 'eth_getTransactionByHash', [h])).nonce)))
    expect(nonces.sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => nonceBefore + i))

    const merchantTopic = `0x${fx.merchant.slice(2).toLowerCase().padStart(64, '0')}`
    const logs = await rpc<Array<{ transactionHash: Hex; topics: Hex[]; data: Hex }>>(fx.chain.rpcUrl, 'eth_getLogs', [
      { address: fx.chain.token.address, topics: [TRANSFER_TOPIC, null, merchantTopic], fromBlock: `0x${(BigInt(blockBefore) + 1n).toString(16)}`, toBlock: 'latest' },
    ])
    expect(logs).toHaveLength(N)
    expect(new Set(logs.map((l) => l.transactionHash))).toEqual(hashes)
    expect(new Set(logs.map((l) => `0x${l.topics[1]!.slice(26)}`))).toEqual(new Set(payers.map((p) => p.address.toLowerCase())))
    expect(logs.every((l) => BigInt(l.data) === value)).toBe(true)
    expect(await fx.balance(fx.merchant)).toBe(merchantBefore + BigInt(N) * value)
    const balances = await Promise.all(payers.map((p: { address: Address }) => fx.balance(p.address)))
    expect(balances.every((b) => b === 5_000n - value)).toBe(true)
  }, 60_000)

  it('settle latency, one at a time (printed for the record)', async () => {
    const payers = await fx.newPayers(30, 10_000n)
    const times: number[] = []
    for (const p of payers) {
      const s = await fx.sign(p, 10_000n)
      const id = await fx.authorizedIntent(store, s)
      const t0 = performance.now()
      const r = await settleIntent({ store }, { intentId: id, rail, credential: fx.credential(s), actor: 'system:test' })
      times.push(performance.now() - t0)
      expect(r.intent.status).toBe('succeeded')
    }
    times.sort((a, b) => a - b)
    const q = (f: number): string => times[Math.min(times.length - 1, Math.floor(f * times.length))]!.toFixed(1)
    console.log(`[evm rail] settleIntent latency over ${times.length} (SQLite + anvil automine, polling 5 ms): p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, max ${q(1)} ms`)
  })
})

describe('one relayer key shared by two rail instances (a misconfiguration the nonce assigner survives)', () => {
  it('"nonce too low" from the other instance re-reads the nonce and retries: every settlement succeeds once', async () => {
    const other = fx.makeRail(store, { pollingIntervalMs: 5 }).rail
    const payers = await fx.newPayers(20, 1_000n)
    const signed = await Promise.all(payers.map((p) => fx.sign(p, 100n)))
    const ids: string[] = []
    for (const s of signed) ids.push(await fx.authorizedIntent(store, s))
    const nonceBefore = await fx.txCount(fx.chain.relayer.address)
    const results = await Promise.all(
      ids.map((intentId, i) => settleIntent({ store }, { intentId, rail: i % 2 === 0 ? rail : other, credential: fx.credential(signed[i]!), actor: 't' })),
    )
    expect(results.filter((r) => r.intent.status !== 'succeeded').map((r) => r.outcome)).toEqual([])
    expect(results.map((r) => r.intent.status)).toEqual(ids.map(() => 'succeeded'))
    expect(await fx.txCount(fx.chain.relayer.address)).toBe(nonceBefore + 20)
    expect(await Promise.all(payers.map((p) => fx.balance(p.address)))).toEqual(payers.map(() => 900n))
  })
})
