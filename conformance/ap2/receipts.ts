import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsImport from 'ajv-formats'
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose'
import { fromRoot } from '../framework/paths.js'

const addFormats = addFormatsImport as unknown as (ajv: Ajv2020) => Ajv2020

/**
 * The tester's receipt check, on a different stack from the gateway's signer (`jose` for the JWS,
 * the official AP2 v0.2 receipt schemas shipped in `schemas/vendor/ap2/v0.2` for the content).
 */
export type ReceiptCheck = { ok: true; header: Record<string, unknown>; payload: Record<string, unknown> } | { ok: false; reason: string }

const PAYMENT = 'https://ap2-protocol.org/schemas/payment_receipt.json'
const CHECKOUT = 'https://ap2-protocol.org/schemas/checkout_receipt.json'
let validators: { payment: ValidateFunction; checkout: ValidateFunction } | undefined

function receiptSchemas(): { payment: ValidateFunction; checkout: ValidateFunction } {
  if (validators) return validators
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.json')) {
        const s = JSON.parse(readFileSync(p, 'utf8')) as { $id?: string }
        ajv.addSchema(s)
        // Upstream's receipt schemas $ref the status type by a URL other than its own $id.
        if (s.$id === 'https://ap2-protocol.org/schemas/receipt-status.json') ajv.addSchema({ ...s, $id: 'https://ap2-protocol.org/schemas/types/receipt_status.json' })
      }
    }
  }
  walk(fromRoot('schemas', 'vendor', 'ap2', 'v0.2'))
  const get = (id: string): ValidateFunction => {
    const v = ajv.getSchema(id)
    if (!v) throw new Error(`AP2 schema ${id} is missing`)
    return v
  }
  validators = { payment: get(PAYMENT), checkout: get(CHECKOUT) }
  return validators
}

/** Verify a receipt JWS against the target's JWK Set, then its content against the receipt schema. */
export async function checkReceipt(jwt: string, jwks: unknown): Promise<ReceiptCheck> {
  let verified
  try {
    verified = await compactVerify(jwt, createLocalJWKSet(jwks as JSONWebKeySet), { algorithms: ['ES256'] })
  } catch (e) {
    return { ok: false, reason: `the JWS does not verify: ${e instanceof Error ? e.message : String(e)}` }
  }
  let payload: Record<string, unknown>
  try {
    payload = JSON.parse(new TextDecoder().decode(verified.payload)) as Record<string, unknown>
  } catch {
    return { ok: false, reason: 'the payload is not JSON' }
  }
  const v = payload['receipt'] === 'checkout' ? receiptSchemas().checkout : receiptSchemas().payment
  if (!v(payload)) return { ok: false, reason: `the receipt does not match ${payload['receipt'] === 'checkout' ? CHECKOUT : PAYMENT}: ${JSON.stringify(v.errors).slice(0, 400)}` }
  return { ok: true, header: verified.protectedHeader as Record<string, unknown>, payload }
}
