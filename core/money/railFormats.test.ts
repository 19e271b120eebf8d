import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors/gatewayError.js'
import { createAssetRegistry } from './assets.js'
import {
  fromAlipayAmount,
  fromAlipayYuan,
  fromAntomAmount,
  fromTokenUnits,
  toAlipayAmount,
  toAlipayYuan,
  toAntomAmount,
  toTokenUnits,
} from './railFormats.js'

const RUNS = { numRuns: 300 }
const registry = createAssetRegistry()
const CNY = registry.require('iso4217:CNY')
const BASE_USDC = 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'

function errorOf(fn: () => unknown, code = 'GW_AMOUNT_INVALID'): string {
  try {
    fn()
  } catch (e) {
    // Plain checks rather than expect(): this runs hundreds of times inside properties.
    if (!(e instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(e)}`)
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`)
    return e.message
  }
  throw new Error('expected a GatewayError, nothing was thrown')
}

describe('Alipay yuan (iso4217:CNY)', () => {
  it.each([
    ['1', '0.01'],
    ['5', '0.05'],
    ['100', '1.00'],
    ['8888', '88.88'],
    ['1999', '19.99'],
    ['10000000000', '100000000.00'],
  ])('%s fen → %j', (fen, yuan) => {
    expect(toAlipayYuan({ value: fen, asset: 'iso4217:CNY' }, registry)).toBe(yuan)
    expect(fromAlipayYuan(yuan, CNY)).toEqual({ value: fen, asset: 'iso4217:CNY' })
  })

  it.each([
    ['12', '1200'],
    ['12.3', '1230'],
    ['12.30', '1230'],
    ['0.00', '0'],
    ['0', '0'],
  ])('fromAlipayYuan accepts %j as %s fen', (yuan, fen) => {
    expect(fromAlipayYuan(yuan, CNY)).toEqual({ value: fen, asset: 'iso4217:CNY' })
  })

  it.each([
    ['12.345', 'amount "12.345" has 3 fraction digits; this asset has 2 (refusing to round)'],
    ['12.300', 'amount "12.300" has 3 fraction digits; this asset has 2 (refusing to round)'],
    ['-1', 'amount "-1" is negative'],
    ['1e3', 'amount "1e3" uses exponent notation: write every digit'],
    [' 1', 'amount " 1" contains whitespace'],
    ['1 ', 'amount "1 " contains whitespace'],
    ['012', 'amount "012" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['12.', 'amount "12." is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['', 'amount is empty: expected a decimal string such as "19.99"'],
    ['¥12', 'amount "¥12" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
  ])('fromAlipayYuan refuses %j', (yuan, message) => {
    expect(errorOf(() => fromAlipayYuan(yuan, CNY))).toBe(message)
  })

  it('toAlipayYuan refuses zero, amounts over Alipay’s maximum, and other currencies', () => {
    expect(errorOf(() => toAlipayYuan({ value: '0', asset: 'iso4217:CNY' }, registry))).toBe('Alipay amounts start at 0.01 CNY, got 0 fen')
    expect(errorOf(() => toAlipayYuan({ value: '10000000001', asset: 'iso4217:CNY' }, registry))).toBe(
      'Alipay amounts end at 100000000.00 CNY, got 100000000.01',
    )
    expect(errorOf(() => toAlipayYuan({ value: '100', asset: 'iso4217:USD' }, registry))).toBe(
      'Alipay yuan amounts are for iso4217:CNY, got iso4217:USD; use toAlipayAmount',
    )
    expect(errorOf(() => toAlipayYuan({ value: '100', asset: BASE_USDC }, registry))).toBe(
      `${BASE_USDC} is a token; this rail format takes a fiat currency`,
    )
    expect(errorOf(() => toAlipayYuan({ value: '1.5', asset: 'iso4217:CNY' }, registry))).toMatch(/has a decimal point/)
    expect(errorOf(() => toAlipayYuan({ value: '1', asset: 'iso4217:ZZZ' }, registry), 'GW_ASSET_UNKNOWN')).toBe(
      'asset "iso4217:ZZZ" is not in the asset registry',
    )
  })

  it('fromAlipayYuan refuses a non-CNY asset', () => {
    expect(errorOf(() => fromAlipayYuan('1.00', registry.require('iso4217:USD')))).toBe(
      'Alipay yuan amounts are for iso4217:CNY, got iso4217:USD; use fromAlipayAmount',
    )
  })

  it('property: fen → yuan → fen is the identity over Alipay’s whole range, always with two decimals', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10_000_000_000n }), (fen) => {
        const yuan = toAlipayYuan({ value: fen.toString(), asset: 'iso4217:CNY' }, registry)
        expect(yuan).toMatch(/^(0|[1-9][0-9]*)\.[0-9]{2}$/)
        expect(fromAlipayYuan(yuan, CNY)).toEqual({ value: fen.toString(), asset: 'iso4217:CNY' })
      }),
      RUNS,
    )
  })

  it('property: a trailing zero is tolerated on the way back only up to two decimals', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), (fen) => {
        const whole = fen / 100n
        const cents = fen % 100n
        if (cents % 10n === 0n) expect(fromAlipayYuan(`${whole}.${cents / 10n}`, CNY).value).toBe(fen.toString())
        errorOf(() => fromAlipayYuan(`${whole}.${cents.toString().padStart(2, '0')}0`, CNY))
      }),
      RUNS,
    )
  })
})

describe('Alipay amounts in other currencies (cross-border)', () => {
  it.each([
    ['iso4217:JPY', '500', '500'],
    ['iso4217:USD', '1999', '19.99'],
    ['iso4217:KWD', '1234', '1.234'],
    ['iso4217:CLF', '12345', '1.2345'],
    ['iso4217:CNY', '1', '0.01'],
  ])('%s %s → %j', (asset, minor, wire) => {
    expect(toAlipayAmount({ value: minor, asset }, registry)).toBe(wire)
    expect(fromAlipayAmount(wire, registry.require(asset))).toEqual({ value: minor, asset })
  })

  it('refuses zero, tokens and extra precision', () => {
    expect(errorOf(() => toAlipayAmount({ value: '0', asset: 'iso4217:JPY' }, registry))).toBe('Alipay amounts must be positive, got 0 iso4217:JPY')
    expect(errorOf(() => fromAlipayAmount('1.5', registry.require('iso4217:JPY')))).toBe(
      'amount "1.5" has 1 fraction digits; this asset has 0 (refusing to round)',
    )
    expect(errorOf(() => fromAlipayAmount('1.2345', registry.require('iso4217:KWD')))).toMatch(/refusing to round/)
    expect(errorOf(() => fromAlipayAmount('1', registry.require(BASE_USDC)))).toBe(`${BASE_USDC} is a token; Alipay amounts are fiat`)
  })

  it('property: minor → Alipay → minor is the identity for every fiat currency, up to 10^30', () => {
    const fiat = registry.list().filter((a) => a.kind === 'fiat')
    fc.assert(
      fc.property(fc.constantFrom(...fiat), fc.bigInt({ min: 1n, max: 10n ** 30n }), (asset, v) => {
        const wire = toAlipayAmount({ value: v.toString(), asset: asset.id }, registry)
        expect(wire.includes('.') ? wire.split('.')[1]!.length : 0).toBe(asset.decimals)
        expect(fromAlipayAmount(wire, asset)).toEqual({ value: v.toString(), asset: asset.id })
      }),
      RUNS,
    )
  })
})

describe('Antom amounts', () => {
  it.each([
    [{ value: '1999', asset: 'iso4217:USD' }, { currency: 'USD', value: '1999' }],
    [{ value: '500', asset: 'iso4217:JPY' }, { currency: 'JPY', value: '500' }],
    [{ value: '1234', asset: 'iso4217:KWD' }, { currency: 'KWD', value: '1234' }],
    [{ value: '0', asset: 'iso4217:EUR' }, { currency: 'EUR', value: '0' }],
  ])('%j ↔ %j', (money, antom) => {
    expect(toAntomAmount(money)).toEqual(antom)
    expect(fromAntomAmount(antom)).toEqual(money)
  })

  it('refuses tokens, bad currencies and bad values', () => {
    expect(errorOf(() => toAntomAmount({ value: '1', asset: BASE_USDC }))).toBe(`Antom amounts are fiat (iso4217:XXX), got ${BASE_USDC}`)
    expect(errorOf(() => toAntomAmount({ value: '19.99', asset: 'iso4217:USD' }))).toMatch(/has a decimal point/)
    expect(errorOf(() => fromAntomAmount({ currency: 'usd', value: '1' }))).toBe('Antom currency must be a three-letter ISO 4217 code, got "usd"')
    expect(errorOf(() => fromAntomAmount({ currency: 'USD', value: '10.00' }))).toMatch(/has a decimal point/)
    expect(errorOf(() => fromAntomAmount({ currency: 'USD', value: 1000 as unknown as string }))).toBe(
      'amount must be a decimal string of minor units, got number (1000)',
    )
    expect(errorOf(() => fromAntomAmount(null as unknown as { currency: string; value: string }))).toBe('Antom amount must be an object')
  })

  it('property: Antom round trip for any fiat code and minor-unit value', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Z]{3}$/), fc.bigInt({ min: 0n, max: 10n ** 30n }), (currency, v) => {
        const money = { value: v.toString(), asset: `iso4217:${currency}` }
        expect(fromAntomAmount(toAntomAmount(money))).toEqual(money)
      }),
      RUNS,
    )
  })
})

describe('token units', () => {
  it('USDC: canonical minor units are the token’s smallest unit', () => {
    expect(toTokenUnits({ value: '1990000', asset: BASE_USDC }, registry)).toBe(1_990_000n)
    expect(toTokenUnits({ value: '1', asset: 'eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' }, registry)).toBe(1n)
    expect(fromTokenUnits(1_990_000n, 'eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', registry)).toEqual({
      value: '1990000',
      asset: BASE_USDC,
    })
  })

  it('refuses fiat, unknown tokens, negative and malformed amounts', () => {
    expect(errorOf(() => toTokenUnits({ value: '1', asset: 'iso4217:USD' }, registry))).toBe('iso4217:USD is fiat; token units need a token asset')
    expect(errorOf(() => fromTokenUnits(1n, 'iso4217:USD', registry))).toBe('iso4217:USD is fiat; token units need a token asset')
    expect(errorOf(() => toTokenUnits({ value: '1', asset: 'eip155:10/erc20:0x0b2c639c533813f4aa9d7837caf62653d097ff85' }, registry), 'GW_ASSET_UNKNOWN')).toBe(
      'asset "eip155:10/erc20:0x0b2c639c533813f4aa9d7837caf62653d097ff85" is not in the asset registry',
    )
    expect(errorOf(() => fromTokenUnits(-1n, BASE_USDC, registry))).toMatch(/is negative/)
    expect(errorOf(() => toTokenUnits({ value: '1e6', asset: BASE_USDC }, registry))).toMatch(/exponent notation/)
  })

  it('property: token units round trip up to uint256', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), (units) => {
        expect(toTokenUnits(fromTokenUnits(units, BASE_USDC, registry), registry)).toBe(units)
      }),
      RUNS,
    )
  })
})
