import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../core/config/load.js'
import { parseAlipayRailsConfig } from './config.js'

describe('rails.alipay: the single-URL form stays valid beside endpoints[]', () => {
  const base = { appId: '2021000000000001', privateKey: 'k', alipayPublicKey: 'p' }

  it('`gateway` alone is one endpoint named primary; with endpoints it is ignored; neither is an error', () => {
    expect(parseAlipayRailsConfig({ alipay: { ...base, gateway: 'https://openapi.alipay.com/gateway.do' } }, {}).alipay?.endpoints).toEqual([{ name: 'primary', url: 'https://openapi.alipay.com/gateway.do' }])
    expect(parseAlipayRailsConfig({ alipay: { ...base, gateway: 'https://x/gateway.do', endpoints: [{ name: 'a', url: 'https://a' }] } }, {}).alipay?.endpoints).toEqual([{ name: 'a', url: 'https://a' }])
    expect(() => parseAlipayRailsConfig({ alipay: base }, {})).toThrow(/must have required property 'endpoints'/)
    expect(() => parseAlipayRailsConfig({ alipay: { ...base, gateway: 'ftp://x' } }, {})).toThrow(/\/alipay\/gateway must match pattern/)
  })

  it('the gateway config file accepts it too', () => {
    expect(parseConfig({ rails: { alipay: { ...base, gateway: 'https://openapi.alipay.com/gateway.do' } } }, {}).rails.alipay).toMatchObject({ gateway: 'https://openapi.alipay.com/gateway.do' })
  })
})
