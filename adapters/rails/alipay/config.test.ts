import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { settleIntent } from '../../../core/pipeline/settleIntent.js'
import { openSqliteStore } from '../../../core/store/sqlite/sqliteStore.js'
import { startAlipaySandbox } from '../../../sandbox/alipay/server.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { createAlipayRail } from './alipayRail.js'
import { createAntomRail } from './antomRail.js'
import { parseAlipayRailsConfig } from './config.js'
import { devAlipayRailOptions } from './dev.js'
import { authorizedIntent, silentLogger, testKeys } from './testing.js'

const keys = testKeys()

describe('rails.alipay / rails.antom config', () => {
  it('validates, applies defaults and resolves { env } secrets (production shape)', () => {
    const cfg = parseAlipayRailsConfig(
      {
        alipay: {
          appId: '2021001234567890',
          privateKey: { env: 'ALIPAY_APP_PRIVATE_KEY' },
          alipayPublicKey: { env: 'ALIPAY_PUBLIC_KEY' },
          endpoints: [
            { name: 'primary', url: 'https://openapi.alipay.com' },
            { name: 'secondary', url: 'https://openapi.alipay.com/gateway.do' },
          ],
          notifyUrl: 'https://pay.example.com/rails/alipay/notify',
          sellerId: '2088123412341234',
        },
        antom: {
          clientId: 'SANDBOX_5YBZ1234',
          privateKey: { env: 'ANTOM_PRIVATE_KEY' },
          antomPublicKey: { env: 'ANTOM_PUBLIC_KEY' },
          endpoints: [{ name: 'sea', url: 'https://open-sea-global.alipay.com' }],
          pathPrefix: '/ams/sandbox/api',
        },
      },
      { ALIPAY_APP_PRIVATE_KEY: 'k1', ALIPAY_PUBLIC_KEY: 'k2', ANTOM_PRIVATE_KEY: 'k3', ANTOM_PUBLIC_KEY: 'k4' },
    )
    expect(cfg.alipay).toMatchObject({ privateKey: 'k1', alipayPublicKey: 'k2', protocol: 'v2', timeoutMs: 5000, maxPayAttempts: 2, subject: 'agentswitch payment', productCode: 'GENERAL_WITHHOLDING', rail: 'alipay' })
    expect(cfg.antom).toMatchObject({ privateKey: 'k3', antomPublicKey: 'k4', rail: 'antom', instruments: ['card.vault_token'], productCode: 'AGREEMENT_PAYMENT' })
  })

  it('names every wrong field and a missing secret, without echoing secret values', () => {
    expect(() => parseAlipayRailsConfig({ alipay: { appId: 'abc', privateKey: 'x', alipayPublicKey: 'y', endpoints: [] } }, {})).toThrow(/appId|endpoints/)
    expect(() => parseAlipayRailsConfig({ alipay: { appId: '2021001234567890', privateKey: 'x', alipayPublicKey: 'y', endpoints: [{ name: 'p', url: 'ftp://x' }] } }, {})).toThrow(/url/)
    expect(() => parseAlipayRailsConfig({ alipay: { appId: '2021001234567890', privateKey: { env: 'NOPE' }, alipayPublicKey: 'y', endpoints: [{ name: 'p', url: 'https://x' }] } }, {})).toThrow(
      /NOPE is not set/,
    )
    expect(() => parseAlipayRailsConfig({ paypal: {} }, {})).toThrow(/additional properties/)
  })

  it('a bad key fails when the rail is created (start-up), as GW_CONFIG_INVALID', () => {
    expect(() => createAlipayRail({ appId: keys.appId, privateKey: 'not a key', alipayPublicKey: keys.alipayPublicKeyPem, endpoints: [{ name: 'p', url: 'http://x' }] })).toThrow(
      expect.objectContaining({ code: 'GW_CONFIG_INVALID' }),
    )
    expect(() => createAntomRail({ clientId: 'c', privateKey: keys.appPrivateKeyPem, antomPublicKey: 'MIIBIjAN', endpoints: [{ name: 'p', url: 'http://x' }] })).toThrow(
      expect.objectContaining({ code: 'GW_CONFIG_INVALID' }),
    )
  })
})

describe('dev mode wiring: generateDevAlipayKeys → sandbox → devAlipayRailOptions → a payment', () => {
  it('pays through the sandbox with the generated keys and every sandbox edge as an endpoint', async () => {
    const sandbox = await startAlipaySandbox({
      edges: [{ name: 'primary' }, { name: 'secondary' }],
      apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
      alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem },
    })
    const store = openSqliteStore({ path: join(mkdtempSync(join(tmpdir(), 'agentswitch-devwire-')), 'd.db') })
    const breakers = new BreakerRegistry()
    try {
      await store.migrate()
      expect(sandbox.alipayPublicKeyPem.trim()).toBe(keys.alipayPublicKeyPem.trim())
      const { alipay, antom } = devAlipayRailOptions({ keys, sandbox, gatewayUrl: 'http://127.0.0.1:8402/' })
      expect(alipay).toMatchObject({ notifyUrl: 'http://127.0.0.1:8402/rails/alipay/notify', endpoints: [{ name: 'primary' }, { name: 'secondary' }] })
      expect(antom.notifyUrl).toBe('http://127.0.0.1:8402/rails/antom/notify')
      const rail = createAlipayRail({ ...alipay, notifyUrl: undefined })({ breakers, logger: silentLogger() })
      const id = await authorizedIntent(store, { value: '1999' })
      expect((await settleIntent({ store }, { intentId: id, rail, credential: undefined, actor: 'system:test' })).intent.status).toBe('succeeded')
      expect(breakers.list().map((b) => `${b.rail}:${b.endpoint}`)).toEqual(['alipay:primary', 'alipay:secondary'])
      await rail.shutdown()
    } finally {
      breakers.shutdown()
      await store.close()
      await sandbox.close()
    }
  })
})
