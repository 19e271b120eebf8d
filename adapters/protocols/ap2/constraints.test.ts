import { describe, expect, it } from 'vitest'
import { checkConstraints, checkLineItems, nextAllowed, type MandateUsage } from './constraints.js'
import type { Checkout, ClosedCheckoutMandate, ClosedPaymentMandate, OpenCheckoutMandate, OpenPaymentMandate, RawConstraint } from './mandates.js'

const now = Date.parse('2026-05-10T12:00:00Z') / 1000
const payee = { id: 'merchant_1', name: 'Demo Merchant' }
const cnf = { jwk: { kty: 'EC', crv: 'P-256', x: 'x'.repeat(43), y: 'y'.repeat(43) } }
const none: MandateUsage = { uses: [] }

function openPayment(constraints: RawConstraint[], preset: Partial<OpenPaymentMandate> = {}): OpenPaymentMandate {
  return { vct: 'mandate.payment.open.1', cnf, constraints: [{ type: 'payment.reference', conditional_transaction_id: 'REF' }, ...constraints], ...preset }
}
function closedPayment(over: Partial<ClosedPaymentMandate> = {}): ClosedPaymentMandate {
  return { vct: 'mandate.payment.1', transaction_id: 'T', payee, payment_amount: { amount: 10_000, currency: 'USD' }, payment_instrument: { id: 'agr-1', type: 'alipay.agreement' }, ...over }
}
const pay = (open: OpenPaymentMandate, closed: ClosedPaymentMandate, usage: MandateUsage | 'deferred' = none, at = now) =>
  checkConstraints({ kind: 'payment', open, closed, openCheckoutHashes: ['REF'], now: at, usage })

function checkout(lines: Array<[string, number]>): Checkout {
  return {
    id: 'c1',
    merchant: payee,
    line_items: lines.map(([sku, q], i) => ({ id: `li${i}`, item: { id: sku, title: sku, price: 100 }, quantity: q, totals: [] })),
    status: 'ready_for_complete',
    currency: 'USD',
    totals: [{ type: 'total', amount: 100 }],
    links: [],
  }
}
const openCheckout = (constraints: RawConstraint[]): OpenCheckoutMandate => ({ vct: 'mandate.checkout.open.1', cnf, constraints })
const closedCheckout: ClosedCheckoutMandate = { vct: 'mandate.checkout.1', checkout_jwt: 'a.b.c', checkout_hash: 'h' }
const co = (constraints: RawConstraint[], c: Checkout, merchant = payee) => checkConstraints({ kind: 'checkout', open: openCheckout(constraints), closed: closedCheckout, checkout: c, merchant, now, usage: 'deferred' })
const lines = (reqs: Array<{ ok: string[]; q: number }>): RawConstraint => ({
  type: 'checkout.line_items',
  items: reqs.map((r, i) => ({ id: `r${i}`, acceptable_items: r.ok.map((id) => ({ id, title: id })), quantity: r.q })),
})

describe('checkConstraints: payment', () => {
  it('amount_range: boundaries pass, outside and another currency fail with unresolved_constraint', () => {
    const range = { type: 'payment.amount_range', currency: 'USD', min: 5_000, max: 10_000 }
    expect(pay(openPayment([range]), closedPayment())).toMatchObject({ ok: true })
    expect(pay(openPayment([range]), closedPayment({ payment_amount: { amount: 5_000, currency: 'USD' } }))).toMatchObject({ ok: true })
    expect(pay(openPayment([range]), closedPayment({ payment_amount: { amount: 10_001, currency: 'USD' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/outside/) })
    expect(pay(openPayment([range]), closedPayment({ payment_amount: { amount: 4_999, currency: 'USD' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(pay(openPayment([range]), closedPayment({ payment_amount: { amount: 7_000, currency: 'EUR' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/currency/) })
  })

  it('allowed_payees: the payee must be among the revealed entries; none revealed fails', () => {
    expect(pay(openPayment([{ type: 'payment.allowed_payees', allowed: [payee] }]), closedPayment())).toMatchObject({ ok: true })
    expect(pay(openPayment([{ type: 'payment.allowed_payees', allowed: [{ id: 'other', name: 'Other' }] }]), closedPayment())).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/not among/) })
    expect(pay(openPayment([{ type: 'payment.allowed_payees', allowed: [] }]), closedPayment())).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/no allowed payee/) })
  })

  it('allowed_payment_instruments match on (type, id)', () => {
    const c = { type: 'payment.allowed_payment_instruments', allowed: [{ id: 'agr-1', type: 'alipay.agreement' }] }
    expect(pay(openPayment([c]), closedPayment())).toMatchObject({ ok: true })
    expect(pay(openPayment([c]), closedPayment({ payment_instrument: { id: 'agr-2', type: 'alipay.agreement' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(pay(openPayment([c]), closedPayment({ payment_instrument: { id: 'agr-1', type: 'card' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
  })

  it('allowed_pisps match on domain_name; a closed mandate without a PISP fails', () => {
    const pisp = { legal_name: 'Example Payment Services Ltd.', brand_name: 'ExamplePay', domain_name: 'examplepay.com' }
    const c = { type: 'payment.allowed_pisps', allowed: [pisp] }
    expect(pay(openPayment([c]), closedPayment({ pisp }))).toMatchObject({ ok: true })
    expect(pay(openPayment([c]), closedPayment({ pisp: { ...pisp, domain_name: 'evil.example' } }))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(pay(openPayment([c]), closedPayment())).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/no PISP/) })
  })

  it('execution_date: immediate execution inside the window passes, outside fails; date-only bounds cover the whole day', () => {
    const c = { type: 'payment.execution_date', not_before: '2026-05-01', not_after: '2026-05-10' }
    expect(pay(openPayment([c]), closedPayment())).toMatchObject({ ok: true })
    expect(pay(openPayment([c]), closedPayment({ execution_date: '2026-05-11T00:00:00Z' }))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(pay(openPayment([c]), closedPayment(), none, Date.parse('2026-04-30T23:59:59Z') / 1000)).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(pay(openPayment([c]), closedPayment({ execution_date: 'next tuesday' }))).toMatchObject({ ok: false, error: 'invalid_mandate' })
  })

  it('payment.reference must name an open checkout mandate presented for this order (invalid_mandate)', () => {
    const r = checkConstraints({ kind: 'payment', open: openPayment([]), closed: closedPayment(), openCheckoutHashes: ['OTHER'], now, usage: none })
    expect(r).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payment.reference/) })
  })

  it('an unknown constraint type fails with unresolved_constraint and is recorded', () => {
    const r = pay(openPayment([{ type: 'payment.loyalty_points', min: 3 }]), closedPayment())
    expect(r).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/unknown constraint type "payment.loyalty_points"/) })
    expect(r.results).toContainEqual(expect.objectContaining({ type: 'payment.loyalty_points', ok: false }))
  })

  it('budget: cumulative spend in minor units; the use that would exceed it fails; another currency fails', () => {
    const open = openPayment([
      { type: 'payment.budget', max: 25_000, currency: 'USD' },
      { type: 'payment.agent_recurrence', frequency: 'ON_DEMAND' },
    ])
    const used: MandateUsage = { uses: [{ amount: 10_000n, currency: 'USD', at: now - 60 }] }
    expect(pay(open, closedPayment({ payment_amount: { amount: 15_000, currency: 'USD' } }), used)).toMatchObject({ ok: true })
    expect(pay(open, closedPayment({ payment_amount: { amount: 15_001, currency: 'USD' } }), used)).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/budget 25000/) })
    expect(pay(open, closedPayment({ payment_amount: { amount: 1, currency: 'CNY' } }), used)).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    // Deferred: the stateful part is skipped (evaluated later under the lock).
    expect(pay(open, closedPayment({ payment_amount: { amount: 99_999, currency: 'USD' } }), 'deferred')).toMatchObject({ ok: true })
    // A fractional budget (the SDK's "major units" reading) is refused.
    expect(pay(openPayment([{ type: 'payment.budget', max: 100.5, currency: 'USD' }]), closedPayment(), none)).toMatchObject({ ok: false, error: 'invalid_mandate' })
  })

  it('agent_recurrence: max_occurrences and frequency spacing (calendar months)', () => {
    const open = openPayment([{ type: 'payment.agent_recurrence', frequency: 'MONTHLY', max_occurrences: 2 }])
    const jan31 = Date.parse('2026-01-31T10:00:00Z') / 1000
    const once: MandateUsage = { uses: [{ amount: 1n, currency: 'USD', at: jan31 }] }
    expect(pay(open, closedPayment(), once, Date.parse('2026-02-27T10:00:00Z') / 1000)).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/next use/) })
    expect(pay(open, closedPayment(), once, Date.parse('2026-02-28T10:00:00Z') / 1000)).toMatchObject({ ok: true })
    const twice: MandateUsage = { uses: [...once.uses, { amount: 1n, currency: 'USD', at: jan31 + 40 * 86_400 }] }
    expect(pay(open, closedPayment(), twice, now + 365 * 86_400)).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/max_occurrences/) })
    expect(nextAllowed(jan31, 'DAILY')).toBe(jan31 + 86_400)
    expect(nextAllowed(jan31, 'ANNUALLY')).toBe(Date.parse('2027-01-31T10:00:00Z') / 1000)
  })

  it('without agent_recurrence an open mandate is single-use (retired after a payment)', () => {
    const r = pay(openPayment([]), closedPayment(), { uses: [{ amount: 1n, currency: 'USD', at: now - 10 }] })
    expect(r).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/retired/) })
  })

  it('pre-set claims must appear unchanged (payee, payment_amount, payment_instrument)', () => {
    const open = openPayment([], { payee, payment_amount: { amount: 10_000, currency: 'USD' }, payment_instrument: { id: 'agr-1', type: 'alipay.agreement' } })
    expect(pay(open, closedPayment())).toMatchObject({ ok: true })
    expect(pay(open, closedPayment({ payee: { id: 'merchant_1', name: 'Renamed' } }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payee/) })
    expect(pay(open, closedPayment({ payment_amount: { amount: 10_001, currency: 'USD' } }))).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/payment_amount/) })
    expect(pay(open, closedPayment({ payment_instrument: { id: 'agr-9', type: 'alipay.agreement' } }))).toMatchObject({ ok: false, error: 'invalid_mandate' })
    const withRisk = openPayment([], { risk_data: { device: 'd1' } })
    expect(pay(withRisk, closedPayment())).toMatchObject({ ok: false, error: 'invalid_mandate', description: expect.stringMatching(/omits/) })
  })
})

describe('checkConstraints: checkout', () => {
  it('allowed_merchants: the checkout merchant among revealed entries; none revealed fails', () => {
    const c = checkout([['a', 1]])
    expect(co([lines([{ ok: ['a'], q: 1 }]), { type: 'checkout.allowed_merchants', allowed: [payee] }], c)).toMatchObject({ ok: true })
    expect(co([lines([{ ok: ['a'], q: 1 }]), { type: 'checkout.allowed_merchants', allowed: [{ id: 'x', name: 'X' }] }], c)).toMatchObject({ ok: false, error: 'unresolved_constraint' })
    expect(co([lines([{ ok: ['a'], q: 1 }]), { type: 'checkout.allowed_merchants', allowed: [] }], c)).toMatchObject({ ok: false, error: 'unresolved_constraint', description: expect.stringMatching(/no allowed merchant/) })
  })

  it('line_items is an exact fill: substitution among revealed alternatives passes', () => {
    expect(checkLineItems(lines([{ ok: ['gold', 'silver'], q: 1 }]).items as never, checkout([['silver', 1]]))).toMatchObject({ ok: true })
    expect(checkLineItems(lines([{ ok: ['a'], q: 2 }, { ok: ['a', 'b'], q: 1 }]).items as never, checkout([['a', 2], ['b', 1]]))).toMatchObject({ ok: true })
    // Max-flow, not greedy: requirement 0 must take b so requirement 1 can take a.
    expect(checkLineItems(lines([{ ok: ['a', 'b'], q: 1 }, { ok: ['a'], q: 1 }]).items as never, checkout([['a', 1], ['b', 1]]))).toMatchObject({ ok: true })
  })

  it('line_items fails on an extra SKU, a SKU not acceptable, and quantities above or below', () => {
    const req = lines([{ ok: ['a'], q: 2 }]).items as never
    expect(checkLineItems(req, checkout([['a', 2], ['b', 1]]))).toMatchObject({ ok: false, detail: expect.stringMatching(/not acceptable to any requirement: b/) })
    expect(checkLineItems(req, checkout([['c', 2]]))).toMatchObject({ ok: false })
    expect(checkLineItems(req, checkout([['a', 3]]))).toMatchObject({ ok: false })
    expect(checkLineItems(req, checkout([['a', 1]]))).toMatchObject({ ok: false, detail: expect.stringMatching(/only 1 of 2/) })
    expect(checkLineItems(lines([{ ok: [], q: 1 }]).items as never, checkout([['a', 1]]))).toMatchObject({ ok: false, detail: expect.stringMatching(/reveals no acceptable item/) })
    expect(co([lines([{ ok: ['a'], q: 2 }])], checkout([['a', 2], ['b', 1]]))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
  })

  it('an unknown checkout constraint type fails', () => {
    expect(co([lines([{ ok: ['a'], q: 1 }]), { type: 'checkout.shipping_country', allowed: ['CN'] }], checkout([['a', 1]]))).toMatchObject({ ok: false, error: 'unresolved_constraint' })
  })
})
