import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { fromRoot } from '../../../core/util/paths.js'
import { createJsonCatalog } from './catalog.js'
import type { AcpMountOptions } from './options.js'
import { parseVaultKey } from './vault.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

type Secret = string | { env: string }

/** The `acp` config section (`adapters/protocols/acp/config.schema.json`), as written in the file. */
export interface AcpConfigSection {
  enabled?: boolean
  merchantId: string
  pspMerchantId?: string
  catalog?: { file: string } | { url: string; token?: Secret; timeoutMs?: number; cacheMs?: number }
  publicUrl?: string
  orderUrlBase?: string
  sessionTtlSec?: number
  handlers?: AcpMountOptions['handlers']
  vault?: { encryptionKey: Secret; keyId?: string }
  webhookDestination?: string | false
  requestSigning?: { secrets: Record<string, Secret>; toleranceSec?: number }
}

/**
 * Validate an `acp` config section against `config.schema.json`, resolve its `{ env }` secrets from
 * `env` (never `process.env` here) and return the mount options, or `undefined` when disabled.
 * Every problem is reported at once with its path (`acp.vault.encryptionKey: …`).
 */
export function parseAcpConfig(raw: unknown, env: Readonly<Record<string, string | undefined>>): AcpMountOptions | undefined {
  const schema = JSON.parse(readFileSync(fromRoot('schemas', 'config', 'acp.json'), 'utf8')) as object
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  addFormats(ajv)
  const validate = ajv.compile(schema)
  const problems: string[] = []
  if (!validate(raw)) for (const e of validate.errors ?? []) problems.push(`acp${e.instancePath.replace(/\//g, '.')}: ${e.message ?? 'is invalid'}`)
  if (problems.length) throw new GatewayError('GW_CONFIG_INVALID', problems.join('; '))
  const c = raw as AcpConfigSection
  if (c.enabled === false) return undefined
  const secret = (s: Secret, path: string): string => {
    if (typeof s === 'string') return s
    const v = env[s.env]
    if (v === undefined || v === '') problems.push(`${path}: environment variable ${s.env} is not set`)
    return v ?? ''
  }
  const out: AcpMountOptions = { merchantId: c.merchantId }
  if (c.pspMerchantId) out.pspMerchantId = c.pspMerchantId
  if (c.publicUrl) out.publicUrl = c.publicUrl
  if (c.orderUrlBase) out.orderUrlBase = c.orderUrlBase
  if (c.sessionTtlSec) out.sessionTtlSec = c.sessionTtlSec
  if (c.handlers) out.handlers = c.handlers
  if (c.webhookDestination !== undefined) out.webhookDestination = c.webhookDestination
  if (c.vault) {
    const key = secret(c.vault.encryptionKey, 'acp.vault.encryptionKey')
    if (key) {
      try {
        parseVaultKey(key)
      } catch (e) {
        problems.push(`acp.vault.encryptionKey: ${(e as Error).message}`)
      }
    }
    out.vault = { encryptionKey: key, ...(c.vault.keyId ? { keyId: c.vault.keyId } : {}) }
  }
  if (c.requestSigning) {
    out.requestSigning = {
      secrets: Object.fromEntries(Object.entries(c.requestSigning.secrets).map(([agent, s]) => [agent, secret(s, `acp.requestSigning.secrets.${agent}`)])),
      ...(c.requestSigning.toleranceSec ? { toleranceSec: c.requestSigning.toleranceSec } : {}),
    }
  }
  if (c.catalog && 'file' in c.catalog) out.catalog = createJsonCatalog({ fallback: JSON.parse(readFileSync(c.catalog.file, 'utf8')) })
  if (c.catalog && 'url' in c.catalog) {
    out.httpCatalog = {
      baseUrl: c.catalog.url,
      ...(c.catalog.token ? { token: secret(c.catalog.token, 'acp.catalog.token') } : {}),
      ...(c.catalog.timeoutMs ? { timeoutMs: c.catalog.timeoutMs } : {}),
      ...(c.catalog.cacheMs !== undefined ? { cacheMs: c.catalog.cacheMs } : {}),
    }
  }
  if (problems.length) throw new GatewayError('GW_CONFIG_INVALID', problems.join('; '))
  return out
}
