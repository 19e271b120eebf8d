import { Router, type Request, type Response } from 'express'
import type { GatewayConfig } from '../../../core/config/load.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import { verifyAuditChain } from '../../../core/events/audit.js'
import type { IntentStatus, PaymentIntent } from '../../../core/intent/types.js'
import type { AssetRegistry } from '../../../core/money/assets.js'
import { submitIntent } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import type { DestinationsFor } from '../../../core/pipeline/webhookEvent.js'
import type { Store } from '../../../core/store/port.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import type { ApiSchemas } from '../apiSchemas.js'
import { requireAuth, type Authenticator } from '../auth.js'
import { locals, type Principal } from '../context.js'
import { idempotency } from '../idempotency.js'
import type { Logger } from 'pino'

type CreateIntentRequest = components['schemas']['CreateIntentRequest']
type IntentList = components['schemas']['IntentList']

export interface IntentRoutesDeps {
  config: GatewayConfig
  store: Store
  assets: AssetRegistry
  auth: Authenticator
  schemas: ApiSchemas
  logger: Logger
  destinationsFor: DestinationsFor
}

const INTENT_ID = /^pi_[0-9A-HJKMNP-TV-Z]{26}$/
const STATUSES: ReadonlySet<string> = new Set<IntentStatus>([
  'created', 'requires_approval', 'authorized', 'processing', 'succeeded', 'failed', 'canceled', 'partially_refunded', 'refunded',
])

/** Whether `p` may see `intent`. Others get 404, so the existence of an intent does not leak. */
function canSee(p: Principal, intent: PaymentIntent): boolean {
  if (p.kind === 'admin') return true
  if (p.kind === 'merchant') return intent.merchant_id === p.id
  return intent.payer.agent_id === p.id
}

function actorOf(p: Principal): string {
  return `${p.kind}:${p.id}`
}

/**
 * The admin / merchant / agent view of canonical intents (`schemas/gateway.openapi.yaml`):
 * create (agents), get, list with cursor pagination, audit chain, cancel.
 */
export function intentRoutes(deps: IntentRoutesDeps): Router {
  const r = Router()
  const anyKey = requireAuth(deps.auth)
  const guard = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs })
  const guardRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true })
  const merchants = new Set(deps.config.merchants.map((m) => m.id))

  const load = async (req: Request, res: Response): Promise<PaymentIntent> => {
    const id = String(req.params['id'])
    if (!INTENT_ID.test(id)) throw new GatewayError('GW_NOT_FOUND', `no intent ${id}`)
    const stored = await deps.store.getIntent(id)
    if (!stored || !canSee(locals(res).principal!, stored.intent)) throw new GatewayError('GW_NOT_FOUND', `no intent ${id}`)
    return stored.intent
  }

  r.post('/intents', requireAuth(deps.auth, { kinds: ['agent'], scope: 'intents:write' }), guardRequired, async (req, res) => {
    deps.schemas.assert<CreateIntentRequest>('CreateIntentRequest', req.body)
    const body = req.body
    const p = locals(res).principal!
    let merchantId = body.merchant_id
    if (merchantId === undefined) {
      if (merchants.size !== 1) throw new GatewayError('GW_SCHEMA_INVALID', 'merchant_id is required: several merchants are configured', { details: [{ path: 'merchant_id', message: 'is required' }] })
      merchantId = [...merchants][0]!
    } else if (!merchants.has(merchantId)) {
      throw new GatewayError('GW_NOT_FOUND', `no merchant ${merchantId}`)
    }
    const ref = body.reference ?? `req:${locals(res).requestId}`
    const { intent, created } = await submitIntent(
      { store: deps.store, assets: deps.assets, destinationsFor: deps.destinationsFor },
      {
        merchantId,
        actor: actorOf(p),
        origin: { protocol: 'gateway', version: 'v1', ref },
        payer: { ...body.payer, agent_id: p.id },
        amount: body.amount,
        instrument: body.instrument,
        authorization: { type: 'gateway.api_key', verified_at: new Date().toISOString(), constraints: { key_id: p.keyId } },
        ...(body.metadata ? { metadata: body.metadata } : {}),
        // Your reference is unique per agent and merchant: the same reference never makes two intents.
        ...(body.reference ? { dedupeKey: `gateway:${p.id}:${body.reference}` } : {}),
      },
    )
    res.status(created ? 201 : 200).location(`/v1/intents/${intent.id}`).json(intent)
  })

  r.get('/intents', requireAuth(deps.auth, { kinds: ['admin', 'merchant'] }), async (req, res) => {
    const q = req.query
    const limit = q['limit'] === undefined ? 20 : Number(q['limit'])
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('GW_BAD_REQUEST', 'limit must be an integer from 1 to 100')
    const cursor = typeof q['cursor'] === 'string' ? q['cursor'] : undefined
    if (cursor !== undefined && !INTENT_ID.test(cursor)) throw new GatewayError('GW_BAD_REQUEST', 'cursor is not a next_cursor this API returned')
    const status = typeof q['status'] === 'string' ? q['status'] : undefined
    if (status !== undefined && !STATUSES.has(status)) throw new GatewayError('GW_BAD_REQUEST', `status must be one of ${[...STATUSES].join(', ')}`)
    const p = locals(res).principal!
    const merchantId = p.kind === 'merchant' ? p.id : typeof q['merchant_id'] === 'string' ? q['merchant_id'] : undefined
    const page = await deps.store.listIntents({
      limit,
      cursor,
      merchantId,
      status: status as IntentStatus | undefined,
      protocol: typeof q['protocol'] === 'string' ? q['protocol'] : undefined,
    })
    const body: IntentList = { data: page.items as IntentList['data'], has_more: page.nextCursor !== undefined }
    if (page.nextCursor !== undefined) body.next_cursor = page.nextCursor
    res.json(body)
  })

  r.get('/intents/:id', anyKey, async (req, res) => {
    res.json(await load(req, res))
  })

  r.get('/intents/:id/events', anyKey, async (req, res) => {
    const intent = await load(req, res)
    const [stored, events] = await Promise.all([deps.store.getIntent(intent.id), deps.store.listEvents(intent.id)])
    const v = verifyAuditChain(events, { intentId: intent.id, head: stored!.auditHead, seq: stored!.auditSeq, status: stored!.intent.status })
    res.json({ data: events, chain: v.valid ? { valid: true } : { valid: false, problem: v.problem } })
  })

  r.post('/intents/:id/cancel', anyKey, guard, async (req, res) => {
    const intent = await load(req, res)
    const reason = (req.body as { reason?: unknown } | undefined)?.reason
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 256)) throw new GatewayError('GW_SCHEMA_INVALID', 'reason must be a string of at most 256 characters')
    const next = await transitionIntent(
      { store: deps.store, destinationsFor: deps.destinationsFor },
      { intentId: intent.id, event: 'cancel', actor: actorOf(locals(res).principal!), reason: reason ?? 'requested_by_caller' },
    )
    res.json(next)
  })
  return r
}
