/**
 * Scheme `exact` on EVM with EIP-3009 (digest §6): what a payload means for our EVM rail, with the
 * SDK's reason strings. Used by both roles: the resource server (priced routes) and the facilitator.
 */
import { recoverAddress, type Hex } from 'viem'
import type { SubmitIntentParameters } from '../../../core/pipeline/submitIntent.js'
import { eip3009Digest, eip3009IntentFields, eip3009ReplayKey, parseEip3009Authorization, type Eip3009Credential, type EvmRail, type EvmTokenInfo, type EvmVerifyAuthorizationParams } from '../../rails/evm/index.js'
import type { Eip3009Authorization } from '../../rails/evm/verifyEip3009Authorization.js'
import { X402Reason } from './reasons.js'
import { shapeProblems } from './schemas.js'

/** An exact/EVM payment with everything bound from our side (token, payee, amount from config). */
export interface ExactEvmPayment {
  /** The x402 version the payer spoke. */
  version: 1 | 2
  chainId: number
  /** CAIP-2. */
  network: string
  /** How the network is written back to this payer (`base-sepolia` in v1, CAIP-2 in v2). */
  wireNetwork: string
  token: EvmTokenInfo
  authorization: Eip3009Authorization
  signature: string
  /** From the route's or the requirements' configuration, never from the payload. */
  payTo: string
  amount: bigint
  /** The EIP-712 domain the payer was told to sign (`extra`). */
  domain: { name?: string | undefined; version?: string | undefined }
}

export type Refusal = { ok: false; reason: string; message?: string | undefined; payer?: string | undefined }

/**
 * The EIP-3009 part of `payload.payload`: `{ signature, authorization }`. A Permit2 payload is
 * `unsupported_payload_type` (only EIP-3009 settles here); a malformed one `invalid_payload`.
 */
export function readExactEvmPayload(payload: Record<string, unknown>): { ok: true; authorization: Eip3009Authorization; signature: string } | Refusal {
  if (payload !== null && typeof payload === 'object' && 'permit2Authorization' in payload) {
    return { ok: false, reason: X402Reason.unsupportedPayloadType, message: 'Permit2 payloads are not accepted here (EIP-3009 only)' }
  }
  const problems = shapeProblems('exactEvmPayload', payload)
  if (problems) return { ok: false, reason: X402Reason.invalidPayload, message: problems }
  const p = payload as { authorization: Eip3009Authorization; signature: string }
  return { ok: true, authorization: p.authorization, signature: p.signature }
}

/** What the rail settles for this payment. */
export function credentialOf(p: ExactEvmPayment): Eip3009Credential {
  return { authorization: p.authorization, signature: p.signature, payTo: p.payTo, amountMatch: 'exact', requiredDomain: p.domain }
}

/**
 * Verify with the rail and answer in x402's terms. `local`: no RPC (signature recovered once and
 * cached by the rail, recipient, window, value, domain); a signature that does not recover to
 * `from` is checked again on chain (an ERC-1271 wallet). `full`: also balance, nonce and a
 * simulation, in one batched round trip.
 */
export async function verifyExactEvm(rail: EvmRail, p: ExactEvmPayment, mode: 'local' | 'full'): Promise<{ ok: true; payer: string } | Refusal> {
  const params = railParams(p)
  let r = await rail.verifyAuthorization({ ...params, onChain: mode === 'full' })
  if (!r.ok && mode === 'local' && r.reason === X402Reason.invalidSignature) r = await rail.verifyAuthorization({ ...params, onChain: true })
  if (r.ok) return { ok: true, payer: r.payer }
  let reason: string = p.version === 1 && r.reason === X402Reason.valueMismatch ? X402Reason.valueV1 : r.reason
  if (reason === X402Reason.invalidSignature) reason = (await domainMismatch(p)) ?? reason
  return { ok: false, reason, ...(r.message ? { message: r.message } : {}), ...(r.payer ? { payer: r.payer } : {}) }
}

/** The rail's verification inputs of an exact-EVM payment (the same for verify, warm-up and settle). */
function railParams(p: ExactEvmPayment): EvmVerifyAuthorizationParams {
  return {
    network: p.network,
    asset: p.token.address,
    authorization: p.authorization,
    signature: p.signature,
    payTo: p.payTo,
    amount: p.amount,
    amountMatch: 'exact',
    requiredDomain: p.domain,
  }
}

/**
 * Start the on-chain checks of a payment about to be settled (after its local checks passed), so
 * that they travel while its intent is written ({@link EvmRail.warmSettlement}).
 */
export function warmExactEvm(rail: EvmRail, p: ExactEvmPayment): void {
  rail.warmSettlement(railParams(p))
}

/**
 * The SDK checks a signature under the domain the requirements name (`extra`) and reports a wrong
 * token name or version only after its simulation fails (digest §6.2 step 8). The rail checks it
 * under the token's real domain, so such a payer fails as a bad signature; when it does recover
 * under the named domain, report what the SDK reports.
 */
async function domainMismatch(p: ExactEvmPayment): Promise<string | undefined> {
  const nameDiffers = p.domain.name !== undefined && p.domain.name !== p.token.name
  const versionDiffers = p.domain.version !== undefined && p.domain.version !== p.token.version
  if (!nameDiffers && !versionDiffers) return undefined
  const auth = parseEip3009Authorization(p.authorization)
  if (!auth || !/^0x[0-9a-fA-F]{130}$/.test(p.signature)) return undefined
  const digest = eip3009Digest(p.chainId, { address: p.token.address, name: p.domain.name ?? p.token.name, version: p.domain.version ?? p.token.version }, auth)
  try {
    if ((await recoverAddress({ hash: digest, signature: p.signature as Hex })) !== auth.from) return undefined
  } catch {
    return undefined
  }
  return nameDiffers ? X402Reason.tokenNameMismatch : X402Reason.tokenVersionMismatch
}

/** The intent's dedupe key: one intent per authorisation (chain, token, payer, nonce) per merchant. */
export function dedupeKeyOf(p: ExactEvmPayment): string {
  return `x402:${eip3009ReplayKey(p.chainId, p.token.address, p.authorization.from, p.authorization.nonce)}`
}

/** The EIP-3009 replay key of the payment (the rail's lock key). */
export function replayKeyOf(p: ExactEvmPayment): string {
  return eip3009ReplayKey(p.chainId, p.token.address, p.authorization.from, p.authorization.nonce)
}

/**
 * The canonical intent of an x402 payment (DESIGN §2): origin x402 (version, ref), payer = the
 * authorising address, instrument `evm.eip3009` (ref = the nonce), authorization `x402.signature`
 * with the signed window and payee as constraints; the secret signature is never in it.
 */
export function intentInputOf(p: ExactEvmPayment, ctx: { merchantId: string; ref?: string | undefined; metadata?: Record<string, string> | undefined; role: 'resource' | 'facilitator' }): SubmitIntentParameters {
  const f = eip3009IntentFields({ authorization: p.authorization, payTo: p.payTo }, p.network)
  const payer = p.authorization.from.toLowerCase()
  return {
    merchantId: ctx.merchantId,
    actor: `x402:${payer}`,
    origin: { protocol: 'x402', version: String(p.version), ref: ctx.ref ?? p.authorization.nonce.toLowerCase() },
    payer: { agent_id: `x402:${payer}`, ...f.payer },
    amount: { value: p.amount.toString(), asset: p.token.assetId },
    instrument: f.instrument,
    authorization: {
      type: 'x402.signature',
      constraints: { ...f.constraints, scheme: 'exact', x402_role: ctx.role, ...(p.domain.name ? { eip712_name: p.domain.name } : {}), ...(p.domain.version ? { eip712_version: p.domain.version } : {}) },
    },
    dedupeKey: dedupeKeyOf(p),
    ...(ctx.metadata ? { metadata: ctx.metadata } : {}),
  }
}

/** `validBefore` as a Date (clamped: uint256 seconds do not fit a Date). */
export function validBeforeOf(p: Pick<ExactEvmPayment, 'authorization'>): Date {
  const s = BigInt(p.authorization.validBefore)
  const max = 253_402_300_799n
  return new Date(Number(s < max ? s : max) * 1000)
}
