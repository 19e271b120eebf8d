import { describe, expect, it } from 'vitest'
import { buildIntent } from '../testing/builders.js'
import { railAmountFor, refundTotals } from './refundIntent.js'

describe('railAmountFor: what the rail refunds in the settlement asset', () => {
  it('is the refund itself when no FX conversion happened', () => {
    const intent = buildIntent({ amount: { value: '1000', asset: 'iso4217:CNY' } })
    expect(railAmountFor(intent, 300n, 0n)).toEqual({ value: '300', asset: 'iso4217:CNY' })
  })

  it('is pro rata on the running total, so the parts of a full refund add up to the settlement exactly', () => {
    // 1000 USD cents settled as 7 123 457 minor units of another asset: floor(S·(R+r)/A) − floor(S·R/A).
    const intent = buildIntent({ amount: { value: '1000', asset: 'iso4217:USD' }, settlement_amount: { value: '7123457', asset: 'iso4217:CNY' } })
    const parts = [333n, 333n, 334n]
    let already = 0n
    const rail = parts.map((p) => {
      const m = railAmountFor(intent, p, already)
      already += p
      return BigInt(m.value)
    })
    expect(rail.reduce((a, b) => a + b, 0n)).toBe(7_123_457n)
    expect(rail).toEqual([2_372_111n, 2_372_111n, 2_379_235n])
    expect(railAmountFor(intent, 1000n, 0n)).toEqual({ value: '7123457', asset: 'iso4217:CNY' })
  })
})

describe('refundTotals', () => {
  it('counts succeeded and pending refunds, never failed ones', () => {
    const at = new Date().toISOString()
    const intent = buildIntent({
      amount: { value: '1000', asset: 'iso4217:USD' },
      refunds: [
        { id: 're_1', amount: { value: '100', asset: 'iso4217:USD' }, status: 'succeeded', created_at: at },
        { id: 're_2', amount: { value: '200', asset: 'iso4217:USD' }, status: 'pending', created_at: at },
        { id: 're_3', amount: { value: '700', asset: 'iso4217:USD' }, status: 'failed', created_at: at },
      ],
    })
    expect(refundTotals(intent)).toEqual({ captured: 1000n, succeeded: 100n, pending: 200n })
  })
})
