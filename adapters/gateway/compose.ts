import type { GatewayConfig } from '../../core/config/load.js'
import type { RailAdapter } from '../../core/rails/port.js'
import type { PolicyEngine } from '../../core/policy/port.js'
import type { Store } from '../../core/store/port.js'
import type { Logger } from 'pino'
import type { Hex } from 'viem'
import { registerEvmRail, type RailFactoryContext } from '../rails/evm/registerEvmRail.js'
import type { Mount } from '../http/app.js'
import { ap2Mount, parseAp2Config } from '../protocols/ap2/index.js'
import { x402Mount, type X402Config } from '../protocols/x402/mount.js'
import { mppOfferProvider, mppOptionsFromConfig } from '../protocols/mpp/index.js'
import { acpMount, parseAcpConfig } from '../protocols/acp/index.js'
import { ucpMount } from '../protocols/ucp/mount.js'
import { ucpOptionsFromConfig } from '../protocols/ucp/config.js'
import { riskPolicy } from '../../core/risk/riskPolicy.js'
import { createScopedTokenPolicy } from '../../core/tokens/index.js'
import { alipayNotifyMount, createAlipayRail, createAntomRail, parseAlipayRailsConfig } from '../rails/alipay/index.js'

/** What the composition root registers for a configuration: rail factories and protocol mounts. */
export interface Composition {
  rails: Array<(ctx: RailFactoryContext) => RailAdapter>
  mounts: Mount[]
  /**
   * Policy engines the configuration asks for (risk rules, …), composed after the wallets engine
   * by createGateway (issue 10, W). Absent or empty: wallets only.
   */
  policies?: Array<(ctx: { store: Store; config: GatewayConfig; logger: Logger }) => PolicyEngine>
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
  if (config.x402) {
    // MPP (issue 9) is an offer provider on the x402 priced routes: one 402 carries both offers.
    const mpp = config.mpp ? mppOptionsFromConfig(config.mpp) : undefined
    mounts.push(x402Mount({ ...(config.x402 as unknown as X402Config), ...(mpp ? { offerProviders: [mppOfferProvider(mpp)] } : {}) }))
  }
  // ACP and UCP resolve their own { env } secrets (their fragments validate the raw section).
  if (config.acp) {
    const acp = parseAcpConfig(config.acp, env)
    if (acp) mounts.push(acpMount(acp))
  }
  if (config.ucp) mounts.push(ucpMount(ucpOptionsFromConfig(config.ucp, { env, publicUrl: config.server.publicUrl })))
  // --- risk rules (issue 10, A): composed after the wallets engine by createGateway ---
  const policies: NonNullable<Composition['policies']> = []
  const risk = config.risk
  if (risk && risk.rules.length > 0) policies.push(({ store }) => riskPolicy({ store, config: risk }))
  // --- scoped tokens (issue 10, T): a gateway.token intent must hold its token; a denied / expired one gives it back ---
  if (config.tokens) policies.push(({ store }) => createScopedTokenPolicy({ store }))
  return { rails, mounts, policies }
}
