import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** What the runner takes from an agentswitch dev-mode `dev.json`. */
export interface DevJsonInfo {
  path: string
  /** The whole file (suites read what they need: URLs, merchants, rails). */
  json: Record<string, unknown>
  /** `gateway.url`. */
  gatewayUrl: string
  /** `apiKeys` by role (admin, merchant, agent). */
  apiKeys: Record<string, string>
}

/** Read and check a dev.json; throws with the path and what is wrong. */
export function readDevJson(path: string): DevJsonInfo {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`)
  }
  const obj = json as { gateway?: { url?: unknown }; apiKeys?: unknown }
  if (typeof obj?.gateway?.url !== 'string') throw new Error(`${path} has no gateway.url: is it a dev.json written by \`agentswitch dev\`?`)
  const apiKeys: Record<string, string> = {}
  if (obj.apiKeys && typeof obj.apiKeys === 'object') {
    for (const [role, key] of Object.entries(obj.apiKeys as Record<string, unknown>)) if (typeof key === 'string') apiKeys[role] = key
  }
  return { path, json: json as Record<string, unknown>, gatewayUrl: obj.gateway.url, apiKeys }
}

/** Whether two base URLs name the same origin (`localhost` and `127.0.0.1` count as the same). */
export function sameOrigin(a: string, b: string): boolean {
  const norm = (u: string): string | undefined => {
    try {
      const x = new URL(u)
      const host = x.hostname === 'localhost' || x.hostname === '[::1]' ? '127.0.0.1' : x.hostname
      return `${x.protocol}//${host}:${x.port || (x.protocol === 'https:' ? '443' : '80')}`
    } catch {
      return undefined
    }
  }
  const na = norm(a)
  return na !== undefined && na === norm(b)
}

/**
 * Find the dev.json describing `baseUrl`: the one given with `--dev-json`, else
 * `$AGENTSWITCH_DATA_DIR/dev.json` or `./data/dev.json` **when its gateway URL is the base URL**
 * (so demo keys are never sent to another server).
 */
export function findDevJson(options: { explicit?: string | undefined; baseUrl: string; env: Readonly<Record<string, string | undefined>>; cwd: string }): {
  info?: DevJsonInfo | undefined
  message?: string | undefined
} {
  if (options.explicit) {
    const info = readDevJson(resolve(options.cwd, options.explicit))
    return {
      info,
      message: sameOrigin(info.gatewayUrl, options.baseUrl)
        ? `using ${info.path}`
        : `using ${info.path} although its gateway.url (${info.gatewayUrl}) is not --base-url`,
    }
  }
  const candidates = [options.env['AGENTSWITCH_DATA_DIR'] ? join(resolve(options.cwd, options.env['AGENTSWITCH_DATA_DIR']), 'dev.json') : undefined, join(options.cwd, 'data', 'dev.json')]
  for (const path of candidates) {
    if (!path || !existsSync(path)) continue
    let info: DevJsonInfo
    try {
      info = readDevJson(path)
    } catch {
      continue
    }
    if (sameOrigin(info.gatewayUrl, options.baseUrl)) return { info, message: `using ${path} (its gateway.url is the base URL)` }
  }
  return {}
}
