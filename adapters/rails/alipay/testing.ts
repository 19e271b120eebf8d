import { pino, type Logger } from 'pino'
import type { IntentInstrument, IntentLineItem as LineItem } from '../../../core/intent/types.js'
import { createAssetRegistry } from '../../../core/money/assets.js'
import { submitIntent } from '../../../core/pipeline/submitIntent.js'
import { transitionIntent } from '../../../core/pipeline/transitionIntent.js'
import type { Store } from '../../../core/store/port.js'
import { startAlipaySandbox, type AlipaySandbox, type AlipaySandboxOptions } from '../../../sandbox/alipay/server.js'
import { BreakerRegistry } from '../shared/breakers.js'
import { buildAlipayRail, type AlipayRail, type RailExtras } from './alipayRail.js'
import { buildAntomRail, type AntomRail } from './antomRail.js'
import type { AlipayRailOptions, AntomRailOptions } from './config.js'
import { generateDevAlipayKeys, type DevAlipayKeys } from './keys.js'

/** Test helpers for the Alipay rails: a sandbox with two edges and rails pointed at it. */

export const silentLogger = (): Logger => pino({ level: 'silent' })

export interface RailHarness {
  sandbox: AlipaySandbox
  keys: DevAlipayKeys
  breakers: BreakerRegistry
  alipayOptions: AlipayRailOptions
  antomOptions: AntomRailOptions
  alipay: AlipayRail
  antom: AntomRail
  close(): Promise<void>
}

/** Keys are costly to generate (RSA-2048): one set per test process. */
let sharedKeys: DevAlipayKeys | undefined
export function testKeys(): DevAlipayKeys {
  sharedKeys ??= generateDevAlipayKeys()
  return sharedKeys
}

export async function startRailHarness(
  o: {
    sandbox?: Partial<AlipaySandboxOptions> | undefined
    alipay?: Partial<AlipayRailOptions> | undefined
    antom?: Partial<AntomRailOptions> | undefined
    extras?: RailExtras | undefined
    breakers?: BreakerRegistry | undefined
  } = {},
): Promise<RailHarness> {
  const keys = testKeys()
  const sandbox = await startAlipaySandbox({
    edges: [{ name: 'primary' }, { name: 'secondary' }],
    apps: [{ appId: keys.appId, publicKeyPem: keys.appPublicKeyPem }],
    alipayKeyPair: { privateKeyPem: keys.alipayPrivateKeyPem, publicKeyPem: keys.alipayPublicKeyPem },
    notify: { timeScale: 1 / 20_000 },
    ...o.sandbox,
  })
  const endpoints = Object.entries(sandbox.edges).map(([name, e]) => ({ name, url: e.url }))
  const breakers = o.breakers ?? new BreakerRegistry()
  const alipayOptions: AlipayRailOptions = {
    appId: keys.appId,
    privateKey: keys.appPrivateKeyPem,
    alipayPublicKey: sandbox.alipayPublicKeyPem,
    endpoints,
    timeoutMs: 2_000,
    ...o.alipay,
  }
  const antomOptions: AntomRailOptions = {
    clientId: keys.clientId,
    privateKey: keys.appPrivateKeyPem,
    antomPublicKey: sandbox.alipayPublicKeyPem,
    endpoints,
    timeoutMs: 2_000,
    ...o.antom,
  }
  const ctx = { breakers, logger: silentLogger() }
  const alipay = buildAlipayRail(alipayOptions, ctx, o.extras)
  const antom = buildAntomRail(antomOptions, ctx, o.extras)
  return {
    sandbox,
    keys,
    breakers,
    alipayOptions,
    antomOptions,
    alipay,
    antom,
    async close() {
      await alipay.shutdown()
      await antom.shutdown()
      breakers.shutdown()
      await sandbox.close()
    },
  }
}

/** A submitted and authorized intent (ready for settleIntent). */
export async function authorizedIntent(
  store: Store,
  o: { value: string; asset?: string | undefined; instrument?: IntentInstrument | undefined; lineItems?: LineItem[] | undefined; ref?: string | undefined },
): Promise<string> {
  const { intent } = await submitIntent(
    { store, assets: createAssetRegistry() },
    {
      merchantId: 'm1',
      actor: 'agent:agent_1',
      origin: { protocol: 'gateway', version: 'v1', ref: o.ref ?? `r_${Math.random().toString(36).slice(2)}` },
      payer: { agent_id: 'agent_1' },
      amount: { value: o.value, asset: o.asset ?? 'iso4217:CNY' },
      instrument: o.instrument ?? { type: 'alipay.agreement', ref: '20215000000000000001' },
      authorization: { type: 'gateway.api_key' },
      ...(o.lineItems ? { lineItems: o.lineItems } : {}),
    },
  )
  await transitionIntent({ store }, { intentId: intent.id, event: 'authorize', actor: 'system:policy' })
  return intent.id
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Poll until `fn` returns a value (or throw after `ms`). */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 5_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}
