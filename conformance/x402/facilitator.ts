import { getAddress } from 'viem'
import { assert, assertEqual, fail, show } from '../framework/assert.js'
import type { HttpResponse } from '../framework/http.js'
import type { Requirement, SpecRef } from '../framework/types.js'
import { balances, CORE_V2, expectReason, isTxHash, offerOf, signFor, type Requirements, type SignedPayment, type X402Context, type X402Discovery } from './helpers.js'

const FACILITATOR = (section: string): SpecRef => CORE_V2(`7 Facilitator Interface: ${section}`)
const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))

function request(s: SignedPayment, accepted: Requirements, requirements: Requirements = accepted): Record<string, unknown> {
  return { x402Version: 2, paymentPayload: { x402Version: 2, accepted, payload: s }, paymentRequirements: requirements }
}

function post(ctx: X402Context, op: 'verify' | 'settle', body: unknown): Promise<HttpResponse> {
  return ctx.http.post(`${ctx.discovery.facilitatorUrl!}/${op}`, { json: body })
}

/** A /verify verdict: 200 and `isValid: false` with the SDK reason (`reason` undefined: any non-empty reason). */
async function verdict(ctx: X402Context, what: string, reason: string | undefined, make: (offer: Requirements, chainId: number) => Promise<Record<string, unknown>>): Promise<void> {
  const { offer, chainId } = offerOf(ctx)
  const res = await post(ctx, 'verify', await make(offer, chainId))
  assert(res.status === 200, `${what}: POST /verify answered ${res.status}, expected 200 with isValid:false (body: ${show(res.text)})`)
  const body = res.json<{ isValid?: unknown; invalidReason?: unknown }>()
  assertEqual(body.isValid, false, `${what}: isValid`)
  if (reason) expectReason(body.invalidReason, reason, what)
  else assert(typeof body.invalidReason === 'string' && body.invalidReason.length > 0, `${what}: invalidReason is ${show(body.invalidReason)}`)
}

interface Settled {
  body: Record<string, unknown>
  res: HttpResponse
  s: SignedPayment
  before: { payer: bigint; payTo: bigint }
  after: { payer: bigint; payTo: bigint }
}

function settled(ctx: X402Context): Promise<Settled> {
  return ctx.once('facilitator-settle', async () => {
    const { offer, chainId } = offerOf(ctx)
    const s = await signFor(ctx, offer, chainId, { label: 'fac-settle' })
    const body = request(s, offer)
    const before = await balances(ctx, offer)
    const res = await post(ctx, 'settle', body)
    const after = await balances(ctx, offer)
    return { body, res, s, before, after }
  })
}

const WITH_OFFER = ['x402.facilitator', 'x402.offer'] as const
const FUNDED = ['x402.facilitator', 'x402.offer', 'payer.funded', 'runner.rpc'] as const

/** The facilitator's HTTP API: /supported, /verify, /settle. */
export const facilitatorRequirements: Requirement<X402Discovery>[] = [
  {
    id: 'X402-FAC-001',
    level: 'MUST',
    section: 'FAC',
    title: 'GET /supported answers 200 JSON {kinds: [{x402Version, scheme, network}], extensions: [string], signers: {family: [address]}}',
    spec: FACILITATOR('GET /supported'),
    requires: ['x402.facilitator'],
    async check(ctx) {
      const res = await ctx.http.get(`${ctx.discovery.facilitatorUrl!}/supported`)
      assertEqual(res.status, 200, 'GET /supported status')
      const b = res.json<{ kinds?: unknown; extensions?: unknown; signers?: unknown }>()
      const problems: string[] = []
      if (!Array.isArray(b.kinds) || b.kinds.length === 0) problems.push(`kinds is ${show(b.kinds)}`)
      else
        for (const [i, k] of (b.kinds as Array<Record<string, unknown>>).entries())
          if (!Number.isInteger(k['x402Version']) || typeof k['scheme'] !== 'string' || typeof k['network'] !== 'string') problems.push(`kinds[${i}] is ${show(k)}`)
      if (!Array.isArray(b.extensions) || !(b.extensions as unknown[]).every((e) => typeof e === 'string')) problems.push(`extensions is ${show(b.extensions)}`)
      if (b.signers === null || typeof b.signers !== 'object' || !Object.values(b.signers as object).every((v) => Array.isArray(v))) problems.push(`signers is ${show(b.signers)}`)
      if (problems.length) fail(problems.join('; '))
    },
  },
  {
    id: 'X402-FAC-002',
    level: 'MUST',
    section: 'FAC',
    title: "/supported lists {x402Version: 2, scheme: exact, network} for the route's network literally (SDK servers look networks up by exact string)",
    spec: FACILITATOR('GET /supported'),
    requires: [...WITH_OFFER],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const res = await ctx.http.get(`${ctx.discovery.facilitatorUrl!}/supported`)
      const kinds = res.json<{ kinds?: Array<Record<string, unknown>> }>().kinds ?? []
      assert(
        kinds.some((k) => k['x402Version'] === 2 && k['scheme'] === 'exact' && k['network'] === offer.network),
        `no {x402Version: 2, scheme: "exact", network: "${offer.network}"} in ${show(kinds)}`,
      )
    },
  },
  {
    id: 'X402-FAC-003',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of a valid payment answers 200 {isValid: true, payer}',
    spec: FACILITATOR('POST /verify'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const s = await signFor(ctx, offer, chainId, { label: 'fac-verify' })
      const res = await post(ctx, 'verify', request(s, offer))
      assertEqual(res.status, 200, 'POST /verify status')
      const b = res.json<{ isValid?: unknown; payer?: unknown; invalidReason?: unknown }>()
      assertEqual(b.isValid, true, `isValid (invalidReason ${show(b.invalidReason)})`)
      assert(typeof b.payer === 'string' && getAddress(b.payer) === getAddress(s.authorization.from), `payer is ${show(b.payer)}`)
    },
  },
  {
    id: 'X402-FAC-004',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of an expired authorization answers 200 {isValid: false, invalidReason: invalid_exact_evm_payload_authorization_valid_before}',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    check: (ctx) => verdict(ctx, 'expired', 'invalid_exact_evm_payload_authorization_valid_before', async (o, c) => request(await signFor(ctx, o, c, { validBefore: now() - 60n }), o)),
  },
  {
    id: 'X402-FAC-005',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of a not-yet-valid authorization: isValid false, invalid_exact_evm_payload_authorization_valid_after',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    check: (ctx) => verdict(ctx, 'not yet valid', 'invalid_exact_evm_payload_authorization_valid_after', async (o, c) => request(await signFor(ctx, o, c, { validAfter: now() + 3600n }), o)),
  },
  {
    id: 'X402-FAC-006',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of an underpaid authorization: isValid false, invalid_exact_evm_payload_authorization_value_mismatch',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    check: (ctx) => verdict(ctx, 'underpaid', 'invalid_exact_evm_payload_authorization_value_mismatch', async (o, c) => request(await signFor(ctx, o, c, { value: BigInt(o.amount) - 1n }), o)),
  },
  {
    id: 'X402-FAC-007',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of an authorization to another address than payTo: isValid false, invalid_exact_evm_recipient_mismatch',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    check: (ctx) => verdict(ctx, 'wrong payTo', 'invalid_exact_evm_recipient_mismatch', async (o, c) => request(await signFor(ctx, o, c, { to: ctx.counterparts.wallet(2).address }), o)),
  },
  {
    id: 'X402-FAC-008',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify of a signature by another key than `from`: isValid false, invalid_exact_evm_signature',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    check: (ctx) => verdict(ctx, 'bad signature', 'invalid_exact_evm_signature', async (o, c) => request(await signFor(ctx, o, c, { signer: ctx.counterparts.wallet(1) }), o)),
  },
  {
    id: 'X402-FAC-009',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /verify for a network the facilitator does not support answers a verdict (isValid: false), never a 5xx',
    spec: FACILITATOR('POST /verify'),
    requires: [...WITH_OFFER],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const other = { ...offer, network: 'eip155:999999999' }
      const res = await post(ctx, 'verify', request(await signFor(ctx, offer, 999_999_999), other))
      assert(res.status < 500, `POST /verify answered ${res.status} (body: ${show(res.text)})`)
      const b = res.json<{ isValid?: unknown; invalidReason?: unknown }>()
      assertEqual(b.isValid, false, 'isValid')
      ctx.note(`invalidReason ${show(b.invalidReason)} (the v2 spec's generic reason is invalid_network)`)
    },
  },
  {
    id: 'X402-FAC-010',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /settle of a valid payment answers 200 {success: true, transaction, network, payer} and moves exactly the amount once',
    spec: FACILITATOR('POST /settle'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const { res, s, before, after } = await settled(ctx)
      assertEqual(res.status, 200, 'POST /settle status')
      const b = res.json<{ success?: unknown; transaction?: unknown; network?: unknown; payer?: unknown; errorReason?: unknown }>()
      assertEqual(b.success, true, `success (errorReason ${show(b.errorReason)})`)
      assert(isTxHash(b.transaction), `transaction ${show(b.transaction)}`)
      assertEqual(b.network, offer.network, 'network')
      assert(typeof b.payer === 'string' && getAddress(b.payer) === getAddress(s.authorization.from), `payer ${show(b.payer)}`)
      assertEqual(after.payTo - before.payTo, BigInt(offer.amount), 'payTo balance change')
      assertEqual(before.payer - after.payer, BigInt(offer.amount), 'payer balance change')
    },
  },
  {
    id: 'X402-FAC-011',
    level: 'MUST',
    section: 'FAC',
    title: 'The same /settle body again answers success: false with transaction "" and moves nothing',
    spec: FACILITATOR('POST /settle'),
    requires: [...FUNDED],
    async check(ctx) {
      const { offer } = offerOf(ctx)
      const first = await settled(ctx)
      assert(first.res.status === 200 && first.res.json<{ success?: unknown }>().success === true, 'the first settlement did not succeed: nothing to repeat')
      const before = await balances(ctx, offer)
      const res = await post(ctx, 'settle', first.body)
      assert(res.status < 500, `the repeat answered ${res.status}`)
      const b = res.json<{ success?: unknown; transaction?: unknown; errorReason?: unknown }>()
      assertEqual(b.success, false, 'success of the repeat')
      assertEqual(b.transaction, '', 'transaction of the repeat')
      ctx.note(`errorReason ${show(b.errorReason)}`)
      assertEqual(await balances(ctx, offer), before, 'balances after the repeat')
    },
  },
  {
    id: 'X402-FAC-012',
    level: 'SHOULD',
    section: 'FAC',
    title: 'After settlement, /verify and /settle of that authorization name invalid_exact_evm_nonce_already_used',
    spec: FACILITATOR('POST /verify'),
    requires: [...FUNDED],
    async check(ctx) {
      const first = await settled(ctx)
      assert(first.res.status === 200 && first.res.json<{ success?: unknown }>().success === true, 'the first settlement did not succeed')
      const v = await post(ctx, 'verify', first.body)
      expectReason(v.json<{ invalidReason?: unknown }>().invalidReason, 'invalid_exact_evm_nonce_already_used', 'verify after settlement')
      const s = await post(ctx, 'settle', first.body)
      expectReason(s.json<{ errorReason?: unknown }>().errorReason, 'invalid_exact_evm_nonce_already_used', 'settle again')
    },
  },
  {
    id: 'X402-FAC-013',
    level: 'MUST',
    section: 'FAC',
    title: 'POST /settle of an invalid (expired) payment answers 200 {success: false, errorReason, transaction: "", network}',
    spec: FACILITATOR('POST /settle'),
    requires: [...WITH_OFFER],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const res = await post(ctx, 'settle', request(await signFor(ctx, offer, chainId, { validBefore: now() - 60n }), offer))
      assertEqual(res.status, 200, 'POST /settle status')
      const b = res.json<{ success?: unknown; transaction?: unknown; network?: unknown; errorReason?: unknown }>()
      assertEqual({ success: b.success, transaction: b.transaction, network: b.network }, { success: false, transaction: '', network: offer.network }, 'settle body')
      expectReason(b.errorReason, 'invalid_exact_evm_payload_authorization_valid_before', 'expired settle')
    },
  },
  {
    id: 'X402-FAC-014',
    level: 'MUST',
    section: 'FAC',
    title: 'A request without paymentRequirements is answered 400, never 2xx or 5xx',
    spec: FACILITATOR('POST /verify request body'),
    requires: [...WITH_OFFER],
    async check(ctx) {
      const { offer, chainId } = offerOf(ctx)
      const s = await signFor(ctx, offer, chainId)
      for (const op of ['verify', 'settle'] as const) {
        const res = await post(ctx, op, { x402Version: 2, paymentPayload: { x402Version: 2, accepted: offer, payload: s } })
        assertEqual(res.status, 400, `POST /${op} without paymentRequirements`)
      }
    },
  },
]
