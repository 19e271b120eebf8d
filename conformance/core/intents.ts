import { assert, assertEqual, expectHeader, expectStatus, fail, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import { agent, coreSchemas, createIntent, expectGatewayError, openapi, reader, SCHEMA, type CoreContext, type CoreDiscovery, type Intent } from './helpers.js'

/** An intent created once per run and shared (read-only) by the checks that only look at it. */
const sharedIntent = (ctx: CoreContext): Promise<Intent> => ctx.once('intent', async () => (await createIntent(ctx)).intent)

interface AuditEvent {
  seq: number
  type: string
  to_status: string
  prev_hash: string
  hash: string
}

async function events(ctx: CoreContext, id: string): Promise<{ data: AuditEvent[]; chain: { valid: boolean; problem?: string } }> {
  const res = await ctx.http.get(`/v1/intents/${id}/events`, { as: agent(ctx) })
  expectStatus(res, 200)
  const body = res.json<{ data: AuditEvent[]; chain: { valid: boolean; problem?: string } }>()
  coreSchemas().expect(SCHEMA.intentEvents, body, `GET /v1/intents/${id}/events body`)
  return body
}

/** The audit chain as a client sees it: contiguous, linked, first is `create`, and verified. */
function expectLinkedChain(list: AuditEvent[], chain: { valid: boolean; problem?: string }): void {
  assert(list.length > 0, 'the audit chain is empty')
  assertEqual(list[0]!.type, 'create', 'type of the first audit event')
  assertEqual(list[0]!.prev_hash, '0'.repeat(64), 'prev_hash of the first audit event')
  list.forEach((e, i) => {
    assertEqual(e.seq, i + 1, `seq of audit event ${i + 1}`)
    if (i > 0) assertEqual(e.prev_hash, list[i - 1]!.hash, `prev_hash of audit event ${i + 1} (the hash of event ${i})`)
  })
  assert(chain.valid === true, `chain.valid is ${show(chain.valid)}${chain.problem ? ` (${chain.problem})` : ''}`)
}

/** Intents: create, read, cancel. */
export const intentRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-INT-001',
    level: 'MUST',
    section: 'INT',
    title: 'POST /v1/intents answers 201 with a Location and a canonical PaymentIntent (origin gateway, the amount sent)',
    spec: openapi('paths./v1/intents.post', '/paths/~1v1~1intents/post'),
    requires: ['auth.agent'],
    async check(ctx) {
      const { intent, res, body } = await createIntent(ctx)
      coreSchemas().expect(SCHEMA.intent, intent, 'POST /v1/intents body')
      expectHeader(res, 'location', `/v1/intents/${intent.id}`)
      assertEqual(intent.amount, body['amount'], 'amount')
      assertEqual(intent.origin.protocol, 'gateway', 'origin.protocol')
      assertEqual(intent.origin.ref, body['reference'], 'origin.ref (the reference sent)')
      if (ctx.discovery.merchantId) assertEqual(intent.merchant_id, ctx.discovery.merchantId, 'merchant_id')
    },
  },
  {
    id: 'CORE-INT-002',
    level: 'MUST',
    section: 'INT',
    title: 'GET /v1/intents/{id} returns the intent that was created',
    spec: openapi('paths./v1/intents/{id}.get', '/paths/~1v1~1intents~1{id}/get'),
    requires: ['auth.agent'],
    async check(ctx) {
      const created = await sharedIntent(ctx)
      const res = await ctx.http.get(`/v1/intents/${created.id}`, { as: agent(ctx) })
      expectStatus(res, 200)
      const got = res.json<Intent>()
      coreSchemas().expect(SCHEMA.intent, got, 'GET /v1/intents/{id} body')
      for (const k of ['id', 'merchant_id', 'created_at', 'amount', 'origin'] as const) assertEqual(got[k], created[k], k)
    },
  },
  {
    id: 'CORE-INT-003',
    level: 'MUST',
    section: 'INT',
    title: 'GET of an unknown or malformed intent id answers 404 GW_NOT_FOUND',
    spec: openapi('paths./v1/intents/{id}.get responses 404', '/paths/~1v1~1intents~1{id}/get'),
    requires: ['auth.agent'],
    async check(ctx) {
      expectGatewayError(await ctx.http.get('/v1/intents/pi_00000000000000000000000000', { as: agent(ctx) }), 404, 'GW_NOT_FOUND')
      expectGatewayError(await ctx.http.get('/v1/intents/not-an-intent-id', { as: agent(ctx) }), 404, 'GW_NOT_FOUND')
    },
  },
  {
    id: 'CORE-INT-004',
    level: 'MUST',
    section: 'INT',
    title: 'POST /v1/intents/{id}/cancel cancels a new intent; cancelling it again answers 409 GW_INVALID_TRANSITION',
    spec: openapi('paths./v1/intents/{id}/cancel.post', '/paths/~1v1~1intents~1{id}~1cancel/post'),
    requires: ['auth.agent'],
    async check(ctx) {
      const { intent } = await createIntent(ctx)
      const res = await ctx.http.post(`/v1/intents/${intent.id}/cancel`, { as: agent(ctx), headers: { 'idempotency-key': ctx.unique('idem') }, json: { reason: 'conformance' } })
      expectStatus(res, 200)
      const canceled = res.json<Intent>()
      coreSchemas().expect(SCHEMA.intent, canceled, 'cancel body')
      assertEqual(canceled.status, 'canceled', 'status after cancel')
      const again = await ctx.http.post(`/v1/intents/${intent.id}/cancel`, { as: agent(ctx), headers: { 'idempotency-key': ctx.unique('idem') }, json: { reason: 'conformance' } })
      expectGatewayError(again, 409, 'GW_INVALID_TRANSITION')
    },
  },
]

/** Audit: the hash chain through the API. */
export const auditRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-AUDIT-001',
    level: 'MUST',
    section: 'AUDIT',
    title: "GET /v1/intents/{id}/events returns the intent's audit chain, linked by hashes, and reports it valid",
    spec: openapi('paths./v1/intents/{id}/events.get', '/paths/~1v1~1intents~1{id}~1events/get'),
    requires: ['auth.agent'],
    async check(ctx) {
      const intent = await sharedIntent(ctx)
      const { data, chain } = await events(ctx, intent.id)
      for (const e of data) coreSchemas().expect(SCHEMA.auditEvent, e, `audit event ${e.seq}`)
      expectLinkedChain(data, chain)
    },
  },
  {
    id: 'CORE-AUDIT-002',
    level: 'MUST',
    section: 'AUDIT',
    title: 'A cancel appends a linked cancel event (to_status canceled) and the chain stays valid',
    spec: openapi('paths./v1/intents/{id}/events.get', '/paths/~1v1~1intents~1{id}~1events/get'),
    requires: ['auth.agent'],
    async check(ctx) {
      const { intent } = await createIntent(ctx)
      const before = await events(ctx, intent.id)
      const res = await ctx.http.post(`/v1/intents/${intent.id}/cancel`, { as: agent(ctx), headers: { 'idempotency-key': ctx.unique('idem') }, json: {} })
      expectStatus(res, 200)
      const after = await events(ctx, intent.id)
      assertEqual(after.data.length, before.data.length + 1, 'number of audit events after one cancel')
      const last = after.data[after.data.length - 1]!
      assertEqual(last.type, 'cancel', 'type of the last event')
      assertEqual(last.to_status, 'canceled', 'to_status of the last event')
      assertEqual(after.data.slice(0, before.data.length), before.data, 'the earlier events (an audit chain is append-only)')
      expectLinkedChain(after.data, after.chain)
    },
  },
]

interface Page {
  data: Intent[]
  has_more: boolean
  next_cursor?: string
}

/** Pagination of GET /v1/intents. */
export const paginationRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-PAGE-001',
    level: 'MUST',
    section: 'PAGE',
    title: 'GET /v1/intents pages newest first: limit respected, next_cursor iff has_more, no intent twice, new intents on the first pages',
    spec: openapi('paths./v1/intents.get (limit, cursor)', '/paths/~1v1~1intents/get'),
    requires: ['auth.agent', 'auth.reader'],
    async check(ctx) {
      const mine: string[] = []
      for (let i = 0; i < 3; i++) mine.push((await createIntent(ctx)).intent.id)
      const seen: Intent[] = []
      let cursor: string | undefined
      for (let page = 1; page <= 8; page++) {
        const res = await ctx.http.get('/v1/intents', { as: reader(ctx), query: { limit: 2, ...(cursor ? { cursor } : {}) } })
        expectStatus(res, 200)
        const body = res.json<Page>()
        coreSchemas().expect(SCHEMA.intentList, body, `page ${page}`)
        assert(body.data.length <= 2, `page ${page} has ${body.data.length} intents with limit=2`)
        assertEqual(typeof body.next_cursor === 'string', body.has_more, `page ${page}: next_cursor present`)
        seen.push(...body.data)
        if (mine.every((id) => seen.some((s) => s.id === id)) && page >= 2) break
        if (!body.has_more) break
        cursor = body.next_cursor
      }
      const ids = seen.map((s) => s.id)
      assertEqual(new Set(ids).size, ids.length, 'distinct intents over the pages walked (one came twice)')
      for (let i = 1; i < seen.length; i++) {
        const a = seen[i - 1]!
        const b = seen[i]!
        assert(Date.parse(a.created_at) >= Date.parse(b.created_at), `not newest first: ${a.id} (${a.created_at}) comes before ${b.id} (${b.created_at})`)
      }
      const order = mine.map((id) => ids.indexOf(id))
      if (order.some((i) => i < 0)) fail(`the ${mine.length} intents just created are not on the first pages (found ${order.filter((i) => i >= 0).length})`)
      assert(order[0]! > order[1]! && order[1]! > order[2]!, 'the intents just created are not listed newest first')
      ctx.note(`walked ${ids.length} intents; the ones just created are at positions ${order.map((i) => i + 1).join(', ')}`)
    },
  },
  {
    id: 'CORE-PAGE-002',
    level: 'MUST',
    section: 'PAGE',
    title: 'A limit outside 1..100 or not an integer answers 400 GW_BAD_REQUEST',
    spec: openapi('paths./v1/intents.get parameters.limit', '/paths/~1v1~1intents/get/parameters/0'),
    requires: ['auth.reader'],
    async check(ctx) {
      for (const limit of ['0', '101', 'ten']) {
        expectGatewayError(await ctx.http.get('/v1/intents', { as: reader(ctx), query: { limit } }), 400, 'GW_BAD_REQUEST', `GET /v1/intents?limit=${limit}`)
      }
      expectStatus(await ctx.http.get('/v1/intents', { as: reader(ctx), query: { limit: 100 } }), 200, 'GET /v1/intents?limit=100')
    },
  },
  {
    id: 'CORE-PAGE-003',
    level: 'MUST',
    section: 'PAGE',
    title: 'A cursor the API did not return answers 400 GW_BAD_REQUEST',
    spec: openapi('paths./v1/intents.get parameters.cursor', '/paths/~1v1~1intents/get/parameters/1'),
    requires: ['auth.reader'],
    async check(ctx) {
      expectGatewayError(await ctx.http.get('/v1/intents', { as: reader(ctx), query: { cursor: 'garbage!' } }), 400, 'GW_BAD_REQUEST')
    },
  },
  {
    id: 'CORE-PAGE-004',
    level: 'MUST',
    section: 'PAGE',
    title: 'The status filter returns only intents in that status; an unknown status answers 400 GW_BAD_REQUEST',
    spec: openapi('paths./v1/intents.get parameters.status', '/paths/~1v1~1intents/get/parameters/2'),
    requires: ['auth.agent', 'auth.reader'],
    async check(ctx) {
      const { intent } = await createIntent(ctx)
      expectStatus(await ctx.http.post(`/v1/intents/${intent.id}/cancel`, { as: agent(ctx), headers: { 'idempotency-key': ctx.unique('idem') }, json: {} }), 200)
      const res = await ctx.http.get('/v1/intents', { as: reader(ctx), query: { status: 'canceled', limit: 20 } })
      expectStatus(res, 200)
      const page = res.json<Page>()
      for (const i of page.data) assertEqual(i.status, 'canceled', `status of ${i.id} in ?status=canceled`)
      assert(
        page.data.some((i) => i.id === intent.id),
        `the intent just canceled (${intent.id}) is not on the first page of ?status=canceled`,
      )
      expectGatewayError(await ctx.http.get('/v1/intents', { as: reader(ctx), query: { status: 'no_such_status' } }), 400, 'GW_BAD_REQUEST')
    },
  },
]
