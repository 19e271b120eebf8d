/**
 * The facilitator role over HTTP: `/supported`, `/verify` and `/settle` bodies and reasons, the
 * `settlement_pending` retry, `payment-identifier`, v1, API keys — and a differential run of the
 * same payloads through the OFFICIAL `@x402/core` + `@x402/evm` facilitator on the same chain.
 */
import type { x402Facilitator } from '@x402/core/facilitator'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { getAddress, type Address, type Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { devAccount, localChainInfo, pauseMining, resumeMining, rpc } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { signAuthorization, type SignAuthorizationParams } from '../../../sandbox/chain/payer.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, TEST_KEYS, type TestGateway } from '../../testing/testGateway.js'
import { x402Mount } from './mount.js'
import { installMulticall3 } from './testMulticall.js'
import { officialFacilitator } from './testOfficial.js'
import { startX402Fixture, type X402Fixture } from './testFixture.js'
import type { PaymentRequirementsV2 } from './v2/wire.js'

let fx: X402Fixture
let official: x402Facilitator
let payers: Array<{ address: Address; privateKey: Hex }>

beforeAll(async () => {
  fx = await startX402Fixture({ routes: () => [], x402: { facilitator: {}, v1Networks: { '31337': 'anvil' }, pendingWaitMs: 6_000 }, rail: { receiptTimeoutMs: 1_500 } })
  payers = await fx.newPayers(6, 1_000_000n)
  await installMulticall3(fx.chain.rpcUrl)
  official = officialFacilitator({ rpcUrl: fx.chain.rpcUrl, chainId: fx.chain.chainId, privateKey: devAccount(7).privateKey })
})
afterAll(async () => {
  await fx?.close()
})

const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))

function requirements(overrides: Partial<PaymentRequirementsV2> = {}): PaymentRequirementsV2 {
  return {
    scheme: 'exact',
    network: 'eip155:31337',
    amount: '10000',
    asset: fx.chain.token.address,
    payTo: getAddress(fx.payTo),
    maxTimeoutSeconds: 300,
    extra: { name: fx.chain.token.name, version: fx.chain.token.version },
    ...overrides,
  }
}

async function body(
  payer: { privateKey: Hex },
  req: PaymentRequirementsV2 = requirements(),
  o: Partial<SignAuthorizationParams> & { accepted?: Partial<PaymentRequirementsV2>; signer?: Hex; extensions?: Record<string, unknown> } = {},
): Promise<{ x402Version: 2; paymentPayload: Record<string, unknown>; paymentRequirements: PaymentRequirementsV2 }> {
  const { accepted, signer, extensions, ...sign } = o
  const s = await signAuthorization({
    privateKey: signer ?? payer.privateKey,
    chainId: fx.chain.chainId,
    // As a client does: the domain from the requirements.
    token: { address: req.asset, name: String(req.extra['name'] ?? fx.chain.token.name), version: String(req.extra['version'] ?? fx.chain.token.version) },
    to: req.payTo,
    value: BigInt(req.amount),
    ...sign,
  })
  if (signer) s.authorization.from = privateKeyToAccount(payer.privateKey).address
  return {
    x402Version: 2,
    paymentPayload: { x402Version: 2, accepted: { ...req, ...accepted }, payload: s, ...(extensions ? { extensions } : {}) },
    paymentRequirements: req,
  }
}

async function post(op: 'verify' | 'settle', json: unknown, headers: Record<string, string> = {}, base = fx.gw.url): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/x402/facilitator/${op}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof json === 'string' ? json : JSON.stringify(json) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function officialVerify(b: Awaited<ReturnType<typeof body>>): Promise<{ isValid: boolean; invalidReason?: string | undefined } | 'throws'> {
  try {
    const r = await official.verify(b.paymentPayload as never, b.paymentRequirements as never)
    return { isValid: r.isValid, ...(r.invalidReason ? { invalidReason: r.invalidReason } : {}) }
  } catch {
    return 'throws'
  }
}

describe('GET /supported', () => {
  it('lists v2 exact on eip155:31337 literally, the v1 alias, the payment-identifier extension and our relayer', async () => {
    const res = await fetch(`${fx.gw.url}/x402/facilitator/supported`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      kinds: [
        { x402Version: 2, scheme: 'exact', network: 'eip155:31337' },
        { x402Version: 1, scheme: 'exact', network: 'anvil' },
      ],
      extensions: ['payment-identifier'],
      signers: { 'eip155:*': [getAddress(fx.chain.relayer.address)] },
    })
  })
})

describe('POST /verify: 200 with isValid and the SDK reason strings, the same as the official facilitator', () => {
  it('a valid payment → isValid:true with the payer', async () => {
    const b = await body(payers[0]!)
    const r = await post('verify', b)
    expect(r).toEqual({ status: 200, body: { isValid: true, payer: payers[0]!.address } })
    expect(await officialVerify(b)).toEqual({ isValid: true })
  })

  const cases: Array<[string, () => Promise<Awaited<ReturnType<typeof body>>>, string, 'same' | string]> = [
    ['expired', () => body(payers[0]!, requirements(), { validBefore: now() - 1n }), 'invalid_exact_evm_payload_authorization_valid_before', 'same'],
    ['inside the 6 s margin', () => body(payers[0]!, requirements(), { validBefore: now() + 3n }), 'invalid_exact_evm_payload_authorization_valid_before', 'same'],
    ['not yet valid', () => body(payers[0]!, requirements(), { validAfter: now() + 600n }), 'invalid_exact_evm_payload_authorization_valid_after', 'same'],
    ['underpaid', () => body(payers[0]!, requirements(), { value: 9_999n }), 'invalid_exact_evm_payload_authorization_value_mismatch', 'same'],
    ['overpaid', () => body(payers[0]!, requirements(), { value: 10_001n }), 'invalid_exact_evm_payload_authorization_value_mismatch', 'same'],
    ['wrong payTo', () => body(payers[0]!, requirements(), { to: privateKeyToAccount(generatePrivateKey()).address }), 'invalid_exact_evm_recipient_mismatch', 'same'],
    ['bad signature', () => body(payers[0]!, requirements(), { signer: generatePrivateKey() }), 'invalid_exact_evm_signature', 'same'],
    ['insufficient balance', () => body({ privateKey: generatePrivateKey() }), 'invalid_exact_evm_insufficient_balance', 'same'],
    ['network mismatch', () => body(payers[0]!, requirements(), { accepted: { network: 'eip155:1' } }), 'invalid_exact_evm_network_mismatch', 'same'],
    ['no EIP-712 domain', () => body(payers[0]!, requirements({ extra: {} })), 'invalid_exact_evm_missing_eip712_domain', 'same'],
    ['unknown network', () => body(payers[0]!, requirements({ network: 'eip155:999999' })), 'invalid_network', 'throws'],
    ['another scheme', () => body(payers[0]!, requirements({ scheme: 'upto' })), 'unsupported_scheme', 'throws'],
    ['an asset we do not settle', () => body(payers[0]!, requirements({ asset: privateKeyToAccount(generatePrivateKey()).address })), 'invalid_payment_requirements', 'asset_not_deployed_contract'],
    // Signed with the wrong domain name: the signature does not recover under the token's real domain.
    ['a wrong EIP-712 name', () => body(payers[0]!, requirements({ extra: { name: 'USD Coin', version: '2' } })), 'invalid_exact_evm_token_name_mismatch', 'same'],
    ['a wrong EIP-712 version', () => body(payers[0]!, requirements({ extra: { name: fx.chain.token.name, version: '1' } })), 'invalid_exact_evm_token_version_mismatch', 'same'],
  ]
  for (const [name, make, reason, theirs] of cases) {
    it(`${name} → ${reason}`, async () => {
      const b = await make()
      const r = await post('verify', b)
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ isValid: false, invalidReason: reason })
      const o = await officialVerify(b)
      if (theirs === 'same') expect(o).toEqual({ isValid: false, invalidReason: reason })
      else if (theirs === 'throws') expect(o).toBe('throws')
      else expect(o).toEqual({ isValid: false, invalidReason: theirs })
    })
  }

  it('a Permit2 payload → unsupported_payload_type; x402Version 3 → invalid_x402_version', async () => {
    const b = await body(payers[0]!)
    const permit2 = { ...b, paymentPayload: { ...b.paymentPayload, payload: { signature: '0x00', permit2Authorization: {} } } }
    expect((await post('verify', permit2)).body).toMatchObject({ isValid: false, invalidReason: 'unsupported_payload_type' })
    expect((await post('verify', { ...b, paymentPayload: { ...b.paymentPayload, x402Version: 3 } })).body).toMatchObject({ isValid: false, invalidReason: 'invalid_x402_version' })
  })

  it('malformed requests → 400 in the same shape (never a 500)', async () => {
    const b = await body(payers[0]!)
    for (const bad of [{ paymentPayload: b.paymentPayload }, {}, '{"paymentPayload":', '[]', { ...b, paymentPayload: { ...b.paymentPayload, payload: { signature: 1 } } }]) {
      const r = await post('verify', bad)
      expect(r.status, JSON.stringify(bad).slice(0, 60)).toBe(400)
      expect(r.body).toMatchObject({ isValid: false, invalidReason: 'invalid_payload' })
    }
    const s = await post('settle', { paymentPayload: b.paymentPayload })
    expect(s).toMatchObject({ status: 400, body: { success: false, errorReason: 'invalid_payload', transaction: '', network: '' } })
    const text = await fetch(`${fx.gw.url}/x402/facilitator/verify`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
    expect(text.status).toBe(400)
    expect(await text.json()).toMatchObject({ isValid: false, invalidReason: 'invalid_payload' })
    const nowhere = await fetch(`${fx.gw.url}/x402/facilitator/elsewhere`)
    expect(nowhere.status).toBe(404)
    expect(await nowhere.json()).toMatchObject({ error: 'not_found' })
  })
})

describe('POST /settle', () => {
  it('settles once as a canonical intent (merchant = the payTo); a second identical /settle is refused; /verify then says the nonce is used — as the official one does', async () => {
    const payer = payers[1]!
    const b = await body(payer)
    const before = { payer: await fx.balance(payer.address), payTo: await fx.balance(fx.payTo) }
    const r = await post('settle', b)
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ success: true, transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/), network: 'eip155:31337', payer: payer.address })
    expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    expect(await fx.balance(fx.payTo)).toBe(before.payTo + 10_000n)
    const nonce = (b.paymentPayload['payload'] as { authorization: { nonce: string } }).authorization.nonce
    const intent = (await fx.gw.gateway.store.listIntents({ limit: 100 })).items.find((i) => i.instrument.ref === nonce)
    expect(intent).toMatchObject({ merchant_id: fx.payTo.toLowerCase(), status: 'succeeded', authorization: { type: 'x402.signature', constraints: expect.objectContaining({ x402_role: 'facilitator' }) } })

    const again = await post('settle', b)
    expect(again).toMatchObject({ status: 200, body: { success: false, errorReason: 'invalid_exact_evm_nonce_already_used', transaction: '', network: 'eip155:31337' } })
    expect(await fx.balance(payer.address)).toBe(before.payer - 10_000n)
    expect((await post('verify', b)).body).toMatchObject({ isValid: false, invalidReason: 'invalid_exact_evm_nonce_already_used' })
    expect(await officialVerify(b)).toEqual({ isValid: false, invalidReason: 'invalid_exact_evm_nonce_already_used' })
  })

  it('an invalid payment → success:false with the reason and transaction ""; nothing moves', async () => {
    const payer = payers[1]!
    const balance = await fx.balance(payer.address)
    const r = await post('settle', await body(payer, requirements(), { validBefore: now() - 5n }))
    expect(r).toEqual({ status: 200, body: { success: false, errorReason: 'invalid_exact_evm_payload_authorization_valid_before', transaction: '', network: 'eip155:31337', payer: payer.address } })
    expect(await fx.balance(payer.address)).toBe(balance)
  })

  it('v1 (x402Version 1, v1 network name, maxAmountRequired) settles too, answering with the v1 name', async () => {
    const payer = payers[2]!
    const s = await signAuthorization({ privateKey: payer.privateKey, chainId: 31337, token: fx.chain.token, to: fx.payTo, value: 10_000n })
    const reqV1 = { scheme: 'exact', network: 'anvil', maxAmountRequired: '10000', resource: 'http://shop.example/x', description: 'x', mimeType: 'application/json', payTo: getAddress(fx.payTo), maxTimeoutSeconds: 60, asset: fx.chain.token.address, extra: { name: fx.chain.token.name, version: fx.chain.token.version } }
    const v1 = { x402Version: 1, paymentPayload: { x402Version: 1, scheme: 'exact', network: 'anvil', payload: s }, paymentRequirements: reqV1 }
    expect((await post('verify', v1)).body).toEqual({ isValid: true, payer: payer.address })
    const r = await post('settle', v1)
    expect(r.body).toMatchObject({ success: true, network: 'anvil', payer: payer.address })
    const wrong = await signAuthorization({ privateKey: payer.privateKey, chainId: 31337, token: fx.chain.token, to: fx.payTo, value: 10_001n })
    expect((await post('verify', { ...v1, paymentPayload: { ...v1.paymentPayload, payload: wrong } })).body).toMatchObject({ isValid: false, invalidReason: 'invalid_exact_evm_authorization_value' })
  })

  it('settlement_pending: the hash comes back, ONE identical retry waits on the same transaction and succeeds; a third is refused; one broadcast', async () => {
    const payer = payers[3]!
    const b = await body(payer)
    const balance = await fx.balance(payer.address)
    const sent = async (): Promise<number> => Number(await rpc<Hex>(fx.chain.rpcUrl, 'eth_getTransactionCount', [fx.chain.relayer.address, 'pending']))
    const before = await sent()
    await pauseMining(fx.chain.rpcUrl)
    let first: Awaited<ReturnType<typeof post>>
    try {
      first = await post('settle', b)
    } catch (e) {
      await resumeMining(fx.chain.rpcUrl)
      throw e
    }
    expect(first.body).toMatchObject({ success: false, errorReason: 'settlement_pending', transaction: expect.stringMatching(/^0x[0-9a-f]{64}$/), network: 'eip155:31337' })
    const resume = setTimeout(() => void resumeMining(fx.chain.rpcUrl), 1_000)
    const retry = await post('settle', b)
    clearTimeout(resume)
    await resumeMining(fx.chain.rpcUrl)
    expect(retry.body).toEqual({ success: true, transaction: first.body['transaction'], network: 'eip155:31337', payer: payer.address })
    expect((await post('settle', b)).body).toMatchObject({ success: false, errorReason: 'invalid_exact_evm_nonce_already_used' })
    expect(await sent()).toBe(before + 1)
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
  })

  it('payment-identifier: the same id and payload → the same answer (settled once); another payload under the id → 409', async () => {
    const payer = payers[4]!
    const id = `pay_fac_${Date.now()}_abcdefgh`
    const ext = { 'payment-identifier': { info: { required: false, id } } }
    const b = await body(payer, requirements(), { extensions: ext })
    const balance = await fx.balance(payer.address)
    const first = await post('settle', b)
    expect(first.body).toMatchObject({ success: true })
    const second = await post('settle', b)
    expect(second).toEqual(first)
    expect(await fx.balance(payer.address)).toBe(balance - 10_000n)
    const other = await post('settle', await body(payer, requirements(), { extensions: ext }))
    expect(other).toMatchObject({ status: 409, body: { success: false, errorReason: 'payment_identifier_conflict' } })
    const otherVerify = await post('verify', await body(payer, requirements(), { extensions: ext }))
    expect(otherVerify.status).toBe(200) // verify ids are their own scope
  })
})

describe('requireApiKey', () => {
  let gw: TestGateway
  beforeAll(async () => {
    const info = localChainInfo(fx.chain)
    gw = await startTestGateway({
      configPatch: { assets: [localChainAsset(info)] },
      gatewayOptions: {
        // Its own relayer key: the two gateways never share a nonce sequence.
        rails: [registerEvmRail({ chains: [localChainRailConfig(info, { relayerPrivateKey: devAccount(8).privateKey, pollingIntervalMs: 5 })] })],
        mounts: [x402Mount({ facilitator: { requireApiKey: true } })],
      },
    })
  })
  afterAll(async () => {
    ;(gw?.gateway.rails.get('evm') as { close?: () => void } | undefined)?.close?.()
    await gw?.close()
  })

  it('without a key: 401 in the facilitator shape; with a merchant key the payment belongs to that merchant', async () => {
    const b = await body(payers[5]!)
    const anon = await post('settle', b, {}, gw.url)
    expect(anon).toMatchObject({ status: 401, body: { success: false, errorReason: 'unauthorized' } })
    expect((await fetch(`${gw.url}/x402/facilitator/supported`)).status).toBe(401)
    const agent = await post('verify', b, { authorization: `Bearer ${TEST_KEYS.agent}` }, gw.url)
    expect(agent).toMatchObject({ status: 403, body: { isValid: false, invalidReason: 'forbidden' } })
    const ok = await post('settle', b, { authorization: `Bearer ${TEST_KEYS.merchant}` }, gw.url)
    expect(ok.body).toMatchObject({ success: true })
    const nonce = (b.paymentPayload['payload'] as { authorization: { nonce: string } }).authorization.nonce
    expect((await gw.gateway.store.listIntents({ limit: 10 })).items.find((i) => i.instrument.ref === nonce)?.merchant_id).toBe('m1')
  })
})

describe('POST /verify in its plain case is answered without the express pipeline, exactly as the express route answers it', () => {
  /** The same request through the lean route and, with a query string, through express. */
  async function both(raw: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
    const send = async (q: string) => {
      const res = await fetch(`${fx.gw.url}/x402/facilitator/verify${q}`, { method: 'POST', headers: { 'request-id': 'req_lean_test', ...headers }, body: raw })
      return { status: res.status, body: (await res.json()) as unknown, type: res.headers.get('content-type'), cache: res.headers.get('cache-control'), id: res.headers.get('request-id') }
    }
    return { lean: await send(''), express: await send('?via=express') }
  }
  const route = () => fx.gw.gateway.deps.leanRoutes!.get('/x402/facilitator/verify')!

  it('valid, refused, malformed, not JSON, not an object: the same status, body and headers both ways; only the plain case is lean', async () => {
    let lean = 0
    const r = route()
    const handle = r.handle.bind(r)
    r.handle = async (b) => {
      lean++
      return handle(b)
    }
    try {
      const valid = await body(payers[4]!)
      // Verify changes nothing, so one payload can be verified both ways.
      const elsewhere = getAddress(privateKeyToAccount(generatePrivateKey()).address)
      const cases = [JSON.stringify(valid), JSON.stringify(await body(payers[4]!, requirements(), { to: elsewhere })), '{}', '  [1, 2]', '{"x402Version":', '"just a string"']
      const answers = []
      for (const raw of cases) {
        const { lean: l, express: e } = await both(raw)
        expect(l, raw).toEqual(e)
        expect(l.cache).toBe('no-store')
        expect(l.id).toBe('req_lean_test')
        answers.push(l)
      }
      expect(answers[0]).toMatchObject({ status: 200, body: { isValid: true, payer: payers[4]!.address }, type: 'application/json; charset=utf-8' })
      expect(answers[1]).toMatchObject({ status: 200, body: { isValid: false, invalidReason: 'invalid_exact_evm_recipient_mismatch' } })
      expect(answers.slice(2).map((a) => [a.status, (a.body as { invalidReason?: string }).invalidReason])).toEqual(Array(4).fill([400, 'invalid_payload']))
      expect(answers[4]).toMatchObject({ body: { invalidMessage: 'the request body is not valid JSON' } })
      // The lean route's handler saw the four JSON objects and arrays; invalid JSON and a bare string were refused before it.
      expect(lean).toBe(4)
      // Any other shape of request goes to express (and answers the same way).
      const before = lean
      const other = await both(cases[0]!, { 'content-type': 'application/json; charset=latin1' })
      expect(other.lean).toEqual(other.express)
      const tooBig = await both(JSON.stringify({ pad: 'x'.repeat(fx.gw.gateway.config.server.bodyLimitBytes) }))
      expect(tooBig.lean).toEqual(tooBig.express)
      expect(tooBig.lean).toMatchObject({ status: 413, body: { isValid: false, invalidReason: 'invalid_payload' } })
      expect(lean).toBe(before)
    } finally {
      r.handle = handle
    }
  })

  it('writes the access-log line pino-http writes for the express route (level, request id, status, no body)', async () => {
    const lines = (id: string) => fx.gw.logs.map((l) => JSON.parse(l) as { req?: { id?: string } }).filter((l) => l.req?.id === id)
    const b = await body(payers[5]!)
    for (const [id, q] of [['req_log_lean', ''], ['req_log_express', '?via=express']] as const)
      await fetch(`${fx.gw.url}/x402/facilitator/verify${q}`, { method: 'POST', headers: { 'content-type': 'application/json', 'request-id': id }, body: JSON.stringify(b) })
    await new Promise((r) => setTimeout(r, 50))
    const [l] = lines('req_log_lean')
    const [e] = lines('req_log_express')
    expect(l).toMatchObject({ level: 30, msg: 'request completed', res: { statusCode: 200 }, req: { method: 'POST', url: '/x402/facilitator/verify' } })
    expect(e).toMatchObject({ level: 30, msg: 'request completed', res: { statusCode: 200 }, req: { method: 'POST' } })
    expect(Object.keys(l!).sort()).toEqual(Object.keys(e!).sort())
    expect(JSON.stringify(l)).not.toContain(String(b.paymentPayload['payload'] ? (b.paymentPayload['payload'] as { signature: string }).signature : 'x'))
  })

  it('is timed in http_request_duration_seconds under the same route template', async () => {
    const count = async () => {
      const text = await (await fetch(`${fx.gw.url}/metrics`, { headers: { authorization: `Bearer ${TEST_KEYS.admin}` } })).text()
      const line = text.split('\n').find((l) => l.startsWith('agentswitch_http_request_duration_seconds_count') && l.includes('route="/x402/facilitator/verify"') && l.includes('status="200"'))
      return Number(line?.split(' ').at(-1) ?? 0)
    }
    const before = await count()
    await post('verify', await body(payers[5]!))
    expect(await count()).toBe(before + 1)
  })
})
