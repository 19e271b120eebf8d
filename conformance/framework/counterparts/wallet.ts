import { createPublicClient, createTestClient, erc20Abi, http, keccak256, parseAbi, stringToHex, type Address, type Hex, type PublicClient } from 'viem'
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts'

/** A payer wallet derived from the run's seed: the same seed and index give the same address. */
export interface TestWallet {
  readonly index: number
  readonly address: Address
  /** A viem local account: signs typed data (EIP-3009, Permit2) with no RPC. */
  readonly account: PrivateKeyAccount
  /** The private key (registered with the run's redactor; never printed). */
  readonly privateKey: Hex
}

/** The EIP-712 domain of an EIP-3009 token. */
export interface Eip3009Domain {
  name: string
  version: string
  chainId: number
  verifyingContract: Address
}

/** An EIP-3009 `TransferWithAuthorization` message. */
export interface TransferAuthorization {
  from: Address
  to: Address
  value: bigint
  validAfter: bigint
  validBefore: bigint
  nonce: Hex
}

/**
 * Derive wallet `index` from `seed`: private key = keccak256(`agentswitch-conformance/wallet/<seed>/<index>`).
 *
 * @example
 * const payer = deriveWallet('agentswitch-conformance', 0)
 * payer.address // the same on every machine
 */
export function deriveWallet(seed: string, index = 0): TestWallet {
  const privateKey = keccak256(stringToHex(`agentswitch-conformance/wallet/${seed}/${index}`))
  const account = privateKeyToAccount(privateKey)
  return { index, address: account.address, account, privateKey }
}

/** A wallet from a private key, shaped as a counterpart wallet (its key is registered for redaction). */
export function walletFromKey(ctx: { counterparts: { redactor: { addSecret(s: string | undefined): void } } }, privateKey: Hex): TestWallet {
  ctx.counterparts.redactor.addSecret(privateKey)
  ctx.counterparts.redactor.addSecret(privateKey.slice(2))
  const account = privateKeyToAccount(privateKey)
  return { index: -1, address: account.address, account, privateKey }
}

/**
 * The payer a suite signs with: `<suite>.payerPrivateKey`, else the last dev.json wallet, else the
 * seed's wallet 0; the choice is noted in the report (the key never is).
 */
export function payerOf(
  ctx: {
    counterparts: { redactor: { addSecret(s: string | undefined): void }; seed: string; wallet(index: number): TestWallet }
    options: { get(key: string): string | undefined }
    note(message: string): void
  },
  suite: string,
  devJson: { rails?: { evm?: { wallets?: Array<{ privateKey?: unknown }> } } } | undefined,
): TestWallet {
  const keyOption = ctx.options.get('payerPrivateKey')
  const devKey = devJson?.rails?.evm?.wallets?.at(-1)?.privateKey
  const payerKey = keyOption ?? (typeof devKey === 'string' ? devKey : undefined)
  const payer = payerKey && /^0x[0-9a-fA-F]{64}$/.test(payerKey) ? walletFromKey(ctx, payerKey as Hex) : ctx.counterparts.wallet(0)
  ctx.note(`payer ${payer.address} (${keyOption ? `${suite}.payerPrivateKey` : payerKey ? 'the last dev.json wallet' : `wallet 0 of seed ${ctx.counterparts.seed}`})`)
  return payer
}

/** A 32-byte EIP-3009 nonce derived from a label (use `ctx.unique(…)` so runs never collide). */
export function nonceFor(label: string): Hex {
  return keccak256(stringToHex(`agentswitch-conformance/nonce/${label}`))
}

/** Sign an EIP-3009 `transferWithAuthorization` (offline: no RPC). Returns the 65-byte signature. */
export function signTransferAuthorization(wallet: TestWallet, domain: Eip3009Domain, message: TransferAuthorization): Promise<Hex> {
  return wallet.account.signTypedData({
    domain,
    primaryType: 'TransferWithAuthorization',
    types: {
      TransferWithAuthorization: [
        { name: 'from', type: 'address' },
        { name: 'to', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'validAfter', type: 'uint256' },
        { name: 'validBefore', type: 'uint256' },
        { name: 'nonce', type: 'bytes32' },
      ],
    },
    message,
  })
}

const EIP3009_ABI = parseAbi([
  'function authorizationState(address authorizer, bytes32 nonce) view returns (bool)',
  'function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)',
  'function version() view returns (string)',
])

/** Chain helpers for `--rpc-url`: read what a settlement changed, fund test wallets on a dev chain. */
export interface ChainHelpers {
  readonly rpcUrl: string
  readonly client: PublicClient
  chainId(): Promise<number>
  /** Native balance, in wei. */
  balance(address: Address): Promise<bigint>
  /** ERC-20 balance, in base units. */
  tokenBalance(token: Address, owner: Address): Promise<bigint>
  /** The token's EIP-712 domain (`eip712Domain()`, else `name()` + `version()`), for EIP-3009 signing. */
  tokenDomain(token: Address): Promise<Eip3009Domain>
  /** EIP-3009 `authorizationState`: whether the nonce was used. */
  authorizationUsed(token: Address, authorizer: Address, nonce: Hex): Promise<boolean>
  /** Set a native balance on a dev chain (anvil / hardhat); fails with a clear message elsewhere. */
  setBalance(address: Address, wei: bigint): Promise<void>
  waitForReceipt(hash: Hex, timeoutMs?: number): Promise<{ status: 'success' | 'reverted'; blockNumber: bigint }>
}

/** Helpers for the chain at `rpcUrl` (viem over HTTP; short polling so local chains are quick). */
export function createChainHelpers(rpcUrl: string): ChainHelpers {
  const client = createPublicClient({ transport: http(rpcUrl, { retryCount: 0, timeout: 10_000 }), pollingInterval: 50 })
  const chainId = async (): Promise<number> => client.getChainId()
  return {
    rpcUrl,
    client,
    chainId,
    balance: (address) => client.getBalance({ address }),
    tokenBalance: (token, owner) => client.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [owner] }),
    async tokenDomain(token) {
      try {
        const [, name, version, id, verifyingContract] = await client.readContract({ address: token, abi: EIP3009_ABI, functionName: 'eip712Domain' })
        return { name, version, chainId: Number(id), verifyingContract }
      } catch {
        const [name, version, id] = await Promise.all([
          client.readContract({ address: token, abi: erc20Abi, functionName: 'name' }),
          client.readContract({ address: token, abi: EIP3009_ABI, functionName: 'version' }).catch(() => '1'),
          chainId(),
        ])
        return { name, version, chainId: id, verifyingContract: token }
      }
    },
    authorizationUsed: (token, authorizer, nonce) => client.readContract({ address: token, abi: EIP3009_ABI, functionName: 'authorizationState', args: [authorizer, nonce] }),
    async setBalance(address, wei) {
      const errors: string[] = []
      for (const mode of ['anvil', 'hardhat'] as const) {
        try {
          await createTestClient({ mode, transport: http(rpcUrl, { retryCount: 0, timeout: 10_000 }) }).setBalance({ address, value: wei })
          return
        } catch (e) {
          errors.push(`${mode}: ${(e as Error).message.split('\n')[0]}`)
        }
      }
      throw new Error(`the chain at --rpc-url is not a dev chain that can set balances (${errors.join('; ')})`)
    },
    async waitForReceipt(hash, timeoutMs = 30_000) {
      const r = await client.waitForTransactionReceipt({ hash, timeout: timeoutMs, pollingInterval: 50 })
      return { status: r.status, blockNumber: r.blockNumber }
    },
  }
}
