/**
 * Issue 7 acceptance over real HTTP: a gateway with the UCP mount, the EVM rail on a local anvil
 * chain and the (testing-only) mock handler; a platform profile and webhook receiver from the
 * conformance counterparts. Every profile, checkout and order response is validated against the
 * official 2026-04-08 schemas loaded by folder path.
 */
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localChainInfo, startLocalChain, tokenBalance, type LocalChain } from '../../../sandbox/chain/anvil.js'
import { localChainAsset, localChainRailConfig } from '../../../sandbox/chain/devConfig.js'
import { signAuthorization } from '../../../sandbox/chain/payer.js'
import { createCounterparts, type Counterparts } from '../../../conformance/framework/counterparts/counterparts.js'
import type { ProfileServer } from '../../../conformance/framework/counterparts/profileServer.js'
import type { WebhookReceiver } from '../../../conformance/framework/counterparts/webhookReceiver.js'
import { registerEvmRail } from '../../rails/evm/registerEvmRail.js'
import { startTestGateway, type TestGateway } from '../../testing/testGateway.js'
import { createParties, humanPresentMandates } from '../ap2/testing.js'
import { verifyMerchantAuthorization } from './ap2.js'
import { attachedCheckoutJws } from './ap2Check.js'
import { FLOWER_SHOP, staticCatalog } from './catalog.js'
import { checkContentDigest, verifyRequestSignature, type EcPublicJwk } from './httpSignatures.js'
import { ucpMount } from './mount.js'
import { loadOfficialValidators, type UcpOfficialValidators } from './officialSchemas.js'
import { CAP, type UcpOptions } from './options.js'
import { generateUcpKey, platformProfile, ucpClient, type UcpResponse } from './testing.js'
import { createUcpWebhookWorker } from './webhooks.js'

const EXT = [CAP.fulfillment, CAP.discount, CAP.buyerConsent]
let chain: LocalChain
let gw: TestGateway
let counterparts: Counterparts
let profiles: ProfileServer
let receiver: WebhookReceiver
let schemas: UcpOfficialValidators
let merchantWallet: Address
let endpoint: string
let options: UcpOptions
const merchantKey = generateUcpKey('gw-ucp-1')
const parties = createParties()
const platformKey = generateUcpKey('platform-1')
let profileUrl: string
let signedProfileUrl: string

const shipping = {
  methods: [{ type: 'shipping', destinations: [{ street_address: '1 Main St', address_locality: 'Springfield', address_region: 'IL', postal_code: '62701', address_country: 'US' }], groups: [{ selected_option_id: 'std-ship' }] }],
}
const mockPayment = (token = 'success_token') => ({ payment: { instruments: [{ id: 'instr_1', handler_id: 'mock_payment_handler', type: 'card', credential: { type: 'token', token } }] } })

function expectValid(v: { (d: unknown): boolean; errors?: unknown }, body: unknown): void {
  const ok = v(body)
  expect(ok, JSON.stringify(v.errors, null, 2)).toBe(true)
}

beforeAll(async () => {
  schemas = loadOfficialValidators()
  chain = await startLocalChain({ wallets: 1 })
  const info = localChainInfo(chain)
  merchantWallet = privateKeyToAccount(generatePrivateKey()).address
  counterparts = createCounterparts({ seed: 'ucp-test' })
  profiles = await counterparts.profileServer()
  receiver = await counterparts.webhookReceiver()
  profileUrl = profiles.serve('/profiles/agent.json', platformProfile({ webhookUrl: receiver.urlFor('/hooks/ucp') }))
  gw = await startTestGateway({
    configPatch: { assets: [localChainAsset(info)] },
    gatewayOptions: {
      rails: [registerEvmRail({ chains: [localChainRailConfig(info)] })],
      mounts: [
        (app, deps) => {
          options = {
            merchantId: 'm1',
            publicBaseUrl: 'http://gateway.test',
            signingKey: merchantKey,
            catalog: staticCatalog(FLOWER_SHOP),
            handlers: [
              { kind: 'mock', id: 'mock_payment_handler' },
              { kind: 'evm.eip3009', id: 'evm_local', network: info.network, asset: info.token.assetId, tokenDecimals: info.token.decimals, payTo: merchantWallet, tokenName: info.token.name, tokenVersion: info.token.version },
            ],
            negotiation: { allowInsecureLocalhost: true },
            simulationSecret: 's3cret',
            ap2: { enabled: true, trustedKeys: [{ jwk: parties.user.publicJwk, role: 'user' }], payee: parties.payee },
          }
          ucpMount(options)(app, deps)
        },
      ],
    },
  })
  endpoint = `${gw.url}/ucp/v1`
  signedProfileUrl = profiles.serve('/profiles/signed.json', platformProfile({ webhookUrl: receiver.urlFor('/hooks/signed'), keys: [{ ...platformKey, d: undefined } as unknown as EcPublicJwk].map(({ kid, kty, crv, x, y }) => ({ kid, kty, crv, x, y, alg: 'ES256', use: 'sig' })) }))
}, 120_000)

afterAll(async () => {
  await gw?.close()
  await counterparts?.close()
  await chain?.stop()
})

const client = () => ucpClient({ endpoint, profileUrl })
const createReady = async (call = client(), items = [{ item: { id: 'pot_ceramic' }, quantity: 2 }]): Promise<UcpResponse> => {
  const r = await call('POST', '/checkout-sessions', { line_items: items, fulfillment: shipping })
  expect(r.status).toBe(201)
  return r
}

describe('discovery', () => {
  it('serves a profile valid against the official schema, with cache headers and our signing key', async () => {
    const res = await fetch(`${gw.url}/.well-known/ucp`)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toMatch(/public, max-age=(\d+)/)
    expect(Number(/max-age=(\d+)/.exec(res.headers.get('cache-control') ?? '')?.[1])).toBeGreaterThanOrEqual(60)
    const body = (await res.json()) as Record<string, unknown>
    expectValid(schemas.businessProfile, body)
    const ucp = body['ucp'] as Record<string, Record<string, unknown>>
    expect(ucp['version']).toBe('2026-04-08')
    expect(Object.keys(ucp['capabilities'] ?? {})).toEqual(expect.arrayContaining([CAP.checkout, CAP.order, CAP.fulfillment, CAP.ap2]))
    expect((ucp['services']?.['dev.ucp.shopping'] as Array<Record<string, unknown>>)[0]?.['endpoint']).toBe('http://gateway.test/ucp/v1')
    expect((body['signing_keys'] as Array<Record<string, unknown>>)[0]).toMatchObject({ kid: 'gw-ucp-1', kty: 'EC', crv: 'P-256', alg: 'ES256' })
    expect(JSON.stringify(body)).not.toContain(merchantKey.d)
  })

  it('refuses a missing/invalid UCP-Agent (400 invalid_profile_url), an unreachable profile (424), an unknown version (422)', async () => {
    const none = await ucpClient({ endpoint, profileUrl: undefined })('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }] })
    expect(none.status).toBe(400)
    expect(none.body).toEqual({ code: 'invalid_profile_url', content: expect.any(String) })
    const gone = await ucpClient({ endpoint, profileUrl: `${profiles.url}/profiles/missing.json` })('GET', '/checkout-sessions/chk_x')
    expect(gone.status).toBe(424)
    expect(gone.body['code']).toBe('profile_unreachable')
    const old = profiles.serve('/profiles/future.json', platformProfile({ version: '2099-01-01' }))
    const v = await ucpClient({ endpoint, profileUrl: old })('GET', '/checkout-sessions/chk_x')
    expect(v.status).toBe(422)
    expect(v.body['code']).toBe('version_unsupported')
  })

  it('answers capabilities_incompatible (HTTP 200, error envelope) when checkout is not in the intersection', async () => {
    const orderOnly = profiles.serve('/profiles/order-only.json', platformProfile({ capabilities: [CAP.order] }))
    const r = await ucpClient({ endpoint, profileUrl: orderOnly })('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }] })
    expect(r.status).toBe(200)
    expectValid(schemas.errorResponse, r.body)
    expect((r.body['messages'] as Array<Record<string, unknown>>)[0]?.['code']).toBe('capabilities_incompatible')
  })
})

describe('checkout REST', () => {
  it('create → update (full replacement) → get → complete → order, every response schema-valid, totals consistent', async () => {
    const call = client()
    const created = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }] })
    expect(created.status).toBe(201)
    expectValid(schemas.checkout([...EXT, CAP.ap2]), created.body)
    expect(created.body['status']).toBe('incomplete')
    const id = created.body['id'] as string
    const totals = created.body['totals'] as Array<{ type: string; amount: number }>
    expect(totals.filter((t) => t.type === 'subtotal')).toEqual([{ type: 'subtotal', amount: 1500 }])
    expect(totals.filter((t) => t.type === 'total')).toEqual([{ type: 'total', amount: 1500 }])

    const updated = await call('PUT', `/checkout-sessions/${id}`, { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 3 }], fulfillment: shipping, discounts: { codes: ['10OFF', 'NOPE'] } })
    expect(updated.status).toBe(200)
    expectValid(schemas.checkout([...EXT, CAP.ap2]), updated.body)
    expect(updated.body['status']).toBe('ready_for_complete')
    const t = Object.fromEntries((updated.body['totals'] as Array<{ type: string; amount: number }>).map((x) => [x.type, x.amount]))
    expect(t).toEqual({ subtotal: 4500, discount: -450, fulfillment: 500, total: 4550 })
    expect(updated.body['messages']).toEqual([expect.objectContaining({ type: 'warning', code: 'discount_code_invalid', path: '$.discounts.codes[1]' })])

    const got = await call('GET', `/checkout-sessions/${id}`)
    expect(got.status).toBe(200)
    expectValid(schemas.checkout([...EXT, CAP.ap2]), got.body)
    expect(got.body['totals']).toEqual(updated.body['totals'])

    expect(got.body['ap2']).toBeUndefined() // not negotiated with this platform

    const declined = await call('POST', `/checkout-sessions/${id}/complete`, mockPayment('fail_token'))
    expect(declined.status).toBe(200)
    expectValid(schemas.checkout(EXT), declined.body)
    expect(declined.body['status']).toBe('ready_for_complete')
    expect((declined.body['messages'] as Array<Record<string, unknown>>)[0]).toMatchObject({ type: 'error', code: 'payment_failed' })

    const done = await call('POST', `/checkout-sessions/${id}/complete`, mockPayment(), { idempotencyKey: 'complete-1' })
    expect(done.status).toBe(200)
    expectValid(schemas.checkout(EXT), done.body)
    expect(done.body['status']).toBe('completed')
    expect(done.text).not.toContain('success_token')
    const order = done.body['order'] as { id: string; permalink_url: string }
    expect(order.id).toMatch(/^ord_/)
    const again = await call('POST', `/checkout-sessions/${id}/complete`, mockPayment(), { idempotencyKey: 'complete-1' })
    expect(again.text).toBe(done.text)

    const o = await call('GET', `/orders/${order.id}`)
    expect(o.status).toBe(200)
    expectValid(schemas.order, o.body)
    expect(o.body).toMatchObject({ id: order.id, checkout_id: id, currency: 'USD' })
    expect(o.body['totals']).toEqual(updated.body['totals'])
    // Exactly one intent, settled, for this checkout (the declined attempt is its own failed intent).
    const intents = await gw.gateway.store.listIntents({ limit: 50, protocol: 'ucp' })
    const mine = intents.items.filter((i) => i.origin.ref === id)
    expect(mine.map((i) => i.status).sort()).toEqual(['failed', 'succeeded'])
    expect(gw.logs.join('\n')).not.toContain('success_token')
  })

  it('out-of-stock and unknown items become typed messages; an all-unknown create is an error envelope', async () => {
    const call = client()
    const r = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'gardenias' }, quantity: 1 }, { item: { id: 'pink_wumpus' }, quantity: 1 }] })
    expect(r.status).toBe(201)
    expectValid(schemas.checkout(EXT), r.body)
    expect((r.body['messages'] as Array<Record<string, unknown>>).map((m) => m['code']).sort()).toEqual(['not_found', 'out_of_stock'])
    const none = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pink_wumpus' }, quantity: 1 }] })
    expect(none.status).toBe(200)
    expectValid(schemas.errorResponse, none.body)
    const bad = await call('POST', '/checkout-sessions', { line_items: 'nope' })
    expect(bad.status).toBe(400)
    expect(bad.body).toEqual({ code: 'invalid_request', content: expect.stringContaining('line_items') })
    const badJson = await call('POST', '/checkout-sessions', undefined, { rawBody: '{"line_items":' })
    expect(badJson.status).toBe(400)
    expect(badJson.body['code']).toBe('invalid_request')
  })

  it('idempotency: same key + same body replays; same key + another body is 409', async () => {
    const call = client()
    const body = { line_items: [{ item: { id: 'bouquet_tulips' }, quantity: 1 }] }
    const a = await call('POST', '/checkout-sessions', body, { idempotencyKey: 'idem-ucp-1' })
    const b = await call('POST', '/checkout-sessions', body, { idempotencyKey: 'idem-ucp-1' })
    expect(b.status).toBe(a.status)
    expect(b.text).toBe(a.text)
    const c = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'bouquet_tulips' }, quantity: 2 }] }, { idempotencyKey: 'idem-ucp-1' })
    expect(c.status).toBe(409)
    expect(c.body['code']).toBe('idempotency_conflict')
  })

  it('cancel: canceled checkouts cannot be updated or completed', async () => {
    const call = client()
    const r = await createReady(call)
    const id = r.body['id'] as string
    const c = await call('POST', `/checkout-sessions/${id}/cancel`)
    expect(c.status).toBe(200)
    expect(c.body['status']).toBe('canceled')
    expectValid(schemas.checkout(EXT), c.body)
    const u = await call('PUT', `/checkout-sessions/${id}`, { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }] })
    expect(u.status).toBe(409)
    const k = await call('POST', `/checkout-sessions/${id}/complete`, mockPayment())
    expect(k.status).toBe(409)
  })

  it("another platform cannot read a checkout (not_found envelope)", async () => {
    const r = await createReady()
    const other = profiles.serve('/profiles/other.json', platformProfile({}))
    const g = await ucpClient({ endpoint, profileUrl: other })('GET', `/checkout-sessions/${r.body['id'] as string}`)
    expect(g.status).toBe(200)
    expectValid(schemas.errorResponse, g.body)
  })
})

describe('EVM rail on anvil, orders and signed webhooks', () => {
  it('a checkout settles on anvil through the one payment path; the order webhook arrives signed and verifiable', async () => {
    const call = client()
    const r = await createReady(call)
    const id = r.body['id'] as string
    const total = (r.body['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount
    expect(total).toBe(3500)
    const value = BigInt(total) * 10_000n // cents → 6-decimal token units
    const payer = chain.wallets[0]!
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)
    const signed = await signAuthorization({ privateKey: payer.privateKey, chainId: chain.chainId, token: chain.token, to: merchantWallet, value })
    const done = await call('POST', `/checkout-sessions/${id}/complete`, {
      payment: { instruments: [{ id: 'wallet_1', handler_id: 'evm_local', type: 'eip3009', credential: { type: 'eip3009', authorization: signed.authorization, signature: signed.signature } }] },
    })
    expect(done.status).toBe(200)
    expectValid(schemas.checkout(EXT), done.body)
    expect(done.body['status']).toBe('completed')
    expect(done.text).not.toContain(signed.signature)
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)).toBe(before + value)
    const orderId = (done.body['order'] as { id: string }).id

    // Response signature (@status content-digest content-type) with our published key.
    const ourKeys = [{ kid: merchantKey.kid, kty: 'EC', crv: 'P-256', x: merchantKey.x, y: merchantKey.y }]
    expect(checkContentDigest(done.headers['content-digest'] ?? '', Buffer.from(done.text))).toEqual({ ok: true })
    expect(done.headers['signature-input']).toMatch(/^sig1=\("@status" "content-digest" "content-type"\);created=\d+;keyid="gw-ucp-1"$/)

    // The order webhook goes through the outbox, signed with our key.
    const worker = createUcpWebhookWorker({ store: gw.gateway.store, key: merchantKey, profileUrl: 'http://gateway.test/.well-known/ucp' })
    await worker.runOnce()
    const d = await receiver.waitFor((x) => x.path === '/hooks/ucp' && (x.json as Record<string, unknown> | undefined)?.['id'] === orderId, { timeoutMs: 5000 })
    const h = (n: string): string | undefined => {
      const v = d.headers[n]
      return Array.isArray(v) ? v[0] : v
    }
    expect(h('webhook-id')).toMatch(/^evt_/)
    expect(h('webhook-timestamp')).toMatch(/^\d{10}$/)
    expect(h('ucp-agent')).toBe('profile="http://gateway.test/.well-known/ucp"')
    expect(h('agentswitch-signature')).toBeUndefined()
    const u = new URL(receiver.urlFor('/hooks/ucp'))
    const v = verifyRequestSignature({ method: 'POST', authority: u.host, path: '/hooks/ucp', query: '', header: h, body: d.body, keys: ourKeys })
    expect(v).toMatchObject({ ok: true, keyid: 'gw-ucp-1' })
    expect(v.ok && v.components).toEqual(expect.arrayContaining(['@method', '@authority', '@path', 'content-digest', 'content-type', 'ucp-agent', 'webhook-id', 'webhook-timestamp']))
    expectValid(schemas.order, d.json)
    expect(d.json).toMatchObject({ id: orderId, checkout_id: id })

    // A tampered body fails verification at the receiver.
    const tampered = verifyRequestSignature({ method: 'POST', authority: u.host, path: '/hooks/ucp', query: '', header: h, body: Buffer.from(d.text.replace('"USD"', '"EUR"')), keys: ourKeys })
    expect(tampered).toMatchObject({ ok: false, code: 'digest_mismatch' })

    // Shipping simulation: guarded, then an update webhook with a shipped event.
    const noSecret = await fetch(`${gw.url}/testing/simulate-shipping/${orderId}`, { method: 'POST' })
    expect(noSecret.status).toBe(403)
    expect(await noSecret.json()).toMatchObject({ code: 'forbidden' })
    const wrong = await fetch(`${gw.url}/testing/simulate-shipping/${orderId}`, { method: 'POST', headers: { 'Simulation-Secret': 'nope' } })
    expect(wrong.status).toBe(403)
    const ok = await fetch(`${gw.url}/testing/simulate-shipping/${orderId}`, { method: 'POST', headers: { 'Simulation-Secret': 's3cret' } })
    expect(ok.status).toBe(200)
    await worker.runOnce()
    const shipped = await receiver.waitFor(
      (x) => x.path === '/hooks/ucp' && ((x.json as { fulfillment?: { events?: Array<{ type: string }> } } | undefined)?.fulfillment?.events ?? []).some((e) => e.type === 'shipped'),
      { timeoutMs: 5000 },
    )
    expectValid(schemas.order, shipped.json)
    const o = await call('GET', `/orders/${orderId}`)
    expectValid(schemas.order, o.body)
    expect((o.body['line_items'] as Array<{ status: string }>)[0]?.status).toBe('fulfilled')
    await worker.stop()
  })
})

describe('RFC 9421 request signatures (platform publishes keys)', () => {
  const body = { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }] }
  it('accepts a valid signature over the raw bytes (even when not canonical JSON)', async () => {
    const call = ucpClient({ endpoint, profileUrl: signedProfileUrl, key: platformKey })
    const r = await call('POST', '/checkout-sessions', undefined, { rawBody: '{ "line_items" : [ { "item": {"id":"pot_ceramic"}, "quantity": 1 } ] }' })
    expect(r.status).toBe(201)
    expectValid(schemas.checkout(EXT), r.body)
    const g = await call('GET', `/checkout-sessions/${r.body['id'] as string}`)
    expect(g.status).toBe(200)
  })
  it('refuses a missing signature (401 signature_missing)', async () => {
    const r = await ucpClient({ endpoint, profileUrl: signedProfileUrl })('POST', '/checkout-sessions', body)
    expect(r.status).toBe(401)
    expect(r.body).toEqual({ code: 'signature_missing', content: expect.any(String) })
  })
  it('refuses a bad signature (401 signature_invalid) and an unknown key (401 key_not_found)', async () => {
    const call = ucpClient({ endpoint, profileUrl: signedProfileUrl, key: platformKey })
    const bad = await call('POST', '/checkout-sessions', body, { tamper: (h) => ({ ...h, Signature: `sig1=:${Buffer.alloc(64, 7).toString('base64')}:` }) })
    expect(bad.status).toBe(401)
    expect(bad.body['code']).toBe('signature_invalid')
    const other = await call('POST', '/checkout-sessions', body, { sign: generateUcpKey('not-published') })
    expect(other.status).toBe(401)
    expect(other.body['code']).toBe('key_not_found')
    const idem = await call('POST', '/checkout-sessions', body, { tamper: (h) => ({ ...h, 'Idempotency-Key': 'changed-after-signing' }) })
    expect(idem.status).toBe(401)
    expect(idem.body['code']).toBe('signature_invalid')
  })
  it('refuses a mismatched Content-Digest (400 digest_mismatch)', async () => {
    const call = ucpClient({ endpoint, profileUrl: signedProfileUrl, key: platformKey })
    const r = await call('POST', '/checkout-sessions', body, { tamper: (h) => ({ ...h, 'Content-Digest': `sha-256=:${Buffer.alloc(32).toString('base64')}:` }) })
    expect(r.status).toBe(400)
    expect(r.body).toEqual({ code: 'digest_mismatch', content: expect.any(String) })
  })
})

describe('AP2 mandates extension', () => {
  it('every checkout response carries a verifiable ap2.merchant_authorization; complete without a mandate is refused', async () => {
    const ap2Profile = profiles.serve('/profiles/ap2.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment, CAP.ap2] }))
    const call = ucpClient({ endpoint, profileUrl: ap2Profile })
    const r = await call('POST', '/checkout-sessions', { line_items: [{ item: { id: 'pot_ceramic' }, quantity: 1 }], fulfillment: shipping })
    expect(r.status).toBe(201)
    expectValid(schemas.checkout([CAP.fulfillment, CAP.ap2]), r.body)
    const keys = [{ kid: merchantKey.kid, kty: 'EC', crv: 'P-256', x: merchantKey.x, y: merchantKey.y }]
    const jws = (r.body['ap2'] as { merchant_authorization: string }).merchant_authorization
    expect(verifyMerchantAuthorization(r.body, jws, keys)).toEqual({ ok: true, kid: 'gw-ucp-1' })
    expect(verifyMerchantAuthorization({ ...r.body, currency: 'EUR' }, jws, keys)).toMatchObject({ ok: false })
    const id = r.body['id'] as string
    const g = await call('GET', `/checkout-sessions/${id}`)
    expect(verifyMerchantAuthorization(g.body, (g.body['ap2'] as { merchant_authorization: string }).merchant_authorization, keys)).toMatchObject({ ok: true })
    const c = await call('POST', `/checkout-sessions/${id}/complete`, mockPayment())
    expect(c.status).toBe(200)
    expect((c.body['messages'] as Array<Record<string, unknown>>)[0]).toMatchObject({ type: 'error', code: 'mandate_required' })
    expect(c.body['status']).toBe('ready_for_complete')
  })
})

describe('AP2 via UCP: complete with mandates', () => {
  const ap2Call = () => ucpClient({ endpoint, profileUrl: profiles.serve('/profiles/ap2.json', platformProfile({ capabilities: [CAP.checkout, CAP.order, CAP.fulfillment, CAP.ap2] })) })
  const evmComplete = async (total: number, mandates: { checkoutMandate: string; paymentMandate: string }) => {
    const signed = await signAuthorization({ privateKey: chain.wallets[0]!.privateKey, chainId: chain.chainId, token: chain.token, to: merchantWallet, value: BigInt(total) * 10_000n })
    return {
      payment: { instruments: [{ id: 'wallet_1', handler_id: 'evm_local', type: 'eip3009', credential: { type: 'eip3009', authorization: signed.authorization, signature: signed.signature, token: mandates.paymentMandate } }] },
      ap2: { checkout_mandate: mandates.checkoutMandate },
    }
  }
  const totalOf = (b: Record<string, unknown>) => (b['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount

  it('valid mandates over our merchant_authorization settle on anvil', async () => {
    const call = ap2Call()
    const r = await createReady(call)
    const id = r.body['id'] as string
    const mandates = humanPresentMandates(parties, { checkout: attachedCheckoutJws(r.body)!, instrument: { id: 'wallet_1', type: 'x402' } })
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)
    const done = await call('POST', `/checkout-sessions/${id}/complete`, await evmComplete(totalOf(r.body), mandates))
    expect(done.status).toBe(200)
    expect(done.body['messages']).toBeUndefined()
    expect(done.body['status']).toBe('completed')
    expectValid(schemas.checkout([CAP.fulfillment, CAP.ap2]), done.body)
    expect(done.text).not.toContain(mandates.paymentMandate)
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)).toBe(before + BigInt(totalOf(r.body)) * 10_000n)
    const intents = await gw.gateway.store.listIntents({ limit: 50, protocol: 'ucp' })
    expect(intents.items.find((i) => i.origin.ref === id)?.authorization.type).toBe('ap2.mandate')
  })

  it('a mandate for another checkout is refused with mandate_scope_mismatch and moves no money', async () => {
    const call = ap2Call()
    const a = await createReady(call)
    const b = await createReady(call)
    const mandatesForA = humanPresentMandates(parties, { checkout: attachedCheckoutJws(a.body)!, instrument: { id: 'wallet_1', type: 'x402' } })
    const before = await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)
    const r = await call('POST', `/checkout-sessions/${b.body['id'] as string}/complete`, await evmComplete(totalOf(b.body), mandatesForA))
    expect(r.status).toBe(200)
    expectValid(schemas.checkout([CAP.fulfillment, CAP.ap2]), r.body)
    expect(r.body['status']).toBe('ready_for_complete')
    expect((r.body['messages'] as Array<Record<string, unknown>>)[0]).toMatchObject({ type: 'error', code: 'mandate_scope_mismatch' })
    // A mandate signed over a forged checkout (not our merchant authorization) is refused too.
    const forged = humanPresentMandates(parties, { checkout: { ...(b.body as Record<string, unknown>), ap2: undefined }, instrument: { id: 'wallet_1', type: 'x402' } })
    const f = await call('POST', `/checkout-sessions/${b.body['id'] as string}/complete`, await evmComplete(totalOf(b.body), forged))
    expect((f.body['messages'] as Array<Record<string, unknown>>)[0]).toMatchObject({ type: 'error', code: 'merchant_authorization_invalid' })
    expect(await tokenBalance(chain.rpcUrl, chain.token.address, merchantWallet)).toBe(before)
  })
})
