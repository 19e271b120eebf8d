/**
 * Building AP2 v0.2 presentations for tests, the conformance suite and demos: the three signing
 * parties (user / Trusted Surface, shopping agent, merchant), a UCP checkout, open mandates
 * (human not present) and the closed mandates the agent signs for one checkout. Not a test file.
 */
import { randomBytes } from 'node:crypto'
import { checkoutHashOf, generateEs256KeyPair, issueHop, issueRootMandate, joinChain, sd, segmentHashOf, signCheckoutJwt, type Es256KeyPair } from './issue.js'
import type { Merchant, PaymentInstrument } from './mandates.js'

export interface Ap2Parties {
  /** Signs the root (open mandates, or closed ones when the human is present). */
  user: Es256KeyPair
  /** The shopping agent's key, named by the open mandates' `cnf`. */
  agent: Es256KeyPair
  /** Signs `checkout_jwt`. */
  merchant: Es256KeyPair
  payee: Merchant
}

export function createParties(payee: Merchant = { id: 'merchant_1', name: 'Demo Merchant', website: 'https://demo-merchant.example' }): Ap2Parties {
  return { user: generateEs256KeyPair(), agent: generateEs256KeyPair(), merchant: generateEs256KeyPair(), payee }
}

export interface CartLine {
  sku: string
  title: string
  /** Unit price, integer minor units. */
  price: number
  quantity: number
}

/** A UCP Checkout (digest §3.6) for `lines`, total = Σ price × quantity. */
export function buildCheckout(payee: Merchant, lines: readonly CartLine[], o: { currency?: string; id?: string; exp?: number; iat?: number; status?: string; extra?: Record<string, unknown> } = {}): Record<string, unknown> {
  const total = lines.reduce((s, l) => s + l.price * l.quantity, 0)
  const now = Math.floor(Date.now() / 1000)
  return {
    id: o.id ?? `chk_${randomBytes(6).toString('hex')}`,
    merchant: payee,
    line_items: lines.map((l, i) => ({
      id: `li_${i}`,
      item: { id: l.sku, title: l.title, price: l.price },
      quantity: l.quantity,
      totals: [
        { type: 'subtotal', amount: l.price * l.quantity },
        { type: 'total', amount: l.price * l.quantity },
      ],
    })),
    status: o.status ?? 'ready_for_complete',
    currency: o.currency ?? 'USD',
    totals: [
      { type: 'subtotal', amount: total },
      { type: 'total', amount: total },
    ],
    links: [{ type: 'terms_of_service', url: 'https://demo-merchant.example/tos' }],
    iat: o.iat ?? now,
    exp: o.exp ?? now + 3600,
    ...o.extra,
  }
}

export interface OpenMandateOptions {
  /** Line-item requirements: acceptable SKUs (revealed) and the quantity. */
  requirements: Array<{ id?: string; acceptable: Array<{ id: string; title: string }>; quantity: number }>
  /** `checkout.allowed_merchants` entries (revealed); default `[payee]`; `null` omits the constraint. */
  allowedMerchants?: Merchant[] | null
  /** `payment.allowed_payees` (default `[payee]`; `null` omits). */
  allowedPayees?: Merchant[] | null
  /** `payment.allowed_payment_instruments` (omitted when absent). */
  allowedInstruments?: PaymentInstrument[] | undefined
  /** `payment.amount_range` (omitted when absent). */
  amountRange?: { currency: string; max: number; min?: number } | undefined
  budget?: { currency: string; max: number } | undefined
  recurrence?: { frequency: string; max_occurrences?: number } | undefined
  /** Extra payment / checkout constraints as-is (unknown types, execution_date, pisps…). */
  extraPaymentConstraints?: Array<Record<string, unknown>> | undefined
  extraCheckoutConstraints?: Array<Record<string, unknown>> | undefined
  /** Claims pre-set in the open payment mandate (`payee`, `payment_amount`, `payment_instrument`…). */
  preset?: Record<string, unknown> | undefined
  /** Replaces the `payment.reference` value (default: the open checkout's hash). */
  reference?: string | undefined
  /** Unix seconds (default now / now + 1 h). */
  iat?: number | undefined
  exp?: number | undefined
  /** Root `kid` override (`null` omits it). */
  kid?: string | null | undefined
  /** The key the mandates delegate to (default the agent's). */
  delegateTo?: Es256KeyPair | undefined
}

export interface OpenMandates {
  openCheckout: string
  openPayment: string
  /** `payment.reference` value: the open checkout's `sd_hash`-style digest. */
  openCheckoutHash: string
}

/** The user signs an open Checkout Mandate and an open Payment Mandate naming the agent's key (digest §5.2 phase 1a). */
export function issueOpenMandates(parties: Ap2Parties, o: OpenMandateOptions): OpenMandates {
  const now = Math.floor(Date.now() / 1000)
  const times = { iat: o.iat ?? now, exp: o.exp ?? now + 3600 }
  const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: (o.delegateTo ?? parties.agent).publicJwk.x, y: (o.delegateTo ?? parties.agent).publicJwk.y } }
  const checkoutConstraints: Array<Record<string, unknown>> = [
    {
      type: 'checkout.line_items',
      items: o.requirements.map((r, i) => ({ id: r.id ?? `line_${i + 1}`, acceptable_items: r.acceptable.map((a) => sd(a)), quantity: r.quantity })),
    },
  ]
  if (o.allowedMerchants !== null) checkoutConstraints.push({ type: 'checkout.allowed_merchants', allowed: (o.allowedMerchants ?? [parties.payee]).map((m) => sd(m)) })
  checkoutConstraints.push(...(o.extraCheckoutConstraints ?? []))
  const kid = o.kid === undefined ? parties.user.kid : o.kid
  const openCheckout = issueRootMandate({ signer: parties.user, kid, mandate: { vct: 'mandate.checkout.open.1', constraints: checkoutConstraints, cnf, ...times } })
  const openCheckoutHash = segmentHashOf(openCheckout)
  const paymentConstraints: Array<Record<string, unknown>> = []
  if (o.amountRange) paymentConstraints.push({ type: 'payment.amount_range', ...o.amountRange })
  if (o.allowedPayees !== null) paymentConstraints.push({ type: 'payment.allowed_payees', allowed: (o.allowedPayees ?? [parties.payee]).map((m) => sd(m)) })
  if (o.allowedInstruments) paymentConstraints.push({ type: 'payment.allowed_payment_instruments', allowed: o.allowedInstruments.map((i) => sd(i)) })
  if (o.budget) paymentConstraints.push({ type: 'payment.budget', ...o.budget })
  if (o.recurrence) paymentConstraints.push({ type: 'payment.agent_recurrence', ...o.recurrence })
  paymentConstraints.push({ type: 'payment.reference', conditional_transaction_id: o.reference ?? openCheckoutHash })
  paymentConstraints.push(...(o.extraPaymentConstraints ?? []))
  const openPayment = issueRootMandate({ signer: parties.user, kid, mandate: { vct: 'mandate.payment.open.1', constraints: paymentConstraints, cnf, ...o.preset, ...times } })
  return { openCheckout, openPayment, openCheckoutHash }
}

export interface CloseOptions {
  /** The checkout object (signed here by the merchant) or an already signed `checkout_jwt`. */
  checkout: Record<string, unknown> | string
  instrument: PaymentInstrument
  aud: string
  nonce: string
  /** Overrides of the closed payment mandate (amount, payee, transaction_id, …). */
  payment?: Record<string, unknown> | undefined
  /** Overrides of the closed checkout mandate (checkout_hash, …). */
  checkoutClaims?: Record<string, unknown> | undefined
  iat?: number | undefined
  binding?: 'sd_hash' | 'issuer_jwt_hash' | undefined
  /** The key that signs the closed hops (default the agent's). */
  signer?: Es256KeyPair | undefined
}

export interface ClosedMandates {
  checkoutMandate: string
  paymentMandate: string
  checkoutJwt: string
  checkoutHash: string
}

/** The agent signs closed Checkout and Payment mandates for one checkout (digest §5.2 phase 2). */
export function closeMandates(parties: Ap2Parties, open: OpenMandates, o: CloseOptions): ClosedMandates {
  const checkoutJwt = typeof o.checkout === 'string' ? o.checkout : signCheckoutJwt(parties.merchant, o.checkout)
  const checkoutHash = checkoutHashOf(checkoutJwt)
  const checkoutObj = typeof o.checkout === 'string' ? (JSON.parse(Buffer.from(o.checkout.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>) : o.checkout
  const total = (checkoutObj['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount
  const signer = o.signer ?? parties.agent
  const hop = { signer, aud: o.aud, nonce: o.nonce, iat: o.iat, binding: o.binding }
  const closedCheckout = issueHop({ ...hop, previous: open.openCheckout, mandate: { vct: 'mandate.checkout.1', checkout_jwt: sd(checkoutJwt), checkout_hash: checkoutHash, ...o.checkoutClaims } })
  const closedPayment = issueHop({
    ...hop,
    previous: open.openPayment,
    mandate: {
      vct: 'mandate.payment.1',
      transaction_id: checkoutHash,
      payee: parties.payee,
      payment_amount: { amount: total, currency: checkoutObj['currency'] },
      payment_instrument: o.instrument,
      ...o.payment,
    },
  })
  return { checkoutMandate: joinChain(open.openCheckout, closedCheckout), paymentMandate: joinChain(open.openPayment, closedPayment), checkoutJwt, checkoutHash }
}

/** Human present: the user signs closed mandates directly (a bare root each, no aud / nonce). */
export function humanPresentMandates(parties: Ap2Parties, o: { checkout: Record<string, unknown> | string; instrument: PaymentInstrument }): ClosedMandates {
  const checkoutJwt = typeof o.checkout === 'string' ? o.checkout : signCheckoutJwt(parties.merchant, o.checkout)
  const checkoutObj = typeof o.checkout === 'string' ? (JSON.parse(Buffer.from(o.checkout.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>) : o.checkout
  const checkoutHash = checkoutHashOf(checkoutJwt)
  const total = (checkoutObj['totals'] as Array<{ type: string; amount: number }>).find((t) => t.type === 'total')!.amount
  return {
    checkoutMandate: issueRootMandate({ signer: parties.user, mandate: { vct: 'mandate.checkout.1', checkout_jwt: sd(checkoutJwt), checkout_hash: checkoutHash } }),
    paymentMandate: issueRootMandate({
      signer: parties.user,
      mandate: { vct: 'mandate.payment.1', transaction_id: checkoutHash, payee: parties.payee, payment_amount: { amount: total, currency: checkoutObj['currency'] }, payment_instrument: o.instrument },
    }),
    checkoutJwt,
    checkoutHash,
  }
}
