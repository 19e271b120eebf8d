import express, { type NextFunction, type Request, type Response, type Router } from 'express'
import { timingSafeEqual, createHash } from 'node:crypto'
import { errorCatalog } from '../../../core/errors/catalog.js'
import { isGatewayError, type GatewayError } from '../../../core/errors/gatewayError.js'
import type { CheckoutSessionRecord } from '../../../core/store/port.js'
import { newId } from '../../../core/util/ids.js'
import type { HttpAppDeps, Mount } from '../../http/app.js'
import { locals, rawBody } from '../../http/context.js'
import { toGatewayError } from '../../http/errors.js'
import { idempotency } from '../../http/idempotency.js'
import { merchantAuthorization } from './ap2.js'
import { catalogFromAcpSnapshot, isAcpSource } from './catalog.js'
import { completeBlockers, priceCheckout, readCheckoutInput, type CheckoutDoc, type UcpMessage } from './checkout.js'
import { contentDigest, publicJwk, signMessage, verifyRequestSignature, SIGNATURE_ERRORS } from './httpSignatures.js'
import { negotiate, ProfileFetcher, parseUcpAgent, UcpTransportError, type BusinessCapabilities, type Negotiated, type PlatformProfile } from './negotiation.js'
import { CAP, UCP_VERSION, type UcpOptions } from './options.js'
import { buildOrder, type OrderDoc } from './order.js'
import { payCheckout, registerMockRail, handlerDeclarations, type Ap2Check, type PayResult } from './payment.js'
import { verifyUcpMandates } from './ap2Check.js'
import { orderWebhookRow, ucpOutboxDestination } from './webhooks.js'
import { approvalUrl } from '../../../core/approvals/link.js'

const SPEC = 'https://ucp.dev/2026-04-08/specification'
const SCHEMA = 'https://ucp.dev/2026-04-08/schemas/shopping'

/** What we store per checkout (the record's `doc`). Never holds credentials. */
export interface StoredCheckout {
  checkout: CheckoutDoc
  platform: { profileUrl?: string | undefined; webhookUrl?: string | undefined; capabilities: Record<string, string> }
  /** Complete attempts so far (each attempt has its own payment dedupe key). */
  attempts: number
  intentId?: string | undefined
  /** Approvals (issue 10, A): the attempt whose intent awaits a person; the next complete retries it (same dedupe key). */
  approvalAttempt?: number | undefined
}

/** What we store per order (record `protocol: 'ucp.order'`). */
export interface StoredOrder {
  order: OrderDoc
  webhookUrl?: string | undefined
  profileUrl?: string | undefined
}

interface UcpLocals {
  ucp: Negotiated
}
const ucpLocals = (res: Response): UcpLocals => res.locals as UcpLocals

/** Our capabilities (name → versions, parent). */
function businessCapabilities(o: UcpOptions): BusinessCapabilities {
  const caps: BusinessCapabilities = {
    [CAP.checkout]: { versions: [UCP_VERSION] },
    [CAP.order]: { versions: [UCP_VERSION] },
    [CAP.fulfillment]: { versions: [UCP_VERSION], extends: CAP.checkout },
    [CAP.discount]: { versions: [UCP_VERSION], extends: CAP.checkout },
    [CAP.buyerConsent]: { versions: [UCP_VERSION], extends: CAP.checkout },
  }
  if (o.ap2?.enabled) caps[CAP.ap2] = { versions: [UCP_VERSION], extends: CAP.checkout }
  return caps
}

const CAP_DOC: Record<string, string> = {
  [CAP.checkout]: 'checkout',
  [CAP.order]: 'order',
  [CAP.fulfillment]: 'fulfillment',
  [CAP.discount]: 'discount',
  [CAP.buyerConsent]: 'buyer_consent',
  [CAP.ap2]: 'ap2_mandate',
}

/** The business profile served at `/.well-known/ucp` (DIGEST §1.1). */
export function businessProfile(o: UcpOptions): Record<string, unknown> {
  const endpoint = `${o.publicBaseUrl.replace(/\/+$/, '')}${o.basePath ?? '/ucp/v1'}`
  const caps = businessCapabilities(o)
  return {
    ucp: {
      version: UCP_VERSION,
      services: {
        'dev.ucp.shopping': [{ version: UCP_VERSION, spec: `${SPEC}/overview`, transport: 'rest', endpoint, schema: 'https://ucp.dev/2026-04-08/services/shopping/rest.openapi.json' }],
      },
      capabilities: Object.fromEntries(
        Object.entries(caps).map(([name, c]) => [
          name,
          c.versions.map((v) => ({
            version: v,
            spec: `${SPEC}/${CAP_DOC[name] ?? name}`,
            schema: `${SCHEMA}/${CAP_DOC[name] ?? name}.json`,
            ...(c.extends ? { extends: c.extends } : {}),
            ...(name === CAP.ap2 ? { config: { vp_formats_supported: { 'dc+sd-jwt': {} } } } : {}),
          })),
        ]),
      ),
      payment_handlers: handlerDeclarations(o),
    },
    signing_keys: [publicJwk(o.signingKey)],
  }
}

/** The transport error body `{code, content}` (DIGEST §2.3, §11). */
function sendTransportError(res: Response, status: number, code: string, content: string, headers: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.status(status).json({ code, content })
}

const GW_TO_UCP: Partial<Record<GatewayError['code'], { status: number; code: string }>> = {
  GW_IDEMPOTENCY_CONFLICT: { status: 409, code: 'idempotency_conflict' },
  GW_IDEMPOTENCY_IN_FLIGHT: { status: 409, code: 'idempotency_in_flight' },
  GW_IDEMPOTENCY_KEY_REQUIRED: { status: 400, code: 'idempotency_key_required' },
  GW_IDEMPOTENCY_KEY_INVALID: { status: 400, code: 'invalid_request' },
  GW_BAD_REQUEST: { status: 400, code: 'invalid_request' },
  GW_SCHEMA_INVALID: { status: 400, code: 'invalid_request' },
  GW_BODY_TOO_LARGE: { status: 413, code: 'payload_too_large' },
  GW_UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  GW_NOT_FOUND: { status: 404, code: 'not_found' },
  GW_INTENT_CONFLICT: { status: 409, code: 'conflict' },
  GW_RATE_LIMITED: { status: 429, code: 'rate_limited' },
  GW_STORE_UNAVAILABLE: { status: 503, code: 'service_unavailable' },
  GW_RAIL_UNAVAILABLE: { status: 503, code: 'service_unavailable' },
}

/**
 * The UCP business surface (2026-04-08): `/.well-known/ucp`, checkout REST, orders, the testing
 * endpoint, with negotiation, RFC 9421 verification, signed responses and webhooks.
 */
export function ucpMount(options: UcpOptions): Mount {
  return (app, deps) => {
    const o = options
    const clock = o.clock ?? (() => new Date())
    const basePath = o.basePath ?? '/ucp/v1'
    const origin = o.publicBaseUrl.replace(/\/+$/, '')
    const currency = o.currency ?? 'USD'
    const caps = businessCapabilities(o)
    const profileDoc = businessProfile(o)
    const profileJson = JSON.stringify(profileDoc)
    const lenient = o.negotiation?.lenient ?? false
    // Order webhooks leave through the gateway's outbox worker, signed with our key (RFC 9421).
    deps.addOutboxDestination(ucpOutboxDestination({ key: o.signingKey, profileUrl: ucpProfileUrl(o), timeoutMs: deps.config.outbox.timeoutMs }))
    const fetcher = new ProfileFetcher({
      timeoutMs: o.negotiation?.fetchTimeoutMs ?? 3000,
      ttlMs: Math.max(60_000, o.negotiation?.cacheTtlMs ?? 60_000),
      allowInsecureLocalhost: o.negotiation?.allowInsecureLocalhost ?? false,
      clock,
    })
    registerMockRail(deps.rails, o)
    const log = deps.logger.child({ protocol: 'ucp' })

    app.get('/.well-known/ucp', (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=300')
      res.type('application/json').send(profileJson)
    })

    // --- per-request negotiation + signature verification ---------------------------------------
    const negotiateMw = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const header = req.get('ucp-agent')
      let profile: PlatformProfile | undefined
      if (header !== undefined || !lenient) {
        const url = parseUcpAgent(header)
        try {
          profile = await fetcher.get(url)
        } catch (err) {
          if (!(lenient && err instanceof UcpTransportError && err.code !== 'invalid_profile_url')) throw err
        }
      }
      const n = negotiate(caps, profile, lenient)
      ucpLocals(res).ucp = n
      // RFC 9421: required when the platform publishes keys; verified whenever present.
      const signed = req.get('signature-input') !== undefined || req.get('signature') !== undefined
      if ((profile && profile.signingKeys.length > 0) || signed) {
        const q = req.originalUrl.indexOf('?')
        const v = verifyRequestSignature({
          method: req.method,
          authority: req.get('host'),
          path: q < 0 ? req.originalUrl : req.originalUrl.slice(0, q),
          query: q < 0 ? '' : req.originalUrl.slice(q),
          header: (n2) => req.get(n2),
          body: rawBody(req) ?? Buffer.alloc(0),
          keys: profile?.signingKeys ?? [],
          now: Math.floor(clock().getTime() / 1000),
        })
        if (!v.ok) throw new UcpTransportError(SIGNATURE_ERRORS[v.code], v.code, v.content)
      }
      // Idempotency keys are scoped per platform (profile URL), operation and resource.
      locals(res).principal = { keyId: 'ucp-profile', kind: 'agent', id: profile ? createHash('sha256').update(profile.url).digest('hex').slice(0, 32) : 'ucp-anonymous', scopes: [] }
      next()
    }

    // --- response helpers --------------------------------------------------------------------------
    const checkoutUcp = (n: Negotiated): Record<string, unknown> => {
      const active = Object.entries(n.capabilities).filter(([name]) => name === CAP.checkout || caps[name]?.extends === CAP.checkout)
      return { version: n.version, capabilities: Object.fromEntries(active.map(([name, v]) => [name, [{ version: v }]])), payment_handlers: handlerDeclarations(o) }
    }
    /** Send JSON with the exact bytes signed (`@status content-digest content-type`). */
    const sendSigned = (res: Response, status: number, body: unknown): void => {
      const text = JSON.stringify(body)
      const bytes = Buffer.from(text, 'utf8')
      const headers: Record<string, string> = { 'content-type': 'application/json', 'content-digest': contentDigest(bytes) }
      const sig = signMessage(['@status', 'content-digest', 'content-type'], { status, header: (n) => headers[n] }, o.signingKey, Math.floor(clock().getTime() / 1000))
      res.status(status)
      res.setHeader('Content-Type', headers['content-type'] ?? 'application/json')
      res.setHeader('Content-Digest', headers['content-digest'] ?? '')
      res.setHeader('Signature-Input', sig['Signature-Input'])
      res.setHeader('Signature', sig.Signature)
      res.end(bytes)
    }
    const sendCheckout = (res: Response, status: number, checkout: CheckoutDoc, n: Negotiated): void => {
      const body: Record<string, unknown> = { ucp: checkoutUcp(n), ...checkout }
      if (n.capabilities[CAP.ap2]) body['ap2'] = { merchant_authorization: merchantAuthorization(body, o.signingKey) }
      sendSigned(res, status, body)
    }
    const sendErrorEnvelope = (res: Response, n: Negotiated | undefined, messages: UcpMessage[], status = 200): void => {
      sendSigned(res, status, { ucp: { version: n?.version ?? UCP_VERSION, status: 'error' }, messages })
    }
    const notFound = (res: Response, what: string): void =>
      sendErrorEnvelope(res, ucpLocals(res).ucp, [{ type: 'error', code: 'not_found', content: `${what} not found`, severity: 'unrecoverable' }])

    const requireCapability = (name: string) => (_req: Request, res: Response, next: NextFunction) => {
      if (ucpLocals(res).ucp.capabilities[name]) return next()
      sendErrorEnvelope(res, ucpLocals(res).ucp, [{ type: 'error', code: 'capabilities_incompatible', content: `capability ${name} is not in the negotiated intersection`, severity: 'unrecoverable' }])
    }

    const ownsSession = (s: { platform?: { profileUrl?: string | undefined }; profileUrl?: string | undefined }, res: Response): boolean => {
      const mine = ucpLocals(res).ucp.profile?.url
      const theirs = s.platform?.profileUrl ?? s.profileUrl
      return theirs === mine
    }

    const loadCheckout = async (id: string): Promise<{ rec: CheckoutSessionRecord; s: StoredCheckout } | undefined> => {
      const rec = await deps.store.getCheckoutSession(id)
      if (!rec || rec.protocol !== 'ucp' || rec.merchantId !== o.merchantId) return undefined
      return { rec, s: rec.doc as StoredCheckout }
    }
    const saveCheckout = async (rec: CheckoutSessionRecord, s: StoredCheckout): Promise<CheckoutSessionRecord> => {
      const next: CheckoutSessionRecord = { ...rec, status: s.checkout.status, version: rec.version + 1, doc: s, updatedAt: clock() }
      const r = await deps.store.updateCheckoutSession(next, rec.version)
      if (!r.ok) throw new UcpTransportError(409, 'conflict', 'the checkout was changed concurrently; retry')
      return next
    }
    const defaultLinks = [{ type: 'terms_of_service', url: `${origin}/terms` }, { type: 'privacy_policy', url: `${origin}/privacy` }]
    const priceCtx = async (n: Negotiated) => {
      const src = o.catalog
      if (isAcpSource(src)) {
        const cat = catalogFromAcpSnapshot(await src.acpPort.snapshot(src.merchantId ?? o.merchantId), currency)
        return { catalog: cat, currency, capabilities: n.capabilities, links: [...(o.links ?? (cat.links.length ? cat.links : defaultLinks))] }
      }
      return { catalog: src, currency, capabilities: n.capabilities, links: [...(o.links ?? defaultLinks)] }
    }

    const router: Router = express.Router()
    router.use((req, _res, next) => {
      const hasBody = (rawBody(req)?.length ?? 0) > 0
      if (hasBody && (req.method === 'POST' || req.method === 'PUT') && !req.is(['application/json', 'application/*+json']))
        throw new UcpTransportError(415, 'unsupported_media_type', 'send the body as application/json')
      next()
    })
    router.use(negotiateMw)
    const idem = idempotency({ store: deps.store, logger: deps.logger, leaseMs: 60_000, clock })
    const idemRequired = idempotency({ store: deps.store, logger: deps.logger, leaseMs: 60_000, clock, required: true })

    // --- checkout -----------------------------------------------------------------------------------
    router.post('/checkout-sessions', requireCapability(CAP.checkout), idem, async (req, res) => {
      const n = ucpLocals(res).ucp
      const read = readCheckoutInput(req.body)
      if (!read.ok) return sendTransportError(res, 400, 'invalid_request', read.problems.map((p) => `${p.path}: ${p.content}`).join('; '))
      const id = newId('chk')
      const priced = priceCheckout(id, read.input, await priceCtx(n))
      if ('unrecoverable' in priced) return sendErrorEnvelope(res, n, priced.unrecoverable)
      const now = clock()
      const checkout = { ...priced.checkout, expires_at: new Date(now.getTime() + (o.checkoutTtlMs ?? 6 * 3_600_000)).toISOString() }
      const s: StoredCheckout = { checkout, platform: { profileUrl: n.profile?.url, webhookUrl: n.profile?.webhookUrl, capabilities: n.capabilities }, attempts: 0 }
      await deps.store.insertCheckoutSession({ id, protocol: 'ucp', merchantId: o.merchantId, status: checkout.status, version: 1, doc: s, createdAt: now, updatedAt: now })
      sendCheckout(res, 201, checkout, n)
    })

    router.get('/checkout-sessions/:id', requireCapability(CAP.checkout), async (req, res) => {
      const found = await loadCheckout(String(req.params['id']))
      if (!found || !ownsSession(found.s, res)) return notFound(res, 'checkout')
      sendCheckout(res, 200, found.s.checkout, ucpLocals(res).ucp)
    })

    router.put('/checkout-sessions/:id', requireCapability(CAP.checkout), idem, async (req, res) => {
      const n = ucpLocals(res).ucp
      const found = await loadCheckout(String(req.params['id']))
      if (!found || !ownsSession(found.s, res)) return notFound(res, 'checkout')
      const { rec, s } = found
      if (isTerminal(s.checkout.status) || s.checkout.status === 'complete_in_progress')
        return sendTransportError(res, 409, 'invalid_state', `a ${s.checkout.status} checkout cannot be updated`)
      const read = readCheckoutInput(req.body)
      if (!read.ok) return sendTransportError(res, 400, 'invalid_request', read.problems.map((p) => `${p.path}: ${p.content}`).join('; '))
      const priced = priceCheckout(rec.id, read.input, await priceCtx(n), s.checkout)
      if ('unrecoverable' in priced) return sendErrorEnvelope(res, n, priced.unrecoverable)
      const checkout = { ...priced.checkout, ...(s.checkout.expires_at ? { expires_at: s.checkout.expires_at } : {}) }
      await saveCheckout(rec, { ...s, checkout })
      sendCheckout(res, 200, checkout, n)
    })

    router.post('/checkout-sessions/:id/cancel', requireCapability(CAP.checkout), idemRequired, async (req, res) => {
      const n = ucpLocals(res).ucp
      const found = await loadCheckout(String(req.params['id']))
      if (!found || !ownsSession(found.s, res)) return notFound(res, 'checkout')
      const { rec, s } = found
      if (isTerminal(s.checkout.status) || s.checkout.status === 'complete_in_progress')
        return sendTransportError(res, 409, 'invalid_state', `a ${s.checkout.status} checkout cannot be canceled`)
      const { messages: _m, ...rest } = s.checkout
      const checkout: CheckoutDoc = { ...rest, status: 'canceled' }
      await saveCheckout(rec, { ...s, checkout })
      sendCheckout(res, 200, checkout, n)
    })

    router.post('/checkout-sessions/:id/complete', requireCapability(CAP.checkout), idemRequired, async (req, res) => {
      const n = ucpLocals(res).ucp
      const found = await loadCheckout(String(req.params['id']))
      if (!found || !ownsSession(found.s, res)) return notFound(res, 'checkout')
      let { rec, s } = found
      if (isTerminal(s.checkout.status) || s.checkout.status === 'complete_in_progress')
        return sendTransportError(res, 409, 'invalid_state', `a ${s.checkout.status} checkout cannot be completed`)
      // Approvals (issue 10, A): a checkout escalated for approval completes again with the same
      // attempt (so the same intent): approved → it settles with this credential; pending → escalated again.
      const awaiting = s.approvalAttempt !== undefined && s.checkout.status === 'requires_escalation'
      const { continue_url: _cu, messages: _msgs, ...unescalated } = s.checkout
      const base: CheckoutDoc = awaiting ? { ...unescalated, status: 'ready_for_complete' } : found.s.checkout
      const blockers = awaiting ? undefined : completeBlockers(s.checkout, n.capabilities)
      if (blockers) return sendCheckout(res, 200, { ...s.checkout, messages: blockers }, n)
      const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>
      // Lock the session: a concurrent complete loses on the version check.
      const attempt = awaiting ? s.approvalAttempt! : s.attempts + 1
      const locked: StoredCheckout = { ...s, attempts: Math.max(attempt, s.attempts), approvalAttempt: undefined, checkout: { ...base, status: 'complete_in_progress' } }
      rec = await saveCheckout(rec, locked)
      s = locked
      const session = base
      const ap2Check: Ap2Check = async ({ mandate, paymentMandate }) =>
        verifyUcpMandates({ options: o, key: o.signingKey, store: deps.store, checkoutMandate: mandate, paymentMandate, session, now: clock() })
      let result: PayResult
      try {
        result = await payCheckout({ deps, options: o, checkout: s.checkout, negotiated: n, body, attempt, ap2Check })
      } catch (e) {
        // The rail may have moved money: stay complete_in_progress (reconciliation finishes the intent).
        if (isGatewayError(e) && e.code === 'GW_RAIL_TIMEOUT') return sendCheckout(res, 200, s.checkout, n)
        // Nothing was settled with certainty: unlock so the platform can retry (the dedupe key of a
        // submitted intent is per attempt, and an unknown outcome is reconciled on that intent).
        await saveCheckout(rec, { ...s, approvalAttempt: found.s.approvalAttempt, checkout: found.s.checkout }).catch(() => undefined)
        throw e
      }
      if (result.kind === 'requires_approval') {
        // DESIGN §4.3: UCP escalates with `requires_escalation` + `continue_url`: a signed STATUS link (the
        // platform is the agent's side: it must not be able to approve its own payment), or the signed
        // decide link when the operator lets the buyer approve by link (`approvals.buyerDecidesByLink`).
        const message: UcpMessage = { type: 'error', code: 'approval_required', content: `a person must approve this payment (${result.reasons.join(', ') || 'review'}); open continue_url, then complete again`, severity: 'requires_buyer_review' }
        const escalated: StoredCheckout = { ...s, intentId: result.intentId, approvalAttempt: attempt, checkout: { ...base, status: 'requires_escalation', messages: [message], continue_url: approvalUrl(deps.config, origin, result.intentId, new Date(), deps.config.approvals?.buyerDecidesByLink ? 'decide' : 'status') } }
        await saveCheckout(rec, escalated)
        return sendCheckout(res, 200, escalated.checkout, n)
      }
      if (result.kind === 'rejected' || result.kind === 'declined') {
        const back: StoredCheckout = { ...s, checkout: { ...base, messages: result.messages } }
        await saveCheckout(rec, back)
        return sendCheckout(res, 200, back.checkout, n)
      }
      if (result.kind === 'processing') {
        const pending: StoredCheckout = { ...s, intentId: result.intentId }
        await saveCheckout(rec, pending)
        return sendCheckout(res, 200, pending.checkout, n)
      }
      // Settled: create the order and its first webhook, then complete the checkout.
      const now = clock()
      const orderId = newId('ord')
      const order = buildOrder({ id: orderId, checkout: s.checkout, permalinkBase: `${origin}/orders`, version: UCP_VERSION, orderCapVersion: n.capabilities[CAP.order] })
      const stored: StoredOrder = { order, webhookUrl: s.platform.webhookUrl, profileUrl: s.platform.profileUrl }
      await deps.store.insertCheckoutSession({ id: orderId, protocol: 'ucp.order', merchantId: o.merchantId, status: 'open', version: 1, doc: stored, createdAt: now, updatedAt: now })
      if (s.platform.webhookUrl && s.platform.capabilities[CAP.order]) {
        await deps.store.enqueueOutbox([orderWebhookRow({ webhookUrl: s.platform.webhookUrl, order, orderId, kind: 'created', now })])
      }
      const { messages: _m, ...rest } = s.checkout
      const done: StoredCheckout = { ...s, intentId: result.intentId, checkout: { ...rest, status: 'completed', order: { id: orderId, permalink_url: order.permalink_url } } }
      await saveCheckout(rec, done)
      log.info({ checkoutId: rec.id, orderId, intentId: result.intentId }, 'ucp checkout completed')
      sendCheckout(res, 200, done.checkout, n)
    })

    // --- orders ------------------------------------------------------------------------------------
    const loadOrder = async (id: string): Promise<{ rec: CheckoutSessionRecord; s: StoredOrder } | undefined> => {
      const rec = await deps.store.getCheckoutSession(id)
      if (!rec || rec.protocol !== 'ucp.order' || rec.merchantId !== o.merchantId) return undefined
      return { rec, s: rec.doc as StoredOrder }
    }
    // --- refunds (issue 10, D): the order's `adjustments[]` carry each refund, then an order update webhook ---
    // Rebuilt from the intent's refunds every time (idempotent); the webhook row commits with the intent change.
    ;(deps.refundWebhooks ??= []).push(async ({ intent, at }) => {
      if (intent.origin.protocol !== 'ucp' || intent.merchant_id !== o.merchantId) return []
      const checkout = await deps.store.getCheckoutSession(intent.origin.ref)
      const orderId = (checkout?.doc as StoredCheckout | undefined)?.checkout.order?.id
      for (let attempt = 0; orderId && attempt < 3; attempt++) {
        const found = await loadOrder(orderId)
        if (!found) return []
        const refunds = (intent.refunds ?? []).filter((r) => r.status === 'succeeded')
        const ids = new Set(refunds.map((r) => r.id))
        const adjustments = [
          ...found.s.order.adjustments.filter((a) => !ids.has(String(a['id']))),
          ...refunds.map((r) => ({ id: r.id, type: 'refund', occurred_at: r.created_at, status: 'completed', totals: [{ type: 'total', amount: -Number(r.amount.value) }], ...(r.reason ? { description: r.reason } : {}) })),
        ]
        const order: OrderDoc = { ...found.s.order, adjustments }
        const saved = await deps.store.updateCheckoutSession({ ...found.rec, version: found.rec.version + 1, doc: { ...found.s, order }, updatedAt: at }, found.rec.version)
        if (!saved.ok) continue
        return found.s.webhookUrl ? [orderWebhookRow({ webhookUrl: found.s.webhookUrl, order, orderId, kind: 'updated', now: at })] : []
      }
      return []
    })
    router.get('/orders/:id', async (req, res) => {
      const found = await loadOrder(String(req.params['id']))
      if (!found || !ownsSession(found.s, res)) return notFound(res, 'order')
      sendSigned(res, 200, found.s.order)
    })

    // --- testing -----------------------------------------------------------------------------------
    const simulateShipping = async (req: Request, res: Response): Promise<void> => {
      const secret = o.simulationSecret
      const given = req.get('simulation-secret') ?? ''
      if (secret === undefined) return sendTransportError(res, 404, 'not_found', 'no such endpoint')
      const a = createHash('sha256').update(given).digest()
      const b = createHash('sha256').update(secret).digest()
      if (!given || !timingSafeEqual(a, b)) return sendTransportError(res, 403, 'forbidden', 'a valid Simulation-Secret header is required')
      const found = await loadOrder(String(req.params['id']))
      if (!found) return sendTransportError(res, 404, 'not_found', 'order not found')
      const { rec, s } = found
      const now = clock()
      const order: OrderDoc = {
        ...s.order,
        line_items: s.order.line_items.map((l) => ({ ...l, quantity: { ...l.quantity, fulfilled: l.quantity.total }, status: l.quantity.total === 0 ? 'removed' : 'fulfilled' })),
        fulfillment: {
          ...s.order.fulfillment,
          events: [...s.order.fulfillment.events, { id: newId('fe'), occurred_at: now.toISOString(), type: 'shipped', line_items: s.order.line_items.filter((l) => l.quantity.total > 0).map((l) => ({ id: l.id, quantity: l.quantity.total })), tracking_number: `TRK${rec.version}` }],
        },
      }
      const r = await deps.store.updateCheckoutSession({ ...rec, version: rec.version + 1, status: 'shipped', doc: { ...s, order }, updatedAt: now }, rec.version)
      if (!r.ok) return sendTransportError(res, 409, 'conflict', 'the order changed concurrently; retry')
      if (s.webhookUrl) await deps.store.enqueueOutbox([orderWebhookRow({ webhookUrl: s.webhookUrl, order, orderId: rec.id, kind: 'updated', now })])
      sendSigned(res, 200, order)
    }

    // --- errors --------------------------------------------------------------------------------------
    const onError = (err: unknown, _req: Request, res: Response, next: NextFunction): void => {
      if (res.headersSent) return next(err)
      if (err instanceof UcpTransportError) return sendTransportError(res, err.status, err.code, err.message, err.headers)
      const ge = toGatewayError(err)
      const m = GW_TO_UCP[ge.code]
      const status = m?.status ?? errorCatalog[ge.code].httpStatus
      if (status >= 500) log.error({ err: ge.cause ?? ge, code: ge.code, requestId: locals(res).requestId }, ge.message)
      sendTransportError(res, status, m?.code ?? (status >= 500 ? 'internal_error' : 'invalid_request'), status >= 500 ? 'internal error' : ge.message, ge.headers ?? {})
    }
    router.use((req) => {
      throw new UcpTransportError(404, 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`)
    })
    router.use(onError)

    const testing = express.Router()
    testing.post('/testing/simulate-shipping/:id', simulateShipping)
    testing.use(onError)
    app.use(testing)
    app.use(basePath, testing)
    app.use(basePath, router)
    // Errors raised before our routers (the app-wide JSON parser) still leave in UCP's shape.
    app.use(basePath, onError)
    app.use('/testing', onError)
  }
}

function isTerminal(s: string): boolean {
  return s === 'completed' || s === 'canceled'
}

/** The business profile URL a gateway serves (the `UCP-Agent` of our webhooks). */
export function ucpProfileUrl(options: Pick<UcpOptions, 'publicBaseUrl'>): string {
  return `${options.publicBaseUrl.replace(/\/+$/, '')}/.well-known/ucp`
}

export type { HttpAppDeps }
