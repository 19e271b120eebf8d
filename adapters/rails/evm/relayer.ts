import { hexToBytes, keccak256, serializeTransaction, type Address, type Hex, type TransactionSerializableEIP1559 } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { signDigest } from './ecdsa.js'
import type { RpcPool } from './rpcPool.js'

/** An EIP-1559 call the relayer pays gas for. */
export interface RelayedCall {
  to: Address
  data: Hex
  gas: bigint
  maxFeePerGas: bigint
  maxPriorityFeePerGas: bigint
}

/** Re-reads of the nonce after "nonce too low" / an underpriced replacement, per send. */
const MAX_NONCE_RETRIES = 16

/** What happened to one send. `hash` is known before broadcasting: the signed bytes fix it. */
export type SendResult =
  | { kind: 'sent'; hash: Hex; nonce: number; from: Address; endpoint: string }
  /** May or may not be in a node's pool: treat as sent (reconcile by hash), never re-send. */
  | { kind: 'ambiguous'; hash: Hex; nonce: number; from: Address; endpoint: string; message: string }
  /** Definitely not in any pool: nothing happened, the nonce was not consumed. */
  | { kind: 'not_sent'; code: 'rpc_unavailable' | 'broadcast_rejected'; message: string }

/**
 * One relayer key on one chain with its own nonce assigner. Sends are serialised per key (assign
 * nonce → sign → broadcast is one critical section of about one RPC round trip), so concurrent
 * settlements never collide on a nonce; receipts are awaited outside the critical section.
 *
 * Nonce rules: the first send reads the `pending` transaction count; an accepted send advances
 * the local counter; a definitive rejection leaves it (nothing consumed); "nonce too low" or an
 * underpriced replacement (another process used the key) re-reads the count and tries again; an
 * ambiguous send advances the counter but forces a re-read before the next send, so a transaction
 * that never arrived leaves no permanent gap.
 */
export class RelayerSigner {
  readonly address: Address
  readonly #key: Uint8Array
  #next: number | undefined
  #resync = false
  #tail: Promise<unknown> = Promise.resolve()
  /** Sends queued or in the critical section (for picking the least busy key of a pool). */
  queued = 0

  constructor(
    privateKey: Hex,
    private readonly chainId: number,
    private readonly rpc: RpcPool,
  ) {
    this.#key = hexToBytes(privateKey)
    this.address = privateKeyToAccount(privateKey).address
  }

  /** Forget the local nonce (next send re-reads it from the chain). */
  resetNonce(): void {
    this.#next = undefined
  }

  send(call: RelayedCall): Promise<SendResult> {
    this.queued++
    const run = this.#tail.then(() => this.#send(call))
    this.#tail = run.catch(() => undefined)
    return run.finally(() => {
      this.queued--
    })
  }

  async #pendingCount(): Promise<number> {
    return Number(await this.rpc.request<Hex>('eth_getTransactionCount', [this.address, 'pending']))
  }

  async #send(call: RelayedCall): Promise<SendResult> {
    for (let attempt = 0; ; attempt++) {
      if (this.#next === undefined || this.#resync) {
        try {
          this.#next = await this.#pendingCount()
          this.#resync = false
        } catch (err) {
          return { kind: 'not_sent', code: 'rpc_unavailable', message: err instanceof Error ? err.message : String(err) }
        }
      }
      const nonce = this.#next
      const raw = signEip1559(
        {
          type: 'eip1559',
          chainId: this.chainId,
          nonce,
          to: call.to,
          data: call.data,
          gas: call.gas,
          maxFeePerGas: call.maxFeePerGas,
          maxPriorityFeePerGas: call.maxPriorityFeePerGas,
          value: 0n,
        },
        this.#key,
      )
      const hash = keccak256(raw)
      const r = await this.rpc.broadcast(raw)
      switch (r.kind) {
        case 'accepted':
          this.#next = nonce + 1
          return { kind: 'sent', hash, nonce, from: this.address, endpoint: r.endpoint }
        case 'ambiguous':
          this.#next = nonce + 1
          this.#resync = true
          return { kind: 'ambiguous', hash, nonce, from: this.address, endpoint: r.endpoint, message: r.message }
        case 'not_sent':
          return { kind: 'not_sent', code: 'rpc_unavailable', message: r.message }
        case 'rejected':
          // Another sender (another instance sharing this key) took the nonce: each such loss means
          // that sender progressed, so re-reading and retrying converges; bounded all the same.
          if ((r.nonceTooLow || r.underpriced) && attempt < MAX_NONCE_RETRIES) {
            this.#next = undefined
            continue
          }
          return { kind: 'not_sent', code: 'broadcast_rejected', message: r.message }
      }
    }
  }
}

/**
 * A signed EIP-1559 transaction: the same bytes as viem's `account.signTransaction` (a test holds
 * them equal), signed by libsecp256k1 ({@link signDigest}).
 */
export function signEip1559(tx: TransactionSerializableEIP1559, privateKey: Uint8Array): Hex {
  return serializeTransaction(tx, signDigest(keccak256(serializeTransaction(tx), 'bytes'), privateKey))
}

/** Several relayer keys on one chain: each send goes to the least busy key. */
export class RelayerPool {
  readonly signers: readonly RelayerSigner[]
  #rr = 0

  constructor(privateKeys: readonly Hex[], chainId: number, rpc: RpcPool) {
    if (privateKeys.length === 0) throw new Error('the EVM rail needs at least one relayer key per chain')
    this.signers = privateKeys.map((k) => new RelayerSigner(k, chainId, rpc))
  }

  pick(): RelayerSigner {
    let best = this.signers[this.#rr++ % this.signers.length]!
    for (const s of this.signers) if (s.queued < best.queued) best = s
    return best
  }

  byAddress(address: string): RelayerSigner | undefined {
    return this.signers.find((s) => s.address.toLowerCase() === address.toLowerCase())
  }
}
