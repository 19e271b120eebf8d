import type { Store } from '../../../core/store/port.js'
import { canonicalJson } from '../../../core/util/canonicalJson.js'
import { verifyPresentation } from '../ap2/verifyPresentation.js'
import { publicJwk, type EcPrivateJwk } from './httpSignatures.js'
import type { UcpOptions } from './options.js'

/** UCP AP2 error codes (ap2_mandate.json `error_code`). */
export type UcpAp2Code = 'mandate_required' | 'agent_missing_key' | 'mandate_invalid_signature' | 'mandate_expired' | 'mandate_scope_mismatch' | 'merchant_authorization_invalid' | 'merchant_authorization_missing'

export type Ap2CheckResult = { ok: true } | { ok: false; code: UcpAp2Code; content: string }

/**
 * The compact JWS a platform embeds as the mandate's `checkout_jwt`: our detached
 * `merchant_authorization` with `b64u(JCS(checkout without ap2))` re-attached as its payload.
 */
export function attachedCheckoutJws(checkout: Record<string, unknown>): string | undefined {
  const { ap2, ...rest } = checkout
  const jws = (ap2 as { merchant_authorization?: unknown } | undefined)?.merchant_authorization
  if (typeof jws !== 'string') return undefined
  const [h, , s] = jws.split('.')
  return `${h}.${Buffer.from(canonicalJson(rest), 'utf8').toString('base64url')}.${s}`
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Verify `ap2.checkout_mandate` + the payment mandate with the shared AP2 verifier, then the UCP
 * binding: the mandated checkout is **this** checkout (id, currency, totals, line items), signed by
 * our key (its `checkout_jwt` is our merchant authorization), and presentation nonces are single use.
 */
export async function verifyUcpMandates(p: {
  options: UcpOptions
  key: EcPrivateJwk
  store: Pick<Store, 'acquireReplayLock'>
  checkoutMandate: string
  paymentMandate: string | undefined
  /** The checkout as the session holds it now. */
  session: { id: string; currency: string; totals: unknown; line_items: Array<{ id: string; item: { id: string }; quantity: number }> }
  now: Date
}): Promise<Ap2CheckResult> {
  const a = p.options.ap2
  if (!p.paymentMandate) return { ok: false, code: 'mandate_required', content: 'the payment mandate must be sent in payment.instruments[].credential.token' }
  const payee = a?.payee ?? { id: p.options.merchantId, name: p.options.merchantId }
  const pub = publicJwk(p.key)
  const r = verifyPresentation({
    checkoutMandate: p.checkoutMandate,
    paymentMandate: p.paymentMandate,
    trustedKeys: a?.trustedKeys ?? [],
    merchants: [{ payee, keys: [{ kid: pub.kid, jwk: { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y, kid: pub.kid } }] }],
    audiences: [...(a?.audiences ?? [p.options.publicBaseUrl])],
    now: Math.floor(p.now.getTime() / 1000),
  })
  if (!r.ok) {
    const d = r.description
    const code: UcpAp2Code = /expired|not yet valid|in the future/i.test(d)
      ? 'mandate_expired'
      : /checkout_jwt|merchant_authorization|merchant key|merchant signature/i.test(d)
        ? 'merchant_authorization_invalid'
        : r.error === 'invalid_credential'
          ? 'mandate_invalid_signature'
          : 'mandate_scope_mismatch'
    return { ok: false, code, content: d }
  }
  const c = r.presentation.checkoutObject as unknown as Record<string, unknown>
  const lines = (x: unknown): string =>
    canonicalJson(Array.isArray(x) ? x.filter(isObj).map((l) => ({ id: l['id'], item: isObj(l['item']) ? l['item']['id'] : undefined, quantity: l['quantity'] })) : [])
  if (c['id'] !== p.session.id) return { ok: false, code: 'mandate_scope_mismatch', content: 'the checkout mandate is for another checkout' }
  if (c['currency'] !== p.session.currency || canonicalJson(c['totals']) !== canonicalJson(p.session.totals) || lines(c['line_items']) !== lines(p.session.line_items))
    return { ok: false, code: 'mandate_scope_mismatch', content: 'the mandated checkout terms (totals, line items) differ from the current checkout' }
  for (const nonce of r.presentation.nonces) {
    const fresh = await p.store.acquireReplayLock({ namespace: 'ucp_ap2_nonce', key: nonce, holder: p.session.id, expiresAt: new Date(p.now.getTime() + 24 * 3_600_000), now: p.now })
    if (!fresh) return { ok: false, code: 'mandate_scope_mismatch', content: 'the presentation nonce was already used' }
  }
  return { ok: true }
}
