import express, { type Request, type Response, type Router } from 'express'
import { newId } from '../../../core/util/ids.js'
import { isObject } from './jose.js'
import { processAp2Payment, type Ap2PaymentOutcome, type Ap2ServiceDeps } from './processAp2Payment.js'
import { receiptsForIntent, releaseIfFailed } from './receiptsForIntent.js'
import { processV01Payment, V01_KEYS } from './v01.js'
import { X402_EXTENSION_URI, X402_META } from './x402.js'

/**
 * The A2A binding (digest §6.1, A2A 0.3 JSON-RPC 2.0): `message/send`, `tasks/get`,
 * `tasks/cancel`. The AP2 extension must be activated with `X-A2A-Extensions` (or the newer
 * `A2A-Extensions`); the operation is chosen by DataPart names, never by text (the samples route
 * with an LLM). Tasks live in this process (bounded, one hour); a task's payment is in the store.
 */

/** The extension URI the gateway emits (what every sample uses, Ambiguity 12). */
export const AP2_EXTENSION_URI = 'https://github.com/google-agentic-commerce/ap2/v1'
/** URIs accepted on activation: the samples', the v0.1 doc's and the old spec samples' (Ambiguity 12). */
export const AP2_EXTENSION_URIS = [
  AP2_EXTENSION_URI,
  'https://github.com/google-agentic-commerce/ap2/tree/v0.1',
  'https://google-a2a.github.io/A2A/ext/payments/v1',
  'https://google-a2a.github.io/A2A/extensions/payments/v1',
] as const

/** DataPart keys (v0.2 samples, digest §6.1). */
export const DATA_KEYS = {
  checkoutMandate: 'ap2.mandates.CheckoutMandateSdJwt',
  paymentMandate: 'ap2.mandates.PaymentMandateSdJwt',
  checkout: 'ap2.checkout',
  receipt: 'ap2.PaymentReceipt',
  checkoutReceipt: 'ap2.CheckoutReceipt',
  riskData: 'risk_data',
  challenge: 'challenge',
  challengeResponse: 'challenge_response',
  /** The verifier's `aud` and a fresh nonce (our addition: AP2 leaves nonce provenance open). */
  verifierChallenge: 'ap2.verifier_challenge',
  error: 'ap2.error',
} as const

/** JSON-RPC and A2A error codes. */
const RPC = { parse: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internal: -32603, taskNotFound: -32001, taskNotCancelable: -32002, unsupported: -32004 } as const

type TaskState = 'submitted' | 'working' | 'input-required' | 'completed' | 'canceled' | 'failed' | 'rejected'
const TERMINAL = new Set<TaskState>(['completed', 'canceled', 'failed', 'rejected'])

interface A2aMessage {
  kind: 'message'
  messageId: string
  role: 'user' | 'agent'
  parts: Array<Record<string, unknown>>
  taskId?: string | undefined
  contextId?: string | undefined
  metadata?: Record<string, unknown> | undefined
}

interface Task {
  kind: 'task'
  id: string
  contextId: string
  status: { state: TaskState; message?: A2aMessage | undefined; timestamp: string }
  artifacts?: Array<{ artifactId: string; name: string; parts: Array<Record<string, unknown>> }> | undefined
  history: A2aMessage[]
  metadata?: Record<string, unknown> | undefined
}

interface TaskRecord {
  task: Task
  expiresAt: number
  challengeId?: string | undefined
  intentId?: string | undefined
}

/** In-process tasks, bounded and expiring. */
class TaskStore {
  readonly #tasks = new Map<string, TaskRecord>()
  get(id: string, now: number): TaskRecord | undefined {
    const r = this.#tasks.get(id)
    if (r && r.expiresAt < now) {
      this.#tasks.delete(id)
      return undefined
    }
    return r
  }
  put(r: TaskRecord): void {
    if (this.#tasks.size >= 10_000) {
      const oldest = this.#tasks.keys().next().value
      if (oldest !== undefined) this.#tasks.delete(oldest)
    }
    this.#tasks.set(r.task.id, r)
  }
}

export interface A2aRouterOptions {
  deps: Ap2ServiceDeps
  acceptV01: boolean
  /** `aud` to tell agents. */
  audience: string
  /** Resolves the caller's agent id from `Authorization` (optional API key). */
  agentIdOf(req: Request): Promise<string | undefined>
}

/** Which requested extensions the gateway activates (echoed in `X-A2A-Extensions`). */
export function activatedExtensions(req: Request): { ap2: boolean; x402: boolean; echo: string[] } {
  const raw = [req.get('x-a2a-extensions'), req.get('a2a-extensions')].filter((h): h is string => typeof h === 'string').join(',')
  const uris = raw.split(',').map((s) => s.trim()).filter(Boolean)
  const ap2 = uris.filter((u) => (AP2_EXTENSION_URIS as readonly string[]).includes(u))
  const x402 = uris.filter((u) => u === X402_EXTENSION_URI)
  return { ap2: ap2.length > 0, x402: x402.length > 0, echo: [...ap2, ...x402] }
}

/** The JSON-RPC router (mounted at `<basePath>/a2a`). */
export function a2aRouter(options: A2aRouterOptions): Router {
  const router = express.Router()
  const tasks = new TaskStore()
  const { deps } = options
  const nowMs = (): number => deps.clock().getTime()

  router.post('/', async (req: Request, res: Response) => {
    const body: unknown = req.body
    const send = (payload: Record<string, unknown>): void => {
      res.status(200).json({ jsonrpc: '2.0', ...payload })
    }
    const rpcError = (id: unknown, code: number, message: string, data?: unknown): void => send({ id: isId(id) ? id : null, error: { code, message, ...(data === undefined ? {} : { data }) } })
    if (Array.isArray(body)) return rpcError(null, RPC.invalidRequest, 'batch requests are not supported')
    if (!isObject(body) || body['jsonrpc'] !== '2.0' || typeof body['method'] !== 'string' || !isId(body['id']))
      return rpcError(isObject(body) ? body['id'] : null, RPC.invalidRequest, 'not a JSON-RPC 2.0 request (jsonrpc "2.0", method, id)')
    const id = body['id']
    const ext = activatedExtensions(req)
    if (ext.echo.length) res.setHeader('X-A2A-Extensions', ext.echo.join(', '))
    if (!ext.ap2)
      return rpcError(id, RPC.invalidRequest, `the AP2 extension is required: send the header X-A2A-Extensions: ${AP2_EXTENSION_URI}`, { required_extensions: [AP2_EXTENSION_URI] })
    const params = body['params']
    const method = body['method']
    try {
      if (method === 'message/send') {
        if (!isObject(params) || !isMessage(params['message'])) return rpcError(id, RPC.invalidParams, 'params.message must be an A2A Message (kind "message", messageId, role "user", parts[])')
        const result = await onMessage(params['message'], req)
        if ('error' in result) return rpcError(id, result.error.code, result.error.message)
        return send({ id, result: publicTask(result.task, params) })
      }
      if (method === 'tasks/get') {
        if (!isObject(params) || typeof params['id'] !== 'string') return rpcError(id, RPC.invalidParams, 'params.id (the task id) is required')
        const rec = tasks.get(params['id'], nowMs())
        if (!rec) return rpcError(id, RPC.taskNotFound, 'task not found')
        await refresh(rec)
        return send({ id, result: publicTask(rec.task, params) })
      }
      if (method === 'tasks/cancel') {
        if (!isObject(params) || typeof params['id'] !== 'string') return rpcError(id, RPC.invalidParams, 'params.id (the task id) is required')
        const rec = tasks.get(params['id'], nowMs())
        if (!rec) return rpcError(id, RPC.taskNotFound, 'task not found')
        if (rec.task.status.state === 'working' || TERMINAL.has(rec.task.status.state)) return rpcError(id, RPC.taskNotCancelable, `the task is ${rec.task.status.state}`)
        setState(rec, 'canceled')
        return send({ id, result: publicTask(rec.task, params) })
      }
      return rpcError(id, RPC.methodNotFound, `method ${method} is not supported (message/send, tasks/get, tasks/cancel)`)
    } catch (err) {
      deps.logger.error({ err, method }, 'a2a request failed')
      return rpcError(id, RPC.internal, 'internal error')
    }
  })

  const setState = (rec: TaskRecord, state: TaskState, message?: A2aMessage): void => {
    rec.task.status = { state, ...(message ? { message } : {}), timestamp: new Date(nowMs()).toISOString() }
    if (message) pushHistory(rec, message)
  }

  const agentMessage = (rec: TaskRecord, parts: Array<Record<string, unknown>>, metadata?: Record<string, unknown>): A2aMessage => ({
    kind: 'message',
    messageId: newId('msg'),
    role: 'agent',
    parts,
    taskId: rec.task.id,
    contextId: rec.task.contextId,
    ...(metadata ? { metadata } : {}),
  })

  async function onMessage(message: A2aMessage, req: Request): Promise<{ task: Task } | { error: { code: number; message: string } }> {
    const now = nowMs()
    let rec: TaskRecord
    if (message.taskId !== undefined) {
      const found = tasks.get(message.taskId, now)
      if (!found) return { error: { code: RPC.taskNotFound, message: 'task not found' } }
      if (TERMINAL.has(found.task.status.state)) return { error: { code: RPC.unsupported, message: `the task is ${found.task.status.state}; start a new task` } }
      rec = found
    } else {
      rec = {
        task: { kind: 'task', id: newId('task'), contextId: message.contextId ?? newId('ctx'), status: { state: 'submitted', timestamp: new Date(now).toISOString() }, history: [] },
        expiresAt: now + 3_600_000,
      }
      tasks.put(rec)
    }
    pushHistory(rec, { ...message, taskId: rec.task.id, contextId: rec.task.contextId })
    const data = dataOf(message)
    const agentId = await options.agentIdOf(req)

    // AP2 v0.1: parsed and mapped; refused unless the policy flag is set.
    if (data[V01_KEYS.payment] !== undefined) {
      const r = await processV01Payment(deps, { acceptUnauthenticated: options.acceptV01, paymentMandate: data[V01_KEYS.payment], cartMandate: data[V01_KEYS.cart], agentId })
      if (r.kind === 'error') {
        setState(rec, r.error === 'mandates_not_supported' ? 'rejected' : 'failed', agentMessage(rec, [textPart(r.description), dataPart({ [DATA_KEYS.error]: { error: r.error, error_description: r.description } })]))
      } else {
        rec.task.artifacts = [{ artifactId: newId('art'), name: 'payment_receipt', parts: [dataPart({ [V01_KEYS.receipt]: r.receipt })] }]
        setState(rec, r.ok ? 'completed' : 'failed')
      }
      return { task: rec.task }
    }

    const checkoutMandate = data[DATA_KEYS.checkoutMandate]
    const paymentMandate = data[DATA_KEYS.paymentMandate]
    if (checkoutMandate === undefined && paymentMandate === undefined) {
      // No mandates yet: tell the agent whom to address them to and which nonce to use.
      const { nonce, expiresAt } = deps.nonces.issue(now / 1000)
      setState(
        rec,
        'input-required',
        agentMessage(rec, [
          textPart(`Sign closed checkout and payment mandates with aud ${options.audience} and this nonce, then send ${DATA_KEYS.checkoutMandate} and ${DATA_KEYS.paymentMandate} on this task.`),
          dataPart({ [DATA_KEYS.verifierChallenge]: { aud: options.audience, nonce, expires_at: new Date(expiresAt * 1000).toISOString() } }),
        ]),
      )
      return { task: rec.task }
    }

    const x402Submitted = message.metadata?.[X402_META.status] === 'payment-submitted'
    const challengeResponse = data[DATA_KEYS.challengeResponse]
    const outcome = await processAp2Payment(deps, {
      checkoutMandate,
      paymentMandate,
      riskData: data[DATA_KEYS.riskData],
      x402Payload: x402Submitted ? message.metadata?.[X402_META.payload] : undefined,
      challengeId: rec.challengeId,
      challengeResponse: typeof challengeResponse === 'string' ? challengeResponse : isObject(challengeResponse) && typeof challengeResponse['code'] === 'string' ? challengeResponse['code'] : undefined,
      agentId,
    })
    applyOutcome(rec, outcome, x402Submitted)
    return { task: rec.task }
  }

  function applyOutcome(rec: TaskRecord, outcome: Ap2PaymentOutcome, x402: boolean): void {
    switch (outcome.kind) {
      case 'success': {
        rec.intentId = outcome.intent.id
        rec.task.artifacts = [receiptArtifact(outcome.paymentReceipt, outcome.checkoutReceipt)]
        const meta = outcome.x402 ? { [X402_META.status]: 'payment-completed', [X402_META.receipts]: [outcome.x402] } : undefined
        rec.task.metadata = { ...rec.task.metadata, ...meta, payment_id: outcome.intent.id }
        setState(rec, 'completed', agentMessage(rec, [textPart(`Payment ${outcome.intent.id} succeeded.`)], meta))
        return
      }
      case 'error': {
        if (outcome.intent) rec.intentId = outcome.intent.id
        rec.task.artifacts = [receiptArtifact(outcome.paymentReceipt, outcome.checkoutReceipt)]
        const meta = x402 ? { [X402_META.status]: 'payment-failed', [X402_META.error]: outcome.error === 'invalid_credential' ? 'INVALID_SIGNATURE' : outcome.error === 'payment_declined' ? 'SETTLEMENT_FAILED' : 'INVALID_AMOUNT' } : undefined
        setState(rec, 'failed', agentMessage(rec, [textPart(outcome.description), dataPart({ [DATA_KEYS.error]: { error: outcome.error, error_description: outcome.description } })], meta))
        return
      }
      case 'challenge':
        rec.challengeId = outcome.challengeId
        setState(rec, 'input-required', agentMessage(rec, [textPart(outcome.challenge.display_text), dataPart({ [DATA_KEYS.challenge]: outcome.challenge })]))
        return
      case 'payment_required':
        setState(
          rec,
          'input-required',
          agentMessage(rec, [textPart('Sign the EIP-3009 authorisation (nonce = keccak256 of the payment mandate chain) and send it on this task.')], {
            [X402_META.status]: 'payment-required',
            [X402_META.required]: { x402Version: 1, accepts: outcome.accepts },
          }),
        )
        return
      case 'pending':
        rec.intentId = outcome.intent.id
        rec.task.metadata = { ...rec.task.metadata, payment_id: outcome.intent.id }
        setState(rec, 'working', agentMessage(rec, [textPart(`Payment ${outcome.intent.id} is being confirmed by the rail; poll tasks/get.`)]))
        return
    }
  }

  /** A working task finishes when its intent does (reconciliation may take a while). */
  async function refresh(rec: TaskRecord): Promise<void> {
    if (rec.task.status.state !== 'working' || !rec.intentId) return
    const stored = await deps.store.getIntent(rec.intentId)
    if (!stored) return
    await releaseIfFailed(deps, stored.intent)
    const r = receiptsForIntent(deps.signer, stored.intent, nowMs() / 1000)
    if (!r) return
    rec.task.artifacts = [receiptArtifact(r.paymentReceipt, r.checkoutReceipt)]
    setState(rec, r.status === 'Success' ? 'completed' : 'failed')
  }

  return router
}

function receiptArtifact(payment: string, checkout: string | undefined): NonNullable<Task['artifacts']>[number] {
  return {
    artifactId: newId('art'),
    name: 'payment_receipt',
    parts: [dataPart({ [DATA_KEYS.receipt]: payment }), ...(checkout ? [dataPart({ [DATA_KEYS.checkoutReceipt]: checkout })] : [])],
  }
}

function pushHistory(rec: TaskRecord, m: A2aMessage): void {
  rec.task.history.push(m)
  if (rec.task.history.length > 20) rec.task.history.splice(0, rec.task.history.length - 20)
}

function publicTask(task: Task, params: Record<string, unknown>): Task {
  const cfg = isObject(params['configuration']) ? params['configuration'] : params
  const n = typeof cfg['historyLength'] === 'number' ? Math.max(0, Math.floor(cfg['historyLength'])) : undefined
  return { ...task, history: n === undefined ? task.history : n === 0 ? [] : task.history.slice(-n) }
}

function dataOf(message: A2aMessage): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const part of message.parts) {
    if (part['kind'] !== 'data' || !isObject(part['data'])) continue
    for (const [k, v] of Object.entries(part['data'])) if (!Object.hasOwn(out, k)) out[k] = v
  }
  return out
}

function textPart(text: string): Record<string, unknown> {
  return { kind: 'text', text }
}

function dataPart(data: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'data', data }
}

function isId(v: unknown): v is string | number | null {
  return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)) || v === null
}

function isMessage(v: unknown): v is A2aMessage {
  return (
    isObject(v) &&
    v['kind'] === 'message' &&
    typeof v['messageId'] === 'string' &&
    v['role'] === 'user' &&
    Array.isArray(v['parts']) &&
    v['parts'].length > 0 &&
    v['parts'].length <= 50 &&
    v['parts'].every(isObject) &&
    (v['taskId'] === undefined || typeof v['taskId'] === 'string') &&
    (v['contextId'] === undefined || typeof v['contextId'] === 'string') &&
    (v['metadata'] === undefined || isObject(v['metadata']))
  )
}
