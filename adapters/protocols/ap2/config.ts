import { readFileSync } from 'node:fs'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { fromRoot } from '../../../core/util/paths.js'
import type { Ap2MountOptions, JwkEntry } from './options.js'
import { fixedCodeOtp, type OtpProvider } from './state.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
type SecretRef = string | { env: string }
let validate: ValidateFunction | undefined

/**
 * Validate the `ap2` config section against `schemas/config/ap2.json` (defaults applied), resolve its
 * secrets from `env` and return {@link ap2Mount} options. Throws `GW_CONFIG_INVALID` naming the
 * wrong field. `process.env` is never read here: the entry point passes it.
 *
 * @example
 * const mounts = config.ap2 ? [ap2Mount(parseAp2Config(rawConfig.ap2, process.env))] : []
 */
export function parseAp2Config(raw: unknown, env: Readonly<Record<string, string | undefined>>, extra: { otp?: OtpProvider | undefined } = {}): Ap2MountOptions {
  if (!validate) {
    const schema = JSON.parse(readFileSync(fromRoot('schemas', 'config', 'ap2.json'), 'utf8')) as object
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true })
    addFormats(ajv)
    validate = ajv.compile(schema)
  }
  const data = structuredClone(raw ?? {}) as Record<string, unknown>
  if (!validate(data)) {
    const msg = (validate.errors ?? []).filter((e: ErrorObject) => e.keyword !== 'oneOf').map((e: ErrorObject) => `ap2${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'}`)
    throw new GatewayError('GW_CONFIG_INVALID', `ap2 config: ${[...new Set(msg)].join('; ')}`)
  }
  const secret = (ref: SecretRef, path: string): string => {
    if (typeof ref === 'string') return ref
    const v = env[ref.env]
    if (v === undefined || v === '') throw new GatewayError('GW_CONFIG_INVALID', `${path}: environment variable ${ref.env} is not set`)
    return v
  }
  const c = data as {
    basePath: string
    issuer?: string
    audiences?: string[]
    receiptKey: { kid?: string; x: string; y: string; d: SecretRef }
    trust: { users: JwkEntry[]; agentProviders: JwkEntry[] }
    merchants: Ap2MountOptions['merchants']
    instruments?: Ap2MountOptions['instruments']
    nonces?: { mode: 'issued' | 'unique'; ttlSeconds: number; secret?: SecretRef }
    stepUp?: { amountAtLeast: Record<string, string>; otpCode: SecretRef; maxAttempts: number }
    v01?: { acceptUnauthenticated: boolean }
    clockSkewSeconds: number
    maxPresentationAgeSeconds: number
    agentCard?: { name?: string; description?: string }
  }
  const d = secret(c.receiptKey.d, 'ap2.receiptKey.d')
  if (!/^[A-Za-z0-9_-]{43}$/.test(d)) throw new GatewayError('GW_CONFIG_INVALID', 'ap2.receiptKey.d must be 43 base64url characters')
  return {
    basePath: c.basePath,
    issuer: c.issuer,
    audiences: c.audiences,
    receiptKey: { kty: 'EC', crv: 'P-256', x: c.receiptKey.x, y: c.receiptKey.y, d, kid: c.receiptKey.kid },
    trust: c.trust,
    merchants: c.merchants,
    instruments: c.instruments,
    nonces: c.nonces ? { mode: c.nonces.mode, ttlSeconds: c.nonces.ttlSeconds, secret: c.nonces.secret === undefined ? undefined : secret(c.nonces.secret, 'ap2.nonces.secret') } : undefined,
    stepUp: c.stepUp ? { amountAtLeast: c.stepUp.amountAtLeast, otp: extra.otp ?? fixedCodeOtp(secret(c.stepUp.otpCode, 'ap2.stepUp.otpCode')), maxAttempts: c.stepUp.maxAttempts } : undefined,
    v01: c.v01,
    clockSkewSeconds: c.clockSkewSeconds,
    maxPresentationAgeSeconds: c.maxPresentationAgeSeconds,
    agentCard: c.agentCard,
  }
}
