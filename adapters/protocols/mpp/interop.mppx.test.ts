/**
 * Acceptance 2 and 3 of issue 9: the official `mppx@0.11.0` client (`evm.charge`, chain 31337,
 * our token's EIP-712 name/version) pays our priced routes on a real anvil through a real
 * gateway; the receipt parses with mppx; replays, another route's challenge, underpayment,
 * expiry and malformed credentials are refused with the spec's problem types (never a 500); a
 * request that carries an x402 payment AND an MPP credential is charged exactly once.
 */
import { Challenge, Receipt } from 'mppx'
import { Mppx, evm } from 'mppx/client'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localChainInfo } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway } from '../../testing/testGateway.js'
import { x402Mount } from '../x402/mount.js'
import { authorizationUsed, decodeHeader, route } from '../x402/testFixture.js'
import type { PaymentRequiredV2 } from '../x402/v2/wire.js'
import { base64urlEncode } from './base64url.js'
import { parseWwwAuthenticate } from './challenge.js'
import { parseAuthorization } from './credential.js'
import { challengeHash, opaqueRoute } from './evmCharge.js'
import { MPP_CHALLENGE_NAMESPACE, mppOfferProvider } from './provider.js'
import { parseReceipt } from './receipt.js'
import { handCredential, startMppFixture, TEST_MPP_SECRET, type MppFixture } from './testing.js'

let fx: MppFixture
let payer: { address: Address; privateKey: Hex }

beforeAll(async () => {
  fx = await startMppFixture()
  ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]
}, 60_000)
afterAll(async () => {
  await fx?.close()
})

const url = (path: string): string => `${fx.gw.url}${path}`
const intents = async () => (await fx.gw.gateway.store.listIntents({ limit: 200 })).items

/** The official client; `sent` records the Authorization headers it sent. */
function mppxClient(): { mppx: ReturnType<typeof create>; sent: string[] } {
  const sent: string[] = []
  const spy: typeof fetch = async (input, init) => {
    const req = new Request(input, init)
    const h = req.headers.get('authorization')
    if (h) sent.push(h)
    expect(req.headers.get('payment-signature')).toBeNull()
    return fetch(req)
  }
  return { mppx: create(spy), sent }
}
function create(f: typeof fetch) {
  return Mppx.create({
    polyfill: false,
    fetch: f,
    methods: [evm.charge({ account: privateKeyToAccount(payer.privateKey), authorization: { name: fx.chain.token.name, version: fx.chain.token.version }, networks: [31337], maxAtomicAmount: '100000' })],
  })
}

async function problemOf(res: Response): Promise<{ type: string; status: number; detail: string; challengeId?: string }> {
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/)
  return (await res.json()) as { type: string; status: number; detail: string; challengeId?: string }
}

/** A refusal per spec: status, problem type, a FRESH challenge that mppx parses, no-store, no receipt. */
async function expectRefused(res: Response, type: string, status = 402): Promise<void> {
  const body = await problemOf(res)
  expect({ status: res.status, type: body.type }).toEqual({ status, type: `https://paymentauth.org/problems/${type}` })
  expect(res.headers.get('cache-control')).toBe('no-store')
  expect(res.headers.get('payment-receipt')).toBeNull()
  const challenges = Challenge.fromResponseList(new Response(null, { status: 402, headers: res.headers }))
  expect(challenges).toHaveLength(1)
  expect(body.challengeId).toBe(challenges[0]!.id)
}

describe('the 402 of a priced route carries both offers', () => {
  it('x402 PAYMENT-REQUIRED and WWW-Authenticate: Payment evm/charge, whose id mppx verifies with our secret', async () => {
    const res = await fetch(url('/paid/weather'))
    expect(res.status).toBe(402)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(decodeHeader<PaymentRequiredV2>(res.headers.get('payment-required')).accepts[0]).toMatchObject({ scheme: 'exact', amount: '10000' })
    const [c] = Challenge.fromResponseList(res)
    expect(c).toMatchObject({
      method: 'evm',
      intent: 'charge',
      request: { amount: '10000', currency: fx.chain.token.address, recipient: fx.payTo, methodDetails: { chainId: 31337, credentialTypes: ['authorization'], decimals: 6 } },
      description: 'Weather now',
    })
    expect(Challenge.verify(c!, { secretKey: TEST_MPP_SECRET })).toBe(true)
    expect(Challenge.verify(c!, { secretKey: 'another-secret-of-32-bytes-or-more!!' })).toBe(false)
    expect(new Date(c!.expires!).getTime()).toBeGreaterThan(Date.now() + 200_000)
  })
})

describe('mppx pays our routes on anvil', () => {
  for (const path of ['/paid/weather?city=Lima', '/paid/upfront']) {
    it(`${path}: 200 + Payment-Receipt (mppx parses it), balances move once, one mpp intent; the replay is refused`, async () => {
      const { mppx, sent } = mppxClient()
      const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo), calls: fx.upstream.calls.length }
      const res = await mppx.fetch(url(path))
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ temperatureC: 21 })
      expect(res.headers.get('cache-control')).toMatch(/private/)
      const receipt = Receipt.fromResponse(res)
      expect(receipt).toMatchObject({ status: 'success', method: 'evm', reference: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
      expect(parseReceipt(res.headers.get('payment-receipt')!)).toMatchObject({ chainId: 31337 })
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
      expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
      expect(fx.upstream.calls.length).toBe(before.calls + 1)
      expect(fx.upstream.calls.at(-1)!.headers['authorization']).toBeUndefined()

      expect(sent).toHaveLength(1)
      const credential = parseAuthorization(sent[0]!)
      const intent = (await intents()).find((i) => i.origin.ref === credential.challenge.id)
      expect(intent).toMatchObject({
        status: 'succeeded',
        origin: { protocol: 'mpp' },
        authorization: { type: 'mpp.credential' },
        instrument: { type: 'evm.eip3009', ref: challengeHash(credential.challenge) },
        amount: { value: '10000', asset: fx.chain.token.assetId },
        settlement: { reference: receipt.reference },
      })
      expect(JSON.stringify(intent)).not.toContain(String(credential.payload['signature']))

      const replay = await fetch(url(path), { headers: { authorization: sent[0]! } })
      await expectRefused(replay, 'invalid-challenge')
      expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
      expect(fx.upstream.calls.length).toBe(before.calls + 1)
      // The challenge is consumed in the shared store, across instances.
      expect(await fx.gw.gateway.store.acquireReplayLock({ namespace: MPP_CHALLENGE_NAMESPACE, key: credential.challenge.id, holder: 'someone-else', expiresAt: new Date(Date.now() + 60_000), now: new Date() })).toBe(false)
    })
  }

  it('the same credential sent three times at once: one 200; the others wait for its outcome and are refused invalid-challenge; charged once', async () => {
    const { mppx } = mppxClient()
    const challengeRes = await fetch(url('/paid/upfront'))
    const credential = await mppx.createCredential(challengeRes)
    const balance = await fx.balance(payer.address)
    const answers = await Promise.all([1, 2, 3].map(() => fetch(url('/paid/upfront'), { headers: { authorization: credential } })))
    const statuses = answers.map((r) => r.status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    for (const r of answers.filter((a) => a.status !== 200)) await expectRefused(r, 'invalid-challenge')
    await Promise.all(answers.filter((a) => a.status === 200).map((r) => r.arrayBuffer()))
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
  })
})

describe('two gateway instances on one store', () => {
  it('a credential paid at instance A is refused at instance B (the challenge is consumed in the shared store)', async () => {
    const info = localChainInfo(fx.chain)
    const b = await startTestGateway({
      store: fx.gw.gateway.store,
      configPatch: { assets: [localChainAsset(info)] },
      gatewayOptions: {
        rails: [registerEvmRail({ chains: [localChainRailConfig(info, { pollingIntervalMs: 5 })] })],
        mounts: [x402Mount({ routes: [route(fx), route(fx, { id: 'upfront', path: '/paid/upfront', settle: 'before' }), route(fx, { id: 'other', path: '/paid/other' })], offerProviders: [mppOfferProvider({ secret: TEST_MPP_SECRET })] })],
      },
    })
    try {
      const { mppx } = mppxClient()
      // Issued by B, paid at A (same secret, same realm 127.0.0.1), replayed at B.
      const credential = await mppx.createCredential(await fetch(`${b.url}/paid/upfront`))
      const balance = await fx.balance(payer.address)
      const paid = await fetch(url('/paid/upfront'), { headers: { authorization: credential } })
      expect(paid.status).toBe(200)
      await paid.arrayBuffer()
      await expectRefused(await fetch(`${b.url}/paid/upfront`, { headers: { authorization: credential } }), 'invalid-challenge')
      expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    } finally {
      await b.close()
    }
  })
})

describe('refusals (402 + fresh challenge + problem type, nothing moves)', () => {
  it('a credential for another route (same price and payee) → invalid-challenge', async () => {
    const { mppx } = mppxClient()
    const credential = await mppx.createCredential(await fetch(url('/paid/other')))
    const balance = await fx.balance(payer.address)
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: credential } }), 'invalid-challenge')
    expect(await fx.balance(payer.address)).toBe(balance)
  })

  it('an underpaying authorization → payment-insufficient; a raised echo of the price → invalid-challenge', async () => {
    const c = await fx.mppChallenge('/paid/weather')
    const balance = await fx.balance(payer.address)
    const under = await handCredential(fx, payer, c, { value: 9_999n })
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: under } }), 'payment-insufficient')
    const tampered = await handCredential(fx, payer, c, { value: 1n, challenge: { request: { ...c.request, amount: '1' } } })
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: tampered } }), 'invalid-challenge')
    expect(await fx.balance(payer.address)).toBe(balance)
  })

  it('an expired challenge → payment-expired (mppx signed it while it was valid)', async () => {
    const { mppx } = mppxClient()
    const credential = await mppx.createCredential(await fetch(url('/paid/weather')))
    fx.skew(400)
    try {
      await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: credential } }), 'payment-expired')
    } finally {
      fx.skew(0)
    }
  })

  it('a wrong nonce, a wrong signer, another recipient → verification-failed; nothing is submitted', async () => {
    const c = await fx.mppChallenge('/paid/weather')
    const [other] = await fx.newPayers(1, 0n)
    const cases = [
      await handCredential(fx, payer, c, { nonce: `0x${'11'.repeat(32)}` }),
      await handCredential(fx, payer, c, { to: other!.address }),
    ]
    // Signed by another key than `from` claims.
    const forged = parseAuthorization(await handCredential(fx, other!, c))
    forged.payload['from'] = payer.address
    forged.source = `did:pkh:eip155:31337:${payer.address}`
    const { formatAuthorization } = await import('./credential.js')
    cases.push(formatAuthorization(forged))
    for (const authorization of cases) await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization } }), 'verification-failed')
    expect(await authorizationUsed(fx.chain, payer.address, challengeHash(c))).toBe(false)
  })

  it('malformed Authorization headers → 402 malformed-credential, never a 500', async () => {
    const bad = [
      'Payment !!!not-base64!!!',
      'Payment',
      `Payment ${base64urlEncode('not json')}`,
      `Payment ${base64urlEncode('[1,2]')}`,
      `Payment ${base64urlEncode('{"challenge":{"id":"x"},"payload":{}}')}`,
      `Payment ${base64urlEncode(JSON.stringify({ challenge: { id: 'x', realm: 'r', method: 'evm', intent: 'charge', request: '!!' }, payload: {} }))}`,
      `Payment ${'A'.repeat(12_000)}`,
    ]
    for (const authorization of bad) await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization } }), 'malformed-credential')
    const c = await fx.mppChallenge('/paid/weather')
    const shape = await handCredential(fx, payer, c)
    const cred = parseAuthorization(shape)
    cred.payload['value'] = '-5'
    const { formatAuthorization } = await import('./credential.js')
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: formatAuthorization(cred) } }), 'invalid-payload')
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: `${shape}, ${shape}` } }), 'bad-request', 400)
  })

  it('another method → 400 method-unsupported; a challenge we never issued → invalid-challenge', async () => {
    const c = await fx.mppChallenge('/paid/weather')
    const tempo = await handCredential(fx, payer, c, { challenge: { method: 'tempo' } })
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: tempo } }), 'method-unsupported', 400)
    const forged = await handCredential(fx, payer, { ...c, id: 'forged-id' })
    await expectRefused(await fetch(url('/paid/weather'), { headers: { authorization: forged } }), 'invalid-challenge')
  })
})

describe('x402 and MPP on one request', () => {
  it('a request carrying BOTH is settled once, by x402 (documented precedence); the MPP authorization is never submitted', async () => {
    const res402 = await fetch(url('/paid/weather'))
    const pr = decodeHeader<PaymentRequiredV2>(res402.headers.get('payment-required'))
    const { mppx } = mppxClient()
    const credential = await mppx.createCredential(res402)
    const x402 = await fx.signV2(payer, pr.accepts[0]!)
    const before = { balance: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo), intents: (await intents()).length }
    const res = await fetch(url('/paid/weather'), { headers: { authorization: credential, 'payment-signature': x402 } })
    expect(res.status).toBe(200)
    await res.arrayBuffer()
    expect(res.headers.get('payment-response')).toBeTruthy()
    expect(res.headers.get('payment-receipt')).toBeNull()
    expect(await fx.balance(payer.address)).toBe(before.balance - 10_000n)
    expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
    const now = await intents()
    expect(now.length).toBe(before.intents + 1)
    expect(now.filter((i) => i.origin.protocol === 'mpp' && i.origin.ref === parseAuthorization(credential).challenge.id)).toHaveLength(0)
    expect(await authorizationUsed(fx.chain, payer.address, challengeHash(parseAuthorization(credential).challenge))).toBe(false)
    // The unused MPP credential still pays for ONE later request (a separate purchase).
    const later = await fetch(url('/paid/weather'), { headers: { authorization: credential } })
    expect(later.status).toBe(200)
    await later.arrayBuffer()
    expect(await fx.balance(payer.address)).toBe(before.balance - 20_000n)
  })

  it('the WWW-Authenticate header parses with our parser as one Payment challenge beside x402', async () => {
    const res = await fetch(url('/paid/other'))
    await res.arrayBuffer()
    const list = parseWwwAuthenticate(res.headers.get('www-authenticate')!)
    expect(list).toHaveLength(1)
    expect(opaqueRoute(list[0]!.opaque)).toBe('other')
    // Every 402 issues a fresh challenge (random opaque nonce): two unpaid calls in the same second differ.
    const again = await fetch(url('/paid/other'))
    await again.arrayBuffer()
    expect(parseWwwAuthenticate(again.headers.get('www-authenticate')!)[0]!.id).not.toBe(list[0]!.id)
  })
})
