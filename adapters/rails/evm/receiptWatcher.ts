import { formatTransactionReceipt, type Hex, type TransactionReceipt } from 'viem'
import type { RpcPool } from './rpcPool.js'

/** Walk at most this many new blocks per tick; beyond that, ask for each awaited receipt directly. */
const MAX_BLOCKS_PER_TICK = 64

interface Waiter {
  resolve(receipt: TransactionReceipt | undefined): void
  timer: NodeJS.Timeout
}

/**
 * One receipt poller per chain, shared by every settlement in flight: each tick costs one
 * `eth_blockNumber`, plus one `eth_getBlockReceipts` per new block, however many transactions are
 * awaited (200 concurrent settlements do not make 200 pollers). A hash is also looked up directly
 * once when it is registered, so a transaction mined before registration is not missed.
 */
export class ReceiptWatcher {
  readonly #waiting = new Map<string, Waiter[]>()
  #last: bigint | undefined
  #timer: NodeJS.Timeout | undefined
  #ticking = false
  #blockReceipts = true
  #closed = false

  constructor(
    private readonly rpc: RpcPool,
    private readonly pollingIntervalMs: number,
  ) {}

  /** The receipt of `hash`, or `undefined` if it did not arrive within `timeoutMs`. */
  wait(hash: Hex, timeoutMs: number): Promise<TransactionReceipt | undefined> {
    const key = hash.toLowerCase()
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => this.#settle(key, undefined, waiter), timeoutMs),
      }
      const list = this.#waiting.get(key)
      if (list) list.push(waiter)
      else this.#waiting.set(key, [waiter])
      this.#schedule()
      // Looked up at once (mined before registration, or instantly as on an automining node),
      // and once more shortly after: a node often includes a transaction just after accepting it.
      void this.#direct([key]).then(() => {
        if (this.#waiting.has(key) && !this.#closed) setTimeout(() => void this.#direct([key]), 1)
      })
    })
  }

  /** Stop polling; pending waits resolve with `undefined`. */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    for (const [key, list] of this.#waiting) for (const w of [...list]) this.#settle(key, undefined, w)
  }

  #settle(key: string, receipt: TransactionReceipt | undefined, only?: Waiter): void {
    const list = this.#waiting.get(key)
    if (!list) return
    const done = only ? [only] : [...list]
    for (const w of done) {
      clearTimeout(w.timer)
      const i = list.indexOf(w)
      if (i >= 0) list.splice(i, 1)
      w.resolve(receipt)
    }
    if (list.length === 0) this.#waiting.delete(key)
  }

  #schedule(): void {
    if (this.#timer || this.#closed || this.#waiting.size === 0) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#tick().finally(() => this.#schedule())
    }, this.pollingIntervalMs)
  }

  async #direct(keys: string[]): Promise<void> {
    await Promise.all(
      keys.map(async (key) => {
        try {
          const raw = await this.rpc.request<unknown>('eth_getTransactionReceipt', [key])
          if (raw) this.#settle(key, formatTransactionReceipt(raw as never) as TransactionReceipt)
        } catch {
          // Not mined yet (TransactionReceiptNotFoundError) or no endpoint answered: the next tick tries again.
        }
      }),
    )
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#waiting.size === 0) return
    this.#ticking = true
    try {
      const head = BigInt(await this.rpc.request<Hex>('eth_blockNumber', []))
      if (this.#last === undefined || head - this.#last > BigInt(MAX_BLOCKS_PER_TICK) || !this.#blockReceipts) {
        if (this.#last === undefined || head !== this.#last) await this.#direct([...this.#waiting.keys()])
        this.#last = head
        return
      }
      for (let b = this.#last + 1n; b <= head; b++) {
        let raw: unknown[] | null
        try {
          raw = await this.rpc.request<unknown[] | null>('eth_getBlockReceipts', [`0x${b.toString(16)}`])
        } catch (err) {
          if (/not (found|supported|available)|does not exist|method/i.test(String((err as Error)?.message))) {
            // The node lacks eth_getBlockReceipts: look up the awaited hashes one by one from now on.
            this.#blockReceipts = false
            await this.#direct([...this.#waiting.keys()])
            this.#last = head
            return
          }
          throw err
        }
        for (const r of raw ?? []) {
          const key = String((r as { transactionHash?: string }).transactionHash).toLowerCase()
          if (this.#waiting.has(key)) this.#settle(key, formatTransactionReceipt(r as never) as TransactionReceipt)
        }
        this.#last = b
      }
    } catch {
      // Transient RPC failure: the next tick retries (timeouts bound every wait).
    } finally {
      this.#ticking = false
    }
  }
}
