/**
 * Shared set-up of the EVM rail tests: a real anvil with our token, a real SQLite store in a temp
 * dir, a real breaker registry, and helpers to sign authorisations and create authorized intents.
 * Not a test file; imported by `*.test.ts` beside it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Address, Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { createAssetRegistry, type AssetRegistry } from '../../../core/money/assets.js'
import { submitIntent } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import type { Store } from '../../../core/store/port.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import { fundWallets, rpc, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { signAuthorization, type SignAuthorizationParams, type SignedAuthorization } from '../../../sandbox/chain/payer.js'
import { createLogger } from '../../http/logger.js'
import { BreakerRegistry, type BreakerOptions } from '../shared/breakers.js'
import type { Logger } from 'pino'
import { createEvmRail, eip3009IntentFields, type EvmChainConfig, type EvmRail, type Eip3009Credential } from './evmRail.js'

export interface RailFixture {
  chain: LocalChain
  assets: AssetRegistry
  /** The merchant's receiving address (a fresh key). */
  merchant: Address
  logs: string[]
  logger: Logger
  dir: string
  /** A SQLite store in `dir` (a new file per call). */
  openStore(name?: string): Promise<Store>
  /** A rail on this chain with the dev relayer (overrides merged into the chain config). */
  makeRail(store: Store, overrides?: Partial<EvmChainConfig>, extra?: { breakers?: BreakerRegistry; breakerOptions?: BreakerOptions }): { rail: EvmRail; breakers: BreakerRegistry }
  /** Fresh payers holding `balance` token units each (one mintBatch transaction). */
  newPayers(n: number, balance?: bigint): Promise<Array<{ address: Address; privateKey: Hex }>>
  sign(payer: { privateKey: Hex }, value: bigint, overrides?: Partial<SignAuthorizationParams>): Promise<SignedAuthorization>
  credential(s: SignedAuthorization, payTo?: string): Eip3009Credential
  /** Submit an x402-style intent for `s` (with the facts reconciliation reads) and authorize it. */
  authorizedIntent(store: Store, s: SignedAuthorization, value?: bigint): Promise<string>
  balance(address: Address): Promise<bigint>
  txCount(address: Address, tag?: 'latest' | 'pending'): Promise<number>
  close(): Promise<void>
}

export async function startRailFixture(options: { wallets?: number } = {}): Promise<RailFixture> {
  const chain = await startLocalChain({ wallets: options.wallets ?? 2 })
  const dir = mkdtempSync(join(tmpdir(), 'agentswitch-evm-'))
  const assets = createAssetRegistry([
    { id: chain.token.assetId, kind: 'token', decimals: 6, symbol: 'asUSD', network: chain.network, address: chain.token.address.toLowerCase() },
  ])
  const merchant = privateKeyToAccount(generatePrivateKey()).address
  const logs: string[] = []
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean))
        cb()
      },
    }),
  })
  const stores: Store[] = []
  const rails: EvmRail[] = []
  const registries: BreakerRegistry[] = []
  let storeSeq = 0

  const fixture: RailFixture = {
    chain,
    assets,
    merchant,
    logs,
    logger,
    dir,
    async openStore(name) {
      const store = openSqliteStore({ path: join(dir, name ?? `s${++storeSeq}.db`) })
      await store.migrate()
      stores.push(store)
      return store
    },
    makeRail(store, overrides = {}, extra = {}) {
      const breakers = extra.breakers ?? new BreakerRegistry()
      if (!extra.breakers) registries.push(breakers)
      const rail = createEvmRail({
        chains: [
          {
            chainId: chain.chainId,
            rpcUrls: [chain.rpcUrl],
            tokens: [{ address: chain.token.address, name: chain.token.name, version: chain.token.version, decimals: 6, assetId: chain.token.assetId }],
            relayerPrivateKey: chain.relayer.privateKey,
            feeCaps: { maxFeePerGas: 200_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n },
            receiptTimeoutMs: 10_000,
            pollingIntervalMs: 5,
            ...overrides,
          },
        ],
        breakers,
        breakerOptions: extra.breakerOptions,
        logger,
        store,
      })
      rails.push(rail)
      return { rail, breakers }
    },
    async newPayers(n, balance = 1_000_000n) {
      const payers = Array.from({ length: n }, () => {
        const privateKey = generatePrivateKey()
        return { address: privateKeyToAccount(privateKey).address, privateKey }
      })
      await fundWallets({
        rpcUrl: chain.rpcUrl,
        chainId: chain.chainId,
        token: chain.token.address,
        minterPrivateKey: chain.deployer.privateKey,
        wallets: payers.map((p) => p.address),
        amount: balance,
      })
      return payers
    },
    sign(payer, value, overrides = {}) {
      return signAuthorization({ privateKey: payer.privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value, ...overrides })
    },
    credential(s, payTo = merchant) {
      return { authorization: s.authorization, signature: s.signature, payTo }
    },
    async authorizedIntent(store, s, value) {
      const f = eip3009IntentFields({ authorization: s.authorization, payTo: merchant }, chain.network)
      const { intent } = await submitIntent(
        { store, assets },
        {
          merchantId: 'm1',
          actor: 'agent:a1',
          origin: { protocol: 'x402', version: '2', ref: `test-${s.authorization.nonce.slice(2, 14)}-${Math.random().toString(36).slice(2)}` },
          payer: { agent_id: 'a1', ...f.payer },
          amount: { value: (value ?? BigInt(s.authorization.value)).toString(), asset: chain.token.assetId },
          instrument: f.instrument,
          authorization: { type: 'x402.signature', constraints: f.constraints },
        },
      )
      await transitionIntent({ store }, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
      return intent.id
    },
    balance: (address) => tokenBalance(chain.rpcUrl, chain.token.address, address),
    async txCount(address, tag = 'latest') {
      return Number(await rpc<Hex>(chain.rpcUrl, 'eth_getTransactionCount', [address, tag]))
    },
    async close() {
      for (const r of rails) r.close()
      for (const b of registries) b.shutdown()
      for (const s of stores) await s.close().catch(() => {})
      await chain.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return fixture
}

/**
 * A JSON-RPC proxy in front of anvil that counts requests and can misbehave: `dropResponse`
 * forwards a method's request to the node but never answers (the request reached the node; the
 * caller cannot know), `hang` never forwards nor answers.
 */
export async function startRpcProxy(target: string): Promise<{
  url: string
  /** HTTP requests and JSON-RPC calls seen, by method. */
  stats: { http: number; calls: Record<string, number> }
  dropResponse: Set<string>
  close(): Promise<void>
}> {
  const stats = { http: 0, calls: {} as Record<string, number> }
  const dropResponse = new Set<string>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      stats.http++
      const body = Buffer.concat(chunks).toString('utf8')
      const parsed = JSON.parse(body) as { method: string } | Array<{ method: string }>
      const methods = (Array.isArray(parsed) ? parsed : [parsed]).map((m) => m.method)
      for (const m of methods) stats.calls[m] = (stats.calls[m] ?? 0) + 1
      void fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(async (r) => {
        const text = await r.text()
        if (methods.some((m) => dropResponse.has(m))) return // reached the node; the answer is lost
        res.writeHead(r.status, { 'content-type': 'application/json' })
        res.end(text)
      })
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    dropResponse,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A loopback port nothing listens on (connection refused). */
export async function closedPort(): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await new Promise((r) => s.once('listening', r))
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}
