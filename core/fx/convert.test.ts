import { describe, expect, it } from 'vitest'
import { isGatewayError } from '../errors/gatewayError.js'
import { createAssetRegistry } from '../money/assets.js'
import { convertAmount, divRoundHalfUp, invertRate, parseRate, withSpread } from './convert.js'

const assets = createAssetRegistry()
const USDC = assets.list().find((a) => a.symbol === 'USDC')!.id

function code(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return isGatewayError(e) ? e.code : 'not a GatewayError'
  }
  return undefined
}

describe('FX conversion in integer minor units', () => {
  it('USD 2 → CNY 2 decimals, rounded half up', () => {
    // 19.99 × 7.1 = 141.929 → 141.93
    expect(convertAmount({ value: '1999', asset: 'iso4217:USD' }, 'iso4217:CNY', '7.1', assets)).toEqual({ value: '14193', asset: 'iso4217:CNY' })
    // 0.05 × 7.1 = 0.355 → 0.36 (an exact half goes up)
    expect(convertAmount({ value: '5', asset: 'iso4217:USD' }, 'iso4217:CNY', '7.1', assets)).toEqual({ value: '36', asset: 'iso4217:CNY' })
    // 0.05 × 7.09 = 0.3545 → 0.35 (below half goes down)
    expect(convertAmount({ value: '5', asset: 'iso4217:USD' }, 'iso4217:CNY', '7.09', assets)).toEqual({ value: '35', asset: 'iso4217:CNY' })
  })

  it('CNY 2 → USDC 6 decimals and JPY 0 → USD 2 use the registry decimals', () => {
    // 100.00 CNY × 0.1408 = 14.08 USDC = 14 080 000 units
    expect(convertAmount({ value: '10000', asset: 'iso4217:CNY' }, USDC, '0.1408', assets)).toEqual({ value: '14080000', asset: USDC })
    // 1234 JPY × 0.0067 = 8.2678 USD → 8.27
    expect(convertAmount({ value: '1234', asset: 'iso4217:JPY' }, 'iso4217:USD', '0.0067', assets)).toEqual({ value: '827', asset: 'iso4217:USD' })
    // 8.27 USD × 149.5 = 1236.365 JPY → 1236
    expect(convertAmount({ value: '827', asset: 'iso4217:USD' }, 'iso4217:JPY', '149.5', assets)).toEqual({ value: '1236', asset: 'iso4217:JPY' })
  })

  it('exact on amounts far beyond float precision', () => {
    expect(convertAmount({ value: '123456789012345678901', asset: 'iso4217:USD' }, 'iso4217:CNY', '7.123456789012345678', assets).value).toBe('879439101839658588946')
  })

  it('refuses to settle a non-zero amount as zero, unknown assets and malformed rates', () => {
    expect(code(() => convertAmount({ value: '1', asset: 'iso4217:JPY' }, 'iso4217:USD', '0.0001', assets))).toBe('GW_AMOUNT_INVALID')
    expect(code(() => convertAmount({ value: '1', asset: 'iso4217:USD' }, 'iso4217:XXZ', '1', assets))).toBe('GW_ASSET_UNKNOWN')
    for (const bad of ['1e3', '-1', '0', '7,1', '.5', '01.5', '1.1234567890123456789', 'NaN']) expect(code(() => parseRate(bad))).toBe('GW_FX_UNAVAILABLE')
  })

  it('spread and inverse are exact decimals, half up at 18 decimals', () => {
    expect(withSpread('7.1', 50)).toBe('7.1355')
    expect(withSpread('7.1', 0)).toBe('7.1')
    expect(withSpread('0.123456789012345678', 1)).toBe('0.123469134691246913')
    expect(invertRate('8')).toBe('0.125')
    expect(invertRate('3')).toBe('0.333333333333333333')
    expect(invertRate('1.5')).toBe('0.666666666666666667')
    expect(divRoundHalfUp(5n, 2n)).toBe(3n)
    expect(divRoundHalfUp(7n, 3n)).toBe(2n)
    expect(code(() => withSpread('1', -1))).toBe('GW_CONFIG_INVALID')
  })
})
