import { createHash } from 'node:crypto'
import { Router } from 'express'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../../core/config/load.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { AssetRegistry } from '../../../core/money/assets.js'
import type { Store } from '../../../core/store/port.js'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { getScopedToken, issueScopedToken, revokeScopedToken, scopedTokenSettings, type ScopedTokenSettings } from '../../../core/tokens/index.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import { loadApiSchemas, type ApiSchemas } from '../apiSchemas.js'
import { hasScope, requireAuth, type Authenticator } from '../auth.js'
import { locals, type Principal } from '../context.js'
import { idempotency } from '../idempotency.js'

type CreateScopedTokenRequest = components['schemas']['CreateScopedTokenRequest']

export interface TokenRoutesDeps {
  config: GatewayConfig
  store: Store
  assets: AssetRegistry
  auth: Authenticator
  /** Default: compiled from the spec on first use (a compile costs about a second of start-up). */
  schemas?: ApiSchemas | undefined
  logger: Logger
  clock?: (() => Date) | undefined
}

const TOKEN_ID = /^gwt_[0-9A-HJKMNP-TV-Z]{26}$/
/** As the idempotency middleware: 1–255 printable ASCII characters. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/

/**
 * `/v1/tokens`: issue (agents with `tokens:write` for their own wallets, admins for any), read and
 * revoke scoped single-use tokens. The token string is in the 201 answer only; it is never stored
 * (not even as an idempotent answer): a retry with the same `Idempotency-Key` and body re-signs the
 * stored claims and returns the same token. Without a
 * `tokens` config section the routes answer `GW_CONFIG_INVALID` naming the section.
 */
export function tokenRoutes(deps: TokenRoutesDeps): Router {
  const r = Router()
  let schemas: ApiSchemas | undefined = deps.schemas
  const settings: ScopedTokenSettings | undefined = scopedTokenSettings(deps.config)
  const guardRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true })
  const merchants = new Set(deps.config.merchants.map((m) => m.id))
  const agentOrAdmin = requireAuth(deps.auth, { kinds: ['agent', 'admin'] })
  const on = (): ScopedTokenSettings => {
    if (!settings) throw new GatewayError('GW_CONFIG_INVALID', 'scoped tokens are not configured on this gateway (tokens.signingKeys)')
    return settings
  }
  const ownAgent = (p: Principal): string | undefined => (p.kind === 'agent' ? p.id : undefined)
  const needWrite = (p: Principal): void => {
    if (p.kind === 'agent' && !hasScope(p, 'tokens:write')) throw new GatewayError('GW_FORBIDDEN', 'this key lacks the scope tokens:write')
  }
  const tokenId = (raw: unknown): string => {
    const id = String(raw)
    if (!TOKEN_ID.test(id)) throw new GatewayError('GW_NOT_FOUND', `no token ${id}`)
    return id
  }

  // Not the shared idempotency() middleware: it would store the answer, which holds the token
  // string. Issuing is made exactly-once by the key itself (see issueScopedToken's requestKey).
  r.post('/tokens', agentOrAdmin, async (req, res) => {
    const p = locals(res).principal!
    const key = req.get('idempotency-key')
    if (key === undefined) throw new GatewayError('GW_IDEMPOTENCY_KEY_REQUIRED', 'send an Idempotency-Key header with this request')
    if (!IDEMPOTENCY_KEY.test(key)) throw new GatewayError('GW_IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 1–255 printable ASCII characters')
    needWrite(p)
    const validator: ApiSchemas = (schemas ??= loadApiSchemas())
    validator.assert<CreateScopedTokenRequest>('CreateScopedTokenRequest', req.body)
    const b = req.body
    if (!merchants.has(b.merchant_id)) throw new GatewayError('GW_NOT_FOUND', `no merchant ${b.merchant_id}`)
    const { token, view, replayed } = await issueScopedToken(
      { store: deps.store, assets: deps.assets, settings: on(), clock: deps.clock },
      {
        issuer: { kind: p.kind === 'admin' ? 'admin' : 'agent', id: p.id },
        walletId: b.wallet_id,
        merchantId: b.merchant_id,
        maxAmount: b.max_amount,
        expiresInSeconds: b.expires_in_seconds,
        expiresAt: b.expires_at,
        category: b.category,
        requestKey: { scope: `${p.kind}:${p.id} POST /v1/tokens`, key, fingerprint: createHash('sha256').update(canonicalJson(b)).digest('hex') },
      },
    )
    res.setHeader('Idempotency-Key', key)
    if (replayed) res.setHeader('Idempotent-Replayed', 'true')
    res.status(201).location(`/v1/tokens/${view.id}`).setHeader('Cache-Control', 'no-store').json({ ...view, token })
  })

  r.get('/tokens/:id', agentOrAdmin, async (req, res) => {
    const p = locals(res).principal!
    res.json(await getScopedToken({ store: deps.store, clock: deps.clock }, { tokenId: tokenId(req.params['id']), agentId: ownAgent(p) }))
  })

  r.post('/tokens/:id/revoke', agentOrAdmin, guardRequired, async (req, res) => {
    const p = locals(res).principal!
    needWrite(p)
    res.json(await revokeScopedToken({ store: deps.store, clock: deps.clock }, { tokenId: tokenId(req.params['id']), actor: `${p.kind}:${p.id}`, agentId: ownAgent(p) }))
  })

  return r
}
