import { Router, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../../core/config/load.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { AssetRegistry } from '../../../core/money/assets.js'
import type { Store } from '../../../core/store/port.js'
import { createWallet, revokeWalletConsent, updateWallet, walletView, type CreateWalletParameters, type UpdateWalletParameters } from '../../../core/wallets/manageWallets.js'
import type { WalletRecord } from '../../../core/wallets/types.js'
import type { ApiSchemas } from '../apiSchemas.js'
import { hasScope, requireAuth, type Authenticator } from '../auth.js'
import { locals } from '../context.js'
import { idempotency } from '../idempotency.js'

export interface WalletRoutesDeps {
  config: GatewayConfig
  store: Store
  assets: AssetRegistry
  auth: Authenticator
  schemas: ApiSchemas
  logger: Logger
}

const WALLET_ID = /^[A-Za-z0-9_.:-]{1,64}$/

/**
 * Agent wallets (issue 10): create, read (with today's and this month's spend), change, and
 * revoke consent. Admin keys manage; an agent key with `wallets:read` may read its own wallet
 * (any other wallet is 404 to it, so existence does not leak).
 */
export function walletRoutes(deps: WalletRoutesDeps): Router {
  const r = Router()
  const admin = requireAuth(deps.auth, { kinds: ['admin'] })
  const guard = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs })
  const manage = { store: deps.store, assets: deps.assets }

  const load = async (req: Request): Promise<WalletRecord> => {
    const id = String(req.params['id'])
    const w = WALLET_ID.test(id) ? await deps.store.getWallet(id) : undefined
    if (!w) throw new GatewayError('GW_NOT_FOUND', `no wallet ${id}`)
    return w
  }

  r.post('/wallets', admin, guard, async (req, res) => {
    deps.schemas.assert<CreateWalletParameters>('CreateWalletRequest', req.body)
    const w = await createWallet(manage, req.body)
    res.status(201).location(`/v1/wallets/${w.id}`).json(await walletView(manage, w))
  })

  r.get('/wallets/:id', requireAuth(deps.auth, { kinds: ['admin', 'agent'] }), async (req: Request, res: Response) => {
    const p = locals(res).principal!
    const w = await load(req)
    if (p.kind === 'agent') {
      if (w.agentId !== p.id) throw new GatewayError('GW_NOT_FOUND', `no wallet ${w.id}`)
      if (!hasScope(p, 'wallets:read')) throw new GatewayError('GW_FORBIDDEN', 'this key lacks the scope wallets:read')
    }
    res.json(await walletView(manage, w))
  })

  r.patch('/wallets/:id', admin, guard, async (req, res) => {
    deps.schemas.assert<UpdateWalletParameters>('UpdateWalletRequest', req.body)
    const w = await load(req)
    res.json(await walletView(manage, await updateWallet(manage, w.id, req.body)))
  })

  r.post('/wallets/:id/revoke-consent', admin, guard, async (req, res) => {
    const w = await load(req)
    res.json(await walletView(manage, await revokeWalletConsent(manage, w.id)))
  })
  return r
}
