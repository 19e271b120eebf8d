/**
 * Shared set-up of the x402 tests (not a test file): a real anvil with our token, a real gateway
 * (SQLite, real HTTP) with the EVM rail and the x402 mount, a small upstream that counts its calls,
 * and helpers to sign and encode payments the way clients do.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getAddress, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { fundWallets, localChainInfo, rpc, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { signAuthorization, type SignAuthorizationParams } from '../../../sandbox/chain/payer.js'
import type { EvmChainConfig, EvmRail } from '../../rails/evm/index.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { encodeHeaderJson } from './encoding.js'
import { x402Mount, type X402Options } from './mount.js'
import type { PricedRouteConfig } from './pricedRoutes/types.js'
import type { X402ResourceServer } from './resourceServer.js'
import type { PaymentRequiredV2, PaymentRequirementsV2 } from './v2/wire.js'

/** A local upstream: `/weather` (JSON), `/fail` (500), `/bad` (400), `/slow` (waits), counting calls. */
export interface TestUpstream {
  url: string
  calls: Array<{ method: string; path: string; headers: IncomingMessage['headers']; body: string }>
  /** The next N calls of any path answer 503. */
  failNext: number
  close(): Promise<void>
}

export async function startUpstream(): Promise<TestUpstream> {
  const calls: TestUpstream['calls'] = []
  const state = { failNext: 0 }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      calls.push({ method: req.method ?? 'GET', path: url.pathname + url.search, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      if (state.failNext > 0) {
        state.failNext--
        res.writeHead(503, { 'content-type': 'application/json' })
        return res.end('{"error":"try later"}')
      }
      if (url.pathname.startsWith('/fail')) {
        res.writeHead(500, { 'content-type': 'application/json' })
        return res.end('{"error":"upstream broke"}')
      }
      if (url.pathname.startsWith('/bad')) {
        res.writeHead(400, { 'content-type': 'application/json' })
        return res.end('{"error":"bad city"}')
      }
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60', 'x-upstream': 'yes' })
        res.end(JSON.stringify({ city: url.searchParams.get('city') ?? 'Berlin', temperatureC: 21, path: url.pathname, echo: Buffer.concat(chunks).toString('utf8') || undefined }))
      }
      if (url.pathname.startsWith('/slow')) setTimeout(answer, Number(url.searchParams.get('ms') ?? 3000))
      else answer()
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise((r) => server.once('listening', r))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    get failNext() {
      return state.failNext
    },
    set failNext(n: number) {
      state.failNext = n
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export interface X402Fixture {
  chain: LocalChain
  gw: TestGateway
  upstream: TestUpstream
  rail: EvmRail
  resourceServer: X402ResourceServer
  /** The merchant's receiving address (a fresh key). */
  payTo: Address
  /** Fresh payers holding `balance` token units each. */
  newPayers(n: number, balance?: bigint): Promise<Array<{ address: Address; privateKey: Hex }>>
  balance(address: Address): Promise<bigint>
  /** The decoded `PAYMENT-REQUIRED` of an unpaid call to `path`. */
  paymentRequired(path: string, init?: RequestInit): Promise<PaymentRequiredV2>
  /** A v2 `PAYMENT-SIGNATURE` for `accepted` (signature overrides for negative cases). */
  signV2(payer: { privateKey: Hex }, accepted: PaymentRequirementsV2, overrides?: Partial<SignAuthorizationParams> & { extensions?: Record<string, unknown>; signer?: Hex }): Promise<string>
  close(): Promise<void>
}

/** A route on the fixture's token and upstream, with overrides. */
export function route(fx: Pick<X402Fixture, 'chain' | 'upstream' | 'payTo'>, overrides: Partial<PricedRouteConfig> & { upstreamPath?: string } = {}): PricedRouteConfig {
  const { upstreamPath, ...rest } = overrides
  return {
    path: '/paid/weather',
    merchantId: 'm1',
    price: { amount: '10000', asset: fx.chain.token.assetId },
    payTo: fx.payTo,
    description: 'Weather now',
    upstream: { url: `${fx.upstream.url}${upstreamPath ?? '/weather'}`, timeoutMs: 2_000 },
    ...rest,
  }
}

export async function startX402Fixture(options: {
  chainId?: number | undefined
  routes?: (fx: Pick<X402Fixture, 'chain' | 'upstream' | 'payTo'>) => PricedRouteConfig[]
  x402?: Omit<X402Options, 'routes'> | undefined
  rail?: Partial<EvmChainConfig> | undefined
  /** Merged into the gateway's raw config (e.g. `risk`, `approvals`). */
  configPatch?: Record<string, unknown> | undefined
}): Promise<X402Fixture> {
  const chain = await startLocalChain({ wallets: 0, ...(options.chainId ? { chainId: options.chainId } : {}) })
  const upstream = await startUpstream()
  const payTo = privateKeyToAccount(generatePrivateKey()).address
  const info = localChainInfo(chain)
  let rail: EvmRail | undefined
  let resourceServer: X402ResourceServer | undefined
  const base = { chain, upstream, payTo }
  const gw = await startTestGateway({
    configPatch: { assets: [localChainAsset(info)], idempotency: { leaseMs: 30_000 }, ...options.configPatch },
    gatewayOptions: {
      rails: [registerEvmRail({ chains: [localChainRailConfig(info, { pollingIntervalMs: 5, receiptTimeoutMs: 5_000, ...options.rail })] }, { onCreated: (r) => (rail = r) })],
      mounts: [
        x402Mount({
          routes: options.routes ? options.routes(base) : [route(base)],
          facilitator: {},
          pendingWaitMs: 3_000,
          ...options.x402,
          onMounted: (parts) => (resourceServer = parts.resourceServer),
        }),
      ],
    },
  })
  return {
    ...base,
    gw,
    rail: rail!,
    resourceServer: resourceServer!,
    async newPayers(n, balance = 1_000_000n) {
      const payers = Array.from({ length: n }, () => {
        const privateKey = generatePrivateKey()
        return { address: privateKeyToAccount(privateKey).address, privateKey }
      })
      await fundWallets({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, token: chain.token.address, minterPrivateKey: chain.deployer.privateKey, wallets: payers.map((p) => p.address), amount: balance })
      return payers
    },
    balance: (address) => tokenBalance(chain.rpcUrl, chain.token.address, address),
    async paymentRequired(path, init) {
      const res = await fetch(`${gw.url}${path}`, init)
      if (res.status !== 402) throw new Error(`expected 402 from ${path}, got ${res.status}`)
      await res.arrayBuffer()
      return JSON.parse(Buffer.from(res.headers.get('payment-required')!, 'base64').toString('utf8')) as PaymentRequiredV2
    },
    async signV2(payer, accepted, overrides = {}) {
      const { extensions, signer, ...o } = overrides
      const s = await signAuthorization({
        privateKey: signer ?? payer.privateKey,
        chainId: chain.chainId,
        token: { address: accepted.asset, name: String(accepted.extra['name']), version: String(accepted.extra['version']) },
        to: accepted.payTo,
        value: BigInt(accepted.amount),
        ...o,
      })
      if (signer) s.authorization.from = getAddress(privateKeyToAccount(payer.privateKey).address)
      return encodeHeaderJson({ x402Version: 2, accepted, payload: { signature: s.signature, authorization: s.authorization }, ...(extensions ? { extensions } : {}) })
    },
    async close() {
      rail?.close()
      await gw.close()
      await upstream.close()
      await chain.stop()
    },
  }
}

/** Decode a base64 JSON header. */
export function decodeHeader<T = Record<string, unknown>>(value: string | null): T {
  if (!value) throw new Error('header missing')
  return JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as T
}

/** The token's `authorizationState(from, nonce)`. */
export async function authorizationUsed(chain: LocalChain, from: Address, nonce: Hex): Promise<boolean> {
  const data = `0xe94a0102${from.slice(2).toLowerCase().padStart(64, '0')}${nonce.slice(2)}` as Hex
  return BigInt(await rpc<Hex>(chain.rpcUrl, 'eth_call', [{ to: chain.token.address, data }, 'latest'])) === 1n
}
