import { getAddress, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pauseMining, resumeMining, rpc } from '../../../sandbox/chain/anvil.js'
import { authorizationUsed, decodeHeader, route, startX402Fixture, type X402Fixture } from './testFixture.js'
import type { PaymentRequiredV2, SettleResponse } from './v2/wire.js'

let fx: X402Fixture
let payers: Array<{ address: Address; privateKey: Hex }>

beforeAll(async () => {
  fx = await startX402Fixture({
    rail: { receiptTimeoutMs: 1_500 },
    routes: (b) => [
      route(b),
      route(b, { id: 'before', path: '/paid/before', settle: 'before' }),
      route(b, { id: 'before-fail', path: '/paid/before-fail', settle: 'before', upstreamPath: '/fail' }),
      route(b, { id: 'after-fail', path: '/paid/after-fail', upstreamPath: '/fail' }),
      route(b, { id: 'after-down', path: '/paid/after-down', upstream: { url: 'http://127.0.0.1:9/nothing', timeoutMs: 1_000 } }),
      route(b, { id: 'required-id', path: '/paid/required', paymentIdentifier: 'required' }),
      route(b, { id: 'wild', method: 'POST', path: '/paid/files/*', upstreamPath: '/files', paymentIdentifier: 'off' }),
    ],
  })
  payers = await fx.newPayers(8, 1_000_000n)
})
afterAll(async () => {
  await fx?.close()
})

const get = (path: string, headers: Record<string, string> = {}): Promise<Response> => fetch(`${fx.gw.url}${path}`, { headers })
const pay = async (path: string, header: string, extra: RequestInit = {}): Promise<Response> =>
  fetch(`${fx.gw.url}${path}`, { ...extra, headers: { 'payment-signature': header, ...(extra.headers as Record<string, string> | undefined) } })
const errorOf = (res: Response): string | undefined => decodeHeader<PaymentRequiredV2>(res.headers.get('payment-required')).error
const intents = async (): Promise<Awaited<ReturnType<X402Fixture['gw']['gateway']['store']['listIntents']>>['items']> =>
  (await fx.gw.gateway.store.listIntents({ limit: 200 })).items

describe('the 402 of a priced route', () => {
  it('is deterministic: PAYMENT-REQUIRED (standard base64) with one exact/EVM offer, Cache-Control no-store', async () => {
    const a = await get('/paid/weather?city=Oslo')
    const b = await get('/paid/weather?city=Oslo')
    expect(a.status).toBe(402)
    expect(a.headers.get('cache-control')).toBe('no-store')
    expect(a.headers.get('access-control-expose-headers')).toContain('PAYMENT-REQUIRED')
    const header = a.headers.get('payment-required')!
    expect(header).toMatch(/^[A-Za-z0-9+/]+={0,2}$/)
    expect(header).toBe(b.headers.get('payment-required'))
    const pr = decodeHeader<PaymentRequiredV2>(header)
    expect(pr).toEqual({
      x402Version: 2,
      error: 'Payment required',
      resource: { url: `${fx.gw.url}/paid/weather?city=Oslo`, description: 'Weather now', mimeType: 'application/json' },
      accepts: [
        {
          scheme: 'exact',
          network: 'eip155:31337',
          amount: '10000',
          asset: fx.chain.token.address,
          payTo: getAddress(fx.payTo),
          maxTimeoutSeconds: 300,
          extra: { name: 'Agentswitch USD', version: '2' },
        },
      ],
      extensions: { 'payment-identifier': { info: { required: false }, schema: expect.objectContaining({ required: ['required'] }) } },
    })
    // Chain 31337 has no v1 name: no v1 offer, the body is {} as the SDK sends.
    expect(await a.json()).toEqual({})
  })

  it('other paths and methods are not priced', async () => {
    expect((await get('/paid/nothing')).status).toBe(404)
    expect((await fetch(`${fx.gw.url}/paid/weather`, { method: 'DELETE' })).status).toBe(404)
  })
})

describe('a paid call (settle after the upstream answered)', () => {
  let header: string
  let nonce: Hex
  let first: Response

  it('is verified, settled once, proxied, and answered with PAYMENT-RESPONSE', async () => {
    const payer = payers[0]!
    const pr = await fx.paymentRequired('/paid/weather?city=Oslo')
    const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo) }
    const calls = fx.upstream.calls.length
    header = await fx.signV2(payer, pr.accepts[0]!)
    nonce = decodeHeader<{ payload: { authorization: { nonce: Hex } } }>(header).payload.authorization.nonce
    first = await pay('/paid/weather?city=Oslo', header)
    expect(first.status).toBe(200)
    expect(await first.json()).toMatchObject({ city: 'Oslo', temperatureC: 21 })
    expect(first.headers.get('cache-control')).toBe('max-age=60, private')
    expect(first.headers.get('x-upstream')).toBe('yes')
    const receipt = decodeHeader<SettleResponse>(first.headers.get('payment-response'))
    expect(receipt).toEqual({ success: true, transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/), network: 'eip155:31337', payer: payer.address })
    const tx = await rpc<{ status: string }>(fx.chain.rpcUrl, 'eth_getTransactionReceipt', [receipt.transaction])
    expect(tx.status).toBe('0x1')
    expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
    expect(await authorizationUsed(fx.chain, payer.address, nonce)).toBe(true)
    // The upstream was called once, without the payment header, with who paid.
    expect(fx.upstream.calls.length).toBe(calls + 1)
    const up = fx.upstream.calls.at(-1)!
    expect(up.path).toBe('/weather?city=Oslo')
    expect(up.headers['payment-signature']).toBeUndefined()
    expect(up.headers['x-agentswitch-payer']).toBe(payer.address)
    // A canonical intent, with its audit chain.
    const intent = (await intents()).find((i) => i.instrument.ref === nonce.toLowerCase())!
    expect(intent).toMatchObject({
      merchant_id: 'm1',
      status: 'succeeded',
      origin: { protocol: 'x402', version: '2' },
      payer: { address: payer.address },
      amount: { value: '10000', asset: fx.chain.token.assetId },
      instrument: { type: 'evm.eip3009', network: 'eip155:31337' },
      authorization: { type: 'x402.signature', constraints: expect.objectContaining({ value: '10000', pay_to: getAddress(fx.payTo) }) },
      settlement: { reference: receipt.transaction },
    })
    const events = await fx.gw.gateway.store.listEvents(intent.id)
    expect(events.map((e) => e.type)).toEqual(['create', 'authorize', 'start_processing', 'succeed'])
    expect(JSON.stringify(events)).not.toContain(decodeHeader<{ payload: { signature: string } }>(header).payload.signature)
  })

  it('a replayed PAYMENT-SIGNATURE is refused: 402 nonce_already_used, no money, no upstream call', async () => {
    const payer = payers[0]!
    const balance = await fx.balance(payer.address)
    const calls = fx.upstream.calls.length
    const again = await pay('/paid/weather?city=Oslo', header)
    expect(again.status).toBe(402)
    expect(errorOf(again)).toBe('invalid_exact_evm_nonce_already_used')
    expect(await fx.balance(payer.address)).toBe(balance)
    expect(fx.upstream.calls.length).toBe(calls)
    // Also on another priced route of the same merchant.
    const other = await pay('/paid/before', header)
    expect(other.status).toBe(402)
    expect(await fx.balance(payer.address)).toBe(balance)
  })

  it('the same header sent 6 times at once is paid and served once', async () => {
    const payer = payers[1]!
    const pr = await fx.paymentRequired('/paid/weather')
    const h = await fx.signV2(payer, pr.accepts[0]!)
    const balance = await fx.balance(payer.address)
    const calls = fx.upstream.calls.length
    const answers = await Promise.all(Array.from({ length: 6 }, () => pay('/paid/weather', h)))
    expect(answers.map((a) => a.status).sort()).toEqual([200, 402, 402, 402, 402, 402])
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    expect(fx.upstream.calls.length).toBe(calls + 1)
  })
})

describe('refusals at the resource server: 402 with the SDK reason, nothing paid, no upstream call', () => {
  const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))
  const cases: Array<[string, (pr: PaymentRequiredV2, payer: { privateKey: Hex }) => Promise<string>, string]> = [
    ['expired', (pr, p) => fx.signV2(p, pr.accepts[0]!, { validBefore: now() - 10n }), 'invalid_exact_evm_payload_authorization_valid_before'],
    ['not yet valid', (pr, p) => fx.signV2(p, pr.accepts[0]!, { validAfter: now() + 3600n }), 'invalid_exact_evm_payload_authorization_valid_after'],
    ['underpaid', (pr, p) => fx.signV2(p, pr.accepts[0]!, { value: 9_999n }), 'invalid_exact_evm_payload_authorization_value_mismatch'],
    ['wrong payTo', (pr, p) => fx.signV2(p, pr.accepts[0]!, { to: privateKeyToAccount(generatePrivateKey()).address }), 'invalid_exact_evm_recipient_mismatch'],
    ['bad signature', (pr, p) => fx.signV2(p, pr.accepts[0]!, { signer: generatePrivateKey() }), 'invalid_exact_evm_signature'],
    ['unknown network', (pr, p) => fx.signV2(p, { ...pr.accepts[0]!, network: 'eip155:999999' }), 'invalid_network'],
    ['a changed price', (pr, p) => fx.signV2(p, { ...pr.accepts[0]!, amount: '1' }, { value: 1n }), 'invalid_payment_requirements'],
    ['another scheme', (pr, p) => fx.signV2(p, { ...pr.accepts[0]!, scheme: 'upto' }), 'unsupported_scheme'],
  ]
  for (const [name, make, reason] of cases) {
    it(`${name} → ${reason}`, async () => {
      const payer = payers[2]!
      const pr = await fx.paymentRequired('/paid/weather')
      const before = { balance: await fx.balance(payer.address), calls: fx.upstream.calls.length, intents: (await intents()).length }
      const res = await pay('/paid/weather', await make(pr, payer))
      expect(res.status).toBe(402)
      expect(errorOf(res)).toBe(reason)
      expect(decodeHeader<PaymentRequiredV2>(res.headers.get('payment-required')).accepts).toEqual(pr.accepts)
      expect(await fx.balance(payer.address)).toBe(before.balance)
      expect(fx.upstream.calls.length).toBe(before.calls)
      expect((await intents()).length).toBe(before.intents) // local checks fail before any intent exists
    })
  }

  it('insufficient balance → 402 invalid_exact_evm_insufficient_balance (recorded as a failed intent)', async () => {
    const poor = { privateKey: generatePrivateKey() }
    const pr = await fx.paymentRequired('/paid/weather')
    const h = await fx.signV2(poor, pr.accepts[0]!)
    const res = await pay('/paid/weather', h)
    expect(res.status).toBe(402)
    expect(errorOf(res)).toBe('invalid_exact_evm_insufficient_balance')
    const from = privateKeyToAccount(poor.privateKey).address
    expect((await intents()).find((i) => i.payer.address === from)).toMatchObject({ status: 'failed', status_reason: 'invalid_exact_evm_insufficient_balance' })
  })

  it('malformed headers (base64url, not JSON, wrong version, bad shape) → 400 invalid_payload, or 402 invalid_x402_version', async () => {
    const pr = await fx.paymentRequired('/paid/weather')
    const good = await fx.signV2(payers[2]!, pr.accepts[0]!)
    const urlSafe = good.replace(/\+/g, '-').replace(/\//g, '_')
    const bad = [urlSafe === good ? `${good}-_` : urlSafe, Buffer.from('not json').toString('base64'), Buffer.from('[1,2]').toString('base64'), Buffer.from(JSON.stringify({ x402Version: 2, accepted: pr.accepts[0] })).toString('base64')]
    for (const h of bad) {
      const res = await pay('/paid/weather', h)
      expect(res.status, h.slice(0, 20)).toBe(400)
      expect(errorOf(res)).toBe('invalid_payload')
    }
    const v3 = await pay('/paid/weather', Buffer.from(JSON.stringify({ x402Version: 3 })).toString('base64'))
    expect(v3.status).toBe(402)
    expect(errorOf(v3)).toBe('invalid_x402_version')
    const x = await fetch(`${fx.gw.url}/paid/weather`, { headers: { 'x-payment': 'bm90IGpzb24=' } })
    expect(x.status).toBe(400)
  })
})

describe('settle after: the upstream decides whether anything is charged', () => {
  it('an upstream 500 is passed through and nothing is charged (the intent is canceled)', async () => {
    const payer = payers[3]!
    const pr = await fx.paymentRequired('/paid/after-fail')
    const h = await fx.signV2(payer, pr.accepts[0]!)
    const balance = await fx.balance(payer.address)
    const res = await pay('/paid/after-fail', h)
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'upstream broke' })
    expect(res.headers.get('payment-response')).toBeNull()
    expect(await fx.balance(payer.address)).toBe(balance)
    const nonce = decodeHeader<{ payload: { authorization: { nonce: string } } }>(h).payload.authorization.nonce
    expect((await intents()).find((i) => i.instrument.ref === nonce)).toMatchObject({ status: 'canceled', status_reason: 'upstream_status_500' })
  })

  it('an unreachable upstream → 502 upstream_unavailable, nothing charged', async () => {
    const payer = payers[3]!
    const pr = await fx.paymentRequired('/paid/after-down')
    const balance = await fx.balance(payer.address)
    const res = await pay('/paid/after-down', await fx.signV2(payer, pr.accepts[0]!))
    expect(res.status).toBe(502)
    expect(await res.json()).toMatchObject({ error: 'upstream_unavailable', paid: false })
    expect(await fx.balance(payer.address)).toBe(balance)
  })
})

describe('settle before the upstream call', () => {
  it('settles, then proxies; a wildcard route sends the rest of the path and the body upstream', async () => {
    const payer = payers[4]!
    const pr = await fx.paymentRequired('/paid/before')
    const balance = await fx.balance(payer.address)
    const res = await pay('/paid/before', await fx.signV2(payer, pr.accepts[0]!))
    expect(res.status).toBe(200)
    expect(decodeHeader<SettleResponse>(res.headers.get('payment-response')).success).toBe(true)
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)

    const wild = await fetch(`${fx.gw.url}/paid/files/a/b.txt?x=1`, { method: 'POST' })
    expect(wild.status).toBe(402)
    const wpr = decodeHeader<PaymentRequiredV2>(wild.headers.get('payment-required'))
    expect(wpr.extensions).toBeUndefined()
    const res2 = await fetch(`${fx.gw.url}/paid/files/a/b.txt?x=1`, {
      method: 'POST',
      headers: { 'payment-signature': await fx.signV2(payer, wpr.accepts[0]!), 'content-type': 'text/plain' },
      body: 'hello upstream',
    })
    expect(res2.status).toBe(200)
    expect(await res2.json()).toMatchObject({ path: '/files/a/b.txt', echo: 'hello upstream' })
    expect(fx.upstream.calls.at(-1)!.path).toBe('/files/a/b.txt?x=1')
  })

  it('paid but the upstream failed: 5xx with PAYMENT-RESPONSE success; the same header fetches again once, never pays twice', async () => {
    const payer = payers[4]!
    const pr = await fx.paymentRequired('/paid/before')
    const h = await fx.signV2(payer, pr.accepts[0]!)
    const balance = await fx.balance(payer.address)
    fx.upstream.failNext = 1
    const first = await pay('/paid/before', h)
    expect(first.status).toBe(503)
    expect(decodeHeader<SettleResponse>(first.headers.get('payment-response')).success).toBe(true)
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    const second = await pay('/paid/before', h)
    expect(second.status).toBe(200)
    expect(decodeHeader<SettleResponse>(second.headers.get('payment-response')).transaction).toBe(decodeHeader<SettleResponse>(first.headers.get('payment-response')).transaction)
    const third = await pay('/paid/before', h)
    expect(third.status).toBe(402)
    expect(errorOf(third)).toBe('invalid_exact_evm_nonce_already_used')
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
  })

  it('a receipt that does not arrive → 402 settlement_pending with the tx hash and no new offer; the same header gets the resource once mined, one transaction', async () => {
    const payer = payers[5]!
    const pr = await fx.paymentRequired('/paid/before')
    const h = await fx.signV2(payer, pr.accepts[0]!)
    const balance = await fx.balance(payer.address)
    const relayerNonce = async (): Promise<number> => Number(await rpc<Hex>(fx.chain.rpcUrl, 'eth_getTransactionCount', [fx.chain.relayer.address, 'pending']))
    const sentBefore = await relayerNonce()
    await pauseMining(fx.chain.rpcUrl)
    let first: Response
    try {
      first = await pay('/paid/before', h)
    } finally {
      await resumeMining(fx.chain.rpcUrl)
    }
    expect(first.status).toBe(402)
    expect(first.headers.get('payment-required')).toBeNull()
    expect(first.headers.get('retry-after')).toBe('2')
    const pending = decodeHeader<SettleResponse>(first.headers.get('payment-response'))
    expect(pending).toMatchObject({ success: false, errorReason: 'settlement_pending', transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/) })
    const second = await pay('/paid/before', h)
    expect(second.status).toBe(200)
    expect(decodeHeader<SettleResponse>(second.headers.get('payment-response'))).toMatchObject({ success: true, transaction: pending.transaction })
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    // One transaction for this payment: never broadcast twice.
    expect(await relayerNonce()).toBe(sentBefore + 1)
    expect((await rpc<{ status: string }>(fx.chain.rpcUrl, 'eth_getTransactionReceipt', [pending.transaction])).status).toBe('0x1')
  })
})

describe('payment-identifier (idempotency)', () => {
  const withId = (id: string): Record<string, unknown> => ({ 'payment-identifier': { info: { required: false, id } } })

  it('same id + same payload → the first answer again; another payload → 409; the money moves once', async () => {
    const payer = payers[6]!
    const pr = await fx.paymentRequired('/paid/weather')
    const id = `pay_${'a'.repeat(24)}${Date.now()}`
    const h = await fx.signV2(payer, pr.accepts[0]!, { extensions: withId(id) })
    const balance = await fx.balance(payer.address)
    const first = await pay('/paid/weather', h)
    expect(first.status).toBe(200)
    const firstBody = await first.text()
    const again = await pay('/paid/weather', h)
    expect(again.status).toBe(200)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
    expect(again.headers.get('payment-response')).toBe(first.headers.get('payment-response'))
    expect(await again.text()).toBe(firstBody)
    const other = await pay('/paid/weather', await fx.signV2(payer, pr.accepts[0]!, { extensions: withId(id) }))
    expect(other.status).toBe(409)
    expect(await other.json()).toMatchObject({ error: 'payment_identifier_conflict' })
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
  })

  it('a route requiring an id refuses a payment without one (400); a changed declaration is extension_echo_mismatch', async () => {
    const payer = payers[6]!
    const pr = await fx.paymentRequired('/paid/required')
    expect(pr.extensions?.['payment-identifier']?.info).toEqual({ required: true })
    const none = await pay('/paid/required', await fx.signV2(payer, pr.accepts[0]!))
    expect(none.status).toBe(400)
    expect(errorOf(none)).toBe('payment_identifier_required')
    const tampered = await pay('/paid/required', await fx.signV2(payer, pr.accepts[0]!, { extensions: { 'payment-identifier': { info: { required: false, id: 'pay_0123456789abcdef0123' } } } }))
    expect(tampered.status).toBe(402)
    expect(errorOf(tampered)).toBe('extension_echo_mismatch')
    const badId = await pay('/paid/required', await fx.signV2(payer, pr.accepts[0]!, { extensions: { 'payment-identifier': { info: { required: true, id: 'short' } } } }))
    expect(badId.status).toBe(400)
    const ok = await pay('/paid/required', await fx.signV2(payer, pr.accepts[0]!, { extensions: { 'payment-identifier': { info: { required: true, id: `pay_${Date.now()}_required_ok` } } } }))
    expect(ok.status).toBe(200)
  })
})
