import { assert, assertEqual, expectHeader, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import { agent, errorsDoc, expectGatewayError, intentBody, openapi, readme, type CoreDiscovery } from './helpers.js'

const UNKNOWN_KEY = 'Bearer ask_conformance_unknown_key_000000000000'

/** Errors: one wire shape, the catalogue's statuses. */
export const errorRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-ERR-001',
    level: 'MUST',
    section: 'ERR',
    title: 'An unknown route answers 404 GW_NOT_FOUND in the one error shape {error:{code,title,message,retryable,request_id}}',
    spec: errorsDoc('Error codes: the wire shape'),
    async check(ctx) {
      const outside = await ctx.http.get(`/${ctx.unique('no-such-route')}`)
      expectGatewayError(outside, 404, 'GW_NOT_FOUND')
      const inside = await ctx.http.get(`/v1/${ctx.unique('no-such-route')}`)
      expectGatewayError(inside, 404, 'GW_NOT_FOUND')
      const post = await ctx.http.post(`/v1/${ctx.unique('no-such-route')}`, { json: {} })
      expectGatewayError(post, 404, 'GW_NOT_FOUND')
    },
  },
  {
    id: 'CORE-ERR-002',
    level: 'MUST',
    section: 'ERR',
    title: 'A /v1 request without an API key, or with an unknown key, answers 401 GW_UNAUTHENTICATED',
    spec: openapi('security: bearer; responses 401', '/components/securitySchemes/bearer'),
    async check(ctx) {
      expectGatewayError(await ctx.http.get('/v1/intents'), 401, 'GW_UNAUTHENTICATED', 'GET /v1/intents without a key')
      expectGatewayError(await ctx.http.get('/v1/intents', { headers: { authorization: UNKNOWN_KEY } }), 401, 'GW_UNAUTHENTICATED', 'GET /v1/intents with an unknown key')
      const create = await ctx.http.post('/v1/intents', { headers: { 'idempotency-key': ctx.unique('idem') }, json: { amount: { value: '1', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' } } })
      expectGatewayError(create, 401, 'GW_UNAUTHENTICATED', 'POST /v1/intents without a key')
    },
  },
  {
    id: 'CORE-ERR-003',
    level: 'MUST',
    section: 'ERR',
    title: 'A 401 answer carries a WWW-Authenticate challenge for the Bearer scheme',
    spec: { doc: 'RFC 9110 HTTP Semantics', version: 'RFC 9110', section: '§15.5.2 401 Unauthorized', url: 'https://www.rfc-editor.org/rfc/rfc9110#section-15.5.2' },
    async check(ctx) {
      const res = await ctx.http.get('/v1/intents')
      expectGatewayError(res, 401, 'GW_UNAUTHENTICATED')
      expectHeader(res, 'www-authenticate', /^Bearer\b/i)
    },
  },
  {
    id: 'CORE-ERR-004',
    level: 'MUST',
    section: 'ERR',
    title: 'A body that is not valid JSON answers 400 GW_BAD_REQUEST',
    spec: errorsDoc('GW_BAD_REQUEST'),
    async check(ctx) {
      const res = await ctx.http.post('/v1/intents', {
        ...(ctx.discovery.agentRole ? { as: ctx.discovery.agentRole } : {}),
        headers: { 'content-type': 'application/json', 'idempotency-key': ctx.unique('idem') },
        body: '{"amount": {"value": "1999", ',
      })
      expectGatewayError(res, 400, 'GW_BAD_REQUEST')
    },
  },
  {
    id: 'CORE-ERR-005',
    level: 'MUST',
    section: 'ERR',
    title: 'A body over the size limit answers 413 GW_BODY_TOO_LARGE',
    spec: errorsDoc('GW_BODY_TOO_LARGE'),
    async check(ctx) {
      const limit = Number(ctx.options.get('bodyLimitBytes'))
      assert(Number.isSafeInteger(limit) && limit > 0, `--set core.bodyLimitBytes must be a positive integer, got ${show(ctx.options.get('bodyLimitBytes'))}`)
      const body = JSON.stringify({ padding: 'x'.repeat(limit + 1024) })
      ctx.note(`sent ${body.length} bytes; the limit is ${limit} (server.bodyLimitBytes; --set core.bodyLimitBytes=N when the target raised it)`)
      const res = await ctx.http.post('/v1/intents', {
        ...(ctx.discovery.agentRole ? { as: ctx.discovery.agentRole } : {}),
        headers: { 'content-type': 'application/json', 'idempotency-key': ctx.unique('idem') },
        body,
      })
      expectGatewayError(res, 413, 'GW_BODY_TOO_LARGE')
    },
  },
  {
    id: 'CORE-ERR-006',
    level: 'MUST',
    section: 'ERR',
    title: 'A POST body that is not application/json answers 415 GW_UNSUPPORTED_MEDIA_TYPE',
    spec: errorsDoc('GW_UNSUPPORTED_MEDIA_TYPE'),
    async check(ctx) {
      const res = await ctx.http.post('/v1/intents', {
        ...(ctx.discovery.agentRole ? { as: ctx.discovery.agentRole } : {}),
        headers: { 'content-type': 'text/plain', 'idempotency-key': ctx.unique('idem') },
        body: 'amount=1999',
      })
      expectGatewayError(res, 415, 'GW_UNSUPPORTED_MEDIA_TYPE')
    },
  },
  {
    id: 'CORE-ERR-007',
    level: 'MUST',
    section: 'ERR',
    title: 'A body that breaks the request schema answers 400 GW_SCHEMA_INVALID with details [{path, message}]',
    spec: errorsDoc('GW_SCHEMA_INVALID'),
    requires: ['auth.agent'],
    async check(ctx) {
      const res = await ctx.http.post('/v1/intents', {
        as: agent(ctx),
        headers: { 'idempotency-key': ctx.unique('idem') },
        json: intentBody(ctx, { instrument: { type: 'no.such.instrument' }, surprise: true }),
      })
      const body = expectGatewayError(res, 400, 'GW_SCHEMA_INVALID')
      const details = body.error.details
      assert(Array.isArray(details) && details.length > 0, `error.details is ${show(details)}, expected a non-empty list`)
      for (const d of details as unknown[]) {
        const entry = d as { path?: unknown; message?: unknown }
        assert(typeof entry?.path === 'string' && typeof entry.message === 'string', `error.details entry ${show(d)} is not {path, message}`)
      }
    },
  },
]

/** Request-Id: echoed, or made. */
export const requestIdRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-REQID-001',
    level: 'MUST',
    section: 'REQID',
    title: "The caller's Request-Id is echoed on success and on error, and is the error's request_id",
    spec: errorsDoc('request_id'),
    async check(ctx) {
      const id = ctx.unique('req')
      const ok = await ctx.http.get('/healthz', { headers: { 'request-id': id } })
      expectHeader(ok, 'request-id', id, 'GET /healthz')
      const err = await ctx.http.get(`/v1/${ctx.unique('no-such-route')}`, { headers: { 'request-id': id } })
      expectHeader(err, 'request-id', id, 'GET of an unknown route')
      const body = expectGatewayError(err, 404, 'GW_NOT_FOUND')
      assertEqual(body.error.request_id, id, 'error.request_id')
    },
  },
  {
    id: 'CORE-REQID-002',
    level: 'MUST',
    section: 'REQID',
    title: 'Without a Request-Id the gateway makes one per request and returns it',
    spec: readme('request ids (error request_id)'),
    async check(ctx) {
      const a = expectHeader(await ctx.http.get('/healthz'), 'request-id')
      const b = expectHeader(await ctx.http.get('/healthz'), 'request-id')
      assert(a.length > 0 && a !== b, `two requests got Request-Id ${show(a)} and ${show(b)}: expected two different non-empty ids`)
    },
  },
]

/** Authorisation by key kind. */
export const authRequirements: Requirement<CoreDiscovery>[] = [
  {
    id: 'CORE-AUTH-001',
    level: 'MUST',
    section: 'AUTH',
    title: 'A valid key of a kind that may not create intents (admin, merchant) gets 403 GW_FORBIDDEN on POST /v1/intents',
    spec: openapi('paths./v1/intents.post responses 403', '/paths/~1v1~1intents/post'),
    requires: ['auth.other-caller'],
    async check(ctx) {
      const res = await ctx.http.post('/v1/intents', { as: ctx.discovery.otherRole!, headers: { 'idempotency-key': ctx.unique('idem') }, json: intentBody(ctx) })
      expectGatewayError(res, 403, 'GW_FORBIDDEN')
    },
  },
]
