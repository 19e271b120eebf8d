/**
 * Acceptance 2 and 3 of issue 8, over real HTTP: a gateway with the Alipay sandbox (agreement
 * pay) and a local anvil chain (our EIP-3009 token) registered as rails and the AP2 mount. The
 * user signs open mandates naming the agent's key; the agent signs closed mandates per purchase.
 */
import type { Address, Hex } from 'viem'
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localChainInfo, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import { buildAlipayRail } from '../../rails/alipay/alipayRail.js'
import { startRailHarness, type RailHarness } from '../../rails/alipay/testing.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { AP2_EXTENSION_URI } from './a2a.js'
import { ap2Mount } from './mount.js'
import { generateReceiptKey, verifyReceipt } from './receipts.js'
import { fixedCodeOtp } from './state.js'
import { buildCheckout, closeMandates, createParties, issueOpenMandates, type OpenMandates } from './testing.js'
import { mandateNonce } from './x402.js'

const AUD = 'https://gateway.test'
const AGREEMENT = '20215000000000000001'
const alipayInstrument = { id: AGREEMENT, type: 'alipay.agreement', description: 'Alipay agreement ····0001' }
const x402Instrument = { id: 'x402-local-asusd', type: 'x402', network: 'eip155:31337', description: 'USD wallet' }

let harness: RailHarness
let chain: LocalChain
let gw: TestGateway
let merchantWallet: Address
const parties = createParties()
const receiptKey = generateReceiptKey()

const json = async (path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> => {
  const res = await fetch(`${gw.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers }
}
const jwks = async () => (await json('/.well-known/ap2/jwks.json')).body
const expectReceipt = async (jwt: unknown, want: Record<string, unknown>) => {
  const r = verifyReceipt(jwt as string, await jwks())
  if (!r.ok) throw new Error(r.reason)
  expect(r.payload).toMatchObject({ iss: AUD, ...want })
  return r.payload
}
const nonce = async (): Promise<string> => {
  const r = await json('/ap2/v1/nonces', {})
  expect(r.status).toBe(201)
  expect(r.body['aud']).toBe(AUD)
  return r.body['nonce'] as string
}
const alipayTrades = () => harness.sandbox.ledger.entries({ kind: 'payment', currency: 'CNY' })

beforeAll(async () => {
  ;[harness, chain] = await Promise.all([startRailHarness(), startLocalChain({ wallets: 1 })])
  merchantWallet = privateKeyToAccount(generatePrivateKey()).address
  const info = localChainInfo(chain)
  gw = await startTestGateway({
    configPatch: { assets: [localChainAsset(info)] },
    gatewayOptions: {
      rails: [(ctx) => buildAlipayRail(harness.alipayOptions, ctx), registerEvmRail({ chains: [localChainRailConfig(info)] })],
      mounts: [
        ap2Mount({
          issuer: AUD,
          receiptKey,
          trust: { users: [{ jwk: parties.user.publicJwk }] },
          merchants: [{ merchantId: 'm1', payee: parties.payee, checkoutKeys: [{ jwk: parties.merchant.publicJwk }], payTo: { [info.network]: merchantWallet } }],
          instruments: { x402: { tokens: [{ asset: info.token.assetId, currency: 'USD' }] } },
          stepUp: { amountAtLeast: { CNY: '20000' }, otp: fixedCodeOtp('123') },
        }),
      ],
    },
  })
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await Promise.all([harness?.close(), chain?.stop()])
})

/**
 * The user's open mandates, one pair per instrument: a budget is in one currency and Alipay settles
 * CNY while the token pays USD 1:1 (no FX in the verifier), so each pair has its own budget.
 */
function userSignsOpenMandates(budgets: { cny: number; usd: number }): { cny: OpenMandates; usd: OpenMandates } {
  const requirements = [{ acceptable: [{ id: 'beans-1kg', title: 'Coffee beans 1 kg' }, { id: 'beans-2x500g', title: 'Coffee beans 2 × 500 g' }], quantity: 1 }]
  const cny = issueOpenMandates(parties, {
    requirements,
    amountRange: { currency: 'CNY', max: 40_000 },
    budget: { currency: 'CNY', max: budgets.cny },
    recurrence: { frequency: 'ON_DEMAND' },
    allowedInstruments: [alipayInstrument],
  })
  const usd = issueOpenMandates(parties, {
    requirements,
    amountRange: { currency: 'USD', max: 6_000 },
    budget: { currency: 'USD', max: budgets.usd },
    recurrence: { frequency: 'ON_DEMAND' },
    allowedInstruments: [x402Instrument],
  })
  return { cny, usd }
}

const beans = (price: number, currency: string, sku = 'beans-1kg') => buildCheckout(parties.payee, [{ sku, title: sku, price, quantity: 1 }], { currency })

describe('acceptance 2: human not present over REST (Alipay agreement + anvil, budget enforced)', () => {
  it('verifies and settles two purchases on two rails, refuses a third over budget with unresolved_constraint; every receipt verifies', async () => {
    const open = userSignsOpenMandates({ cny: 50_000, usd: 5_000 })
    const tradesBefore = alipayTrades().length

    // Purchase 1: ¥180.00 on the Alipay sandbox (withholding agreement).
    const p1 = closeMandates(parties, open.cny, { checkout: beans(18_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: await nonce() })
    const r1 = await json('/ap2/v1/payments', { checkout_mandate: p1.checkoutMandate, payment_mandate: p1.paymentMandate, risk_data: { device: 'demo' } })
    expect(r1.status, JSON.stringify(r1.body)).toBe(200)
    expect(r1.body).toMatchObject({ status: 'Success', replayed: false })
    const receipt1 = await expectReceipt(r1.body['payment_receipt'], { status: 'Success', payment_id: r1.body['payment_id'] })
    await expectReceipt(r1.body['checkout_receipt'], { status: 'Success', receipt: 'checkout' })
    expect(receipt1['psp_confirmation_id']).toMatch(/^\d{28}$/)
    expect(alipayTrades().length).toBe(tradesBefore + 1)
    expect(alipayTrades().at(-1)).toMatchObject({ amount: '18000', currency: 'CNY', reference: receipt1['psp_confirmation_id'] })
    const intent1 = (await gw.gateway.store.getIntent(r1.body['payment_id'] as string))!.intent
    expect(intent1).toMatchObject({
      status: 'succeeded',
      origin: { protocol: 'ap2', version: '0.2', ref: receipt1['reference'] },
      amount: { value: '18000', asset: 'iso4217:CNY' },
      instrument: { type: 'alipay.agreement', ref: AGREEMENT },
      authorization: { type: 'ap2.mandate', constraints: { modality: 'human_not_present', payment_amount: { amount: '18000', currency: 'CNY' } } },
    })
    const results = (intent1.authorization.constraints as { results: Array<{ type: string; ok: boolean }> }).results
    expect(results.map((r) => r.type)).toEqual(expect.arrayContaining(['checkout.line_items', 'payment.budget', 'payment.agent_recurrence', 'payment.allowed_payment_instruments']))
    expect(results.every((r) => r.ok)).toBe(true)

    // The payment can be looked up, with its receipts re-signed from what was recorded.
    const lookup = await json(`/ap2/v1/payments/${String(r1.body['payment_id'])}`)
    expect(lookup.body).toMatchObject({ status: 'Success', intent_status: 'succeeded' })
    await expectReceipt(lookup.body['payment_receipt'], { status: 'Success', reference: receipt1['reference'], psp_confirmation_id: receipt1['psp_confirmation_id'] })

    // The identical request again: the same receipt, no second charge.
    const replay = await json('/ap2/v1/payments', { checkout_mandate: p1.checkoutMandate, payment_mandate: p1.paymentMandate })
    expect(replay.body).toMatchObject({ status: 'Success', replayed: true, payment_id: r1.body['payment_id'] })
    expect(alipayTrades().length).toBe(tradesBefore + 1)

    // Purchase 2: $30.00 in our EIP-3009 token on anvil (x402, nonce bound to the mandate chain).
    const p2 = closeMandates(parties, open.usd, { checkout: beans(3_000, 'USD', 'beans-2x500g'), instrument: x402Instrument, aud: AUD, nonce: await nonce() })
    const req2 = { checkout_mandate: p2.checkoutMandate, payment_mandate: p2.paymentMandate }
    const need = await json('/ap2/v1/payments', req2)
    expect(need.status).toBe(402)
    const accepts = (need.body['x402'] as { accepts: Array<Record<string, unknown>> }).accepts
    expect(accepts[0]).toMatchObject({ scheme: 'exact', network: chain.network, payTo: merchantWallet, maxAmountRequired: '30000000', extra: { nonce: mandateNonce(p2.paymentMandate) } })
    const payer = chain.wallets[0]!
    // An authorisation not bound to this mandate (another nonce) is refused before anything moves.
    const unbound = await signAuthorization({ privateKey: payer.privateKey as Hex, chainId: chain.chainId, token: chain.token, to: merchantWallet, value: 30_000_000n })
    const refused = await json('/ap2/v1/payments', { ...req2, x402_payment: { x402Version: 1, scheme: 'exact', network: chain.network, payload: unbound } })
    expect(refused).toMatchObject({ status: 401, body: { error: 'invalid_credential', error_description: expect.stringMatching(/keccak256 of the payment mandate chain/) } })
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)
    const signed = await signAuthorization({ privateKey: payer.privateKey as Hex, chainId: chain.chainId, token: chain.token, to: merchantWallet, value: 30_000_000n, nonce: mandateNonce(p2.paymentMandate) })
    const r2 = await json('/ap2/v1/payments', { ...req2, x402_payment: { x402Version: 1, scheme: 'exact', network: chain.network, payload: signed } })
    expect(r2.status, JSON.stringify(r2.body)).toBe(200)
    expect(r2.body).toMatchObject({ status: 'Success', x402: { success: true, network: chain.network, payer: payer.address } })
    const receipt2 = await expectReceipt(r2.body['payment_receipt'], { status: 'Success' })
    await expectReceipt(r2.body['checkout_receipt'], { status: 'Success', receipt: 'checkout' })
    expect(receipt2['psp_confirmation_id']).toMatch(/^0x[0-9a-f]{64}$/)
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)).toBe(before + 30_000_000n)
    const intent2 = (await gw.gateway.store.getIntent(r2.body['payment_id'] as string))!.intent
    expect(intent2).toMatchObject({ status: 'succeeded', amount: { value: '30000000', asset: chain.token.assetId }, instrument: { type: 'evm.eip3009', network: chain.network }, authorization: { type: 'ap2.mandate' } })

    // Purchase 3: ¥350.00 more under the CNY mandate would make ¥530.00 > ¥500.00: refused, nothing moves.
    const p3 = closeMandates(parties, open.cny, { checkout: beans(35_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: await nonce() })
    const r3 = await json('/ap2/v1/payments', { checkout_mandate: p3.checkoutMandate, payment_mandate: p3.paymentMandate, challenge_id: 'none', challenge_response: 'none' })
    // (The step-up threshold is ¥200: answer the challenge first.)
    let final = r3
    if (r3.status === 202) {
      final = await json('/ap2/v1/payments', { checkout_mandate: p3.checkoutMandate, payment_mandate: p3.paymentMandate, challenge_id: r3.body['challenge_id'], challenge_response: '123' })
    }
    expect(final.status, JSON.stringify(final.body)).toBe(403)
    expect(final.body).toMatchObject({ status: 'Error', error: 'unresolved_constraint', error_description: expect.stringMatching(/payment.budget: spent 18000 \+ 35000 = 53000 CNY > budget 50000/) })
    await expectReceipt(final.body['payment_receipt'], { status: 'Error', error: 'unresolved_constraint' })
    await expectReceipt(final.body['checkout_receipt'], { status: 'Error', error: 'unresolved_constraint', receipt: 'checkout' })
    expect(alipayTrades().length).toBe(tradesBefore + 1)

    // Keys, mandates and signatures never reach the logs.
    const logs = gw.logs.join('\n')
    expect(gw.logs.length).toBeGreaterThan(5)
    for (const secret of [receiptKey.d, p1.paymentMandate.split('~')[0]!, p1.checkoutJwt.split('.')[2]!, signed.signature]) expect(logs).not.toContain(secret)
  })

  it('two concurrent closed mandates from one open mandate: at most one is paid (double-spend rule + budget)', async () => {
    const { cny } = userSignsOpenMandates({ cny: 15_000, usd: 1 })
    const tradesBefore = alipayTrades().length
    const [a, b] = [
      closeMandates(parties, cny, { checkout: beans(10_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: await nonce() }),
      closeMandates(parties, cny, { checkout: beans(10_000, 'CNY', 'beans-2x500g'), instrument: alipayInstrument, aud: AUD, nonce: await nonce() }),
    ]
    const rs = await Promise.all([a, b].map((m) => json('/ap2/v1/payments', { checkout_mandate: m.checkoutMandate, payment_mandate: m.paymentMandate })))
    expect(rs.map((r) => r.body['status']).sort()).toEqual(['Error', 'Success'])
    const loser = rs.find((r) => r.body['status'] === 'Error')!
    expect(['invalid_mandate', 'unresolved_constraint']).toContain(loser.body['error'])
    expect(alipayTrades().length).toBe(tradesBefore + 1)
  })

  it('a mandate without agent_recurrence is retired after one payment; a reused nonce is refused', async () => {
    const once = issueOpenMandates(parties, { requirements: [{ acceptable: [{ id: 'beans-1kg', title: 'Beans' }], quantity: 1 }], allowedInstruments: [alipayInstrument] })
    const n = await nonce()
    const first = closeMandates(parties, once, { checkout: beans(1_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: n })
    expect((await json('/ap2/v1/payments', { checkout_mandate: first.checkoutMandate, payment_mandate: first.paymentMandate })).body).toMatchObject({ status: 'Success' })
    const sameNonce = closeMandates(parties, once, { checkout: beans(1_100, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: n })
    expect((await json('/ap2/v1/payments', { checkout_mandate: sameNonce.checkoutMandate, payment_mandate: sameNonce.paymentMandate })).body).toMatchObject({ status: 'Error', error: 'invalid_credential', error_description: expect.stringMatching(/nonce was already used/) })
    const second = closeMandates(parties, once, { checkout: beans(1_100, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: await nonce() })
    expect((await json('/ap2/v1/payments', { checkout_mandate: second.checkoutMandate, payment_mandate: second.paymentMandate })).body).toMatchObject({ status: 'Error', error: 'invalid_mandate', error_description: expect.stringMatching(/retired/) })
  })

  it('bad input gets an AP2 error, never a 500; unknown nonces and v0.1 mandates are refused', async () => {
    expect(await json('/ap2/v1/payments', { checkout_mandate: 42 })).toMatchObject({ status: 400, body: { status: 'Error', error: 'invalid_request' } })
    const garbage = await json('/ap2/v1/payments', { checkout_mandate: 'not~a~chain', payment_mandate: 'x.y.z~' })
    expect(garbage).toMatchObject({ status: 401, body: { status: 'Error', error: 'invalid_credential' } })
    await expectReceipt(garbage.body['payment_receipt'], { status: 'Error', error: 'invalid_credential' })
    const badJson = await fetch(`${gw.url}/ap2/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"oops' })
    expect(badJson.status).toBe(400)
    expect(await badJson.json()).toMatchObject({ status: 'Error', error: 'invalid_request' })
    const { cny } = userSignsOpenMandates({ cny: 100_000, usd: 1 })
    const forged = closeMandates(parties, cny, { checkout: beans(1_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: 'n1.zzzzzz.AAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
    expect((await json('/ap2/v1/payments', { checkout_mandate: forged.checkoutMandate, payment_mandate: forged.paymentMandate })).body).toMatchObject({ error: 'invalid_credential', error_description: expect.stringMatching(/not issued by this verifier/) })
    const v01 = await json('/ap2/v1/payments', {
      payment_mandate: {
        payment_mandate_contents: { payment_mandate_id: 'pm_12345', payment_details_id: 'order_1', payment_details_total: { label: 'Total', amount: { currency: 'CNY', value: 120.0 } }, payment_response: { request_id: 'order_1', method_name: 'alipay.agreement', details: { agreement_no: AGREEMENT } }, merchant_agent: 'merchant_1', timestamp: '2025-08-26T19:36:36.377022Z' },
        user_authorization: 'eyJhbGciOiJFUzI1NksiLCJraWQiOiJkaWQ6ZXhhbXBsZ...',
      },
    })
    expect(v01).toMatchObject({ status: 422, body: { status: 'Error', error: 'mandates_not_supported', error_description: expect.stringMatching(/v0.1/) } })
    expect(await json('/ap2/v1/nope')).toMatchObject({ status: 404, body: { error: 'invalid_request' } })
  })

  it('publishes the agent card (AP2 extension required) and the receipt JWK Set', async () => {
    const card = (await json('/.well-known/agent-card.json')).body
    expect(card).toMatchObject({ url: expect.stringMatching(/\/ap2\/a2a$/), preferredTransport: 'JSONRPC', capabilities: { extensions: expect.arrayContaining([expect.objectContaining({ uri: AP2_EXTENSION_URI, required: true, params: expect.objectContaining({ roles: ['merchant', 'payment-processor'], audience: AUD }) })]) } })
    const keys = (await jwks())['keys'] as Array<Record<string, unknown>>
    expect(keys).toHaveLength(1)
    expect(keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' })
    expect(keys[0]!['d']).toBeUndefined()
  })
})

describe('acceptance 3: the same flow over A2A JSON-RPC with the extension header', () => {
  let seq = 0
  const rpc = async (method: string, params: unknown, headers: Record<string, string> = { 'X-A2A-Extensions': AP2_EXTENSION_URI }) => {
    const r = await json('/ap2/a2a', { jsonrpc: '2.0', id: ++seq, method, params }, headers)
    expect(r.status).toBe(200)
    return r
  }
  const send = async (parts: Array<Record<string, unknown>>, taskId?: string, metadata?: Record<string, unknown>) =>
    (await rpc('message/send', { message: { kind: 'message', messageId: `m${++seq}`, role: 'user', parts, ...(taskId ? { taskId } : {}), ...(metadata ? { metadata } : {}) } })).body
  type Task = { id: string; status: { state: string; message?: { parts: Array<{ kind: string; data?: Record<string, unknown>; text?: string }>; metadata?: Record<string, unknown> } }; artifacts?: Array<{ parts: Array<{ data: Record<string, unknown> }> }>; metadata?: Record<string, unknown> }
  const task = (b: Record<string, unknown>): Task => {
    if (b['error']) throw new Error(JSON.stringify(b['error']))
    return b['result'] as Task
  }
  const dataOf = (t: Task, key: string): unknown => t.status.message?.parts.find((p) => p.data?.[key] !== undefined)?.data?.[key]
  const receiptOf = (t: Task): unknown => t.artifacts?.[0]?.parts.find((p) => p.data['ap2.PaymentReceipt'] !== undefined)?.data['ap2.PaymentReceipt']
  const mandateParts = (m: { checkoutMandate: string; paymentMandate: string }) => [{ kind: 'data', data: { 'ap2.mandates.CheckoutMandateSdJwt': m.checkoutMandate, 'ap2.mandates.PaymentMandateSdJwt': m.paymentMandate } }, { kind: 'data', data: { risk_data: { session: 's1' } } }]

  it('requires X-A2A-Extensions with the AP2 URI', async () => {
    const r = await rpc('message/send', { message: { kind: 'message', messageId: 'x', role: 'user', parts: [{ kind: 'text', text: 'hi' }] } }, {})
    expect(r.body).toMatchObject({ jsonrpc: '2.0', error: { code: -32600, message: expect.stringMatching(/X-A2A-Extensions/) } })
    const ok = await rpc('tasks/get', { id: 'task_nope' })
    expect(ok.headers.get('x-a2a-extensions')).toBe(AP2_EXTENSION_URI)
    expect(ok.body).toMatchObject({ error: { code: -32001 } })
    expect((await rpc('tasks/resubscribe', {})).body).toMatchObject({ error: { code: -32601 } })
    const parse = await fetch(`${gw.url}/ap2/a2a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc"' })
    expect(await parse.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 } })
  })

  it('nonce turn, OTP step-up (input-required, wrong then right code), Alipay settle; x402 on anvil; third over budget fails', async () => {
    const open = userSignsOpenMandates({ cny: 50_000, usd: 5_000 })
    const trades = alipayTrades().length

    // 1. Ask for the verifier's aud and a nonce.
    const t0 = task(await send([{ kind: 'data', data: { 'ap2.checkout': { cart_id: 'cart-1' } } }]))
    expect(t0.status.state).toBe('input-required')
    const challenge = dataOf(t0, 'ap2.verifier_challenge') as { aud: string; nonce: string }
    expect(challenge.aud).toBe(AUD)

    // 2. ¥250.00 ≥ the ¥200 step-up threshold: an OTP challenge on the same task.
    const m1 = closeMandates(parties, open.cny, { checkout: beans(25_000, 'CNY'), instrument: alipayInstrument, aud: challenge.aud, nonce: challenge.nonce })
    const t1 = task(await send(mandateParts(m1), t0.id))
    expect(t1.status.state).toBe('input-required')
    expect(dataOf(t1, 'challenge')).toMatchObject({ type: 'otp' })
    const t2 = task(await send([...mandateParts(m1), { kind: 'data', data: { challenge_response: '000' } }], t0.id))
    expect(t2.status.state).toBe('input-required')
    expect(alipayTrades().length).toBe(trades)
    const t3 = task(await send([...mandateParts(m1), { kind: 'data', data: { challenge_response: '123' } }], t0.id))
    expect(t3.status.state, JSON.stringify(t3.status)).toBe('completed')
    await expectReceipt(receiptOf(t3), { status: 'Success', payment_id: t3.metadata?.['payment_id'] })
    expect(alipayTrades().length).toBe(trades + 1)
    expect(task((await rpc('tasks/get', { id: t0.id })).body).status.state).toBe('completed')
    expect((await rpc('message/send', { message: { kind: 'message', messageId: 'late', role: 'user', parts: [{ kind: 'text', text: 'again' }], taskId: t0.id } })).body).toMatchObject({ error: { code: -32004 } })

    // 3. x402 on anvil: payment-required with the mandate-bound nonce, then payment-submitted.
    const n = dataOf(task(await send([{ kind: 'text', text: 'pay' }])), 'ap2.verifier_challenge') as { nonce: string }
    const m2 = closeMandates(parties, open.usd, { checkout: beans(2_500, 'USD', 'beans-2x500g'), instrument: x402Instrument, aud: AUD, nonce: n.nonce })
    const x1 = task(await send(mandateParts(m2)))
    expect(x1.status.state).toBe('input-required')
    expect(x1.status.message?.metadata).toMatchObject({ 'x402.payment.status': 'payment-required', 'x402.payment.required': { x402Version: 1, accepts: [{ maxAmountRequired: '25000000', extra: { nonce: mandateNonce(m2.paymentMandate) } }] } })
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)
    const signed = await signAuthorization({ privateKey: chain.wallets[0]!.privateKey as Hex, chainId: chain.chainId, token: chain.token, to: merchantWallet, value: 25_000_000n, nonce: mandateNonce(m2.paymentMandate) })
    const x2 = task(await send(mandateParts(m2), x1.id, { 'x402.payment.status': 'payment-submitted', 'x402.payment.payload': { x402Version: 1, scheme: 'exact', network: chain.network, payload: signed } }))
    expect(x2.status.state, JSON.stringify(x2.status)).toBe('completed')
    expect(x2.metadata).toMatchObject({ 'x402.payment.status': 'payment-completed', 'x402.payment.receipts': [{ success: true, network: chain.network }] })
    await expectReceipt(receiptOf(x2), { status: 'Success' })
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)).toBe(before + 25_000_000n)

    // 4. Another ¥260.00 would exceed ¥500.00: the task fails with an unresolved_constraint receipt.
    const n3 = dataOf(task(await send([{ kind: 'text', text: 'pay' }])), 'ap2.verifier_challenge') as { nonce: string }
    const m3 = closeMandates(parties, open.cny, { checkout: beans(26_000, 'CNY'), instrument: alipayInstrument, aud: AUD, nonce: n3.nonce })
    let f = task(await send(mandateParts(m3)))
    if (f.status.state === 'input-required') f = task(await send([...mandateParts(m3), { kind: 'data', data: { challenge_response: '123' } }], f.id))
    expect(f.status.state).toBe('failed')
    expect(dataOf(f, 'ap2.error')).toMatchObject({ error: 'unresolved_constraint' })
    await expectReceipt(receiptOf(f), { status: 'Error', error: 'unresolved_constraint' })
    expect(alipayTrades().length).toBe(trades + 1)
  })

  it('v0.1 PaymentMandate DataParts are parsed and rejected without the policy flag', async () => {
    const t = task(
      await send([
        {
          kind: 'data',
          data: {
            'ap2.mandates.PaymentMandate': {
              payment_mandate_contents: { payment_mandate_id: 'pm_1', payment_details_id: 'o1', payment_details_total: { label: 'Total', amount: { currency: 'CNY', value: 10 } }, payment_response: { request_id: 'o1', method_name: 'alipay.agreement', details: { agreement_no: AGREEMENT } }, merchant_agent: 'merchant_1' },
              user_authorization: 'fake',
            },
          },
        },
      ]),
    )
    expect(t.status.state).toBe('rejected')
    expect(dataOf(t, 'ap2.error')).toMatchObject({ error: 'mandates_not_supported' })
  })
})

describe('AP2 v0.1 with ap2.v01.acceptUnauthenticated', () => {
  it('maps the v0.1 PaymentMandate to an unauthenticated canonical intent and settles it on Alipay', async () => {
    const gw2 = await startTestGateway({
      gatewayOptions: {
        rails: [(ctx) => buildAlipayRail({ ...harness.alipayOptions, outTradeNoPrefix: 'v01' }, ctx)],
        mounts: [ap2Mount({ issuer: AUD, receiptKey: generateReceiptKey(), trust: { users: [{ jwk: parties.user.publicJwk }] }, merchants: [{ merchantId: 'm1', payee: parties.payee, checkoutKeys: [{ jwk: parties.merchant.publicJwk }] }], v01: { acceptUnauthenticated: true } })],
      },
    })
    try {
      const body = {
        payment_mandate: {
          payment_mandate_contents: { payment_mandate_id: 'pm_v01_1', payment_details_id: 'order_1', payment_details_total: { label: 'Total', amount: { currency: 'CNY', value: 12.5 } }, payment_response: { request_id: 'order_1', method_name: 'alipay.agreement', details: { agreement_no: AGREEMENT } }, merchant_agent: 'merchant_1' },
          user_authorization: 'eyJhbGciOiJFUzI1NksiLCJraWQiOiJkaWQ6ZXhhbXBsZ...',
        },
      }
      const res = await fetch(`${gw2.url}/ap2/v1/payments`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      const out = (await res.json()) as { status: string; payment_receipt: { payment_status: Record<string, unknown>; amount: unknown }; payment_id: string }
      expect(res.status, JSON.stringify(out)).toBe(200)
      expect(out.payment_receipt).toMatchObject({ payment_mandate_id: 'pm_v01_1', amount: { currency: 'CNY', value: 12.5 }, payment_status: { merchant_confirmation_id: out.payment_id } })
      const intent = (await gw2.gateway.store.getIntent(out.payment_id))!.intent
      expect(intent).toMatchObject({ status: 'succeeded', amount: { value: '1250', asset: 'iso4217:CNY' }, origin: { protocol: 'ap2', version: '0.1' }, authorization: { type: 'ap2.mandate', constraints: { authenticated: false } }, metadata: { ap2_v01_unauthenticated: 'true' } })
    } finally {
      await gw2.close()
    }
  })
})
