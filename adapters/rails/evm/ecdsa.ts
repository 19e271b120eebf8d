/**
 * secp256k1 ECDSA for the EVM rail's hot path on libsecp256k1 (compiled to WebAssembly by
 * `tiny-secp256k1`): public-key recovery of 65-byte signatures and deterministic signing of
 * transaction digests. The same answers as viem's `recoverAddress` / `signTransaction` (which use
 * `@noble/curves` in JavaScript; tests hold them equal, high-s signatures included) at a fraction
 * of the CPU: a recovery in about 0.3 ms instead of 1.4 ms, a signature in about 0.1 ms instead of
 * 0.3 ms — one of each per settlement.
 */
import { getAddress, keccak256, type Address, type Hex } from 'viem'
import * as secp from 'tiny-secp256k1'

const HEX65 = /^0x[0-9a-fA-F]{130}$/

/**
 * The address that signed `digest` with the 65-byte (r ‖ s ‖ v) `signature`, v ∈ {0, 1, 27, 28};
 * `null` when the signature is not of that form or does not recover (r or s out of range, no point).
 */
export function recoverSignerAddress(digest: Hex, signature: Hex): Address | null {
  if (!HEX65.test(signature) || digest.length !== 66) return null
  const v = Number.parseInt(signature.slice(130, 132), 16)
  const recoveryId = v === 0 || v === 27 ? 0 : v === 1 || v === 28 ? 1 : undefined
  if (recoveryId === undefined) return null
  let point: Uint8Array | null
  try {
    point = secp.recover(Buffer.from(digest.slice(2), 'hex'), Buffer.from(signature.slice(2, 130), 'hex'), recoveryId, false)
  } catch {
    return null // r or s not in [1, n-1]
  }
  if (!point) return null
  // The address is the last 20 bytes of keccak256 of the uncompressed key without its 0x04 prefix.
  return getAddress(`0x${keccak256(point.subarray(1)).slice(26)}`)
}

/** A deterministic (RFC 6979), low-s signature of a 32-byte digest: the fields of a signed transaction. */
export function signDigest(digest: Uint8Array, privateKey: Uint8Array): { r: Hex; s: Hex; yParity: 0 | 1 } {
  const { signature, recoveryId } = secp.signRecoverable(digest, privateKey)
  // 2 and 3 (r ≥ n) have probability about 2^-127 and no yParity: refuse rather than sign wrongly.
  if (recoveryId > 1) throw new Error('signature recovery id out of range')
  const hex = Buffer.from(signature).toString('hex')
  return { r: `0x${hex.slice(0, 64)}`, s: `0x${hex.slice(64)}`, yParity: recoveryId === 1 ? 1 : 0 }
}
