import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { createRequire } from 'node:module'
import { createWalletClient, defineChain, http, parseEventLogs, publicActions, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { verifyAuditChain } from '../../../core/events/audit.js'
import { reconcileIntent, settleIntent } from '../../../core/pipeline/settleIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import { openPostgresStore } from '../../../core/store/postgres/postgresStore.js'
import type { Store } from '../../../core/store/port.js'
import { createTestSchema } from '../../../core/testing/pg.js'
import { fundWallets, increaseTime, mine, pauseMining, pendingTransactionCount, resumeMining, rpc } from '../../../sandbox/chain/anvil.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { eip3009Abi } from './abi.js'
import { createEvmRail, EIP3009_REPLAY_NAMESPACE, eip3009ReplayKey, WARM_TTL_MS, type EvmRail } from './evmRail.js'
import { Eip3009Reason } from './reasons.js'
import { startRailFixture, startRpcProxy, type RailFixture } from './testFixture.js'

type Payer = { address: Address; privateKey: Hex }

// One anvil for the whole file; tests run in order (Acceptance 3 pauses mining and resumes it).
let fx: RailFixture
let store: Store
let rail: EvmRail
let payers: Payer[]

beforeAll(async () => {
  fx = await startRailFixture()
  store = await fx.openStore()
  rail = fx.makeRail(store).rail
  payers = await fx.newPayers(14, 1_000_000n)
})
afterAll(async () => {
  await fx?.close()
})

async function chainOk(s: Store, id: string): Promise<void> {
  const stored = (await s.getIntent(id))!
  expect(verifyAuditChain(await s.listEvents(id), { head: stored.auditHead, seq: stored.auditSeq, status: stored.intent.status })).toMatchObject({ valid: true })
}

async function transferLogs(hash: Hex): Promise<Array<{ from: Address; to: Address; value: bigint }>> {
  const receipt = await rpc<{ logs: never[] }>(fx.chain.rpcUrl, 'eth_getTransactionReceipt', [hash])
  return parseEventLogs({ abi: eip3009Abi, eventName: 'Transfer', logs: receipt.logs }).map((l) => l.args)
}

describe('EVM rail settle through settleIntent', () => {
  it('settles a real intent: balances move exactly once, confirmed by the Transfer log', async () => {
    const payer = payers[0]!
    const [pBefore, mBefore, nonceBefore] = await Promise.all([fx.balance(payer.address), fx.balance(fx.merchant), fx.txCount(fx.chain.relayer.address)])
    const s = await fx.sign(payer, 12_345n)
    const id = await fx.authorizedIntent(store, s)
    const { intent, outcome } = await settleIntent({ store }, { intentId: id, rail, credential: fx.credential(s), actor: 'system:test' })
    expect(outcome).toMatchObject({ status: 'succeeded', payer: payer.address })
    expect(intent).toMatchObject({ status: 'succeeded', settlement: { rail: 'evm' }, route: { rail: 'evm', attempts: [{ outcome: 'succeeded' }] } })
    const hash = intent.settlement!.reference as Hex
    expect(await transferLogs(hash)).toEqual([{ from: payer.address, to: fx.merchant, value: 12_345n }])
    expect(await fx.balance(payer.address)).toBe(pBefore - 12_345n)
    expect(await fx.balance(fx.merchant)).toBe(mBefore + 12_345n)
    expect(await fx.txCount(fx.chain.relayer.address)).toBe(nonceBefore + 1)
    await chainOk(store, id)
  })

  it('a replayed authorisation is refused: a second intent with the same nonce is declined and nothing moves', async () => {
    const payer = payers[1]!
    const s = await fx.sign(payer, 5_000n)
    const first = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: first, rail, credential: fx.credential(s), actor: 'system:test' })).intent.status).toBe('succeeded')
    const [pBefore, mBefore, nonceBefore] = await Promise.all([fx.balance(payer.address), fx.balance(fx.merchant), fx.txCount(fx.chain.relayer.address, 'pending')])

    const second = await fx.authorizedIntent(store, s)
    const r = await settleIntent({ store }, { intentId: second, rail, credential: fx.credential(s), actor: 'system:test' })
    expect(r.intent).toMatchObject({ status: 'failed', status_reason: 'invalid_exact_evm_nonce_already_used' })
    // Also through another store (another gateway without this lock): the chain state refuses it.
    const other = await fx.openStore()
    const otherRail = fx.makeRail(other).rail
    const third = await fx.authorizedIntent(other, s)
    const r3 = await settleIntent({ store: other }, { intentId: third, rail: otherRail, credential: fx.credential(s), actor: 'system:test' })
    expect(r3.intent).toMatchObject({ status: 'failed', status_reason: 'invalid_exact_evm_nonce_already_used' })

    expect(await fx.balance(payer.address)).toBe(pBefore)
    expect(await fx.balance(fx.merchant)).toBe(mBefore)
    expect(await fx.txCount(fx.chain.relayer.address, 'pending')).toBe(nonceBefore) // nothing broadcast
  })

  it('two intents racing with one authorisation: exactly one settles', async () => {
    const payer = payers[2]!
    const s = await fx.sign(payer, 777n)
    const [a, b] = [await fx.authorizedIntent(store, s), await fx.authorizedIntent(store, s)]
    const nonceBefore = await fx.txCount(fx.chain.relayer.address, 'pending')
    const pBefore = await fx.balance(payer.address)
    const results = await Promise.all([a, b].map((intentId) => settleIntent({ store }, { intentId, rail, credential: fx.credential(s), actor: 'system:test' })))
    expect(results.map((r) => r.intent.status).sort()).toEqual(['failed', 'succeeded'])
    expect(results.find((r) => r.intent.status === 'failed')!.intent.status_reason).toBe(Eip3009Reason.nonceAlreadyUsed)
    expect(await fx.balance(payer.address)).toBe(pBefore - 777n)
    expect(await fx.txCount(fx.chain.relayer.address, 'pending')).toBe(nonceBefore + 1)
  })

  it('declines are values and send nothing: bad signature, wrong payee, insufficient funds, credential of another intent', async () => {
    const payer = payers[3]!
    const nonceBefore = await fx.txCount(fx.chain.relayer.address, 'pending')
    const s = await fx.sign(payer, 100n)
    const forged = { ...s, authorization: { ...s.authorization, value: '101' } }
    const id1 = await fx.authorizedIntent(store, forged)
    expect((await settleIntent({ store }, { intentId: id1, rail, credential: fx.credential(forged), actor: 't' })).intent).toMatchObject({
      status: 'failed',
      status_reason: 'invalid_exact_evm_signature',
    })
    const id2 = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: id2, rail, credential: fx.credential(s, payers[4]!.address), actor: 't' })).intent).toMatchObject({
      status: 'failed',
      status_reason: 'invalid_exact_evm_recipient_mismatch',
    })
    const big = await fx.sign(payer, 2_000_000n)
    const id3 = await fx.authorizedIntent(store, big)
    expect((await settleIntent({ store }, { intentId: id3, rail, credential: fx.credential(big), actor: 't' })).intent).toMatchObject({
      status: 'failed',
      status_reason: 'invalid_exact_evm_insufficient_balance',
    })
    // The intent was created for authorisation `s`; settling it with another one is refused.
    const other = await fx.sign(payer, 100n)
    const id4 = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: id4, rail, credential: fx.credential(other), actor: 't' })).intent).toMatchObject({
      status: 'failed',
      status_reason: 'invalid_payload',
    })
    expect(await fx.txCount(fx.chain.relayer.address, 'pending')).toBe(nonceBefore)
    // A declined payment released its lock: the same authorisation can still pay a new intent.
    const id5 = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: id5, rail, credential: fx.credential(s), actor: 't' })).intent.status).toBe('succeeded')
  })

  it('fee caps: above the cap nothing is sent and the intent is declined fee_cap_exceeded', async () => {
    const capped = fx.makeRail(store, { feeCaps: { maxFeePerGas: 1n, maxPriorityFeePerGas: 1n } }).rail
    const s = await fx.sign(payers[5]!, 50n)
    const nonceBefore = await fx.txCount(fx.chain.relayer.address, 'pending')
    const id = await fx.authorizedIntent(store, s)
    const r = await settleIntent({ store }, { intentId: id, rail: capped, credential: fx.credential(s), actor: 't' })
    expect(r.intent).toMatchObject({ status: 'failed', status_reason: 'fee_cap_exceeded' })
    expect(await fx.txCount(fx.chain.relayer.address, 'pending')).toBe(nonceBefore)
    // Nothing was sent, so the authorisation is still good for a new intent under sane caps.
    const id2 = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: id2, rail, credential: fx.credential(s), actor: 't' })).intent.status).toBe('succeeded')
  })

  it('checkConfiguration reads the token and refuses a wrong domain', async () => {
    await expect(rail.checkConfiguration()).resolves.toBeUndefined()
    const wrong = createEvmRail({
      chains: [{ chainId: fx.chain.chainId, rpcUrls: [fx.chain.rpcUrl], tokens: [{ ...fx.chain.token, name: 'USD Coin' }], relayerPrivateKey: fx.chain.relayer.privateKey, feeCaps: { maxFeePerGas: 1n, maxPriorityFeePerGas: 1n } }],
      breakers: new BreakerRegistry(),
      logger: fx.logger,
      store,
    })
    await expect(wrong.checkConfiguration()).rejects.toMatchObject({ code: 'GW_CONFIG_INVALID' })
    wrong.close()
  })

  it('refuses a token that has the right name, version and decimals but no authorizationState, at startup and on verify', async () => {
    // A plain ERC-20-shaped contract with the dev token's EIP-712 domain and decimals: everything
    // checkConfiguration compares matches, except that reconciliation could never read a nonce.
    const require = createRequire(import.meta.url)
    const solc = require('solc') as { compile(input: string): string }
    const source = 'pragma solidity ^0.8.0; contract NotEip3009 { string public constant name = "Agentswitch USD"; string public constant version = "2"; uint8 public constant decimals = 6; }'
    const out = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources: { 'n.sol': { content: source } }, settings: { evmVersion: 'cancun', outputSelection: { '*': { '*': ['evm.bytecode.object'] } } } }))) as {
      contracts: { 'n.sol': { NotEip3009: { evm: { bytecode: { object: string } } } } }
    }
    const wallet = createWalletClient({ account: privateKeyToAccount(fx.chain.deployer.privateKey), chain: defineChain({ id: fx.chain.chainId, name: 'anvil', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [fx.chain.rpcUrl] } } }), transport: http(fx.chain.rpcUrl) }).extend(publicActions)
    const hash = await wallet.deployContract({ abi: [], bytecode: `0x${out.contracts['n.sol'].NotEip3009.evm.bytecode.object}` })
    const address = (await wallet.waitForTransactionReceipt({ hash })).contractAddress!
    const plain = createEvmRail({
      chains: [{ chainId: fx.chain.chainId, rpcUrls: [fx.chain.rpcUrl], tokens: [{ ...fx.chain.token, address, assetId: `eip155:${fx.chain.chainId}/erc20:${address.toLowerCase()}` }], relayerPrivateKey: fx.chain.relayer.privateKey, feeCaps: { maxFeePerGas: 10n ** 12n, maxPriorityFeePerGas: 10n ** 9n } }],
      breakers: new BreakerRegistry(),
      logger: fx.logger,
      store,
    })
    try {
      await expect(plain.checkConfiguration()).rejects.toMatchObject({ code: 'GW_CONFIG_INVALID', message: expect.stringContaining('authorizationState=no') })
      // The same token passes everything else: only the missing function refuses it.
      const s = await fx.sign(payers[6]!, 10n, { token: { ...fx.chain.token, address } })
      const r = await plain.verifyAuthorization({ network: `eip155:${fx.chain.chainId}`, asset: address, authorization: s.authorization, signature: s.signature, payTo: fx.merchant, amount: 10n })
      expect(r).toMatchObject({ ok: false, reason: Eip3009Reason.eip3009NotSupported })
    } finally {
      plain.close()
    }
  })

  it('secrets never reach the logs (relayer key, signatures)', () => {
    const all = fx.logs.join('\n').toLowerCase()
    expect(fx.logs.length).toBeGreaterThan(0)
    expect(all).not.toContain(fx.chain.relayer.privateKey.slice(2).toLowerCase())
    for (const p of payers) expect(all).not.toContain(p.privateKey.slice(2).toLowerCase())
  })
})

describe('warmSettlement: on-chain checks started while the intent is written', () => {
  type Signed = Awaited<ReturnType<RailFixture['sign']>>
  let proxy: Awaited<ReturnType<typeof startRpcProxy>>
  let warmRail: EvmRail
  beforeAll(async () => {
    proxy = await startRpcProxy(fx.chain.rpcUrl)
    warmRail = fx.makeRail(store, { rpcUrls: [proxy.url] }).rail
    // The token's facts (code, name, version, authorizationState) are read once per rail: not counted below.
    const [p] = await fx.newPayers(1, 1n)
    const s = await fx.sign(p!, 1n)
    await warmRail.verifyAuthorization({ network: fx.chain.network, asset: fx.chain.token.address, ...fx.credential(s), amount: 1n })
  })
  afterAll(async () => {
    await proxy?.close()
  })
  /** Simulations sent to the node (a gas-capped eth_call, or eth_estimateGas the first time). */
  const simulations = (): number => (proxy.stats.calls['eth_call'] ?? 0) + (proxy.stats.calls['eth_estimateGas'] ?? 0)
  const warm = (s: Signed, amount: bigint): void => warmRail.warmSettlement({ network: fx.chain.network, asset: fx.chain.token.address, ...fx.credential(s), amount })
  const fund = (address: Address, amount: bigint): Promise<unknown> =>
    fundWallets({ rpcUrl: fx.chain.rpcUrl, chainId: fx.chain.chainId, token: fx.chain.token.address, minterPrivateKey: fx.chain.deployer.privateKey, wallets: [address], amount })
  /** Settle `s` through the proxied rail; its status and the simulations it sent itself. */
  const settle = async (s: Signed): Promise<{ status: string; simulations: number }> => {
    const id = await fx.authorizedIntent(store, s)
    const before = simulations()
    const { intent } = await settleIntent({ store }, { intentId: id, rail: warmRail, credential: fx.credential(s), actor: 'system:test' })
    return { status: intent.status === 'failed' ? `failed:${intent.status_reason}` : intent.status, simulations: simulations() - before }
  }
  const travelled = (): Promise<void> => new Promise((r) => setTimeout(r, 100))

  it('the settlement of the same inputs takes a warmed "ok": it simulates nothing itself, and the money moves once', async () => {
    const [payer] = await fx.newPayers(1, 7_000n)
    const s = await fx.sign(payer!, 7_000n)
    const merchantBefore = await fx.balance(fx.merchant)
    warm(s, 7_000n)
    await travelled()
    expect(await settle(s)).toEqual({ status: 'succeeded', simulations: 0 })
    expect(await fx.balance(fx.merchant)).toBe(merchantBefore + 7_000n)
    expect(await fx.balance(payer!.address)).toBe(0n)
  })

  it('one warm-up per inputs at a time: a repeated header starts no second round of reads', async () => {
    const [payer] = await fx.newPayers(1, 5_000n)
    const s = await fx.sign(payer!, 5_000n)
    const before = simulations()
    warm(s, 5_000n)
    warm(s, 5_000n)
    warm(s, 5_000n)
    await travelled()
    expect(simulations() - before).toBe(1)
    expect(await settle(s)).toEqual({ status: 'succeeded', simulations: 0 })
  })

  it('a warmed decline is read again: a payer funded meanwhile pays (never refused for good on a stale read)', async () => {
    const [payer] = await fx.newPayers(1, 0n)
    const s = await fx.sign(payer!, 6_000n)
    warm(s, 6_000n) // taken while the payer has nothing
    await travelled()
    await fund(payer!.address, 6_000n)
    const r = await settle(s)
    expect(r.status).toBe('succeeded')
    expect(r.simulations).toBeGreaterThan(0)
    expect(await fx.balance(payer!.address)).toBe(0n)
  })

  it('a warm-up of other inputs (another amount) is never used', async () => {
    const [payer] = await fx.newPayers(1, 8_000n)
    const s = await fx.sign(payer!, 8_000n)
    warm(s, 7_999n)
    await travelled()
    const r = await settle(s)
    expect(r.status).toBe('succeeded')
    expect(r.simulations).toBeGreaterThan(0)
  })

  it('a warm-up older than WARM_TTL_MS is not used', async () => {
    const [payer] = await fx.newPayers(1, 9_000n)
    const s = await fx.sign(payer!, 9_000n)
    warm(s, 9_000n)
    await new Promise((r) => setTimeout(r, WARM_TTL_MS + 50))
    const r = await settle(s)
    expect(r.status).toBe('succeeded')
    expect(r.simulations).toBeGreaterThan(0)
  })

  it('a warm-up whose chain read fails surfaces nothing (no unhandled rejection); the settlement reads again', async () => {
    const slowProxy = await startRpcProxy(fx.chain.rpcUrl)
    const down = fx.makeRail(store, { rpcUrls: [slowProxy.url], rpcTimeoutMs: 150 }).rail
    const [payer] = await fx.newPayers(1, 6_000n)
    const s = await fx.sign(payer!, 6_000n)
    slowProxy.dropResponse.add('eth_call') // the warm-up's reads time out
    slowProxy.dropResponse.add('eth_estimateGas')
    const before = slowProxy.stats.http
    down.warmSettlement({ network: fx.chain.network, asset: fx.chain.token.address, ...fx.credential(s), amount: 6_000n })
    await new Promise((r) => setTimeout(r, 400))
    expect(slowProxy.stats.http).toBeGreaterThan(before)
    slowProxy.dropResponse.clear()
    const id = await fx.authorizedIntent(store, s)
    expect((await settleIntent({ store }, { intentId: id, rail: down, credential: fx.credential(s), actor: 'system:test' })).intent.status).toBe('succeeded')
    await slowProxy.close()
  })
})

describe('Acceptance 3: a receipt timeout stays processing, is never re-broadcast, and reconciles', () => {
  it('mining paused → processing with the tx hash; no second broadcast; mining resumes → succeeded', async () => {
    const payer = payers[6]!
    const relayer = fx.chain.relayer.address
    const fast = fx.makeRail(store, { receiptTimeoutMs: 300 }).rail
    const s = await fx.sign(payer, 4_200n)
    const id = await fx.authorizedIntent(store, s)
    const [pBefore, mBefore, nonceBefore] = await Promise.all([fx.balance(payer.address), fx.balance(fx.merchant), fx.txCount(relayer)])

    await pauseMining(fx.chain.rpcUrl)
    try {
      const first = await settleIntent({ store }, { intentId: id, rail: fast, credential: fx.credential(s), actor: 'system:test' })
      expect(first.outcome).toMatchObject({ status: 'unknown', code: 'receipt_timeout' })
      const hash = first.intent.route!.reference as Hex
      expect(hash).toMatch(/^0x[0-9a-f]{64}$/)
      expect(first.intent).toMatchObject({ status: 'processing', route: { reference: hash, attempts: [{ outcome: 'unknown', code: 'receipt_timeout', reference: hash }] } })
      expect(await pendingTransactionCount(fx.chain.rpcUrl)).toBe(1)
      expect(await fx.txCount(relayer, 'pending')).toBe(nonceBefore + 1)

      // Reconciling while still unmined: unknown (pending), nothing sent.
      const mid = await reconcileIntent({ store }, { intentId: id, rail: fast, actor: 'system:reconciler' })
      expect(mid.outcome).toMatchObject({ status: 'unknown', code: 'transaction_pending', reference: hash })
      // Settling again (a retry by the caller) queries first and does not re-broadcast.
      const retry = await settleIntent({ store }, { intentId: id, rail: fast, credential: fx.credential(s), actor: 'system:test' })
      expect(retry.intent.status).toBe('processing')
      expect(await pendingTransactionCount(fx.chain.rpcUrl)).toBe(1)
      expect(await fx.txCount(relayer, 'pending')).toBe(nonceBefore + 1)
      expect(await fx.balance(payer.address)).toBe(pBefore)
    } finally {
      await resumeMining(fx.chain.rpcUrl)
    }

    // A fresh rail (as after a restart: nothing in memory) finishes it from the chain.
    const restarted = fx.makeRail(store).rail
    const done = await reconcileIntent({ store }, { intentId: id, rail: restarted, actor: 'system:reconciler' })
    const stored = (await store.getIntent(id))!.intent
    expect(done.intent).toMatchObject({ status: 'succeeded' })
    expect(stored.settlement!.reference).toBe(stored.route!.reference)
    expect(await fx.txCount(relayer)).toBe(nonceBefore + 1) // exactly one transaction, ever
    expect(await fx.balance(payer.address)).toBe(pBefore - 4_200n)
    expect(await fx.balance(fx.merchant)).toBe(mBefore + 4_200n)
    await chainOk(store, id)
  })

  it('a broadcast whose answer is lost (it reached the node) is never re-sent elsewhere and reconciles', async () => {
    const proxy = await startRpcProxy(fx.chain.rpcUrl)
    proxy.dropResponse.add('eth_sendRawTransaction')
    try {
      // First endpoint: the lossy proxy; second: anvil itself. A timeout is ambiguous: no failover.
      const lossy = fx.makeRail(store, { rpcUrls: [proxy.url, fx.chain.rpcUrl], rpcTimeoutMs: 300 }).rail
      const payer = payers[7]!
      const s = await fx.sign(payer, 900n)
      const id = await fx.authorizedIntent(store, s)
      const nonceBefore = await fx.txCount(fx.chain.relayer.address)
      const r = await settleIntent({ store }, { intentId: id, rail: lossy, credential: fx.credential(s), actor: 't' })
      expect(r.outcome).toMatchObject({ status: 'unknown', code: 'broadcast_unknown' })
      expect(r.intent.status).toBe('processing')
      expect(proxy.stats.calls['eth_sendRawTransaction']).toBe(1)
      const done = await reconcileIntent({ store }, { intentId: id, rail: lossy, actor: 'system:reconciler' })
      expect(done.intent.status).toBe('succeeded')
      expect(done.intent.settlement!.reference).toBe(r.intent.route!.reference)
      expect(await fx.txCount(fx.chain.relayer.address)).toBe(nonceBefore + 1)
    } finally {
      await proxy.close()
    }
  })
  it('a transaction dropped from the pool: never assumed lost until its nonce slot is taken, then sent again exactly once', async () => {
    const relayer = fx.chain.relayer.address
    const r1 = fx.makeRail(store, { receiptTimeoutMs: 200 }).rail
    const [a, b] = [payers[12]!, payers[13]!]
    const sa = await fx.sign(a, 1_111n)
    const idA = await fx.authorizedIntent(store, sa)
    const [aBefore, nonceBefore] = [await fx.balance(a.address), await fx.txCount(relayer)]
    await pauseMining(fx.chain.rpcUrl)
    let hash: Hex
    try {
      const first = await settleIntent({ store }, { intentId: idA, rail: r1, credential: fx.credential(sa), actor: 't' })
      expect(first.outcome).toMatchObject({ status: 'unknown', code: 'receipt_timeout' })
      hash = first.intent.route!.reference as Hex
      await rpc(fx.chain.rpcUrl, 'anvil_dropTransaction', [hash])
      expect(await pendingTransactionCount(fx.chain.rpcUrl)).toBe(0)
    } finally {
      await resumeMining(fx.chain.rpcUrl)
    }
    // Unknown to the node, but its nonce slot is still free: it could reappear. Not "lost" yet.
    const q1 = await reconcileIntent({ store }, { intentId: idA, rail: r1, actor: 'system:reconciler' })
    expect(q1.outcome).toMatchObject({ status: 'unknown', code: 'transaction_not_found', reference: hash })
    // The relayer re-reads its nonce, so the next payment fills the gap instead of waiting behind it.
    const sb = await fx.sign(b, 2_222n)
    const idB = await fx.authorizedIntent(store, sb)
    expect((await settleIntent({ store }, { intentId: idB, rail: r1, credential: fx.credential(sb), actor: 't' })).intent.status).toBe('succeeded')
    expect(await fx.txCount(relayer)).toBe(nonceBefore + 1)
    // Now the dropped transaction can never be mined: settling again sends it once more.
    const again = await settleIntent({ store }, { intentId: idA, rail: r1, credential: fx.credential(sa), actor: 't' })
    expect(again.intent.status).toBe('succeeded')
    expect(again.intent.settlement!.reference).not.toBe(hash)
    expect(await fx.balance(a.address)).toBe(aBefore - 1_111n)
    expect(await fx.txCount(relayer)).toBe(nonceBefore + 2)
  })
})

describe('reconciliation from the chain alone', () => {
  async function processingIntent(s: Awaited<ReturnType<RailFixture['sign']>>): Promise<string> {
    const id = await fx.authorizedIntent(store, s)
    await transitionIntent({ store }, { intentId: id, event: 'start_processing', actor: 't', patch: () => ({ route: { rail: 'evm', idempotency_key: `${id}:settle`, attempts: [] } }) })
    return id
  }

  it('unused and still valid with no transaction of ours → not_found (stays processing; settling sends it once)', async () => {
    const s = await fx.sign(payers[8]!, 300n)
    const id = await processingIntent(s)
    const r = await reconcileIntent({ store }, { intentId: id, rail: fx.makeRail(store).rail, actor: 'system:reconciler' })
    expect(r.outcome).toMatchObject({ status: 'not_found' })
    expect(r.intent.status).toBe('processing')
    const settled = await settleIntent({ store }, { intentId: id, rail, credential: fx.credential(s), actor: 't' })
    expect(settled.intent.status).toBe('succeeded')
  })

  it('used by a transaction that is not ours → succeeded with that transaction (the money moved as authorised)', async () => {
    const s = await fx.sign(payers[9]!, 310n)
    const elsewhere = await fx.authorizedIntent(store, s)
    // Someone else (here: another gateway store) relays it.
    const other = await fx.openStore()
    const o = await fx.authorizedIntent(other, s)
    const relayed = await settleIntent({ store: other }, { intentId: o, rail: fx.makeRail(other).rail, credential: fx.credential(s), actor: 't' })
    await transitionIntent({ store }, { intentId: elsewhere, event: 'start_processing', actor: 't', patch: () => ({ route: { rail: 'evm', attempts: [] } }) })
    const r = await reconcileIntent({ store }, { intentId: elsewhere, rail: fx.makeRail(store).rail, actor: 'system:reconciler' })
    expect(r.intent).toMatchObject({ status: 'succeeded', settlement: { reference: relayed.intent.settlement!.reference } })
  })

  it('unused and expired on chain → declined authorization_expired', async () => {
    const head = await rpc<{ timestamp: Hex }>(fx.chain.rpcUrl, 'eth_getBlockByNumber', ['latest', false])
    const s = await fx.sign(payers[10]!, 320n, { validBefore: BigInt(head.timestamp) + 30n })
    const id = await processingIntent(s)
    await increaseTime(fx.chain.rpcUrl, 120)
    await mine(fx.chain.rpcUrl)
    const r = await reconcileIntent({ store }, { intentId: id, rail: fx.makeRail(store).rail, actor: 'system:reconciler' })
    expect(r.intent).toMatchObject({ status: 'failed', status_reason: 'authorization_expired' })
  })
})

describe('refunds', () => {
  it('a plain transfer from the payout wallet back to the payer, idempotent by refundKey', async () => {
    // The merchant's payTo is a funded dev wallet, whose key is its payout wallet.
    const shop = fx.chain.wallets[0]!
    const refunding = fx.makeRail(store, { payoutWallets: { m1: shop.privateKey } }).rail
    const payer = payers[11]!
    const s = await fx.sign(payer, 8_000n, { to: shop.address })
    const id = await fx.authorizedIntent(store, s)
    const { intent } = await settleIntent({ store }, { intentId: id, rail: refunding, credential: fx.credential(s, shop.address), actor: 't' })
    expect(intent.status).toBe('succeeded')
    const before = await fx.balance(payer.address)
    const amount = { value: '3000', asset: fx.chain.token.assetId }
    const r1 = await refunding.refund!({ intent, amount, refundKey: `${id}:refund:1` })
    expect(r1).toMatchObject({ status: 'succeeded' })
    expect(await fx.balance(payer.address)).toBe(before + 3_000n)
    const r2 = await fx.makeRail(store, { payoutWallets: { m1: shop.privateKey } }).rail.refund!({ intent, amount, refundKey: `${id}:refund:1` })
    expect(r2).toEqual({ ...r1, refundedAt: (r2 as { refundedAt: string }).refundedAt })
    expect(await fx.balance(payer.address)).toBe(before + 3_000n)
    const r3 = await refunding.refund!({ intent, amount: { value: '10000000000', asset: fx.chain.token.assetId }, refundKey: `${id}:refund:2` })
    expect(r3).toMatchObject({ status: 'declined', code: 'invalid_exact_evm_insufficient_balance' })
  })
})

// Cross-instance: two gateway instances (two Store objects, two rails) on one PostgreSQL schema.
// Skipped only when the PostgreSQL server is unreachable (core/testing/globalSetup.ts decides; CI requires it).
describe.skipIf(!inject('pgUrl'))('replay lock across gateway instances (PostgreSQL)', () => {
  it('the same authorisation on two instances at once: one settles, the other is declined, one transaction in total', async () => {
    const url = inject('pgUrl')
    const schema = await createTestSchema(url, 'evm')
    const a = openPostgresStore({ url, schema: schema.schema, poolSize: 4 })
    const b = openPostgresStore({ url, schema: schema.schema, poolSize: 4 })
    try {
      await a.migrate()
      await b.migrate()
      const railA = fx.makeRail(a).rail
      // The second instance uses its own relayer key (dev account 2 holds ETH).
      const railB = createEvmRail({
        chains: [{ chainId: fx.chain.chainId, rpcUrls: [fx.chain.rpcUrl], tokens: [fx.chain.token], relayerPrivateKey: fx.chain.wallets[1]!.privateKey, feeCaps: { maxFeePerGas: 200_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n }, pollingIntervalMs: 5 }],
        breakers: new BreakerRegistry(),
        logger: fx.logger,
        store: b,
      })
      const [payer] = await fx.newPayers(1, 10_000n)
      const s = await fx.sign(payer!, 2_500n)
      const idA = await fx.authorizedIntent(a, s)
      const idB = await fx.authorizedIntent(b, s)
      const before = await Promise.all([fx.txCount(fx.chain.relayer.address, 'pending'), fx.txCount(fx.chain.wallets[1]!.address, 'pending')])
      const [ra, rb] = await Promise.all([
        settleIntent({ store: a }, { intentId: idA, rail: railA, credential: fx.credential(s), actor: 'gw:a' }),
        settleIntent({ store: b }, { intentId: idB, rail: railB, credential: fx.credential(s), actor: 'gw:b' }),
      ])
      expect([ra.intent.status, rb.intent.status].sort()).toEqual(['failed', 'succeeded'])
      expect([ra, rb].find((r) => r.intent.status === 'failed')!.intent.status_reason).toBe(Eip3009Reason.nonceAlreadyUsed)
      const after = await Promise.all([fx.txCount(fx.chain.relayer.address, 'pending'), fx.txCount(fx.chain.wallets[1]!.address, 'pending')])
      expect(after[0]! - before[0]! + (after[1]! - before[1]!)).toBe(1)
      expect(await fx.balance(payer!.address)).toBe(10_000n - 2_500n)
      // The lock is visible from either instance until validBefore.
      const key = eip3009ReplayKey(fx.chain.chainId, fx.chain.token.address, payer!.address, s.authorization.nonce)
      expect(await b.acquireReplayLock({ namespace: EIP3009_REPLAY_NAMESPACE, key, holder: 'someone-else', expiresAt: new Date(Date.now() + 60_000), now: new Date() })).toBe(false)
      railB.close()
    } finally {
      await a.close()
      await b.close()
      await schema.drop()
    }
  })
})
