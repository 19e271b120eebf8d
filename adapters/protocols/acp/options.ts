import type { CatalogPort, HttpCatalogOptions } from './catalog.js'

/** The EIP-3009 stablecoin handler: the agent signs `transferWithAuthorization` to `payTo`. */
export interface AcpEip3009HandlerOptions {
  /** CAIP-2 network, e.g. `eip155:31337`. */
  network: string
  /** Token contract address. */
  tokenAddress: string
  /** Token decimals (6 for USDC-like tokens). */
  decimals: number
  /** EIP-712 domain the payer signs (`name`, `version`). */
  eip712: { name: string; version: string }
  /** The merchant's receiving address. */
  payTo: string
  /**
   * The session currency this token settles at par (default `usd`). A USD-pegged token settles a
   * `usd` session 1:1 (minor units scaled by decimals); other currencies are not offered this handler.
   */
  currency?: string | undefined
  /** Rail family (default `evm`). */
  rail?: string | undefined
}

export interface AcpMountOptions {
  /** The merchant this ACP surface sells for (its sessions, orders, intents and webhooks). */
  merchantId: string
  /** Merchant id agents put into `allowance.merchant_id` (handler `config.merchant_id`); default `merchantId`. */
  pspMerchantId?: string | undefined
  /** Catalog (default: the embedded demo JSON catalog). */
  catalog?: CatalogPort | undefined
  /** The merchant's backend as the catalog (built at mount time with the gateway's breaker registry); wins over `catalog`. */
  httpCatalog?: Omit<HttpCatalogOptions, 'breakers'> | undefined
  /** Absolute base for `order.permalink_url` (default `${server.publicUrl or http://127.0.0.1:port}/acp/orders/`). */
  orderUrlBase?: string | undefined
  /** Absolute public base URL of this gateway (handler config `delegate_payment_url`). Default: `config.server.publicUrl`. */
  publicUrl?: string | undefined
  /** Session lifetime (default 3600 s). */
  sessionTtlSec?: number | undefined
  handlers?: {
    /** Our delegate-payment vault tokens, charged on the Antom-style card rail. */
    card?: { rail?: string | undefined; brands?: string[] | undefined } | undefined
    eip3009?: AcpEip3009HandlerOptions | undefined
    /** Alipay agreement (代扣): the credential token is the agreement number. */
    alipayAgreement?: { rail?: string | undefined; currencies?: string[] | undefined } | undefined
    /** Scoped single-use tokens (`gwt_…`, issue 10 T): needs the gateway's `tokens` section; charged on the token wallet's funding instrument. */
    gatewayToken?: Record<string, never> | undefined
  }
  /** The delegate-payment vault (PSP role). Without it, the vault endpoint answers 404 and the card handler is not offered. */
  vault?: { encryptionKey: string; keyId?: string | undefined } | undefined
  /**
   * Order webhooks (`order_create` / `order_update`) go through the outbox to this destination
   * name (default `merchant:<merchantId>`, i.e. the merchant's configured webhook URL and secret).
   * Set `false` to send none.
   */
  webhookDestination?: string | false | undefined
  /**
   * Agents that receive their own order webhooks (ACP's agentic_checkout_webhook): agent id → URL
   * and shared secret. Their events are signed `Merchant-Signature: t=…,v1=HMAC-SHA256(secret,
   * t + "." + raw body)` and delivered through the outbox; other agents' orders go to
   * `webhookDestination`.
   */
  agentWebhooks?: Readonly<Record<string, { url: string; secret: string }>> | undefined
  /**
   * Request signing (DIGEST §2, §12.7): agents with a secret here must send `Timestamp` (RFC 3339)
   * and `Signature` = base64url(HMAC-SHA256(secret, timestamp + "." + raw body)).
   */
  requestSigning?: { secrets: Readonly<Record<string, string>>; toleranceSec?: number | undefined } | undefined
  /** Test clock. */
  clock?: (() => Date) | undefined
}
