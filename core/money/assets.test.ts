import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { GatewayError } from '../errors/gatewayError.js'
import { fromRoot } from '../util/paths.js'
import { convertDecimals, fromMajorString, toMajorString } from './amount.js'
import { createAssetRegistry, normalizeAssetId, type AssetInfo } from './assets.js'
import { iso4217 } from './iso4217.js'

function errorOf(fn: () => unknown, code: string): string {
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

const assetIdPattern = new RegExp(
  (JSON.parse(readFileSync(fromRoot('schemas', 'canonical', 'asset-id.json'), 'utf8')) as { pattern: string }).pattern,
)

const BASE_USDC = 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'

describe('the ISO 4217 table', () => {
  it('holds at least 150 currencies, sorted by code, without duplicate alphabetic or numeric codes', () => {
    expect(iso4217.length).toBeGreaterThanOrEqual(150)
    const codes = iso4217.map(([c]) => c)
    expect(codes).toEqual([...codes].sort())
    expect(new Set(codes).size).toBe(codes.length)
    const numerics = iso4217.map(([, n]) => n)
    expect(new Set(numerics).size).toBe(numerics.length)
    for (const [code, numeric, minorUnits, name] of iso4217) {
      expect(code).toMatch(/^[A-Z]{3}$/)
      expect(numeric).toMatch(/^[0-9]{3}$/)
      expect([0, 2, 3, 4]).toContain(minorUnits)
      expect(name.length).toBeGreaterThan(0)
    }
  })

  it('leaves out codes without a minor unit (metals, SDR, test codes) and withdrawn ones', () => {
    const codes = new Set(iso4217.map(([c]) => c))
    for (const code of ['XAU', 'XAG', 'XPD', 'XPT', 'XDR', 'XUA', 'XSU', 'XTS', 'XXX', 'ANG', 'BGN', 'SLL', 'CUC', 'HRK', 'ZWL'])
      expect(codes.has(code), code).toBe(false)
  })
})

describe('createAssetRegistry: built-in fiat', () => {
  const registry = createAssetRegistry()

  it.each([
    // zero-decimal
    ...['JPY', 'KRW', 'VND', 'CLP', 'ISK', 'UGX', 'XAF', 'XOF', 'PYG', 'BIF', 'DJF', 'GNF', 'KMF', 'RWF', 'VUV', 'XPF', 'UYI'].map((c) => [c, 0] as const),
    // three-decimal
    ...['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'].map((c) => [c, 3] as const),
    // four-decimal
    ['CLF', 4] as const,
    ['UYW', 4] as const,
    // two-decimal, including ones everyday practice often quotes without decimals
    ...['USD', 'EUR', 'CNY', 'GBP', 'HKD', 'SGD', 'CHF', 'AUD', 'CAD', 'INR', 'BRL', 'MXN', 'IDR', 'HUF', 'TWD', 'XCG', 'ZWG', 'SLE'].map((c) => [c, 2] as const),
  ])('iso4217:%s has %i decimals', (code, decimals) => {
    const info = registry.require(`iso4217:${code}`)
    expect(info).toMatchObject({ id: `iso4217:${code}`, kind: 'fiat', decimals, symbol: code })
    expect(info.network).toBeUndefined()
    expect(info.address).toBeUndefined()
  })

  it('lists every ISO row as a fiat asset, then the tokens', () => {
    const list = registry.list()
    expect(list.slice(0, iso4217.length).map((a) => a.id)).toEqual(iso4217.map(([c]) => `iso4217:${c}`))
    expect(list.slice(iso4217.length).every((a) => a.kind === 'token')).toBe(true)
  })

  it('every built-in id matches the canonical asset-id schema pattern', () => {
    for (const a of registry.list()) expect(a.id).toMatch(assetIdPattern)
  })

  it('fiat codes are case-sensitive, as in the schema', () => {
    expect(registry.get('iso4217:usd')).toBeUndefined()
    expect(registry.get('ISO4217:USD')).toBeUndefined()
  })

  it('get returns undefined and require throws GW_ASSET_UNKNOWN for unknown or malformed ids', () => {
    expect(registry.get('iso4217:XAU')).toBeUndefined()
    expect(errorOf(() => registry.require('iso4217:XAU'), 'GW_ASSET_UNKNOWN')).toBe('asset "iso4217:XAU" is not in the asset registry')
    expect(errorOf(() => registry.require('USD'), 'GW_ASSET_UNKNOWN')).toBe(
      'asset "USD" is not a valid asset id (expected iso4217:XXX or CAIP-19)',
    )
    expect(errorOf(() => registry.require(''), 'GW_ASSET_UNKNOWN')).toBe('asset "" is not a valid asset id (expected iso4217:XXX or CAIP-19)')
    expect(errorOf(() => registry.require(42 as unknown as string), 'GW_ASSET_UNKNOWN')).toBe(
      'asset number is not a valid asset id (expected iso4217:XXX or CAIP-19)',
    )
  })

  it('entries are frozen: an exponent cannot be changed through a lookup', () => {
    const usd = registry.require('iso4217:USD')
    expect(() => {
      ;(usd as { decimals: number }).decimals = 0
    }).toThrow(TypeError)
    expect(registry.require('iso4217:USD').decimals).toBe(2)
  })
})

describe('createAssetRegistry: tokens', () => {
  const registry = createAssetRegistry()

  it.each([
    ['eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', 'eip155:8453', '0x833589fcd6edb6e08f4c7c32d4f71b54bda02913'],
    ['eip155:84532/erc20:0x036CbD53842c5426634e7929541eC2318f3dCF7e', 'eip155:84532', '0x036cbd53842c5426634e7929541ec2318f3dcf7e'],
    ['eip155:1/erc20:0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48', 'eip155:1', '0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48'],
  ])('USDC %s (checksummed) is found under its lowercase id, 6 decimals', (checksummed, network, address) => {
    const info = registry.require(checksummed)
    expect(info).toEqual({
      id: `${network}/erc20:${address}`,
      kind: 'token',
      decimals: 6,
      symbol: 'USDC',
      name: expect.stringContaining('USD Coin'),
      network,
      address,
    })
    expect(registry.get(`${network}/erc20:${address}`)).toBe(info)
  })

  it('does not confuse chains: Base USDC address on another chain is unknown', () => {
    expect(registry.get('eip155:10/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913')).toBeUndefined()
  })
})

describe('normalizeAssetId', () => {
  it.each([
    ['iso4217:USD', 'iso4217:USD'],
    ['eip155:8453/erc20:0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', BASE_USDC],
    ['solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp/token:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v', 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp/token:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v'],
  ])('%s → %s', (id, out) => {
    expect(normalizeAssetId(id)).toBe(out)
  })

  it.each([
    'iso4217:US',
    'iso4217:usd',
    'eip155:8453/erc20:0x833589',
    'eip155:8453/erc20:833589fcd6edb6e08f4c7c32d4f71b54bda02913',
    'eip155:08453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913',
    'eip155:8453/erc20:0xZZ3589fcd6edb6e08f4c7c32d4f71b54bda02913',
    'eip155:8453',
    ' iso4217:USD',
    '',
  ])('%j is not an asset id', (id) => {
    expect(normalizeAssetId(id)).toBeUndefined()
  })
})

describe('AssetRegistry.register', () => {
  const token: AssetInfo = { id: 'eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb', kind: 'token', decimals: 18, symbol: 'DAI' }

  it('normalises a token id and fills in network and address', () => {
    const registry = createAssetRegistry()
    const stored = registry.register(token)
    expect(stored).toEqual({
      id: 'eip155:8453/erc20:0x50c5725949a6f0c72e6c4a641f24049a917db0cb',
      kind: 'token',
      decimals: 18,
      symbol: 'DAI',
      network: 'eip155:8453',
      address: '0x50c5725949a6f0c72e6c4a641f24049a917db0cb',
    })
    expect(registry.require(token.id)).toBe(stored)
    expect(registry.list().at(-1)).toBe(stored)
  })

  it('registrations do not leak between registries (no module state)', () => {
    const a = createAssetRegistry([token])
    const b = createAssetRegistry()
    expect(a.get(token.id)).toBeDefined()
    expect(b.get(token.id)).toBeUndefined()
  })

  it('accepts the same facts again and refuses a different exponent for a known id', () => {
    const registry = createAssetRegistry()
    expect(registry.register({ id: 'iso4217:USD', kind: 'fiat', decimals: 2, symbol: 'USD', name: 'US Dollar' })).toBe(
      registry.require('iso4217:USD'),
    )
    expect(errorOf(() => registry.register({ id: 'iso4217:JPY', kind: 'fiat', decimals: 2, symbol: 'JPY', name: 'Yen' }), 'GW_CONFIG_INVALID')).toBe(
      "invalid asset registration: iso4217:JPY is already registered with different facts (decimals 0, symbol JPY); an asset's exponent cannot change",
    )
    expect(() => registry.register({ ...token, decimals: 18 })).not.toThrow()
    expect(() => registry.register({ ...token, decimals: 6 })).toThrow(/already registered/)
    expect(registry.require(token.id).decimals).toBe(18)
  })

  it.each([
    [{ ...token, decimals: -1 }, 'decimals of eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb must be an integer 0..36, got -1'],
    [{ ...token, decimals: 37 }, 'decimals of eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb must be an integer 0..36, got 37'],
    [{ ...token, decimals: 1.5 }, 'decimals of eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb must be an integer 0..36, got 1.5'],
    [{ ...token, decimals: Number.NaN }, 'decimals of eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb must be an integer 0..36, got NaN'],
    [{ ...token, symbol: '' }, 'symbol of eip155:8453/erc20:0x50c5725949A6F0c72E6C4a641F24049A917DB0Cb must be 1..16 characters'],
    [{ ...token, kind: 'coin' as 'token' }, `kind must be 'fiat' or 'token', got "coin"`],
    [{ ...token, id: 'eip155:8453/erc20:0x50c5' }, '"eip155:8453/erc20:0x50c5" is neither iso4217:XXX nor a CAIP-19 asset id'],
    [{ ...token, id: 'iso4217:XYZ' }, 'token iso4217:XYZ must have a CAIP-19 id'],
    [{ ...token, network: 'eip155:1' }, 'network eip155:1 does not match the id\'s chain eip155:8453'],
    [{ ...token, address: '0x0000000000000000000000000000000000000001' }, "address 0x0000000000000000000000000000000000000001 does not match the id's contract 0x50c5725949a6f0c72e6c4a641f24049a917db0cb"],
    [{ id: 'eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48', kind: 'fiat', decimals: 2, symbol: 'USD' } as AssetInfo, 'fiat asset eip155:1/erc20:0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48 must have an iso4217:XXX id'],
    [{ id: 'iso4217:XYZ', kind: 'fiat', decimals: 2, symbol: 'XYZ', network: 'eip155:1' } as AssetInfo, 'fiat asset iso4217:XYZ has no network or address'],
  ])('refuses %j', (info, message) => {
    expect(errorOf(() => createAssetRegistry().register(info), 'GW_CONFIG_INVALID')).toBe(`invalid asset registration: ${message}`)
  })

  it('validates `extra` at construction', () => {
    expect(() => createAssetRegistry([{ ...token, decimals: 99 }])).toThrow(/must be an integer 0\.\.36/)
  })

  it('accepts the mixed-case address of a matching contract and a non-EVM CAIP-19 token', () => {
    const registry = createAssetRegistry()
    expect(registry.register({ ...token, address: '0x50C5725949A6F0C72E6C4A641F24049A917DB0CB' }).address).toBe(
      '0x50c5725949a6f0c72e6c4a641f24049a917db0cb',
    )
    const sol = registry.register({
      id: 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp/token:EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
      kind: 'token',
      decimals: 6,
      symbol: 'USDC',
    })
    expect(sol.network).toBe('solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp')
    expect(sol.address).toBeUndefined()
    // Non-EVM references are case-sensitive: a lowercased mint is another asset.
    expect(registry.get(sol.id.toLowerCase())).toBeUndefined()
  })
})

describe('amounts with registry exponents (0-, 2-, 3- and 6-decimal assets)', () => {
  const registry = createAssetRegistry()
  it.each([
    ['iso4217:USD', '1999', '19.99'],
    ['iso4217:JPY', '500', '500'],
    ['iso4217:KWD', '1234', '1.234'],
    ['iso4217:KWD', '5', '0.005'],
    [BASE_USDC, '1990000', '1.990000'],
    [BASE_USDC, '1', '0.000001'],
  ])('%s %s minor units is %s major', (asset, minor, major) => {
    const { decimals } = registry.require(asset)
    expect(toMajorString(minor, decimals)).toBe(major)
    expect(fromMajorString(major, decimals).toString()).toBe(minor)
  })

  it('USDC → USD cents needs a rounding decision; the exact conversion refuses sub-cent amounts', () => {
    const usdc = registry.require(BASE_USDC).decimals
    const usd = registry.require('iso4217:USD').decimals
    expect(convertDecimals(1_990_000n, usdc, usd, 'exact')).toBe(199n)
    expect(() => convertDecimals(1_990_001n, usdc, usd, 'exact')).toThrow(/would drop 1/)
    expect(convertDecimals(1_990_001n, usdc, usd, 'ceil')).toBe(200n)
  })
})
