/**
 * The payer's side of EIP-3009, for tests, dev scripts and demos: sign a transfer, receive or
 * cancel authorisation with a private key, exactly as x402 / MPP clients do (no RPC needed).
 */
import { randomBytes } from 'node:crypto'
import { getAddress, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'

/** The wire form (x402 `payload.authorization`): decimal strings, hex nonce. */
export interface SignedAuthorization {
  authorization: { from: Address; to: Address; value: string; validAfter: string; validBefore: string; nonce: Hex }
  signature: Hex
}

export interface SignAuthorizationParams {
  privateKey: Hex
  chainId: number
  token: { address: string; name: string; version: string }
  to: string
  value: bigint
  /** Default 0 (x402 SDK 2.27). */
  validAfter?: bigint | undefined
  /** Default now + 300 s. */
  validBefore?: bigint | undefined
  /** Default 32 random bytes. */
  nonce?: Hex | undefined
  /** Default `TransferWithAuthorization`. */
  primaryType?: 'TransferWithAuthorization' | 'ReceiveWithAuthorization' | undefined
}

const fields = [
  { name: 'from', type: 'address' },
  { name: 'to', type: 'address' },
  { name: 'value', type: 'uint256' },
  { name: 'validAfter', type: 'uint256' },
  { name: 'validBefore', type: 'uint256' },
  { name: 'nonce', type: 'bytes32' },
] as const

/** A fresh random EIP-3009 nonce. */
export function randomNonce(): Hex {
  return `0x${randomBytes(32).toString('hex')}`
}

/**
 * Sign an EIP-3009 authorisation (EIP-712, domain { name, version, chainId, verifyingContract }).
 *
 * @example const { authorization, signature } = await signAuthorization({ privateKey, chainId: 31337, token, to: merchant, value: 10_000n })
 */
export async function signAuthorization(params: SignAuthorizationParams): Promise<SignedAuthorization> {
  const account = privateKeyToAccount(params.privateKey)
  const message = {
    from: account.address,
    to: getAddress(params.to),
    value: params.value,
    validAfter: params.validAfter ?? 0n,
    validBefore: params.validBefore ?? BigInt(Math.floor(Date.now() / 1000) + 300),
    nonce: params.nonce ?? randomNonce(),
  }
  const primaryType = params.primaryType ?? 'TransferWithAuthorization'
  const signature = await account.signTypedData({
    domain: { name: params.token.name, version: params.token.version, chainId: params.chainId, verifyingContract: getAddress(params.token.address) },
    types: primaryType === 'TransferWithAuthorization' ? { TransferWithAuthorization: fields } : { ReceiveWithAuthorization: fields },
    primaryType,
    message,
  })
  return {
    authorization: {
      from: message.from,
      to: message.to,
      value: message.value.toString(),
      validAfter: message.validAfter.toString(),
      validBefore: message.validBefore.toString(),
      nonce: message.nonce,
    },
    signature,
  }
}

/** Sign `CancelAuthorization(authorizer, nonce)`. */
export async function signCancelAuthorization(params: { privateKey: Hex; chainId: number; token: { address: string; name: string; version: string }; nonce: Hex }): Promise<Hex> {
  const account = privateKeyToAccount(params.privateKey)
  return account.signTypedData({
    domain: { name: params.token.name, version: params.token.version, chainId: params.chainId, verifyingContract: getAddress(params.token.address) },
    types: { CancelAuthorization: [{ name: 'authorizer', type: 'address' }, { name: 'nonce', type: 'bytes32' }] },
    primaryType: 'CancelAuthorization',
    message: { authorizer: account.address, nonce: params.nonce },
  })
}
