import {
  concatHex,
  decodeFunctionData,
  encodeFunctionData,
  getAddress,
  isAddress,
  isAddressEqual,
  keccak256,
  parseEventLogs,
  stringToHex,
  toEventSelector,
  toFunctionSelector,
  type Address,
  type Hex,
  type TransactionReceipt,
} from 'viem'
import type { Logger } from 'pino'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { Money, PaymentIntent } from '../../../core/intent/types.js'
import { parseMinorUnits } from '../../../core/money/amount.js'
import type {
  RailAdapter,
  RailOutcome,
  RailQueryParams,
  RailRefundOutcome,
  RailRefundParams,
  RailRefundQueryOutcome,
  RailRefundQueryParams,
  RailSettleParams,
  RailVerifyParams,
  RailVerifyResult,
} from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import type { BreakerOptions, BreakerRegistry } from '../shared/breakers.js'
import { addressWord, authorizationCanceledEvent, authorizationUsedEvent, bytes32Word, eip3009Abi, erc1271Abi, ERC1271_MAGIC_VALUE, transferEvent, uintWord } from './abi.js'
import { Eip3009Reason, type Eip3009ReasonCode } from './reasons.js'
import { ReceiptWatcher } from './receiptWatcher.js'
import { RelayerPool, RelayerSigner, type SendResult } from './relayer.js'
import { errorText, isRevert, RpcPool, RpcUnavailableError, shortError } from './rpcPool.js'
import {
  parseEip3009Authorization,
  SignatureCache,
  transferWithAuthorizationArgs,
  verifyEip3009Authorization,
  type Eip3009Authorization,
  type Eip3009ChainReader,
  type ParsedEip3009Authorization,
  type VerifyEip3009Parameters,
  type VerifyEip3009Result,
} from './verifyEip3009Authorization.js'

// --- configuration ----------------------------------------------------------------------------------

/** One EIP-3009 token the rail settles. */
export interface EvmTokenConfig {
  address: string
  /** EIP-712 domain name (`USD Coin`, `USDC`, `Agentswitch USD`): must equal the token's `name()`. */
  name: string
  /** EIP-712 domain version: must equal the token's `version()`. */
  version: string
  decimals: number
  /** CAIP-19 id (`eip155:<chainId>/erc20:<address>`); derived when omitted. */
  assetId?: string | undefined
}

/** Upper bounds on what the relayer pays per gas, in wei: above them nothing is sent. */
export interface EvmFeeCaps {
  maxFeePerGas: bigint | string
  maxPriorityFeePerGas: bigint | string
}

/** One chain of the rail. */
export interface EvmChainConfig {
  chainId: number
  /** CAIP-2 id; must be `eip155:<chainId>` (the default). */
  network?: string | undefined
  /** In priority order; each gets its own breaker. Reads fail over; broadcasts only when provably not sent. */
  rpcUrls: readonly string[]
  tokens: readonly EvmTokenConfig[]
  /** The relayer key (pays gas for settlements). Give `relayerPrivateKeys` for a pool. */
  relayerPrivateKey?: Hex | undefined
  /** A pool of relayer keys: each settlement goes to the least busy key. */
  relayerPrivateKeys?: readonly Hex[] | undefined
  feeCaps: EvmFeeCaps
  /** How long settle waits for the receipt before answering `unknown` with the tx hash (default 30 s). */
  receiptTimeoutMs?: number | undefined
  /** Receipt and block polling interval (default 50 ms; 5–50 ms on local chains). */
  pollingIntervalMs?: number | undefined
  /** Per-RPC-request timeout (default 10 s). */
  rpcTimeoutMs?: number | undefined
  /** How long a fee quote is reused (default 1 s). */
  feeCacheMs?: number | undefined
  /** How far back reconciliation looks for `AuthorizationUsed` and refund logs (default 10 000 blocks). */
  logLookbackBlocks?: number | undefined
  /** Refunds: merchant id → the private key of its payout wallet on this chain (holds tokens and gas). */
  payoutWallets?: Readonly<Record<string, Hex>> | undefined
}

export interface CreateEvmRailOptions {
  chains: readonly EvmChainConfig[]
  breakers: BreakerRegistry
  logger: Logger
  store: Store
  breakerOptions?: BreakerOptions | undefined
  /** Injected clock (verification windows use it). */
  clock?: (() => Date) | undefined
}

/**
 * The credential the EVM rail settles: the payer's signed authorisation plus what the server
 * bound from its own configuration. Built by the protocol adapter (x402, MPP), never taken
 * whole from the payer.
 */
export interface Eip3009Credential {
  /** As signed by the payer (x402 `payload.authorization`). */
  authorization: Eip3009Authorization
  /** 65-byte ECDSA (`0x` + 130 hex) or an ERC-1271 signature. */
  signature: string
  /** The expected recipient, from the route's or merchant's configuration. */
  payTo: string
  /** `exact` (default, x402 v2) or `at_least` (x402 v1's "meets or exceeds"). */
  amountMatch?: 'exact' | 'at_least' | undefined
  /** The domain the payer was told to sign (x402 `extra`), checked against the token. */
  requiredDomain?: { name?: string | undefined; version?: string | undefined } | undefined
}

/** Parameters of {@link EvmRail.verifyAuthorization} (the x402 facilitator's `/verify`). */
export interface EvmVerifyAuthorizationParams {
  /** CAIP-2 network (`eip155:31337`). */
  network: string
  /** Token address (x402 `asset`). */
  asset: string
  authorization: Eip3009Authorization
  signature: string
  payTo: string
  /** Required amount in token units. */
  amount: bigint | string
  amountMatch?: 'exact' | 'at_least' | undefined
  requiredDomain?: { name?: string | undefined; version?: string | undefined } | undefined
  /**
   * `false`: only the checks that need no RPC (signature of an EOA, recipient, window, value,
   * domain), with the rail's signature cache, so the settlement that follows recovers nothing
   * again. Default `true` (balance, nonce and simulation in one batched round trip).
   */
  onChain?: boolean | undefined
}

/** A configured token, as the adapters see it. */
export interface EvmTokenInfo {
  address: Address
  name: string
  version: string
  decimals: number
  assetId: string
}

/** The EVM rail: the {@link RailAdapter} port plus what the x402 facilitator needs. */
export interface EvmRail extends RailAdapter<Eip3009Credential> {
  readonly rail: 'evm'
  /** Configured chains and tokens (for `/supported` and 402 offers). */
  networks(): Array<{ chainId: number; network: string; tokens: EvmTokenInfo[]; relayers: Address[] }>
  /** The token for a CAIP-19 asset id, or for (network, address). */
  token(assetIdOrNetwork: string, address?: string): EvmTokenInfo | undefined
  /** Verify an authorisation without an intent (x402 `/verify`). Declines are values. */
  verifyAuthorization(params: EvmVerifyAuthorizationParams): Promise<VerifyEip3009Result>
  /**
   * Start the on-chain checks (the simulation with its gas; balance and nonce state only if it
   * fails) of an authorisation that is about to be settled, so that their round trip runs while the
   * payment's intent is being written; the settlement of exactly these inputs within
   * {@link WARM_TTL_MS} takes a passing result once instead of reading again (a failing one is read
   * again). Time checks are not taken from it: the settlement re-checks the window at its own time,
   * and the replay lock still decides who broadcasts. One warm-up per inputs at a time. Fire and forget.
   */
  warmSettlement(params: EvmVerifyAuthorizationParams): void
  /** The chain reader behind verification (to call {@link verifyEip3009Authorization} directly). */
  reader(chainId: number): Eip3009ChainReader
  /** Read every token's code, name, version, decimals and `authorizationState`; throws GW_CONFIG_INVALID on a mismatch. */
  checkConfiguration(): Promise<void>
  /** Stop pollers (pending receipt waits resolve as timeouts). */
  close(): void
}

/** How long a {@link EvmRail.warmSettlement} result waits for its settlement. */
export const WARM_TTL_MS = 2_000
const WARM_MAX = 4_096

/** The exact inputs of a full verification, as one key (amounts as decimal strings, addresses lower case). */
function warmKey(
  chainId: number,
  token: Address,
  auth: ParsedEip3009Authorization,
  c: { signature: string; payTo: string; amountMatch?: string | undefined; requiredDomain?: { name?: string | undefined; version?: string | undefined } | undefined },
  amount: bigint,
): string {
  const d = c.requiredDomain
  return [
    chainId,
    token.toLowerCase(),
    auth.from.toLowerCase(),
    auth.to.toLowerCase(),
    auth.value,
    auth.validAfter,
    auth.validBefore,
    auth.nonce.toLowerCase(),
    c.signature.toLowerCase(),
    c.payTo.toLowerCase(),
    amount,
    c.amountMatch ?? '',
    d?.name ?? '\u0000',
    d?.version ?? '\u0000',
  ].join('|')
}

/** Replay-lock namespace and key of an EIP-3009 authorisation (DESIGN §5, x402 digest §11). */
export const EIP3009_REPLAY_NAMESPACE = 'eip3009'

/** `${chainId}:${token}:${payer}:${nonce}`, lower case: one key per authorisation across instances. */
export function eip3009ReplayKey(chainId: number, token: string, payer: string, nonce: string): string {
  return `${chainId}:${token.toLowerCase()}:${payer.toLowerCase()}:${nonce.toLowerCase()}`
}

/**
 * The non-secret facts of an authorisation to record on the intent at submit time, so that
 * reconciliation can finish it even after a restart: `payer.address`, `instrument.ref` (the
 * EIP-3009 nonce) and `instrument.network`, and the window in `authorization.constraints`.
 *
 * @example
 * const f = eip3009IntentFields(credential, 'eip155:8453')
 * submitIntent(deps, { …, payer: { agent_id, ...f.payer }, instrument: f.instrument,
 *   authorization: { type: 'x402.signature', constraints: f.constraints } })
 */
export function eip3009IntentFields(
  credential: Pick<Eip3009Credential, 'authorization' | 'payTo'>,
  network: string,
): {
  payer: { address: string }
  instrument: { type: 'evm.eip3009'; ref: string; network: string }
  constraints: { pay_to: string; value: string; valid_after: string; valid_before: string }
} {
  const a = credential.authorization
  return {
    payer: { address: a.from },
    instrument: { type: 'evm.eip3009', ref: a.nonce.toLowerCase(), network },
    constraints: { pay_to: credential.payTo, value: a.value, valid_after: a.validAfter, valid_before: a.validBefore },
  }
}

// --- runtime ----------------------------------------------------------------------------------------

interface TokenRuntime extends EvmTokenInfo {
  chain: ChainRuntime
}

interface ChainRuntime {
  chainId: number
  network: string
  rpc: RpcPool
  relayers: RelayerPool
  watcher: ReceiptWatcher
  tokens: Map<string, TokenRuntime>
  feeCaps: { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }
  receiptTimeoutMs: number
  feeCacheMs: number
  logLookbackBlocks: bigint
  payout: Map<string, RelayerSigner>
  reader: Eip3009ChainReader
  fee?: { at: number; value: Promise<{ baseFee: bigint; priority: bigint }> } | undefined
}

/** Facts reconciliation needs about one settlement. */
interface SettlementFacts {
  chain: ChainRuntime
  token: TokenRuntime
  payer: Address
  nonce: Hex
  to?: Address | undefined
  value?: bigint | undefined
  validBefore?: bigint | undefined
}

const MAX_LOCK_SECONDS = 253_402_300_799n // 9999-12-31: Date cannot hold uint256 seconds
const MAX_REMEMBERED = 50_000
const REFUND_NAMESPACE = 'evm_refund'

function asBigInt(v: bigint | string, what: string): bigint {
  if (typeof v === 'bigint') return v
  if (typeof v === 'string' && /^[0-9]+$/.test(v)) return BigInt(v)
  throw new GatewayError('GW_CONFIG_INVALID', `${what} must be an integer (wei), got ${String(v)}`)
}

function assetIdOf(chainId: number, address: string): string {
  return `eip155:${chainId}/erc20:${address.toLowerCase()}`
}

const BALANCE_OF = toFunctionSelector('balanceOf(address)')
const SELECTOR_VRS = toFunctionSelector('transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)')
const SELECTOR_BYTES = toFunctionSelector('transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)')
/** `Transfer(address,address,uint256)`, topic 0 of its logs. */
const TRANSFER_TOPIC = toEventSelector(transferEvent)

/**
 * `transferWithAuthorization` calldata, the same bytes as viem's `encodeFunctionData` with the
 * token ABI (a test holds them equal), written directly: every argument but the `bytes`
 * signature is one static word, so the encoding is a concatenation (this runs on every verify
 * and settlement; viem's generic encoder costs several times more and allocates ~5 kB).
 */
export function encodeTransferWithAuthorization(args: ReturnType<typeof transferWithAuthorizationArgs>): Hex {
  const [from, to, value, validAfter, validBefore, nonce] = args
  const head = `${addressWord(from)}${addressWord(to)}${uintWord(value)}${uintWord(validAfter)}${uintWord(validBefore)}${bytes32Word(nonce)}`
  if (args.length === 9) return `${SELECTOR_VRS}${head}${uintWord(args[6])}${bytes32Word(args[7])}${bytes32Word(args[8])}`
  const bytes = args[6].slice(2).toLowerCase()
  if (bytes.length % 2 !== 0) throw new RangeError('the signature is not whole bytes')
  // A dynamic `bytes` after seven head words: its offset (7 × 32), its length, its data padded to whole words.
  return `${SELECTOR_BYTES}${head}${uintWord(7 * 32)}${uintWord(bytes.length / 2)}${bytes.padEnd(Math.ceil(bytes.length / 64) * 64, '0')}`
}

/**
 * Whether `log` is a `Transfer` of `token` from `from` (and to `to`, of `value`, when given), read
 * from its topics and data as `parseEventLogs` would decode them.
 */
export function isTransferLog(log: { address: Address; topics: readonly Hex[]; data: Hex }, token: Address, from: Address, to?: Address, value?: bigint): boolean {
  const [topic0, topicFrom, topicTo] = log.topics
  if (log.topics.length !== 3 || topic0?.toLowerCase() !== TRANSFER_TOPIC || !isAddressEqual(log.address, token)) return false
  if (!topicFrom || !isAddressEqual(topicAddress(topicFrom), from)) return false
  if (to !== undefined && (!topicTo || !isAddressEqual(topicAddress(topicTo), to))) return false
  return value === undefined || (/^0x[0-9a-fA-F]{64}$/.test(log.data) && BigInt(log.data) === value)
}

/** The address in an indexed address topic (its low 20 bytes). */
function topicAddress(topic: Hex): Address {
  return `0x${topic.slice(26)}` as Address
}
const AUTHORIZATION_STATE = toFunctionSelector('authorizationState(address,bytes32)')
const ZERO_ADDRESS: Address = `0x${'0'.repeat(40)}`
const ZERO_WORD: Hex = `0x${'0'.repeat(64)}`
const isWord = (r: unknown): r is Hex => typeof r === 'string' && /^0x[0-9a-fA-F]{64}$/.test(r)

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_REMEMBERED) map.delete(map.keys().next().value as K)
  map.set(key, value)
}

/**
 * Create the EVM rail (DESIGN §4 step 5, x402 digest §6.3 and §11): settles `evm.eip3009`
 * intents with `transferWithAuthorization` from a relayer key.
 *
 * - **verify**: {@link verifyEip3009Authorization} (signature once, window with the 6 s margin,
 *   value, balance, nonce unused, simulation) with the x402 SDK's reason strings.
 * - **settle**: replay lock on (chain, token, payer, nonce) in the store until `validBefore`
 *   (holds across gateway instances; another payment holding it gets a decline), re-verify on
 *   chain, send from a serialised nonce assigner (or the least busy key of a pool), wait for the
 *   receipt with one shared poller, confirm by the `Transfer(from, to, value)` log. No receipt in
 *   `receiptTimeoutMs` → `unknown` / `receipt_timeout` with the tx hash: never a second broadcast.
 * - **query**: finishes an unknown outcome from the tx receipt and `authorizationState`.
 * - **fee caps**: when current fees exceed the caps nothing is sent and the answer is `declined`
 *   / `fee_cap_exceeded` (a definitive no for this attempt; the payer may try again later).
 * - **refund**: a plain ERC-20 transfer from the merchant's payout wallet, idempotent by
 *   `refundKey` (replay lock + the key's hash appended to the calldata, found again by logs).
 *
 * @example
 * const rail = createEvmRail({ chains: [{ chainId: 31337, rpcUrls: [url], tokens: [token],
 *   relayerPrivateKey, feeCaps: { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n },
 *   pollingIntervalMs: 10 }], breakers, logger, store })
 */
export function createEvmRail(options: CreateEvmRailOptions): EvmRail {
  const clock = options.clock ?? (() => new Date())
  const logger = options.logger.child({ rail: 'evm' })
  const store = options.store
  const signatureCache = new SignatureCache()
  const chains = new Map<number, ChainRuntime>()
  const byAsset = new Map<string, TokenRuntime>()
  /** idempotency key → facts of the settlement (same process: reconciliation without re-reading). */
  const facts = new Map<string, SettlementFacts>()
  /** tx hash → relayer and nonce it was sent with (proves a dropped tx can never be mined). */
  const sent = new Map<string, { from: Address; nonce: number }>()
  /** Full verifications started by `warmSettlement`, by {@link warmKey}, oldest first; each used once. */
  const warmed = new Map<string, { until: number; result: Promise<VerifyEip3009Result> }>()

  /** The verification inputs of `p` for `token` on `chain`, at the current time. */
  function verifyInputs(chain: ChainRuntime, token: TokenRuntime, p: EvmVerifyAuthorizationParams, amount: bigint): VerifyEip3009Parameters {
    return {
      chainId: chain.chainId,
      token,
      authorization: p.authorization,
      signature: p.signature,
      payTo: p.payTo,
      amount,
      amountMatch: p.amountMatch,
      requiredDomain: p.requiredDomain,
      now: Math.floor(clock().getTime() / 1000),
    }
  }

  /** The warmed result for `key` (removed: used once), if still fresh. */
  function takeWarm(key: string): Promise<VerifyEip3009Result> | undefined {
    const w = warmed.get(key)
    if (!w) return undefined
    warmed.delete(key)
    return w.until >= Date.now() ? w.result : undefined
  }

  for (const c of options.chains) {
    if (!Number.isInteger(c.chainId) || c.chainId <= 0) throw new GatewayError('GW_CONFIG_INVALID', `invalid chain id ${c.chainId}`)
    if (chains.has(c.chainId)) throw new GatewayError('GW_CONFIG_INVALID', `chain ${c.chainId} is configured twice`)
    const network = c.network ?? `eip155:${c.chainId}`
    if (network !== `eip155:${c.chainId}`) throw new GatewayError('GW_CONFIG_INVALID', `network ${network} does not match chain id ${c.chainId}`)
    const pollingIntervalMs = c.pollingIntervalMs ?? 50
    const rpc = new RpcPool({
      network,
      urls: c.rpcUrls,
      breakers: options.breakers,
      breakerOptions: options.breakerOptions,
      timeoutMs: c.rpcTimeoutMs,
      pollingIntervalMs,
    })
    const keys = [...(c.relayerPrivateKeys ?? []), ...(c.relayerPrivateKey ? [c.relayerPrivateKey] : [])]
    const relayers = new RelayerPool(keys, c.chainId, rpc)
    const runtime: ChainRuntime = {
      chainId: c.chainId,
      network,
      rpc,
      relayers,
      watcher: new ReceiptWatcher(rpc, pollingIntervalMs),
      tokens: new Map(),
      feeCaps: {
        maxFeePerGas: asBigInt(c.feeCaps.maxFeePerGas, 'feeCaps.maxFeePerGas'),
        maxPriorityFeePerGas: asBigInt(c.feeCaps.maxPriorityFeePerGas, 'feeCaps.maxPriorityFeePerGas'),
      },
      receiptTimeoutMs: c.receiptTimeoutMs ?? 30_000,
      feeCacheMs: c.feeCacheMs ?? 1_000,
      logLookbackBlocks: BigInt(c.logLookbackBlocks ?? 10_000),
      payout: new Map(Object.entries(c.payoutWallets ?? {}).map(([merchant, key]) => [merchant, new RelayerSigner(key, c.chainId, rpc)])),
      reader: undefined as unknown as Eip3009ChainReader,
    }
    runtime.reader = createReader(runtime, relayers.signers[0]!.address)
    for (const t of c.tokens) {
      if (!isAddress(t.address, { strict: false })) throw new GatewayError('GW_CONFIG_INVALID', `token address ${t.address} is not an address`)
      const address = getAddress(t.address)
      const assetId = assetIdOf(c.chainId, address)
      if (t.assetId !== undefined && t.assetId.toLowerCase() !== assetId)
        throw new GatewayError('GW_CONFIG_INVALID', `token ${address}: assetId ${t.assetId} should be ${assetId}`)
      const token: TokenRuntime = { address, name: t.name, version: t.version, decimals: t.decimals, assetId, chain: runtime }
      runtime.tokens.set(address.toLowerCase(), token)
      byAsset.set(assetId, token)
    }
    chains.set(c.chainId, runtime)
  }

  // --- chain reads ------------------------------------------------------------------------------

  function createReader(chain: ChainRuntime, simulateFrom: Address): Eip3009ChainReader {
    /** Per token: the largest `transferWithAuthorization` gas estimate seen (the settlement carries 1.5×). */
    const gasEstimates = new Map<string, bigint>()
    const tokenFacts = new Map<string, Promise<{ deployed: boolean; name?: string | undefined; version?: string | undefined; eip3009: boolean }>>()
    /** `undefined` when the call reverts; any other failure is thrown (never mistaken for a verdict). */
    const optional = async <T>(p: Promise<T>): Promise<T | undefined> => {
      try {
        return await p
      } catch (err) {
        if (isRevert(err)) return undefined
        throw err
      }
    }
    /** Whether (authorizer, nonce) was used; `undefined` when the token does not answer `authorizationState`. */
    const authorizationState: Eip3009ChainReader['authorizationState'] = async (token, authorizer, nonce) => {
      const r = await optional(chain.rpc.request<Hex>('eth_call', [{ to: token, data: `${AUTHORIZATION_STATE}${addressWord(authorizer)}${nonce.slice(2)}` }, 'latest']))
      // No code or no such function (empty return data): not an EIP-3009 token, like a revert.
      return r === undefined || !isWord(r) ? undefined : BigInt(r) !== 0n
    }
    return {
      tokenFacts(token) {
        const key = token.toLowerCase()
        let p = tokenFacts.get(key)
        if (!p) {
          p = (async () => {
            const [code, name, version, state] = await Promise.all([
              chain.rpc.read('eth_getCode', (c) => c.getCode({ address: token })),
              optional(chain.rpc.read('name', (c) => c.readContract({ address: token, abi: eip3009Abi, functionName: 'name' }))),
              optional(chain.rpc.read('version', (c) => c.readContract({ address: token, abi: eip3009Abi, functionName: 'version' }))),
              // `authorizationState` must answer: reconciliation reads it to finish an unknown outcome.
              authorizationState(token, ZERO_ADDRESS, ZERO_WORD),
            ])
            return { deployed: code !== undefined && code !== '0x', name, version, eip3009: state !== undefined }
          })()
          tokenFacts.set(key, p)
          // Only a successful read is cached: a token deployed later, or an outage, is read again.
          p.then((f) => (f.deployed ? undefined : tokenFacts.delete(key)), () => tokenFacts.delete(key))
        }
        return p
      },
      async hasCode(wallet) {
        const code = await chain.rpc.read('eth_getCode', (c) => c.getCode({ address: wallet }))
        return code !== undefined && code !== '0x'
      },
      async isValidErc1271Signature(wallet, digest, signature) {
        const r = await optional(
          chain.rpc.read('isValidSignature', (c) => c.readContract({ address: wallet, abi: erc1271Abi, functionName: 'isValidSignature', args: [digest, signature] })),
        )
        return typeof r === 'string' && r.toLowerCase() === ERC1271_MAGIC_VALUE
      },
      // The hot reads go as raw JSON-RPC on the pool's batched client, calldata encoded here.
      async balanceOf(token, owner) {
        const r = await chain.rpc.request<Hex>('eth_call', [{ to: token, data: `${BALANCE_OF}${addressWord(owner)}` }, 'latest'])
        if (!isWord(r)) throw new Error(`balanceOf(${owner}) on ${token} returned ${String(r).slice(0, 80)}`)
        return BigInt(r)
      },
      authorizationState,
      async simulateTransfer(token, auth, signature, { estimateGas }) {
        const request = { from: simulateFrom, to: token, data: transferCalldata(auth, signature) }
        const key = token.toLowerCase()
        const known = gasEstimates.get(key)
        if (estimateGas && known !== undefined) {
          // The node's estimate is a search (many executions); one `eth_call` capped at the gas the
          // transaction will carry proves the same thing for this state: it runs within that limit.
          // Any failure (a revert, out of gas) falls through to the estimate, which gives the verdict.
          const ok = await chain.rpc.request('eth_call', [{ ...request, gas: `0x${((known * 3n) / 2n).toString(16)}` }, 'latest']).then(
            () => true,
            () => false,
          )
          if (ok) return { ok: true, gas: known }
        }
        try {
          if (estimateGas) {
            const gas = BigInt(await chain.rpc.request<Hex>('eth_estimateGas', [request]))
            if (known === undefined || gas > known) gasEstimates.set(key, gas)
            return { ok: true, gas }
          }
          await chain.rpc.request('eth_call', [request, 'latest'])
          return { ok: true }
        } catch (err) {
          // Only a revert is a verdict on the authorisation; "insufficient funds for gas" or an
          // internal node error is ours to fix, not the payer's decline.
          if (!isRevert(err)) throw err
          // The node's own text (with the revert reason), never the request: it may carry the RPC URL.
          const details = (err as { details?: unknown }).details
          return { ok: false, message: typeof details === 'string' && details !== '' ? details : errorText(err) }
        }
      },
    }
  }

  function transferCalldata(auth: ParsedEip3009Authorization, signature: Hex): Hex {
    return encodeTransferWithAuthorization(transferWithAuthorizationArgs(auth, signature))
  }

  async function fees(chain: ChainRuntime): Promise<{ ok: true; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint } | { ok: false; message: string }> {
    const now = Date.now()
    if (!chain.fee || now - chain.fee.at > chain.feeCacheMs) {
      const value = (async () => {
        const [block, priority] = await Promise.all([
          chain.rpc.read('eth_getBlockByNumber', (c) => c.getBlock({ blockTag: 'latest' })),
          chain.rpc.request<Hex>('eth_maxPriorityFeePerGas', []).then(BigInt, () => 1_000_000_000n),
        ])
        if (block.baseFeePerGas === null || block.baseFeePerGas === undefined) throw new Error(`chain ${chain.chainId} has no EIP-1559 base fee`)
        return { baseFee: block.baseFeePerGas, priority }
      })()
      chain.fee = { at: now, value }
      value.catch(() => {
        if (chain.fee?.value === value) chain.fee = undefined
      })
    }
    const { baseFee, priority } = await chain.fee.value
    const tip = priority < chain.feeCaps.maxPriorityFeePerGas ? priority : chain.feeCaps.maxPriorityFeePerGas
    // Room for the base fee to double before the transaction stops being includable.
    const wanted = baseFee * 2n + tip
    if (chain.feeCaps.maxFeePerGas < baseFee + tip)
      return { ok: false, message: `base fee ${baseFee} + tip ${tip} wei exceeds the cap ${chain.feeCaps.maxFeePerGas} wei` }
    return { ok: true, maxFeePerGas: wanted < chain.feeCaps.maxFeePerGas ? wanted : chain.feeCaps.maxFeePerGas, maxPriorityFeePerGas: tip }
  }

  // --- resolution helpers -------------------------------------------------------------------------

  function tokenForMoney(money: Money): TokenRuntime | undefined {
    return typeof money?.asset === 'string' ? byAsset.get(money.asset.toLowerCase()) : undefined
  }

  function chainOf(network: string): ChainRuntime | undefined {
    const m = /^eip155:([1-9][0-9]*)$/.exec(network)
    return m ? chains.get(Number(m[1])) : undefined
  }

  async function acquireLock(key: string, holder: string, validBefore: bigint): Promise<boolean> {
    const seconds = validBefore < MAX_LOCK_SECONDS ? validBefore : MAX_LOCK_SECONDS
    const p = { namespace: EIP3009_REPLAY_NAMESPACE, key, holder, expiresAt: new Date(Number(seconds) * 1000), now: clock() }
    if (await store.acquireReplayLock(p)) return true
    // Held by this same payment (a re-send after `not_found`, or the lock the adapter took at
    // verify time)? Only the holder can release it; re-take it at once. If another payment wins
    // the lock in between, it is that payment's, and this one is refused: still exactly one.
    if (await store.releaseReplayLock({ namespace: EIP3009_REPLAY_NAMESPACE, key, holder })) return store.acquireReplayLock({ ...p, now: clock() })
    return false
  }

  async function releaseLock(f: SettlementFacts, holder: string): Promise<void> {
    try {
      await store.releaseReplayLock({ namespace: EIP3009_REPLAY_NAMESPACE, key: eip3009ReplayKey(f.chain.chainId, f.token.address, f.payer, f.nonce), holder })
    } catch (err) {
      // The lock then simply lasts until validBefore: safe, only less convenient.
      logger.warn({ err: shortError(err) }, 'could not release an EIP-3009 replay lock')
    }
  }

  function transferLogMatches(receipt: TransactionReceipt, token: Address, from: Address, to?: Address, value?: bigint): boolean {
    return receipt.logs.some((l) => isTransferLog(l, token, from, to, value))
  }

  async function receiptOf(chain: ChainRuntime, hash: Hex): Promise<TransactionReceipt | undefined> {
    try {
      return await chain.rpc.read('eth_getTransactionReceipt', (c) => c.getTransactionReceipt({ hash }))
    } catch (err) {
      if ((err as Error)?.name === 'TransactionReceiptNotFoundError') return undefined // not mined (yet)
      throw err
    }
  }

  async function transactionOf(chain: ChainRuntime, hash: Hex): Promise<{ input: Hex; from: Address; nonce: number; to: Address | null } | undefined> {
    try {
      return await chain.rpc.read('eth_getTransactionByHash', (c) => c.getTransaction({ hash }))
    } catch (err) {
      if ((err as Error)?.name === 'TransactionNotFoundError') return undefined // unknown to the node
      throw err
    }
  }

  const succeeded = (reference: string, endpoint: string, payer: Address): RailOutcome => ({
    status: 'succeeded',
    reference,
    settledAt: clock().toISOString(),
    endpoint,
    payer,
  })

  // --- reconciliation -------------------------------------------------------------------------------

  /** Facts of a settlement: this process's memory, else the known tx's calldata, else the intent's recorded fields. */
  async function factsFor(intent: PaymentIntent, idempotencyKey: string, reference: string | undefined): Promise<SettlementFacts | undefined> {
    const known = facts.get(idempotencyKey)
    if (known) return known
    const token = tokenForMoney(intent.settlement_amount ?? intent.amount)
    if (!token) return undefined
    if (reference && /^0x[0-9a-fA-F]{64}$/.test(reference)) {
      const tx = await transactionOf(token.chain, reference as Hex)
      if (tx && tx.to && isAddressEqual(tx.to, token.address)) {
        try {
          const d = decodeFunctionData({ abi: eip3009Abi, data: tx.input })
          if (d.functionName === 'transferWithAuthorization') {
            const [from, to, value, , validBefore, nonce] = d.args as unknown as [Address, Address, bigint, bigint, bigint, Hex]
            return { chain: token.chain, token, payer: from, nonce, to, value, validBefore }
          }
        } catch {
          // not our calldata: fall back to the intent
        }
      }
    }
    const payer = intent.payer.address
    const nonce = intent.instrument.ref
    if (!payer || !isAddress(payer, { strict: false }) || !nonce || !/^0x[0-9a-fA-F]{64}$/.test(nonce)) return undefined
    const c = intent.authorization.constraints ?? {}
    const vb = typeof c['valid_before'] === 'string' && /^[0-9]+$/.test(c['valid_before']) ? BigInt(c['valid_before']) : undefined
    const to = typeof c['pay_to'] === 'string' && isAddress(c['pay_to'], { strict: false }) ? getAddress(c['pay_to']) : undefined
    const value = typeof c['value'] === 'string' && /^[0-9]+$/.test(c['value']) ? BigInt(c['value']) : undefined
    return { chain: token.chain, token, payer: getAddress(payer), nonce: nonce.toLowerCase() as Hex, to, value, validBefore: vb }
  }

  /**
   * What happened to an authorisation, from the chain alone:
   * - our tx mined with the Transfer log → succeeded;
   * - our tx known but not mined → unknown (pending);
   * - authorisation used by another tx (found by its `AuthorizationUsed` log) → succeeded with
   *   that tx (the money moved as authorised); canceled → declined;
   * - unused, and our tx reverted → declined; validBefore passed on chain → declined (expired);
   * - unused, our tx unknown to the node: not_found only when its nonce slot was taken by
   *   another tx (it can never be mined), else unknown until validBefore passes;
   * - unused, no tx of ours → not_found (unless the pending state shows it being used).
   */
  async function reconcile(f: SettlementFacts, reference: Hex | undefined, holder: string): Promise<RailOutcome> {
    const { chain, token } = f
    const endpoint = chain.rpc.primary
    let reverted = false
    if (reference) {
      const receipt = await receiptOf(chain, reference)
      if (receipt) {
        if (receipt.status === 'success' && transferLogMatches(receipt, token.address, f.payer, f.to, f.value)) return succeeded(reference, endpoint, f.payer)
        reverted = receipt.status !== 'success'
      } else if (await transactionOf(chain, reference)) {
        return { status: 'unknown', code: Eip3009Reason.pending, reference, endpoint }
      }
    }
    const [used, head] = await Promise.all([
      chain.reader.authorizationState(token.address, f.payer, f.nonce),
      chain.rpc.read('eth_getBlockByNumber', (c) => c.getBlock({ blockTag: 'latest' })),
    ])
    if (used === undefined) return { status: 'unknown', code: Eip3009Reason.eip3009NotSupported, ...(reference ? { reference } : {}), endpoint }
    if (used) {
      const from = head.number > chain.logLookbackBlocks ? head.number - chain.logLookbackBlocks : 0n
      const range = { address: token.address, args: { authorizer: f.payer, nonce: f.nonce }, fromBlock: from, toBlock: head.number } as const
      const [usedLogs, canceledLogs] = await Promise.all([
        chain.rpc.read('eth_getLogs', (c) => c.getLogs({ ...range, event: authorizationUsedEvent })),
        chain.rpc.read('eth_getLogs', (c) => c.getLogs({ ...range, event: authorizationCanceledEvent })),
      ])
      const logs = [...usedLogs, ...canceledLogs]
      const event = logs.find((l) => l.eventName === 'AuthorizationUsed' || l.eventName === 'AuthorizationCanceled')
      if (event?.eventName === 'AuthorizationCanceled') return { status: 'declined', code: Eip3009Reason.authorizationCanceled, endpoint }
      if (event?.transactionHash) {
        const receipt = await receiptOf(chain, event.transactionHash)
        if (receipt?.status === 'success' && transferLogMatches(receipt, token.address, f.payer, f.to, f.value)) return succeeded(event.transactionHash, endpoint, f.payer)
        return { status: 'unknown', code: Eip3009Reason.transferEventMismatch, reference: event.transactionHash, endpoint }
      }
      return { status: 'unknown', code: Eip3009Reason.usedByUnknownTransaction, ...(reference ? { reference } : {}), endpoint }
    }
    if (reverted) {
      await releaseLock(f, holder)
      return { status: 'declined', code: Eip3009Reason.transactionFailed, message: `transaction ${reference} reverted`, endpoint }
    }
    if (f.validBefore !== undefined && head.timestamp >= f.validBefore) {
      await releaseLock(f, holder)
      return { status: 'declined', code: Eip3009Reason.authorizationExpired, endpoint }
    }
    if (reference) {
      const s = sent.get(reference.toLowerCase())
      if (s) {
        const [mined, pending] = await Promise.all([
          chain.rpc.read('eth_getTransactionCount', (c) => c.getTransactionCount({ address: s.from, blockTag: 'latest' })),
          chain.rpc.read('eth_getTransactionCount', (c) => c.getTransactionCount({ address: s.from, blockTag: 'pending' })),
        ])
        // Another transaction took this nonce slot: ours can never be mined. Safe to send again.
        if (mined > s.nonce) return { status: 'not_found', endpoint }
        // Our transaction left the pool (evicted, node restarted) and its nonce slot is empty: the
        // relayer must re-read its nonce, or every later transaction would wait behind the gap.
        if (pending <= s.nonce) chain.relayers.byAddress(s.from)?.resetNonce()
      }
      return { status: 'unknown', code: Eip3009Reason.txNotFound, reference, endpoint }
    }
    const pendingUsed = await chain.rpc
      .read('authorizationState@pending', (c) =>
        c.readContract({ address: token.address, abi: eip3009Abi, functionName: 'authorizationState', args: [f.payer, f.nonce], blockTag: 'pending' }),
      )
      .catch(() => false)
    if (pendingUsed) return { status: 'unknown', code: Eip3009Reason.pending, endpoint }
    return { status: 'not_found', endpoint }
  }

  // --- settlement -------------------------------------------------------------------------------------

  async function settle(params: RailSettleParams<Eip3009Credential>): Promise<RailOutcome> {
    const { intent, credential, amount, idempotencyKey } = params
    const token = tokenForMoney(amount)
    if (!token) return { status: 'declined', code: Eip3009Reason.unsupportedAsset, message: `asset ${String(amount?.asset)} is not configured on the EVM rail` }
    const chain = token.chain
    const endpoint = chain.rpc.primary
    const auth = parseEip3009Authorization(credential?.authorization)
    if (!auth) return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'authorization is malformed', endpoint }
    let required: bigint
    try {
      required = parseMinorUnits(amount.value)
    } catch {
      return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'amount is not an integer in token units', endpoint }
    }
    // The credential must be the one the intent was created for.
    if (intent.instrument.ref && intent.instrument.ref.toLowerCase() !== auth.nonce)
      return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'the authorization nonce does not match the intent', endpoint }
    if (intent.payer.address && (!isAddress(intent.payer.address, { strict: false }) || !isAddressEqual(intent.payer.address as Address, auth.from)))
      return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'the authorizer does not match the intent payer', endpoint }
    if (intent.instrument.network && intent.instrument.network !== chain.network) return { status: 'declined', code: Eip3009Reason.networkMismatch, endpoint }

    const verifyParams = {
      chainId: chain.chainId,
      token,
      authorization: credential.authorization,
      signature: credential.signature,
      payTo: credential.payTo,
      amount: required,
      amountMatch: credential.amountMatch,
      requiredDomain: credential.requiredDomain,
      now: Math.floor(clock().getTime() / 1000),
    }
    // Local checks first: a forged signature must not be able to lock someone else's nonce.
    const local = await verifyEip3009Authorization(chain.reader, { ...verifyParams, onChain: false }, { signatureCache })
    if (!local.ok) return { status: 'declined', code: local.reason, endpoint, ...(local.message ? { message: local.message } : {}) }

    const f: SettlementFacts = { chain, token, payer: auth.from, nonce: auth.nonce, to: auth.to, value: auth.value, validBefore: auth.validBefore }
    const holder = intent.id
    const lockKey = eip3009ReplayKey(chain.chainId, token.address, auth.from, auth.nonce)
    if (!(await acquireLock(lockKey, holder, auth.validBefore))) {
      logger.info({ intent: intent.id, payer: auth.from, chain: chain.chainId }, 'EIP-3009 authorization refused: held by another payment (replay)')
      return { status: 'declined', code: Eip3009Reason.nonceAlreadyUsed, message: 'this authorization is held by another payment (replay)', endpoint }
    }
    remember(facts, idempotencyKey, f)

    let send: SendResult
    try {
      const fresh = (): Promise<VerifyEip3009Result> => verifyEip3009Authorization(chain.reader, { ...verifyParams, estimateGas: true }, { signatureCache })
      // Checks warmed while the intent was written. Only their "ok" is taken (a stale one is safe: the
      // lock decides who broadcasts and the token refuses a bad transfer); a decline or a failed read
      // is read again now, so a payer funded meanwhile is never refused for good.
      const warm = takeWarm(warmKey(chain.chainId, token.address, auth, credential, required))
      const full = await (warm ? warm.then((r) => (r.ok ? r : fresh()), fresh) : fresh())
      if (!full.ok) {
        await releaseLock(f, holder)
        return { status: 'declined', code: full.reason, endpoint, ...(full.message ? { message: full.message } : {}) }
      }
      const fee = await fees(chain)
      if (!fee.ok) {
        await releaseLock(f, holder)
        return { status: 'declined', code: Eip3009Reason.feeCapExceeded, message: fee.message, endpoint }
      }
      params.signal?.throwIfAborted()
      const gas = ((full.gas ?? 150_000n) * 3n) / 2n // warm/cold storage can differ from the estimate
      send = await chain.relayers.pick().send({
        to: token.address,
        data: transferCalldata(auth, credential.signature as Hex),
        gas,
        maxFeePerGas: fee.maxFeePerGas,
        maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
      })
    } catch (err) {
      // Nothing was broadcast: release, so that the same payment (or another) may try again.
      await releaseLock(f, holder)
      if (err instanceof RpcUnavailableError) return { status: 'unknown', code: Eip3009Reason.rpcUnavailable, endpoint }
      throw err
    }

    if (send.kind === 'not_sent') {
      await releaseLock(f, holder)
      logger.warn({ intent: intent.id, code: send.code, detail: send.message }, 'settlement not sent')
      return { status: 'unknown', code: send.code, endpoint }
    }
    remember(sent, send.hash.toLowerCase(), { from: send.from, nonce: send.nonce })
    if (send.kind === 'ambiguous') {
      logger.warn({ intent: intent.id, tx: send.hash, detail: send.message }, 'settlement broadcast outcome unknown; will reconcile')
      return { status: 'unknown', code: Eip3009Reason.broadcastUnknown, reference: send.hash, endpoint: send.endpoint }
    }

    const receipt = await chain.watcher.wait(send.hash, chain.receiptTimeoutMs)
    if (!receipt) {
      logger.warn({ intent: intent.id, tx: send.hash, timeoutMs: chain.receiptTimeoutMs }, 'no receipt in time; intent stays processing')
      return { status: 'unknown', code: Eip3009Reason.receiptTimeout, reference: send.hash, endpoint: send.endpoint }
    }
    if (receipt.status === 'success' && transferLogMatches(receipt, token.address, auth.from, auth.to, auth.value)) {
      logger.info({ intent: intent.id, tx: send.hash, block: Number(receipt.blockNumber) }, 'settled')
      facts.delete(idempotencyKey)
      return succeeded(send.hash, send.endpoint, auth.from)
    }
    // Mined but not as expected (reverted, or no matching Transfer): the chain decides.
    try {
      return await reconcile(f, send.hash, holder)
    } catch (err) {
      return { status: 'unknown', code: err instanceof RpcUnavailableError ? Eip3009Reason.rpcUnavailable : 'reconciliation_error', reference: send.hash, endpoint: send.endpoint }
    }
  }

  async function query(params: RailQueryParams): Promise<RailOutcome> {
    const reference = params.reference && /^0x[0-9a-fA-F]{64}$/.test(params.reference) ? (params.reference as Hex) : undefined
    const f = await factsFor(params.intent, params.idempotencyKey, reference)
    if (!f) return { status: 'unknown', code: Eip3009Reason.missingFacts, ...(reference ? { reference } : {}) }
    try {
      const outcome = await reconcile(f, reference, params.intent.id)
      if (outcome.status === 'succeeded' || outcome.status === 'declined') facts.delete(params.idempotencyKey)
      return outcome
    } catch (err) {
      if (err instanceof RpcUnavailableError) return { status: 'unknown', code: Eip3009Reason.rpcUnavailable, ...(reference ? { reference } : {}) }
      throw err
    }
  }

  async function verify(params: RailVerifyParams<Eip3009Credential>): Promise<RailVerifyResult> {
    const token = tokenForMoney(params.amount)
    if (!token) return { ok: false, reason: Eip3009Reason.unsupportedAsset }
    let required: bigint
    try {
      required = parseMinorUnits(params.amount.value)
    } catch {
      return { ok: false, reason: Eip3009Reason.invalidPayload, message: 'amount is not an integer in token units' }
    }
    const r = await verifyEip3009Authorization(
      token.chain.reader,
      {
        chainId: token.chain.chainId,
        token,
        authorization: params.credential.authorization,
        signature: params.credential.signature,
        payTo: params.credential.payTo,
        amount: required,
        amountMatch: params.credential.amountMatch,
        requiredDomain: params.credential.requiredDomain,
        now: Math.floor(clock().getTime() / 1000),
      },
      { signatureCache },
    )
    return r.ok ? { ok: true, payer: r.payer } : { ok: false, reason: r.reason, ...(r.message ? { message: r.message } : {}) }
  }

  // --- refunds ------------------------------------------------------------------------------------------

  async function refund(params: RailRefundParams): Promise<RailRefundOutcome> {
    const token = tokenForMoney(params.amount)
    if (!token) return { status: 'declined', code: Eip3009Reason.unsupportedAsset }
    const chain = token.chain
    const payout = chain.payout.get(params.intent.merchant_id)
    if (!payout) return { status: 'declined', code: 'refund_not_configured', message: `no payout wallet for merchant ${params.intent.merchant_id} on ${chain.network}` }
    let value: bigint
    try {
      value = parseMinorUnits(params.amount.value)
    } catch {
      return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'amount is not an integer in token units' }
    }
    if (value === 0n) return { status: 'declined', code: Eip3009Reason.invalidPayload, message: 'refund amount is zero' }

    try {
      const recipient = await refundRecipient(chain, token, params.intent)
      if (!recipient) return { status: 'declined', code: 'refund_recipient_unknown', message: 'no payer address for this payment' }

      const tag = keccak256(stringToHex(`agentswitch:refund:${params.refundKey}`))
      const key = `${chain.chainId}:${params.refundKey}`
      const yearFromNow = new Date(clock().getTime() + 365 * 86_400_000)
      if (!(await store.acquireReplayLock({ namespace: REFUND_NAMESPACE, key, holder: params.refundKey, expiresAt: yearFromNow, now: clock() }))) {
        return await findRefund(chain, token.address, payout.address, recipient, tag)
      }
      const release = (): Promise<unknown> => store.releaseReplayLock({ namespace: REFUND_NAMESPACE, key, holder: params.refundKey }).catch(() => false)
      // ERC-20 `transfer` ignores trailing calldata: the tag lets a retry find this transfer again.
      const data = concatHex([encodeFunctionData({ abi: eip3009Abi, functionName: 'transfer', args: [recipient, value] }), tag])
      let gas: bigint
      try {
        gas = await chain.rpc.read('eth_estimateGas', (c) => c.estimateGas({ account: payout.address, to: token.address, data }))
      } catch (err) {
        await release()
        if (err instanceof RpcUnavailableError) return { status: 'unknown', code: Eip3009Reason.rpcUnavailable }
        const text = errorText(err)
        return { status: 'declined', code: /exceeds balance|insufficient/i.test(text) ? Eip3009Reason.insufficientBalance : Eip3009Reason.simulationFailed }
      }
      const fee = await fees(chain)
      if (!fee.ok) {
        await release()
        return { status: 'declined', code: Eip3009Reason.feeCapExceeded, message: fee.message }
      }
      const s = await payout.send({ to: token.address, data, gas: (gas * 3n) / 2n, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas })
      if (s.kind === 'not_sent') {
        await release()
        return { status: 'unknown', code: s.code }
      }
      if (s.kind === 'ambiguous') return { status: 'unknown', code: Eip3009Reason.broadcastUnknown, reference: s.hash }
      const receipt = await chain.watcher.wait(s.hash, chain.receiptTimeoutMs)
      if (!receipt) return { status: 'unknown', code: Eip3009Reason.receiptTimeout, reference: s.hash }
      if (receipt.status !== 'success') {
        await release()
        return { status: 'declined', code: Eip3009Reason.transactionFailed, message: `refund transaction ${s.hash} reverted` }
      }
      logger.info({ intent: params.intent.id, tx: s.hash }, 'refunded')
      return { status: 'succeeded', reference: s.hash, refundedAt: clock().toISOString() }
    } catch (err) {
      if (err instanceof RpcUnavailableError) return { status: 'unknown', code: Eip3009Reason.rpcUnavailable }
      throw err
    }
  }

  /** The payer is whoever the settlement's Transfer came from (the chain is the source of truth), else `payer.address`. */
  async function refundRecipient(chain: ChainRuntime, token: TokenRuntime, intent: PaymentIntent): Promise<Address | undefined> {
    let recipient: Address | undefined
    const ref = intent.settlement?.reference
    if (ref && /^0x[0-9a-fA-F]{64}$/.test(ref)) {
      const receipt = await receiptOf(chain, ref as Hex)
      const t = receipt ? parseEventLogs({ abi: eip3009Abi, eventName: 'Transfer', logs: receipt.logs.filter((l) => isAddressEqual(l.address, token.address)) })[0] : undefined
      recipient = t?.args.from
    }
    if (!recipient && intent.payer.address && isAddress(intent.payer.address, { strict: false })) recipient = getAddress(intent.payer.address)
    return recipient
  }

  /**
   * What happened to the refund with this key: the receipt of its known transaction; else, when
   * the key's lock is free nothing was ever broadcast (`not_found`: the lock is taken before a
   * send and given back on every path that sent nothing); else its tagged Transfer log.
   */
  async function queryRefund(params: RailRefundQueryParams): Promise<RailRefundQueryOutcome> {
    const token = tokenForMoney(params.intent.settlement_amount ?? params.intent.amount)
    if (!token) return { status: 'declined', code: Eip3009Reason.unsupportedAsset }
    const chain = token.chain
    try {
      if (params.reference && /^0x[0-9a-fA-F]{64}$/.test(params.reference)) {
        const receipt = await receiptOf(chain, params.reference as Hex)
        if (receipt) {
          return receipt.status === 'success'
            ? { status: 'succeeded', reference: params.reference, refundedAt: clock().toISOString() }
            : { status: 'declined', code: Eip3009Reason.transactionFailed, message: `refund transaction ${params.reference} reverted` }
        }
        return { status: 'unknown', code: Eip3009Reason.receiptTimeout, reference: params.reference }
      }
      const key = `${chain.chainId}:${params.refundKey}`
      const probe = `probe:${params.refundKey}`
      if (await store.acquireReplayLock({ namespace: REFUND_NAMESPACE, key, holder: probe, expiresAt: new Date(clock().getTime() + 60_000), now: clock() })) {
        await store.releaseReplayLock({ namespace: REFUND_NAMESPACE, key, holder: probe })
        return { status: 'not_found' }
      }
      const payout = chain.payout.get(params.intent.merchant_id)
      const recipient = await refundRecipient(chain, token, params.intent)
      if (!payout || !recipient) return { status: 'unknown', code: 'refund_in_progress' }
      return await findRefund(chain, token.address, payout.address, recipient, keccak256(stringToHex(`agentswitch:refund:${params.refundKey}`)))
    } catch (err) {
      if (err instanceof RpcUnavailableError) return { status: 'unknown', code: Eip3009Reason.rpcUnavailable }
      throw err
    }
  }

  /** A refund already sent for this key: its Transfer log whose transaction carries the key's tag. */
  async function findRefund(chain: ChainRuntime, token: Address, payout: Address, recipient: Address, tag: Hex): Promise<RailRefundOutcome> {
    const head = await chain.rpc.read('eth_blockNumber', (c) => c.getBlockNumber({ cacheTime: 0 }))
    const logs = await chain.rpc.read('eth_getLogs', (c) =>
      c.getLogs({
        address: token,
        event: transferEvent,
        args: { from: payout, to: recipient },
        fromBlock: head > chain.logLookbackBlocks ? head - chain.logLookbackBlocks : 0n,
        toBlock: head,
      }),
    )
    for (const log of logs) {
      if (!log.transactionHash) continue
      const tx = await transactionOf(chain, log.transactionHash)
      if (tx?.input.toLowerCase().endsWith(tag.slice(2).toLowerCase())) return { status: 'succeeded', reference: log.transactionHash, refundedAt: clock().toISOString() }
    }
    return { status: 'unknown', code: 'refund_in_progress' }
  }

  // --- the adapter --------------------------------------------------------------------------------------

  const infoOf = (t: TokenRuntime): EvmTokenInfo => ({ address: t.address, name: t.name, version: t.version, decimals: t.decimals, assetId: t.assetId })

  return {
    rail: 'evm',
    instruments: ['evm.eip3009'],
    verify,
    settle,
    query,
    refund,
    queryRefund,
    networks() {
      return [...chains.values()].map((c) => ({
        chainId: c.chainId,
        network: c.network,
        tokens: [...c.tokens.values()].map(infoOf),
        relayers: c.relayers.signers.map((s) => s.address),
      }))
    },
    token(assetIdOrNetwork, address) {
      if (address === undefined) {
        const t = byAsset.get(assetIdOrNetwork.toLowerCase())
        return t ? infoOf(t) : undefined
      }
      const t = chainOf(assetIdOrNetwork)?.tokens.get(address.toLowerCase())
      return t ? infoOf(t) : undefined
    },
    async verifyAuthorization(p) {
      const chain = chainOf(p.network)
      if (!chain) return { ok: false, reason: Eip3009Reason.networkMismatch, message: `network ${p.network} is not configured` }
      const token = typeof p.asset === 'string' ? chain.tokens.get(p.asset.toLowerCase()) : undefined
      if (!token) return { ok: false, reason: Eip3009Reason.unsupportedAsset, message: `asset ${String(p.asset)} is not configured on ${p.network}` }
      let amount: bigint
      try {
        amount = typeof p.amount === 'bigint' ? p.amount : parseMinorUnits(p.amount)
      } catch {
        return { ok: false, reason: Eip3009Reason.invalidPayload, message: 'amount is not an integer in token units' }
      }
      return verifyEip3009Authorization(chain.reader, { ...verifyInputs(chain, token, p, amount), ...(p.onChain === false ? { onChain: false } : {}) }, { signatureCache })
    },
    warmSettlement(p) {
      const chain = chainOf(p.network)
      const token = chain && typeof p.asset === 'string' ? chain.tokens.get(p.asset.toLowerCase()) : undefined
      const auth = parseEip3009Authorization(p.authorization)
      if (!chain || !token || !auth) return
      let amount: bigint
      try {
        amount = typeof p.amount === 'bigint' ? p.amount : parseMinorUnits(p.amount)
      } catch {
        return
      }
      // One warm-up per inputs at a time (a replayed header costs no second round of reads), and
      // none at all while WARM_MAX are waiting: it is only a head start.
      const key = warmKey(chain.chainId, token.address, auth, p, amount)
      const now = Date.now()
      for (const [k, w] of warmed) {
        if (w.until >= now) break // oldest first: the rest are fresh too
        warmed.delete(k)
      }
      if (warmed.has(key) || warmed.size >= WARM_MAX) return
      const result = verifyEip3009Authorization(chain.reader, { ...verifyInputs(chain, token, p, amount), estimateGas: true }, { signatureCache })
      // Unused results (the payment was declined before its settlement) must not surface as
      // unhandled rejections; a settlement that takes it awaits the original and sees the error.
      result.catch(() => undefined)
      warmed.set(key, { until: now + WARM_TTL_MS, result })
    },
    reader(chainId) {
      const c = chains.get(chainId)
      if (!c) throw new GatewayError('GW_CONFIG_INVALID', `chain ${chainId} is not configured on the EVM rail`)
      return c.reader
    },
    async checkConfiguration() {
      for (const chain of chains.values()) {
        const id = await chain.rpc.request<Hex>('eth_chainId', [])
        if (Number(id) !== chain.chainId) throw new GatewayError('GW_CONFIG_INVALID', `RPC of ${chain.network} answers chain id ${Number(id)}`)
        for (const t of chain.tokens.values()) {
          const f = await chain.reader.tokenFacts(t.address)
          const decimals = await chain.rpc.read('decimals', (c) => c.readContract({ address: t.address, abi: eip3009Abi, functionName: 'decimals' }))
          if (!f.deployed || f.name !== t.name || f.version !== t.version || decimals !== t.decimals || !f.eip3009)
            throw new GatewayError(
              'GW_CONFIG_INVALID',
              `token ${t.assetId}: chain says deployed=${f.deployed} name=${JSON.stringify(f.name)} version=${JSON.stringify(f.version)} decimals=${decimals} authorizationState=${f.eip3009 ? 'yes' : 'no'}, config says ${JSON.stringify(t.name)} ${JSON.stringify(t.version)} ${t.decimals}`,
            )
        }
      }
    },
    close() {
      for (const c of chains.values()) {
        c.watcher.close()
        void c.rpc.close()
      }
    },
  }
}

/** Whether a registered rail is the EVM rail (to reach its extra methods from `gateway.rails`). */
export function isEvmRail(rail: RailAdapter | undefined): rail is EvmRail & RailAdapter {
  return rail?.rail === 'evm' && typeof (rail as Partial<EvmRail>).verifyAuthorization === 'function'
}

export type { Eip3009ReasonCode }
