import { encodeAbiParameters, getAddress, isAddress, isHex, keccak256, stringToHex, type Address, type Hex } from 'viem'
import { addressWord, bytes32Word, uintWord } from './abi.js'
import { recoverSignerAddress } from './ecdsa.js'
import { Eip3009Reason, reasonFromRevert, type Eip3009ReasonCode } from './reasons.js'

/**
 * An EIP-3009 `TransferWithAuthorization` as it travels in x402 / MPP payloads: numbers are
 * decimal strings, `nonce` is 32 bytes of hex (x402 v2 §6.1).
 */
export interface Eip3009Authorization {
  from: string
  to: string
  value: string
  validAfter: string
  validBefore: string
  nonce: string
}

/** The authorisation with its fields checked and typed. */
export interface ParsedEip3009Authorization {
  from: Address
  to: Address
  value: bigint
  validAfter: bigint
  validBefore: bigint
  nonce: Hex
}

/** The EIP-712 domain facts of a token (`chainId` comes separately). */
export interface Eip3009TokenDomain {
  address: Address
  name: string
  version: string
}

/**
 * The chain reads verification needs: a small structural port, so the x402 facilitator can
 * reuse {@link verifyEip3009Authorization} with the rail's reader (`EvmRail.reader(chainId)`)
 * and tests can pass a fake. Every method may throw when no RPC endpoint answers (an outage,
 * never a verdict).
 */
export interface Eip3009ChainReader {
  /**
   * Whether code exists at the token, its `name()` / `version()` (undefined when they revert), and
   * whether it answers `authorizationState` (an EIP-3009 token). Cached by the rail.
   */
  tokenFacts(token: Address): Promise<{ deployed: boolean; name?: string | undefined; version?: string | undefined; eip3009?: boolean | undefined }>
  /** Whether `wallet` has code (ERC-1271 path). */
  hasCode(wallet: Address): Promise<boolean>
  /** ERC-1271 `isValidSignature(digest, signature)` returned the magic value. */
  isValidErc1271Signature(wallet: Address, digest: Hex, signature: Hex): Promise<boolean>
  balanceOf(token: Address, owner: Address): Promise<bigint>
  /** `authorizationState(authorizer, nonce)`; `undefined` when the call reverts (not an EIP-3009 token). */
  authorizationState(token: Address, authorizer: Address, nonce: Hex): Promise<boolean | undefined>
  /**
   * Simulate `transferWithAuthorization` from the relayer: `eth_call`, or `eth_estimateGas` when
   * `estimateGas` is set (settlement needs the gas; verification only the verdict, and
   * `eth_call` is about half the node's work).
   */
  simulateTransfer(
    token: Address,
    auth: ParsedEip3009Authorization,
    signature: Hex,
    options: { estimateGas: boolean },
  ): Promise<{ ok: true; gas?: bigint | undefined } | { ok: false; message: string }>
}

export interface VerifyEip3009Parameters {
  chainId: number
  /** The token as configured (never as claimed by the payer). */
  token: Eip3009TokenDomain
  authorization: Eip3009Authorization
  signature: string
  /** The expected recipient, from the server's own configuration. */
  payTo: string
  /** The required amount in token units. */
  amount: bigint
  /** `exact` (x402 v2, default): value must equal amount; `at_least` (x402 v1 text): value ≥ amount. */
  amountMatch?: 'exact' | 'at_least' | undefined
  /** The EIP-712 domain the payer was told to sign (x402 `extra.name`/`extra.version`), if any: must match the token. */
  requiredDomain?: { name?: string | undefined; version?: string | undefined } | undefined
  /** Unix seconds (default: the system clock). */
  now?: number | undefined
  /** `false`: only the checks that need no RPC (signature of an EOA, recipient, window, value). */
  onChain?: boolean | undefined
  /** Simulate with `eth_estimateGas` and return `gas` (settlement); default `eth_call`. */
  estimateGas?: boolean | undefined
}

export type VerifyEip3009Result =
  | {
      ok: true
      payer: Address
      authorization: ParsedEip3009Authorization
      /** The simulation's gas estimate (when `estimateGas` was asked for). */
      gas?: bigint | undefined
    }
  | { ok: false; reason: Eip3009ReasonCode; payer?: Address | undefined; message?: string | undefined }

/** The 6 s margin of x402 (digest §6.2.4): validBefore must leave time for about one block. */
export const VALID_BEFORE_MARGIN_SECONDS = 6n

const UINT256_MAX = (1n << 256n) - 1n
const UINT = /^(0|[1-9][0-9]{0,77})$/
const NONCE = /^0x[0-9a-fA-F]{64}$/

/**
 * Results of signature recovery by (digest, signature): an authorisation's signature is checked
 * once, however often it is verified and then settled. Bounded (oldest entries dropped).
 */
export class SignatureCache {
  readonly #entries = new Map<string, Address | null>()
  constructor(private readonly max = 10_000) {}
  get(key: string): Address | null | undefined {
    return this.#entries.get(key)
  }
  set(key: string, value: Address | null): void {
    if (this.#entries.size >= this.max) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(key, value)
  }
}

/** Check and type an authorisation; `undefined` when any field is malformed. */
export function parseEip3009Authorization(a: unknown): ParsedEip3009Authorization | undefined {
  if (typeof a !== 'object' || a === null) return undefined
  const r = a as Record<string, unknown>
  const { from, to, value, validAfter, validBefore, nonce } = r
  if (typeof from !== 'string' || !isAddress(from, { strict: false })) return undefined
  if (typeof to !== 'string' || !isAddress(to, { strict: false })) return undefined
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) return undefined
  const nums: bigint[] = []
  for (const v of [value, validAfter, validBefore]) {
    if (typeof v !== 'string' || !UINT.test(v)) return undefined
    const n = BigInt(v)
    if (n > UINT256_MAX) return undefined
    nums.push(n)
  }
  return { from: getAddress(from), to: getAddress(to), value: nums[0]!, validAfter: nums[1]!, validBefore: nums[2]!, nonce: nonce.toLowerCase() as Hex }
}

const DOMAIN_TYPEHASH = keccak256(stringToHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'))
const TRANSFER_TYPEHASH = keccak256(
  stringToHex('TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)'),
).slice(2)
/** EIP-712 domain separators by (chain, token, name, version): a handful per gateway, computed once. */
const domainSeparators = new Map<string, string>()

function domainSeparator(chainId: number, token: Eip3009TokenDomain): string {
  const key = `${chainId}:${token.address.toLowerCase()}:${token.name}:${token.version}`
  let ds = domainSeparators.get(key)
  if (ds === undefined) {
    ds = keccak256(
      encodeAbiParameters(
        [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
        [DOMAIN_TYPEHASH, keccak256(stringToHex(token.name)), keccak256(stringToHex(token.version)), BigInt(chainId), getAddress(token.address)],
      ),
    ).slice(2)
    if (domainSeparators.size >= 1_000) domainSeparators.clear()
    domainSeparators.set(key, ds)
  }
  return ds
}


/**
 * The EIP-712 digest the payer signed: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct)`, the
 * same value as viem's `hashTypedData` for the `TransferWithAuthorization` type (a test checks
 * it), with the domain separator cached and the struct encoded directly (every field is one
 * static 32-byte word), as this runs on every verify and settle.
 */
export function eip3009Digest(chainId: number, token: Eip3009TokenDomain, auth: ParsedEip3009Authorization): Hex {
  const struct = keccak256(
    `0x${TRANSFER_TYPEHASH}${addressWord(auth.from)}${addressWord(auth.to)}${uintWord(auth.value)}${uintWord(auth.validAfter)}${uintWord(auth.validBefore)}${bytes32Word(auth.nonce)}`,
  ).slice(2)
  return keccak256(`0x1901${domainSeparator(chainId, token)}${struct}`)
}

/** The signature cache's key of a (digest, signature) pair. */
function signatureKey(digest: Hex, signature: Hex): string {
  return `${digest}${signature.slice(2).toLowerCase()}`
}

/**
 * Who signed `digest`: the recovered address (libsecp256k1, {@link recoverSignerAddress}), or
 * `null` when the signature is not 65 bytes or does not recover. Cached by (digest, signature):
 * verify, the warm-up and the settlement of one message recover once.
 */
function recoverSigner(digest: Hex, signature: Hex, cache: SignatureCache | undefined): Address | null {
  const key = signatureKey(digest, signature)
  const hit = cache?.get(key)
  if (hit !== undefined) return hit
  const signer = recoverSignerAddress(digest, signature)
  cache?.set(key, signer)
  return signer
}

/**
 * Verify an EIP-3009 authorisation the way the x402 SDK's exact-EVM facilitator does (digest
 * §6.2), with its reason strings, but with fewer round trips:
 *
 * 1. shape (malformed → `invalid_payload` / `…failed_to_parse_signature`);
 * 2. signature: EIP-712 recovery of a 65-byte ECDSA signature, done locally and once per
 *    message (cached); if it does not recover to `from` and `from` has code, ERC-1271;
 * 3. recipient == `payTo`; `validBefore ≥ now + 6`; `validAfter ≤ now`; value == (or ≥) amount;
 * 4. token facts (code, `name()`, `version()`, cached by the reader) against the configured and
 *    the required domain;
 * 5. in ONE parallel round trip (JSON-RPC batch): `balanceOf(from)`, `authorizationState(from,
 *    nonce)` and a simulation of `transferWithAuthorization` (`eth_call`); reasons in the
 *    SDK's diagnosis order (not supported, nonce used, balance, then the revert text).
 *
 * Reasons come out in the SDK's order (signature first), but the work is reordered for latency:
 * the pure checks run first, then the chain reads are sent, and the signature check runs while
 * they travel: ECDSA recovery on libsecp256k1 (about 0.3 ms of CPU, any signer).
 *
 * A decline is a value; it throws only when the chain cannot be read (an outage).
 *
 * @example
 * const r = await verifyEip3009Authorization(rail.reader(31337), {
 *   chainId: 31337, token: { address, name: 'Agentswitch USD', version: '2' },
 *   authorization, signature, payTo: merchant, amount: 10_000n,
 * })
 * if (!r.ok) return { isValid: false, invalidReason: r.reason }
 */
export async function verifyEip3009Authorization(
  reader: Eip3009ChainReader,
  params: VerifyEip3009Parameters,
  options: { signatureCache?: SignatureCache | undefined } = {},
): Promise<VerifyEip3009Result> {
  const auth = parseEip3009Authorization(params.authorization)
  if (!auth) return { ok: false, reason: Eip3009Reason.invalidPayload, message: 'authorization is malformed' }
  const payer = auth.from
  const signature = params.signature
  if (typeof signature !== 'string' || !isHex(signature, { strict: true }) || signature.length < 4 || signature.length % 2 !== 0)
    return { ok: false, reason: Eip3009Reason.failedToParseSignature, payer }
  if (!isAddress(params.payTo, { strict: false })) throw new Error(`payTo ${String(params.payTo)} is not an address`)
  const sig = signature as Hex

  // 3. Recipient, window, value, domain: pure, computed first but reported after the signature (SDK order).
  const now = BigInt(params.now ?? Math.floor(Date.now() / 1000))
  const valueOk = (params.amountMatch ?? 'exact') === 'exact' ? auth.value === params.amount : auth.value >= params.amount
  const pureReason: Eip3009ReasonCode | undefined =
    getAddress(params.payTo) !== auth.to
      ? Eip3009Reason.recipientMismatch
      : auth.validBefore < now + VALID_BEFORE_MARGIN_SECONDS
        ? Eip3009Reason.validBefore
        : auth.validAfter > now
          ? Eip3009Reason.validAfter
          : !valueOk
            ? Eip3009Reason.valueMismatch
            : params.requiredDomain?.name !== undefined && params.requiredDomain.name !== params.token.name
              ? Eip3009Reason.tokenNameMismatch
              : params.requiredDomain?.version !== undefined && params.requiredDomain.version !== params.token.version
                ? Eip3009Reason.tokenVersionMismatch
                : undefined

  // 5. When everything local passes, the chain checks decide first.
  const token = getAddress(params.token.address)
  const chainWork = pureReason === undefined && params.onChain !== false ? checkOnChain(reader, params.token, token, auth, sig, params.estimateGas === true) : undefined

  // A simulation that passes has had the token check the signature itself (`ecrecover`, or the
  // wallet's ERC-1271): nothing local can refuse it any more, so no recovery is spent on it.
  let onChainFirst: Awaited<NonNullable<typeof chainWork>> | undefined
  try {
    onChainFirst = chainWork ? await chainWork : undefined
  } catch (err) {
    // The chain cannot be read (an outage): a signature that does not recover is still refused as
    // such; anything else is the outage.
    const recovered = recoverSigner(eip3009Digest(params.chainId, params.token, auth), sig, options.signatureCache)
    if (recovered === null || recovered !== payer) return { ok: false, reason: Eip3009Reason.invalidSignature, payer }
    throw err
  }
  if (onChainFirst?.ok) return { ok: true, payer, authorization: auth, ...(onChainFirst.gas !== undefined ? { gas: onChainFirst.gas } : {}) }

  // 2. Signature (local for EOAs, once per message): it decides alone without the chain, and it is
  // reported before any chain reason (SDK order).
  const digest = eip3009Digest(params.chainId, params.token, auth)
  const recovered = recoverSigner(digest, sig, options.signatureCache)
  if (recovered === null || recovered !== payer) {
    const contractWallet = params.onChain !== false && (await reader.hasCode(payer))
    if (!contractWallet || !(await reader.isValidErc1271Signature(payer, digest, sig))) return { ok: false, reason: Eip3009Reason.invalidSignature, payer }
  }
  if (pureReason !== undefined) return { ok: false, reason: pureReason, payer }
  if (!onChainFirst) return { ok: true, payer, authorization: auth }
  return { ...(onChainFirst as Extract<typeof onChainFirst, { ok: false }>), payer }
}

/**
 * Steps 4–5: token facts (cached by the reader), then ONE parallel round trip (a JSON-RPC batch):
 * balance, nonce state and the simulation; reasons in the SDK's diagnosis order.
 */
async function checkOnChain(
  reader: Eip3009ChainReader,
  domain: Eip3009TokenDomain,
  token: Address,
  auth: ParsedEip3009Authorization,
  sig: Hex,
  estimateGas: boolean,
): Promise<{ ok: true; gas?: bigint | undefined } | { ok: false; reason: Eip3009ReasonCode; message?: string | undefined }> {
  const facts = await reader.tokenFacts(token)
  if (!facts.deployed) return { ok: false, reason: Eip3009Reason.assetNotDeployed }
  if (facts.name !== undefined && facts.name !== domain.name) return { ok: false, reason: Eip3009Reason.tokenNameMismatch }
  if (facts.version !== undefined && facts.version !== domain.version) return { ok: false, reason: Eip3009Reason.tokenVersionMismatch }
  // Known per token (cached): a token reconciliation could not read is refused before any simulation.
  if (facts.eip3009 === false) return { ok: false, reason: Eip3009Reason.eip3009NotSupported }
  // The simulation alone decides the common case: the token itself refuses a used nonce and a
  // short balance, so a transfer that would go through has neither. Only a failed simulation
  // reads the balance and the nonce state, to name the reason in the SDK's order. One call, not
  // three in parallel: a node answers a single call with less work and a shorter tail.
  const sim = await reader.simulateTransfer(token, auth, sig, { estimateGas })
  if (sim.ok) return { ok: true, gas: sim.gas }
  const [balance, used] = await Promise.all([reader.balanceOf(token, auth.from), reader.authorizationState(token, auth.from, auth.nonce)])
  if (used === undefined) return { ok: false, reason: Eip3009Reason.eip3009NotSupported }
  if (used) return { ok: false, reason: Eip3009Reason.nonceAlreadyUsed }
  if (balance < auth.value) return { ok: false, reason: Eip3009Reason.insufficientBalance }
  return { ok: false, reason: reasonFromRevert(sim.message) ?? Eip3009Reason.simulationFailed, message: sim.message.slice(0, 300) }
}

/** The order of secp256k1's group: a signature's `r` and `s` lie in [1, n). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n

/**
 * The `transferWithAuthorization` arguments for a signature: the (v, r, s) form for 65-byte ECDSA, else `bytes`.
 * A 65-byte signature is split as viem's `parseSignature` splits it (a test holds them equal),
 * and refused where it refuses: `v` other than 0, 1, 27 or 28, `r` or `s` outside [1, n).
 */
export function transferWithAuthorizationArgs(
  auth: ParsedEip3009Authorization,
  signature: Hex,
): readonly [Address, Address, bigint, bigint, bigint, Hex, number, Hex, Hex] | readonly [Address, Address, bigint, bigint, bigint, Hex, Hex] {
  const base = [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce] as const
  if (signature.length === 132) {
    const r = `0x${signature.slice(2, 66).toLowerCase()}` as Hex
    const s = `0x${signature.slice(66, 130).toLowerCase()}` as Hex
    const v = Number(`0x${signature.slice(130)}`)
    if (v !== 0 && v !== 1 && v !== 27 && v !== 28) throw new Error('Invalid yParityOrV value')
    const rn = BigInt(r)
    const sn = BigInt(s)
    if (rn === 0n || rn >= SECP256K1_N || sn === 0n || sn >= SECP256K1_N) throw new Error('signature r or s is out of range')
    return [...base, v < 27 ? v + 27 : v, r, s] as const
  }
  return [...base, signature] as const
}
