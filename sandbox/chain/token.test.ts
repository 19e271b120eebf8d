import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPublicClient,
  createWalletClient,
  domainSeparator,
  http,
  parseEventLogs,
  parseSignature,
  type Abi,
  type Address,
  type Hex,
  type PublicClient,
  type WalletClient,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { increaseTime, loadTokenArtifact, mine, startLocalChain, type LocalChain } from './anvil.js'
import { randomNonce, signAuthorization, signCancelAuthorization } from './payer.js'

// One anvil for the whole file: the token's EIP-3009 surface, called directly (no rail).
let chain: LocalChain
let pub: PublicClient
let relayer: WalletClient
let abi: Abi
const merchant = privateKeyToAccount(generatePrivateKey()).address

beforeAll(async () => {
  chain = await startLocalChain({ wallets: 3 })
  abi = loadTokenArtifact().abi as Abi
  const c = { id: chain.chainId, name: 'local', nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [chain.rpcUrl] } } } as const
  pub = createPublicClient({ chain: c, transport: http(chain.rpcUrl), pollingInterval: 10 })
  relayer = createWalletClient({ chain: c, transport: http(chain.rpcUrl), account: privateKeyToAccount(chain.relayer.privateKey), pollingInterval: 10 })
})
afterAll(async () => {
  await chain?.stop()
})

const payer = (): { address: Address; privateKey: Hex } => chain.wallets[0]!
const balanceOf = (a: Address): Promise<bigint> => pub.readContract({ address: chain.token.address, abi, functionName: 'balanceOf', args: [a] }) as Promise<bigint>
const state = (a: Address, n: Hex): Promise<boolean> => pub.readContract({ address: chain.token.address, abi, functionName: 'authorizationState', args: [a, n] }) as Promise<boolean>

type DecodedLog = { eventName: string; args: Record<string, unknown> }

async function send(functionName: string, args: readonly unknown[], from: WalletClient = relayer): Promise<{ hash: Hex; logs: DecodedLog[] }> {
  // Simulate first so that a revert surfaces with its reason (and nothing is mined).
  const { request } = await pub.simulateContract({ address: chain.token.address, abi, functionName, args, account: from.account! })
  const hash = await from.writeContract(request as never)
  const receipt = await pub.waitForTransactionReceipt({ hash, pollingInterval: 10 })
  expect(receipt.status).toBe('success')
  return { hash, logs: parseEventLogs({ abi, logs: receipt.logs }) as unknown as DecodedLog[] }
}

async function reverts(functionName: string, args: readonly unknown[], reason: RegExp, from: WalletClient = relayer): Promise<void> {
  await expect(pub.simulateContract({ address: chain.token.address, abi, functionName, args, account: from.account! })).rejects.toThrow(reason)
}

function argsOf(a: Awaited<ReturnType<typeof signAuthorization>>['authorization']): readonly unknown[] {
  return [a.from, a.to, BigInt(a.value), BigInt(a.validAfter), BigInt(a.validBefore), a.nonce]
}

function vrs(sig: Hex): readonly unknown[] {
  const p = parseSignature(sig)
  return [Number(p.v ?? BigInt(p.yParity + 27)), p.r, p.s]
}

describe('AgentswitchUSD (our EIP-3009 token)', () => {
  it('has 6 decimals and the EIP-712 domain viem computes', async () => {
    const [decimals, name, version, sep] = await Promise.all([
      pub.readContract({ address: chain.token.address, abi, functionName: 'decimals' }),
      pub.readContract({ address: chain.token.address, abi, functionName: 'name' }),
      pub.readContract({ address: chain.token.address, abi, functionName: 'version' }),
      pub.readContract({ address: chain.token.address, abi, functionName: 'DOMAIN_SEPARATOR' }),
    ])
    expect({ decimals, name, version }).toEqual({ decimals: 6, name: 'Agentswitch USD', version: '2' })
    expect(sep).toBe(domainSeparator({ domain: { name: 'Agentswitch USD', version: '2', chainId: chain.chainId, verifyingContract: chain.token.address } }))
  })

  it('transferWithAuthorization (v, r, s) moves the value once and marks the nonce used', async () => {
    const s = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 1_250_000n })
    const before = await balanceOf(payer().address)
    expect(await state(payer().address, s.authorization.nonce)).toBe(false)
    const { logs } = await send('transferWithAuthorization', [...argsOf(s.authorization), ...vrs(s.signature)])
    expect(logs.map((l) => l.eventName)).toEqual(['AuthorizationUsed', 'Transfer'])
    expect(logs[1]!.args).toEqual({ from: payer().address, to: merchant, value: 1_250_000n })
    expect(await balanceOf(payer().address)).toBe(before - 1_250_000n)
    expect(await balanceOf(merchant)).toBe(1_250_000n)
    expect(await state(payer().address, s.authorization.nonce)).toBe(true)
    // The same authorisation again: refused, nothing moves.
    await reverts('transferWithAuthorization', [...argsOf(s.authorization), ...vrs(s.signature)], /authorization is used or canceled/)
    await reverts('transferWithAuthorization', [...argsOf(s.authorization), s.signature], /authorization is used or canceled/)
    expect(await balanceOf(merchant)).toBe(1_250_000n)
  })

  it('transferWithAuthorization (bytes signature) works the same', async () => {
    const s = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 5n })
    const before = await balanceOf(merchant)
    await send('transferWithAuthorization', [...argsOf(s.authorization), s.signature])
    expect(await balanceOf(merchant)).toBe(before + 5n)
  })

  it('refuses a bad signature, a tampered value, an expired and a not-yet-valid authorisation', async () => {
    const now = BigInt((await pub.getBlock()).timestamp)
    const good = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 7n })
    const tampered = { ...good.authorization, value: '8' }
    await reverts('transferWithAuthorization', [...argsOf(tampered), good.signature], /invalid signature/)
    const other = await signAuthorization({ privateKey: generatePrivateKey(), chainId: chain.chainId, token: chain.token, to: merchant, value: 7n, nonce: good.authorization.nonce })
    await reverts('transferWithAuthorization', [...argsOf(good.authorization), other.signature], /invalid signature/)
    const expired = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 7n, validBefore: now - 1n })
    await reverts('transferWithAuthorization', [...argsOf(expired.authorization), expired.signature], /authorization is expired/)
    const early = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 7n, validAfter: now + 3600n })
    await reverts('transferWithAuthorization', [...argsOf(early.authorization), early.signature], /authorization is not yet valid/)
    const tooMuch = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 10n ** 30n })
    await reverts('transferWithAuthorization', [...argsOf(tooMuch.authorization), tooMuch.signature], /transfer amount exceeds balance/)
  })

  it('an authorisation becomes invalid once its validBefore passes on chain', async () => {
    const now = BigInt((await pub.getBlock()).timestamp)
    const s = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 1n, validBefore: now + 30n })
    await increaseTime(chain.rpcUrl, 60)
    await mine(chain.rpcUrl)
    await reverts('transferWithAuthorization', [...argsOf(s.authorization), s.signature], /authorization is expired/)
    expect(await state(payer().address, s.authorization.nonce)).toBe(false)
  })

  it('receiveWithAuthorization: only the payee may call it, in both forms, with its own type hash', async () => {
    const payee = chain.wallets[1]!
    const payeeWallet = createWalletClient({ chain: relayer.chain!, transport: http(chain.rpcUrl), account: privateKeyToAccount(payee.privateKey) })
    const s = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: payee.address, value: 300n, primaryType: 'ReceiveWithAuthorization' })
    await reverts('receiveWithAuthorization', [...argsOf(s.authorization), ...vrs(s.signature)], /caller must be the payee/)
    // A TransferWithAuthorization signature is not a ReceiveWithAuthorization one.
    const t = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: payee.address, value: 300n })
    await reverts('receiveWithAuthorization', [...argsOf(t.authorization), t.signature], /invalid signature/, payeeWallet)
    const before = await balanceOf(payee.address)
    await send('receiveWithAuthorization', [...argsOf(s.authorization), ...vrs(s.signature)], payeeWallet)
    expect(await balanceOf(payee.address)).toBe(before + 300n)
    const s2 = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: payee.address, value: 1n, primaryType: 'ReceiveWithAuthorization' })
    await send('receiveWithAuthorization', [...argsOf(s2.authorization), s2.signature], payeeWallet)
    expect(await balanceOf(payee.address)).toBe(before + 301n)
    await reverts('receiveWithAuthorization', [...argsOf(s2.authorization), s2.signature], /authorization is used or canceled/, payeeWallet)
  })

  it('cancelAuthorization burns the nonce (both forms): the authorisation can no longer be used', async () => {
    const nonce = randomNonce()
    const s = await signAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, to: merchant, value: 9n, nonce })
    const cancel = await signCancelAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, nonce })
    const wrong = await signCancelAuthorization({ privateKey: generatePrivateKey(), chainId: chain.chainId, token: chain.token, nonce })
    await reverts('cancelAuthorization', [payer().address, nonce, wrong], /invalid signature/)
    const { logs } = await send('cancelAuthorization', [payer().address, nonce, ...vrs(cancel)])
    expect(logs.map((l) => l.eventName)).toEqual(['AuthorizationCanceled'])
    expect(await state(payer().address, nonce)).toBe(true)
    await reverts('transferWithAuthorization', [...argsOf(s.authorization), s.signature], /authorization is used or canceled/)
    await reverts('cancelAuthorization', [payer().address, nonce, cancel], /authorization is used or canceled/)
    const nonce2 = randomNonce()
    const cancel2 = await signCancelAuthorization({ privateKey: payer().privateKey, chainId: chain.chainId, token: chain.token, nonce: nonce2 })
    await send('cancelAuthorization', [payer().address, nonce2, cancel2])
    expect(await state(payer().address, nonce2)).toBe(true)
  })

  it('mint and mintBatch are restricted to the deployer', async () => {
    await reverts('mint', [merchant, 1n], /caller is not the minter/)
    const deployer = createWalletClient({ chain: relayer.chain!, transport: http(chain.rpcUrl), account: privateKeyToAccount(chain.deployer.privateKey) })
    const before = await balanceOf(merchant)
    await send('mint', [merchant, 2n], deployer)
    expect(await balanceOf(merchant)).toBe(before + 2n)
  })
})
