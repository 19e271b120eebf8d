import { describe, expect, it } from 'vitest'
import { createJsonCatalog } from '../acp/catalog.js'
import { catalogFromAcpSnapshot, isAcpSource } from './catalog.js'
import { ucpOptionsFromConfig } from './config.js'
import { generateUcpKey } from './testing.js'

describe('ucp config section', () => {
  const key = generateUcpKey('cfg-1')
  const section = { merchantId: 'demo', signingKey: { env: 'UCP_KEY' }, handlers: [{ kind: 'mock', id: 'mock_payment_handler' }], simulationSecret: 'dev-secret' }

  it('builds options: key from env, flower-shop preset, public URL default', () => {
    const o = ucpOptionsFromConfig(section, { env: { UCP_KEY: JSON.stringify(key) }, publicUrl: 'https://gw.example.com' })
    expect(o.publicBaseUrl).toBe('https://gw.example.com')
    expect(o.signingKey).toEqual(key)
    expect(isAcpSource(o.catalog) ? undefined : o.catalog.product('bouquet_roses')?.price).toBe(3500)
    expect(o.simulationSecret).toBe('dev-secret')
  })

  it('refuses an invalid section, a missing env secret and a non-P-256 key, never echoing the secret', () => {
    expect(() => ucpOptionsFromConfig({ ...section, handlers: [] }, { env: {}, publicUrl: 'https://x' })).toThrow(/ucp\/handlers/)
    expect(() => ucpOptionsFromConfig(section, { env: {}, publicUrl: 'https://x' })).toThrow(/UCP_KEY is not set/)
    const bad = { ...key, crv: 'P-384' }
    let message = ''
    try {
      ucpOptionsFromConfig(section, { env: { UCP_KEY: JSON.stringify(bad) }, publicUrl: 'https://x' })
    } catch (e) {
      message = (e as Error).message
    }
    expect(message).toMatch(/P-256 private JWK/)
    expect(message).not.toContain(key.d)
  })
})

describe('the shared ACP catalog port as a UCP catalogue', () => {
  it('prices products and shipping in the checkout currency from the ACP snapshot', async () => {
    const snap = await createJsonCatalog().snapshot('demo')
    const usd = catalogFromAcpSnapshot(snap, 'USD')
    const first = snap.products.find((p) => p.prices['usd'] !== undefined)!
    expect(usd.product(first.id)).toMatchObject({ id: first.id, title: first.name, price: first.prices['usd'], stock: first.inventory })
    expect(usd.links.length).toBeGreaterThan(0)
    const country = snap.fulfillment.shipsTo[0]!.toUpperCase()
    expect(usd.shippingRates(country).map((r) => r.id)).toEqual(snap.fulfillment.shipping.filter((s) => s.prices['usd'] !== undefined).map((s) => s.id))
    expect(catalogFromAcpSnapshot(snap, 'JPY').product(first.id)).toBeUndefined()
  })
})
