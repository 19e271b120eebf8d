import type { IntentInstrument, Money, PaymentIntent } from '../intent/types.js'

/**
 * The outbound rail port (CONVENTIONS "What our gateway should take" §3–5). A rail family
 * (`evm`, `alipay`, `antom`) implements it in `adapters/rails/<family>` and is registered with the
 * gateway by an explicit call in the composition root, never on import.
 *
 * Outcomes are values: a decline is `{ status: 'declined' }`, never an exception. A thrown error
 * means the call's outcome is **unknown** (network error, timeout, 5xx): the caller must
 * reconcile with {@link RailAdapter.query} before anything else, never retry blind.
 */
export interface RailAdapter<Credential = unknown> {
  /** Rail family id, e.g. `evm`, `alipay`, `antom`. */
  readonly rail: string
  /** Instruments this rail can settle. */
  readonly instruments: readonly IntentInstrument['type'][]
  /**
   * Check a credential before money moves (signature, window, balance, nonce unused) without
   * changing any state. Optional: rails whose only check is the charge itself omit it.
   */
  verify?(params: RailVerifyParams<Credential>): Promise<RailVerifyResult>
  /**
   * Move money. `idempotencyKey` is fixed before the first attempt and reused by every retry and
   * reconciliation, so the rail can never charge twice for one intent.
   */
  settle(params: RailSettleParams<Credential>): Promise<RailOutcome>
  /** What happened to the settlement with this idempotency key (reconciliation). */
  query(params: RailQueryParams): Promise<RailOutcome>
  /**
   * Refund (part of) a settled payment. `refundKey` is the refund's own idempotency key (the
   * gateway's refund id), fixed before the first attempt: sending it again never moves money twice.
   */
  refund?(params: RailRefundParams): Promise<RailRefundOutcome>
  /**
   * What happened to the refund with this key (reconciliation of an unknown refund outcome):
   * `not_found` means the rail has no record of it, so nothing moved and the same key may be sent again.
   */
  queryRefund?(params: RailRefundQueryParams): Promise<RailRefundQueryOutcome>
  /** Release connections and timers (the gateway calls it on shutdown). */
  close?(): Promise<void> | void
}

export interface RailVerifyParams<Credential> {
  intent: PaymentIntent
  /** The secret credential (signature, agreement, vault card): passed through, never stored in the intent. */
  credential: Credential
  /** What the rail must move (the intent amount, or its FX-converted settlement amount). */
  amount: Money
}

export type RailVerifyResult = { ok: true; payer?: string | undefined } | { ok: false; reason: string; message?: string | undefined }

export interface RailSettleParams<Credential> extends RailVerifyParams<Credential> {
  idempotencyKey: string
  /** Routing's endpoint names for this send, in order (core/routing); the rail's own order when absent. */
  endpoints?: readonly string[] | undefined
  signal?: AbortSignal | undefined
}

export interface RailQueryParams {
  intent: PaymentIntent
  idempotencyKey: string
  /** The rail reference known so far (a broadcast tx hash, a trade number). */
  reference?: string | undefined
  signal?: AbortSignal | undefined
}

/**
 * - `succeeded`: money moved; `reference` is the rail's id (tx hash, trade_no).
 * - `declined`: a definitive no (insufficient funds, bad signature); never a rail failure, never failed over.
 * - `unknown`: the rail may or may not have moved money (timeout, 20000, `U`, receipt not yet seen);
 *   `reference` is kept so reconciliation can finish it.
 * - `not_found` (query only): the rail has no record of this key: nothing moved.
 */
export type RailOutcome =
  | { status: 'succeeded'; reference: string; settledAt: string; endpoint?: string | undefined; fee?: Money | undefined; payer?: string | undefined }
  | { status: 'declined'; code: string; message?: string | undefined; endpoint?: string | undefined }
  | { status: 'unknown'; code: string; reference?: string | undefined; endpoint?: string | undefined }
  | { status: 'not_found'; endpoint?: string | undefined }

export interface RailRefundParams {
  intent: PaymentIntent
  amount: Money
  refundKey: string
  reason?: string | undefined
  signal?: AbortSignal | undefined
}

export type RailRefundOutcome =
  | { status: 'succeeded'; reference: string; refundedAt: string }
  | { status: 'declined'; code: string; message?: string | undefined }
  | { status: 'unknown'; code: string; reference?: string | undefined }

export interface RailRefundQueryParams {
  intent: PaymentIntent
  refundKey: string
  /** The rail reference known so far (a broadcast refund transaction hash). */
  reference?: string | undefined
  signal?: AbortSignal | undefined
}

export type RailRefundQueryOutcome = RailRefundOutcome | { status: 'not_found' }

/** Rails by family id: the composition root fills it; routing reads it. */
export class RailRegistry {
  readonly #rails = new Map<string, RailAdapter>()

  register(rail: RailAdapter): this {
    if (this.#rails.has(rail.rail)) throw new Error(`rail ${rail.rail} is already registered`)
    this.#rails.set(rail.rail, rail)
    return this
  }

  get(rail: string): RailAdapter | undefined {
    return this.#rails.get(rail)
  }

  /** Rails able to settle an instrument, in registration order. */
  forInstrument(instrument: IntentInstrument['type']): RailAdapter[] {
    return [...this.#rails.values()].filter((r) => r.instruments.includes(instrument))
  }

  list(): RailAdapter[] {
    return [...this.#rails.values()]
  }
}
