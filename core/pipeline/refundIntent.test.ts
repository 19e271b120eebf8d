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

  it('given the rail amounts already refunded or reserved, a failed refund in between cannot make the parts exceed the settlement', () => {
    // 300 USD cents settled as 2138 fen. X (100) is reserved: 712; Y (100) is reserved while X is
    // pending: 1425 − 712 = 713. Then X fails (its 712 never moves), and Z and W refund the rest.
    const intent = buildIntent({ amount: { value: '300', asset: 'iso4217:USD' }, settlement_amount: { value: '2138', asset: 'iso4217:CNY' } })
    const x = BigInt(railAmountFor(intent, 100n, 0n, 0n).value)
    const y = BigInt(railAmountFor(intent, 100n, 100n, x).value)
    expect([x, y]).toEqual([712n, 713n])
    // On the refunds that count (Y only, 100 and 713): Z then W.
    const z = BigInt(railAmountFor(intent, 100n, 100n, y).value)
    const w = BigInt(railAmountFor(intent, 100n, 200n, y + z).value)
    expect([z, w]).toEqual([712n, 713n])
    expect(y + z + w).toBe(2138n)
    // The running total alone (no rail amounts) would have moved 713 + 713 + 713 = 2139: one fen too many.
    expect(BigInt(railAmountFor(intent, 100n, 100n).value) + BigInt(railAmountFor(intent, 100n, 200n).value) + y).toBe(2139n)
  })

  it('never refunds a negative part, and the part that completes the capture is exactly the rest', () => {
    const intent = buildIntent({ amount: { value: '300', asset: 'iso4217:USD' }, settlement_amount: { value: '2138', asset: 'iso4217:CNY' } })
    // Earlier parts already moved more than the running total's share: this part is 0, never negative.
    expect(railAmountFor(intent, 1n, 100n, 800n)).toEqual({ value: '0', asset: 'iso4217:CNY' })
    expect(railAmountFor(intent, 200n, 100n, 800n)).toEqual({ value: '1338', asset: 'iso4217:CNY' })
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
