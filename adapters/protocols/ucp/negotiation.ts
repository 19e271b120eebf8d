import { request } from 'undici'
import type { EcPublicJwk } from './httpSignatures.js'
import { CAP, UCP_VERSION } from './options.js'

/** A UCP transport-level error (`{code, content}`) with its REST status (DIGEST §2.3, §11). */
export class UcpTransportError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    content: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(content)
  }
}

/** A capability entry (map-shaped profile). */
export interface CapabilityEntry {
  version: string
  spec?: string | undefined
  schema?: string | undefined
  extends?: string | string[] | undefined
  config?: Record<string, unknown> | undefined
}

/** The parts of a platform profile negotiation reads (normalised from either profile shape). */
export interface PlatformProfile {
  url: string
  version: string | undefined
  capabilities: Record<string, CapabilityEntry[]>
  signingKeys: EcPublicJwk[]
  /** The order capability's `config.webhook_url`. */
  webhookUrl?: string | undefined
  /** Which shape it had (`map` = 2026-04-08, `array` = 2026-01-11). */
  shape: 'map' | 'array'
}

/** The outcome of negotiation for one request. */
export interface Negotiated {
  version: string
  /** Intersection: capability name → the version both support. */
  capabilities: Record<string, string>
  profile?: PlatformProfile | undefined
  lenient: boolean
}

/** Parse `UCP-Agent: profile="https://…"` (an RFC 8941 dictionary; `profile` required). */
export function parseUcpAgent(header: string | undefined): string {
  if (!header) throw new UcpTransportError(400, 'invalid_profile_url', 'the UCP-Agent header with profile="<url>" is required')
  const m = /(?:^|[,;\s])profile\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(header)
  if (!m?.[1]) throw new UcpTransportError(400, 'invalid_profile_url', 'UCP-Agent must carry profile="<url>"')
  return m[1].replace(/\\(.)/g, '$1')
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

function checkProfileUrl(raw: string, allowInsecureLocalhost: boolean): URL {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw new UcpTransportError(400, 'invalid_profile_url', 'the UCP-Agent profile is not an absolute URL')
  }
  if (u.protocol === 'https:') return u
  if (u.protocol === 'http:' && allowInsecureLocalhost && LOOPBACK.has(u.hostname)) return u
  throw new UcpTransportError(400, 'invalid_profile_url', 'the UCP-Agent profile URL must use https')
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Normalise a platform profile document (map shape, or the 2026-01-11 array shape). */
export function normaliseProfile(url: string, doc: unknown): PlatformProfile {
  if (!isObj(doc) || !isObj(doc['ucp'])) throw new UcpTransportError(422, 'profile_malformed', 'the platform profile has no `ucp` object')
  const ucp = doc['ucp']
  const version = typeof ucp['version'] === 'string' ? ucp['version'] : undefined
  const caps: Record<string, CapabilityEntry[]> = {}
  let shape: 'map' | 'array' = 'map'
  const entry = (e: unknown): CapabilityEntry | undefined =>
    isObj(e) && typeof e['version'] === 'string'
      ? {
          version: e['version'],
          ...(typeof e['spec'] === 'string' ? { spec: e['spec'] } : {}),
          ...(typeof e['schema'] === 'string' ? { schema: e['schema'] } : {}),
          ...(typeof e['extends'] === 'string' || Array.isArray(e['extends']) ? { extends: e['extends'] as string | string[] } : {}),
          ...(isObj(e['config']) ? { config: e['config'] } : {}),
        }
      : undefined
  if (Array.isArray(ucp['capabilities'])) {
    shape = 'array'
    for (const c of ucp['capabilities']) {
      const e = entry(c)
      if (e && isObj(c) && typeof c['name'] === 'string') (caps[c['name']] ??= []).push(e)
    }
  } else if (isObj(ucp['capabilities'])) {
    for (const [name, list] of Object.entries(ucp['capabilities'])) {
      if (!Array.isArray(list)) throw new UcpTransportError(422, 'profile_malformed', `capability ${name} must be an array`)
      caps[name] = list.map(entry).filter((e): e is CapabilityEntry => e !== undefined)
    }
  }
  const keys = Array.isArray(doc['signing_keys'])
    ? doc['signing_keys'].filter((k): k is EcPublicJwk => isObj(k) && typeof k['kid'] === 'string' && typeof k['kty'] === 'string')
    : []
  const orderCfg = caps[CAP.order]?.find((e) => typeof e.config?.['webhook_url'] === 'string')?.config
  const webhookUrl = typeof orderCfg?.['webhook_url'] === 'string' ? orderCfg['webhook_url'] : undefined
  return { url, version, capabilities: caps, signingKeys: keys, ...(webhookUrl ? { webhookUrl } : {}), shape }
}

/** Fetches platform profiles with undici: timeout, no redirects, ≥ TTL cache, size cap. */
export class ProfileFetcher {
  readonly #cache = new Map<string, { at: number; value: Promise<PlatformProfile> }>()
  constructor(
    private readonly opts: { timeoutMs: number; ttlMs: number; allowInsecureLocalhost: boolean; clock: () => Date },
  ) {}

  get(rawUrl: string): Promise<PlatformProfile> {
    const url = checkProfileUrl(rawUrl, this.opts.allowInsecureLocalhost).toString()
    const now = this.opts.clock().getTime()
    const hit = this.#cache.get(url)
    if (hit && now - hit.at < this.opts.ttlMs) return hit.value
    const value = this.#fetch(url)
    this.#cache.set(url, { at: now, value })
    if (this.#cache.size > 1000) this.#cache.delete(this.#cache.keys().next().value as string)
    // A failure is not cached: the next request tries again.
    value.catch(() => this.#cache.delete(url))
    return value
  }

  async #fetch(url: string): Promise<PlatformProfile> {
    let status: number
    let text: string
    try {
      const res = await request(url, { method: 'GET', headers: { accept: 'application/json' }, headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs, maxRedirections: 0 } as Parameters<typeof request>[1])
      status = res.statusCode
      text = await res.body.text()
    } catch (err) {
      throw new UcpTransportError(424, 'profile_unreachable', `the platform profile could not be fetched (${(err as Error).name})`)
    }
    if (status < 200 || status >= 300) throw new UcpTransportError(424, 'profile_unreachable', `the platform profile answered HTTP ${status}`)
    if (text.length > 256 * 1024) throw new UcpTransportError(422, 'profile_malformed', 'the platform profile is too large')
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      throw new UcpTransportError(422, 'profile_malformed', 'the platform profile is not JSON')
    }
    return normaliseProfile(url, doc)
  }
}

/** Our business capabilities (name → versions we support, highest first) and their parents. */
export type BusinessCapabilities = Record<string, { versions: string[]; extends?: string | undefined }>

/**
 * Negotiate (DIGEST §2): protocol version must be ours (or one we list); capabilities are the
 * intersection at the highest common version, extensions pruned transitively when their parent
 * did not survive. Lenient mode keeps our capabilities when the profile does not declare them.
 */
export function negotiate(ours: BusinessCapabilities, profile: PlatformProfile | undefined, lenient: boolean): Negotiated {
  if (!profile) {
    if (!lenient) throw new UcpTransportError(400, 'invalid_profile_url', 'the UCP-Agent header is required')
    return { version: UCP_VERSION, capabilities: Object.fromEntries(Object.entries(ours).map(([n, c]) => [n, c.versions[0] ?? UCP_VERSION])), lenient: true }
  }
  if (profile.version !== UCP_VERSION && !(lenient && profile.shape === 'array'))
    throw new UcpTransportError(422, 'version_unsupported', `protocol version ${profile.version ?? '(none)'} is not supported; this business speaks ${UCP_VERSION}`)
  const caps: Record<string, string> = {}
  for (const [name, c] of Object.entries(ours)) {
    const theirs = profile.capabilities[name]
    if (!theirs) {
      if (lenient) caps[name] = c.versions[0] ?? UCP_VERSION
      continue
    }
    const common = c.versions.filter((v) => theirs.some((t) => t.version === v)).sort().reverse()[0]
    if (common) caps[name] = common
    else if (lenient) caps[name] = c.versions[0] ?? UCP_VERSION
  }
  // Prune extensions whose parent did not survive, until stable.
  for (let changed = true; changed; ) {
    changed = false
    for (const name of Object.keys(caps)) {
      const parent = ours[name]?.extends
      if (parent && !caps[parent]) {
        delete caps[name]
        changed = true
      }
    }
  }
  return { version: UCP_VERSION, capabilities: caps, profile, lenient }
}
