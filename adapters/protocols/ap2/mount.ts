import { createHash } from 'node:crypto'
import express, { type Express, type Request, type Response } from 'express'
import type { Logger } from 'pino'
import { errorCatalog } from '../../../core/errors/catalog.js'
import type { GatewayError } from '../../../core/errors/gatewayError.js'
import type { HttpAppDeps, Mount } from '../../http/app.js'
import { locals } from '../../http/context.js'
import { errorHandler, type ErrorRenderer } from '../../http/errors.js'
import { a2aRouter, AP2_EXTENSION_URI } from './a2a.js'
import { AP2_HTTP_STATUS, type Ap2ErrorCode } from './errors.js'
import { es256JwkProblem, isObject } from './jose.js'
import { trustedMerchants, type Ap2MountOptions, type JwkEntry } from './options.js'
import { processAp2Payment, type Ap2PaymentOutcome, type Ap2ServiceDeps } from './processAp2Payment.js'
import { createReceiptSigner } from './receipts.js'
import { receiptsForIntent, releaseIfFailed } from './receiptsForIntent.js'
import { createChallengeIds, createNonceService, memoryMandateLedger, randomSecret, storeMandateLedger } from './state.js'
import { processV01Payment } from './v01.js'
import type { TrustedKey } from './verifyMandateChain.js'
import { X402_EXTENSION_URI } from './x402.js'

/** Where the gateway publishes its receipt key (a JWK Set). */
export const AP2_JWKS_PATH = '/.well-known/ap2/jwks.json'
/** The A2A agent card. */
export const AGENT_CARD_PATH = '/.well-known/agent-card.json'

/** AP2's error body (REST): the receipt fields plus the catalogue code for gateway errors. */
export interface Ap2ErrorBody {
  status: 'Error'
  error: Ap2ErrorCode | 'server_error'
  error_description: string
  code?: string | undefined
  request_id?: string | undefined
}

/** Gateway errors in AP2's format: client errors become `invalid_request`, 401 `invalid_credential`, 5xx `server_error`. */
export const renderAp2Error: ErrorRenderer = (error: GatewayError, _req, res) => {
  const entry = errorCatalog[error.code]
  const ap2: Ap2ErrorBody['error'] = entry.httpStatus >= 500 ? 'server_error' : error.code === 'GW_UNAUTHENTICATED' ? 'invalid_credential' : 'invalid_request'
  const body: Ap2ErrorBody = { status: 'Error', error: ap2, error_description: error.message, code: error.code, request_id: locals(res).requestId }
  res.status(entry.httpStatus)
  if (error.headers) for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v)
  res.json(body)
}

/** Gateway errors on the A2A endpoint: JSON-RPC error objects (parse error, invalid request, internal). */
const renderRpcError: ErrorRenderer = (error, _req, res) => {
  const entry = errorCatalog[error.code]
  const code = error.code === 'GW_BAD_REQUEST' && /JSON/.test(error.message) ? -32700 : entry.httpStatus >= 500 ? -32603 : -32600
  res.status(entry.httpStatus >= 500 ? 500 : 200).json({ jsonrpc: '2.0', id: null, error: { code, message: error.message, data: { code: error.code } } })
}

/**
 * The AP2 surface (issue 8): register it with `createGateway(config, { mounts: [ap2Mount(options)] })`.
 *
 * - `POST <basePath>/v1/nonces` → `{ nonce, aud, expires_at }` (single-use presentation nonces)
 * - `POST <basePath>/v1/payments` → verify a checkout + payment mandate chain and pay (REST)
 * - `GET <basePath>/v1/payments/{payment_id}` → the payment's state and, when final, its receipts
 * - `POST <basePath>/a2a` → A2A JSON-RPC 2.0 (`message/send`, `tasks/get`, `tasks/cancel`)
 * - `GET /.well-known/agent-card.json` → the A2A agent card (AP2 extension, `required: true`)
 * - `GET /.well-known/ap2/jwks.json` → the receipt signing key
 *
 * Options are checked when the mount is built (a bad key throws at start-up, not at the first
 * payment). Keys and mandates are never logged.
 *
 * @example
 * createGateway(config, { mounts: [ap2Mount(parseAp2Config(rawConfig.ap2, process.env))], rails: [...] })
 */
export function ap2Mount(options: Ap2MountOptions): Mount {
  const basePath = (options.basePath ?? '/ap2').replace(/\/+$/, '')
  if (!/^\/[A-Za-z0-9/_-]*$/.test(basePath)) throw new Error(`ap2.basePath ${basePath} must be a path`)
  const trustedKeys = trustAnchors(options)
  if (trustedKeys.length === 0) throw new Error('ap2.trust: configure at least one user or agent-provider key')
  if (options.merchants.length === 0) throw new Error('ap2.merchants: configure at least one merchant')
  for (const [i, m] of options.merchants.entries()) {
    if (m.checkoutKeys.length === 0) throw new Error(`ap2.merchants[${i}].checkoutKeys is empty`)
    for (const k of m.checkoutKeys) checkJwk(k, `ap2.merchants[${i}].checkoutKeys`)
  }
  const nonceSecret = options.nonces?.secret ? createHash('sha256').update(options.nonces.secret).digest() : randomSecret()
  const clock = options.clock ?? (() => new Date())

  return (app: Express, deps: HttpAppDeps) => {
    const issuer = (options.issuer ?? deps.config.server.publicUrl ?? `http://${deps.config.server.host}:${deps.config.server.port}`).replace(/\/+$/, '')
    const audiences = options.audiences ?? [issuer]
    const signer = createReceiptSigner({ privateJwk: options.receiptKey, issuer, kid: options.receiptKey.kid })
    const ledger = options.ledger ?? storeMandateLedger(deps.store) ?? inProcessLedger(deps.logger)
    const service: Ap2ServiceDeps = {
      store: deps.store,
      assets: deps.assets,
      rails: deps.rails,
      policy: deps.policy,
      destinationsFor: deps.destinationsFor,
      logger: deps.logger.child({ protocol: 'ap2' }),
      trust: { trustedKeys, merchants: trustedMerchants(options.merchants), audiences, clockSkewSeconds: options.clockSkewSeconds, maxPresentationAgeSeconds: options.maxPresentationAgeSeconds },
      merchants: options.merchants,
      signer,
      nonces: createNonceService({ mode: options.nonces?.mode ?? 'issued', secret: nonceSecret, ttlSeconds: options.nonces?.ttlSeconds ?? 300 }),
      challenges: createChallengeIds(nonceSecret, 600),
      ledger,
      instruments: {
        alipayAgreement: { enabled: options.instruments?.alipayAgreement?.enabled ?? true, rail: options.instruments?.alipayAgreement?.rail },
        x402: { enabled: options.instruments?.x402?.enabled ?? true, rail: options.instruments?.x402?.rail, tokens: options.instruments?.x402?.tokens ?? [] },
      },
      stepUp: options.stepUp ? { amountAtLeast: options.stepUp.amountAtLeast, otp: options.stepUp.otp, maxAttempts: options.stepUp.maxAttempts ?? 3 } : undefined,
      resourceUrl: `${issuer}${basePath}/a2a`,
      clock,
    }
    const acceptV01 = options.v01?.acceptUnauthenticated ?? false
    const agentIdOf = async (req: Request): Promise<string | undefined> => {
      if (!req.headers.authorization) return undefined
      const p = await deps.auth.authenticate(req.headers.authorization)
      return p?.kind === 'agent' ? p.id : undefined
    }

    app.get(AP2_JWKS_PATH, (_req, res) => {
      res.setHeader('Cache-Control', 'public, max-age=300')
      res.json(signer.jwks())
    })
    app.get(AGENT_CARD_PATH, (req, res) => {
      // Where agents reach us (not the verifier identity `issuer`): the public URL, else this request's host.
      const base = deps.config.server.publicUrl ?? `${req.protocol}://${req.get('host') ?? `${deps.config.server.host}:${deps.config.server.port}`}`
      res.json(agentCard({ base: base.replace(/\/+$/, ''), basePath, audience: audiences[0]!, name: options.agentCard?.name, description: options.agentCard?.description, version: deps.version }))
    })

    app.use(`${basePath}/a2a`, a2aRouter({ deps: service, acceptV01, audience: audiences[0]!, agentIdOf }))
    app.use(`${basePath}/a2a`, errorHandler(deps.logger, renderRpcError))

    const rest = express.Router()
    rest.post('/v1/nonces', (_req, res) => {
      const { nonce, expiresAt } = service.nonces.issue(clock().getTime() / 1000)
      res.status(201).json({ nonce, aud: audiences[0], expires_at: new Date(expiresAt * 1000).toISOString() })
    })
    rest.post('/v1/payments', async (req: Request, res: Response) => {
      const body: unknown = req.body
      if (!isObject(body)) return sendError(res, 'invalid_request', 'send a JSON object with checkout_mandate and payment_mandate')
      const agentId = await agentIdOf(req)
      if (isObject(body['payment_mandate'])) {
        const r = await processV01Payment(service, { acceptUnauthenticated: acceptV01, paymentMandate: body['payment_mandate'], cartMandate: body['cart_mandate'], agentId })
        if (r.kind === 'error') return sendError(res, r.error, r.description)
        return void res.status(r.ok ? 200 : 402).json({ status: r.ok ? 'Success' : 'Error', ap2_version: '0.1', payment_receipt: r.receipt, payment_id: r.receipt.payment_id })
      }
      for (const k of ['checkout_mandate', 'payment_mandate'] as const) {
        if (typeof body[k] !== 'string') return sendError(res, 'invalid_request', `${k} must be the compact SD-JWT mandate chain (a string)`)
      }
      const outcome = await processAp2Payment(service, {
        checkoutMandate: body['checkout_mandate'],
        paymentMandate: body['payment_mandate'],
        riskData: body['risk_data'],
        x402Payload: body['x402_payment'],
        challengeId: typeof body['challenge_id'] === 'string' ? body['challenge_id'] : undefined,
        challengeResponse: typeof body['challenge_response'] === 'string' ? body['challenge_response'] : undefined,
        agentId,
      })
      renderOutcome(res, outcome)
    })
    rest.get('/v1/payments/:id', async (req: Request, res: Response) => {
      const id = String(req.params['id'] ?? '')
      const stored = /^pi_[0-9A-HJKMNP-TV-Z]{26}$/.test(id) ? await deps.store.getIntent(id) : undefined
      if (!stored || stored.intent.origin.protocol !== 'ap2') return sendError(res, 'invalid_request', `no AP2 payment ${id}`, 404)
      const intent = stored.intent
      await releaseIfFailed(service, intent)
      const r = receiptsForIntent(signer, intent, clock().getTime() / 1000)
      res.json({
        status: r?.status ?? 'Pending',
        payment_id: intent.id,
        intent_status: intent.status,
        ...(r ? { payment_receipt: r.paymentReceipt, checkout_receipt: r.checkoutReceipt } : {}),
      })
    })
    rest.use((req, res) => sendError(res, 'invalid_request', `no route ${req.method} ${req.baseUrl}${req.path}`, 404))
    app.use(basePath, rest)
    app.use(basePath, errorHandler(deps.logger, renderAp2Error))
  }
}

function sendError(res: Response, error: Ap2ErrorCode, description: string, status?: number): void {
  res.status(status ?? AP2_HTTP_STATUS[error]).json({ status: 'Error', error, error_description: description, request_id: locals(res).requestId } satisfies Ap2ErrorBody)
}

/** REST rendering of a payment outcome. */
function renderOutcome(res: Response, o: Ap2PaymentOutcome): void {
  switch (o.kind) {
    case 'success':
      res.status(200).json({
        status: 'Success',
        payment_id: o.intent.id,
        payment_receipt: o.paymentReceipt,
        checkout_receipt: o.checkoutReceipt,
        replayed: o.replayed,
        ...(o.x402 ? { x402: o.x402 } : {}),
      })
      return
    case 'error':
      res.status(AP2_HTTP_STATUS[o.error]).json({
        status: 'Error',
        error: o.error,
        error_description: o.description,
        payment_receipt: o.paymentReceipt,
        ...(o.checkoutReceipt ? { checkout_receipt: o.checkoutReceipt } : {}),
        ...(o.intent ? { payment_id: o.intent.id } : {}),
        ...(o.constraints?.length ? { constraints: o.constraints } : {}),
        request_id: locals(res).requestId,
      })
      return
    case 'challenge':
      res.status(202).json({ status: 'ChallengeRequired', challenge: o.challenge, challenge_id: o.challengeId, reference: o.reference })
      return
    case 'payment_required':
      res.status(402).json({ status: 'PaymentRequired', x402: { x402Version: 1, accepts: o.accepts }, reference: o.reference })
      return
    case 'pending':
      res.status(202).json({ status: 'Pending', payment_id: o.intent.id, intent_status: o.intent.status, reference: o.reference })
      return
  }
}

function trustAnchors(options: Ap2MountOptions): TrustedKey[] {
  const out: TrustedKey[] = []
  for (const [role, list] of [
    ['user', options.trust.users ?? []],
    ['agent_provider', options.trust.agentProviders ?? []],
  ] as const) {
    for (const k of list) {
      checkJwk(k, `ap2.trust.${role === 'user' ? 'users' : 'agentProviders'}`)
      out.push({ kid: k.kid, jwk: k.jwk, role })
    }
  }
  return out
}

function checkJwk(k: JwkEntry, path: string): void {
  const problem = es256JwkProblem({ kty: k.jwk.kty, crv: k.jwk.crv, x: k.jwk.x, y: k.jwk.y, ...(k.jwk.alg ? { alg: k.jwk.alg } : {}) })
  if (problem) throw new Error(`${path}: ${problem}`)
  if ((k.jwk as unknown as Record<string, unknown>)['d'] !== undefined) throw new Error(`${path}: a trusted key must be public (no d)`)
}

function inProcessLedger(logger: Logger) {
  logger.warn('ap2: the store has no mandate-spend methods; budget and recurrence state is kept in this process only')
  return memoryMandateLedger()
}

/** The A2A agent card (digest §6.1; AgentCard 0.3 as the samples). */
export function agentCard(p: { base: string; basePath: string; audience: string; name?: string | undefined; description?: string | undefined; version: string }): Record<string, unknown> {
  return {
    name: p.name ?? 'agentswitch AP2 payment processor',
    description: p.description ?? 'Verifies AP2 v0.2 checkout and payment mandates (SD-JWT chains, ES256) and settles the payment; returns signed receipts.',
    url: `${p.base}${p.basePath}/a2a`,
    preferredTransport: 'JSONRPC',
    protocolVersion: '0.3.0',
    version: p.version,
    defaultInputModes: ['application/json'],
    defaultOutputModes: ['application/json'],
    capabilities: {
      streaming: false,
      pushNotifications: false,
      extensions: [
        {
          uri: AP2_EXTENSION_URI,
          description: 'Supports the Agent Payments Protocol (AP2 v0.2 SD-JWT mandates; v0.1 only when enabled).',
          required: true,
          params: { roles: ['merchant', 'payment-processor'], ap2_versions: ['0.2'], audience: p.audience, receipt_jwks_uri: `${p.base}${AP2_JWKS_PATH}`, rest_endpoint: `${p.base}${p.basePath}/v1/payments`, nonce_endpoint: `${p.base}${p.basePath}/v1/nonces` },
        },
        { uri: X402_EXTENSION_URI, description: 'x402 (EIP-3009) payments bound to the AP2 payment mandate.', required: false },
      ],
    },
    skills: [
      {
        id: 'initiate_payment',
        name: 'Initiate payment',
        description: `Send ${'ap2.mandates.CheckoutMandateSdJwt'} and ${'ap2.mandates.PaymentMandateSdJwt'} DataParts; the answer is a task whose artifact holds ap2.PaymentReceipt.`,
        tags: ['payment', 'ap2', 'mandates'],
      },
    ],
  }
}
