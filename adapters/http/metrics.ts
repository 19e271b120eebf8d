import type { RequestHandler } from 'express'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Store } from '../../core/store/port.js'
import type { BreakerRegistry } from '../rails/shared/breakers.js'

/** The gateway's metrics: one registry per gateway instance (no global state). */
export interface GatewayMetrics {
  registry: Registry
  httpDuration: Histogram<'method' | 'route' | 'status'>
  intents: Gauge<'protocol' | 'status'>
  outbox: Gauge<'state'>
  errors: Counter<'code'>
  /** Express middleware timing every request by route template. */
  middleware: RequestHandler
}

export function createMetrics(store: Store, options: { defaultMetrics?: boolean; breakers?: BreakerRegistry } = {}): GatewayMetrics {
  const registry = new Registry()
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'agentswitch_' })
  const httpDuration = new Histogram({
    name: 'agentswitch_http_request_duration_seconds',
    help: 'HTTP request latency by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  // Counts come from the store at scrape time, so they are right across instances and restarts;
  // the request path does no metrics I/O.
  const intents = new Gauge({
    name: 'agentswitch_intents',
    help: 'Payment intents by origin protocol and status',
    labelNames: ['protocol', 'status'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      for (const row of await store.countIntents()) this.set({ protocol: row.protocol, status: row.status }, row.count)
    },
  })
  const outbox = new Gauge({
    name: 'agentswitch_outbox_events',
    help: 'Outbox events by delivery state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const c = await store.countOutbox()
      this.set({ state: 'pending' }, c.pending)
      this.set({ state: 'delivered' }, c.delivered)
      this.set({ state: 'dead' }, c.dead)
    },
  })
  const breakers = options.breakers
  if (breakers) {
    const STATE = { closed: 0, half_open: 1, open: 2 } as const
    new Gauge({
      name: 'agentswitch_breaker_state',
      help: 'Circuit breaker state per rail endpoint: 0 closed, 1 half-open, 2 open',
      labelNames: ['rail', 'endpoint'] as const,
      registers: [registry],
      collect() {
        for (const b of breakers.list()) this.set({ rail: b.rail, endpoint: b.endpoint }, STATE[b.state])
      },
    })
    new Gauge({
      name: 'agentswitch_breaker_opens',
      help: 'How many times each breaker has opened since start',
      labelNames: ['rail', 'endpoint'] as const,
      registers: [registry],
      collect() {
        for (const b of breakers.list()) this.set({ rail: b.rail, endpoint: b.endpoint }, b.opens)
      },
    })
  }
  const errors = new Counter({ name: 'agentswitch_errors_total', help: 'Errors answered, by code', labelNames: ['code'] as const, registers: [registry] })
  const middleware: RequestHandler = (req, res, next) => {
    const start = process.hrtime.bigint()
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path
      const template = route ? `${req.baseUrl}${route}` : 'unmatched'
      httpDuration.observe({ method: req.method, route: template, status: String(res.statusCode) }, Number(process.hrtime.bigint() - start) / 1e9)
    })
    next()
  }
  return { registry, httpDuration, intents, outbox, errors, middleware }
}
