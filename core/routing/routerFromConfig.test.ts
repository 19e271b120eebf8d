import { describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../config/load.js'
import { createAssetRegistry } from '../money/assets.js'
import { RailRegistry, type RailAdapter } from '../rails/port.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { exampleIntent } from '../intent/exampleIntent.js'
import { routerFromConfig } from './routerFromConfig.js'

function problems(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn()
  } catch (e) {
    if (e instanceof ConfigError) return e.problems
    throw e
  }
  throw new Error('expected a ConfigError')
}

const rails = () => new RailRegistry().register({ ...createScriptedFakeRail({}), rail: 'alipay', instruments: ['alipay.agreement'] } as RailAdapter)

describe('routing and fx configuration', () => {
  it('validates the sections with exact paths', () => {
    expect(problems(() => parseConfig({ routing: { table: [{ instrument: 'alipay.agreement', rails: [] }] } }, {}))).toContainEqual({ path: 'routing.table[0].rails', message: 'must NOT have fewer than 1 items' })
    expect(problems(() => parseConfig({ routing: { table: [{ instrument: 'cash', rails: [{ rail: 'alipay' }] }] } }, {}))[0]).toMatchObject({ path: 'routing.table[0].instrument' })
    expect(problems(() => parseConfig({ fx: { rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: 7.1 }] } }, {}))).toContainEqual({ path: 'fx.rates[0].rate', message: 'must be string' })
    expect(problems(() => parseConfig({ fx: { spread_bps: 20000 } }, {}))).toContainEqual({ path: 'fx.spread_bps', message: 'must be <= 10000' })
    expect(problems(() => parseConfig({ fx: { source: 'http', url: 'http://fx', apiKey: { env: 'FX_KEY' } } }, {}))).toContainEqual({ path: 'fx.apiKey', message: 'environment variable FX_KEY is not set' })
  })

  it('builds the router and the quoter from a valid configuration, defaults applied, the API key resolved', async () => {
    const c = parseConfig(
      {
        routing: { table: [{ instrument: 'alipay.agreement', rails: [{ rail: 'alipay' }] }] },
        fx: { rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }], spread_bps: 100 },
      },
      {},
    )
    expect(c.fx).toEqual({ source: 'table', rates: [{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }], spread_bps: 100, quote_ttl_seconds: 60, timeoutMs: 2000 })
    const router = routerFromConfig({ config: c, rails: rails(), assets: createAssetRegistry() })
    const intent = { ...exampleIntent(), amount: { value: '100', asset: 'iso4217:USD' }, instrument: { type: 'alipay.agreement' as const } }
    expect(router.plan(intent)).toMatchObject({ settlementAsset: 'iso4217:CNY', candidates: [{ rail: { rail: 'alipay' } }] })
    expect(await router.fx!.quote({ from: 'iso4217:USD', to: 'iso4217:CNY' })).toMatchObject({ rate: '7.171' })
    expect(parseConfig({ fx: { source: 'http', url: 'http://fx.internal/rate', apiKey: { env: 'FX_KEY' } } }, { FX_KEY: 'k' }).fx).toMatchObject({ apiKey: 'k' })
    expect(() => routerFromConfig({ config: parseConfig({ fx: { source: 'http' } }, {}), rails: rails(), assets: createAssetRegistry() })).toThrow(/fx.url: required/)
    expect(() => routerFromConfig({ config: parseConfig({ routing: { table: [{ instrument: 'alipay.agreement', rails: [{ rail: 'antom' }] }] } }, {}), rails: rails(), assets: createAssetRegistry() })).toThrow(/no rail antom/)
  })
})
