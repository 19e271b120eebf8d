import { Router, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import { approvalFromEvents, type Approval } from '../../../core/approvals/approval.js'
import { approvalLinkSecret, approvalUrl, verifyApprovalLink } from '../../../core/approvals/link.js'
import type { GatewayConfig } from '../../../core/config/load.js'
import { GatewayError } from '../../../core/errors/gatewayError.js'
import type { PaymentIntent } from '../../../core/intent/types.js'
import { approveIntent, denyIntent, type ApproveIntentDeps } from '../../../core/pipeline/approveIntent.js'
import type { DestinationsFor } from '../../../core/pipeline/webhookEvent.js'
import type { PolicyEngine } from '../../../core/policy/port.js'
import type { Store } from '../../../core/store/port.js'
import type { components } from '../../../schemas/generated/gateway-api.js'
import type { ApiSchemas } from '../apiSchemas.js'
import { hasScope, requireAuth, type Authenticator } from '../auth.js'
import { locals, type Principal } from '../context.js'
import { idempotency } from '../idempotency.js'

export interface ApprovalRoutesDeps {
  config: GatewayConfig
  store: Store
  auth: Authenticator
  logger: Logger
  destinationsFor: DestinationsFor
  policy: PolicyEngine
  schemas: ApiSchemas
}

type DecideApprovalRequest = components['schemas']['DecideApprovalRequest']
type DecideByLinkRequest = components['schemas']['DecideByLinkRequest']

const INTENT_ID = /^pi_[0-9A-HJKMNP-TV-Z]{26}$/
const DEFAULT_TTL_SECONDS = 86_400

/** The API view of an approval: the derived record, the intent's status, and for deciders the signed link. */
type ApprovalView = Approval & { intent_status: PaymentIntent['status']; approve_url?: string | undefined }

function canDecide(p: Principal, intent: PaymentIntent): boolean {
  return p.kind === 'admin' || (p.kind === 'merchant' && intent.merchant_id === p.id)
}

function baseUrlOf(config: GatewayConfig, req: Request): string {
  return config.server.publicUrl ?? `${req.protocol}://${req.get('host') ?? `${config.server.host}:${config.server.port}`}`
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/**
 * The approvals API (`schemas/gateway.openapi.yaml`): pending approvals for admins and merchants,
 * one approval with its review reasons and decision, approve / deny, and the signed approval link
 * (`/decide?exp=…&sig=…`) a person opens without an API key. Every decision is an audit event of
 * the intent with the decider as actor (see core/pipeline/approveIntent.ts).
 */
export function approvalRoutes(deps: ApprovalRoutesDeps): Router {
  const r = Router()
  const ttlSeconds = deps.config.approvals?.ttlSeconds ?? DEFAULT_TTL_SECONDS
  const secret = approvalLinkSecret(deps.config)
  const anyKey = requireAuth(deps.auth)
  const deciders = requireAuth(deps.auth, { kinds: ['admin', 'merchant'] })
  const guardRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true })
  const pipeline: ApproveIntentDeps = { store: deps.store, destinationsFor: deps.destinationsFor, policy: deps.policy }

  const view = async (intent: PaymentIntent, req: Request, withLink: boolean): Promise<ApprovalView> => {
    const approval = approvalFromEvents(intent, await deps.store.listEvents(intent.id), ttlSeconds)
    if (!approval) throw new GatewayError('GW_NOT_FOUND', `intent ${intent.id} never needed an approval`)
    return {
      ...approval,
      intent_status: intent.status,
      ...(withLink && approval.status === 'pending' ? { approve_url: approvalUrl(deps.config, baseUrlOf(deps.config, req), intent.id) } : {}),
    }
  }

  /** The intent, when the caller may see its approval (others get 404: existence does not leak). */
  const load = async (req: Request, res: Response): Promise<PaymentIntent> => {
    const id = String(req.params['intent_id'])
    if (!INTENT_ID.test(id)) throw new GatewayError('GW_NOT_FOUND', `no approval for ${id}`)
    const stored = await deps.store.getIntent(id)
    const p = locals(res).principal
    const visible = stored && (!p || canDecide(p, stored.intent) || (p.kind === 'agent' && stored.intent.payer.agent_id === p.id))
    if (!stored || !visible) throw new GatewayError('GW_NOT_FOUND', `no approval for ${id}`)
    return stored.intent
  }

  r.get('/approvals', deciders, async (req, res) => {
    const q = req.query
    const status = q['status'] ?? 'pending'
    if (status !== 'pending') throw new GatewayError('GW_BAD_REQUEST', 'status must be pending (decided approvals are read one by one: GET /v1/approvals/{intent_id})')
    const limit = q['limit'] === undefined ? 20 : Number(q['limit'])
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('GW_BAD_REQUEST', 'limit must be an integer from 1 to 100')
    const cursor = typeof q['cursor'] === 'string' ? q['cursor'] : undefined
    if (cursor !== undefined && !INTENT_ID.test(cursor)) throw new GatewayError('GW_BAD_REQUEST', 'cursor is not a next_cursor this API returned')
    const p = locals(res).principal!
    const merchantId = p.kind === 'merchant' ? p.id : typeof q['merchant_id'] === 'string' ? q['merchant_id'] : undefined
    const page = await deps.store.listIntents({ status: 'requires_approval', limit, cursor, merchantId })
    const data = await Promise.all(page.items.map((i) => view(i, req, true)))
    res.json({ data, has_more: page.nextCursor !== undefined, ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}) })
  })

  r.get('/approvals/:intent_id', anyKey, async (req, res) => {
    const p = locals(res).principal!
    if (p.kind === 'agent' && !hasScope(p, 'approvals:read')) throw new GatewayError('GW_FORBIDDEN', 'this key lacks the scope approvals:read')
    const intent = await load(req, res)
    res.json(await view(intent, req, canDecide(p, intent)))
  })

  for (const decision of ['approve', 'deny'] as const) {
    r.post(`/approvals/:intent_id/${decision}`, deciders, guardRequired, async (req, res) => {
      const body: unknown = req.body ?? {}
      deps.schemas.assert<DecideApprovalRequest>('DecideApprovalRequest', body)
      const note = body.note
      const intent = await load(req, res)
      const p = locals(res).principal!
      const params = { intentId: intent.id, actor: `${p.kind}:${p.id}`, note, ttlSeconds }
      const after = decision === 'approve' ? (await approveIntent(pipeline, params)).intent : await denyIntent(pipeline, params)
      res.json(await view(after, req, false))
    })
  }

  // --- the signed approval link: no API key; the HMAC over (intent id, expiry) is the authority ---

  const checkLink = async (req: Request, purpose: 'decide' | 'status' = 'decide'): Promise<PaymentIntent> => {
    const id = String(req.params['intent_id'])
    const v = INTENT_ID.test(id) ? verifyApprovalLink(secret, id, req.query['exp'], req.query['sig'], new Date(), purpose) : ({ ok: false, reason: 'malformed' } as const)
    if (!v.ok) throw new GatewayError('GW_FORBIDDEN', v.reason === 'expired' ? 'this approval link has expired; ask for a new one' : 'this approval link is not valid')
    const stored = await deps.store.getIntent(id)
    if (!stored) throw new GatewayError('GW_NOT_FOUND', `no approval for ${id}`)
    return stored.intent
  }

  r.get('/approvals/:intent_id/decide', async (req, res) => {
    const intent = await checkLink(req)
    const v = await view(intent, req, false)
    if (!req.accepts(['application/json', 'text/html']) || req.accepts(['application/json', 'text/html']) === 'application/json') {
      res.json(v)
      return
    }
    const action = (d: string): string => escapeHtml(`${req.baseUrl}${req.path}?exp=${String(req.query['exp'])}&sig=${String(req.query['sig'])}&decision=${d}`)
    const amount = `${v.amount.value} (minor units) ${v.amount.asset}`
    const buttons = v.status === 'pending' ? `<form method="post" action="${action('approve')}"><button>Approve</button></form><form method="post" action="${action('deny')}"><button>Deny</button></form>` : `<p>Decided: <b>${escapeHtml(v.status)}</b></p>`
    res
      .type('html')
      .setHeader('Cache-Control', 'no-store')
      .send(
        `<!doctype html><meta charset="utf-8"><title>Approve payment</title><h1>Approve a payment by agent ${escapeHtml(v.agent_id)}</h1>` +
          `<p>Merchant ${escapeHtml(v.merchant_id)}, amount ${escapeHtml(amount)}</p><p>Why it needs you: ${escapeHtml(v.reasons.join(', ') || 'review')}</p>${buttons}`,
      )
  })

  // A status link (UCP's continue_url unless buyers decide by link): shows the approval, decides nothing.
  r.get('/approvals/:intent_id/status', async (req, res) => {
    const intent = await checkLink(req, 'status')
    const v = await view(intent, req, false)
    if (!req.accepts(['application/json', 'text/html']) || req.accepts(['application/json', 'text/html']) === 'application/json') {
      res.json(v)
      return
    }
    const amount = `${v.amount.value} (minor units) ${v.amount.asset}`
    const state = v.status === 'pending' ? '<p>Waiting for the approver. Complete the purchase again once it is approved.</p>' : `<p>Decided: <b>${escapeHtml(v.status)}</b></p>`
    res
      .type('html')
      .setHeader('Cache-Control', 'no-store')
      .send(`<!doctype html><meta charset="utf-8"><title>Payment approval</title><h1>A payment by agent ${escapeHtml(v.agent_id)} needs an approval</h1><p>Merchant ${escapeHtml(v.merchant_id)}, amount ${escapeHtml(amount)}</p>${state}`)
  })

  r.post('/approvals/:intent_id/decide', async (req, res) => {
    const intent = await checkLink(req)
    const body: unknown = req.body ?? {}
    deps.schemas.assert<DecideByLinkRequest>('DecideByLinkRequest', body)
    const decision = req.query['decision'] ?? body.decision
    if (decision !== 'approve' && decision !== 'deny') throw new GatewayError('GW_BAD_REQUEST', 'decision must be approve or deny (query or JSON body)')
    const note = body.note
    const current = await view(intent, req, false)
    // Opening the same link twice is harmless: the decision already taken is answered again.
    const wanted = decision === 'approve' ? 'approved' : 'denied'
    if (current.status === wanted) {
      res.json(current)
      return
    }
    const params = { intentId: intent.id, actor: 'approver:link', note, ttlSeconds }
    const after = decision === 'approve' ? (await approveIntent(pipeline, params)).intent : await denyIntent(pipeline, params)
    res.json(await view(after, req, false))
  })
  return r
}
