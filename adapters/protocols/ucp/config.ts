import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { fromRoot } from '../../../core/util/paths.js'
import type { TrustedKey } from '../ap2/verifyMandateChain.js'
import { FLOWER_SHOP, staticCatalog, type StaticCatalogConfig } from './catalog.js'
import type { EcPrivateJwk } from './httpSignatures.js'
import type { UcpHandlerConfig, UcpOptions } from './options.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
type Secret = string | { env: string }

/** The `ucp` config section as written (before secrets are resolved). */
export interface UcpConfigSection {
  merchantId: string
  publicBaseUrl?: string
  basePath?: string
  currency?: string
  currencyExponent?: number
  signingKey: Secret
  catalog?: { preset: 'flower_shop' } | StaticCatalogConfig
  handlers: UcpHandlerConfig[]
  links?: Array<{ type: string; url: string; title?: string }>
  negotiation?: UcpOptions['negotiation']
  simulationSecret?: Secret
  ap2?: { enabled: boolean; trustedKeys?: TrustedKey[]; payee?: { id: string; name: string; website?: string }; audiences?: string[] }
  checkoutTtlMs?: number
}

/** The JSON Schema fragment (`config.schema.json`). */
export function ucpConfigSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(fromRoot('schemas', 'config', 'ucp.json'), 'utf8')) as Record<string, unknown>
}

/**
 * Validate the `ucp` section and build {@link UcpOptions}: secrets from `env`, the signing key
 * parsed as a P-256 private JWK, the catalogue preset expanded. `publicUrl` (server.publicUrl)
 * is the default public origin. Throws GW_CONFIG_INVALID naming the path, never the secret.
 */
export function ucpOptionsFromConfig(raw: unknown, ctx: { env: Readonly<Record<string, string | undefined>>; publicUrl?: string | undefined }): UcpOptions {
  const ajv = new Ajv2020({ strict: false, allErrors: true, useDefaults: true })
  addFormats(ajv)
  const validate = ajv.compile(ucpConfigSchema())
  const section = structuredClone(raw)
  if (!validate(section)) {
    const e = validate.errors?.[0]
    throw new GatewayError('GW_CONFIG_INVALID', `ucp${e?.instancePath ?? ''}: ${e?.message ?? 'invalid'}`)
  }
  const s = section as UcpConfigSection
  const secret = (v: Secret, path: string): string => {
    if (typeof v === 'string') return v
    const value = ctx.env[v.env]
    if (!value) throw new GatewayError('GW_CONFIG_INVALID', `${path}: environment variable ${v.env} is not set`)
    return value
  }
  let key: EcPrivateJwk
  const keyText = secret(s.signingKey, 'ucp.signingKey')
  try {
    const j = JSON.parse(keyText) as Partial<EcPrivateJwk>
    if (j.kty !== 'EC' || j.crv !== 'P-256' || !j.x || !j.y || !j.d || !j.kid) throw new Error('shape')
    key = { kty: 'EC', crv: 'P-256', x: j.x, y: j.y, d: j.d, kid: j.kid }
  } catch {
    throw new GatewayError('GW_CONFIG_INVALID', 'ucp.signingKey must be a P-256 private JWK (JSON with kty, crv, x, y, d, kid)')
  }
  const publicBaseUrl = s.publicBaseUrl ?? ctx.publicUrl
  if (!publicBaseUrl) throw new GatewayError('GW_CONFIG_INVALID', 'ucp.publicBaseUrl (or server.publicUrl) is required')
  const catalogCfg = !s.catalog || 'preset' in s.catalog ? FLOWER_SHOP : s.catalog
  return {
    merchantId: s.merchantId,
    publicBaseUrl,
    ...(s.basePath ? { basePath: s.basePath } : {}),
    ...(s.currency ? { currency: s.currency } : {}),
    ...(s.currencyExponent !== undefined ? { currencyExponent: s.currencyExponent } : {}),
    signingKey: key,
    catalog: staticCatalog(catalogCfg),
    handlers: s.handlers,
    ...(s.links ? { links: s.links } : {}),
    ...(s.negotiation ? { negotiation: s.negotiation } : {}),
    ...(s.simulationSecret !== undefined ? { simulationSecret: secret(s.simulationSecret, 'ucp.simulationSecret') } : {}),
    ...(s.ap2 ? { ap2: s.ap2 } : {}),
    ...(s.checkoutTtlMs !== undefined ? { checkoutTtlMs: s.checkoutTtlMs } : {}),
  }
}
