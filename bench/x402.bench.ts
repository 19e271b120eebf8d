/**
 * x402 facilitators, ours against the official one, in one process tree on the same anvil and
 * token: `POST /verify` and `POST /settle` over HTTP (keep-alive), each request a fresh EIP-3009
 * authorization signed before the clock starts. Ours is the gateway's `/x402/facilitator`
 * (every settlement a canonical intent on SQLite, synchronous=FULL, the EVM rail: batched
 * reads on a keep-alive JSON-RPC client, signatures recovered and transactions signed by libsecp256k1 (WebAssembly), one
 * receipt poller, a serialised nonce assigner); the official one is
 * `x402Facilitator` + `@x402/evm`'s exact scheme with a viem wallet client (5 ms polling, viem's
 * nonce manager) behind the examples' HTTP surface. Goals: our settle throughput ≥ 2× the
 * official's; our verify p99 < 5 ms.
 *
 * Two chains: anvil in automine (a block per transaction: the chain itself serialises
 * settlements, so at concurrency both facilitators meet the same ceiling), and anvil with
 * interval mining (`--block-time`, a real chain's shape: many settlements per block, each waits
 * for inclusion), where what a facilitator does while it waits decides its throughput; there
 * 256 callers keep both saturated (throughput, not blocks of latency, is what is compared).
 * Beside the verify figures it prints the node's own answer to the same simulations, sent
 * straight to anvil: the floor under both facilitators' latency on this machine.
 *
 * `npm run bench -- x402 [--verify N] [--warm N] [--settle N] [--concurrency C] [--block-time S] [--block-settle N] [--block-concurrency C]`
 */
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import express from 'express'
import { Agent, request } from 'undici'
import { getAddress, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { x402Mount } from '../adapters/protocols/x402/mount.js'
import { officialFacilitator, officialFacilitatorRouter } from '../adapters/protocols/x402/testOfficial.js'
import { encodeTransferWithAuthorization } from '../adapters/rails/evm/evmRail.js'
import { registerEvmRail } from '../adapters/rails/evm/registerEvmRail.js'
import { parseEip3009Authorization, transferWithAuthorizationArgs } from '../adapters/rails/evm/verifyEip3009Authorization.js'
import { startTestGateway } from '../adapters/testing/testGateway.js'
import { devAccount, fundWallets, localChainInfo, startLocalChain, tokenBalance } from '../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../sandbox/chain/devConfig.js'
import { signAuthorization } from '../sandbox/chain/payer.js'

interface Figures {
  requests: number
  failures: number
  perSecond: number
  p50ms: number
  p99ms: number
}

/** One run of {@link drive}, before it is summarised (runs of one side are merged first). */
interface Run {
  requests: number
  failures: number
  elapsedS: number
  lat: number[]
}

// More connections than any concurrency used: a request must never queue in the client.
const dispatcher = new Agent({ connections: 1024, keepAliveTimeout: 10_000 })

async function post(url: string, body: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, dispatcher })
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> }
}

/** Send every body with `concurrency` loops; latency per request, throughput over the whole run. */
async function drive(url: string, bodies: readonly string[], concurrency: number, ok: (j: Record<string, unknown>) => boolean): Promise<Run> {
  const lat: number[] = []
  let failures = 0
  let next = 0
  let firstFailure: unknown
  const start = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++
        if (i >= bodies.length) return
        const t = performance.now()
        const r = await post(url, bodies[i]!)
        lat.push(performance.now() - t)
        if (r.status !== 200 || !ok(r.json)) {
          failures++
          firstFailure ??= r.json
        }
      }
    }),
  )
  const elapsedS = (performance.now() - start) / 1000
  if (firstFailure) console.log(`  first failure at ${url}: ${JSON.stringify(firstFailure).slice(0, 300)}`)
  return { requests: bodies.length, failures, elapsedS, lat }
}

/**
 * A full collection between runs, so that each side pays for its own garbage: the two
 * facilitators share one process, and without it one side's leftovers are collected during the
 * other's measurement (benchmark hygiene, as in mitata or benchmark.js).
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
})()

/** Several runs of one side as one figure: requests over the time they took together. */
function summarise(runs: readonly Run[]): Figures {
  const lat = runs.flatMap((r) => r.lat).sort((a, b) => a - b)
  const requests = runs.reduce((n, r) => n + r.requests, 0)
  const elapsed = runs.reduce((t, r) => t + r.elapsedS, 0)
  const q = (p: number): number => Number((lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0).toFixed(2))
  return { requests, failures: runs.reduce((n, r) => n + r.failures, 0), perSecond: Math.round(requests / elapsed), p50ms: q(0.5), p99ms: q(0.99) }
}

/**
 * Both sides on the same chain, in halves ordered official, ours, ours, official: the chain grows
 * with every settlement (an automining anvil makes a block per transaction), so whichever side
 * went second would always meet the longer chain.
 */
async function abba(
  targets: { ours: string; official: string },
  path: string,
  bodies: { ours: readonly string[]; official: readonly string[] },
  concurrency: number,
  ok: (j: Record<string, unknown>) => boolean,
): Promise<Record<'ours' | 'official', Figures>> {
  const half = (b: readonly string[], i: 0 | 1): readonly string[] => (i === 0 ? b.slice(0, Math.ceil(b.length / 2)) : b.slice(Math.ceil(b.length / 2)))
  const runs: Record<'ours' | 'official', Run[]> = { ours: [], official: [] }
  for (const [who, i] of [['official', 0], ['ours', 0], ['ours', 1], ['official', 1]] as const) {
    collectGarbage()
    runs[who].push(await drive(`${targets[who]}${path}`, half(bodies[who], i), concurrency, ok))
  }
  return { ours: summarise(runs.ours), official: summarise(runs.official) }
}

/**
 * The node's own part of a verify: the same `transferWithAuthorization` simulation each verify
 * asks for, sent straight to anvil as raw JSON-RPC (keep-alive, one at a time) — the floor under
 * either facilitator's latency on this machine, printed beside them so their figures can be read.
 */
async function nodeFloor(rpcUrl: string, token: Address, bodies: readonly string[]): Promise<Run> {
  const calls = bodies.map((b, i) => {
    const { authorization, signature } = (JSON.parse(b) as { paymentPayload: { payload: { authorization: unknown; signature: Hex } } }).paymentPayload.payload
    const data = encodeTransferWithAuthorization(transferWithAuthorizationArgs(parseEip3009Authorization(authorization)!, signature))
    return JSON.stringify({ jsonrpc: '2.0', id: i, method: 'eth_call', params: [{ from: token, to: token, data }, 'latest'] })
  })
  return drive(rpcUrl, calls, 1, (j) => typeof j['result'] === 'string')
}

interface Setup {
  rpcUrl: string
  token: Address
  targets: { ours: string; official: string }
  payTo: Address
  /** A fresh `/verify` / `/settle` body (EIP-3009 signed now). */
  sign(): Promise<string>
  received(): Promise<bigint>
  close(): Promise<void>
}

/** A chain with our token, funded payers, our gateway and the official facilitator on it. */
async function setup(options: { blockTime?: number | undefined; pollingIntervalMs: number }): Promise<Setup> {
  const chain = await startLocalChain({ wallets: 0, ...(options.blockTime ? { blockTime: options.blockTime } : {}) })
  const servers: Server[] = []
  const info = localChainInfo(chain)
  const payTo = privateKeyToAccount(generatePrivateKey()).address
  // EIP-3009 nonces are random: one payer would do; several look more like real traffic.
  const payers = Array.from({ length: 8 }, () => generatePrivateKey())
  await fundWallets({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, token: chain.token.address, minterPrivateKey: chain.deployer.privateKey, wallets: payers.map((k) => privateKeyToAccount(k).address), amount: 10n ** 12n })

  // Ours: the gateway's facilitator (SQLite synchronous=FULL in a temp dir, the EVM rail with the dev relayer).
  const gw = await startTestGateway({
    configPatch: { assets: [localChainAsset(info)], log: { level: 'warn' } },
    gatewayOptions: {
      rails: [registerEvmRail({ chains: [localChainRailConfig(info, { pollingIntervalMs: options.pollingIntervalMs, receiptTimeoutMs: 60_000 })] })],
      mounts: [x402Mount({ facilitator: { merchantId: 'm1' } })],
    },
  })
  // Official: x402Facilitator + @x402/evm, its own relayer key, the same chain, token and polling interval.
  const app = express()
  app.use('/facilitator', officialFacilitatorRouter(officialFacilitator({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, privateKey: devAccount(7).privateKey, pollingIntervalMs: options.pollingIntervalMs })))
  const srv = app.listen(0, '127.0.0.1')
  servers.push(srv)
  await once(srv, 'listening')

  const requirements = {
    scheme: 'exact',
    network: chain.network,
    amount: '10000',
    asset: chain.token.address,
    payTo: getAddress(payTo),
    maxTimeoutSeconds: 600,
    extra: { name: chain.token.name, version: chain.token.version },
  }
  let k = 0
  return {
    rpcUrl: chain.rpcUrl,
    token: chain.token.address,
    targets: { ours: `${gw.url}/x402/facilitator`, official: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/facilitator` },
    payTo,
    async sign() {
      const auth = await signAuthorization({ privateKey: payers[k++ % payers.length]!, chainId: chain.chainId, token: chain.token, to: payTo, value: 10_000n, validBefore: BigInt(Math.floor(Date.now() / 1000) + 3600) })
      return JSON.stringify({ x402Version: 2, paymentPayload: { x402Version: 2, accepted: requirements, payload: auth }, paymentRequirements: requirements })
    },
    received: () => tokenBalance(chain.rpcUrl, chain.token.address, payTo),
    async close() {
      ;(gw.gateway.rails.get('evm') as { close?: () => void } | undefined)?.close?.()
      await gw.close()
      for (const x of servers) {
        x.closeAllConnections()
        await new Promise((r) => x.close(r))
      }
      await chain.stop()
    },
  }
}

const isValid = (j: Record<string, unknown>): boolean => j['isValid'] === true
const success = (j: Record<string, unknown>): boolean => j['success'] === true
const ok = (f: Figures): number => f.requests - f.failures
const row = (name: string, f: Figures): string =>
  `${name.padEnd(26)} ${String(f.perSecond).padStart(6)}/s  p50 ${f.p50ms.toFixed(2).padStart(8)} ms  p99 ${f.p99ms.toFixed(2).padStart(8)} ms  failures ${f.failures}`

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const arg = (name: string, dflt: number): number => {
    const i = args.indexOf(name)
    return i >= 0 ? Number(args[i + 1]) || dflt : dflt
  }
  // A p99 needs samples: 1000 puts ten requests above it, not four.
  const verifyCount = arg('--verify', 1000)
  const warmVerifies = arg('--warm', 500)
  const settleCount = arg('--settle', 200)
  // Per side; each half (see abba) must be several rounds of the concurrency, not one partial block.
  const blockSettleCount = arg('--block-settle', 2048)
  const concurrency = arg('--concurrency', 16)
  const blockTime = arg('--block-time', 0.25)
  // Enough callers to saturate both facilitators: at a concurrency C a closed loop can never pass C
  // settlements per block (64 on 0.25 s blocks is 256/s, which ours reaches), so a lower C
  // measures latency in blocks, not throughput.
  const blockConcurrency = arg('--block-concurrency', 256)
  const pollingIntervalMs = arg('--polling', 5)
  const signMany = async (st: Setup, n: number): Promise<string[]> => {
    const out: string[] = []
    for (let i = 0; i < n; i++) out.push(await st.sign())
    return out
  }
  // Warm-up, the same for both sides: JIT, keep-alive connections, and the node's own caches (an
  // anvil answers its first few hundred calls several times slower than the rest).
  const warm = async (st: Setup, url: string): Promise<void> => {
    for (const b of await signMany(st, warmVerifies)) await post(`${url}/verify`, b)
    await drive(`${url}/settle`, await signMany(st, 8), 4, success)
  }
  const load = (await import('node:os')).loadavg()[0]!.toFixed(2)

  // --- automine: verify, settle one at a time, settle concurrently -----------------------------------
  console.log(`x402 bench (load average ${load} on ${(await import('node:os')).cpus().length} cores), polling ${pollingIntervalMs} ms for both`)
  console.log(
    'fairness: each phase runs ONE anvil (default gas limit, base fee) with ONE token contract; both facilitators settle on it in halves ordered official, ours, ours, official (the chain grows as it goes), ' +
      'each with one relayer key of its own (ours: the dev relayer, official: anvil account 7); both are reached over HTTP/1.1 keep-alive; ' +
      'ours writes every settlement to SQLite (synchronous=FULL), the official keeps nothing',
  )
  console.log(`automine: verify ${verifyCount} fresh authorizations at c=1; settle ${settleCount} at c=1 and ${settleCount} at c=${concurrency}`)
  const a = await setup({ pollingIntervalMs })
  const automine: Record<'ours' | 'official', { verify: Figures; settle1: Figures; settleN: Figures }> = {} as never
  let automineExact: boolean
  let floor: Figures
  try {
    const t0 = performance.now()
    // Verify changes nothing: the same bodies go to both (never twice to one: no cache hit anywhere).
    const verifyBodies = await signMany(a, verifyCount)
    const settleBodies = { ours: [await signMany(a, settleCount), await signMany(a, settleCount)], official: [await signMany(a, settleCount), await signMany(a, settleCount)] }
    console.log(`  signed ${verifyCount + 4 * settleCount} authorizations in ${((performance.now() - t0) / 1000).toFixed(1)} s (not measured)`)
    await warm(a, a.targets.ours)
    await warm(a, a.targets.official)
    const verify = await abba(a.targets, '/verify', { ours: verifyBodies, official: verifyBodies }, 1, isValid)
    collectGarbage()
    floor = summarise([await nodeFloor(a.rpcUrl, a.token, verifyBodies)])
    const settle1 = await abba(a.targets, '/settle', { ours: settleBodies.ours[0]!, official: settleBodies.official[0]! }, 1, success)
    const settleN = await abba(a.targets, '/settle', { ours: settleBodies.ours[1]!, official: settleBodies.official[1]! }, concurrency, success)
    for (const who of ['official', 'ours'] as const) automine[who] = { verify: verify[who], settle1: settle1[who], settleN: settleN[who] }
    const expected = 10_000n * BigInt(16 + ok(automine.ours.settle1) + ok(automine.ours.settleN) + ok(automine.official.settle1) + ok(automine.official.settleN))
    const received = await a.received()
    automineExact = received === expected
    console.log(`  the node alone (the same ${verifyCount} simulations as raw JSON-RPC, the floor under both):`)
    console.log(`    ${row('eth_call (c=1)', floor)}`)
    for (const who of ['official', 'ours'] as const) {
      console.log(`  ${who}:`)
      console.log(`    ${row('verify (c=1)', automine[who].verify)}`)
      console.log(`    ${row('settle (c=1)', automine[who].settle1)}`)
      console.log(`    ${row(`settle (c=${concurrency})`, automine[who].settleN)}`)
    }
    console.log(`  payee received ${received}, expected ${expected}: ${automineExact ? 'every settlement moved money exactly once' : 'MISMATCH (a failed settlement that was broadcast, e.g. settlement_pending, may still have landed)'}`)
  } finally {
    await a.close()
  }

  // --- interval mining: settle concurrently while blocks come every `blockTime` s ---------------------
  console.log(`interval mining (a block every ${blockTime} s): settle ${blockSettleCount} at c=${blockConcurrency}`)
  const b = await setup({ blockTime, pollingIntervalMs })
  const blocks: Record<'ours' | 'official', Figures> = {} as never
  let blocksExact: boolean
  try {
    const bodies = { ours: await signMany(b, blockSettleCount), official: await signMany(b, blockSettleCount) }
    await warm(b, b.targets.ours)
    await warm(b, b.targets.official)
    Object.assign(blocks, await abba(b.targets, '/settle', bodies, blockConcurrency, success))
    const expected = 10_000n * BigInt(16 + ok(blocks.ours) + ok(blocks.official))
    const received = await b.received()
    blocksExact = received === expected
    for (const who of ['official', 'ours'] as const) console.log(`  ${who}: ${row(`settle (c=${blockConcurrency})`, blocks[who])}`)
    console.log(`  payee received ${received}, expected ${expected}: ${blocksExact ? 'every settlement moved money exactly once' : 'MISMATCH (a failed settlement that was broadcast, e.g. settlement_pending, may still have landed)'}`)
  } finally {
    await b.close()
    await dispatcher.close()
  }

  const r2 = (x: number): number => Number(x.toFixed(2))
  const ratio = {
    automineSettleC1: r2(automine.ours.settle1.perSecond / automine.official.settle1.perSecond),
    automineSettleCN: r2(automine.ours.settleN.perSecond / automine.official.settleN.perSecond),
    blocksSettle: r2(blocks.ours.perSecond / blocks.official.perSecond),
    verifyThroughput: r2(automine.ours.verify.perSecond / automine.official.verify.perSecond),
  }
  // A ratio counts toward the goal only when neither side had a failure (one stalled request, e.g. a
  // receipt timeout answered `settlement_pending`, would turn a throughput into a meaningless number).
  const clean = (x: Figures, y: Figures): boolean => x.failures === 0 && y.failures === 0
  const goals = {
    settleThroughputAtLeast2x:
      (clean(blocks.ours, blocks.official) && ratio.blocksSettle >= 2) ||
      (clean(automine.ours.settleN, automine.official.settleN) && ratio.automineSettleCN >= 2) ||
      (clean(automine.ours.settle1, automine.official.settle1) && ratio.automineSettleC1 >= 2),
    oursVerifyP99Under5ms: automine.ours.verify.p99ms < 5,
  }
  console.log(`ours/official settle throughput: automine ${ratio.automineSettleC1}× (c=1), ${ratio.automineSettleCN}× (c=${concurrency}); ${blockTime} s blocks ${ratio.blocksSettle}× (c=${blockConcurrency}); verify ${ratio.verifyThroughput}×`)
  console.log(`goals: settle ≥ 2× official: ${goals.settleThroughputAtLeast2x ? 'met' : 'NOT met'}; our verify p99 < 5 ms: ${goals.oursVerifyP99Under5ms ? 'met' : `NOT met (${automine.ours.verify.p99ms} ms)`}`)
  return { loadAverage: Number(load), pollingIntervalMs, automine: { concurrency, ...automine, nodeSimulation: floor, exactlyOnce: automineExact }, blocks: { blockTime, concurrency: blockConcurrency, ...blocks, exactlyOnce: blocksExact }, ratio, goals }
}
