import { assert, assertEqual, expectStatus, fail, show } from '../framework/assert.js'
import type { Delivery } from '../framework/counterparts/webhookReceiver.js'
import type { Requirement } from '../framework/types.js'
import { createIntent, readme, verifyAgentswitchSignature, type CoreContext, type CoreDiscovery } from './helpers.js'

const WEBHOOKS = readme('Webhooks')

interface WebhookEvent {
  id?: unknown
  type?: unknown
  created_at?: unknown
  data?: { object?: { id?: unknown; origin?: { ref?: unknown } } }
}

const eventOf = (d: Delivery): WebhookEvent | undefined => (d.json && typeof d.json === 'object' ? (d.json as WebhookEvent) : undefined)

/** A delivery of `payment_intent.created` for `intentId`. */
const createdFor = (intentId: string) => (d: Delivery) => eventOf(d)?.type === 'payment_intent.created' && eventOf(d)?.data?.object?.id === intentId

function waitMs(ctx: CoreContext): number {
  const ms = Number(ctx.options.get('webhookWaitMs'))
  return Number.isFinite(ms) && ms > 0 ? ms : 15_000
}

/** Everything a signed delivery must be; returns the problems found. */
function deliveryProblems(d: Delivery, secret: string): string[] {
  const problems: string[] = []
  const sig = verifyAgentswitchSignature(d.headers['agentswitch-signature'], d.body, secret)
  if (!sig.ok) problems.push(`Agentswitch-Signature does not verify: ${sig.reason}`)
  if (!/^application\/json\b/i.test(d.headers['content-type'] ?? '')) problems.push(`Content-Type is ${show(d.headers['content-type'])}`)
  const ev = eventOf(d)
  const id = d.headers['webhook-id']
  if (!id) problems.push('no Webhook-Id header')
  else if (ev?.id !== id) problems.push(`Webhook-Id ${show(id)} is not the event id ${show(ev?.id)}`)
  if (typeof ev?.created_at !== 'string' || Number.isNaN(Date.parse(ev.created_at))) problems.push(`created_at is ${show(ev?.created_at)}`)
  return problems
}

/** Webhooks: signed, at least once, de-duplicable. */
export const webhookRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-HOOK-001',
    level: 'MUST',
    section: 'HOOK',
    title: "A new intent is delivered to the merchant's webhook as payment_intent.created, signed Agentswitch-Signature: t=…,v1=HMAC-SHA256(secret, t.body)",
    spec: WEBHOOKS,
    requires: ['auth.agent', 'webhooks.runner-receiver'],
    async check(ctx) {
      const receiver = await ctx.counterparts.webhookReceiver()
      const { intent } = await createIntent(ctx)
      const d = await receiver.waitFor(createdFor(intent.id), { timeoutMs: waitMs(ctx), signal: ctx.signal, what: `payment_intent.created delivery for ${intent.id}` })
      const problems = deliveryProblems(d, ctx.options.get('webhookSecret')!)
      if (problems.length > 0) fail(problems.join('; '))
      assertEqual(eventOf(d)?.data?.object?.id, intent.id, 'data.object.id')
    },
  },
  {
    id: 'CORE-HOOK-002',
    level: 'SHOULD',
    section: 'HOOK',
    title: 'A delivery answered with 500 is retried with the same Webhook-Id and the same body, freshly signed',
    spec: WEBHOOKS,
    requires: ['auth.agent', 'webhooks.runner-receiver'],
    async check(ctx) {
      const receiver = await ctx.counterparts.webhookReceiver()
      const ref = ctx.unique('ref')
      const failed = new Set<string>()
      // Fail the first attempt of each event about this intent (matched by its unique reference).
      const stop = receiver.respond((d) => {
        const ev = eventOf(d)
        if (ev?.data?.object?.origin?.ref !== ref) return undefined
        const id = String(d.headers['webhook-id'] ?? '')
        if (failed.has(id)) return undefined
        failed.add(id)
        return 500
      })
      try {
        const { intent } = await createIntent(ctx, { reference: ref })
        const first = await receiver.waitFor(createdFor(intent.id), { timeoutMs: waitMs(ctx), signal: ctx.signal, what: `the first delivery for ${intent.id}` })
        assertEqual(first.answered, 500, 'what the receiver answered the first delivery')
        const retry = await receiver.waitFor((d) => d.seq > first.seq && d.headers['webhook-id'] === first.headers['webhook-id'], {
          timeoutMs: waitMs(ctx),
          signal: ctx.signal,
          what: `a retry of ${first.headers['webhook-id']} after HTTP 500`,
        })
        assert(retry.body.equals(first.body), `the retry's body differs from the first attempt's (${show(first.text)} vs ${show(retry.text)})`)
        const problems = deliveryProblems(retry, ctx.options.get('webhookSecret')!)
        if (problems.length > 0) fail(`the retry: ${problems.join('; ')}`)
        ctx.note(`first attempt at ${first.receivedAt.toISOString()}, retry at ${retry.receivedAt.toISOString()}`)
      } finally {
        stop()
      }
    },
  },
  {
    id: 'CORE-HOOK-003',
    level: 'MUST',
    section: 'HOOK',
    title: "Dev mode: the demo merchant's webhook sink lists the payment_intent.created delivery of a new intent as verified",
    spec: WEBHOOKS,
    requires: ['auth.agent', 'webhooks.dev-sink'],
    async check(ctx) {
      const sink = ctx.discovery.devSink!
      const { intent } = await createIntent(ctx, { merchant_id: sink.merchantId })
      const url = sink.url
      const deadline = Date.now() + waitMs(ctx)
      for (;;) {
        const res = await ctx.http.get(url)
        expectStatus(res, 200, `GET ${url}`)
        const list = res.json<{ data?: Array<{ valid?: unknown; type?: unknown; reason?: unknown; body?: WebhookEvent }> }>().data ?? []
        const hit = list.find((d) => d.type === 'payment_intent.created' && d.body?.data?.object?.id === intent.id)
        if (hit) {
          assert(hit.valid === true, `the sink could not verify the delivery's signature (${show(hit.reason)})`)
          return
        }
        if (Date.now() > deadline) fail(`no payment_intent.created delivery for ${intent.id} at the sink within ${waitMs(ctx)} ms`)
        await new Promise((r) => setTimeout(r, 200))
      }
    },
  },
]
