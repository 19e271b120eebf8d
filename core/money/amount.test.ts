import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors/gatewayError.js'
import type { Money } from '../intent/types.js'
import {
  addMoney,
  compareMoney,
  convertDecimals,
  formatMinorUnits,
  fromMajorString,
  isMinorUnits,
  MAX_MINOR_UNITS_DIGITS,
  parseMinorUnits,
  subMoney,
  toMajorString,
} from './amount.js'

const RUNS = { numRuns: 300 }
const TEN_30 = 10n ** 30n

/** Run `fn`, expect a GatewayError with `code`, return its message. */
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

const GRAMMAR = /^(0|[1-9][0-9]*)$/
const minor = fc.bigInt({ min: 0n, max: TEN_30 })
const decimals = fc.integer({ min: 0, max: 18 })

describe('parseMinorUnits', () => {
  it.each([
    ['0', 0n],
    ['1', 1n],
    ['1999', 1999n],
    ['9'.repeat(78), 10n ** 78n - 1n],
  ])('accepts %j', (s, v) => {
    expect(parseMinorUnits(s)).toBe(v)
    expect(isMinorUnits(s)).toBe(true)
  })

  it.each([
    ['', 'amount is empty: expected a decimal string of minor units such as "1999"'],
    [' 1', 'amount " 1" contains whitespace'],
    ['1 ', 'amount "1 " contains whitespace'],
    ['1\n', 'amount "1\\n" contains whitespace'],
    ['1\u00a0000', 'amount "1\u00a0000" contains whitespace'],
    ['-1', 'amount "-1" is negative: amounts are non-negative minor units'],
    ['-0', 'amount "-0" is negative: amounts are non-negative minor units'],
    ['+1', 'amount "+1" has a sign: write the digits only'],
    ['1e3', 'amount "1e3" uses exponent notation: write every digit'],
    ['1E+21', 'amount "1E+21" uses exponent notation: write every digit'],
    ['1.5e-7', 'amount "1.5e-7" uses exponent notation: write every digit'],
    ['19.99', 'amount "19.99" has a decimal point: amounts are integers in minor units ("19.99 USD" is "1999")'],
    ['1.', 'amount "1." has a decimal point: amounts are integers in minor units ("19.99 USD" is "1999")'],
    ['.5', 'amount ".5" has a decimal point: amounts are integers in minor units ("19.99 USD" is "1999")'],
    ['007', 'amount "007" has leading zeros'],
    ['00', 'amount "00" has leading zeros'],
    ['١٢٣', 'amount "١٢٣" uses non-ASCII digits: only 0-9 are allowed'],
    ['１２', 'amount "１２" uses non-ASCII digits: only 0-9 are allowed'],
    ['0x10', 'amount "0x10" contains characters other than the digits 0-9'],
    ['1_000', 'amount "1_000" contains characters other than the digits 0-9'],
    ['1,000', 'amount "1,000" contains characters other than the digits 0-9'],
    ['NaN', 'amount "NaN" contains characters other than the digits 0-9'],
    ['Infinity', 'amount "Infinity" contains characters other than the digits 0-9'],
    ['1'.repeat(79), 'amount has 79 digits; at most 78 are allowed'],
  ])('refuses %j with a precise message', (s, message) => {
    expect(errorOf(() => parseMinorUnits(s))).toBe(message)
    expect(isMinorUnits(s)).toBe(false)
  })

  it.each([
    [1999, 'amount must be a decimal string of minor units, got number (1999)'],
    [19.99, 'amount must be a decimal string of minor units, got number (19.99)'],
    [1999n, 'amount must be a decimal string of minor units, got bigint'],
    [null, 'amount must be a decimal string of minor units, got null'],
    [undefined, 'amount must be a decimal string of minor units, got undefined'],
    [['1'], 'amount must be a decimal string of minor units, got array'],
    [{ value: '1' }, 'amount must be a decimal string of minor units, got object'],
  ])('refuses the non-string %s', (v, message) => {
    expect(errorOf(() => parseMinorUnits(v))).toBe(message)
    expect(isMinorUnits(v)).toBe(false)
  })

  it('never echoes more than 40 characters of a bad input', () => {
    const message = errorOf(() => parseMinorUnits('x'.repeat(10_000)))
    expect(message.length).toBeLessThan(120)
  })

  it('property: every string outside the grammar is refused with GW_AMOUNT_INVALID', () => {
    const anyString = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '-', 'e', ' ', '+') }))
    fc.assert(
      fc.property(anyString, (s) => {
        fc.pre(!(GRAMMAR.test(s) && s.length <= MAX_MINOR_UNITS_DIGITS))
        expect(isMinorUnits(s)).toBe(false)
        errorOf(() => parseMinorUnits(s))
      }),
      RUNS,
    )
  })

  it('property: every string in the grammar parses to the same digits', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^(0|[1-9][0-9]{0,77})$/), (s) => {
        expect(isMinorUnits(s)).toBe(true)
        expect(parseMinorUnits(s).toString()).toBe(s)
      }),
      RUNS,
    )
  })

  it('property: floats rendered with String(x) are refused unless they are plain non-negative integers', () => {
    fc.assert(
      fc.property(fc.double(), (x) => {
        const s = String(x)
        if (Number.isInteger(x) && x >= 0 && x < 1e21) {
          // String(x) of such a double is a plain digit string ("5", "0" for -0), so it parses, but
          // only as the digits shown: above 2^53 they are not x (39700379844416008 prints as …010).
          expect(parseMinorUnits(s).toString()).toBe(s)
        } else {
          errorOf(() => parseMinorUnits(s))
        }
      }),
      RUNS,
    )
  })

  it('property: non-integral floats are always refused', () => {
    fc.assert(
      fc.property(fc.double({ noDefaultInfinity: true, noNaN: true }).filter((x) => !Number.isInteger(x)), (x) => {
        errorOf(() => parseMinorUnits(String(x)))
      }),
      RUNS,
    )
  })

  it('property: negative numbers are refused as negative', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -TEN_30, max: -1n }), (v) => {
        expect(errorOf(() => parseMinorUnits(v.toString()))).toMatch(/is negative/)
      }),
      RUNS,
    )
  })

  it('property: exponent forms are refused as exponent notation', () => {
    const exponent = fc
      .tuple(fc.stringMatching(/^[0-9]{1,5}(\.[0-9]{1,3})?$/), fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), fc.integer({ min: 0, max: 400 }))
      .map(([m, e, sign, n]) => `${m}${e}${sign}${n}`)
    fc.assert(
      fc.property(exponent, (s) => {
        expect(errorOf(() => parseMinorUnits(s))).toMatch(/uses exponent notation/)
      }),
      RUNS,
    )
  })

  it('property: leading zeros are refused', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^0[0-9]{1,40}$/), (s) => {
        expect(errorOf(() => parseMinorUnits(s))).toMatch(/has leading zeros/)
      }),
      RUNS,
    )
  })
})

describe('formatMinorUnits', () => {
  it('renders canonical digits', () => {
    expect(formatMinorUnits(0n)).toBe('0')
    expect(formatMinorUnits(1999n)).toBe('1999')
  })

  it('refuses negatives and values over 78 digits', () => {
    expect(errorOf(() => formatMinorUnits(-1n))).toBe('amount -1 is negative: amounts are non-negative minor units')
    expect(errorOf(() => formatMinorUnits(10n ** 78n))).toBe('amount has more than 78 digits')
    expect(formatMinorUnits(10n ** 78n - 1n)).toBe('9'.repeat(78))
  })

  it('refuses a number instead of a bigint', () => {
    expect(errorOf(() => formatMinorUnits(5 as unknown as bigint))).toBe('amount must be a bigint, got number')
  })

  it('property: parse ∘ format is the identity', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 78n - 1n }), (v) => {
        expect(parseMinorUnits(formatMinorUnits(v))).toBe(v)
      }),
      RUNS,
    )
  })
})

describe('toMajorString / fromMajorString', () => {
  it.each([
    ['1999', 2, '19.99'],
    ['5', 2, '0.05'],
    ['0', 2, '0.00'],
    ['100', 0, '100'],
    ['0', 0, '0'],
    ['1', 3, '0.001'],
    ['1234', 3, '1.234'],
    ['500', 0, '500'],
    ['1990000', 6, '1.990000'],
    ['1', 18, '0.000000000000000001'],
    ['12345', 4, '1.2345'],
  ] as const)('toMajorString(%j, %i) is %j', (m, d, major) => {
    expect(toMajorString(m, d)).toBe(major)
    expect(toMajorString(BigInt(m), d)).toBe(major)
    expect(fromMajorString(major, d)).toBe(BigInt(m))
  })

  it('toMajorString refuses bad minor units and bad decimals', () => {
    expect(errorOf(() => toMajorString('19.99', 2))).toMatch(/has a decimal point/)
    expect(errorOf(() => toMajorString(-5n, 2))).toMatch(/is negative/)
    expect(errorOf(() => toMajorString('5', -1), 'GW_INTERNAL')).toBe('decimals must be an integer 0..36, got -1')
    expect(errorOf(() => toMajorString('5', 2.5), 'GW_INTERNAL')).toBe('decimals must be an integer 0..36, got 2.5')
    expect(errorOf(() => toMajorString('5', 37), 'GW_INTERNAL')).toBe('decimals must be an integer 0..36, got 37')
  })

  it.each([
    ['12', 2, 1200n],
    ['12.3', 2, 1230n],
    ['12.30', 2, 1230n],
    ['0.01', 2, 1n],
    ['0', 2, 0n],
    ['0.0', 2, 0n],
    ['7', 0, 7n],
    ['1.234', 3, 1234n],
  ] as const)('fromMajorString(%j, %i) is %s', (major, d, v) => {
    expect(fromMajorString(major, d)).toBe(v)
  })

  it.each([
    ['12.345', 2, 'amount "12.345" has 3 fraction digits; this asset has 2 (refusing to round)'],
    ['12.300', 2, 'amount "12.300" has 3 fraction digits; this asset has 2 (refusing to round)'],
    ['1.0', 0, 'amount "1.0" has 1 fraction digits; this asset has 0 (refusing to round)'],
    ['-1', 2, 'amount "-1" is negative'],
    ['1e3', 2, 'amount "1e3" uses exponent notation: write every digit'],
    [' 1', 2, 'amount " 1" contains whitespace'],
    ['', 2, 'amount is empty: expected a decimal string such as "19.99"'],
    ['012', 2, 'amount "012" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['12.', 2, 'amount "12." is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['.5', 2, 'amount ".5" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['1,000.00', 2, 'amount "1,000.00" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
    ['１２', 2, 'amount "１２" is not a decimal of the form 123 or 123.45 (no sign, no leading zeros, digits 0-9 only)'],
  ] as const)('fromMajorString(%j, %i) is refused', (major, d, message) => {
    expect(errorOf(() => fromMajorString(major, d))).toBe(message)
  })

  it('fromMajorString refuses results over 78 digits and absurdly long input', () => {
    expect(errorOf(() => fromMajorString('1' + '0'.repeat(77), 2))).toBe('amount has more than 78 digits')
    expect(errorOf(() => fromMajorString('1'.repeat(200), 0))).toBe('amount has 200 characters; too long')
  })

  it('property: minor → major → minor is the identity (up to 10^30, decimals 0..18)', () => {
    fc.assert(
      fc.property(minor, decimals, (v, d) => {
        const major = toMajorString(v, d)
        expect(fromMajorString(major, d)).toBe(v)
        expect(toMajorString(v.toString(), d)).toBe(major)
      }),
      RUNS,
    )
  })

  it('property: the major string has exactly `decimals` fraction digits and no leading zeros', () => {
    fc.assert(
      fc.property(minor, decimals, (v, d) => {
        const major = toMajorString(v, d)
        expect(major).toMatch(d === 0 ? /^(0|[1-9][0-9]*)$/ : new RegExp(`^(0|[1-9][0-9]*)\\.[0-9]{${d}}$`))
      }),
      RUNS,
    )
  })

  it('property: canonical major → minor → major is the identity', () => {
    const majorWithD = decimals.chain((d) =>
      fc
        .tuple(minor, fc.bigInt({ min: 0n, max: 10n ** BigInt(d) - 1n }))
        .map(([w, f]) => [d === 0 ? w.toString() : `${w}.${f.toString().padStart(d, '0')}`, d] as const),
    )
    fc.assert(
      fc.property(majorWithD, ([major, d]) => {
        expect(toMajorString(fromMajorString(major, d), d)).toBe(major)
      }),
      RUNS,
    )
  })

  it('property: any extra fraction digit is refused, even a zero', () => {
    fc.assert(
      fc.property(minor, decimals, fc.stringMatching(/^[0-9]{1,4}$/), (v, d, extra) => {
        const major = toMajorString(v, d)
        const longer = d === 0 ? `${major}.${extra}` : major + extra
        expect(errorOf(() => fromMajorString(longer, d))).toMatch(/refusing to round/)
      }),
      RUNS,
    )
  })
})

describe('convertDecimals', () => {
  it.each([
    [1_990_000n, 6, 2, 'exact', 199n],
    [1_990_001n, 6, 2, 'floor', 199n],
    [1_990_001n, 6, 2, 'ceil', 200n],
    [199n, 2, 6, 'exact', 1_990_000n],
    [500n, 0, 2, 'exact', 50_000n],
    [0n, 18, 0, 'exact', 0n],
    [1234n, 3, 3, 'exact', 1234n],
  ] as const)('convertDecimals(%s, %i, %i, %s) is %s', (v, from, to, rounding, out) => {
    expect(convertDecimals(v, from, to, rounding)).toBe(out)
  })

  it('exact refuses to drop a remainder, precisely', () => {
    expect(errorOf(() => convertDecimals(1_990_001n, 6, 2, 'exact'))).toBe(
      'converting 1990001 from 6 to 2 decimals would drop 1 (refusing to round)',
    )
  })

  it('refuses negatives, bad decimals and unknown rounding', () => {
    expect(errorOf(() => convertDecimals(-1n, 2, 6, 'exact'))).toMatch(/is negative/)
    expect(errorOf(() => convertDecimals(1n, 2, 40, 'exact'), 'GW_INTERNAL')).toBe('toDecimals must be an integer 0..36, got 40')
    expect(errorOf(() => convertDecimals(1n, 2, 6, 'round' as 'exact'), 'GW_INTERNAL')).toBe('rounding must be floor, ceil or exact, got round')
  })

  const scales = fc.tuple(minor, fc.integer({ min: 0, max: 18 }), fc.integer({ min: 0, max: 18 }))

  it('property: scaling up and back down exactly is the identity', () => {
    fc.assert(
      fc.property(minor, decimals, fc.integer({ min: 0, max: 18 }), (v, from, up) => {
        const to = from + up
        const scaled = convertDecimals(v, from, to, 'exact')
        expect(scaled).toBe(v * 10n ** BigInt(up))
        expect(convertDecimals(scaled, to, from, 'exact')).toBe(v)
      }),
      RUNS,
    )
  })

  it('property: floor ≤ true value ≤ ceil, they differ by at most one unit, and exact succeeds iff they agree', () => {
    fc.assert(
      fc.property(scales, ([v, a, b]) => {
        const [from, to] = a >= b ? [a, b] : [b, a]
        const unit = 10n ** BigInt(from - to)
        const lo = convertDecimals(v, from, to, 'floor')
        const hi = convertDecimals(v, from, to, 'ceil')
        expect(lo * unit <= v).toBe(true)
        expect(v <= hi * unit).toBe(true)
        expect(hi - lo === 0n || hi - lo === 1n).toBe(true)
        if (v % unit === 0n) {
          expect(hi).toBe(lo)
          expect(convertDecimals(v, from, to, 'exact')).toBe(lo)
        } else {
          expect(hi).toBe(lo + 1n)
          errorOf(() => convertDecimals(v, from, to, 'exact'))
        }
      }),
      RUNS,
    )
  })

  it('property: floor and ceil are monotonic', () => {
    fc.assert(
      fc.property(minor, minor, decimals, decimals, (x, y, a, b) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x]
        const [from, to] = a >= b ? [a, b] : [b, a]
        expect(convertDecimals(lo, from, to, 'floor') <= convertDecimals(hi, from, to, 'floor')).toBe(true)
        expect(convertDecimals(lo, from, to, 'ceil') <= convertDecimals(hi, from, to, 'ceil')).toBe(true)
      }),
      RUNS,
    )
  })
})

describe('addMoney / subMoney / compareMoney', () => {
  const USD = 'iso4217:USD'
  const BASE_USDC = 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'
  const BASE_USDC_CHECKSUM = 'eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913'
  const assets = fc.constantFrom(USD, 'iso4217:EUR', 'iso4217:JPY', 'iso4217:KWD', BASE_USDC)
  const money = (asset: string): fc.Arbitrary<Money> => minor.map((v) => ({ value: v.toString(), asset }))

  it('examples', () => {
    expect(addMoney({ value: '1999', asset: USD }, { value: '1', asset: USD })).toEqual({ value: '2000', asset: USD })
    expect(subMoney({ value: '1999', asset: USD }, { value: '1999', asset: USD })).toEqual({ value: '0', asset: USD })
    expect(compareMoney({ value: '10', asset: 'iso4217:JPY' }, { value: '9', asset: 'iso4217:JPY' })).toBe(1)
  })

  it('refuses mixing assets, precisely', () => {
    expect(errorOf(() => addMoney({ value: '1', asset: USD }, { value: '1', asset: 'iso4217:EUR' }))).toBe(
      'cannot add amounts of different assets (iso4217:USD and iso4217:EUR); convert one first',
    )
    expect(errorOf(() => subMoney({ value: '1', asset: USD }, { value: '1', asset: BASE_USDC }))).toBe(
      `cannot subtract amounts of different assets (iso4217:USD and ${BASE_USDC}); convert one first`,
    )
    expect(errorOf(() => compareMoney({ value: '1', asset: USD }, { value: '1', asset: 'iso4217:JPY' }))).toMatch(/cannot compare/)
  })

  it('refuses a negative result and malformed values', () => {
    expect(errorOf(() => subMoney({ value: '5', asset: USD }, { value: '6', asset: USD }))).toBe('5 - 6 iso4217:USD would be negative')
    expect(errorOf(() => addMoney({ value: '1.5', asset: USD }, { value: '1', asset: USD }))).toMatch(/has a decimal point/)
    expect(errorOf(() => addMoney({ value: '1', asset: 'usd' }, { value: '1', asset: 'usd' }), 'GW_ASSET_UNKNOWN')).toBe(
      'asset "usd" is not a valid asset id',
    )
  })

  it('treats a checksummed and a lowercase token address as the same asset and returns the normalised id', () => {
    const a = { value: '1', asset: BASE_USDC_CHECKSUM }
    const b = { value: '2', asset: BASE_USDC }
    expect(addMoney(a, b)).toEqual({ value: '3', asset: BASE_USDC })
    expect(addMoney(b, a)).toEqual({ value: '3', asset: BASE_USDC })
  })

  it('property: addition is commutative and associative', () => {
    fc.assert(
      fc.property(assets.chain((asset) => fc.tuple(money(asset), money(asset), money(asset))), ([a, b, c]) => {
        expect(addMoney(a, b)).toEqual(addMoney(b, a))
        expect(addMoney(addMoney(a, b), c)).toEqual(addMoney(a, addMoney(b, c)))
      }),
      RUNS,
    )
  })

  it('property: (a + b) - b = a and a - a = 0; a - b is refused exactly when b > a', () => {
    fc.assert(
      fc.property(assets.chain((asset) => fc.tuple(money(asset), money(asset))), ([a, b]) => {
        expect(subMoney(addMoney(a, b), b)).toEqual(a)
        expect(subMoney(a, a).value).toBe('0')
        if (BigInt(b.value) > BigInt(a.value)) expect(errorOf(() => subMoney(a, b))).toMatch(/would be negative/)
        else expect(BigInt(subMoney(a, b).value)).toBe(BigInt(a.value) - BigInt(b.value))
      }),
      RUNS,
    )
  })

  it('property: compareMoney agrees with bigint order and is antisymmetric', () => {
    fc.assert(
      fc.property(assets.chain((asset) => fc.tuple(money(asset), money(asset))), ([a, b]) => {
        const x = BigInt(a.value)
        const y = BigInt(b.value)
        expect(compareMoney(a, b)).toBe(x < y ? -1 : x > y ? 1 : 0)
        expect(compareMoney(b, a)).toBe(-compareMoney(a, b) || 0)
      }),
      RUNS,
    )
  })

  it('property: any two different assets are refused by add, sub and compare', () => {
    fc.assert(
      fc.property(
        fc.tuple(assets, assets).filter(([x, y]) => x !== y),
        minor,
        minor,
        ([x, y], v, w) => {
          const a = { value: v.toString(), asset: x }
          const b = { value: w.toString(), asset: y }
          expect(errorOf(() => addMoney(a, b))).toMatch(/different assets/)
          expect(errorOf(() => subMoney(a, b))).toMatch(/different assets/)
          expect(errorOf(() => compareMoney(a, b))).toMatch(/different assets/)
        },
      ),
      RUNS,
    )
  })
})
