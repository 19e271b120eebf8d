import { keccak256, stringToHex } from 'viem'
import { isObject } from './jose.js'

/**
 * The a2a-x402 extension inside AP2 (digest §6.2): an EIP-3009 `TransferWithAuthorization` bound
 * to the payment mandate chain by its nonce, `keccak256(utf8(chain))`, as the AP2 v0.2 x402
 * sample does. The gateway settles it on the EVM rail after verifying the mandates.
 */

/** The a2a-x402 v0.2 extension URI. */
export const X402_EXTENSION_URI = 'https://github.com/google-agentic-commerce/a2a-x402/blob/main/spec/v0.2'

/** Metadata keys of the a2a-x402 extension. */
export const X402_META = {
  status: 'x402.payment.status',
  required: 'x402.payment.required',
  payload: 'x402.payment.payload',
  receipts: 'x402.payment.receipts',
  error: 'x402.payment.error',
} as const

/** The EIP-3009 nonce that binds an authorisation to a payment mandate chain. */
export function mandateNonce(paymentChain: string): `0x${string}` {
  return keccak256(stringToHex(paymentChain))
}

/** The authorisation and signature out of an x402 PaymentPayload (v1 `payload`, v2 `payload`). */
export interface X402Authorization {
  authorization: { from: string; to: string; value: string; validAfter: string; validBefore: string; nonce: string }
  signature: string
  /** The network the payer named (`eip155:31337`, or a v1 name). */
  network?: string | undefined
}

/** Parse an x402 PaymentPayload carrying an EIP-3009 authorisation; a reason when malformed. */
export function parseX402Payload(raw: unknown): X402Authorization | string {
  if (!isObject(raw)) return 'x402.payment.payload is not an object'
  const inner = raw['payload']
  if (!isObject(inner)) return 'x402.payment.payload.payload is missing'
  const a = inner['authorization']
  const signature = inner['signature']
  if (!isObject(a)) return 'x402.payment.payload.payload.authorization is missing'
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]+$/.test(signature)) return 'the x402 signature is not hex'
  const fields = ['from', 'to', 'value', 'validAfter', 'validBefore', 'nonce'] as const
  for (const f of fields) if (typeof a[f] !== 'string') return `authorization.${f} must be a string`
  const accepted = isObject(raw['accepted']) ? raw['accepted'] : undefined
  const network = typeof raw['network'] === 'string' ? raw['network'] : typeof accepted?.['network'] === 'string' ? (accepted['network'] as string) : undefined
  return {
    authorization: Object.fromEntries(fields.map((f) => [f, a[f] as string])) as X402Authorization['authorization'],
    signature,
    network,
  }
}

/** An x402 `exact` PaymentRequirements entry for the mandate (a2a-x402 `x402.payment.required`). */
export interface X402Requirement {
  scheme: 'exact'
  network: string
  asset: string
  payTo: string
  maxAmountRequired: string
  resource: string
  description: string
  mimeType: string
  maxTimeoutSeconds: number
  extra: { name: string; version: string; nonce: string; ap2_reference: string }
}
