import { Router, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../../../core/config/load.js'
import { disputeView, openDispute } from '../../../core/disputes/openDispute.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { reconcileRefund, refundIntent, refundView, type RefundWebhookSource } from '../../../core/pipeline/refundIntent.js'
import type { DestinationsFor } from '../../../core/pipeline/webhookEvent.js'
import type { RailRegistry } from '../../../core/rails/port.js'
import type { Store } from '../../../core/store/port.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import type { ApiSchemas } from '../apiSchemas.js'
import { hasScope, requireAuth, type Authenticator } from '../auth.js'
import { locals, type Principal } from '../context.js'
import { idempotency } from '../idempotency.js'

type CreateRefundRequest = components['schemas']['CreateRefundRequest']
type CreateDisputeRequest = components['schemas']['CreateDisputeRequest']

export interface RefundRoutesDeps {
  config: GatewayConfig
  store: Store
  rails: RailRegistry
  auth: Authenticator
  schemas: ApiSchemas
  logger: Logger
  destinationsFor: DestinationsFor
  /** Protocol order webhooks for refunds, read at request time (mounts register theirs after the routes are built). */
  refundWebhooks: () => readonly RefundWebhookSource[]
}

const INTENT_ID = /^pi_[0-9A-HJKMNP-TV-Z]{26}$/
const REFUND_ID = /^re_[0-9A-HJKMNP-TV-Z]{26}$/
const DISPUTE_ID = /^dp_[0-9A-HJKMNP-TV-Z]{26}$/

/** Whether `p` may see an intent's refunds and disputes (others get 404: existence does not leak). */
function canSee(p: Principal, merchantId: string, agentId: string | undefined): boolean {
  if (p.kind === 'admin') return true
  if (p.kind === 'merchant') return merchantId === p.id
  return agentId !== undefined && agentId === p.id
}

const actorOf = (p: Principal): string => `${p.kind}:${p.id}`

/**
 * Refunds and disputes on the gateway API (`schemas/gateway.openapi.yaml`):
 * `POST|GET /v1/intents/{id}/refunds`, `GET /v1/refunds/{id}`, `POST /v1/intents/{id}/disputes`,
 * `GET /v1/disputes/{id}`, `GET /v1/disputes/{id}/evidence`. Merchants act on their own intents,
 * admins on all; an intent's agent may refund it with the `refunds:write` scope and open a dispute
 * with `disputes:write`.
 */
export function refundRoutes(deps: RefundRoutesDeps): Router {
  const r = Router()
  const anyKey = requireAuth(deps.auth)
  const guardRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true })

  const loadIntent = async (req: Request, res: Response, agentScope?: string): Promise<PaymentIntent> => {
    const id = String(req.params['id'])
    if (!INTENT_ID.test(id)) throw new GatewayError('GW_NOT_FOUND', `no intent ${id}`)
    const stored = await deps.store.getIntent(id)
    const p = locals(res).principal!
    if (!stored || !canSee(p, stored.intent.merchant_id, stored.intent.payer.agent_id)) throw new GatewayError('GW_NOT_FOUND', `no intent ${id}`)
    if (agentScope && p.kind === 'agent' && !hasScope(p, agentScope)) throw new GatewayError('GW_FORBIDDEN', `this key lacks the scope ${agentScope}`)
    return stored.intent
  }

  r.post('/intents/:id/refunds', anyKey, guardRequired, async (req, res) => {
    const intent = await loadIntent(req, res, 'refunds:write')
    const body = (req.body ?? {}) as unknown
    deps.schemas.assert<CreateRefundRequest>('CreateRefundRequest', body)
    const p = locals(res).principal!
    const { refund } = await refundIntent(
      { store: deps.store, rails: deps.rails, destinationsFor: deps.destinationsFor, refundWebhooks: deps.refundWebhooks() },
      {
        intentId: intent.id,
        ...(body.amount ? { amount: body.amount } : {}),
        ...(body.reason ? { reason: body.reason } : {}),
        // The caller's key is also the refund's dedupe key: even after the stored answer expires,
        // the same key never makes a second refund of this intent.
        dedupeKey: `${actorOf(p)}:${String(req.get('idempotency-key'))}`,
        actor: actorOf(p),
      },
    )
    res.status(201).location(`/v1/refunds/${refund.id}`).json(refundView(refund))
  })

  r.get('/intents/:id/refunds', anyKey, async (req, res) => {
    const intent = await loadIntent(req, res)
    res.json({ data: (await deps.store.listRefunds(intent.id)).map(refundView) })
  })

  r.get('/refunds/:id', anyKey, async (req, res) => {
    const id = String(req.params['id'])
    const refund = REFUND_ID.test(id) ? await deps.store.getRefund(id) : undefined
    const intent = refund ? (await deps.store.getIntent(refund.intentId))?.intent : undefined
    if (!refund || !intent || !canSee(locals(res).principal!, refund.merchantId, intent.payer.agent_id)) throw new GatewayError('GW_NOT_FOUND', `no refund ${id}`)
    // Only a principal that may refund re-drives a pending refund (a read-only key only reads it).
    const p = locals(res).principal!
    if (refund.status !== 'pending' || (p.kind === 'agent' && !hasScope(p, 'refunds:write'))) return void res.json(refundView(refund))
    // A pending refund (unknown rail outcome): ask the rail now, and finish it the one safe way
    // (the same refund key, only when the rail has no record of it).
    try {
      const done = await reconcileRefund({ store: deps.store, rails: deps.rails, destinationsFor: deps.destinationsFor, refundWebhooks: deps.refundWebhooks() }, { refundId: refund.id })
      res.json(refundView(done.refund))
    } catch (err) {
      deps.logger.warn({ err, refund: refund.id }, 'refund reconciliation failed; showing the stored refund')
      res.json(refundView((await deps.store.getRefund(refund.id)) ?? refund))
    }
  })

  r.post('/intents/:id/disputes', anyKey, guardRequired, async (req, res) => {
    const intent = await loadIntent(req, res, 'disputes:write')
    deps.schemas.assert<CreateDisputeRequest>('CreateDisputeRequest', req.body)
    const body = req.body
    const dispute = await openDispute(
      { store: deps.store, destinationsFor: deps.destinationsFor },
      { intentId: intent.id, reason: body.reason, ...(body.amount ? { amount: body.amount } : {}), ...(body.note ? { note: body.note } : {}), actor: actorOf(locals(res).principal!) },
    )
    res.status(201).location(`/v1/disputes/${dispute.id}`).json(disputeView(dispute))
  })

  const loadDispute = async (req: Request, res: Response) => {
    const id = String(req.params['id'])
    const dispute = DISPUTE_ID.test(id) ? await deps.store.getDispute(id) : undefined
    const intent = dispute ? (await deps.store.getIntent(dispute.intentId))?.intent : undefined
    if (!dispute || !intent || !canSee(locals(res).principal!, dispute.merchantId, intent.payer.agent_id)) throw new GatewayError('GW_NOT_FOUND', `no dispute ${id}`)
    return dispute
  }

  r.get('/disputes/:id', anyKey, async (req, res) => {
    res.json(disputeView(await loadDispute(req, res)))
  })

  r.get('/disputes/:id/evidence', anyKey, async (req, res) => {
    res.json((await loadDispute(req, res)).evidence)
  })
  return r
}
