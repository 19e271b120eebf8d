import { assert, CheckFailure, show } from '../framework/assert.js'
import type { Requirement } from '../framework/types.js'
import {
  callRoute,
  CHARGE,
  CORE,
  EVM,
  expectNo5xx,
  expectRefusal,
  expectUnused,
  freshOffer,
  type EvmOffer,
  type MppContext,
  type MppDiscovery,
  type Problem,
  type SignedCredential,
  type SignOverrides,
  signCredential,
} from './helpers.js'
import { b64urlEncode, challengeHash, credentialHeader, echoOf, jcs, paymentChallenges } from './wire.js'

const FUNDED = ['mpp.evm-charge', 'runner.rpc', 'token.domain', 'payer.funded'] as const

/**
 * Send a credential the route must refuse (made from a fresh challenge by `make`): 402, a fresh
 * challenge, a problem of one of `types`, no receipt, and its authorization unused on chain.
 */
async function refused(ctx: MppContext, what: string, types: readonly string[], make: (offer: EvmOffer) => Promise<SignedCredential>): Promise<Problem> {
  const offer = await freshOffer(ctx)
  const s = await make(offer)
  const res = await callRoute(ctx, s.header)
  const p = expectRefusal(res, types, what)
  ctx.note(`refused as ${String(p.type)}${p.detail ? `: ${String(p.detail)}` : ''}`)
  await expectUnused(ctx, offer, s, what)
  return p
}

/** Sign with a changed echo whose nonce is computed from the changed id/realm, so only the binding is wrong. */
function tamperedEcho(ctx: MppContext, offer: EvmOffer, echo: Record<string, string>, extra: SignOverrides = {}): Promise<SignedCredential> {
  const merged = { ...echoOf(offer.challenge), ...echo }
  return signCredential(ctx, offer, { echo, nonce: challengeHash({ id: merged['id'] ?? '', realm: merged['realm'] ?? '' }), ...extra })
}

/** A challenge of the route waited out until it expired, then paid (authorization itself still valid). */
function expired(ctx: MppContext): Promise<Problem> {
  return ctx.once('expired', async () => {
    const route = ctx.discovery.expiring!
    const offer = await freshOffer(ctx, { url: route.url, method: route.method })
    const ex = new Date(offer.challenge.params['expires'] ?? '').getTime()
    const waitMs = ex - Date.now() + 1500
    ctx.note(`waiting ${Math.max(0, waitMs)} ms for challenge ${offer.challenge.params['id']} to expire (${offer.challenge.params['expires']})`)
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs))
    const s = await signCredential(ctx, offer, { validBefore: BigInt(Math.floor(Date.now() / 1000) + 300) })
    const res = await callRoute(ctx, s.header, { url: route.url, method: route.method })
    const p = expectRefusal(res, ['payment-expired', 'invalid-challenge'], 'the credential for an expired challenge')
    await expectUnused(ctx, offer, s, 'the credential for an expired challenge')
    return p
  })
}

/** A fresh challenge of the route, for credentials that need no signature. */
async function anyChallenge(ctx: MppContext): Promise<Record<string, string>> {
  const res = await callRoute(ctx)
  const c = paymentChallenges(res.header('www-authenticate'))[0]
  if (!c) throw new CheckFailure(`the unpaid call has no Payment challenge to echo (status ${res.status})`)
  return echoOf(c)
}

/** Refusals (core §4.2, §8.2; charge §7.1; evm §5.3, §9): every one 402/400 with the right problem type, never a 5xx, never a receipt. */
export const errorRequirements: Requirement<MppDiscovery>[] = [
  {
    id: 'MPP-ERR-001',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential whose echoed challenge id was altered (id/HMAC binding broken) is refused: 402, fresh challenge, invalid-challenge, no money moved',
    spec: CORE('§4.2 Status Codes; §5.1.2.1 Challenge Binding'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the credential with an altered id', ['invalid-challenge'], (offer) => {
        const id = offer.challenge.params['id'] ?? ''
        return tamperedEcho(ctx, offer, { id: `${id.slice(0, -1)}${id.endsWith('A') ? 'B' : 'A'}` })
      })
    },
  },
  {
    id: 'MPP-ERR-002',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential whose echoed request lowers the amount (and pays that lower amount) is refused: 402, fresh challenge, invalid-challenge or verification-failed, no money moved',
    spec: CORE('§5.1.2.1 Challenge Binding; §11.6 Amount Verification'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the credential with a lowered amount in the echoed request', ['invalid-challenge', 'verification-failed'], (offer) => {
        const lower = offer.amount > 1n ? offer.amount / 2n : 0n
        const request = { ...offer.request, amount: lower.toString() }
        return signCredential(ctx, { ...offer, amount: lower }, { echo: { request: b64urlEncode(jcs(request)) }, value: lower })
      })
    },
  },
  {
    id: 'MPP-ERR-003',
    level: 'MUST',
    section: 'ERR',
    title: 'An authorization paying another address than the challenge recipient is refused: 402, fresh challenge, verification-failed, no money moved',
    spec: CHARGE('§7.1 Server Responsibilities (5: recipient); §8.2 Recipient Verification; evm §5.3.2 Constraints'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the authorization to another recipient', ['verification-failed'], (offer) => signCredential(ctx, offer, { to: ctx.counterparts.wallet(7).address }))
    },
  },
  {
    id: 'MPP-ERR-004',
    level: 'MUST',
    section: 'ERR',
    title: 'An authorization for less than the challenge amount (challenge untouched) is refused: 402, fresh challenge, verification-failed or payment-insufficient, no money moved',
    spec: CHARGE('§7.1 Server Responsibilities (4: amount); §8.1 Amount Verification; evm §5.3.2 Constraints'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the authorization for less than amount', ['verification-failed', 'payment-insufficient'], (offer) => signCredential(ctx, offer, { value: offer.amount > 1n ? offer.amount - 1n : 0n }))
    },
  },
  {
    id: 'MPP-ERR-005',
    level: 'MUST',
    section: 'ERR',
    title: 'An authorization whose nonce is not the challenge hash keccak256(id ‖ realm) is refused: 402, fresh challenge, verification-failed or invalid-challenge, no money moved',
    spec: EVM('§5.3.1 Challenge Binding'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the authorization with an unbound nonce', ['verification-failed', 'invalid-challenge'], (offer) =>
        signCredential(ctx, offer, { nonce: challengeHash({ id: ctx.unique('unbound-nonce'), realm: offer.challenge.params['realm'] ?? '' }) }),
      )
    },
  },
  {
    id: 'MPP-ERR-006',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential for a challenge that has expired (waited out; the authorization itself still valid) is refused: 402, fresh challenge, payment-expired or invalid-challenge, no money moved',
    spec: CHARGE('§7.1 Server Responsibilities (2: not expired); core §4.2 Status Codes; §8.2 Error Codes'),
    requires: [...FUNDED, 'mpp.short-expiry'],
    async check(ctx) {
      const p = await expired(ctx)
      ctx.note(`refused as ${String(p.type)}`)
    },
  },
  {
    id: 'MPP-ERR-007',
    level: 'SHOULD',
    section: 'ERR',
    title: 'The problem type for an expired challenge is payment-expired (draft-00 §8.2 and later drafts; draft-00 §4.2 also allows invalid-challenge)',
    spec: CORE('§8.2 Error Codes (payment-expired: challenge or authorization expired)'),
    requires: [...FUNDED, 'mpp.short-expiry'],
    async check(ctx) {
      const p = await expired(ctx)
      assert(p.type === 'https://paymentauth.org/problems/payment-expired', `problem type ${show(p.type)}, expected https://paymentauth.org/problems/payment-expired`)
    },
  },
  {
    id: 'MPP-ERR-008',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential whose echoed expires was moved into the past (binding broken) is refused: 402, fresh challenge, invalid-challenge or payment-expired, no money moved',
    spec: CORE('§5.1.2.1 Challenge Binding; §4.2 Status Codes'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the credential with a past expires', ['invalid-challenge', 'payment-expired'], (offer) =>
        tamperedEcho(ctx, offer, { expires: new Date(Date.now() - 60_000).toISOString() }, { validBefore: BigInt(Math.floor(Date.now() / 1000) + 300) }),
      )
    },
  },
  {
    id: 'MPP-ERR-009',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential that is not base64url (Authorization: Payment %%%) is answered 402 with a fresh challenge and malformed-credential',
    spec: CORE('§4.2 Status Codes (malformed credential); §8.2 Error Codes'),
    requires: ['mpp.route'],
    async check(ctx) {
      expectRefusal(await callRoute(ctx, 'Payment %%%not*base64url%%%'), ['malformed-credential'], 'the non-base64url credential')
    },
  },
  {
    id: 'MPP-ERR-010',
    level: 'MUST',
    section: 'ERR',
    title: 'A credential that is base64url of something other than JSON is answered 402 with a fresh challenge and malformed-credential',
    spec: CORE('§4.2 Status Codes (malformed credential: bad JSON); §8.2 Error Codes'),
    requires: ['mpp.route'],
    async check(ctx) {
      expectRefusal(await callRoute(ctx, `Payment ${b64urlEncode('this is { not json')}`), ['malformed-credential'], 'the base64url non-JSON credential')
    },
  },
  {
    id: 'MPP-ERR-011',
    level: 'SHOULD',
    section: 'ERR',
    title: 'A credential that is JSON without the required challenge object is answered 402 with a fresh challenge and malformed-credential',
    spec: CORE('§5.2 Credentials (challenge: required); §4.2 Status Codes'),
    requires: ['mpp.route'],
    async check(ctx) {
      expectRefusal(await callRoute(ctx, `Payment ${b64urlEncode(JSON.stringify({ payload: { type: 'authorization' } }))}`), ['malformed-credential'], 'the credential without challenge')
    },
  },
  {
    id: 'MPP-ERR-012',
    level: 'SHOULD',
    section: 'ERR',
    title: 'A credential for a payment method the route does not accept is answered 400 method-unsupported',
    spec: CORE('§8.2 Error Codes (method-unsupported: 400, method not accepted)'),
    requires: ['mpp.route'],
    async check(ctx) {
      const echo = { ...(await anyChallenge(ctx)), method: 'nosuchmethod' }
      const res = await callRoute(ctx, credentialHeader({ challenge: echo, payload: { type: 'authorization' } }))
      expectRefusal(res, ['method-unsupported'], 'the credential for an unsupported method', 400)
    },
  },
  {
    id: 'MPP-ERR-013',
    level: 'MUST',
    section: 'ERR',
    title: 'Malformed and hostile credentials (empty, wrong JSON types, a bad request echo, an oversized value, several schemes) never get a 5xx, a 2xx or a Payment-Receipt',
    spec: CORE('§4.2 Status Codes; §5.3.1 Receipt Status Semantics; §9.4 Size Considerations'),
    requires: ['mpp.route'],
    async check(ctx) {
      const echo = await anyChallenge(ctx)
      const b = (v: unknown): string => `Payment ${b64urlEncode(JSON.stringify(v))}`
      const cases: Array<[string, string]> = [
        ['scheme only', 'Payment'],
        ['empty JSON object', b({})],
        ['a JSON array', b([echo])],
        ['challenge as a string', b({ challenge: 'x', payload: {} })],
        ['payload null', b({ challenge: echo, payload: null })],
        ['request echo not base64url', b({ challenge: { ...echo, request: '!!!' }, payload: { type: 'authorization' } })],
        ['numbers instead of strings', b({ challenge: { ...echo, id: 1, realm: 2 }, payload: { type: 'authorization' } })],
        ['empty id', b({ challenge: { ...echo, id: '' }, payload: { type: 'authorization' } })],
        ['padded base64url', `${b({ challenge: echo, payload: {} })}==`],
        ['two schemes', `Bearer abc, ${b({ challenge: echo, payload: {} })}`],
        ['oversized (8 KiB payload)', b({ challenge: echo, payload: { type: 'authorization', signature: `0x${'ab'.repeat(4096)}` } })],
      ]
      const seen: string[] = []
      for (const [what, header] of cases) {
        const res = await callRoute(ctx, header)
        expectNo5xx(res, what)
        assert(res.status < 200 || res.status >= 300, `${what}: answered ${res.status} (paid with a malformed credential)`)
        assert(res.header('payment-receipt') === undefined, `${what}: a Payment-Receipt on a ${res.status}`)
        seen.push(`${what} → ${res.status}${res.header('content-type')?.includes('json') ? ` ${String((safeJson(res.text) as { type?: unknown } | undefined)?.type ?? '')}` : ''}`)
      }
      ctx.note(seen.join('\n'))
    },
  },
  {
    id: 'MPP-ERR-014',
    level: 'MUST',
    section: 'ERR',
    title: 'An authorization signed by another key than its from (the payer) is refused: 402, fresh challenge, verification-failed, no money moved',
    spec: CHARGE('§7.1 Server Responsibilities (3: verify the payment proof); evm §5.3 Authorization Payload'),
    requires: [...FUNDED],
    async check(ctx) {
      await refused(ctx, 'the authorization signed by another key', ['verification-failed'], (offer) => signCredential(ctx, offer, { signer: ctx.counterparts.wallet(8) }))
    },
  },
]

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
