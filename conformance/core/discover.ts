import type { CapabilityState, DiscoverContext, Discovery } from '../framework/types.js'
import type { CoreDiscovery } from './helpers.js'

/** Capabilities of the core suite: what the runner was given and what the target offers. */
export const CORE_CAPABILITIES = {
  'auth.agent': { description: 'an agent API key (creates intents): --auth agent=HEADER, a single --auth, or dev.json' },
  'auth.reader': { description: 'an admin or merchant API key (lists intents): --auth admin=HEADER, or dev.json' },
  'auth.other-caller': { description: 'a second principal whose key differs from the agent key (admin or merchant), to show that idempotency keys are scoped by caller' },
  'webhooks.runner-receiver': {
    description:
      "the target delivers the creating merchant's webhooks to the runner's receiver: give --webhook-port P, point the merchant's webhook URL at http://127.0.0.1:P/hooks/core, and pass its secret with --set core.webhookSecret=…",
  },
  'webhooks.dev-sink': { description: "the target is an agentswitch dev-mode gateway whose dev.json lists /dev/webhook-sink (the demo merchant's webhooks land there)" },
  'fault-injection': { description: 'a way to make the target answer 5xx on demand (none exists yet: requirements needing it are listed, never run)' },
} as const

const yes = (source: string): CapabilityState => ({ available: true, source })
const no = (reason: string): CapabilityState => ({ available: false, reason })

const same = (a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>> | undefined): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * Core discovery: `GET /healthz` (the target answers at all), which credentials the runner holds
 * by role, the dev-mode webhook sink from dev.json (when it answers), and the runner's webhook
 * receiver when the tester configured the target to deliver there.
 */
export async function discoverCore(ctx: DiscoverContext): Promise<Discovery<CoreDiscovery>> {
  const data: CoreDiscovery = {}
  const health = await ctx.http.get('/healthz')
  if (health.status === 200) {
    try {
      const v = (health.json() as { version?: unknown }).version
      if (typeof v === 'string') data.version = v
    } catch {
      // CORE-HEALTH-001 reports a non-JSON health answer.
    }
  }
  ctx.note(`GET /healthz answered ${health.status}${data.version ? `; the target reports version ${data.version}` : ''}`)

  const auth = ctx.auth
  data.agentRole = auth.has('agent') ? 'agent' : undefined
  data.readerRole = auth.has('admin') ? 'admin' : auth.has('merchant') ? 'merchant' : undefined
  const agentHeaders = data.agentRole ? auth.headers(data.agentRole) : undefined
  data.otherRole = ['admin', 'merchant'].find((r) => auth.has(r) && !same(auth.headers(r), agentHeaders))

  const dev = ctx.target.devJson as { urls?: { webhookSink?: unknown }; merchants?: Array<{ id?: unknown; webhookUrl?: unknown }> } | undefined
  const merchantOption = ctx.options.get('merchantId')
  const sinkUrl = typeof dev?.urls?.webhookSink === 'string' ? dev.urls.webhookSink : undefined
  const sinkMerchant = dev?.merchants?.find((m) => typeof m.id === 'string' && m.webhookUrl === sinkUrl)?.id as string | undefined
  data.merchantId = merchantOption ?? sinkMerchant ?? (typeof dev?.merchants?.[0]?.id === 'string' ? dev.merchants[0].id : undefined)

  let devSink: CapabilityState = no(dev ? 'dev.json lists no webhookSink URL' : 'no dev.json for this target (not an agentswitch dev-mode gateway, or run without --dev-json)')
  if (sinkUrl) {
    const r = await ctx.http.get(sinkUrl)
    if (r.status !== 200) devSink = no(`GET ${sinkUrl} answered ${r.status}`)
    else if (sinkMerchant === undefined) devSink = no(`no merchant in dev.json has its webhooks at ${sinkUrl}`)
    else {
      devSink = yes(`dev.json urls.webhookSink (${sinkUrl}), merchant ${sinkMerchant}`)
      data.devSink = { url: sinkUrl, merchantId: sinkMerchant }
    }
  }

  let receiver: CapabilityState = no('not configured: pass --webhook-port and --set core.webhookSecret=… after pointing a merchant webhook at the runner')
  if (ctx.options.get('webhookSecret')) {
    const rx = await ctx.counterparts.webhookReceiver()
    ctx.note(`the runner's webhook receiver listens at ${rx.urlFor('/hooks/core')}`)
    receiver = yes('--set core.webhookSecret')
  }

  return {
    data,
    capabilities: {
      'auth.agent': data.agentRole ? yes(`--auth ${auth.roles.includes('agent') ? 'agent' : 'default'}`) : no('no agent API key: pass --auth agent=HEADER (or --dev-json)'),
      'auth.reader': data.readerRole ? yes(`--auth ${auth.roles.includes(data.readerRole) ? data.readerRole : 'default'}`) : no('no admin or merchant API key: pass --auth admin=HEADER (or --dev-json)'),
      'auth.other-caller': data.otherRole ? yes(`--auth ${data.otherRole}`) : no('needs an admin or merchant key that differs from the agent key'),
      'webhooks.runner-receiver': receiver,
      'webhooks.dev-sink': devSink,
      'fault-injection': no('the gateway API has no hook that makes it answer 5xx on demand, so this cannot be observed black-box'),
    },
  }
}
