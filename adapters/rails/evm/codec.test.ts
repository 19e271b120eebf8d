/**
 * The rail's hand-rolled encoders against viem's generic ones: the same calldata for both
 * `transferWithAuthorization` forms, the same verdict on Transfer logs as `parseEventLogs`.
 */
import { describe, expect, it } from 'vitest'
import { encodeAbiParameters, encodeEventTopics, encodeFunctionData, isAddressEqual, parseEventLogs, parseSignature, type Address, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { eip3009Abi } from './abi.js'
import { encodeTransferWithAuthorization, isTransferLog } from './evmRail.js'
import { transferWithAuthorizationArgs, type ParsedEip3009Authorization } from './verifyEip3009Authorization.js'
import { randomNonce } from '../../../sandbox/chain/payer.js'

const addr = (): Address => privateKeyToAccount(generatePrivateKey()).address
const hex = (bytes: number): Hex => `0x${Buffer.from(Array.from({ length: bytes }, () => Math.floor(Math.random() * 256))).toString('hex')}`

describe('encodeTransferWithAuthorization', () => {
  it('equals encodeFunctionData for the (v, r, s) and the bytes-signature forms', () => {
    for (let i = 0; i < 50; i++) {
      const auth: ParsedEip3009Authorization = {
        from: addr(),
        to: addr(),
        value: BigInt(hex(12)),
        validAfter: BigInt(i),
        validBefore: BigInt(hex(8)),
        nonce: randomNonce(),
      }
      for (const signature of [`${hex(64)}${i % 2 ? '1b' : '1c'}` as Hex, `${hex(64)}0${i % 2}` as Hex, hex(130 + i)]) {
        const args = transferWithAuthorizationArgs(auth, signature)
        expect(encodeTransferWithAuthorization(args)).toBe(encodeFunctionData({ abi: eip3009Abi, functionName: 'transferWithAuthorization', args: args as never }))
      }
    }
  })

  it('equals encodeFunctionData at the edges of uint256 and of the bytes padding, and refuses what viem refuses', () => {
    const max = (1n << 256n) - 1n
    const auth: ParsedEip3009Authorization = { from: addr(), to: addr(), value: max, validAfter: 0n, validBefore: max, nonce: randomNonce() }
    for (const signature of [hex(32), hex(33), hex(64), hex(96), hex(97)]) {
      const args = transferWithAuthorizationArgs(auth, signature)
      expect(encodeTransferWithAuthorization(args)).toBe(encodeFunctionData({ abi: eip3009Abi, functionName: 'transferWithAuthorization', args: args as never }))
    }
    const args = transferWithAuthorizationArgs({ ...auth, value: max + 1n }, `${hex(64)}1b`)
    expect(() => encodeFunctionData({ abi: eip3009Abi, functionName: 'transferWithAuthorization', args: args as never })).toThrow()
    expect(() => encodeTransferWithAuthorization(args)).toThrow(RangeError)
    expect(() => encodeTransferWithAuthorization(transferWithAuthorizationArgs({ ...auth, value: -1n }, `${hex(64)}1c`))).toThrow(RangeError)
  })
})

describe('transferWithAuthorizationArgs', () => {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const word = (x: bigint): string => x.toString(16).padStart(64, '0')
  /** What the rail built before, with viem's parseSignature. */
  const viemArgs = (auth: ParsedEip3009Authorization, signature: Hex): unknown => {
    const p = parseSignature(signature)
    const v = p.v !== undefined ? Number(p.v) : p.yParity + 27
    return [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, v < 27 ? v + 27 : v, p.r, p.s]
  }
  const outcome = (f: () => unknown): unknown => {
    try {
      return f()
    } catch {
      return 'refused'
    }
  }

  it('splits a 65-byte signature as parseSignature does and refuses what it refuses', () => {
    const auth: ParsedEip3009Authorization = { from: addr(), to: addr(), value: 1n, validAfter: 0n, validBefore: 99n, nonce: randomNonce() }
    const signatures: Hex[] = []
    for (const v of ['00', '01', '1b', '1c', '02', '1a', '1d', 'ff']) {
      signatures.push(`${hex(64)}${v}` as Hex, `${hex(64).toUpperCase().replace('0X', '0x')}${v}` as Hex)
      for (const [r, s] of [
        [0n, 5n],
        [5n, 0n],
        [n - 1n, n - 1n],
        [n, 5n],
        [5n, n],
        [(1n << 256n) - 1n, 5n],
      ] as const)
        signatures.push(`0x${word(r)}${word(s)}${v}` as Hex)
    }
    let refused = 0
    for (const signature of signatures) {
      const ours = outcome(() => transferWithAuthorizationArgs(auth, signature))
      expect(ours, signature).toEqual(outcome(() => viemArgs(auth, signature)))
      if (ours === 'refused') refused++
    }
    // Both refusals are exercised: every signature with a bad v (4 values × 8), and r or s out of
    // range (5 of the 6 edge pairs, for each good v).
    expect(refused).toBe(4 * 8 + 4 * 5)
  })
})

describe('isTransferLog', () => {
  const token = addr()
  const from = addr()
  const to = addr()
  const transfer = (o: { address?: Address; from?: Address; to?: Address; value?: bigint } = {}) => ({
    address: o.address ?? token,
    topics: encodeEventTopics({ abi: eip3009Abi, eventName: 'Transfer', args: { from: o.from ?? from, to: o.to ?? to } }) as Hex[],
    data: encodeAbiParameters([{ type: 'uint256' }], [o.value ?? 500n]),
  })
  /** What the rail decided before, with viem's decoder. */
  const viemVerdict = (log: ReturnType<typeof transfer>, f: Address, t?: Address, v?: bigint): boolean =>
    parseEventLogs({ abi: eip3009Abi, eventName: 'Transfer', logs: [{ ...log, topics: log.topics as [Hex, ...Hex[]], blockHash: null, blockNumber: null, logIndex: null, transactionHash: null, transactionIndex: null, removed: false }].filter((l) => isAddressEqual(l.address, token)) }).some(
      (l) => isAddressEqual(l.args.from, f) && (t === undefined || isAddressEqual(l.args.to, t)) && (v === undefined || l.args.value === v),
    )

  it('agrees with parseEventLogs on matching and non-matching logs', () => {
    const cases: Array<[ReturnType<typeof transfer>, Address, Address | undefined, bigint | undefined]> = [
      [transfer(), from, to, 500n],
      [transfer(), from, undefined, undefined],
      [transfer(), from, to, 501n],
      [transfer(), to, to, 500n],
      [transfer(), from, from, 500n],
      [transfer({ address: addr() }), from, to, 500n],
      [{ ...transfer(), topics: transfer().topics.slice(0, 2) }, from, undefined, undefined],
      [{ ...transfer(), topics: [hex(32), ...transfer().topics.slice(1)] }, from, to, 500n],
      [{ ...transfer(), address: token.toLowerCase() as Address }, from, to, 500n],
    ]
    for (const [log, f, t, v] of cases) expect(isTransferLog(log, token, f, t, v), JSON.stringify([log, f, t, v?.toString()])).toBe(viemVerdict(log, f, t, v))
    expect(cases.filter(([log, f, t, v]) => isTransferLog(log, token, f, t, v))).toHaveLength(3)
  })
})
