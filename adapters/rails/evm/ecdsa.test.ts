/**
 * libsecp256k1 (WebAssembly) against viem's JavaScript ECDSA: the same signer recovered for every
 * 65-byte form (v 0/1/27/28, low and high s), nothing recovered where viem throws, and the same
 * signed transaction bytes.
 */
import { describe, expect, it } from 'vitest'
import { keccak256, recoverAddress, toHex, type Hex, type TransactionSerializableEIP1559 } from 'viem'
import { generatePrivateKey, privateKeyToAccount, sign } from 'viem/accounts'
import { recoverSignerAddress } from './ecdsa.js'
import { signEip1559 } from './relayer.js'

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
const word = (x: bigint): string => x.toString(16).padStart(64, '0')
const viemOrNull = async (hash: Hex, signature: Hex): Promise<string | null> => recoverAddress({ hash, signature }).catch(() => null)

describe('recoverSignerAddress', () => {
  it('recovers what viem recovers, for v 0/1/27/28 and high-s signatures, and fails where viem fails', async () => {
    let checked = 0
    for (let i = 0; i < 40; i++) {
      const key = generatePrivateKey()
      const hash = keccak256(toHex(`message ${i}`))
      const { r, s, yParity } = await sign({ hash, privateKey: key })
      const rs = `${r.slice(2)}${s.slice(2)}`
      const highS = `${r.slice(2)}${word(N - BigInt(s))}`
      const forms: Hex[] = [
        `0x${rs}${yParity ? '1c' : '1b'}`,
        `0x${rs}0${yParity}`,
        `0x${rs}${yParity ? '1b' : '1c'}`, // flipped parity: another key (or none)
        `0x${highS}${yParity ? '1b' : '1c'}`, // (r, n − s) with the other parity: the same key
        `0x${highS}${yParity ? '1c' : '1b'}`,
        `0x${rs}1d`, // v = 29: not a recovery id
        `0x${word(0n)}${s.slice(2)}1b`, // r = 0
        `0x${r.slice(2)}${word(N)}1b`, // s = n
        `0x${word(N + 1n)}${s.slice(2)}1b`, // r > n
        `0x${rs}`, // 64 bytes
      ]
      for (const signature of forms) {
        const ours = recoverSignerAddress(hash, signature)
        const theirs = signature.length === 132 && /^(1b|1c|00|01)$/.test(signature.slice(130)) ? await viemOrNull(hash, signature) : null
        expect(ours, signature).toBe(theirs)
        checked++
      }
      expect(recoverSignerAddress(hash, forms[0]!)).toBe(privateKeyToAccount(key).address)
      expect(recoverSignerAddress(hash, forms[3]!)).toBe(privateKeyToAccount(key).address)
    }
    expect(checked).toBe(400)
  })
})

describe('signEip1559', () => {
  it('produces the bytes of viem account.signTransaction', async () => {
    for (let i = 0; i < 40; i++) {
      const key = generatePrivateKey()
      const account = privateKeyToAccount(key)
      const tx: TransactionSerializableEIP1559 = {
        type: 'eip1559',
        chainId: 31337 + i,
        nonce: i * 7,
        to: privateKeyToAccount(generatePrivateKey()).address,
        data: keccak256(toHex(i)),
        gas: 100_000n + BigInt(i),
        maxFeePerGas: 10n ** 10n + BigInt(i),
        maxPriorityFeePerGas: BigInt(i),
        value: 0n,
      }
      expect(signEip1559(tx, Buffer.from(key.slice(2), 'hex'))).toBe(await account.signTransaction(tx))
    }
  })
})
