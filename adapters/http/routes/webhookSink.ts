import { Router } from 'express'
import { verifyWebhookSignature } from '../../../core/events/webhookSignature.js'
import { rawBody } from '../context.js'

/** A development receiver for the demo merchant's webhooks: verifies and keeps the newest deliveries. */
export interface WebhookSink {
  secret: string
  /** Newest last; capped. */
  received: Array<{ id: string; type: string; valid: boolean; reason?: string; at: string; body: unknown }>
}

export function createWebhookSink(secret: string): WebhookSink {
  return { secret, received: [] }
}

const MAX = 200

/** `POST /dev/webhook-sink` receives, `GET /dev/webhook-sink` lists what arrived (dev mode only). */
export function webhookSinkRoutes(sink: WebhookSink): Router {
  const r = Router()
  r.post('/webhook-sink', (req, res) => {
    const body = rawBody(req)?.toString('utf8') ?? ''
    const v = verifyWebhookSignature({ secret: sink.secret, header: req.get('agentswitch-signature') ?? '', body })
    const parsed = req.body as { id?: string; type?: string } | undefined
    sink.received.push({
      id: req.get('webhook-id') ?? parsed?.id ?? '',
      type: parsed?.type ?? '',
      valid: v.ok,
      ...(v.ok ? {} : { reason: v.reason }),
      at: new Date().toISOString(),
      body: parsed,
    })
    if (sink.received.length > MAX) sink.received.splice(0, sink.received.length - MAX)
    res.status(v.ok ? 200 : 400).json({ received: v.ok })
  })
  r.get('/webhook-sink', (_req, res) => {
    res.json({ data: sink.received })
  })
  return r
}
