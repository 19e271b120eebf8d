import { createHash } from 'node:crypto'
import type { RequestHandler } from 'express'
import type { ApiKeyConfig } from '../../core/config/load.js'
import { GatewayError } from '../../core/errors/gatewayError.js'
import type { Store } from '../../core/store/port.js'
import { locals, type Principal } from './context.js'

/** Looks up API keys by SHA-256: configured keys first (in memory), then the store. */
export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Principal | undefined>
}

const BEARER = /^Bearer ([\x21-\x7e]{16,512})$/

export function createAuthenticator(keys: readonly ApiKeyConfig[], store?: Store): Authenticator {
  const byHash = new Map<string, Principal>()
  for (const k of keys) byHash.set(k.sha256, { keyId: k.id, kind: k.kind, id: k.principalId, scopes: k.scopes })
  return {
    async authenticate(authorization) {
      const m = authorization ? BEARER.exec(authorization) : null
      if (!m) return undefined
      // Keys are looked up by their hash: the comparison never touches the key itself.
      const hash = createHash('sha256').update(m[1]!).digest('hex')
      const configured = byHash.get(hash)
      if (configured) return configured
      const rec = store ? await store.findApiKey(hash) : undefined
      if (!rec || rec.revokedAt) return undefined
      return { keyId: rec.id, kind: rec.kind, id: rec.principalId, scopes: rec.scopes }
    },
  }
}

/** Whether a principal holds a scope (`*` holds every scope). */
export function hasScope(p: Principal, scope: string): boolean {
  return p.scopes.includes('*') || p.scopes.includes(scope)
}

/**
 * Middleware: require a valid `Authorization: Bearer <key>` of one of `kinds`, and `scope` if
 * given. 401 without a valid key, 403 with a key of the wrong kind or scope.
 */
export function requireAuth(auth: Authenticator, options: { kinds?: ReadonlyArray<Principal['kind']>; scope?: string } = {}): RequestHandler {
  return async (req, res, next) => {
    const principal = await auth.authenticate(req.headers.authorization)
    if (!principal) {
      throw new GatewayError('GW_UNAUTHENTICATED', 'send a valid API key as `Authorization: Bearer <key>`', {
        headers: { 'WWW-Authenticate': 'Bearer realm="agentswitch"' },
      })
    }
    if (options.kinds && !options.kinds.includes(principal.kind)) {
      throw new GatewayError('GW_FORBIDDEN', `a ${principal.kind} key may not call ${req.method} ${req.baseUrl}${req.path}`)
    }
    if (options.scope && !hasScope(principal, options.scope)) {
      throw new GatewayError('GW_FORBIDDEN', `this key lacks the scope ${options.scope}`)
    }
    locals(res).principal = principal
    next()
  }
}
