import type { FxQuote as CanonicalFxQuote, Money } from '../intent/types.js'

/** A mid-market rate for one pair, as a source reports it (before the gateway's spread). */
export interface FxRate {
  /** The asset converted from (the price asset). */
  from: string
  /** The asset converted into (the payer's / the rail's settlement asset). */
  to: string
  /** Units of `to` per unit of `from`, an exact decimal string (never a float). */
  rate: string
  /** The source's name (`table`, `http:<host>`), recorded in the quote. */
  source: string
}

/**
 * The FX-source port: where mid rates come from. The gateway ships a configured rate table
 * ({@link createTableFxSource}) and an HTTP source ({@link createHttpFxSource}); a source answers
 * `undefined` for a pair it does not know and throws `GW_FX_UNAVAILABLE` when it cannot answer now.
 */
export interface FxSource {
  readonly name: string
  rate(params: { from: string; to: string; signal?: AbortSignal | undefined }): Promise<FxRate | undefined>
}

/** A quote as the intent records it (`fx_quote`): the canonical fields plus its id. */
export type FxQuote = CanonicalFxQuote & { id: string }

/** Makes quotes: a source, the spread and how long a quote holds. */
export interface FxQuoter {
  /** Quote `from` → `to` now: the source's rate with the spread, valid for the configured TTL. */
  quote(params: { from: string; to: string; signal?: AbortSignal | undefined }): Promise<FxQuote>
  /** Whether a recorded quote may still be used at `now`. */
  isFresh(quote: { expires_at: string }, now?: Date): boolean
  /** `amount` (in `quote.from`) in `quote.to` at the quote's rate: integer minor units, half up. */
  convert(amount: Money, quote: FxQuote): Money
}
