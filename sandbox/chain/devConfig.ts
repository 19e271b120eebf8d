/**
 * Dev-mode wiring of the local chain into the gateway: the EVM rail's chain config and the asset
 * registry entry for the sandbox token, from the `CHAIN_READY` JSON ({@link LocalChainInfo}).
 */
import type { EvmChainConfig } from '../../adapters/rails/evm/evmRail.js'
import type { LocalChainInfo } from './anvil.js'

/**
 * The EVM rail's config for a local chain: its RPC URL, our token, the dev relayer key, fee caps
 * far above anvil's fees, fast polling.
 *
 * @example createGateway(config, { rails: [registerEvmRail({ chains: [localChainRailConfig(info)] })] })
 */
export function localChainRailConfig(info: LocalChainInfo, overrides: Partial<EvmChainConfig> = {}): EvmChainConfig {
  return {
    chainId: info.chainId,
    network: info.network,
    rpcUrls: [info.rpcUrl],
    tokens: [{ address: info.token.address, name: info.token.name, version: info.token.version, decimals: info.token.decimals, assetId: info.token.assetId }],
    relayerPrivateKey: info.relayer.privateKey,
    feeCaps: { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n },
    receiptTimeoutMs: 15_000,
    pollingIntervalMs: 10,
    ...overrides,
  }
}

/** The asset registry entry (`config.assets`) of the sandbox token. */
export function localChainAsset(info: LocalChainInfo): { id: string; kind: 'token'; decimals: number; symbol: string; name: string; network: string; address: string } {
  return {
    id: info.token.assetId,
    kind: 'token',
    decimals: info.token.decimals,
    symbol: info.token.symbol,
    name: `${info.token.name} (local chain ${info.chainId})`,
    network: info.network,
    address: info.token.address.toLowerCase(),
  }
}
