import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { hashTypedData, type Address, type Hex } from 'viem'
import { randomNonce, signAuthorization } from '../../../sandbox/chain/payer.js'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import type { Store } from '../../../core/store/port.js'
import type { EvmRail } from './evmRail.js'
import { Eip3009Reason } from './reasons.js'
import { startRailFixture, startRpcProxy, type RailFixture } from './testFixture.js'
import { transferWithAuthorizationTypes } from './abi.js'
import { eip3009Digest, parseEip3009Authorization, SignatureCache, verifyEip3009Authorization, type Eip3009ChainReader } from './verifyEip3009Authorization.js'

const now = (): bigint => BigInt(Math.floor(Date.now() / 1000))

// --- the hand-encoded EIP-712 digest is viem's hashTypedData ---------------------------------------

describe('eip3009Digest', () => {
  it('equals hashTypedData for many authorizations, domains and chains (cached domain separators included)', () => {
    const tokens = [
      { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address, name: 'Agentswitch USD', version: '2' },
      { address: '0x036cbd53842c5426634e7929541ec2318f3dcf7e' as Address, name: 'USDC', version: '2' },
      { address: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' as Address, name: 'USD Coin', version: '1' },
    ]
    const values = [0n, 1n, 10_000n, (1n << 256n) - 1n]
    let checked = 0
    for (const chainId of [1, 8453, 31337, 84532]) {
      for (const [i, token] of tokens.entries()) {
        for (const value of values) {
          const auth = parseEip3009Authorization({
            from: privateKeyToAccount(generatePrivateKey()).address.toLowerCase(),
            to: privateKeyToAccount(generatePrivateKey()).address,
            value: value.toString(),
            validAfter: String(i),
            validBefore: value === 0n ? '0' : String(1_800_000_000 + i),
            nonce: randomNonce(),
          })!
          const expected = hashTypedData({
            domain: { name: token.name, version: token.version, chainId, verifyingContract: token.address },
            types: transferWithAuthorizationTypes,
            primaryType: 'TransferWithAuthorization',
            message: auth,
          })
          // twice: the second call takes the cached domain separator
          expect(eip3009Digest(chainId, token, auth)).toBe(expected)
          expect(eip3009Digest(chainId, { ...token, address: token.address.toLowerCase() as Address }, auth)).toBe(expected)
          checked++
        }
      }
    }
    expect(checked).toBe(48)
  })
})

// --- the signature check of repeat payers ------------------------------------------------------------

describe('signature check of a repeat payer', () => {
  const token = { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address, name: 'Agentswitch USD', version: '2' }
  const payTo = privateKeyToAccount(generatePrivateKey()).address
  const noChain = {} as Eip3009ChainReader
  const check = (a: { authorization: unknown; signature: string }) =>
    verifyEip3009Authorization(noChain, { chainId: 31337, token, authorization: a.authorization as never, signature: a.signature, payTo, amount: 10_000n, onChain: false })
  const sign = (privateKey: Hex) => signAuthorization({ privateKey, chainId: 31337, token, to: payTo, value: 10_000n, validBefore: now() + 3600n })

  it('accepts every genuine signature of a repeat payer and refuses forgeries, a flipped v and another signer', async () => {
    const payer = generatePrivateKey()
    const intruder = generatePrivateKey()
    for (let i = 0; i < 6; i++) {
      const genuine = await sign(payer)
      expect(await check(genuine)).toMatchObject({ ok: true, payer: genuine.authorization.from })
      const v = genuine.signature.slice(130)
      const flipped = `${genuine.signature.slice(0, 130)}${v === '1b' ? '1c' : '1b'}`
      expect(await check({ ...genuine, signature: flipped })).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
      const tampered = { ...genuine, authorization: { ...genuine.authorization, value: '10001' } }
      expect(await verifyEip3009Authorization(noChain, { chainId: 31337, token, authorization: tampered.authorization, signature: tampered.signature, payTo, amount: 10_001n, onChain: false })).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
      const other = await sign(intruder)
      expect(await check({ ...other, authorization: { ...other.authorization, from: genuine.authorization.from } })).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
      const badV = `${genuine.signature.slice(0, 130)}05`
      expect(await check({ ...genuine, signature: badV })).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
    }
  })
})

// --- without a chain: what verification asks of the chain, and how often --------------------------

describe('verifyEip3009Authorization (fake chain reader)', () => {
  const token = { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address, name: 'Agentswitch USD', version: '2' }
  const payTo = privateKeyToAccount(generatePrivateKey()).address

  function fakeReader(): Eip3009ChainReader & { calls: string[]; maxInFlight: number; track<T>(name: string, v: T): Promise<T> } {
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

  it('recovers a signature once per message, and not at all when a simulation passes; a passing simulation is the only chain read', async () => {
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
    // The token checked the signature in the simulation: nothing recovered locally.
    expect(recoveries).toBe(0)
    // Without the chain the signature decides: recovered once, then taken from the cache.
    expect(await verifyEip3009Authorization(reader, { ...params, onChain: false }, { signatureCache: cache })).toMatchObject({ ok: true })
    expect(await verifyEip3009Authorization(reader, { ...params, onChain: false }, { signatureCache: cache })).toMatchObject({ ok: true })
    expect(recoveries).toBe(1)
    // An EOA signature needs no RPC at all (no getCode); the token refuses a used nonce and a short
    // balance itself, so a simulation that passes needs neither read.
    expect(reader.calls.filter((c) => c === 'hasCode' || c === 'erc1271')).toEqual([])
    expect(reader.calls).toEqual(['tokenFacts', 'call', 'tokenFacts', 'estimateGas'])
    expect(reader.maxInFlight).toBe(1)
  })

  it('a failed simulation reads balance and nonce state (in parallel) to name the reason in the SDK order', async () => {
    const s = await signAuthorization({ privateKey: generatePrivateKey(), chainId: 31337, token, to: payTo, value: 10_000n })
    const params = { chainId: 31337, token, authorization: s.authorization, signature: s.signature, payTo, amount: 10_000n }
    const failing = (over: { balance?: bigint; used?: boolean | undefined; revert?: string }): Eip3009ChainReader & { calls: string[]; maxInFlight: number } => {
      const r = fakeReader()
      return {
        ...r,
        balanceOf: () => r.track('balanceOf', over.balance ?? 10n ** 12n),
        authorizationState: () => r.track('authorizationState', 'used' in over ? over.used : false),
        simulateTransfer: () => r.track('call', { ok: false as const, message: over.revert ?? 'execution reverted' }),
        get calls() {
          return r.calls
        },
        get maxInFlight() {
          return r.maxInFlight
        },
      }
    }
    const used = failing({ used: true, balance: 0n })
    expect(await verifyEip3009Authorization(used, params)).toMatchObject({ ok: false, reason: Eip3009Reason.nonceAlreadyUsed })
    expect(used.calls).toEqual(['tokenFacts', 'call', 'balanceOf', 'authorizationState'])
    expect(used.maxInFlight).toBe(2)
    expect(await verifyEip3009Authorization(failing({ used: undefined }), params)).toMatchObject({ ok: false, reason: Eip3009Reason.eip3009NotSupported })
    expect(await verifyEip3009Authorization(failing({ balance: 9_999n }), params)).toMatchObject({ ok: false, reason: Eip3009Reason.insufficientBalance })
    // A signature that does not recover is reported before any chain reason, and also when the chain
    // cannot be read (only a good signature lets the outage through).
    const forged = { ...params, authorization: { ...s.authorization, from: privateKeyToAccount(generatePrivateKey()).address } }
    expect(await verifyEip3009Authorization(failing({ used: true }), forged)).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
    const down = { ...fakeReader(), simulateTransfer: () => Promise.reject(new Error('rpc down')) }
    expect(await verifyEip3009Authorization(down, forged)).toMatchObject({ ok: false, reason: Eip3009Reason.invalidSignature })
    await expect(verifyEip3009Authorization(down, params)).rejects.toThrow('rpc down')
    expect(await verifyEip3009Authorization(failing({ revert: 'execution reverted: something else' }), params)).toMatchObject({
      ok: false,
      reason: Eip3009Reason.simulationFailed,
      message: 'execution reverted: something else',
    })
  })

  it('a token that does not answer authorizationState (which reconciliation reads) is refused before any simulation', async () => {
    const s = await signAuthorization({ privateKey: generatePrivateKey(), chainId: 31337, token, to: payTo, value: 1n })
    const reader = fakeReader()
    const notEip3009 = { ...reader, tokenFacts: () => reader.track('tokenFacts', { deployed: true, name: token.name, version: token.version, eip3009: false }) }
    const r = await verifyEip3009Authorization(notEip3009, { chainId: 31337, token, authorization: s.authorization, signature: s.signature, payTo, amount: 1n })
    expect(r).toMatchObject({ ok: false, reason: Eip3009Reason.eip3009NotSupported })
    expect(reader.calls).toEqual(['tokenFacts'])
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
