import { createHash } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import YAML from 'yaml'
import { fromRoot } from '../util/paths.js'
import type { RiskConfig } from '../risk/rules.js'

/** A secret in the file: a literal (development) or a reference to an environment variable. */
export type SecretRef = string | { env: string }

/** An API key after loading: only its hash is kept. */
export interface ApiKeyConfig {
  id: string
  kind: 'admin' | 'merchant' | 'agent'
  principalId: string
  sha256: string
  scopes: string[]
}

/** The validated configuration with defaults applied and every secret resolved. */
export interface GatewayConfig {
  server: { host: string; port: number; publicUrl?: string; bodyLimitBytes: number; trustProxy: boolean; requestTimeoutMs: number }
  store:
    | { driver: 'sqlite'; sqlite: { path: string } }
    | { driver: 'postgres'; sqlite?: { path: string }; postgres: { url: string; poolSize: number; schema?: string } }
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' }
  idempotency: { ttlHours: number; leaseMs: number }
  outbox: {
    enabled: boolean
    pollIntervalMs: number
    batchSize: number
    concurrency: number
    leaseMs: number
    maxAttempts: number
    backoffBaseMs: number
    backoffMaxMs: number
    timeoutMs: number
  }
  reconciler: { enabled: boolean; intervalMs: number; minAgeMs: number }
  /** Finishes pending refunds (defaults applied by the schema; absent only in configs built by hand). */
  refundSweeper?: { enabled: boolean; intervalMs: number; minAgeMs: number; batch: number }
  /**
   * Settlement rails. `alipay` / `antom` are validated by their fragment (schemas/config/rails-alipay.json)
   * and their secrets resolved here; the rail adapter types them.
   */
  rails: { evm?: { chains: EvmChainSettings[] }; alipay?: Record<string, unknown>; antom?: Record<string, unknown> }
  /** AP2 verifier (schemas/config/ap2.json), secrets resolved; typed by the AP2 adapter. */
  ap2?: Record<string, unknown>
  /** x402 priced routes and facilitator (schemas/config/x402.json); typed by the x402 adapter. */
  x402?: Record<string, unknown>
  /** MPP on the priced routes (schemas/config/mpp.json), secrets resolved; typed by the MPP adapter (issue 9). */
  mpp?: Record<string, unknown>
  /** ACP (schemas/config/acp.json) and UCP (schemas/config/ucp.json), secrets resolved; typed by their adapters. */
  acp?: Record<string, unknown>
  ucp?: Record<string, unknown>
  apiKeys: ApiKeyConfig[]
  merchants: Array<{ id: string; name: string; webhook?: { url: string; secret: string }; category?: string; payTo?: string }>
  agents: Array<{ id: string; name?: string; userId?: string }>
  assets: Array<{ id: string; kind: 'fiat' | 'token'; decimals: number; symbol: string; name?: string; network?: string; address?: string }>
  dev: { webhookSink: boolean }
  // --- routing and FX (issue 10, R) ---
  /** Routing table and settlement assets (schemas/config/routing.json); typed by core/routing. */
  routing?: Record<string, unknown>
  /** FX quotes (schemas/config/routing.json), `apiKey` resolved; typed by core/fx. */
  fx?: Record<string, unknown>
  // --- wallets and budgets (issue 10, W) ---
  /** Where wallet threshold notifications go (secret resolved); absent: none are sent. */
  wallets?: { notifications?: { url: string; secret: string } }
  // --- approvals and risk rules (issue 10, A) ---
  /** Approval expiry and signed approval links (secret resolved); defaults applied by the schema. */
  approvals?: { ttlSeconds: number; sweepIntervalMs: number; sweeper: boolean; linkTtlSeconds: number; buyerDecidesByLink?: boolean; linkSecret?: string }
  /** Risk rules in evaluation order, and the regions / currencies of merchants and payers. */
  risk?: RiskConfig
  // --- scoped tokens (issue 10, T) ---
  /** Signing keys of scoped single-use tokens, secrets resolved (absent: `/v1/tokens` and the gateway-token handlers are off). */
  tokens?: { signingKeys: Array<{ id: string; secret: string }>; activeKeyId?: string; maxTtlSeconds: number }
}

/** One EVM chain of the EVM rail, secrets resolved. */
export interface EvmChainSettings {
  chainId: number
  network?: string
  rpcUrls: string[]
  tokens: Array<{ address: string; name: string; version: string; decimals: number; assetId?: string }>
  relayerPrivateKey?: string
  relayerPrivateKeys?: string[]
  feeCaps: { maxFeePerGas: string; maxPriorityFeePerGas: string }
  receiptTimeoutMs?: number
  pollingIntervalMs?: number
  rpcTimeoutMs?: number
  payoutWallets?: Record<string, string>
}

/** One problem in the configuration, with the exact field. */
export interface ConfigProblem {
  /** JSON path of the field, e.g. `store.postgres.url`. */
  path: string
  message: string
}

/** Start-up error listing every wrong field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid configuration in ${source}:\n` + problems.map((p) => `  - ${p.path || '(root)'}: ${p.message}`).join('\n'))
  }
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020
let compiled: ReturnType<Ajv2020['compile']> | undefined

function validator(): ReturnType<Ajv2020['compile']> {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true })
    addFormats(ajv)
    // Fragments owned by rails and protocol adapters (schemas/config/*.json), referenced by $id.
    const dir = fromRoot('schemas', 'config')
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) ajv.addSchema(JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as object)
    compiled = ajv.compile(JSON.parse(readFileSync(fromRoot('core', 'config', 'schema.json'), 'utf8')) as object)
  }
  return compiled
}

function toPath(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '')
}

function describe(e: ErrorObject): ConfigProblem {
  let path = toPath(e.instancePath)
  let message = e.message ?? 'is invalid'
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty: string }).additionalProperty
    path = path ? `${path}.${extra}` : extra
    message = 'is not a known field'
  } else if (e.keyword === 'required') {
    const missing = (e.params as { missingProperty: string }).missingProperty
    path = path ? `${path}.${missing}` : missing
    message = 'is required'
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
  }
  return { path, message }
}

/** Drop the noise ajv adds for `oneOf` branches when a more precise error exists at the same path. */
function prune(errors: ErrorObject[]): ConfigProblem[] {
  const precise = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
  const seen = new Set<string>()
  const out: ConfigProblem[] = []
  for (const e of precise.length ? precise : errors) {
    const p = describe(e)
    const k = `${p.path}|${p.message}`
    if (!seen.has(k)) {
      seen.add(k)
      out.push(p)
    }
  }
  return out
}

/**
 * Validate a parsed configuration object, apply defaults and resolve secrets from `env`.
 * `process.env` is never read here: the entry point passes it. Throws {@link ConfigError} naming
 * every wrong field.
 *
 * @example parseConfig({ store: { driver: 'sqlite' } }, process.env, 'inline')
 */
export function parseConfig(raw: unknown, env: Readonly<Record<string, string | undefined>>, source = 'config'): GatewayConfig {
  const data = structuredClone(raw ?? {}) as Record<string, unknown>
  const validate = validator()
  if (!validate(data)) throw new ConfigError(source, prune(validate.errors ?? []))

  const problems: ConfigProblem[] = []
  const secret = (ref: SecretRef, path: string): string => {
    if (typeof ref === 'string') return ref
    const v = env[ref.env]
    if (v === undefined || v === '') {
      problems.push({ path, message: `environment variable ${ref.env} is not set` })
      return ''
    }
    return v
  }

  const cfg = data as unknown as Omit<GatewayConfig, 'apiKeys' | 'merchants' | 'store' | 'rails' | 'ap2' | 'x402' | 'mpp' | 'acp' | 'ucp'> & {
    x402?: Record<string, unknown>
    mpp?: Record<string, unknown>
    acp?: Record<string, unknown>
    ucp?: Record<string, unknown>
    ap2?: Record<string, unknown>
    rails: { alipay?: Record<string, unknown>; antom?: Record<string, unknown>; evm?: { chains: Array<Omit<EvmChainSettings, 'rpcUrls' | 'relayerPrivateKey' | 'relayerPrivateKeys' | 'payoutWallets'> & { rpcUrls: SecretRef[]; relayerPrivateKey?: SecretRef; relayerPrivateKeys?: SecretRef[]; payoutWallets?: Record<string, SecretRef> }> } }
    apiKeys: Array<Omit<ApiKeyConfig, 'sha256'> & { sha256?: string; key?: SecretRef }>
    merchants: Array<{ id: string; name: string; webhook?: { url: string; secret: SecretRef }; category?: string; payTo?: string }>
    wallets?: { notifications?: { url: string; secret: SecretRef } }
    store: { driver: 'sqlite' | 'postgres'; sqlite: { path: string }; postgres?: { url: SecretRef; poolSize: number; schema?: string } }
  }

  const apiKeys: ApiKeyConfig[] = cfg.apiKeys.map((k, i) => {
    const sha256 = k.sha256 ?? createHash('sha256').update(secret(k.key!, `apiKeys[${i}].key`)).digest('hex')
    return { id: k.id, kind: k.kind, principalId: k.principalId, sha256, scopes: k.scopes }
  })
  const ids = new Set<string>()
  cfg.apiKeys.forEach((k, i) => {
    if (ids.has(k.id)) problems.push({ path: `apiKeys[${i}].id`, message: `duplicate key id ${k.id}` })
    ids.add(k.id)
  })
  const merchantIds = new Set<string>()
  const merchants = cfg.merchants.map((m, i) => {
    if (merchantIds.has(m.id)) problems.push({ path: `merchants[${i}].id`, message: `duplicate merchant id ${m.id}` })
    merchantIds.add(m.id)
    const base = { id: m.id, name: m.name, ...(m.category ? { category: m.category } : {}), ...(m.payTo ? { payTo: m.payTo } : {}) }
    return m.webhook ? { ...base, webhook: { url: m.webhook.url, secret: secret(m.webhook.secret, `merchants[${i}].webhook.secret`) } } : base
  })
  cfg.apiKeys.forEach((k, i) => {
    if (k.kind === 'merchant' && !merchantIds.has(k.principalId))
      problems.push({ path: `apiKeys[${i}].principalId`, message: `no merchant ${k.principalId} in merchants[]` })
  })
  const store: GatewayConfig['store'] =
    cfg.store.driver === 'postgres' && cfg.store.postgres
      ? {
          driver: 'postgres',
          sqlite: cfg.store.sqlite,
          postgres: {
            url: secret(cfg.store.postgres.url, 'store.postgres.url'),
            poolSize: cfg.store.postgres.poolSize,
            ...(cfg.store.postgres.schema ? { schema: cfg.store.postgres.schema } : {}),
          },
        }
      : { driver: 'sqlite', sqlite: cfg.store.sqlite }
  const rails: GatewayConfig['rails'] = {}
  if (cfg.rails.evm) {
    cfg.rails.evm.chains.forEach((c, i) => {
      if (c.network !== undefined && c.network !== `eip155:${c.chainId}`) problems.push({ path: `rails.evm.chains[${i}].network`, message: `must be eip155:${c.chainId}` })
    })
    rails.evm = resolveSecrets(cfg.rails.evm, 'rails.evm', secret) as { chains: EvmChainSettings[] }
  }
  for (const name of ['alipay', 'antom'] as const) {
    const section = cfg.rails[name]
    if (section) rails[name] = resolveSecrets(section, `rails.${name}`, secret) as Record<string, unknown>
  }
  if (cfg.outbox.leaseMs <= cfg.outbox.timeoutMs + 1000)
    problems.push({ path: 'outbox.leaseMs', message: 'must exceed outbox.timeoutMs by more than 1000 ms (a delivery must finish inside its lease)' })
  if (cfg.outbox.backoffMaxMs < cfg.outbox.backoffBaseMs)
    problems.push({ path: 'outbox.backoffMaxMs', message: 'must be ≥ outbox.backoffBaseMs' })
  const out: GatewayConfig = { ...cfg, apiKeys, merchants, store, rails } as GatewayConfig
  // --- routing and FX (issue 10, R) ---
  if (cfg['fx']) out['fx'] = resolveSecrets(cfg['fx'], 'fx', secret) as Record<string, unknown>
  for (const name of ['ap2', 'x402', 'mpp', 'acp', 'ucp'] as const) {
    const section = cfg[name]
    if (section) out[name] = resolveSecrets(section, name, secret) as Record<string, unknown>
  }
  // --- MPP (issue 9): challenge-id HMAC secrets must be at least 32 bytes once read from the environment ---
  if (out.mpp) {
    const m = out.mpp as { secret?: unknown; previousSecrets?: unknown[]; routes?: string[] }
    const short = (v: unknown): boolean => typeof v === 'string' && v !== '' && Buffer.byteLength(v, 'utf8') < 32
    if (short(m.secret)) problems.push({ path: 'mpp.secret', message: 'must be at least 32 bytes' })
    m.previousSecrets?.forEach((v, i) => {
      if (short(v)) problems.push({ path: `mpp.previousSecrets[${i}]`, message: 'must be at least 32 bytes' })
    })
    const x402Routes = ((out.x402 as { routes?: Array<{ id?: string; method?: string; path: string }> } | undefined)?.routes ?? []).map((r) => r.id ?? `${r.method ?? 'GET'} ${r.path}`)
    if (x402Routes.length === 0) problems.push({ path: 'mpp', message: 'MPP is offered on priced routes: configure x402.routes' })
    m.routes?.forEach((id, i) => {
      if (!x402Routes.includes(id)) problems.push({ path: `mpp.routes[${i}]`, message: `no x402 route ${id}` })
    })
  }
  // --- wallets and budgets (issue 10, W) ---
  if (cfg.wallets?.notifications) {
    const n = cfg.wallets.notifications
    out.wallets = { ...cfg.wallets, notifications: { url: n.url, secret: secret(n.secret, 'wallets.notifications.secret') } }
  }
  // --- scoped tokens (issue 10, T) ---
  const tokens = (data as { tokens?: { signingKeys: Array<{ id: string; secret: SecretRef }>; activeKeyId?: string; maxTtlSeconds: number } }).tokens
  if (tokens) {
    const signingKeys = tokens.signingKeys.map((k, i) => ({ id: k.id, secret: secret(k.secret, `tokens.signingKeys[${i}].secret`) }))
    signingKeys.forEach((k, i) => {
      if (k.secret && Buffer.byteLength(k.secret) < 32) problems.push({ path: `tokens.signingKeys[${i}].secret`, message: 'must be at least 32 bytes' })
      if (signingKeys.findIndex((o) => o.id === k.id) !== i) problems.push({ path: `tokens.signingKeys[${i}].id`, message: `duplicate key id ${k.id}` })
    })
    if (tokens.activeKeyId !== undefined && !signingKeys.some((k) => k.id === tokens.activeKeyId)) problems.push({ path: 'tokens.activeKeyId', message: `no signing key ${tokens.activeKeyId} in tokens.signingKeys` })
    out.tokens = { ...tokens, signingKeys }
  }
  // --- approvals and risk rules (issue 10, A) ---
  const approvals = (data as { approvals?: Omit<NonNullable<GatewayConfig['approvals']>, 'linkSecret'> & { linkSecret?: SecretRef } }).approvals
  if (approvals) {
    const { linkSecret, ...rest } = approvals
    const resolved = linkSecret === undefined ? undefined : secret(linkSecret, 'approvals.linkSecret')
    if (resolved && Buffer.byteLength(resolved) < 32) problems.push({ path: 'approvals.linkSecret', message: 'must be at least 32 bytes' })
    out.approvals = { ...rest, ...(resolved ? { linkSecret: resolved } : {}) }
  }
  if (problems.length) throw new ConfigError(source, problems)
  return out
}

/**
 * Replace every `{ "env": NAME }` object in a validated subtree by the variable's value. The schema
 * allows that shape only where a secret is expected, so nothing else can look like one.
 */
function resolveSecrets(node: unknown, path: string, secret: (ref: SecretRef, path: string) => string): unknown {
  if (Array.isArray(node)) return node.map((n, i) => resolveSecrets(n, `${path}[${i}]`, secret))
  if (node && typeof node === 'object') {
    const keys = Object.keys(node)
    const env = (node as { env?: unknown }).env
    if (keys.length === 1 && typeof env === 'string') return secret({ env }, path)
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolveSecrets(v, `${path}.${k}`, secret)]))
  }
  return node
}

/**
 * Read a configuration file (JSON, or YAML by extension) and {@link parseConfig} it. Syntax errors
 * name the file and position.
 */
export function loadConfigFile(path: string, env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `cannot read file: ${(e as Error).message}` }])
  }
  let raw: unknown
  try {
    raw = /\.ya?ml$/i.test(path) ? YAML.parse(text) : JSON.parse(text)
  } catch (e) {
    throw new ConfigError(path, [{ path: '', message: `not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message}` }])
  }
  return parseConfig(raw, env, path)
}
