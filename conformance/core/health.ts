import { assert, assertEqual, expectHeader, expectStatus, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import { coreSchemas, openapi, readme, SCHEMA, type CoreDiscovery } from './helpers.js'

/** Health: liveness, readiness, metrics. */
export const healthRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-HEALTH-001',
    level: 'MUST',
    section: 'HEALTH',
    title: 'GET /healthz answers 200 with {"status":"ok"} and needs no API key',
    spec: openapi('paths./healthz.get', '/paths/~1healthz/get'),
    async check(ctx) {
      const res = await ctx.http.get('/healthz')
      expectStatus(res, 200)
      const body = res.json()
      coreSchemas().expect(SCHEMA.health, body, 'GET /healthz body')
      assertEqual((body as { status: unknown }).status, 'ok', 'GET /healthz status')
    },
  },
  {
    id: 'CORE-HEALTH-002',
    level: 'MUST',
    section: 'HEALTH',
    title: 'GET /readyz answers 200 with {"status":"ok"} while the store answers, and names the store',
    spec: openapi('paths./readyz.get', '/paths/~1readyz/get'),
    async check(ctx) {
      const res = await ctx.http.get('/readyz')
      expectStatus(res, 200)
      const body = res.json<{ status: unknown; store?: unknown }>()
      coreSchemas().expect(SCHEMA.health, body, 'GET /readyz body')
      assertEqual(body.status, 'ok', 'GET /readyz status')
      assert(body.store === 'sqlite' || body.store === 'postgres', `GET /readyz: store is ${show(body.store)}, expected sqlite or postgres`)
    },
  },
  {
    id: 'CORE-HEALTH-003',
    level: 'SHOULD',
    section: 'HEALTH',
    title: 'GET /metrics answers 200 with the Prometheus text exposition',
    spec: readme('GET /metrics (Prometheus)'),
    async check(ctx) {
      const res = await ctx.http.get('/metrics')
      expectStatus(res, 200)
      expectHeader(res, 'content-type', /^text\/plain\b/)
      assert(/^# HELP \S+ /m.test(res.text) && /^# TYPE \S+ (counter|gauge|histogram|summary|untyped)$/m.test(res.text), 'GET /metrics: no "# HELP" / "# TYPE" lines: not the Prometheus text format')
    },
  },
]
