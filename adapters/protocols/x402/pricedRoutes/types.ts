/**
 * Priced routes: the pay-per-call surface (DESIGN §1). A route is a method + path pattern with a
 * price, a payee and an upstream. Nothing here is x402-specific: each payment protocol is an
 * {@link OfferProvider} that adds its part to the ONE 402 of an unpaid call (x402's
 * `PAYMENT-REQUIRED` and v1 body today; MPP's `WWW-Authenticate: Payment` in issue 9) and takes a
 * paid call to its end when the request carries its credential.
 */
import type { Request } from 'express'
import type { Money } from '../../../../core/intent/types.js'

/** A priced route as configured (`x402.routes[]`, `adapters/protocols/x402/config.schema.json`). */
export interface PricedRouteConfig {
  /** Stable id (idempotency scope, logs); default `METHOD path`. */
  id?: string | undefined
  /** `GET` (default), `POST`, … or `*` for any method. */
  method?: string | undefined
  /** `/paid/weather`, `/paid/users/:id`, `/paid/files/*` (the rest of the path goes upstream). */
  path: string
  /** The merchant the payments belong to (`merchants[].id`). */
  merchantId: string
  /** Integer minor units of an asset in the registry (CAIP-19 for tokens). */
  price: { amount: string; asset: string }
  /** The address that receives the payment. */
  payTo: string
  description: string
  /** What the upstream answers (default `application/json`). */
  mimeType?: string | undefined
  upstream: {
    /** Where the paid call goes (the request's query string is appended; a `/*` route appends the rest of the path). */
    url: string
    /** Headers and body timeout of the upstream call (default 10 s). */
    timeoutMs?: number | undefined
    /** Extra headers sent upstream (e.g. the upstream's own API key). */
    headers?: Readonly<Record<string, string>> | undefined
    /** Largest upstream answer accepted, bytes (default 10 MiB). */
    maxResponseBytes?: number | undefined
  }
  /**
   * `before`: settle, then call the upstream (the x402 `upfront` flow). `after` (default): verify,
   * call the upstream, settle only when it answered < 400 (the `authorization` flow): a failed
   * upstream call is never charged.
   */
  settle?: 'before' | 'after' | undefined
  /** x402 `maxTimeoutSeconds` (default 300, as the SDK server). */
  maxTimeoutSeconds?: number | undefined
  /** The x402 `payment-identifier` extension: `optional` (default), `required`, or `off`. */
  paymentIdentifier?: 'off' | 'optional' | 'required' | undefined
  /** The public URL of the resource in offers (default: the request's URL). */
  resourceUrl?: string | undefined
}

/** A route compiled at start-up. */
export interface PricedRoute {
  id: string
  method: string
  pattern: string
  regex: RegExp
  /** The route ends in `/*`: the matched rest of the path goes upstream. */
  wildcard: boolean
  merchantId: string
  price: Money
  payTo: string
  description: string
  mimeType: string
  upstream: { url: string; timeoutMs: number; headers: Readonly<Record<string, string>>; maxResponseBytes: number }
  settle: 'before' | 'after'
  maxTimeoutSeconds: number
  paymentIdentifier: 'off' | 'optional' | 'required'
  resourceUrl?: string | undefined
}

/** A complete HTTP answer, as a value (idempotent replays store and resend it byte for byte). */
export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** What one provider adds to the 402 of an unpaid (or refused) call. */
export interface OfferChallenge {
  headers: Record<string, string>
  /** A body for the 402 (at most one provider's is used: the first in provider order that offers one). */
  body?: { contentType: string; bytes: Buffer } | undefined
}

/** The upstream's answer, buffered; or why there is none. */
export type UpstreamResult =
  | { ok: true; status: number; headers: Record<string, string>; body: Buffer; durationMs: number }
  | { ok: false; reason: 'timeout' | 'unreachable' | 'too_large'; message: string; durationMs: number }

/** One request to a priced route, as providers see it. */
export interface PricedCall {
  readonly req: Request
  readonly route: PricedRoute
  /** The resource's public URL (for offers). */
  readonly resourceUrl: string
  /** The request body bytes (read once, sent upstream as they came). */
  readonly body: Buffer | undefined
  /** Call the upstream once (undici, timeouts, size cap), buffered. */
  callUpstream(extraHeaders?: Readonly<Record<string, string>>): Promise<UpstreamResult>
  /**
   * The 402 (or `status`) carrying every provider's offer; provider `from` gets `error` (its
   * refusal reason) in its own part, the others offer as for an unpaid call.
   */
  challenge(options?: { status?: number | undefined; from?: string | undefined; error?: string | undefined; headers?: Readonly<Record<string, string>> | undefined }): HttpAnswer
  /**
   * Take the single delivery of payment `paymentKey` (across gateway instances, until `until`):
   * `false` when it was delivered already (a replay).
   */
  claimDelivery(paymentKey: string, until: Date): Promise<boolean>
  /** Give a delivery back (the upstream failed after the money moved: the same payment may fetch again). */
  releaseDelivery(paymentKey: string): Promise<void>
}

/**
 * A payment protocol on priced routes. Registered by the mount in order; the 402 of an unpaid call
 * has every provider's part. Detection is a cheap guard on headers, no I/O.
 */
export interface OfferProvider {
  /** `x402`, `mpp`. */
  readonly id: string
  /** This provider's part of the 402 for `call`; `error` is set when this provider refused the call. */
  challenge(call: PricedCall, error?: string): OfferChallenge
  /** Whether the request carries this provider's credential. */
  detect(req: Request): boolean
  /** Take a paid call to its end (verify, pay, deliver or refuse) and say what to answer. */
  handle(call: PricedCall): Promise<HttpAnswer>
}
