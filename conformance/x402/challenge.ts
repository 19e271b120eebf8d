import { getAddress } from 'viem'
import { assert, assertEqual, fail, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import { V1_NETWORKS } from './networks.js'
import {
  callRoute,
  CORE_V1,
  CORE_V2,
  decodeB64Json,
  EXACT_EVM,
  HTTP_V2,
  offerOf,
  paymentHeader,
  paymentIdExtension,
  requirementProblems,
  sdk,
  signFor,
  STANDARD_BASE64,
  type PaymentRequired,
  type X402Context,
  type X402Discovery,
} from './helpers.js'

/** The unpaid call, made by the check itself (its evidence), decoded. */
async function unpaid(ctx: X402Context): Promise<{ status: number; header: string | undefined; pr: PaymentRequired; cacheControl: string | undefined }> {
  const res = await ctx.http.request({ method: ctx.discovery.route!.method, path: ctx.discovery.route!.url })
  assert(res.status === 402, `unpaid ${ctx.discovery.route!.method} ${res.path}: expected 402, got ${res.status}`)
  const header = res.header('payment-required')
  return { status: res.status, header, pr: decodeB64Json<PaymentRequired>(header, 'PAYMENT-REQUIRED'), cacheControl: res.header('cache-control') }
}

/** The 402 of v2 and v1, and the header encoding. */
export const challengeRequirements: Requirement<X402Discovery>[] = [
  {
    id: 'X402-REQ-001',
    level: 'MUST',
    section: 'REQ',
    title: 'An unpaid call to a priced route is answered 402 with a PAYMENT-REQUIRED header: PaymentRequired with x402Version 2, resource.url and a non-empty accepts',
    spec: HTTP_V2('Payment Required Signaling'),
    requires: ['x402.route'],
    async check(ctx) {
      const { pr } = await unpaid(ctx)
      assertEqual(pr.x402Version, 2, 'PAYMENT-REQUIRED.x402Version')
      assert(typeof pr.resource?.url === 'string' && pr.resource.url.length > 0, `PAYMENT-REQUIRED.resource.url is ${show(pr.resource?.url)}`)
      assert(Array.isArray(pr.accepts) && pr.accepts.length > 0, `PAYMENT-REQUIRED.accepts is ${show(pr.accepts)}`)
    },
  },
  {
    id: 'X402-REQ-002',
    level: 'MUST',
    section: 'REQ',
    title: 'Each accepts entry has exactly scheme, network (CAIP-2), amount (atomic decimal string), asset, payTo, maxTimeoutSeconds and extra; an exact/EVM entry names its EIP-712 domain in extra.name and extra.version',
    spec: CORE_V2('5.1 PaymentRequirements'),
    requires: ['x402.route'],
    async check(ctx) {
      const { pr } = await unpaid(ctx)
      const problems = (pr.accepts ?? []).flatMap((r, i) => requirementProblems(r, i))
      if (problems.length) fail(problems.join('; '))
    },
  },
  {
    id: 'X402-REQ-003',
    level: 'MUST',
    section: 'REQ',
    title: 'The offer is deterministic: two unpaid calls give deep-equal accepts (servers match the echoed `accepted` by deep equality)',
    spec: sdk('x402ResourceServer.findMatchingRequirements (deep equality of accepted)'),
    requires: ['x402.route'],
    async check(ctx) {
      const a = await unpaid(ctx)
      const b = await unpaid(ctx)
      assertEqual(b.pr.accepts, a.pr.accepts, 'accepts of the second unpaid call')
    },
  },
  {
    id: 'X402-REQ-004',
    level: 'SHOULD',
    section: 'REQ',
    title: 'A 402 is not cached: Cache-Control: no-store',
    spec: sdk('PAYMENT_REQUIRED_CACHE_CONTROL = "no-store" (2.27)'),
    requires: ['x402.route'],
    async check(ctx) {
      const { cacheControl } = await unpaid(ctx)
      assert(/\bno-store\b/i.test(cacheControl ?? ''), `Cache-Control is ${show(cacheControl)}, expected no-store`)
    },
  },
  {
    id: 'X402-REQ-005',
    level: 'SHOULD',
    section: 'REQ',
    title: "extra.name and extra.version of the exact/EVM offer are the token's own EIP-712 domain on chain",
    spec: EXACT_EVM('EIP-3009 domain (extra.name, extra.version)'),
    requires: ['x402.offer', 'runner.rpc'],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const domain = await ctx.discovery.chain!.tokenDomain(getAddress(offer.asset))
      assertEqual({ name: offer.extra['name'], version: offer.extra['version'] }, { name: domain.name, version: domain.version }, `EIP-712 domain of ${offer.asset}`)
    },
  },
  {
    id: 'X402-ENC-001',
    level: 'MUST',
    section: 'ENC',
    title: 'PAYMENT-REQUIRED is standard base64 (A–Z a–z 0–9 + /, = padding, not base64url) of UTF-8 JSON',
    spec: HTTP_V2('Header Summary'),
    requires: ['x402.route'],
    async check(ctx) {
      const { header } = await unpaid(ctx)
      assert(header !== undefined && STANDARD_BASE64.test(header), `PAYMENT-REQUIRED ${show(header?.slice(0, 40))} is not standard base64`)
      assertEqual(Buffer.from(Buffer.from(header, 'base64').toString('utf8'), 'utf8').toString('base64').replace(/=+$/, ''), header.replace(/=+$/, ''), 'PAYMENT-REQUIRED re-encoded')
    },
  },
  {
    id: 'X402-ENC-002',
    level: 'MUST',
    section: 'ENC',
    title: 'A PAYMENT-SIGNATURE that is not standard base64 JSON (base64url alphabet, or not JSON) is refused without payment: 400 or 402, never 2xx or 5xx',
    spec: HTTP_V2('Error Handling'),
    requires: ['x402.offer'],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const s = await signFor(ctx, offer, chainId, { label: 'enc' })
      const good = paymentHeader(ctx, s, offer, paymentIdExtension(ctx))
      // The same payload in the URL-safe alphabet (padding dropped) — and a header that is not JSON.
      const urlSafe = good.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
      const variants = [urlSafe === good.replace(/=+$/, '') ? `${urlSafe}-_` : urlSafe, Buffer.from('not json', 'utf8').toString('base64')]
      for (const h of variants) {
        const res = await callRoute(ctx, { 'payment-signature': h })
        assert(res.status === 400 || res.status === 402, `PAYMENT-SIGNATURE ${show(h.slice(0, 24))}…: expected 400 or 402, got ${res.status}`)
      }
      if (ctx.discovery.chain) assert(!(await ctx.discovery.chain.authorizationUsed(getAddress(offer.asset), s.authorization.from, s.authorization.nonce)), 'the base64url payment was settled')
    },
  },
  {
    id: 'X402-ENC-003',
    level: 'SHOULD',
    section: 'ENC',
    title: 'A malformed payment header is answered 400 (Invalid Payment), not 402',
    spec: HTTP_V2('Error Handling: Invalid Payment → 400'),
    requires: ['x402.route'],
    async check(ctx) {
      const res = await callRoute(ctx, { 'payment-signature': Buffer.from('{"x402Version":2', 'utf8').toString('base64') })
      assertEqual(res.status, 400, 'status for a PAYMENT-SIGNATURE that is not JSON')
    },
  },
  {
    id: 'X402-V1-001',
    level: 'MUST',
    section: 'V1',
    title: 'A v1 offer is the JSON body {x402Version: 1, error, accepts}: scheme, a v1 network name, maxAmountRequired, resource (URL), description, mimeType, payTo, maxTimeoutSeconds, asset and extra {name, version}',
    spec: CORE_V1('5.1 PaymentRequirementsResponse'),
    requires: ['x402.v1'],
    async check(ctx) {
      const res = await ctx.http.request({ method: ctx.discovery.route!.method, path: ctx.discovery.route!.url })
      assert(res.status === 402, `expected 402, got ${res.status}`)
      // JSON, or a JSON-based type by its +json suffix (RFC 6839): a server that also offers MPP
      // answers one RFC 9457 problem document (application/problem+json) carrying these members.
      assert(/^application\/([\w.-]+\+)?json\b/i.test(res.header('content-type') ?? ''), `Content-Type is ${show(res.header('content-type'))}, expected application/json (or a +json type)`)
      const body = res.json<{ x402Version: unknown; error: unknown; accepts: Array<Record<string, unknown>> }>()
      assertEqual(body.x402Version, 1, 'body.x402Version')
      assert(typeof body.error === 'string', `body.error is ${show(body.error)}`)
      const problems: string[] = []
      for (const [i, r] of body.accepts.entries()) {
        if (r['scheme'] !== 'exact') continue
        if (typeof r['network'] !== 'string' || !(r['network'] in V1_NETWORKS)) problems.push(`accepts[${i}].network ${show(r['network'])} is not a v1 network name`)
        if (typeof r['maxAmountRequired'] !== 'string' || !/^(0|[1-9][0-9]*)$/.test(r['maxAmountRequired'])) problems.push(`accepts[${i}].maxAmountRequired ${show(r['maxAmountRequired'])}`)
        try {
          new URL(String(r['resource']))
        } catch {
          problems.push(`accepts[${i}].resource ${show(r['resource'])} is not a URL`)
        }
        for (const f of ['description', 'mimeType', 'payTo', 'asset']) if (typeof r[f] !== 'string') problems.push(`accepts[${i}].${f} is ${show(r[f])}`)
        if (!Number.isInteger(r['maxTimeoutSeconds'])) problems.push(`accepts[${i}].maxTimeoutSeconds is ${show(r['maxTimeoutSeconds'])}`)
        const extra = r['extra'] as Record<string, unknown> | undefined
        if (typeof extra?.['name'] !== 'string' || typeof extra?.['version'] !== 'string') problems.push(`accepts[${i}].extra ${show(extra)} lacks name/version`)
        if (r['outputSchema'] === null) problems.push(`accepts[${i}].outputSchema is null (the 1.x client refuses it; omit it)`)
      }
      if (problems.length) fail(problems.join('; '))
    },
  },
]
