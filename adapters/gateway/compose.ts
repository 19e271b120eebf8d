import type { GatewayConfig } from '../../core/config/load.js'
import type { RailAdapter } from '../../core/rails/port.js'
import type { Hex } from 'viem'
import { registerEvmRail, type RailFactoryContext } from '../rails/evm/registerEvmRail.js'
import type { Mount } from '../http/app.js'
import { ap2Mount, parseAp2Config } from '../protocols/ap2/index.js'
import { x402Mount, type X402Config } from '../protocols/x402/mount.js'
import { acpMount, parseAcpConfig } from '../protocols/acp/index.js'
import { ucpMount } from '../protocols/ucp/mount.js'
import { ucpOptionsFromConfig } from '../protocols/ucp/config.js'
import { alipayNotifyMount, createAlipayRail, createAntomRail, parseAlipayRailsConfig } from '../rails/alipay/index.js'

/** What the composition root registers for a configuration: rail factories and protocol mounts. */
export interface Composition {
  rails: Array<(ctx: RailFactoryContext) => RailAdapter>
  mounts: Mount[]
}

/**
 * Build the rails and protocol surfaces a validated configuration asks for. Every part is
 * registered here explicitly (never on import); a section that is absent registers nothing.
 */
export function composeFromConfig(config: GatewayConfig, env: Readonly<Record<string, string | undefined>> = {}): Composition {
  const rails: Composition['rails'] = []
  const mounts: Mount[] = []
  if (config.rails.evm) {
    rails.push(
      registerEvmRail({
        chains: config.rails.evm.chains.map((c) => ({
          chainId: c.chainId,
          ...(c.network ? { network: c.network } : {}),
          rpcUrls: c.rpcUrls,
          tokens: c.tokens,
          ...(c.relayerPrivateKey ? { relayerPrivateKey: c.relayerPrivateKey as Hex } : {}),
          ...(c.relayerPrivateKeys ? { relayerPrivateKeys: c.relayerPrivateKeys as Hex[] } : {}),
          feeCaps: c.feeCaps,
          ...(c.receiptTimeoutMs ? { receiptTimeoutMs: c.receiptTimeoutMs } : {}),
          ...(c.pollingIntervalMs ? { pollingIntervalMs: c.pollingIntervalMs } : {}),
          ...(c.rpcTimeoutMs ? { rpcTimeoutMs: c.rpcTimeoutMs } : {}),
          ...(c.payoutWallets ? { payoutWallets: c.payoutWallets as Record<string, Hex> } : {}),
        })),
      }),
    )
  }
  if (config.rails.alipay || config.rails.antom) {
    // Secrets were resolved by the config loader; this applies the fragment's defaults and types it.
    const { alipay, antom } = parseAlipayRailsConfig({ ...(config.rails.alipay ? { alipay: config.rails.alipay } : {}), ...(config.rails.antom ? { antom: config.rails.antom } : {}) }, {})
    if (alipay) rails.push(createAlipayRail(alipay))
    if (antom) rails.push(createAntomRail(antom))
    mounts.push(alipayNotifyMount({ ...(alipay ? { alipay } : {}), ...(antom ? { antom } : {}) }))
  }
  if (config.ap2) mounts.push(ap2Mount(parseAp2Config(config.ap2, {})))
  if (config.x402) mounts.push(x402Mount(config.x402 as unknown as X402Config))
  // ACP and UCP resolve their own { env } secrets (their fragments validate the raw section).
  if (config.acp) {
    const acp = parseAcpConfig(config.acp, env)
    if (acp) mounts.push(acpMount(acp))
  }
  if (config.ucp) mounts.push(ucpMount(ucpOptionsFromConfig(config.ucp, { env, publicUrl: config.server.publicUrl })))
  return { rails, mounts }
}
