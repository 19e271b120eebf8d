/** ERC-20 `Transfer`. */
export const transferEvent = {
  type: 'event',
  name: 'Transfer',
  anonymous: false,
  inputs: [
    { name: 'from', type: 'address', indexed: true },
    { name: 'to', type: 'address', indexed: true },
    { name: 'value', type: 'uint256', indexed: false },
  ],
} as const

/** EIP-3009 `AuthorizationUsed`. */
export const authorizationUsedEvent = {
  type: 'event',
  name: 'AuthorizationUsed',
  anonymous: false,
  inputs: [
    { name: 'authorizer', type: 'address', indexed: true },
    { name: 'nonce', type: 'bytes32', indexed: true },
  ],
} as const

/** EIP-3009 `AuthorizationCanceled`. */
export const authorizationCanceledEvent = {
  type: 'event',
  name: 'AuthorizationCanceled',
  anonymous: false,
  inputs: [
    { name: 'authorizer', type: 'address', indexed: true },
    { name: 'nonce', type: 'bytes32', indexed: true },
  ],
} as const

/**
 * The minimal ABI the EVM rail uses: ERC-20 plus the EIP-3009 surface shared by USDC
 * (FiatTokenV2) and our sandbox token. Works with any EIP-3009 token, not only ours.
 */
export const eip3009Abi = [
  { type: 'function', name: 'name', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'string' }] },
  { type: 'function', name: 'version', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'string' }] },
  { type: 'function', name: 'decimals', stateMutability: 'view', inputs: [], outputs: [{ name: '', type: 'uint8' }] },
  {
    type: 'function',
    name: 'balanceOf',
    stateMutability: 'view',
    inputs: [{ name: 'account', type: 'address' }],
    outputs: [{ name: '', type: 'uint256' }],
  },
  {
    type: 'function',
    name: 'authorizationState',
    stateMutability: 'view',
    inputs: [
      { name: 'authorizer', type: 'address' },
      { name: 'nonce', type: 'bytes32' },
    ],
    outputs: [{ name: '', type: 'bool' }],
  },
  {
    type: 'function',
    name: 'transfer',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
    ],
    outputs: [{ name: '', type: 'bool' }],
  },
  {
    type: 'function',
    name: 'transferWithAuthorization',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
      { name: 'v', type: 'uint8' },
      { name: 'r', type: 'bytes32' },
      { name: 's', type: 'bytes32' },
    ],
    outputs: [],
  },
  {
    type: 'function',
    name: 'transferWithAuthorization',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [],
  },
  transferEvent,
  authorizationUsedEvent,
  authorizationCanceledEvent,
] as const

/** ERC-1271 `isValidSignature(bytes32,bytes)` (smart-contract wallets). */
export const erc1271Abi = [
  {
    type: 'function',
    name: 'isValidSignature',
    stateMutability: 'view',
    inputs: [
      { name: 'hash', type: 'bytes32' },
      { name: 'signature', type: 'bytes' },
    ],
    outputs: [{ name: '', type: 'bytes4' }],
  },
] as const

/** ERC-1271 magic value. */
export const ERC1271_MAGIC_VALUE = '0x1626ba7e'

/** The EIP-712 types of an EIP-3009 transfer authorisation (primaryType `TransferWithAuthorization`). */
export const transferWithAuthorizationTypes = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const

// --- ABI words: the static arguments this rail encodes by hand (one 32-byte word each) ---

/** An address as one ABI word (64 hex digits, no 0x). */
export function addressWord(a: string): string {
  if (a.length !== 42) throw new RangeError(`${a} is not an address`)
  return `000000000000000000000000${a.slice(2).toLowerCase()}`
}

/** One ABI word of an unsigned integer (< 2^256), as 64 hex digits. */
export function uintWord(n: bigint | number): string {
  const h = n.toString(16)
  if (n < 0 || h.length > 64) throw new RangeError(`${n} does not fit a uint256 word`)
  return h.padStart(64, '0')
}

/** One ABI word of a 32-byte value (`bytes32`), as 64 hex digits. */
export function bytes32Word(h: `0x${string}`): string {
  if (h.length !== 66) throw new RangeError(`${h} is not 32 bytes`)
  return h.slice(2).toLowerCase()
}
