import type { TrustedMerchant } from './checkout.js'
import type { Es256PublicJwk } from './jose.js'
import type { Es256PrivateJwk } from './receipts.js'
import type { MandateLedger, OtpProvider } from './state.js'

/** A trusted public key as configured. */
export interface JwkEntry {
  /** Defaults to the JWK's own `kid`; its RFC 7638 thumbprint always matches too. */
  kid?: string | undefined
  jwk: Es256PublicJwk
}

/** A merchant the gateway processes AP2 payments for. */
export interface Ap2MerchantOptions {
  /** The gateway merchant id (`merchants[].id`): the canonical intent's `merchant_id`. */
  merchantId: string
  /** Its AP2 identity: matched against `payee.id`, `checkout.merchant.id` and allow-lists. */
  payee: { id: string; name: string; website?: string | undefined }
  /** Keys it signs `checkout_jwt` with. */
  checkoutKeys: JwkEntry[]
  /** Receiving wallet per CAIP-2 network (`eip155:8453` → `0x…`), for x402 payments. */
  payTo?: Record<string, string> | undefined
}

/** Options of {@link ap2Mount} (config section `ap2`, secrets resolved). */
export interface Ap2MountOptions {
  /** Where the REST and A2A surfaces live (default `/ap2`). */
  basePath?: string | undefined
  /**
   * `iss` of receipts and this verifier's default `aud`. Default: `server.publicUrl`, else
   * `http://<host>:<port>`. Set it explicitly when the port is chosen at run time.
   */
  issuer?: string | undefined
  /** `aud` values a key-binding hop may name (default `[issuer]`). */
  audiences?: string[] | undefined
  /** The receipt signing key (P-256 private JWK). Published at `/.well-known/ap2/jwks.json`. */
  receiptKey: Es256PrivateJwk & { kid?: string | undefined }
  /** Root signers. */
  trust: { users?: JwkEntry[] | undefined; agentProviders?: JwkEntry[] | undefined }
  merchants: Ap2MerchantOptions[]
  /** Which AP2 `payment_instrument.type`s are settled, and on which rail. */
  instruments?:
    | {
        /** `alipay.agreement`: `id` is the withholding agreement number (Alipay rail). Default enabled. */
        alipayAgreement?: { enabled?: boolean | undefined; rail?: string | undefined } | undefined
        /**
         * `x402`: an EIP-3009 authorisation bound to the mandate, settled on the EVM rail. `tokens`
         * says which token pays which fiat currency 1:1 (a stablecoin peg; no FX).
         */
        x402?: { enabled?: boolean | undefined; rail?: string | undefined; tokens?: Array<{ asset: string; currency: string }> | undefined } | undefined
      }
    | undefined
  /** Presentation nonces: `issued` (default) or `unique`; `secret` is needed when several instances share the work. */
  nonces?: { mode?: 'issued' | 'unique' | undefined; ttlSeconds?: number | undefined; secret?: string | undefined } | undefined
  /** OTP step-up for payments at or above a threshold (minor units per currency). x402 payments skip it. */
  stepUp?: { amountAtLeast: Record<string, string>; otp: OtpProvider; maxAttempts?: number | undefined } | undefined
  /** AP2 v0.1 JSON mandates: refused unless `acceptUnauthenticated` (they carry no verifiable signature). */
  v01?: { acceptUnauthenticated?: boolean | undefined } | undefined
  clockSkewSeconds?: number | undefined
  maxPresentationAgeSeconds?: number | undefined
  agentCard?: { name?: string | undefined; description?: string | undefined } | undefined
  /** Spend ledger of open mandates (default: the store's; an in-process one only if the store lacks it). */
  ledger?: MandateLedger | undefined
  /** Injected clock (tests). */
  clock?: (() => Date) | undefined
}

/** Trusted merchants for the pure verifier. */
export function trustedMerchants(merchants: readonly Ap2MerchantOptions[]): TrustedMerchant[] {
  return merchants.map((m) => ({ payee: m.payee, keys: m.checkoutKeys }))
}
