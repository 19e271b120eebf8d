import type { Credentials } from './types.js'

/** Role name used for a `--auth` given without `role=`: every role falls back to it. */
export const DEFAULT_ROLE = 'default'

/** A bad `--auth` value. */
export class AuthArgumentError extends Error {
  override readonly name = 'AuthArgumentError'
}

/**
 * Parse one `--auth` value into a role and a header:
 * - `Authorization: Bearer abc` → role `default`, that header;
 * - `agent=Authorization: Bearer abc` → role `agent`;
 * - `agent=abc` or `abc` (no colon) → `Authorization: Bearer abc`.
 */
export function parseAuthArgument(value: string): { role: string; name: string; value: string } {
  const m = /^([a-z][a-z0-9_-]{0,31})=(.*)$/s.exec(value)
  const role = m ? m[1]! : DEFAULT_ROLE
  const rest = (m ? m[2]! : value).trim()
  if (rest.length === 0) throw new AuthArgumentError(`--auth ${role}= has no value`)
  const colon = rest.indexOf(':')
  if (colon < 0) {
    if (/\s/.test(rest)) throw new AuthArgumentError('--auth takes "Header-Name: value", "role=Header-Name: value", or a bare bearer token')
    return { role, name: 'authorization', value: `Bearer ${rest}` }
  }
  const name = rest.slice(0, colon).trim().toLowerCase()
  if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new AuthArgumentError(`--auth: "${rest.slice(0, colon)}" is not a header name`)
  return { role, name, value: rest.slice(colon + 1).trim() }
}

/** Credentials from role → headers. */
export function createCredentials(byRole: ReadonlyMap<string, Readonly<Record<string, string>>>): Credentials {
  return {
    roles: [...byRole.keys()],
    has: (role) => byRole.has(role) || byRole.has(DEFAULT_ROLE),
    headers: (role) => byRole.get(role) ?? byRole.get(DEFAULT_ROLE),
  }
}

/** Credentials from `--auth` values (several values for one role add headers to it). */
export function credentialsFromArguments(values: readonly string[]): { credentials: Credentials; secrets: string[] } {
  const byRole = new Map<string, Record<string, string>>()
  const secrets: string[] = []
  for (const v of values) {
    const { role, name, value } = parseAuthArgument(v)
    const headers = byRole.get(role) ?? {}
    headers[name] = value
    byRole.set(role, headers)
    secrets.push(value, value.replace(/^[A-Za-z][\w-]* +/, ''))
  }
  return { credentials: createCredentials(byRole), secrets }
}

/** Credentials from bearer tokens by role (the in-process API and dev.json). */
export function bearerCredentials(tokens: Readonly<Record<string, string | undefined>>): { credentials: Credentials; secrets: string[] } {
  const byRole = new Map<string, Record<string, string>>()
  const secrets: string[] = []
  for (const [role, token] of Object.entries(tokens)) {
    if (!token) continue
    byRole.set(role, { authorization: `Bearer ${token}` })
    secrets.push(token)
  }
  return { credentials: createCredentials(byRole), secrets }
}
