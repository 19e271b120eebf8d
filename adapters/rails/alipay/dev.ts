import type { AlipayRailOptions, AntomRailOptions } from './config.js'
import type { DevAlipayKeys } from './keys.js'

export { generateDevAlipayKeys, type DevAlipayKeys } from './keys.js'

/** What dev mode knows about the running sandbox (the fields of its `ALIPAY_SANDBOX_READY` line it needs). */
export interface DevSandboxInfo {
  /** Listeners in preference order (`primary`, `secondary`, …), each a rail endpoint. */
  edges: Record<string, { url: string }>
  /** The sandbox's public key: the rails' `alipayPublicKey` / `antomPublicKey`. */
  alipayPublicKeyPem: string
}

/**
 * Rail options for dev mode: both rails pointed at the sandbox (every edge an endpoint, one
 * breaker each), keys from {@link generateDevAlipayKeys}, notifications to the gateway.
 *
 * @example
 * const keys = generateDevAlipayKeys()
 * const child = await registry.start(alipaySandboxChildSpec({ apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }], alipayPrivateKeyPem: keys.alipayPrivateKeyPem, edges: [{ name: 'primary' }, { name: 'secondary' }] }))
 * const { alipay, antom } = devAlipayRailOptions({ keys, sandbox: parseAlipaySandboxReady(child.ready), gatewayUrl: url })
 * createGateway(config, { rails: [createAlipayRail(alipay), createAntomRail(antom)], mounts: [alipayNotifyMount({ alipay, antom })] })
 */
export function devAlipayRailOptions(p: { keys: DevAlipayKeys; sandbox: DevSandboxInfo; gatewayUrl: string }): { alipay: AlipayRailOptions; antom: AntomRailOptions } {
  const endpoints = Object.entries(p.sandbox.edges).map(([name, e]) => ({ name, url: e.url }))
  const base = p.gatewayUrl.replace(/\/+$/, '')
  return {
    alipay: {
      appId: p.keys.appId,
      privateKey: p.keys.appPrivateKeyPem,
      alipayPublicKey: p.sandbox.alipayPublicKeyPem,
      endpoints,
      notifyUrl: `${base}/rails/alipay/notify`,
      timeoutMs: 5_000,
    },
    antom: {
      clientId: p.keys.clientId,
      privateKey: p.keys.appPrivateKeyPem,
      antomPublicKey: p.sandbox.alipayPublicKeyPem,
      endpoints,
      notifyUrl: `${base}/rails/antom/notify`,
      timeoutMs: 5_000,
      instruments: ['card.vault_token'],
    },
  }
}
