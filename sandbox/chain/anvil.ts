/**
 * The local EVM chain of the sandbox: anvil from the `@foundry-rs/anvil-linux-amd64` npm package on a
 * loopback port, our own EIP-3009 token (`contracts/AgentswitchUSD.sol`, committed artifact)
 * deployed and funded. Used in-process by tests and as a child process by dev mode
 * (`sandbox/chain/main.ts`, which prints `CHAIN_READY <json>`).
 *
 * Private keys returned here are anvil's well-known dev mnemonic keys or test keys: dev only.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { pbkdf2Sync } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import {
  createPublicClient,
  createWalletClient,
  getAddress,
  http,
  type Abi,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem'
import { HDKey, hdKeyToAccount, privateKeyToAccount } from 'viem/accounts'
import type { TokenArtifact } from './compile.js'

const here = dirname(fileURLToPath(import.meta.url))

/** anvil's default dev mnemonic (publicly known: never use its keys anywhere real). */
export const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk'

/** The committed token artifact (ABI + bytecode), read once. */
export function loadTokenArtifact(): TokenArtifact {
  return JSON.parse(readFileSync(join(here, 'artifacts', 'AgentswitchUSD.json'), 'utf8')) as TokenArtifact
}

/** The token's ABI, typed loosely (the rail uses its own minimal EIP-3009 ABI). */
export const tokenAbi = (): Abi => loadTokenArtifact().abi as Abi

// --- anvil process ---------------------------------------------------------------------------------

export interface StartAnvilOptions {
  /** Default 31337. */
  chainId?: number | undefined
  /** Default 0: a random free loopback port chosen by anvil. */
  port?: number | undefined
  /** Default 127.0.0.1. */
  host?: string | undefined
  /** Seconds between blocks (interval mining); default: automine (a block per transaction). */
  blockTime?: number | undefined
  /** Dev account mnemonic; default {@link ANVIL_DEV_MNEMONIC}. */
  mnemonic?: string | undefined
  /** Dev accounts to create (default 10), each with `balanceEth` ETH (default 10000). */
  accounts?: number | undefined
  balanceEth?: number | undefined
  /** How long to wait for the RPC to answer (default 15 s). */
  readyTimeoutMs?: number | undefined
  /** Extra anvil arguments. */
  extraArgs?: readonly string[] | undefined
}

export interface AnvilInstance {
  rpcUrl: string
  chainId: number
  port: number
  process: ChildProcess
  /** SIGTERM, then SIGKILL after 2 s; resolves when the process has exited. Idempotent. */
  stop(): Promise<void>
}

/**
 * The anvil binary: `ANVIL_BIN` if set, else the binary of the platform package
 * `@foundry-rs/anvil-<os>-<arch>` (we depend on the linux-amd64 one directly: the registry these
 * machines reach serves only that platform, and `npm ci` refuses a lockfile that lists platform
 * packages it cannot fetch — which the `@foundry-rs/anvil` wrapper's optional dependencies do).
 */
export function resolveAnvilBinary(): string {
  const fromEnv = process.env['ANVIL_BIN']
  if (fromEnv) return fromEnv
  const require = createRequire(import.meta.url)
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const os = process.platform === 'win32' ? 'win32' : process.platform
  const name = `@foundry-rs/anvil-${os}-${arch}`
  try {
    const bin = join(dirname(require.resolve(`${name}/package.json`)), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil')
    if (existsSync(bin)) return bin
  } catch {
    // reported below
  }
  throw new Error(`no anvil binary: install ${name} (npm install --no-save ${name}@1.7.1) or set ANVIL_BIN to an anvil executable`)
}

/**
 * Start anvil and wait until its RPC answers `eth_chainId`. The child is killed when this process
 * exits. Measured ready time: ~100 ms.
 *
 * @example const anvil = await startAnvil({ chainId: 84532 }); …; await anvil.stop()
 */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilInstance> {
  const chainId = options.chainId ?? 31337
  const host = options.host ?? '127.0.0.1'
  const args = [
    '--host', host,
    '--port', String(options.port ?? 0),
    '--chain-id', String(chainId),
    '--accounts', String(options.accounts ?? 10),
    '--balance', String(options.balanceEth ?? 10_000),
    '--mnemonic', options.mnemonic ?? ANVIL_DEV_MNEMONIC,
  ]
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime))
  if (options.extraArgs) args.push(...options.extraArgs)

  const child = spawn(resolveAnvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)
  const tail: string[] = []
  const remember = (line: string): void => {
    tail.push(line)
    if (tail.length > 30) tail.shift()
  }

  let port: number
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`anvil did not start within ${options.readyTimeoutMs ?? 15_000} ms:\n${tail.join('\n')}`)), options.readyTimeoutMs ?? 15_000)
      const onLine = (line: string): void => {
        remember(line)
        const m = /Listening on [^\s:]+:(\d+)/.exec(line) ?? /Listening on \[[^\]]+\]:(\d+)/.exec(line)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      }
      // Keep draining both pipes for the process's whole life: anvil logs every transaction.
      createInterface({ input: child.stdout! }).on('line', onLine)
      createInterface({ input: child.stderr! }).on('line', onLine)
      child.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new Error(`anvil exited (${code ?? signal}) before it was ready:\n${tail.join('\n')}`))
      })
    })
  } catch (err) {
    killOnExit()
    process.removeListener('exit', killOnExit)
    throw err
  }

  const rpcHost = host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  const rpcUrl = `http://${rpcHost}:${port}`
  const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000)
  for (;;) {
    try {
      const id = await rpc<Hex>(rpcUrl, 'eth_chainId', [])
      if (Number(id) !== chainId) throw new Error(`anvil answered chain id ${Number(id)}, expected ${chainId}`)
      break
    } catch (err) {
      if (Date.now() > deadline) {
        killOnExit()
        throw err
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  let stopping: Promise<void> | undefined
  return {
    rpcUrl,
    chainId,
    port,
    process: child,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        process.removeListener('exit', killOnExit)
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const kill = setTimeout(() => child.kill('SIGKILL'), 2000)
        child.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        child.kill('SIGTERM')
      })
      return stopping
    },
  }
}

// --- raw JSON-RPC and mining control -----------------------------------------------------------------

let rpcId = 0

/** One JSON-RPC call over fetch (for anvil's test methods; the rail uses viem). */
export async function rpc<T = unknown>(rpcUrl: string, method: string, params: unknown[] = []): Promise<T> {
  const res = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  })
  const body = (await res.json()) as { result?: T; error?: { code: number; message: string } }
  if (body.error) throw new Error(`${method} failed: ${body.error.message} (${body.error.code})`)
  return body.result as T
}

/** Turn automine on or off (`evm_setAutomine`). Off: transactions wait in the pool until {@link mine}. */
export async function setAutomine(rpcUrl: string, enabled: boolean): Promise<void> {
  await rpc(rpcUrl, 'evm_setAutomine', [enabled])
}

/** Mine `blocks` blocks now (`anvil_mine`), including pending transactions. */
export async function mine(rpcUrl: string, blocks = 1): Promise<void> {
  await rpc(rpcUrl, 'anvil_mine', [`0x${blocks.toString(16)}`])
}

/** Mine a block every `seconds` (`evm_setIntervalMining`; 0 turns interval mining off). */
export async function setIntervalMining(rpcUrl: string, seconds: number): Promise<void> {
  await rpc(rpcUrl, 'evm_setIntervalMining', [seconds])
}

/** Pause block production: automine off and no interval mining. Pending transactions stay in the pool. */
export async function pauseMining(rpcUrl: string): Promise<void> {
  await setIntervalMining(rpcUrl, 0)
  await setAutomine(rpcUrl, false)
}

/** Resume automine and mine what is pending. */
export async function resumeMining(rpcUrl: string): Promise<void> {
  await setAutomine(rpcUrl, true)
  await mine(rpcUrl, 1)
}

/** Transactions waiting in the pool (`txpool_status`). */
export async function pendingTransactionCount(rpcUrl: string): Promise<number> {
  const s = await rpc<{ pending: Hex; queued: Hex }>(rpcUrl, 'txpool_status', [])
  return Number(s.pending) + Number(s.queued)
}

/** Move chain time forward by `seconds` (`evm_increaseTime`); takes effect on the next block. */
export async function increaseTime(rpcUrl: string, seconds: number): Promise<void> {
  await rpc(rpcUrl, 'evm_increaseTime', [seconds])
}

/** Set an account's ETH balance (`anvil_setBalance`). */
export async function setEthBalance(rpcUrl: string, address: Address, wei: bigint): Promise<void> {
  await rpc(rpcUrl, 'anvil_setBalance', [address, `0x${wei.toString(16)}`])
}

// --- token deployment and funding ---------------------------------------------------------------------

/** What callers need to know about the deployed token (the EIP-712 domain and the asset id). */
export interface DeployedToken {
  address: Address
  name: string
  version: string
  symbol: string
  decimals: number
  /** CAIP-19 id, lower-case address: `eip155:<chainId>/erc20:0x…`. */
  assetId: string
}

function clients(rpcUrl: string, chainId: number, privateKey: Hex): { pub: PublicClient; wallet: ReturnType<typeof createWalletClient> } {
  const chain = {
    id: chainId,
    name: `local-${chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  } as const
  const transport = http(rpcUrl, { retryCount: 0 })
  return {
    pub: createPublicClient({ chain, transport, pollingInterval: 10 }),
    wallet: createWalletClient({ chain, transport, account: privateKeyToAccount(privateKey), pollingInterval: 10 }),
  }
}

/**
 * Deploy AgentswitchUSD from `deployerPrivateKey` (who becomes the minter) and wait for it.
 */
export async function deployToken(params: { rpcUrl: string; chainId: number; deployerPrivateKey: Hex }): Promise<DeployedToken> {
  const artifact = loadTokenArtifact()
  const { pub, wallet } = clients(params.rpcUrl, params.chainId, params.deployerPrivateKey)
  const hash = await wallet.deployContract({ abi: artifact.abi as Abi, bytecode: artifact.bytecode, account: wallet.account!, chain: wallet.chain })
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 10, timeout: 30_000 })
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`token deployment failed (${hash})`)
  const address = getAddress(receipt.contractAddress)
  return {
    address,
    name: 'Agentswitch USD',
    version: '2',
    symbol: 'asUSD',
    decimals: 6,
    assetId: `eip155:${params.chainId}/erc20:${address.toLowerCase()}`,
  }
}

/**
 * Mint `amount` token units to every wallet in one `mintBatch` transaction (the minter's key),
 * and optionally set their ETH balance (`ethWei`, anvil only). Payers of EIP-3009 need no ETH.
 */
export async function fundWallets(params: {
  rpcUrl: string
  chainId: number
  token: Address
  minterPrivateKey: Hex
  wallets: readonly Address[]
  amount: bigint
  ethWei?: bigint | undefined
}): Promise<void> {
  const { pub, wallet } = clients(params.rpcUrl, params.chainId, params.minterPrivateKey)
  const abi = loadTokenArtifact().abi as Abi
  // Chunks keep each transaction well under the block gas limit.
  for (let i = 0; i < params.wallets.length; i += 300) {
    const chunk = params.wallets.slice(i, i + 300)
    const hash = await wallet.writeContract({
      address: params.token,
      abi,
      functionName: 'mintBatch',
      args: [chunk, chunk.map(() => params.amount)],
      account: wallet.account!,
      chain: wallet.chain,
    })
    const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 10, timeout: 30_000 })
    if (receipt.status !== 'success') throw new Error(`mintBatch failed (${hash})`)
  }
  if (params.ethWei !== undefined) for (const w of params.wallets) await setEthBalance(params.rpcUrl, w, params.ethWei)
}

/** Read a token balance (test and dev helper). */
export async function tokenBalance(rpcUrl: string, token: Address, owner: Address): Promise<bigint> {
  const data = `0x70a08231${owner.slice(2).toLowerCase().padStart(64, '0')}` as Hex
  return BigInt(await rpc<Hex>(rpcUrl, 'eth_call', [{ to: token, data }, 'latest']))
}

// --- everything at once --------------------------------------------------------------------------------

export interface DevWallet {
  address: Address
  /** Dev only: derived from the public anvil mnemonic. */
  privateKey: Hex
}

export interface StartLocalChainOptions extends StartAnvilOptions {
  /** Funded payer wallets to create (default 5), from dev accounts 2, 3, … */
  wallets?: number | undefined
  /** Token units minted to each wallet (default 1000 asUSD = 1_000_000_000). */
  walletBalance?: bigint | undefined
}

/** A running local chain with the token deployed and wallets funded. */
export interface LocalChain {
  rpcUrl: string
  chainId: number
  /** CAIP-2: `eip155:<chainId>`. */
  network: string
  token: DeployedToken
  /** Dev account 0: deployed the token and is its minter. */
  deployer: DevWallet
  /** Dev account 1: holds ETH, sends settlements (the EVM rail's relayer key in dev mode). */
  relayer: DevWallet
  /** Funded payer wallets (token balance, ETH from anvil). */
  wallets: DevWallet[]
  anvil: AnvilInstance
  stop(): Promise<void>
}

/** The JSON dev mode records (`CHAIN_READY <json>` and `data/dev.json` → `rails.evm`). */
export interface LocalChainInfo {
  rpcUrl: string
  chainId: number
  network: string
  token: DeployedToken
  deployer: DevWallet
  relayer: DevWallet
  wallets: DevWallet[]
}

const masterKeys = new Map<string, HDKey>()

/** Dev account `index` of `mnemonic` (anvil's derivation path m/44'/60'/0'/0/index). */
export function devAccount(index: number, mnemonic = ANVIL_DEV_MNEMONIC): DevWallet {
  let master = masterKeys.get(mnemonic)
  if (!master) {
    // BIP-39 seed (PBKDF2-HMAC-SHA512, 2048 rounds), computed once per mnemonic: ~100 ms each time otherwise.
    master = HDKey.fromMasterSeed(pbkdf2Sync(Buffer.from(mnemonic.normalize('NFKD')), Buffer.from('mnemonic'), 2048, 64, 'sha512'))
    masterKeys.set(mnemonic, master)
  }
  const account = hdKeyToAccount(master, { addressIndex: index })
  const pk = account.getHdKey().privateKey
  if (!pk) throw new Error('no private key')
  return { address: account.address, privateKey: `0x${Buffer.from(pk).toString('hex')}` }
}

/**
 * Start anvil, deploy the token from dev account 0, and mint to the payer wallets (dev accounts
 * 2…). Dev account 1 is the relayer. About 300 ms.
 *
 * @example
 * const chain = await startLocalChain()
 * // chain.rpcUrl, chain.token.address, chain.wallets[0].privateKey …
 * await chain.stop()
 */
export async function startLocalChain(options: StartLocalChainOptions = {}): Promise<LocalChain> {
  const walletCount = options.wallets ?? 5
  const mnemonic = options.mnemonic ?? ANVIL_DEV_MNEMONIC
  const anvil = await startAnvil({ ...options, mnemonic, accounts: Math.max(options.accounts ?? 10, walletCount + 2) })
  try {
    const deployer = devAccount(0, mnemonic)
    const relayer = devAccount(1, mnemonic)
    const wallets = Array.from({ length: walletCount }, (_, i) => devAccount(i + 2, mnemonic))
    const token = await deployToken({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, deployerPrivateKey: deployer.privateKey })
    if (wallets.length > 0) {
      await fundWallets({
        rpcUrl: anvil.rpcUrl,
        chainId: anvil.chainId,
        token: token.address,
        minterPrivateKey: deployer.privateKey,
        wallets: wallets.map((w) => w.address),
        amount: options.walletBalance ?? 1_000_000_000n,
      })
    }
    return { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, network: `eip155:${anvil.chainId}`, token, deployer, relayer, wallets, anvil, stop: () => anvil.stop() }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}

/** The serialisable part of a {@link LocalChain}. */
export function localChainInfo(chain: LocalChain): LocalChainInfo {
  const { rpcUrl, chainId, network, token, deployer, relayer, wallets } = chain
  return { rpcUrl, chainId, network, token, deployer, relayer, wallets }
}
