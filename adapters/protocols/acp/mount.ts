import { signWebhook } from '../../../core/events/webhookSignature.js'
import express, { type RequestHandler, type Response } from 'express'
import type { IntentLineItem, IntentTotal, PaymentIntent } from '../../../core/intent/types.js'
import { processPayment, type ProcessPaymentReturnType } from '../../../core/pipeline/processPayment.js'
import type { CheckoutSessionRecord, OutboxInsert } from '../../../core/store/port.js'
import { newId, ulid } from '../../../core/util/ids.js'
import type { Mount } from '../../http/app.js'
import { requireAuth } from '../../http/auth.js'
import { locals } from '../../http/context.js'
import { errorHandler } from '../../http/errors.js'
import { idempotency } from '../../http/idempotency.js'
import { createHttpCatalog, createJsonCatalog, type CatalogPort } from './catalog.js'
import { acpError, renderAcpError, renderDelegateError } from './errors.js'
import { handlerById, offeredHandlers, type HandlerContext, type PreparedPayment } from './handlers.js'
import type { AcpMountOptions } from './options.js'
import { ACP_VERSION, acpSchemas, type AcpRequestSchema } from './schemas.js'
import { findProblems, priceSession, sessionObject, TERMINAL, type Json, type PriceResult, type SessionInputs } from './session.js'
import { verifySignature } from './signature.js'
import { scopedTokenSettings } from '../../../core/tokens/index.js'
import { createVault, parseVaultKey, type Vault } from './vault.js'

/** API versions we accept, newest first (the `supported_versions` of version errors). */
export const SUPPORTED_VERSIONS = [ACP_VERSION]

/** How long a `complete_in_progress` lock without a recorded intent may live (a crashed completion). */
const STALE_LOCK_MS = 120_000

/** What we keep per session: the returned object plus the inputs and internal state (never credentials). */
interface SessionDoc {
  session: Json
  inputs: SessionInputs
  priced: PriceResult
  agentId: string
  intentId?: string | undefined
  /** The handler and dedupe key of the completion under way (`complete_in_progress`). */
  pending?: { handlerId: string; dedupeKey: string; tokenId?: string | undefined } | undefined
  order?: Json | undefined
  /** Write-only fields (stored, never echoed: DIGEST §3.3, §3.4). */
  intent_trace?: Json | undefined
  order_notes?: string | undefined
  affiliate_attribution?: Json[] | undefined
  marketing_consents?: Json[] | undefined
  risk_signals?: Json | undefined
}

/**
 * The ACP surface (API-Version 2026-04-17): the checkout API under `/acp` (the gateway plays the
 * merchant's seller endpoint), the delegate-payment vault (PSP role) at
 * `/acp/agentic_commerce/delegate_payment`, the `/.well-known/acp.json` discovery document, and
 * order webhooks through the outbox.
 *
 * @example createGateway(config, { mounts: [acpMount({ merchantId: 'demo', vault: { encryptionKey }, handlers: { card: {} } })] })
 */
export function acpMount(options: AcpMountOptions): Mount {
  return (app, deps) => {
    const clock = options.clock ?? (() => new Date())
    const catalog: CatalogPort = options.httpCatalog ? createHttpCatalog({ ...options.httpCatalog, breakers: deps.breakers }) : (options.catalog ?? createJsonCatalog())
    const vault: Vault | undefined = options.vault ? createVault(deps.store, parseVaultKey(options.vault.encryptionKey), options.vault.keyId) : undefined
    const configured = options.publicUrl ?? deps.config.server.publicUrl
    // Without a configured public URL, the first request's own origin is used (dev mode, tests).
    const hctx: HandlerContext = { options, rails: deps.rails, vault, publicUrl: configured?.replace(/\/+$/, '') ?? '', pspMerchantId: options.pspMerchantId ?? options.merchantId }
    // issue 10, T: the gateway-token handler redeems scoped tokens when the gateway has a `tokens` section.
    const tokenSettings = scopedTokenSettings(deps.config)
    if (tokenSettings) {
      hctx.tokens = { store: deps.store, settings: tokenSettings, clock }
      hctx.merchantCategory = (id) => deps.config.merchants.find((m) => m.id === id)?.category
    }
    const orderUrlBase = (): string => options.orderUrlBase ?? `${hctx.publicUrl}/acp/orders/`
    const learnOrigin: RequestHandler = (req, _res, next) => {
      if (!hctx.publicUrl) hctx.publicUrl = `${req.protocol}://${req.get('host') ?? `127.0.0.1:${deps.config.server.port}`}`
      next()
    }
    const ttlMs = (options.sessionTtlSec ?? 3600) * 1000
    const schemas = acpSchemas()
    const destination = options.webhookDestination === false ? undefined : (options.webhookDestination ?? `merchant:${options.merchantId}`)
    const agentHooks = options.agentWebhooks ?? {}
    deps.addOutboxDestination((name) => {
      const hook = name.startsWith('acp-agent:') ? agentHooks[name.slice('acp-agent:'.length)] : undefined
      if (!hook) return undefined
      return {
        url: hook.url,
        secret: hook.secret,
        timeoutMs: deps.config.outbox.timeoutMs,
        sign: ({ body, sentAt }) => ({ 'Merchant-Signature': signWebhook({ secret: hook.secret, body, timestamp: sentAt }) }),
      }
    })
    const e = options.handlers?.eip3009
    if (e) {
      // The token must be an asset of the registry for the intent's amount (rails registered through
      // options.rails are not in config.rails.evm, whose tokens createGateway registers itself).
      const id = `eip155:${e.network.split(':')[1]}/erc20:${e.tokenAddress.toLowerCase()}`
      if (!deps.assets.get(id)) deps.assets.register({ id, kind: 'token', decimals: e.decimals, symbol: e.eip712.name, network: e.network, address: e.tokenAddress.toLowerCase() })
    }

    const auth = requireAuth(deps.auth, { kinds: ['agent'] })
    const version: RequestHandler = (req, _res, next) => {
      const v = req.get('api-version')
      if (!v) throw acpError('GW_BAD_REQUEST', 'missing_api_version', `send the API-Version header (supported: ${SUPPORTED_VERSIONS.join(', ')})`, { supportedVersions: SUPPORTED_VERSIONS })
      if (!SUPPORTED_VERSIONS.includes(v)) throw acpError('GW_BAD_REQUEST', 'unsupported_api_version', `API-Version ${v} is not supported (supported: ${SUPPORTED_VERSIONS.join(', ')})`, { supportedVersions: SUPPORTED_VERSIONS })
      next()
    }
    const signed: RequestHandler = options.requestSigning ? verifySignature({ ...options.requestSigning, clock }) : (_req, _res, next) => next()
    const idem = idempotency({ store: deps.store, logger: deps.logger, leaseMs: deps.config.idempotency.leaseMs, required: true, clock })
    const echoKey: RequestHandler = (req, res, next) => {
      const k = req.get('idempotency-key')
      if (k) res.setHeader('Idempotency-Key', k)
      next()
    }
    const post = [idem, echoKey]

    const validate = (name: AcpRequestSchema, body: unknown): void => {
      const problem = schemas.checkRequest(name, body)
      if (problem) throw acpError('GW_SCHEMA_INVALID', 'invalid', problem.message, { param: problem.param })
    }

    // --- sessions ------------------------------------------------------------------------------

    const handlersFor = (currency: string): Json[] => offeredHandlers(hctx, currency)

    const build = (id: string, status: string, doc: Omit<SessionDoc, 'session'>, times: { createdAt: Date; updatedAt: Date; expiresAt: Date }, extraMessages?: Json[]): Json =>
      sessionObject({
        id,
        status,
        inputs: doc.inputs,
        priced: doc.priced,
        handlers: handlersFor(doc.inputs.currency),
        links: [],
        ...times,
        extraMessages,
        order: doc.order,
      })

    const withLinks = async (s: Json): Promise<Json> => {
      const snap = await catalog.snapshot(options.merchantId)
      s['links'] = snap.merchant.links
      return s
    }

    async function load(id: string, res: Response): Promise<{ rec: CheckoutSessionRecord; doc: SessionDoc }> {
      const rec = await deps.store.getCheckoutSession(id)
      const doc = rec?.doc as SessionDoc | undefined
      if (!rec || !doc || rec.protocol !== 'acp' || rec.merchantId !== options.merchantId || doc.agentId !== locals(res).principal?.id) {
        throw acpError('GW_NOT_FOUND', 'not_found', `no checkout session ${id}`)
      }
      return expireIfDue(rec, doc)
    }

    async function save(rec: CheckoutSessionRecord, doc: SessionDoc, status: string): Promise<CheckoutSessionRecord> {
      const now = clock()
      const next: CheckoutSessionRecord = { ...rec, status, version: rec.version + 1, doc, updatedAt: now }
      const r = await deps.store.updateCheckoutSession(next, rec.version)
      if (!r.ok) throw acpError('GW_INTENT_CONFLICT', 'conflict', 'the checkout session was changed concurrently; fetch it and retry', { headers: { 'Retry-After': '1' } })
      return next
    }

    async function expireIfDue(rec: CheckoutSessionRecord, doc: SessionDoc): Promise<{ rec: CheckoutSessionRecord; doc: SessionDoc }> {
      // A completion that died before recording its intent (process crash) releases the lock after
      // STALE_LOCK_MS; a retry with the same credential finds the same intent by its dedupe key.
      if (rec.status === 'complete_in_progress' && !doc.intentId && clock().getTime() - rec.updatedAt.getTime() > STALE_LOCK_MS) {
        const next = { ...doc, pending: undefined, session: { ...doc.session, status: 'ready_for_payment' } }
        try {
          return { rec: await save(rec, next, 'ready_for_payment'), doc: next }
        } catch {
          return { rec, doc }
        }
      }
      const expiresAt = Date.parse(String(doc.session['expires_at']))
      if (TERMINAL.has(rec.status) || rec.status === 'complete_in_progress' || clock().getTime() < expiresAt) return { rec, doc }
      const session = { ...doc.session, status: 'expired', updated_at: clock().toISOString() }
      const next = { ...doc, session }
      try {
        return { rec: await save(rec, next, 'expired'), doc: next }
      } catch {
        return { rec, doc: next }
      }
    }

    function inputsFromCreate(b: Json): SessionInputs {
      return {
        currency: String(b['currency']).toLowerCase(),
        items: itemsOf(b['line_items']),
        ...(b['buyer'] ? { buyer: b['buyer'] as Json } : {}),
        ...(b['fulfillment_details'] ? { fulfillment_details: b['fulfillment_details'] as Json } : {}),
        ...(b['selected_fulfillment_options'] ? { selected_fulfillment_options: b['selected_fulfillment_options'] as SessionInputs['selected_fulfillment_options'] } : {}),
        agent_interventions: interventionsOf(b['capabilities']),
        ...(typeof b['locale'] === 'string' ? { locale: b['locale'] } : {}),
        ...(typeof b['timezone'] === 'string' ? { timezone: b['timezone'] } : {}),
        ...(typeof b['quote_id'] === 'string' ? { quote_id: b['quote_id'] } : {}),
        ...(b['metadata'] && typeof b['metadata'] === 'object' ? { metadata: b['metadata'] as Json } : {}),
      }
    }

    const router = express.Router()
    router.use(learnOrigin, auth, version, signed)

    router.post('/checkout_sessions', ...post, async (req, res) => {
      validate('CheckoutSessionCreateRequest', req.body)
      const b = req.body as Json
      const principal = locals(res).principal!
      const inputs = inputsFromCreate(b)
      const snap = await catalog.snapshot(options.merchantId)
      const problem = findProblems(snap, inputs)
      if (problem) throw acpError('GW_BAD_REQUEST', problem.code, problem.message, { param: problem.param })
      const now = clock()
      const priced = priceSession(snap, inputs, now)
      const id = `cs_${ulid()}`
      const times = { createdAt: now, updatedAt: now, expiresAt: new Date(now.getTime() + ttlMs) }
      const partial: Omit<SessionDoc, 'session'> = { inputs, priced, agentId: principal.id, ...writeOnly(b) }
      const session = await withLinks(build(id, priced.status, partial, times))
      const doc: SessionDoc = { ...partial, session }
      await deps.store.insertCheckoutSession({ id, protocol: 'acp', merchantId: options.merchantId, status: priced.status, version: 1, doc, createdAt: now, updatedAt: now })
      res.status(201).json(session)
    })

    router.get('/checkout_sessions/:id', async (req, res) => {
      const { rec, doc } = await load(req.params['id'] as string, res)
      const fresh = rec.status === 'complete_in_progress' ? await resume(rec, doc) : doc
      res.status(200).json(fresh.session)
    })

    router.post('/checkout_sessions/:id', ...post, async (req, res) => {
      validate('CheckoutSessionUpdateRequest', req.body ?? {})
      const b = (req.body ?? {}) as Json
      const { rec, doc } = await load(req.params['id'] as string, res)
      refuseTerminal(rec.status, 'update')
      if (rec.status === 'complete_in_progress') throw acpError('GW_INVALID_TRANSITION', 'complete_in_progress', 'the session is being completed; it cannot change now')
      const inputs: SessionInputs = { ...doc.inputs }
      // Present keys replace, absent keys leave unchanged (DIGEST §3.2).
      if ('line_items' in b) inputs.items = itemsOf(b['line_items'])
      if ('buyer' in b) inputs.buyer = b['buyer'] as Json
      if ('fulfillment_details' in b) inputs.fulfillment_details = b['fulfillment_details'] as Json
      if ('selected_fulfillment_options' in b) inputs.selected_fulfillment_options = b['selected_fulfillment_options'] as SessionInputs['selected_fulfillment_options']
      const snap = await catalog.snapshot(options.merchantId)
      const problem = findProblems(snap, inputs)
      if (problem) throw acpError('GW_BAD_REQUEST', problem.code, problem.message, { param: problem.param })
      const now = clock()
      const priced = priceSession(snap, inputs, now)
      const partial: Omit<SessionDoc, 'session'> = { ...doc, inputs, priced, ...writeOnly(b, doc) }
      const session = build(rec.id, priced.status, partial, times(doc, now))
      session['links'] = snap.merchant.links
      const next: SessionDoc = { ...partial, session }
      await save(rec, next, priced.status)
      res.status(200).json(session)
    })

    router.post('/checkout_sessions/:id/cancel', ...post, async (req, res) => {
      const body = (req.body ?? {}) as Json
      validate('CancelSessionRequest', body)
      const trace = body['intent_trace'] as Json | undefined
      const meta = trace?.['metadata']
      if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta) || Object.values(meta).some((v) => v !== null && typeof v === 'object'))) {
        throw acpError('GW_BAD_REQUEST', 'invalid', 'intent_trace.metadata must be a flat map of strings, numbers and booleans', { param: '$.intent_trace.metadata' })
      }
      const { rec, doc } = await load(req.params['id'] as string, res)
      refuseTerminal(rec.status, 'cancel')
      if (rec.status === 'complete_in_progress') throw acpError('GW_INVALID_TRANSITION', 'complete_in_progress', 'the session is being completed; it cannot be canceled now')
      const now = clock()
      // The reason code is an open enum: unknown values are kept as given and read as `other` (DIGEST §3.4).
      const next: SessionDoc = { ...doc, ...(trace ? { intent_trace: trace } : {}), session: { ...doc.session, status: 'canceled', updated_at: now.toISOString() } }
      await save(rec, next, 'canceled')
      res.status(200).json(next.session)
    })

    router.post('/checkout_sessions/:id/complete', ...post, async (req, res) => {
      validate('CheckoutSessionCompleteRequest', req.body)
      const b = req.body as Json
      let { rec, doc } = await load(req.params['id'] as string, res)
      refuseTerminal(rec.status, 'complete')
      if (rec.status === 'complete_in_progress') {
        // Another completion holds the session (its answer, or GET, tells the outcome).
        throw acpError('GW_INTENT_CONFLICT', 'complete_in_progress', 'another completion of this session is under way; poll GET for its outcome', { headers: { 'Retry-After': '1' } })
      }
      // Approvals (issue 10, A): a session pending approval is completed again with the SAME dedupe
      // key (the same intent): approved → it settles with this credential; pending → still pending_approval.
      const awaitingKey = rec.status === 'pending_approval' ? doc.pending?.dedupeKey : undefined
      if (rec.status !== 'ready_for_payment' && awaitingKey === undefined) {
        throw acpError('GW_INVALID_TRANSITION', 'not_ready_for_payment', `the session is ${rec.status}; resolve its messages before completing`, { param: '$.status' })
      }
      const pd = b['payment_data'] as Json
      if (typeof pd['handler_id'] !== 'string') throw acpError('GW_BAD_REQUEST', 'unsupported', 'purchase-order payments are not supported; pay with one of the offered handlers', { param: '$.payment_data' })
      const offered = (((doc.session['capabilities'] as Json)['payment'] as Json)['handlers'] as Json[]).map((h) => h['id'])
      const handler = handlerById(pd['handler_id'])
      if (!handler || !offered.includes(pd['handler_id']) || !handlersFor(doc.inputs.currency).some((h) => h['id'] === pd['handler_id'])) {
        throw acpError('GW_BAD_REQUEST', 'invalid_handler', `handler ${pd['handler_id']} is not offered for this session (offered: ${offered.join(', ')})`, { param: '$.payment_data.handler_id' })
      }
      const token = String(((pd['instrument'] as Json)['credential'] as Json)['token'])
      const principal = locals(res).principal!
      const now = clock()
      const total = Number((doc.priced.totals.find((t) => t['type'] === 'total') as Json)['amount'])
      // Lock the session first (one completion at a time, across processes), then check and claim
      // the credential, then pay. Any error before money may have moved makes it payable again.
      if (b['buyer']) doc = { ...doc, inputs: { ...doc.inputs, buyer: b['buyer'] as Json } }
      let lockedDoc: SessionDoc = {
        ...doc,
        ...writeOnly(b, doc),
        ...(b['risk_signals'] ? { risk_signals: b['risk_signals'] as Json } : {}),
        ...(b['marketing_consents'] ? { marketing_consents: b['marketing_consents'] as Json[] } : {}),
        session: { ...doc.session, ...(b['buyer'] ? { buyer: b['buyer'] } : {}), status: 'complete_in_progress', updated_at: now.toISOString() },
      }
      rec = await save(rec, lockedDoc, 'complete_in_progress')
      let result: ProcessPaymentReturnType
      let prepared: PreparedPayment
      try {
        prepared = await handler.prepare(hctx, {
          sessionId: rec.id,
          merchantId: hctx.pspMerchantId,
          currency: doc.inputs.currency,
          total,
          token,
          idempotencyKey: req.get('idempotency-key')!,
          agentId: principal.id,
          now,
        })
        const dedupeKey = awaitingKey ?? `acp:${rec.id}:${prepared.handlerId}:${prepared.credentialRef}`
        lockedDoc = { ...lockedDoc, pending: { handlerId: prepared.handlerId, dedupeKey, ...(prepared.handlerId === 'card_vault' ? { tokenId: token } : {}) } }
        result = await processPayment(
          { store: deps.store, assets: deps.assets, destinationsFor: deps.destinationsFor, rails: deps.rails, policy: deps.policy, clock },
          {
            merchantId: options.merchantId,
            origin: { protocol: 'acp', version: ACP_VERSION, ref: rec.id },
            payer: { agent_id: principal.id, ...prepared.payer },
            amount: prepared.amount,
            instrument: prepared.instrument,
            authorization: prepared.authorization,
            lineItems: intentLineItems(doc),
            totals: intentTotals(doc),
            metadata: { acp_checkout_session_id: rec.id, acp_handler_id: prepared.handlerId },
            actor: `agent:${principal.id}`,
            dedupeKey,
            credential: prepared.credential,
            rail: prepared.rail,
          },
        )
      } catch (err) {
        // Nothing is known to have moved: the session is payable again (the dedupe key keeps a retry
        // with the same credential from paying twice).
        const back = awaitingKey === undefined ? 'ready_for_payment' : 'pending_approval'
        await save(rec, { ...doc, session: { ...doc.session, status: back } }, back).catch(() => undefined)
        throw err
      }
      const final = await applyOutcome(rec, lockedDoc, result.intent, result.kind === 'declined' ? result.reasons : undefined, prepared)
      res.status(200).json(final.session)
    })

    router.use((req) => {
      throw acpError('GW_NOT_FOUND', 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`)
    })

    /** A completion whose outcome was not yet known: look at the intent again. */
    async function resume(rec: CheckoutSessionRecord, doc: SessionDoc): Promise<SessionDoc> {
      if (!doc.intentId) return doc
      const stored = await deps.store.getIntent(doc.intentId)
      if (!stored) return doc
      return (await applyOutcome(rec, doc, stored.intent, stored.intent.status_reason ? [stored.intent.status_reason] : undefined, undefined)).doc
    }

    /** Turn the intent's state into the session's: completed + order, declined (payable again), or still in progress. */
    async function applyOutcome(
      rec: CheckoutSessionRecord,
      doc: SessionDoc,
      intent: PaymentIntent,
      reasons: string[] | undefined,
      prepared: PreparedPayment | undefined,
    ): Promise<{ doc: SessionDoc; session: Json }> {
      const now = clock()
      const finishToken = async (): Promise<void> => {
        if (prepared?.finish) await prepared.finish(intent)
        else if (doc.pending?.tokenId && vault) await vault.finish(doc.pending.tokenId)
      }
      if (intent.status === 'succeeded') {
        await finishToken()
        const order = makeOrder(rec.id, doc, intent)
        const session: Json = { ...doc.session, status: 'completed', messages: [], order, updated_at: now.toISOString() }
        const next: SessionDoc = { ...doc, session, order, intentId: intent.id, pending: undefined }
        await save(rec, next, 'completed')
        await enqueueOrderEvents(rec.id, order, now, intent.payer.agent_id)
        return { doc: next, session }
      }
      if (intent.status === 'failed' || intent.status === 'canceled') {
        await finishToken()
        const reason = reasons?.[0] ?? intent.status_reason ?? 'declined'
        const declined: Json = { type: 'error', code: 'payment_declined', param: '$.payment_data', content_type: 'plain', content: `the payment was declined (${reason}); try another payment method`, severity: 'high', resolution: 'requires_buyer_input' }
        const session: Json = { ...doc.session, status: 'ready_for_payment', messages: [...(doc.priced.messages ?? []), declined], updated_at: now.toISOString() }
        const next: SessionDoc = { ...doc, session, intentId: intent.id, pending: undefined }
        await save(rec, next, 'ready_for_payment')
        return { doc: next, session }
      }
      const waiting: Json =
        intent.status === 'requires_approval'
          ? { type: 'info', content_type: 'plain', content: 'the payment awaits approval; poll GET for the outcome', severity: 'info' }
          : { type: 'info', content_type: 'plain', content: 'the payment is being confirmed on the rail; poll GET for the outcome', severity: 'info' }
      const status = intent.status === 'requires_approval' ? 'pending_approval' : 'complete_in_progress'
      const session: Json = { ...doc.session, status, messages: [waiting], updated_at: now.toISOString() }
      const next: SessionDoc = { ...doc, session, intentId: intent.id }
      if (rec.status !== status || doc.intentId !== intent.id) await save(rec, next, status)
      return { doc: next, session }
    }

    function makeOrder(sessionId: string, doc: SessionDoc, intent: PaymentIntent): Json {
      const orderId = `ord_${intent.id.slice(3)}`
      const number = intent.id.slice(-10)
      return {
        type: 'order',
        id: orderId,
        checkout_session_id: sessionId,
        order_number: number,
        permalink_url: `${orderUrlBase()}${orderId}`,
        status: 'confirmed',
        confirmation: { confirmation_number: number, ...(doc.order_notes ? { order_notes: doc.order_notes } : {}) },
        line_items: doc.priced.line_items.map((li) => ({
          id: li['id'],
          title: li['name'],
          product_id: (li['item'] as Json)['id'],
          quantity: { ordered: li['quantity'], current: li['quantity'] },
          unit_price: li['unit_amount'],
          subtotal: ((li['totals'] as Json[]).find((t) => t['type'] === 'subtotal') as Json)['amount'],
          totals: li['totals'],
          status: 'processing',
        })),
        totals: doc.priced.totals,
      }
    }

    /**
     * `order_create` then `order_update` (payment captured → `confirmed`), each a full Order
     * snapshot (DIGEST §7), through the outbox. The outbox row commits after the session update
     * (the store has no shared transaction for sessions and outbox rows): a crash in between loses
     * the webhook, never the order; GET still shows the completed session.
     */
    async function enqueueOrderEvents(sessionId: string, order: Json, now: Date, agentId: string): Promise<void> {
      const to = Object.hasOwn(agentHooks, agentId) ? `acp-agent:${agentId}` : destination
      if (!to) return
      const rows: OutboxInsert[] = [
        ['order_create', { ...order, status: 'created' }],
        ['order_update', order],
      ].map(([type, data], i) => {
        const id = newId('evt')
        return { id, type: `acp.${String(type)}`, destination: to, aggregateId: sessionId, createdAt: new Date(now.getTime() + i), payload: JSON.stringify({ type, data }) }
      })
      await deps.store.enqueueOutbox(rows)
    }

    // --- refunds (issue 10, D): `order_update` with the refund adjustments and `amount_refunded` ---
    // Committed by the refund pipeline in the same transaction as the intent change.
    ;(deps.refundWebhooks ??= []).push(async ({ intent, at }) => {
      if (intent.origin.protocol !== 'acp' || intent.merchant_id !== options.merchantId) return []
      const to = Object.hasOwn(agentHooks, intent.payer.agent_id) ? `acp-agent:${intent.payer.agent_id}` : destination
      const rec = to ? await deps.store.getCheckoutSession(intent.origin.ref) : undefined
      if (!to || !rec) return []
      const order = makeOrder(rec.id, rec.doc as SessionDoc, intent)
      const currency = intent.amount.asset.startsWith('iso4217:') ? intent.amount.asset.slice('iso4217:'.length).toLowerCase() : undefined
      const done = (intent.refunds ?? []).filter((r) => r.status === 'succeeded')
      const refunded = done.reduce((sum, r) => sum + BigInt(r.amount.value), 0n)
      const adjustments = done.map((r) => ({ id: r.id, type: 'refund', status: 'completed', occurred_at: r.created_at, amount: Number(r.amount.value), ...(currency ? { currency } : {}), ...(r.reason ? { description: r.reason } : {}) }))
      const totals = [...((order['totals'] as Json[] | undefined) ?? []).filter((t) => t['type'] !== 'amount_refunded'), { type: 'amount_refunded', display_text: 'Refunded', amount: Number(refunded) }]
      const id = newId('evt')
      return [{ id, type: 'acp.order_update', destination: to, aggregateId: rec.id, createdAt: at, payload: JSON.stringify({ type: 'order_update', data: { ...order, adjustments, totals } }) }]
    })

    // --- delegate payment (PSP role) -------------------------------------------------------------

    const delegate = express.Router()
    delegate.use(learnOrigin, auth, version, signed)
    delegate.post('/delegate_payment', ...post, async (req, res) => {
      if (!vault) throw acpError('GW_NOT_FOUND', 'not_found', 'this gateway has no delegate-payment vault configured')
      const problem = schemas.checkDelegateRequest(req.body)
      if (problem) throw acpError('GW_SCHEMA_INVALID', 'invalid_card', problem.message, { param: problem.param })
      const out = await vault.delegate(req.body as Json, { agentId: locals(res).principal!.id, idempotencyKey: req.get('idempotency-key'), now: clock() })
      res.status(201).json(out)
    })
    delegate.use((req) => {
      throw acpError('GW_NOT_FOUND', 'not_found', `no route ${req.method} ${req.baseUrl}${req.path}`)
    })

    // --- discovery (public) ----------------------------------------------------------------------

    app.get('/.well-known/acp.json', learnOrigin, async (_req, res) => {
      const snap = await catalog.snapshot(options.merchantId)
      res.setHeader('Cache-Control', 'public, max-age=3600')
      res.json({
        protocol: { name: 'acp', version: ACP_VERSION, supported_versions: [...SUPPORTED_VERSIONS].sort() },
        api_base_url: `${hctx.publicUrl}/acp`,
        transports: ['rest'],
        capabilities: {
          services: ['checkout', 'orders', ...(vault ? ['delegate_payment'] : [])],
          intervention_types: ['3ds', 'address_verification'],
          supported_currencies: snap.currencies,
        },
      })
    })

    app.use('/acp/agentic_commerce', delegate, errorHandler(deps.logger, renderDelegateError))
    app.use('/acp', router, errorHandler(deps.logger, renderAcpError))
  }
}

function refuseTerminal(status: string, what: string): void {
  if (TERMINAL.has(status)) {
    throw acpError('GW_METHOD_NOT_ALLOWED', `checkout_session_${status}`, `the checkout session is ${status}; it cannot ${what}`)
  }
}

/** Request items: `{id, quantity?}`; a missing quantity is 1 (DIGEST §12.1: the spec dropped it, agents still send it). */
function itemsOf(v: unknown): SessionInputs['items'] {
  return (v as Json[]).map((it) => ({
    id: String(it['id']),
    quantity: typeof it['quantity'] === 'number' ? it['quantity'] : 1,
    ...(typeof it['unit_amount'] === 'number' ? { unit_amount: it['unit_amount'] } : {}),
  }))
}

function interventionsOf(caps: unknown): string[] {
  const s = ((caps as Json | undefined)?.['interventions'] as Json | undefined)?.['supported']
  return Array.isArray(s) ? s.filter((x): x is string => typeof x === 'string') : []
}

function writeOnly(b: Json, prev?: Partial<SessionDoc>): Partial<SessionDoc> {
  const out: Partial<SessionDoc> = {}
  if (typeof b['order_notes'] === 'string') out.order_notes = b['order_notes']
  if (b['affiliate_attribution']) out.affiliate_attribution = [...(prev?.affiliate_attribution ?? []), b['affiliate_attribution'] as Json]
  return out
}

function times(doc: SessionDoc, now: Date): { createdAt: Date; updatedAt: Date; expiresAt: Date } {
  return { createdAt: new Date(String(doc.session['created_at'])), updatedAt: now, expiresAt: new Date(String(doc.session['expires_at'])) }
}

function intentLineItems(doc: SessionDoc): IntentLineItem[] {
  const asset = `iso4217:${doc.inputs.currency.toUpperCase()}`
  return doc.priced.line_items.map((li) => ({
    id: String(li['id']).slice(0, 128),
    title: String(li['name']).slice(0, 512),
    quantity: Number(li['quantity']),
    unit_amount: { value: String(li['unit_amount']), asset },
  }))
}

function intentTotals(doc: SessionDoc): IntentTotal[] {
  const asset = `iso4217:${doc.inputs.currency.toUpperCase()}`
  const known = new Set(['subtotal', 'discount', 'fulfillment', 'tax', 'fee', 'total'])
  return doc.priced.totals
    .filter((t) => known.has(String(t['type'])))
    .map((t) => ({ type: t['type'] as IntentTotal['type'], amount: { value: String(t['amount']), asset } }))
}

