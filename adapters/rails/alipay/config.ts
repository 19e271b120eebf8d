import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import type { IntentInstrument } from '../../../core/intent/types.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { fromRoot } from '../../../core/util/paths.js'
import type { BreakerOptions } from '../shared/breakers.js'
import type { PrivateKeyFormat } from './keys.js'

/** One endpoint of a rail: a name (the breaker's `endpoint` label) and its base URL. */
export interface RailEndpointConfig {
  /** `primary`, `secondary`, … — shown in `/metrics` as `agentswitch_breaker_state{rail,endpoint}`. */
  name: string
  /**
   * Alipay: the origin (`https://openapi.alipay.com`) or the full v2 gateway URL
   * (`…/gateway.do`); v2 calls go to `/gateway.do`, v3 calls to `/v3/…` on the same origin.
   * Antom: the origin (`https://open-sea-global.alipay.com`).
   */
  url: string
}

/**
 * Options of the Alipay Open Platform rail (config `rails.alipay`, secrets resolved). Real
 * production values: endpoints `https://openapi.alipay.com` (and a second route/region as
 * fallback), your 2021… app id, the app private key (PKCS#1 or PKCS#8, PEM or bare base64) and the
 * Alipay public key from the console.
 */
export interface AlipayRailOptions {
  /** Rail id (default `alipay`). */
  rail?: string | undefined
  appId: string
  /** The app's private key: PKCS#1 or PKCS#8, PEM or bare base64. Never logged. */
  privateKey: string
  privateKeyFormat?: PrivateKeyFormat | undefined
  /** Alipay's public key (NOT the app's): verifies every answer and notification. */
  alipayPublicKey: string
  /** One or more endpoints in preference order, each behind its own breaker (two recommended). */
  endpoints: RailEndpointConfig[]
  /** Wire dialect (default `v2`, what Alipay's own samples use). */
  protocol?: 'v2' | 'v3' | undefined
  /** Where Alipay posts notifications: the gateway's `/rails/alipay/notify`. */
  notifyUrl?: string | undefined
  /** ISV mode: act for a merchant. Never logged. */
  appAuthToken?: string | undefined
  /** The merchant's Alipay user id (2088…): when set, notifications must carry it as `seller_id`. */
  sellerId?: string | undefined
  /** Trade `subject` when the intent has no line item title (default `agentswitch payment`). */
  subject?: string | undefined
  /** `product_code` of withholding pay (default `GENERAL_WITHHOLDING`). */
  productCode?: string | undefined
  /** Per-call timeout (default 5000 ms). */
  timeoutMs?: number | undefined
  /** Sends of one settlement per `settle` call, each after a query proved nothing moved (default 2). */
  maxPayAttempts?: number | undefined
  /** Prefix of every `out_trade_no` / `out_request_no` (gateways sharing one app id). */
  outTradeNoPrefix?: string | undefined
  breaker?: BreakerOptions | undefined
}

/** Options of the Antom-style cross-border rail (config `rails.antom`, secrets resolved). */
export interface AntomRailOptions {
  /** Rail id (default `antom`). */
  rail?: string | undefined
  clientId: string
  /** The merchant private key: PKCS#1 or PKCS#8, PEM or bare base64. Never logged. */
  privateKey: string
  privateKeyFormat?: PrivateKeyFormat | undefined
  /** Antom's public key: verifies every answer and notification. */
  antomPublicKey: string
  /** `keyVersion` of the Signature header (default `1`). */
  keyVersion?: string | undefined
  endpoints: RailEndpointConfig[]
  /** `/ams/api` (default) or `/ams/sandbox/api` (test-mode client ids). */
  pathPrefix?: string | undefined
  /** The gateway's `/rails/antom/notify`. */
  notifyUrl?: string | undefined
  /** `productCode` (default `AGREEMENT_PAYMENT`: a stored card / wallet token, no buyer redirect). */
  productCode?: string | undefined
  timeoutMs?: number | undefined
  maxPayAttempts?: number | undefined
  requestIdPrefix?: string | undefined
  /** Instruments this rail takes (default `['card.vault_token']`). */
  instruments?: Array<IntentInstrument['type']> | undefined
  breaker?: BreakerOptions | undefined
}

/** A secret in the config file: a literal (development) or `{ env: NAME }`. */
export type SecretRef = string | { env: string }

type Raw = Record<string, unknown>

let validate: ReturnType<Ajv2020['compile']> | undefined

/**
 * Validate `rails.alipay` / `rails.antom` (the fragment `schemas/config/rails-alipay.json`, which
 * core/config/schema.json references by $id; defaults applied) and resolve their secrets from `env`.
 *
 * @example parseAlipayRailsConfig({ alipay: { appId, privateKey: { env: 'ALIPAY_APP_PRIVATE_KEY' }, … } }, process.env)
 */
export function parseAlipayRailsConfig(raw: unknown, env: Readonly<Record<string, string | undefined>>): { alipay?: AlipayRailOptions; antom?: AntomRailOptions } {
  if (!validate) {
    const schema = JSON.parse(readFileSync(fromRoot('schemas', 'config', 'rails-alipay.json'), 'utf8')) as object
    validate = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(schema)
  }
  const data = structuredClone(raw ?? {}) as Raw
  if (!validate(data)) {
    const msg = (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`).join('; ')
    throw new GatewayError('GW_CONFIG_INVALID', `rails config: ${msg}`)
  }
  const secret = (ref: SecretRef | undefined, path: string): string | undefined => {
    if (ref === undefined) return undefined
    if (typeof ref === 'string') return ref
    const v = env[ref.env]
    if (v === undefined || v === '') throw new GatewayError('GW_CONFIG_INVALID', `${path}: environment variable ${ref.env} is not set`)
    return v
  }
  const out: { alipay?: AlipayRailOptions; antom?: AntomRailOptions } = {}
  if (data['alipay']) {
    const a = data['alipay'] as Raw
    // The single-URL form (`gateway`) is one endpoint named `primary`.
    const { gateway, ...rest } = a
    if (!rest['endpoints'] && typeof gateway === 'string') rest['endpoints'] = [{ name: 'primary', url: gateway }]
    out.alipay = {
      ...(rest as unknown as AlipayRailOptions),
      privateKey: secret(a['privateKey'] as SecretRef, 'rails.alipay.privateKey')!,
      alipayPublicKey: secret(a['alipayPublicKey'] as SecretRef, 'rails.alipay.alipayPublicKey')!,
      appAuthToken: secret(a['appAuthToken'] as SecretRef | undefined, 'rails.alipay.appAuthToken'),
    }
  }
  if (data['antom']) {
    const a = data['antom'] as Raw
    out.antom = {
      ...(a as unknown as AntomRailOptions),
      privateKey: secret(a['privateKey'] as SecretRef, 'rails.antom.privateKey')!,
      antomPublicKey: secret(a['antomPublicKey'] as SecretRef, 'rails.antom.antomPublicKey')!,
    }
  }
  return out
}
