import { isAddress } from 'viem'
import { assert, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import type { Requirement } from '../framework/types.js'
import { callRoute, CHARGE, CORE, EVM, problem, problemOf, type MppContext, type MppDiscovery } from './helpers.js'
import { b64urlDecode, jcs, paymentChallenges, RFC3339, type AuthChallenge } from './wire.js'

interface Unpaid {
  res: HttpResponse
  challenges: AuthChallenge[]
}

/** The route called without a credential, once per run (its exchange is the first asking check's evidence). */
function unpaid(ctx: MppContext): Promise<Unpaid> {
  return ctx.once('unpaid', async () => {
    const res = await callRoute(ctx)
    return { res, challenges: paymentChallenges(res.header('www-authenticate')) }
  })
}

/** The Payment challenges of the unpaid 402 (fails when there are none). */
async function challengesOf(ctx: MppContext): Promise<AuthChallenge[]> {
  const { res, challenges } = await unpaid(ctx)
  assert(res.status === 402, `the unpaid call answered ${res.status}, expected 402`)
  assert(challenges.length > 0, `the 402 has no WWW-Authenticate: Payment challenge (WWW-Authenticate: ${show(res.header('www-authenticate'))})`)
  return challenges
}

/** Decoded `request` of the charge challenges (those with intent="charge"). */
async function chargeRequests(ctx: MppContext): Promise<Array<{ c: AuthChallenge; request: Record<string, unknown> }>> {
  const out: Array<{ c: AuthChallenge; request: Record<string, unknown> }> = []
  for (const c of await challengesOf(ctx)) {
    if (c.params['intent'] !== 'charge') continue
    const bytes = b64urlDecode(c.params['request'] ?? '')
    out.push({ c, request: JSON.parse(bytes.toString('utf8')) as Record<string, unknown> })
  }
  if (out.length === 0) ctx.skip('the route offers no intent="charge" challenge (the charge checks do not apply)')
  return out
}

const label = (c: AuthChallenge): string => `challenge ${show(c.params['id'])} (${c.params['method']}/${c.params['intent']})`

/** The unpaid 402 and its challenges (core §4, §5.1) and the `request` parameter (core §5.1.1, charge §5, evm §4). */
export const challengeRequirements: Requirement<MppDiscovery>[] = [
  {
    id: 'MPP-CHAL-001',
    level: 'MUST',
    section: 'CHAL',
    title: 'A request without a credential to a priced route is answered 402 with at least one WWW-Authenticate: Payment challenge',
    spec: CORE('§4.2 Status Codes; §4.4.2 When NOT to Return 402'),
    requires: ['mpp.route'],
    async check(ctx) {
      const cs = await challengesOf(ctx)
      ctx.note(`${cs.length} Payment challenge(s): ${cs.map(label).join(', ')}`)
    },
  },
  {
    id: 'MPP-CHAL-002',
    level: 'MUST',
    section: 'CHAL',
    title: 'Every Payment challenge parses as RFC 9110 auth-params without duplicates and carries non-empty id, realm, method, intent and request',
    spec: CORE('§5.1 Challenge; §5.1.1 Required Parameters'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const c of await challengesOf(ctx)) {
        assert(c.problems.length === 0, `${label(c)} does not parse: ${c.problems.join('; ')}`)
        for (const p of ['id', 'realm', 'method', 'intent', 'request']) assert(typeof c.params[p] === 'string' && c.params[p] !== '', `${label(c)}: required parameter ${p} is ${show(c.params[p])}`)
      }
    },
  },
  {
    id: 'MPP-CHAL-003',
    level: 'MUST',
    section: 'CHAL',
    title: 'The method parameter is a lowercase ASCII method identifier (1*LOWERALPHA)',
    spec: CORE('§5.1.1 Required Parameters (method); §6.1 Method Identifier Format'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const c of await challengesOf(ctx)) assert(/^[a-z]+$/.test(c.params['method'] ?? ''), `${label(c)}: method ${show(c.params['method'])} is not 1*LOWERALPHA`)
    },
  },
  {
    id: 'MPP-CHAL-004',
    level: 'MUST',
    section: 'CHAL',
    title: 'The 402 carries Cache-Control: no-store',
    spec: CORE('§11.10 Caching'),
    requires: ['mpp.route'],
    async check(ctx) {
      await challengesOf(ctx)
      const cc = (await unpaid(ctx)).res.header('cache-control') ?? ''
      assert(cc.split(',').some((d) => d.trim().toLowerCase() === 'no-store'), `Cache-Control is ${show(cc || undefined)}, expected no-store`)
    },
  },
  {
    id: 'MPP-CHAL-005',
    level: 'SHOULD',
    section: 'CHAL',
    title: 'The 402 body is an RFC 9457 problem (application/problem+json) of type https://paymentauth.org/problems/payment-required with status 402',
    spec: CORE('§8.1 Error Response Format; §8.2 Error Codes'),
    requires: ['mpp.route'],
    async check(ctx) {
      await challengesOf(ctx)
      const { res } = await unpaid(ctx)
      const p = problemOf(res, 'the unpaid 402')
      assert(p.type === problem('payment-required'), `problem.type is ${show(p.type)}, expected ${problem('payment-required')}`)
    },
  },
  {
    id: 'MPP-CHAL-006',
    level: 'SHOULD',
    section: 'CHAL',
    title: 'Every Payment challenge carries an expires parameter',
    spec: CORE('§5.1.2 Optional Parameters (expires: servers SHOULD include)'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const c of await challengesOf(ctx)) assert(c.params['expires'] !== undefined, `${label(c)} has no expires`)
    },
  },
  {
    id: 'MPP-CHAL-007',
    level: 'MUST',
    section: 'CHAL',
    title: 'A challenge expires value is an RFC 3339 date-time in the future (clients must not pay expired challenges, so an expired one is unpayable)',
    spec: CORE('§5.1.2 Optional Parameters (expires)'),
    requires: ['mpp.route'],
    async check(ctx) {
      const cs = (await challengesOf(ctx)).filter((c) => c.params['expires'] !== undefined)
      if (cs.length === 0) ctx.skip('no challenge carries expires (MPP-CHAL-006 reports that)')
      for (const c of cs) {
        const ex = c.params['expires']!
        assert(RFC3339.test(ex), `${label(c)}: expires ${show(ex)} is not an RFC 3339 date-time`)
        assert(new Date(ex).getTime() > Date.now(), `${label(c)}: expires ${ex} is not in the future (now ${new Date().toISOString()})`)
        ctx.note(`${label(c)} expires in ${Math.round((new Date(ex).getTime() - Date.now()) / 1000)} s`)
      }
    },
  },
  {
    id: 'MPP-CHAL-008',
    level: 'MUST',
    section: 'CHAL',
    title: 'Two unpaid calls a few milliseconds apart get different challenge ids (ids are unique and single-use, so two clients must never share one)',
    spec: CORE('§5.1.1 Required Parameters (id: unique challenge identifier); charge §6.2 Single-Use'),
    requires: ['mpp.route'],
    async check(ctx) {
      // Three pairs 5 ms apart: a server whose ids only change with a coarse clock (e.g. expires in
      // whole seconds bound by HMAC) repeats one in at least one pair.
      for (let pair = 0; pair < 3; pair++) {
        const first = paymentChallenges((await callRoute(ctx)).header('www-authenticate'))
        await new Promise((r) => setTimeout(r, 5))
        const second = paymentChallenges((await callRoute(ctx)).header('www-authenticate'))
        assert(first.length > 0 && second.length > 0, 'an unpaid call has no Payment challenge')
        const ids = new Set(first.map((c) => c.params['id']))
        const repeated = second.filter((c) => ids.has(c.params['id'])).map((c) => c.params['id'])
        assert(repeated.length === 0, `two unpaid calls 5 ms apart got the same challenge id ${show(repeated[0])} (expires ${show(second[0]?.params['expires'])}): a second client would be refused as a replay of the first`)
      }
    },
  },
  {
    id: 'MPP-REQ-001',
    level: 'MUST',
    section: 'REQ',
    title: 'The request parameter is base64url without padding (RFC 4648 §5: A–Z a–z 0–9 - _, no "=") of a JSON object',
    spec: CORE('§5.1.1 Required Parameters (request)'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const c of await challengesOf(ctx)) {
        const raw = c.params['request'] ?? ''
        let bytes: Buffer
        try {
          bytes = b64urlDecode(raw)
        } catch (e) {
          return assert(false, `${label(c)}: request ${show(raw.slice(0, 40))} ${(e as Error).message}`)
        }
        let v: unknown
        try {
          v = JSON.parse(bytes.toString('utf8'))
        } catch {
          return assert(false, `${label(c)}: request does not decode to JSON (${show(bytes.toString('utf8'))})`)
        }
        assert(v !== null && typeof v === 'object' && !Array.isArray(v), `${label(c)}: request decodes to ${show(v)}, not a JSON object`)
      }
    },
  },
  {
    id: 'MPP-REQ-002',
    level: 'MUST',
    section: 'REQ',
    title: 'The request JSON is serialised with JCS (RFC 8785): the decoded bytes equal the canonical serialisation of the value they hold',
    spec: CORE('§5.1.1 Required Parameters (request: JSON MUST be serialized using JCS)'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const c of await challengesOf(ctx)) {
        const text = b64urlDecode(c.params['request'] ?? '').toString('utf8')
        const canonical = jcs(JSON.parse(text))
        assert(text === canonical, `${label(c)}: request is ${show(text)}, its JCS form is ${show(canonical)}`)
      }
    },
  },
  {
    id: 'MPP-REQ-003',
    level: 'MUST',
    section: 'REQ',
    title: 'A charge request has amount (a base-unit integer string) and currency (a non-empty string), and does not duplicate the expiry',
    spec: CHARGE('§5.1.1 Required Fields; §5.1.2 Optional Fields (request objects MUST NOT duplicate the expiry)'),
    requires: ['mpp.route'],
    async check(ctx) {
      for (const { c, request } of await chargeRequests(ctx)) {
        assert(typeof request['amount'] === 'string' && /^(0|[1-9][0-9]*)$/.test(request['amount']), `${label(c)}: amount ${show(request['amount'])} is not a base-unit integer string`)
        assert(typeof request['currency'] === 'string' && request['currency'] !== '', `${label(c)}: currency ${show(request['currency'])}`)
        for (const k of ['expires', 'expiresAt', 'expiry']) assert(!(k in request), `${label(c)}: request duplicates the expiry as ${k}`)
        if ('methodDetails' in request) assert(request['methodDetails'] !== null && typeof request['methodDetails'] === 'object' && !Array.isArray(request['methodDetails']), `${label(c)}: methodDetails ${show(request['methodDetails'])} is not an object`)
      }
    },
  },
  {
    id: 'MPP-REQ-004',
    level: 'MUST',
    section: 'REQ',
    title: 'An evm charge request names currency and recipient as 0x-prefixed 20-byte addresses and methodDetails.chainId as an integer; credentialTypes, when present, is a non-empty list of permit2 | authorization | transaction | hash',
    spec: EVM('§4.1 Shared Fields; §4.2 Method Details; §4.2.2 Credential Type Negotiation'),
    requires: ['mpp.route'],
    async check(ctx) {
      const evm = (await chargeRequests(ctx)).filter(({ c }) => c.params['method'] === 'evm')
      if (evm.length === 0) ctx.skip('the route offers no method="evm" charge challenge')
      for (const { c, request } of evm) {
        for (const k of ['currency', 'recipient']) assert(typeof request[k] === 'string' && isAddress(request[k] as string, { strict: false }), `${label(c)}: ${k} ${show(request[k])} is not a 20-byte 0x address`)
        const md = request['methodDetails'] as Record<string, unknown> | undefined
        assert(md && Number.isSafeInteger(md['chainId']) && (md['chainId'] as number) > 0, `${label(c)}: methodDetails.chainId ${show(md?.['chainId'])} is not a positive integer`)
        const types = md['credentialTypes']
        if (types !== undefined) {
          assert(Array.isArray(types) && types.length > 0, `${label(c)}: credentialTypes ${show(types)} is not a non-empty array`)
          for (const t of types) assert(['permit2', 'authorization', 'transaction', 'hash'].includes(String(t)), `${label(c)}: credentialTypes has ${show(t)}`)
        }
      }
    },
  },
]
