import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import type { Address, Hex } from 'viem'
import { randomNonce, signAuthorization } from '../../../sandbox/chain/payer.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { Store } from '../../../core/store/port.js'
import type { EvmRail } from './evmRail.js'
import { Eip3009Reason } from './reasons.js'
import { startRailFixture, startRpcProxy, type RailFixture } from './testFixture.js'
import { SignatureCache, verifyEip3009Authorization, type Eip3009ChainReader } from './verifyEip3009Authorization.js'

const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))

// --- without a chain: what verification asks of the chain, and how often --------------------------

describe('verifyEip3009Authorization (fake chain reader)', () => {
  const token = { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address, name: 'Agentswitch USD', version: '2' }
  const payTo = privateKeyToAccount(generatePrivateKey()).address

  function fakeReader(): Eip3009ChainReader & { calls: string[]; maxInFlight: number } {
    let inFlight = 0
    const r = {
      calls: [] as string[],
      maxInFlight: 0,
      async track<T>(name: string, v: T): Promise<T> {
        r.calls.push(name)
        inFlight++
        r.maxInFlight = Math.max(r.maxInFlight, inFlight)
        await new Promise((res) => setTimeout(res, 5))
        inFlight--
        return v
      },
      tokenFacts: () => r.track('tokenFacts', { deployed: true, name: token.name, version: token.version }),
      hasCode: () => r.track('hasCode', false),
      isValidErc1271Signature: () => r.track('erc1271', false),
      balanceOf: () => r.track('balanceOf', 10n ** 12n),
      authorizationState: () => r.track('authorizationState', false as boolean | undefined),
      simulateTransfer: (_t: unknown, _a: unknown, _s: unknown, o: { estimateGas: boolean }) => r.track(o.estimateGas ? 'estimateGas' : 'call', { ok: true as const, ...(o.estimateGas ? { gas: 80_000n } : {}) }),
    }
    return r
  }

  it('recovers a signature once per message and reads balance, nonce state and simulation in parallel', async () => {
    const pk = generatePrivateKey()
    const s = await signAuthorization({ privateKey: pk, chainId: 31337, token, to: payTo, value: 10_000n })
    const reader = fakeReader()
    let recoveries = 0
    const cache = new (class extends SignatureCache {
      override set(key: string, value: Address | null): void {
        recoveries++
        super.set(key, value)
      }
    })()
    const params = { chainId: 31337, token, authorization: s.authorization, signature: s.signature, payTo, amount: 10_000n }
    const a = await verifyEip3009Authorization(reader, params, { signatureCache: cache })
    const b = await verifyEip3009Authorization(reader, { ...params, estimateGas: true }, { signatureCache: cache })
    expect(a).toEqual({ ok: true, payer: privateKeyToAccount(pk).address, authorization: expect.anything() })
    expect(b).toMatchObject({ ok: true, gas: 80_000n })
    expect(recoveries).toBe(1)
    // An EOA signature needs no RPC at all (no getCode); the three chain checks overlap.
    expect(reader.calls.filter((c) => c === 'hasCode' || c === 'erc1271')).toEqual([])
    expect(reader.calls).toEqual(['tokenFacts', 'balanceOf', 'authorizationState', 'call', 'tokenFacts', 'balanceOf', 'authorizationState', 'estimateGas'])
    expect(reader.maxInFlight).toBe(3)
  })

  it('local checks only (onChain: false) touch no reader method', async () => {
    const s = await signAuthorization({ privateKey: generatePrivateKey(), chainId: 31337, token, to: payTo, value: 1n })
    const reader = fakeReader()
    const r = await verifyEip3009Authorization(reader, { chainId: 31337, token, authorization: s.authorization, signature: s.signature, payTo, amount: 1n, onChain: false })
    expect(r.ok).toBe(true)
    expect(reader.calls).toEqual([])
  })

  it('malformed payloads are declines, not exceptions', async () => {
    const s = await signAuthorization({ privateKey: generatePrivateKey(), chainId: 31337, token, to: payTo, value: 1n })
    const reader = fakeReader()
    const base = { chainId: 31337, token, payTo, amount: 1n }
    expect(await verifyEip3009Authorization(reader, { ...base, authorization: { ...s.authorization, value: '1.5' }, signature: s.signature })).toMatchObject({
      ok: false,
      reason: 'invalid_payload',
    })
    expect(await verifyEip3009Authorization(reader, { ...base, authorization: { ...s.authorization, nonce: '0x12' }, signature: s.signature })).toMatchObject({
      ok: false,
      reason: 'invalid_payload',
    })
    expect(await verifyEip3009Authorization(reader, { ...base, authorization: s.authorization, signature: 'zz' })).toMatchObject({
      ok: false,
      reason: 'invalid_exact_evm_failed_to_parse_signature',
    })
    expect(await verifyEip3009Authorization(reader, { ...base, authorization: null as never, signature: s.signature })).toMatchObject({ ok: false, reason: 'invalid_payload' })
  })
})

// --- on a real chain: every reason string ---------------------------------------------------------

describe('EvmRail.verifyAuthorization (anvil)', () => {
  let fx: RailFixture
  let rail: EvmRail
  let store: Store
  let proxy: Awaited<ReturnType<typeof startRpcProxy>>
  let payer: { address: Address; privateKey: Hex }

  beforeAll(async () => {
    fx = await startRailFixture()
    proxy = await startRpcProxy(fx.chain.rpcUrl)
    store = await fx.openStore()
    rail = fx.makeRail(store, { rpcUrls: [proxy.url] }).rail
    ;[payer] = (await fx.newPayers(1, 1_000_000n)) as [{ address: Address; privateKey: Hex }]
  })
  afterAll(async () => {
    await proxy?.close()
    await fx?.close()
  })

  const verify = (s: { authorization: Record<string, string>; signature: Hex }, over: Partial<Parameters<EvmRail['verifyAuthorization']>[0]> = {}) =>
    rail.verifyAuthorization({
      network: fx.chain.network,
      asset: fx.chain.token.address,
      authorization: s.authorization as never,
      signature: s.signature,
      payTo: fx.merchant,
      amount: BigInt(s.authorization['value']!),
      ...over,
    })

  it('a valid authorisation passes, in one HTTP round trip once the token is known', async () => {
    const s = await fx.sign(payer, 10_000n)
    const first = await verify(s)
    expect(first).toMatchObject({ ok: true, payer: payer.address })
    const before = proxy.stats.http
    const again = await verify(await fx.sign(payer, 10_000n))
    expect(again.ok).toBe(true)
    // balanceOf + authorizationState + the eth_call simulation travel as one JSON-RPC batch.
    expect(proxy.stats.http - before).toBe(1)
  })

  it('bad signature: signed by another key', async () => {
    const s = await fx.sign({ privateKey: generatePrivateKey() }, 10_000n)
    const forged = { ...s, authorization: { ...s.authorization, from: payer.address } }
    expect(await verify(forged)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_signature', payer: payer.address })
  })

  it('tampered value: the signature no longer matches', async () => {
    const s = await fx.sign(payer, 10_000n)
    const tampered = { ...s, authorization: { ...s.authorization, value: '10001' } }
    expect(await verify(tampered)).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
  })

  it('wrong payTo', async () => {
    const s = await fx.sign(payer, 10_000n)
    expect(await verify(s, { payTo: privateKeyToAccount(generatePrivateKey()).address })).toMatchObject({
      ok: false,
      reason: 'invalid_exact_evm_recipient_mismatch',
    })
  })

  it('expired', async () => {
    const s = await fx.sign(payer, 10_000n, { validBefore: now() - 10n })
    expect(await verify(s)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_payload_authorization_valid_before' })
  })

  it('within the 6 s margin before validBefore (still valid on chain, refused here)', async () => {
    const inside = await fx.sign(payer, 10_000n, { validBefore: now() + 5n })
    expect(await verify(inside)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_payload_authorization_valid_before' })
    const outside = await fx.sign(payer, 10_000n, { validBefore: now() + 9n })
    expect(await verify(outside)).toMatchObject({ ok: true })
  })

  it('not yet valid', async () => {
    const s = await fx.sign(payer, 10_000n, { validAfter: now() + 60n })
    expect(await verify(s)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_payload_authorization_valid_after' })
  })

  it('value: exact by default, at least when asked', async () => {
    const s = await fx.sign(payer, 10_001n)
    expect(await verify(s, { amount: 10_000n })).toMatchObject({ ok: false, reason: 'invalid_exact_evm_payload_authorization_value_mismatch' })
    expect(await verify(s, { amount: 10_000n, amountMatch: 'at_least' })).toMatchObject({ ok: true })
    expect(await verify(s, { amount: 10_002n, amountMatch: 'at_least' })).toMatchObject({ ok: false, reason: Eip3009Reason.valueMismatch })
  })

  it('insufficient balance', async () => {
    const s = await fx.sign(payer, 1_000_001n)
    expect(await verify(s)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_insufficient_balance' })
    const broke = await fx.sign({ privateKey: generatePrivateKey() }, 1n)
    expect(await verify(broke)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_insufficient_balance' })
  })

  it('used nonce (after a settlement)', async () => {
    const s = await fx.sign(payer, 1_000n)
    const id = await fx.authorizedIntent(store, s)
    const { intent } = await settleIntent({ store }, { intentId: id, rail, credential: fx.credential(s), actor: 'system:test' })
    expect(intent.status).toBe('succeeded')
    expect(await verify(s)).toMatchObject({ ok: false, reason: 'invalid_exact_evm_nonce_already_used' })
  })

  it('domain mismatch, unknown network and unknown asset', async () => {
    const s = await fx.sign(payer, 10_000n)
    expect(await verify(s, { requiredDomain: { name: 'USD Coin', version: '2' } })).toMatchObject({ ok: false, reason: 'invalid_exact_evm_token_name_mismatch' })
    expect(await verify(s, { requiredDomain: { name: fx.chain.token.name, version: '1' } })).toMatchObject({ ok: false, reason: 'invalid_exact_evm_token_version_mismatch' })
    expect(await verify(s, { network: 'eip155:1' })).toMatchObject({ ok: false, reason: 'invalid_exact_evm_network_mismatch' })
    expect(await verify(s, { asset: privateKeyToAccount(generatePrivateKey()).address })).toMatchObject({ ok: false, reason: 'unsupported_asset' })
  })

  it('a signature for another chain or token domain is refused', async () => {
    const s = await signAuthorization({ privateKey: payer.privateKey, chainId: 1, token: fx.chain.token, to: fx.merchant, value: 10_000n, nonce: randomNonce() })
    expect(await verify(s)).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
  })
})
