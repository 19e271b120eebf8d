import type { TrustedKey } from '../ap2/verifyMandateChain.js'
import type { CatalogSource } from './catalog.js'
import type { EcPrivateJwk } from './httpSignatures.js'

/** The protocol version this adapter implements (the wire contract). */
export const UCP_VERSION = '2026-04-08'

/** Capability names (DIGEST §2, §6.6, §8, §12). */
export const CAP = {
  checkout: 'dev.ucp.shopping.checkout',
  order: 'dev.ucp.shopping.order',
  fulfillment: 'dev.ucp.shopping.fulfillment',
  discount: 'dev.ucp.shopping.discount',
  buyerConsent: 'dev.ucp.shopping.buyer_consent',
  ap2: 'dev.ucp.shopping.ap2_mandate',
} as const

/**
 * A payment handler we advertise. Platforms quote its `id` as `handler_id`; we route by that id to
 * a canonical instrument and rail (never by `credential.type`, DIGEST §18.10).
 */
export type UcpHandlerConfig =
  | {
      kind: 'evm.eip3009'
      /** Instance id (`handler_id`). */
      id: string
      /** Handler spec name (reverse-DNS key in `payment_handlers`). Default `dev.agentswitch.evm_eip3009`. */
      name?: string | undefined
      /** CAIP-2 network, e.g. `eip155:31337`. */
      network: string
      /** CAIP-19 asset id of the settlement token (must be configured on the EVM rail). */
      asset: string
      /** Token decimals (the checkout's minor units are scaled to them). */
      tokenDecimals: number
      /** Merchant receiving address. */
      payTo: string
      /** EIP-712 domain the payer signs (advertised in the handler config). */
      tokenName?: string | undefined
      tokenVersion?: string | undefined
    }
  | {
      /** Alipay withholding agreement pay: `credential.token` is the buyer's agreement_no. Checkout currency must be one Alipay settles (CNY). */
      kind: 'alipay.agreement'
      id: string
      /** Default `dev.agentswitch.alipay.agreement` (the same handler as ACP). */
      name?: string | undefined
    }
  | {
      /** TESTING ONLY: approves `success_token`, declines `fail_token` (the official suite's handler). */
      kind: 'mock'
      id: string
      name?: string | undefined
    }
  | {
      /** Scoped single-use tokens (issue 10, T): `credential.token` is a `gwt_…` token; charged on its wallet's funding instrument. */
      kind: 'gateway.token'
      id: string
      /** Default `com.agentswitch.gateway_token`. */
      name?: string | undefined
    }

/** Options of {@link ucpMount}. Money is always integer minor units of `currency`. */
export interface UcpOptions {
  /** The merchant the checkouts and intents belong to (must exist in the gateway config). */
  merchantId: string
  /** Public origin of the gateway, e.g. `https://gw.example.com` (endpoint, permalinks, webhook UCP-Agent). */
  publicBaseUrl: string
  /** REST base path (no trailing slash). Default `/ucp/v1`. */
  basePath?: string | undefined
  /** ISO 4217 currency of every checkout. Default `USD`. */
  currency?: string | undefined
  /** Exponent of `currency` (USD 2). Default 2. */
  currencyExponent?: number | undefined
  /** Our ES256 key: signs responses, webhooks and `ap2.merchant_authorization`. Published in `signing_keys`. */
  signingKey: EcPrivateJwk
  /** The catalogue: a {@link CatalogSource} (static, or the shared ACP catalog port read per request). */
  catalog: CatalogSource
  handlers: readonly UcpHandlerConfig[]
  /** Legal links on every checkout (`links[]` is required). */
  links?: ReadonlyArray<{ type: string; url: string; title?: string | undefined }> | undefined
  negotiation?: {
    /**
     * Lenient mode (off by default): a platform profile that is missing, unreachable, in an older
     * shape or lacks the checkout capability still gets our capabilities. For testers only.
     */
    lenient?: boolean | undefined
    /** Allow `http:` profile URLs on loopback hosts (local testing). Default false. */
    allowInsecureLocalhost?: boolean | undefined
    /** Profile fetch deadline. Default 3000 ms. */
    fetchTimeoutMs?: number | undefined
    /** Cache TTL floor for fetched profiles. Default 60 000 ms (the spec minimum). */
    cacheTtlMs?: number | undefined
  } | undefined
  /** Enable `/testing/simulate-shipping/{id}` guarded by this `Simulation-Secret`. Off when undefined. */
  simulationSecret?: string | undefined
  /**
   * The AP2 mandate extension (`dev.ucp.shopping.ap2_mandate`): advertised when enabled; once
   * negotiated every checkout response carries `ap2.merchant_authorization` and complete requires
   * `ap2.checkout_mandate` + the payment mandate in `credential.token`, verified by the shared AP2
   * verifier (`adapters/protocols/ap2`). The mandate's `checkout_jwt` is our
   * `merchant_authorization` with the JCS checkout re-attached as its payload.
   */
  ap2?: {
    enabled: boolean
    /** Root signers of mandate chains (users / Trusted Surfaces, agent providers). */
    trustedKeys?: readonly TrustedKey[] | undefined
    /** Our AP2 merchant identity (`payee.id` of payment mandates). */
    payee?: { id: string; name: string; website?: string | undefined } | undefined
    /** `aud` values a key-binding hop may name. Default `[publicBaseUrl]`. */
    audiences?: readonly string[] | undefined
  } | undefined
  /** Checkout TTL. Default 6 h. */
  checkoutTtlMs?: number | undefined
  clock?: (() => Date) | undefined
}
