/**
 * AP2 v0.2 mandate shapes after SD-JWT disclosure resolution (digest §3, the vendored schemas).
 * Selectively disclosable arrays (`allowed`, `acceptable_items`) hold only the revealed entries.
 */

/** `vct` values, compared exactly, version suffix included (digest §3, Ambiguity 5). */
export const VCT = {
  checkout: 'mandate.checkout.1',
  checkoutOpen: 'mandate.checkout.open.1',
  payment: 'mandate.payment.1',
  paymentOpen: 'mandate.payment.open.1',
} as const

export type MandateKind = 'checkout' | 'payment'

export interface Merchant {
  id: string
  name: string
  website?: string | undefined
}

export interface Amount {
  /** Integer minor units (27999 = $279.99). */
  amount: number
  /** ISO 4217 alpha-3. */
  currency: string
}

export interface PaymentInstrument {
  id: string
  /** The extension point: `card`, `dpc`, `x402`, `alipay.agreement`, … */
  type: string
  description?: string | undefined
  [extra: string]: unknown
}

export interface Pisp {
  legal_name: string
  brand_name: string
  domain_name: string
}

export interface Item {
  id: string
  title: string
}

export interface LineItemRequirement {
  id: string
  /** Revealed acceptable items only. */
  acceptable_items: Item[]
  quantity: number
}

export type CheckoutConstraint =
  | { type: 'checkout.allowed_merchants'; allowed: Merchant[] }
  | { type: 'checkout.line_items'; items: LineItemRequirement[] }

export const RECURRENCE_FREQUENCIES = ['ON_DEMAND', 'DAILY', 'WEEKLY', 'BIWEEKLY', 'MONTHLY', 'QUARTERLY', 'ANNUALLY'] as const
export type RecurrenceFrequency = (typeof RECURRENCE_FREQUENCIES)[number]

export type PaymentConstraint =
  | { type: 'payment.reference'; conditional_transaction_id: string }
  | { type: 'payment.amount_range'; currency: string; max: number; min?: number | undefined }
  | { type: 'payment.allowed_payees'; allowed: Merchant[] }
  | { type: 'payment.allowed_payment_instruments'; allowed: PaymentInstrument[] }
  | { type: 'payment.allowed_pisps'; allowed: Pisp[] }
  | { type: 'payment.budget'; max: number; currency: string }
  | { type: 'payment.agent_recurrence'; frequency: RecurrenceFrequency; max_occurrences?: number | undefined }
  | { type: 'payment.execution_date'; not_before?: string | undefined; not_after?: string | undefined }

export const CHECKOUT_CONSTRAINT_TYPES = ['checkout.allowed_merchants', 'checkout.line_items'] as const
export const PAYMENT_CONSTRAINT_TYPES = [
  'payment.reference',
  'payment.amount_range',
  'payment.allowed_payees',
  'payment.allowed_payment_instruments',
  'payment.allowed_pisps',
  'payment.budget',
  'payment.agent_recurrence',
  'payment.execution_date',
] as const

/** A constraint as found in a mandate: known types are typed, anything else is kept as-is. */
export interface RawConstraint {
  type: string
  [k: string]: unknown
}

export interface Jwk {
  kty: string
  crv: string
  x: string
  y: string
  [k: string]: unknown
}

interface MandateTimes {
  iat?: number | undefined
  exp?: number | undefined
}

export interface ClosedCheckoutMandate extends MandateTimes {
  vct: typeof VCT.checkout
  checkout_jwt: string
  checkout_hash: string
  cnf?: { jwk: Jwk } | undefined
}

export interface OpenCheckoutMandate extends MandateTimes {
  vct: typeof VCT.checkoutOpen
  constraints: RawConstraint[]
  cnf: { jwk: Jwk }
}

export interface ClosedPaymentMandate extends MandateTimes {
  vct: typeof VCT.payment
  transaction_id: string
  payee: Merchant
  payment_amount: Amount
  payment_instrument: PaymentInstrument
  pisp?: Pisp | undefined
  execution_date?: string | undefined
  risk_data?: Record<string, unknown> | undefined
  cnf?: { jwk: Jwk } | undefined
}

export interface OpenPaymentMandate extends MandateTimes {
  vct: typeof VCT.paymentOpen
  constraints: RawConstraint[]
  cnf: { jwk: Jwk }
  payee?: Merchant | undefined
  payment_amount?: Amount | undefined
  payment_instrument?: PaymentInstrument | undefined
  pisp?: Pisp | undefined
  execution_date?: string | undefined
  risk_data?: Record<string, unknown> | undefined
}

export type AnyMandate = ClosedCheckoutMandate | OpenCheckoutMandate | ClosedPaymentMandate | OpenPaymentMandate

/**
 * The UCP Checkout carried by a merchant-signed `checkout_jwt` (digest §3.6): what the constraints
 * are checked against. `merchant` is AP2's addition.
 */
export interface Checkout {
  id: string
  merchant?: Merchant | undefined
  line_items: Array<{ id: string; item: { id: string; title: string; price: number; image_url?: string | undefined }; quantity: number; totals: Array<{ type: string; amount: number }>; parent_id?: string | undefined }>
  status: string
  currency: string
  totals: Array<{ type: string; amount: number; display_text?: string | undefined }>
  links: Array<{ type: string; url: string; title?: string | undefined }>
  expires_at?: string | undefined
  iat?: number | undefined
  exp?: number | undefined
  [k: string]: unknown
}
