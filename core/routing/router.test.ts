import { describe, expect, it } from 'vitest'
import { isGatewayError } from '../errors/gatewayError.js'
import { createFxQuoter } from '../fx/quoter.js'
import { createTableFxSource } from '../fx/tableSource.js'
import { exampleIntent } from '../intent/exampleIntent.js'
import type { PaymentIntent } from '../intent/types.js'
import { createAssetRegistry } from '../money/assets.js'
import { RailRegistry, type RailAdapter } from '../rails/port.js'
import { createScriptedFakeRail } from '../testing/fakeRail.js'
import { createRouter, type BreakerView } from './router.js'
import type { RoutingConfig } from './routingTable.js'

const rail = (id: string, instruments: RailAdapter['instruments']): RailAdapter => ({ ...createScriptedFakeRail({}), rail: id, instruments })

function registry(): RailRegistry {
  return new RailRegistry()
    .register(rail('alipay', ['alipay.agreement']))
    .register(rail('alipay_hk', ['alipay.agreement']))
    .register(rail('evm', ['evm.eip3009']))
    .register(rail('antom', ['card.vault_token']))
}

/** Breaker states as the gateway's BreakerRegistry.list() reports them. */
function breakers(states: Record<string, 'closed' | 'open' | 'half_open'>): BreakerView {
  return { list: () => Object.entries(states).map(([k, state]) => ({ rail: k.split(':')[0]!, endpoint: k.split(':')[1]!, state })) }
}

const intent = (o: Partial<Pick<PaymentIntent, 'merchant_id'>> & { asset?: string; instrument?: PaymentIntent['instrument']['type'] } = {}): PaymentIntent => ({
  ...exampleIntent(),
  merchant_id: o.merchant_id ?? 'm1',
  amount: { value: '1999', asset: o.asset ?? 'iso4217:CNY' },
  instrument: { type: o.instrument ?? 'alipay.agreement', ref: '20215000000000000001' },
})

const table: RoutingConfig = {
  table: [
    { instrument: 'alipay.agreement', merchant_id: 'hk_shop', rails: [{ rail: 'alipay_hk' }] },
    { instrument: 'alipay.agreement', asset: 'iso4217:USD', settlement_asset: 'iso4217:CNY', rails: [{ rail: 'alipay', endpoint: 'secondary' }, { rail: 'alipay', endpoint: 'primary' }] },
    { instrument: 'alipay.agreement', rails: [{ rail: 'alipay', endpoint: 'primary' }, { rail: 'alipay', endpoint: 'secondary' }, { rail: 'alipay_hk' }] },
  ],
}
const closed = breakers({ 'alipay:primary': 'closed', 'alipay:secondary': 'closed', 'alipay_hk:main': 'closed' })

const summary = (r: ReturnType<ReturnType<typeof createRouter>['plan']>) => r.candidates.map((c) => `${c.rail.rail}${c.endpoints ? `[${c.endpoints.join(',')}]` : ''}`)

describe('routing table', () => {
  it('the first matching row wins: merchant, asset, then the general row', () => {
    const router = createRouter({ rails: registry(), config: table, breakers: closed })
    expect(summary(router.plan(intent({ merchant_id: 'hk_shop' })))).toEqual(['alipay_hk'])
    expect(summary(router.plan(intent({ asset: 'iso4217:USD' })))).toEqual(['alipay[secondary,primary]'])
    // Consecutive targets on one rail are its endpoints; another rail is a failover candidate.
    expect(summary(router.plan(intent()))).toEqual(['alipay[primary,secondary]', 'alipay_hk'])
  })

  it('no row: the first rail registered for the instrument; a forced rail keeps only that rail', () => {
    const router = createRouter({ rails: registry(), config: table, breakers: closed })
    expect(summary(router.plan(intent({ instrument: 'evm.eip3009', asset: 'iso4217:USD' })))).toEqual(['evm'])
    expect(summary(router.plan(intent(), 'alipay_hk'))).toEqual(['alipay_hk'])
    expect(summary(router.plan(intent(), 'alipay'))).toEqual(['alipay[primary,secondary]'])
    const none = (() => {
      try {
        router.plan(intent({ instrument: 'gateway.token' }))
      } catch (e) {
        return isGatewayError(e) ? e.code : 'other'
      }
      return 'no error'
    })()
    expect(none).toBe('GW_RAIL_UNAVAILABLE')
  })

  it('is aware of breakers: an open endpoint goes last, a rail with every endpoint open goes behind the others', () => {
    const r1 = createRouter({ rails: registry(), config: table, breakers: breakers({ 'alipay:primary': 'open', 'alipay:secondary': 'closed', 'alipay_hk:main': 'closed' }) })
    expect(summary(r1.plan(intent()))).toEqual(['alipay[secondary,primary]', 'alipay_hk'])
    const r2 = createRouter({ rails: registry(), config: table, breakers: breakers({ 'alipay:primary': 'open', 'alipay:secondary': 'open', 'alipay_hk:main': 'half_open' }) })
    expect(summary(r2.plan(intent()))).toEqual(['alipay_hk', 'alipay[primary,secondary]'])
  })

  it('settlement asset: the row says, else the instrument default when FX is configured, else the price asset', () => {
    const assets = createAssetRegistry()
    const fx = createFxQuoter({ source: createTableFxSource([{ from: 'iso4217:USD', to: 'iso4217:CNY', rate: '7.1' }]), assets })
    const noFx = createRouter({ rails: registry(), config: { table: [] }, breakers: closed })
    const withFx = createRouter({ rails: registry(), config: { table: [], settlement_assets: { 'evm.eip3009': 'eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913' } }, breakers: closed, fx })
    expect(createRouter({ rails: registry(), config: table }).plan(intent({ asset: 'iso4217:USD' })).settlementAsset).toBe('iso4217:CNY')
    expect(noFx.plan(intent({ asset: 'iso4217:USD' })).settlementAsset).toBe('iso4217:USD')
    expect(withFx.plan(intent({ asset: 'iso4217:USD' })).settlementAsset).toBe('iso4217:CNY')
    expect(withFx.plan(intent({ asset: 'iso4217:CNY', instrument: 'evm.eip3009' })).settlementAsset).toBe('eip155:8453/erc20:0x833589fcd6edb6e08f4c7c32d4f71b54bda02913')
    expect(withFx.fx).toBe(fx)
  })

  it('refuses a table naming a rail that does not exist, cannot settle the instrument, or an unknown endpoint', () => {
    const bad = (t: RoutingConfig['table']) => () => createRouter({ rails: registry(), config: { table: t }, breakers: closed })
    expect(bad([{ instrument: 'alipay.agreement', rails: [{ rail: 'nope' }] }])).toThrow(/routing.table\[0\].rails\[0\].rail: no rail nope/)
    expect(bad([{ instrument: 'alipay.agreement', rails: [{ rail: 'evm' }] }])).toThrow(/evm cannot settle alipay.agreement/)
    expect(bad([{ instrument: 'alipay.agreement', rails: [{ rail: 'alipay', endpoint: 'tertiary' }] }])).toThrow(/alipay has no endpoint tertiary \(it has primary, secondary\)/)
    expect(bad([{ instrument: 'alipay.agreement', rails: [] }])).toThrow(/at least one target/)
  })
})
